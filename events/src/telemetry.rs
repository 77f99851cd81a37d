//! `node_telemetry` v1: job-agnostic facts about one orchestrator node.
//!
//! One row is one observation: a heartbeat (the node is alive, with its
//! capacity), a GPU sample, or an active probe of the node's service.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, BooleanBuilder, Float64Builder, StringArray, StringBuilder, TimestampMillisecondBuilder,
    UInt32Builder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

use crate::ipc::DecodeError;
use crate::{EventId, OrchestratorAddress};

/// The Arrow schema of `node_telemetry` v1. Column order is part of the contract.
pub static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("orchestrator", DataType::Utf8, false),
        Field::new("node_id", DataType::Utf8, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("heartbeat_interval_ms", DataType::UInt32, true),
        Field::new("gpu_available", DataType::Boolean, true),
        Field::new("sessions_in_use", DataType::UInt32, true),
        Field::new("sessions_max", DataType::UInt32, true),
        Field::new("probe_target", DataType::Utf8, true),
        Field::new("probe_ok", DataType::Boolean, true),
        Field::new("latency_ms", DataType::Float64, true),
        Field::new("gpu_id", DataType::Utf8, true),
        Field::new("gpu_model", DataType::Utf8, true),
        Field::new("gpu_utilization", DataType::Float64, true),
        Field::new("gpu_memory_used_bytes", DataType::UInt64, true),
        Field::new("gpu_memory_total_bytes", DataType::UInt64, true),
    ]))
});

/// What a row observes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Heartbeat,
    Gpu,
    Probe,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Heartbeat => "heartbeat",
            Kind::Gpu => "gpu",
            Kind::Probe => "probe",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "heartbeat" => Some(Kind::Heartbeat),
            "gpu" => Some(Kind::Gpu),
            "probe" => Some(Kind::Probe),
            _ => None,
        }
    }
}

/// GPU sample values (OpenTelemetry `hw.*` names in comments).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuSample {
    /// `hw.id`: the NVML UUID of the physical device.
    pub id: String,
    /// `hw.model`
    pub model: String,
    /// `hw.gpu.utilization`, 0..=1
    pub utilization: Option<f64>,
    /// `hw.gpu.memory.usage`
    pub memory_used_bytes: Option<u64>,
    /// `hw.gpu.memory.limit`
    pub memory_total_bytes: Option<u64>,
}

/// One telemetry observation, as the emitter builds it.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryEvent {
    pub event_id: EventId,
    /// Event time, UTC milliseconds since the epoch.
    pub event_time_ms: i64,
    pub orchestrator: OrchestratorAddress,
    pub node_id: String,
    pub region: String,
    pub kind: Kind,
    pub heartbeat_interval_ms: Option<u32>,
    pub gpu_available: Option<bool>,
    pub sessions_in_use: Option<u32>,
    pub sessions_max: Option<u32>,
    pub probe_target: Option<String>,
    pub probe_ok: Option<bool>,
    pub latency_ms: Option<f64>,
    pub gpu: Option<GpuSample>,
}

impl TelemetryEvent {
    fn base(
        event_id: EventId,
        event_time_ms: i64,
        orchestrator: OrchestratorAddress,
        node_id: &str,
        region: &str,
        kind: Kind,
    ) -> Self {
        Self {
            event_id,
            event_time_ms,
            orchestrator,
            node_id: node_id.to_owned(),
            region: region.to_owned(),
            kind,
            heartbeat_interval_ms: None,
            gpu_available: None,
            sessions_in_use: None,
            sessions_max: None,
            probe_target: None,
            probe_ok: None,
            latency_ms: None,
            gpu: None,
        }
    }

    /// A heartbeat: the node is alive and promises the next one within `interval_ms`.
    pub fn heartbeat(
        event_id: EventId,
        event_time_ms: i64,
        orchestrator: OrchestratorAddress,
        node_id: &str,
        region: &str,
        interval_ms: u32,
    ) -> Self {
        Self {
            heartbeat_interval_ms: Some(interval_ms),
            ..Self::base(event_id, event_time_ms, orchestrator, node_id, region, Kind::Heartbeat)
        }
    }

    /// An active probe of the orchestrator's service; `latency_ms` is `None` when it failed.
    pub fn probe(
        event_id: EventId,
        event_time_ms: i64,
        orchestrator: OrchestratorAddress,
        node_id: &str,
        region: &str,
        latency_ms: Option<f64>,
    ) -> Self {
        Self {
            probe_ok: Some(latency_ms.is_some()),
            latency_ms,
            ..Self::base(event_id, event_time_ms, orchestrator, node_id, region, Kind::Probe)
        }
    }

    /// A GPU sample.
    pub fn gpu(
        event_id: EventId,
        event_time_ms: i64,
        orchestrator: OrchestratorAddress,
        node_id: &str,
        region: &str,
        sample: GpuSample,
    ) -> Self {
        Self {
            gpu_available: Some(true),
            gpu: Some(sample),
            ..Self::base(event_id, event_time_ms, orchestrator, node_id, region, Kind::Gpu)
        }
    }
}

/// Column builders for `node_telemetry` v1.
#[derive(Debug)]
pub struct TelemetryBatchBuilder {
    event_id: StringBuilder,
    event_time: TimestampMillisecondBuilder,
    orchestrator: StringBuilder,
    node_id: StringBuilder,
    region: StringBuilder,
    kind: StringBuilder,
    heartbeat_interval_ms: UInt32Builder,
    gpu_available: BooleanBuilder,
    sessions_in_use: UInt32Builder,
    sessions_max: UInt32Builder,
    probe_target: StringBuilder,
    probe_ok: BooleanBuilder,
    latency_ms: Float64Builder,
    gpu_id: StringBuilder,
    gpu_model: StringBuilder,
    gpu_utilization: Float64Builder,
    gpu_memory_used_bytes: UInt64Builder,
    gpu_memory_total_bytes: UInt64Builder,
    rows: usize,
}

impl Default for TelemetryBatchBuilder {
    fn default() -> Self {
        Self {
            event_id: StringBuilder::new(),
            event_time: TimestampMillisecondBuilder::new().with_timezone("UTC"),
            orchestrator: StringBuilder::new(),
            node_id: StringBuilder::new(),
            region: StringBuilder::new(),
            kind: StringBuilder::new(),
            heartbeat_interval_ms: UInt32Builder::new(),
            gpu_available: BooleanBuilder::new(),
            sessions_in_use: UInt32Builder::new(),
            sessions_max: UInt32Builder::new(),
            probe_target: StringBuilder::new(),
            probe_ok: BooleanBuilder::new(),
            latency_ms: Float64Builder::new(),
            gpu_id: StringBuilder::new(),
            gpu_model: StringBuilder::new(),
            gpu_utilization: Float64Builder::new(),
            gpu_memory_used_bytes: UInt64Builder::new(),
            gpu_memory_total_bytes: UInt64Builder::new(),
            rows: 0,
        }
    }
}

impl TelemetryBatchBuilder {
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn push(&mut self, e: &TelemetryEvent) {
        self.event_id.append_value(e.event_id.as_str());
        self.event_time.append_value(e.event_time_ms);
        self.orchestrator.append_value(e.orchestrator.as_str());
        self.node_id.append_value(&e.node_id);
        self.region.append_value(&e.region);
        self.kind.append_value(e.kind.as_str());
        self.heartbeat_interval_ms.append_option(e.heartbeat_interval_ms);
        self.gpu_available.append_option(e.gpu_available);
        self.sessions_in_use.append_option(e.sessions_in_use);
        self.sessions_max.append_option(e.sessions_max);
        self.probe_target.append_option(e.probe_target.as_deref());
        self.probe_ok.append_option(e.probe_ok);
        self.latency_ms.append_option(e.latency_ms);
        let gpu = e.gpu.as_ref();
        self.gpu_id.append_option(gpu.map(|g| g.id.as_str()));
        self.gpu_model.append_option(gpu.map(|g| g.model.as_str()));
        self.gpu_utilization.append_option(gpu.and_then(|g| g.utilization));
        self.gpu_memory_used_bytes
            .append_option(gpu.and_then(|g| g.memory_used_bytes));
        self.gpu_memory_total_bytes
            .append_option(gpu.and_then(|g| g.memory_total_bytes));
        self.rows += 1;
    }

    /// Takes the rows pushed so far as a batch and resets the builder.
    pub fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.event_id.finish()),
            Arc::new(self.event_time.finish()),
            Arc::new(self.orchestrator.finish()),
            Arc::new(self.node_id.finish()),
            Arc::new(self.region.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.heartbeat_interval_ms.finish()),
            Arc::new(self.gpu_available.finish()),
            Arc::new(self.sessions_in_use.finish()),
            Arc::new(self.sessions_max.finish()),
            Arc::new(self.probe_target.finish()),
            Arc::new(self.probe_ok.finish()),
            Arc::new(self.latency_ms.finish()),
            Arc::new(self.gpu_id.finish()),
            Arc::new(self.gpu_model.finish()),
            Arc::new(self.gpu_utilization.finish()),
            Arc::new(self.gpu_memory_used_bytes.finish()),
            Arc::new(self.gpu_memory_total_bytes.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(Arc::clone(&SCHEMA), columns).expect("builders follow SCHEMA column for column")
    }
}

/// Checks the values Arrow's type system cannot: canonical addresses, known
/// kinds, valid event ids.
pub fn validate(batch: &RecordBatch) -> Result<(), DecodeError> {
    let strings = |name: &'static str| -> Result<&StringArray, DecodeError> {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or(DecodeError::InvalidValue {
                column: name,
                detail: "column missing or not Utf8".into(),
            })
    };
    let orchestrators = strings("orchestrator")?;
    // The common case (canonical) is checked without allocating; the error
    // path says why.
    for value in orchestrators.iter().flatten() {
        if OrchestratorAddress::is_canonical(value) {
            continue;
        }
        let parsed: OrchestratorAddress = value.parse().map_err(|e: crate::IdError| DecodeError::InvalidValue {
            column: "orchestrator",
            detail: e.to_string(),
        })?;
        if parsed.as_str() != value {
            return Err(DecodeError::InvalidValue {
                column: "orchestrator",
                detail: format!("{value:?} is not lowercase"),
            });
        }
    }
    let kinds = batch
        .column_by_name("kind")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>());
    for value in kinds.into_iter().flatten().flatten() {
        if Kind::parse(value).is_none() {
            return Err(DecodeError::InvalidValue {
                column: "kind",
                detail: format!("unknown kind {value:?}"),
            });
        }
    }
    for value in strings("event_id")?.iter().flatten() {
        if EventId::is_valid(value) {
            continue;
        }
        value.parse::<EventId>().map_err(|e| DecodeError::InvalidValue {
            column: "event_id",
            detail: e.to_string(),
        })?;
    }
    let schema = batch.schema();
    if let Some((field, _)) = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .find(|(f, c)| !f.is_nullable() && c.null_count() > 0)
    {
        return Err(DecodeError::InvalidValue {
            column: "required column",
            detail: format!("{} holds nulls", field.name()),
        });
    }
    Ok(())
}
