//! Every lake table, declared once: its name, what writes it, and the
//! column its `date`/`hour` partitions come from. Every other place (the
//! pipeline's writers, the SQL harness, the server, the tests) names a
//! table through this list; a lake reader sees each as a Delta table at
//! `lake/<name>/`.

/// What writes a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// Every commit: the accepted rows of one event family.
    Raw,
    /// Every commit: what could not be accepted, with its reason (and what
    /// a stream did not deliver).
    Quarantine,
    /// Closing event-time minute windows of node telemetry (and the rules
    /// over them).
    Window,
    /// Sealing a UTC hour of gateway events (and the rules over it).
    Seal,
    /// A command run by hand over the lake (`naap backtest`): one file per
    /// run, appended.
    Command,
}

/// One lake table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    pub writer: Writer,
    /// The timestamp column whose UTC date and hour are the row's
    /// partition values.
    pub time_column: &'static str,
}

/// The partition columns of every table, in order (strings, spelled as the
/// folder names are: `date=2026-01-08/hour=21`).
pub const PARTITION_COLUMNS: [&str; 2] = ["date", "hour"];

const fn table(name: &'static str, writer: Writer, time_column: &'static str) -> Table {
    Table {
        name,
        writer,
        time_column,
    }
}

pub const NODE_TELEMETRY: Table = table("node_telemetry", Writer::Raw, "event_time");
pub const GPU_SAMPLE: Table = table("gpu_sample", Writer::Raw, "event_time");
pub const HOST_SAMPLE: Table = table("host_sample", Writer::Raw, "event_time");
pub const PROBE_RESULT: Table = table("probe_result", Writer::Raw, "event_time");
pub const METRIC_SAMPLE: Table = table("metric_sample", Writer::Raw, "event_time");
pub const CUSTOM_EVENT: Table = table("custom_event", Writer::Raw, "event_time");
pub const QUARANTINE: Table = table("quarantine", Writer::Quarantine, "message_time");
pub const STREAM_GAPS: Table = table("stream_gaps", Writer::Quarantine, "detected_at");
pub const TELEMETRY_1M: Table = table("telemetry_1m", Writer::Window, "window_start");
pub const SCORES: Table = table("scores", Writer::Window, "window_start");
pub const GATEWAY_EVENTS: Table = table("gateway_events", Writer::Raw, "event_time");
pub const CAPABILITY_SNAPSHOTS: Table = table("capability_snapshots", Writer::Raw, "event_time");
pub const DISCOVERY_RESULTS: Table = table("discovery_results", Writer::Raw, "event_time");
pub const PAYMENT_EVENTS: Table = table("payment_events", Writer::Raw, "event_time");
pub const AI_BATCH_EVENTS: Table = table("ai_batch_events", Writer::Raw, "event_time");
pub const LLM_EVENTS: Table = table("llm_events", Writer::Raw, "event_time");
pub const BYOC_JOB_EVENTS: Table = table("byoc_job_events", Writer::Raw, "event_time");
pub const BYOC_AUTH_EVENTS: Table = table("byoc_auth_events", Writer::Raw, "event_time");
pub const BYOC_PAYMENT_EVENTS: Table = table("byoc_payment_events", Writer::Raw, "event_time");
pub const WORKER_EVENTS: Table = table("worker_events", Writer::Raw, "event_time");
pub const SESSIONS: Table = table("sessions", Writer::Seal, "window_start");
pub const ORCHESTRATOR_HOURLY: Table = table("orchestrator_hourly", Writer::Seal, "window_start");
pub const SLA_INPUTS_HOURLY: Table = table("sla_inputs_hourly", Writer::Seal, "window_start");
pub const GPU_INVENTORY: Table = table("gpu_inventory", Writer::Seal, "window_start");
pub const DISCOVERY_LATENCY: Table = table("discovery_latency", Writer::Seal, "window_start");
pub const PAYMENTS: Table = table("payments", Writer::Seal, "window_start");
pub const AI_REQUESTS: Table = table("ai_requests", Writer::Seal, "window_start");
pub const LLM_REQUESTS: Table = table("llm_requests", Writer::Seal, "window_start");
pub const BYOC_ATTEMPTS: Table = table("byoc_attempts", Writer::Seal, "window_start");
pub const BYOC_JOBS: Table = table("byoc_jobs", Writer::Seal, "window_start");
pub const BYOC_WORKERS: Table = table("byoc_workers", Writer::Seal, "window_start");
pub const REQUESTS_HOURLY: Table = table("requests_hourly", Writer::Seal, "window_start");
pub const BYOC_AUTH_HOURLY: Table = table("byoc_auth_hourly", Writer::Seal, "window_start");
pub const BYOC_PAYMENTS_HOURLY: Table = table("byoc_payments_hourly", Writer::Seal, "window_start");
pub const JOBS_HOURLY: Table = table("jobs_hourly", Writer::Seal, "window_start");
pub const SLA_HOURLY: Table = table("sla_hourly", Writer::Seal, "window_start");
pub const BACKTESTS: Table = table("backtests", Writer::Command, "run_at");

/// Every lake table.
pub const ALL: [Table; 37] = [
    NODE_TELEMETRY,
    GPU_SAMPLE,
    HOST_SAMPLE,
    PROBE_RESULT,
    METRIC_SAMPLE,
    CUSTOM_EVENT,
    QUARANTINE,
    STREAM_GAPS,
    TELEMETRY_1M,
    SCORES,
    GATEWAY_EVENTS,
    CAPABILITY_SNAPSHOTS,
    DISCOVERY_RESULTS,
    PAYMENT_EVENTS,
    AI_BATCH_EVENTS,
    LLM_EVENTS,
    BYOC_JOB_EVENTS,
    BYOC_AUTH_EVENTS,
    BYOC_PAYMENT_EVENTS,
    WORKER_EVENTS,
    SESSIONS,
    ORCHESTRATOR_HOURLY,
    SLA_INPUTS_HOURLY,
    GPU_INVENTORY,
    DISCOVERY_LATENCY,
    PAYMENTS,
    AI_REQUESTS,
    LLM_REQUESTS,
    BYOC_ATTEMPTS,
    BYOC_JOBS,
    BYOC_WORKERS,
    REQUESTS_HOURLY,
    BYOC_AUTH_HOURLY,
    BYOC_PAYMENTS_HOURLY,
    SLA_HOURLY,
    JOBS_HOURLY,
    BACKTESTS,
];

/// The table called `name`, if naap writes one.
pub fn by_name(name: &str) -> Option<Table> {
    ALL.into_iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for t in ALL {
            assert_eq!(ALL.iter().filter(|o| o.name == t.name).count(), 1, "{}", t.name);
            assert_eq!(by_name(t.name), Some(t));
        }
        assert_eq!(by_name("nope"), None);
    }
}
