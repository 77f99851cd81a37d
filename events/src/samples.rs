//! Node samples beyond the heartbeat: every NVML GPU field, and the host.
//!
//! Column names follow the OpenTelemetry hardware and system semantic
//! conventions with `.` written as `_` (so SQL needs no quoting):
//! `hw.id` → `hw_id` (the NVML UUID), `hw.gpu.utilization` →
//! `hw_gpu_utilization` (a 0..1 ratio, as OTel and DCGM's
//! `DCGM_FI_DEV_GPU_UTIL`/100), `hw.gpu.memory.usage`/`.limit` in bytes,
//! `hw.gpu.io` split by direction in bytes per second, `hw.errors`
//! (uncorrected ECC), `hw.status`. Units are in the names where OTel leaves
//! them implicit. One row per device per read; several hosts behind one
//! orchestrator are told apart by `node_id`, and a device is counted once per
//! `(node_id, hw_id)`.

use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, Float64Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder, UInt32Builder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::{EventId, OrchestratorAddress};

fn common() -> Vec<Field> {
    vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("orchestrator", DataType::Utf8, false),
        Field::new("node_id", DataType::Utf8, false),
        Field::new("region", DataType::Utf8, false),
    ]
}

/// Schema of family `gpu_sample` v1.
pub static GPU_SAMPLE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut f = common();
    f.extend([
        Field::new("hw_id", DataType::Utf8, false),
        Field::new("hw_model", DataType::Utf8, true),
        Field::new("hw_vendor", DataType::Utf8, true),
        Field::new("hw_driver_version", DataType::Utf8, true),
        Field::new("hw_cuda_version", DataType::Utf8, true),
        Field::new("hw_gpu_utilization", DataType::Float64, true),
        Field::new("hw_gpu_memory_utilization", DataType::Float64, true),
        Field::new("hw_gpu_memory_usage_bytes", DataType::UInt64, true),
        Field::new("hw_gpu_memory_limit_bytes", DataType::UInt64, true),
        Field::new("hw_temperature_celsius", DataType::Float64, true),
        Field::new("hw_power_watts", DataType::Float64, true),
        Field::new("hw_power_limit_watts", DataType::Float64, true),
        Field::new("hw_gpu_sm_clock_mhz", DataType::Float64, true),
        Field::new("hw_gpu_io_receive_bytes_per_second", DataType::Float64, true),
        Field::new("hw_gpu_io_transmit_bytes_per_second", DataType::Float64, true),
        Field::new("hw_errors", DataType::UInt64, true),
        Field::new("hw_gpu_processes", DataType::UInt32, true),
        Field::new("hw_status", DataType::Utf8, false),
    ]);
    Arc::new(Schema::new(f))
});

/// Schema of family `host_sample` v1.
pub static HOST_SAMPLE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut f = common();
    f.extend([
        Field::new("system_cpu_utilization", DataType::Float64, true),
        Field::new("system_cpu_logical_count", DataType::UInt32, true),
        Field::new("system_memory_usage_bytes", DataType::UInt64, true),
        Field::new("system_memory_limit_bytes", DataType::UInt64, true),
        Field::new("system_load_1m", DataType::Float64, true),
        Field::new("system_load_5m", DataType::Float64, true),
        Field::new("system_load_15m", DataType::Float64, true),
        Field::new("system_network_receive_bytes", DataType::UInt64, true),
        Field::new("system_network_transmit_bytes", DataType::UInt64, true),
    ]);
    Arc::new(Schema::new(f))
});

/// Where and when a sample was taken.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOrigin {
    pub event_id: EventId,
    pub event_time_ms: i64,
    pub orchestrator: OrchestratorAddress,
    pub node_id: String,
    pub region: String,
}

/// Every field NVML reports for one device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuFields {
    pub id: String,
    pub model: Option<String>,
    pub vendor: Option<String>,
    pub driver_version: Option<String>,
    pub cuda_version: Option<String>,
    pub utilization: Option<f64>,
    pub memory_utilization: Option<f64>,
    pub memory_usage_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub temperature_celsius: Option<f64>,
    pub power_watts: Option<f64>,
    pub power_limit_watts: Option<f64>,
    pub sm_clock_mhz: Option<f64>,
    pub io_receive_bytes_per_second: Option<f64>,
    pub io_transmit_bytes_per_second: Option<f64>,
    pub errors: Option<u64>,
    pub processes: Option<u32>,
    pub status: String,
}

/// Host figures of one read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostFields {
    pub cpu_utilization: Option<f64>,
    pub cpu_logical_count: Option<u32>,
    pub memory_usage_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub load_1m: Option<f64>,
    pub load_5m: Option<f64>,
    pub load_15m: Option<f64>,
    pub network_receive_bytes: Option<u64>,
    pub network_transmit_bytes: Option<u64>,
}

#[derive(Debug, Default)]
struct OriginBuilder {
    event_id: StringBuilder,
    event_time: TimestampMillisecondBuilder,
    orchestrator: StringBuilder,
    node_id: StringBuilder,
    region: StringBuilder,
}

impl OriginBuilder {
    fn push(&mut self, o: &SampleOrigin) {
        self.event_id.append_value(o.event_id.as_str());
        self.event_time.append_value(o.event_time_ms);
        self.orchestrator.append_value(o.orchestrator.as_str());
        self.node_id.append_value(&o.node_id);
        self.region.append_value(&o.region);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.event_id.finish()),
            Arc::new(self.event_time.finish().with_timezone("UTC")),
            Arc::new(self.orchestrator.finish()),
            Arc::new(self.node_id.finish()),
            Arc::new(self.region.finish()),
        ]
    }
}

/// Rows of `gpu_sample` v1.
#[derive(Debug, Default)]
pub struct GpuSampleBuilder {
    origin: OriginBuilder,
    id: StringBuilder,
    model: StringBuilder,
    vendor: StringBuilder,
    driver: StringBuilder,
    cuda: StringBuilder,
    utilization: Float64Builder,
    memory_utilization: Float64Builder,
    memory_usage: UInt64Builder,
    memory_limit: UInt64Builder,
    temperature: Float64Builder,
    power: Float64Builder,
    power_limit: Float64Builder,
    sm_clock: Float64Builder,
    io_rx: Float64Builder,
    io_tx: Float64Builder,
    errors: UInt64Builder,
    processes: UInt32Builder,
    status: StringBuilder,
}

impl GpuSampleBuilder {
    pub fn push(&mut self, origin: &SampleOrigin, g: &GpuFields) {
        self.origin.push(origin);
        self.id.append_value(&g.id);
        self.model.append_option(g.model.as_deref());
        self.vendor.append_option(g.vendor.as_deref());
        self.driver.append_option(g.driver_version.as_deref());
        self.cuda.append_option(g.cuda_version.as_deref());
        self.utilization.append_option(g.utilization);
        self.memory_utilization.append_option(g.memory_utilization);
        self.memory_usage.append_option(g.memory_usage_bytes);
        self.memory_limit.append_option(g.memory_limit_bytes);
        self.temperature.append_option(g.temperature_celsius);
        self.power.append_option(g.power_watts);
        self.power_limit.append_option(g.power_limit_watts);
        self.sm_clock.append_option(g.sm_clock_mhz);
        self.io_rx.append_option(g.io_receive_bytes_per_second);
        self.io_tx.append_option(g.io_transmit_bytes_per_second);
        self.errors.append_option(g.errors);
        self.processes.append_option(g.processes);
        self.status.append_value(&g.status);
    }

    pub fn finish(&mut self) -> RecordBatch {
        let mut cols = self.origin.finish();
        cols.extend::<[ArrayRef; 18]>([
            Arc::new(self.id.finish()),
            Arc::new(self.model.finish()),
            Arc::new(self.vendor.finish()),
            Arc::new(self.driver.finish()),
            Arc::new(self.cuda.finish()),
            Arc::new(self.utilization.finish()),
            Arc::new(self.memory_utilization.finish()),
            Arc::new(self.memory_usage.finish()),
            Arc::new(self.memory_limit.finish()),
            Arc::new(self.temperature.finish()),
            Arc::new(self.power.finish()),
            Arc::new(self.power_limit.finish()),
            Arc::new(self.sm_clock.finish()),
            Arc::new(self.io_rx.finish()),
            Arc::new(self.io_tx.finish()),
            Arc::new(self.errors.finish()),
            Arc::new(self.processes.finish()),
            Arc::new(self.status.finish()),
        ]);
        RecordBatch::try_new(Arc::clone(&GPU_SAMPLE_SCHEMA), cols).expect("builders follow GPU_SAMPLE_SCHEMA")
    }
}

/// Rows of `host_sample` v1.
#[derive(Debug, Default)]
pub struct HostSampleBuilder {
    origin: OriginBuilder,
    cpu: Float64Builder,
    cpus: UInt32Builder,
    mem_used: UInt64Builder,
    mem_total: UInt64Builder,
    load1: Float64Builder,
    load5: Float64Builder,
    load15: Float64Builder,
    rx: UInt64Builder,
    tx: UInt64Builder,
}

impl HostSampleBuilder {
    pub fn push(&mut self, origin: &SampleOrigin, h: &HostFields) {
        self.origin.push(origin);
        self.cpu.append_option(h.cpu_utilization);
        self.cpus.append_option(h.cpu_logical_count);
        self.mem_used.append_option(h.memory_usage_bytes);
        self.mem_total.append_option(h.memory_limit_bytes);
        self.load1.append_option(h.load_1m);
        self.load5.append_option(h.load_5m);
        self.load15.append_option(h.load_15m);
        self.rx.append_option(h.network_receive_bytes);
        self.tx.append_option(h.network_transmit_bytes);
    }

    pub fn finish(&mut self) -> RecordBatch {
        let mut cols = self.origin.finish();
        cols.extend::<[ArrayRef; 9]>([
            Arc::new(self.cpu.finish()),
            Arc::new(self.cpus.finish()),
            Arc::new(self.mem_used.finish()),
            Arc::new(self.mem_total.finish()),
            Arc::new(self.load1.finish()),
            Arc::new(self.load5.finish()),
            Arc::new(self.load15.finish()),
            Arc::new(self.rx.finish()),
            Arc::new(self.tx.finish()),
        ]);
        RecordBatch::try_new(Arc::clone(&HOST_SAMPLE_SCHEMA), cols).expect("builders follow HOST_SAMPLE_SCHEMA")
    }
}

/// Schema of family `probe_result` v1: one active probe by this node
/// (`region` is the observer's, so latency is per observer).
pub static PROBE_RESULT_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut f = common();
    f.extend([
        Field::new("target", DataType::Utf8, false),
        Field::new("probe", DataType::Utf8, false),
        Field::new("ok", DataType::Boolean, false),
        Field::new("error", DataType::Utf8, true),
        Field::new("tcp_connect_ms", DataType::Float64, true),
        Field::new("tls_handshake_ms", DataType::Float64, true),
        Field::new("http_status", DataType::UInt32, true),
        Field::new("time_to_first_byte_ms", DataType::Float64, true),
        Field::new("bytes", DataType::UInt64, true),
        Field::new("throughput_bytes_per_second", DataType::Float64, true),
    ]);
    Arc::new(Schema::new(f))
});

/// Schema of family `metric_sample` v1: allow-listed Prometheus series
/// scraped from a go-livepeer node, forwarded as they are.
pub static METRIC_SAMPLE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut f = common();
    f.extend([
        Field::new("metric", DataType::Utf8, false),
        // Labels as a JSON object with sorted keys.
        Field::new("labels", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
    ]);
    Arc::new(Schema::new(f))
});

/// One probe's outcome.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeFields {
    pub target: String,
    /// `tcp`, `http`, `https` or `bandwidth`.
    pub probe: String,
    pub ok: bool,
    pub error: Option<String>,
    pub tcp_connect_ms: Option<f64>,
    pub tls_handshake_ms: Option<f64>,
    pub http_status: Option<u32>,
    pub time_to_first_byte_ms: Option<f64>,
    pub bytes: Option<u64>,
    pub throughput_bytes_per_second: Option<f64>,
}

/// Rows of `probe_result` v1.
#[derive(Debug, Default)]
pub struct ProbeResultBuilder {
    origin: OriginBuilder,
    target: StringBuilder,
    probe: StringBuilder,
    ok: arrow::array::BooleanBuilder,
    error: StringBuilder,
    tcp: Float64Builder,
    tls: Float64Builder,
    status: UInt32Builder,
    ttfb: Float64Builder,
    bytes: UInt64Builder,
    throughput: Float64Builder,
}

impl ProbeResultBuilder {
    pub fn push(&mut self, origin: &SampleOrigin, p: &ProbeFields) {
        self.origin.push(origin);
        self.target.append_value(&p.target);
        self.probe.append_value(&p.probe);
        self.ok.append_value(p.ok);
        self.error.append_option(p.error.as_deref());
        self.tcp.append_option(p.tcp_connect_ms);
        self.tls.append_option(p.tls_handshake_ms);
        self.status.append_option(p.http_status);
        self.ttfb.append_option(p.time_to_first_byte_ms);
        self.bytes.append_option(p.bytes);
        self.throughput.append_option(p.throughput_bytes_per_second);
    }

    pub fn finish(&mut self) -> RecordBatch {
        let mut cols = self.origin.finish();
        cols.extend::<[ArrayRef; 10]>([
            Arc::new(self.target.finish()),
            Arc::new(self.probe.finish()),
            Arc::new(self.ok.finish()),
            Arc::new(self.error.finish()),
            Arc::new(self.tcp.finish()),
            Arc::new(self.tls.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.ttfb.finish()),
            Arc::new(self.bytes.finish()),
            Arc::new(self.throughput.finish()),
        ]);
        RecordBatch::try_new(Arc::clone(&PROBE_RESULT_SCHEMA), cols).expect("builders follow PROBE_RESULT_SCHEMA")
    }
}

/// Rows of `metric_sample` v1.
#[derive(Debug, Default)]
pub struct MetricSampleBuilder {
    origin: OriginBuilder,
    metric: StringBuilder,
    labels: StringBuilder,
    value: Float64Builder,
}

impl MetricSampleBuilder {
    pub fn push(&mut self, origin: &SampleOrigin, metric: &str, labels_json: &str, value: f64) {
        self.origin.push(origin);
        self.metric.append_value(metric);
        self.labels.append_value(labels_json);
        self.value.append_value(value);
    }

    pub fn finish(&mut self) -> RecordBatch {
        let mut cols = self.origin.finish();
        cols.extend::<[ArrayRef; 3]>([
            Arc::new(self.metric.finish()),
            Arc::new(self.labels.finish()),
            Arc::new(self.value.finish()),
        ]);
        RecordBatch::try_new(Arc::clone(&METRIC_SAMPLE_SCHEMA), cols).expect("builders follow METRIC_SAMPLE_SCHEMA")
    }
}

/// Schema of family `custom_event` v1: an event a BYOC container on the
/// node posted to the emitter, in a CloudEvents 1.0 envelope. `ce_type` is
/// the registered event name, `ce_dataschema` names its schema and version
/// (`naap:byoc/<name>/v<version>`), and `data` is the event's JSON object,
/// validated against that schema and holding only its declared fields.
pub static CUSTOM_EVENT_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut f = common();
    f.extend([
        Field::new("ce_specversion", DataType::Utf8, false),
        Field::new("ce_id", DataType::Utf8, false),
        Field::new("ce_source", DataType::Utf8, false),
        Field::new("ce_type", DataType::Utf8, false),
        Field::new("ce_dataschema", DataType::Utf8, false),
        Field::new("data", DataType::Utf8, false),
    ]);
    Arc::new(Schema::new(f))
});

/// One custom event's envelope and data.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomEventFields {
    /// CloudEvents `id`, unique within `source`.
    pub id: String,
    /// CloudEvents `source` (a URI reference naming the node).
    pub source: String,
    /// CloudEvents `type`: the registered event name.
    pub event_type: String,
    /// CloudEvents `dataschema`.
    pub dataschema: String,
    /// The validated data, as a JSON object.
    pub data_json: String,
}

/// Rows of `custom_event` v1.
#[derive(Debug, Default)]
pub struct CustomEventBuilder {
    origin: OriginBuilder,
    specversion: StringBuilder,
    id: StringBuilder,
    source: StringBuilder,
    event_type: StringBuilder,
    dataschema: StringBuilder,
    data: StringBuilder,
}

impl CustomEventBuilder {
    pub fn push(&mut self, origin: &SampleOrigin, e: &CustomEventFields) {
        self.origin.push(origin);
        self.specversion.append_value("1.0");
        self.id.append_value(&e.id);
        self.source.append_value(&e.source);
        self.event_type.append_value(&e.event_type);
        self.dataschema.append_value(&e.dataschema);
        self.data.append_value(&e.data_json);
    }

    pub fn finish(&mut self) -> RecordBatch {
        let mut cols = self.origin.finish();
        cols.extend::<[ArrayRef; 6]>([
            Arc::new(self.specversion.finish()),
            Arc::new(self.id.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.event_type.finish()),
            Arc::new(self.dataschema.finish()),
            Arc::new(self.data.finish()),
        ]);
        RecordBatch::try_new(Arc::clone(&CUSTOM_EVENT_SCHEMA), cols).expect("builders follow CUSTOM_EVENT_SCHEMA")
    }
}
