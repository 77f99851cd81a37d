//! The rows of NaaP's `/v1/streaming/*` answers, and the cells of the
//! statements they are read from. Field names, types and units are NaaP's:
//! rates are ratios 0..1, `sla_score` is 0..100, and where NaaP's schema
//! has no null a figure without evidence is 0 (NaaP does the same).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `streaming_demand`: one (hour, gateway, pipeline, model).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DemandCells {
    pub(crate) window_ms: i64,
    pub(crate) gateway: String,
    pub(crate) pipeline_id: String,
    pub(crate) model_id: String,
    #[serde(default)]
    pub(crate) started_sessions: i64,
    #[serde(default)]
    pub(crate) requested_sessions: i64,
    #[serde(default)]
    pub(crate) startup_success_sessions: i64,
    #[serde(default)]
    pub(crate) effective_failed_sessions: i64,
    #[serde(default)]
    pub(crate) no_orch_sessions: i64,
    #[serde(default)]
    pub(crate) total_minutes: f64,
    #[serde(default)]
    pub(crate) output_fps_sum: f64,
    #[serde(default)]
    pub(crate) status_samples: i64,
}

/// `streaming_hours`: one (hour, orchestrator, pipeline, model, GPU).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct HourCells {
    pub(crate) window_ms: i64,
    pub(crate) orchestrator_address: String,
    pub(crate) pipeline_id: String,
    pub(crate) model_id: String,
    pub(crate) gpu_id: String,
    pub(crate) gpu_model_name: String,
    #[serde(default)]
    pub(crate) requested_sessions: i64,
    #[serde(default)]
    pub(crate) startup_success_sessions: i64,
    #[serde(default)]
    pub(crate) effective_failed_sessions: i64,
    #[serde(default)]
    pub(crate) swapped_sessions: i64,
    #[serde(default)]
    pub(crate) output_fps_sum: f64,
    #[serde(default)]
    pub(crate) status_samples: i64,
    #[serde(default)]
    pub(crate) e2e_latency_sum_ms: f64,
    #[serde(default)]
    pub(crate) e2e_latency_count: i64,
    pub(crate) sla_score: Option<f64>,
}

impl HourCells {
    pub(crate) fn keys(&self) -> [&str; 4] {
        [
            &self.orchestrator_address,
            &self.pipeline_id,
            &self.model_id,
            &self.gpu_id,
        ]
    }
}

/// `streaming_offers`: one (orchestrator, pipeline, model, GPU) advertised.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct OfferCells {
    pub(crate) address: String,
    pub(crate) uri: String,
    pub(crate) pipeline: String,
    pub(crate) model_id: String,
    pub(crate) gpu_id: String,
    #[serde(default)]
    pub(crate) gpu_name: String,
    pub(crate) last_seen_ms: i64,
}

/// `streaming_active`: one open session.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ActiveCells {
    pub(crate) id: String,
    pub(crate) pipeline: String,
    pub(crate) model: String,
    pub(crate) gateway: String,
    pub(crate) orchestrator_address: String,
    pub(crate) orchestrator_url: String,
    pub(crate) state: String,
    #[serde(default)]
    pub(crate) output_fps: f64,
    pub(crate) status_event: Option<String>,
    pub(crate) first_seen_ms: i64,
    pub(crate) last_seen_ms: i64,
}

/// `streaming_orchestrators`: one orchestrator's service over a window.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ServiceCells {
    pub(crate) address: String,
    #[serde(default)]
    pub(crate) known_sessions: i64,
    #[serde(default)]
    pub(crate) success_sessions: i64,
    pub(crate) effective_success_rate: Option<f64>,
    pub(crate) no_swap_ratio: Option<f64>,
    pub(crate) sla_score: Option<f64>,
    pub(crate) sla_window_ms: Option<i64>,
}

/// An hour of one orchestrator's live-video service on one pipeline,
/// model and GPU (`/v1/streaming/sla`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SlaRow {
    /// The UTC hour, RFC 3339.
    pub window_start: String,
    /// NaaP's tenant; always "" here (one network).
    pub org: String,
    /// "" when no orchestrator could be attributed.
    pub orchestrator_address: String,
    pub pipeline_id: String,
    pub model_id: String,
    /// The GPU the orchestrator advertised for this model in the hour when
    /// it advertised exactly one; "" otherwise.
    pub gpu_id: String,
    pub requested_sessions: i64,
    pub startup_success_sessions: i64,
    /// 1 − effective failures / requested sessions; 0 without any.
    pub effective_success_rate: f64,
    /// 1 − swapped / requested sessions; 0 without any.
    pub no_swap_rate: f64,
    /// Frames per second over the hour's status samples; 0 without any.
    pub avg_output_fps: f64,
    /// The served SLA version's score, 0..100; 0 without requested sessions.
    pub sla_score: f64,
}

/// An hour of one gateway's live-video demand (`/v1/streaming/demand`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DemandRow {
    /// The UTC hour the sessions started in, RFC 3339.
    pub window_start: String,
    /// Always "".
    pub org: String,
    pub gateway: String,
    pub pipeline_id: String,
    pub model_id: String,
    pub requested_sessions: i64,
    pub startup_success_sessions: i64,
    /// 1 − effective failures / requested sessions; 0 without any.
    pub effective_success_rate: f64,
    /// Minutes from each session's start to its last event.
    pub total_minutes: f64,
    pub no_orch_sessions: i64,
}

/// An hour of live video on one GPU (`/v1/streaming/gpu-metrics`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GpuMetricsRow {
    pub window_start: String,
    /// Always "".
    pub org: String,
    pub orchestrator_address: String,
    pub pipeline_id: String,
    pub model_id: String,
    pub gpu_id: String,
    /// As the capability snapshot names it; "" when unknown.
    pub gpu_model_name: String,
    /// Requested sessions that reported status in the hour.
    pub known_sessions_count: i64,
    pub startup_success_sessions: i64,
    pub avg_output_fps: f64,
    /// Mean end-to-end latency, ms; 0 without a measurement.
    pub avg_e2e_latency_ms: f64,
    /// Swapped / known sessions, 0..1.
    pub swap_rate: f64,
}

/// A live-video model on the network (`/v1/streaming/models`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StreamingModel {
    pub pipeline: String,
    pub model: String,
    /// Orchestrators that advertised the model in the last 24 hours.
    pub warm_orch_count: i64,
    /// Their GPUs, each (orchestrator, GPU id) once.
    pub gpu_slots: i64,
    /// Open sessions seen in the last 30 minutes.
    pub active_streams: i64,
    /// gpu_slots − active_streams; negative when oversubscribed.
    pub available_capacity: i64,
    /// Output fps over the last 24 hours' status samples, one decimal.
    pub avg_fps: f64,
}

/// An orchestrator offering live video (`/v1/streaming/orchestrators`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StreamingOrchestrator {
    pub address: String,
    /// Its service URI in its newest snapshot; "" when none named one.
    pub uri: String,
    /// Live-video models it advertised in the last 24 hours, sorted.
    pub models: Vec<String>,
    /// GPUs it advertised for any pipeline in the last 24 hours.
    pub gpu_count: i64,
    /// RFC 3339 with milliseconds.
    pub last_seen: String,
}
