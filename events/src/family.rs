//! Event families and their schema ids as carried in Kafka headers.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;

use crate::tables;

/// Kafka header naming the family of the Arrow IPC payload.
pub const HEADER_SCHEMA: &str = "naap-schema";
/// Kafka header carrying the family's schema version (decimal).
pub const HEADER_SCHEMA_VERSION: &str = "naap-schema-version";

/// Every (family, version) this build can encode and decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    NodeTelemetryV1,
    GpuSampleV1,
    HostSampleV1,
    ProbeResultV1,
    MetricSampleV1,
    CustomEventV1,
}

impl Family {
    pub const ALL: &'static [Family] = &[
        Family::NodeTelemetryV1,
        Family::GpuSampleV1,
        Family::HostSampleV1,
        Family::ProbeResultV1,
        Family::MetricSampleV1,
        Family::CustomEventV1,
    ];

    /// The family name, which is also its lake table.
    pub fn name(self) -> &'static str {
        match self {
            Family::NodeTelemetryV1 => tables::NODE_TELEMETRY.name,
            Family::GpuSampleV1 => tables::GPU_SAMPLE.name,
            Family::HostSampleV1 => tables::HOST_SAMPLE.name,
            Family::ProbeResultV1 => tables::PROBE_RESULT.name,
            Family::MetricSampleV1 => tables::METRIC_SAMPLE.name,
            Family::CustomEventV1 => tables::CUSTOM_EVENT.name,
        }
    }

    pub fn version(self) -> u32 {
        match self {
            Family::NodeTelemetryV1
            | Family::GpuSampleV1
            | Family::HostSampleV1
            | Family::ProbeResultV1
            | Family::MetricSampleV1
            | Family::CustomEventV1 => 1,
        }
    }

    pub fn schema(self) -> SchemaRef {
        match self {
            Family::NodeTelemetryV1 => Arc::clone(&crate::telemetry::SCHEMA),
            Family::GpuSampleV1 => Arc::clone(&crate::samples::GPU_SAMPLE_SCHEMA),
            Family::HostSampleV1 => Arc::clone(&crate::samples::HOST_SAMPLE_SCHEMA),
            Family::ProbeResultV1 => Arc::clone(&crate::samples::PROBE_RESULT_SCHEMA),
            Family::MetricSampleV1 => Arc::clone(&crate::samples::METRIC_SAMPLE_SCHEMA),
            Family::CustomEventV1 => Arc::clone(&crate::samples::CUSTOM_EVENT_SCHEMA),
        }
    }

    /// Float columns whose values are forwarded as a producer reports them,
    /// where NaN and the infinities are values (a Prometheus sample's):
    /// every other float column is a measurement and must be finite.
    pub fn non_finite_columns(self) -> &'static [&'static str] {
        match self {
            Family::MetricSampleV1 => &["value"],
            Family::NodeTelemetryV1
            | Family::GpuSampleV1
            | Family::HostSampleV1
            | Family::ProbeResultV1
            | Family::CustomEventV1 => &[],
        }
    }

    /// Looks a family up from its header values; `None` for anything unknown.
    pub fn from_headers(name: &str, version: &str) -> Option<Family> {
        let version: u32 = version.trim().parse().ok()?;
        Family::ALL
            .iter()
            .copied()
            .find(|f| f.name() == name && f.version() == version)
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.v{}", self.name(), self.version())
    }
}
