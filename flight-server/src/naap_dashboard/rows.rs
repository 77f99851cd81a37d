//! The answers of NaaP's `/v1/dashboard/*`, with NaaP's field names
//! (camelCase where NaaP writes it) and units: `successRate` and
//! `successRatio` are percentages, the other rates ratios 0..1, minutes
//! and fps as named.

use serde::Serialize;
use utoipa::ToSchema;

use crate::requests::{CapabilitySummary, Kpis, Summary};

/// A KPI and its change.
#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
pub struct Figure {
    pub value: f64,
    /// For rates, the second half of the window's hours less the first
    /// (points); for counts, their change in percent; for
    /// orchestratorsObserved, the change in percent over the window before.
    pub delta: f64,
}

/// One hour of a KPI's series.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HourValue {
    /// RFC 3339, UTC.
    pub hour: String,
    pub value: f64,
}

/// The live-video half of `/v1/dashboard/kpi`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamingKpi {
    /// Startup successes over requested sessions, percent.
    pub success_rate: Figure,
    /// Orchestrators that advertised live video in the window.
    pub orchestrators_observed: Figure,
    /// Session minutes over the window (NaaP's name; not per day).
    pub daily_usage_mins: Figure,
    /// Requested sessions over the window.
    pub daily_session_count: Figure,
    /// Always 0, as in NaaP (fees are not derived from gateway events).
    pub daily_network_fees_eth: Figure,
    pub timeframe_hours: i64,
    /// Requested sessions per hour with any, oldest first; absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hourly_sessions: Vec<HourValue>,
    /// Session minutes per hour; absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hourly_usage: Vec<HourValue>,
}

/// `/v1/dashboard/kpi`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardKpi {
    /// naap's: the window asked for (`custom` for start and end).
    pub window: String,
    /// naap's: RFC 3339.
    pub start: String,
    pub end: String,
    pub streaming: StreamingKpi,
    pub requests: Kpis,
}

/// A model's share of a live pipeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelUsage {
    /// "" when the sessions named none.
    pub model: String,
    pub mins: f64,
    pub sessions: i64,
    pub avg_fps: f64,
}

/// A live pipeline's usage.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineUsage {
    pub name: String,
    pub mins: f64,
    pub sessions: i64,
    pub avg_fps: f64,
    /// Busiest first.
    pub model_mins: Vec<ModelUsage>,
}

/// The `requests` part of `/v1/dashboard/pipelines`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestPipelines {
    pub by_pipeline: Vec<Summary>,
    pub by_capability: Vec<CapabilitySummary>,
}

/// `/v1/dashboard/pipelines`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DashboardPipelines {
    /// naap's: the window asked for.
    pub window: String,
    /// Live pipelines, most sessions first.
    pub streaming: Vec<PipelineUsage>,
    pub requests: RequestPipelines,
}

/// A pipeline and the models an orchestrator offers for it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineModels {
    pub pipeline_id: String,
    pub model_ids: Vec<String>,
}

/// A row of `/v1/dashboard/orchestrators`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardOrchestrator {
    pub address: String,
    /// From its newest capability snapshot; absent when none named one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service_uri: String,
    /// Requested live-video sessions in the window.
    pub known_sessions: i64,
    pub success_sessions: i64,
    /// effectiveSuccessRate in percent; 0 without sessions.
    pub success_ratio: f64,
    /// 0..1; null without sessions.
    pub effective_success_rate: Option<f64>,
    /// 0..1; null without sessions.
    pub no_swap_ratio: Option<f64>,
    /// The served SLA version's score, 0..100, in its newest scored hour of
    /// the window; null when none.
    pub sla_score: Option<f64>,
    /// That hour, RFC 3339; absent when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla_window_start: Option<String>,
    /// Pipelines it advertised in the 24 hours before the window's end, sorted.
    pub pipelines: Vec<String>,
    pub pipeline_models: Vec<PipelineModels>,
    /// Its GPUs advertised in those 24 hours.
    pub gpu_count: i64,
}

/// GPUs of one hardware model.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GpuModelCount {
    pub model: String,
    pub count: i64,
}

/// GPUs serving one model of a pipeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelGpus {
    pub model: String,
    pub gpus: i64,
}

/// GPUs serving one pipeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PipelineGpus {
    pub name: String,
    pub gpus: i64,
    pub models: Vec<ModelGpus>,
}

/// `/v1/dashboard/gpu-capacity`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[allow(non_snake_case)]
pub struct GpuCapacity {
    /// GPUs advertised in the last 24 hours, each (orchestrator, GPU id) once.
    pub totalGPUs: i64,
    /// GPUs estimated busy with an open live-video session seen in the
    /// last 30 minutes: per (orchestrator, pipeline, model), the fewer of
    /// its open sessions and its GPUs.
    pub activeGPUs: i64,
    /// totalGPUs − activeGPUs, never below 0.
    pub availableCapacity: i64,
    /// By hardware name ("Unknown" when the snapshot named none), most first.
    pub models: Vec<GpuModelCount>,
    pub pipelineGPUs: Vec<PipelineGpus>,
}

/// A row of `/v1/dashboard/pipeline-catalog`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CatalogEntry {
    pub id: String,
    pub name: String,
    /// Sorted.
    pub models: Vec<String>,
    /// Always empty, as in NaaP.
    pub regions: Vec<String>,
}

/// A row of `/v1/dashboard/pricing`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceRow {
    pub orch_address: String,
    /// The host of its service URI; absent when unknown.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub orch_name: String,
    pub pipeline: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// As advertised: wei per `pixelsPerUnit` units.
    pub price_wei_per_unit: i64,
    pub pixels_per_unit: i64,
    /// Whether the model was warm in any of its snapshots of the 24 hours.
    pub is_warm: bool,
}

/// A row of `/v1/dashboard/job-feed`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedRow {
    /// The newest status event's id (the session's id without one).
    pub id: String,
    pub pipeline: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub model: String,
    pub gateway: String,
    /// "" when not attributed.
    pub orchestrator_address: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub orchestrator_url: String,
    /// The newest status event's state, "" without one.
    pub state: String,
    pub input_fps: f64,
    pub output_fps: f64,
    /// RFC 3339, to the second.
    pub first_seen: String,
    pub last_seen: String,
    /// From first seen to the time asked about, seconds.
    pub duration_seconds: f64,
}
