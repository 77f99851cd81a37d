//! Lake rows for accepted go-livepeer gateway events.
//!
//! Every accepted event becomes one `gateway_events` row (lineage: its id,
//! times, ids, the orchestrator it names, and `data` less personal fields)
//! with the typed columns the session SQL needs. Families that carry lists
//! also fan out into typed tables: `capability_snapshots` (one row per
//! orchestrator × hardware entry × GPU, or per orchestrator when it reports
//! no hardware), `discovery_results` (one row per candidate) and
//! `payment_events`. Addresses are lowercased here, once, so that every join
//! downstream is a plain equality.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, Decimal128Builder, Float64Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde_json::Value;

use crate::livepeer::{Envelope, LivepeerEvent};

/// One row per accepted gateway event.
pub const GATEWAY_EVENTS_TABLE: &str = crate::tables::GATEWAY_EVENTS.name;
/// `network_capabilities` fanned out per orchestrator, hardware entry and GPU.
pub const CAPABILITY_SNAPSHOTS_TABLE: &str = crate::tables::CAPABILITY_SNAPSHOTS.name;
/// `discovery_results` fanned out per candidate orchestrator.
pub const DISCOVERY_RESULTS_TABLE: &str = crate::tables::DISCOVERY_RESULTS.name;
/// `create_new_payment`, typed.
pub const PAYMENT_EVENTS_TABLE: &str = crate::tables::PAYMENT_EVENTS.name;

fn time(name: &str, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        nullable,
    )
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn lineage() -> Vec<Field> {
    vec![
        Field::new("event_id", DataType::Utf8, false),
        time("event_time", false),
        Field::new("gateway", DataType::Utf8, false),
    ]
}

fn schema(extra: Vec<Field>) -> SchemaRef {
    let mut fields = lineage();
    fields.extend(extra);
    Arc::new(Schema::new(fields))
}

/// Schema of [`GATEWAY_EVENTS_TABLE`].
pub static GATEWAY_EVENTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(vec![
        Field::new("family", DataType::Utf8, false),
        text("subtype"),
        // `data.timestamp` where the payload has one (trace and status
        // times), else the envelope time: latency edges use this.
        time("signal_time", false),
        text("orchestrator_address"),
        text("orchestrator_url"),
        text("stream_id"),
        text("request_id"),
        text("pipeline_id"),
        // Raw `data.pipeline`: for status and events a model hint.
        text("pipeline"),
        text("state"),
        Field::new("output_fps", DataType::Float64, true),
        time("start_time", true),
        // Trace `message`, or the error text of an `ai_stream_events` error.
        text("message"),
        // `inference_status.last_error` of a status sample.
        text("last_error"),
        Field::new("data", DataType::Utf8, false),
    ])
});

/// Schema of [`CAPABILITY_SNAPSHOTS_TABLE`].
pub static CAPABILITY_SNAPSHOTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(vec![
        Field::new("address", DataType::Utf8, false),
        text("local_address"),
        text("orch_uri"),
        text("pipeline"),
        text("model_id"),
        text("gpu_id"),
        text("gpu_name"),
        Field::new("gpu_memory_total", DataType::Int64, true),
        Field::new("gpu_memory_free", DataType::Int64, true),
    ])
});

/// Schema of [`DISCOVERY_RESULTS_TABLE`].
pub static DISCOVERY_RESULTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(vec![
        Field::new("orchestrator_address", DataType::Utf8, false),
        text("orchestrator_url"),
        Field::new("latency_ms", DataType::Float64, false),
    ])
});

/// Wei amounts exceed i64; Decimal128(38, 0) holds any u128 below 10^38.
pub const WEI: DataType = DataType::Decimal128(38, 0);

/// Schema of [`PAYMENT_EVENTS_TABLE`].
pub static PAYMENT_EVENTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(vec![
        Field::new("sender", DataType::Utf8, false),
        Field::new("recipient", DataType::Utf8, false),
        text("orchestrator_url"),
        Field::new("face_value_wei", WEI, false),
        Field::new("win_prob", DataType::Float64, false),
        Field::new("price_wei_per_pixel", DataType::Float64, false),
        Field::new("num_tickets", DataType::Int64, false),
        text("request_id"),
        text("session_id"),
        text("manifest_id"),
    ])
});

#[derive(Debug, Default)]
struct Lineage {
    event_id: StringBuilder,
    event_time: TimestampMillisecondBuilder,
    gateway: StringBuilder,
}

impl Lineage {
    fn push(&mut self, e: &Envelope) {
        self.event_id.append_value(&e.id);
        self.event_time.append_value(e.timestamp_ms);
        self.gateway.append_value(&e.gateway);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.event_id.finish()),
            Arc::new(self.event_time.finish().with_timezone("UTC")),
            Arc::new(self.gateway.finish()),
        ]
    }
}

#[derive(Debug, Default)]
struct EventsBuilder {
    lineage: Lineage,
    family: StringBuilder,
    subtype: StringBuilder,
    signal_time: TimestampMillisecondBuilder,
    orchestrator_address: StringBuilder,
    orchestrator_url: StringBuilder,
    stream_id: StringBuilder,
    request_id: StringBuilder,
    pipeline_id: StringBuilder,
    pipeline: StringBuilder,
    state: StringBuilder,
    output_fps: Float64Builder,
    start_time: TimestampMillisecondBuilder,
    message: StringBuilder,
    last_error: StringBuilder,
    data: StringBuilder,
}

#[derive(Debug, Default)]
struct CapabilitiesBuilder {
    lineage: Lineage,
    address: StringBuilder,
    local_address: StringBuilder,
    orch_uri: StringBuilder,
    pipeline: StringBuilder,
    model_id: StringBuilder,
    gpu_id: StringBuilder,
    gpu_name: StringBuilder,
    gpu_memory_total: Int64Builder,
    gpu_memory_free: Int64Builder,
}

#[derive(Debug, Default)]
struct DiscoveryBuilder {
    lineage: Lineage,
    orchestrator_address: StringBuilder,
    orchestrator_url: StringBuilder,
    latency_ms: Float64Builder,
}

#[derive(Debug)]
struct PaymentsBuilder {
    lineage: Lineage,
    sender: StringBuilder,
    recipient: StringBuilder,
    orchestrator_url: StringBuilder,
    face_value_wei: Decimal128Builder,
    win_prob: Float64Builder,
    price_wei_per_pixel: Float64Builder,
    num_tickets: Int64Builder,
    request_id: StringBuilder,
    session_id: StringBuilder,
    manifest_id: StringBuilder,
}

impl Default for PaymentsBuilder {
    fn default() -> Self {
        Self {
            lineage: Lineage::default(),
            sender: StringBuilder::new(),
            recipient: StringBuilder::new(),
            orchestrator_url: StringBuilder::new(),
            face_value_wei: Decimal128Builder::new().with_data_type(WEI),
            win_prob: Float64Builder::new(),
            price_wei_per_pixel: Float64Builder::new(),
            num_tickets: Int64Builder::new(),
            request_id: StringBuilder::new(),
            session_id: StringBuilder::new(),
            manifest_id: StringBuilder::new(),
        }
    }
}

/// Row builders for every gateway table, filled one envelope at a time.
#[derive(Debug, Default)]
pub struct GatewayTables {
    events: EventsBuilder,
    capabilities: CapabilitiesBuilder,
    discovery: DiscoveryBuilder,
    payments: PaymentsBuilder,
    /// The 2026 families' tables (see [`crate::job_tables`]).
    jobs: crate::job_tables::JobTables,
    rows: usize,
    capability_rows: usize,
    discovery_rows: usize,
    payment_rows: usize,
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn lower(s: &str) -> Option<String> {
    non_empty(s).map(str::to_ascii_lowercase)
}

fn get_text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .and_then(non_empty)
        .map(str::to_owned)
}

impl GatewayTables {
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Adds one accepted envelope to every table it feeds.
    pub fn push(&mut self, e: &Envelope) {
        let b = &mut self.events;
        b.lineage.push(e);
        b.family.append_value(&e.family);
        let info = e.data.get("orchestrator_info");
        let (address, url) = match &e.event {
            LivepeerEvent::CreateNewPayment(p) => {
                (lower(&p.recipient), non_empty(&p.orchestrator_url).map(str::to_owned))
            }
            _ => (
                info.and_then(|i| get_text(i, "address"))
                    .map(|a| a.to_ascii_lowercase()),
                info.and_then(|i| get_text(i, "url")),
            ),
        };
        let subtype = match &e.event {
            LivepeerEvent::StreamTrace(_) | LivepeerEvent::AiStreamStatus(_) | LivepeerEvent::AiStreamEvents(_) => {
                get_text(&e.data, "type")
            }
            LivepeerEvent::Job(job) => Some(job.subtype().to_owned()),
            _ => None,
        };
        b.subtype.append_option(subtype);
        let signal = e
            .data
            .get("timestamp")
            .and_then(Value::as_i64)
            .unwrap_or(e.timestamp_ms);
        b.signal_time.append_value(signal);
        b.orchestrator_address.append_option(address);
        b.orchestrator_url.append_option(url);
        b.stream_id.append_option(get_text(&e.data, "stream_id"));
        b.request_id
            .append_option(get_text(&e.data, "request_id").or_else(|| get_text(&e.data, "requestID")));
        b.pipeline_id.append_option(get_text(&e.data, "pipeline_id"));
        b.pipeline.append_option(get_text(&e.data, "pipeline"));
        match &e.event {
            LivepeerEvent::AiStreamStatus(s) => {
                b.state.append_value(&s.state);
                b.output_fps.append_option(s.inference_status.fps);
                b.start_time.append_option(s.start_time);
                b.message.append_null();
                b.last_error
                    .append_option(s.inference_status.last_error.as_deref().and_then(non_empty));
            }
            LivepeerEvent::StreamTrace(t) => {
                b.state.append_null();
                b.output_fps.append_null();
                b.start_time.append_null();
                b.message.append_option(t.message.as_deref().and_then(non_empty));
                b.last_error.append_null();
            }
            LivepeerEvent::AiStreamEvents(data) => {
                b.state.append_null();
                b.output_fps.append_null();
                b.start_time.append_null();
                b.message
                    .append_option(get_text(data, "message").or_else(|| get_text(data, "error")));
                b.last_error.append_null();
            }
            _ => {
                b.state.append_null();
                b.output_fps.append_null();
                b.start_time.append_null();
                b.message.append_null();
                b.last_error.append_null();
            }
        }
        b.data.append_value(&e.data_json);
        self.rows += 1;
        match &e.event {
            LivepeerEvent::NetworkCapabilities(orchestrators) => {
                let c = &mut self.capabilities;
                for o in orchestrators {
                    let Some(address) = lower(&o.address) else { continue };
                    let mut row =
                        |pipeline: Option<&str>, model: Option<&str>, gpu: Option<&crate::livepeer::GpuInfo>| {
                            c.lineage.push(e);
                            c.address.append_value(&address);
                            c.local_address.append_option(lower(&o.local_address));
                            c.orch_uri.append_option(non_empty(&o.orch_uri));
                            c.pipeline.append_option(pipeline.and_then(non_empty));
                            c.model_id.append_option(model.and_then(non_empty));
                            c.gpu_id.append_option(gpu.and_then(|g| non_empty(&g.id)));
                            c.gpu_name.append_option(gpu.and_then(|g| non_empty(&g.name)));
                            c.gpu_memory_total
                                .append_option(gpu.and_then(|g| g.memory_total).and_then(|m| i64::try_from(m).ok()));
                            c.gpu_memory_free
                                .append_option(gpu.and_then(|g| g.memory_free).and_then(|m| i64::try_from(m).ok()));
                            self.capability_rows += 1;
                        };
                    if o.hardware.is_empty() {
                        row(None, None, None);
                    }
                    for h in &o.hardware {
                        if h.gpu_info.is_empty() {
                            row(Some(&h.pipeline), Some(&h.model_id), None);
                        }
                        for g in &h.gpu_info {
                            row(Some(&h.pipeline), Some(&h.model_id), Some(g));
                        }
                    }
                }
            }
            LivepeerEvent::DiscoveryResults(candidates) => {
                let d = &mut self.discovery;
                for c in candidates {
                    let Some(address) = lower(&c.address) else { continue };
                    d.lineage.push(e);
                    d.orchestrator_address.append_value(address);
                    d.orchestrator_url.append_option(non_empty(&c.url));
                    d.latency_ms.append_value(c.latency_ms);
                    self.discovery_rows += 1;
                }
            }
            LivepeerEvent::CreateNewPayment(p) => {
                let b = &mut self.payments;
                b.lineage.push(e);
                b.sender.append_value(p.sender.to_ascii_lowercase());
                b.recipient.append_value(p.recipient.to_ascii_lowercase());
                b.orchestrator_url.append_option(non_empty(&p.orchestrator_url));
                b.face_value_wei
                    .append_value(i128::try_from(p.face_value_wei).unwrap_or(i128::MAX));
                b.win_prob.append_value(p.win_prob);
                b.price_wei_per_pixel.append_value(p.price_wei_per_pixel);
                b.num_tickets.append_value(i64::from(p.num_tickets));
                b.request_id.append_option(non_empty(&p.request_id));
                b.session_id.append_option(non_empty(&p.session_id));
                b.manifest_id.append_option(non_empty(&p.manifest_id));
                self.payment_rows += 1;
            }
            LivepeerEvent::Job(job) => self.jobs.push(e, job),
            _ => {}
        }
    }

    /// The non-empty tables, `gateway_events` first, and resets the builders.
    pub fn finish(&mut self) -> Vec<(&'static str, RecordBatch)> {
        let mut out = Vec::new();
        let batch = |schema: &SchemaRef, columns: Vec<ArrayRef>| {
            RecordBatch::try_new(Arc::clone(schema), columns).expect("builders follow their schema column for column")
        };
        if self.rows > 0 {
            let b = &mut self.events;
            let mut cols = b.lineage.finish();
            cols.extend::<[ArrayRef; 15]>([
                Arc::new(b.family.finish()),
                Arc::new(b.subtype.finish()),
                Arc::new(b.signal_time.finish().with_timezone("UTC")),
                Arc::new(b.orchestrator_address.finish()),
                Arc::new(b.orchestrator_url.finish()),
                Arc::new(b.stream_id.finish()),
                Arc::new(b.request_id.finish()),
                Arc::new(b.pipeline_id.finish()),
                Arc::new(b.pipeline.finish()),
                Arc::new(b.state.finish()),
                Arc::new(b.output_fps.finish()),
                Arc::new(b.start_time.finish().with_timezone("UTC")),
                Arc::new(b.message.finish()),
                Arc::new(b.last_error.finish()),
                Arc::new(b.data.finish()),
            ]);
            out.push((GATEWAY_EVENTS_TABLE, batch(&GATEWAY_EVENTS_SCHEMA, cols)));
        }
        if self.capability_rows > 0 {
            let c = &mut self.capabilities;
            let mut cols = c.lineage.finish();
            cols.extend::<[ArrayRef; 9]>([
                Arc::new(c.address.finish()),
                Arc::new(c.local_address.finish()),
                Arc::new(c.orch_uri.finish()),
                Arc::new(c.pipeline.finish()),
                Arc::new(c.model_id.finish()),
                Arc::new(c.gpu_id.finish()),
                Arc::new(c.gpu_name.finish()),
                Arc::new(c.gpu_memory_total.finish()),
                Arc::new(c.gpu_memory_free.finish()),
            ]);
            out.push((CAPABILITY_SNAPSHOTS_TABLE, batch(&CAPABILITY_SNAPSHOTS_SCHEMA, cols)));
        }
        if self.discovery_rows > 0 {
            let d = &mut self.discovery;
            let mut cols = d.lineage.finish();
            cols.extend::<[ArrayRef; 3]>([
                Arc::new(d.orchestrator_address.finish()),
                Arc::new(d.orchestrator_url.finish()),
                Arc::new(d.latency_ms.finish()),
            ]);
            out.push((DISCOVERY_RESULTS_TABLE, batch(&DISCOVERY_RESULTS_SCHEMA, cols)));
        }
        if self.payment_rows > 0 {
            let p = &mut self.payments;
            let mut cols = p.lineage.finish();
            cols.extend::<[ArrayRef; 10]>([
                Arc::new(p.sender.finish()),
                Arc::new(p.recipient.finish()),
                Arc::new(p.orchestrator_url.finish()),
                Arc::new(p.face_value_wei.finish()),
                Arc::new(p.win_prob.finish()),
                Arc::new(p.price_wei_per_pixel.finish()),
                Arc::new(p.num_tickets.finish()),
                Arc::new(p.request_id.finish()),
                Arc::new(p.session_id.finish()),
                Arc::new(p.manifest_id.finish()),
            ]);
            out.push((PAYMENT_EVENTS_TABLE, batch(&PAYMENT_EVENTS_SCHEMA, cols)));
        }
        self.jobs.finish(&mut out);
        self.rows = 0;
        self.capability_rows = 0;
        self.discovery_rows = 0;
        self.payment_rows = 0;
        out
    }
}

/// Every gateway table with its schema (empty tables for SQL tests), the
/// job tables included.
pub fn schemas() -> Vec<(&'static str, SchemaRef)> {
    let mut all = vec![
        (GATEWAY_EVENTS_TABLE, Arc::clone(&GATEWAY_EVENTS_SCHEMA)),
        (CAPABILITY_SNAPSHOTS_TABLE, Arc::clone(&CAPABILITY_SNAPSHOTS_SCHEMA)),
        (DISCOVERY_RESULTS_TABLE, Arc::clone(&DISCOVERY_RESULTS_SCHEMA)),
        (PAYMENT_EVENTS_TABLE, Arc::clone(&PAYMENT_EVENTS_SCHEMA)),
    ];
    all.extend(crate::job_tables::schemas());
    all
}

#[cfg(test)]
#[path = "gateway_tables_tests.rs"]
mod tests;
