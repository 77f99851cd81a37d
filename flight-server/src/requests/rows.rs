//! The bodies of the request analytics API (see [`crate::requests`]): each
//! row type's fields are its serving statement's columns, named as NaaP's
//! API names them. A figure without evidence is null, never 0, except
//! where NaaP's schema has no null: there it is 0, "" or false, as NaaP
//! answers (naap's own fields stay null).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The two kinds of non-live work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    AiBatch,
    Byoc,
}

impl Family {
    /// As `requests_hourly.family` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Family::AiBatch => "ai-batch",
            Family::Byoc => "byoc",
        }
    }
}

/// What a summary row says of its jobs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Figures {
    pub total_jobs: i64,
    /// Jobs an orchestrator was tried for.
    pub selected_jobs: i64,
    /// Jobs no orchestrator was found for.
    pub no_orch_jobs: i64,
    /// Successes over total_jobs, 0 to 1. A BYOC job counts once across
    /// its attempts; a broken LLM stream is a success here (the request
    /// started) but not in the LLM summary.
    pub success_rate: f64,
    /// Mean over the jobs with a duration (every AI request; BYOC jobs
    /// that succeeded); 0 without any, as in NaaP.
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = f64)]
    pub avg_duration_ms: Option<f64>,
    /// Median duration, from the hourly DDSketches (1 % relative error).
    pub p50_duration_ms: Option<f64>,
    pub p95_duration_ms: Option<f64>,
}

/// An AI batch pipeline's requests (`/v1/requests/ai-batch/summary`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Summary {
    pub pipeline: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// A BYOC capability's jobs (`/v1/requests/byoc/summary`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CapabilitySummary {
    pub capability: String,
    #[serde(flatten)]
    pub figures: Figures,
}

impl From<Summary> for CapabilitySummary {
    fn from(s: Summary) -> Self {
        CapabilitySummary {
            capability: s.pipeline,
            figures: s.figures,
        }
    }
}

/// One requested model's LLM requests.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LlmSummary {
    pub model: String,
    pub total_requests: i64,
    /// Completed requests over all; a stream that broke is not one.
    pub success_rate: f64,
    /// Over requests that produced tokens.
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = f64)]
    pub avg_tokens_per_sec: Option<f64>,
    /// Over streams (time to the first token).
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = f64)]
    pub avg_ttft_ms: Option<f64>,
    /// Over requests that produced tokens.
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = f64)]
    pub avg_total_tokens: Option<f64>,
    pub streamed_requests: i64,
    pub p50_ttft_ms: Option<f64>,
    pub p95_ttft_ms: Option<f64>,
    pub p50_tokens_per_sec: Option<f64>,
}

/// A family's figures on the dashboard.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Kpi {
    pub total_jobs: i64,
    pub selected_jobs: i64,
    pub no_orch_jobs: i64,
    /// 0 without jobs, as in NaaP.
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = f64)]
    pub success_rate: Option<f64>,
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = f64)]
    pub avg_duration_ms: Option<f64>,
}

/// A field NaaP's schema does not let be null: 0, "" or false where
/// there is none (as NaaP answers), so typed clients read every row.
fn or_default<T: Default + Clone + Serialize, S: serde::Serializer>(
    value: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    value.clone().unwrap_or_default().serialize(s)
}

impl Kpi {
    pub(crate) fn none() -> Kpi {
        Kpi {
            total_jobs: 0,
            selected_jobs: 0,
            no_orch_jobs: 0,
            success_rate: None,
            avg_duration_ms: None,
        }
    }
}

/// A row of `requests_kpi`.
#[derive(Debug, Deserialize)]
pub(crate) struct KpiRow {
    pub family: String,
    #[serde(flatten)]
    pub kpi: Kpi,
}

/// The `requests` part of `/v1/dashboard/kpi`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Kpis {
    pub ai_batch: Kpi,
    pub byoc: Kpi,
}

/// One AI batch request (`/v1/requests/ai-batch/jobs`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AiJob {
    /// The gateway's own id (8 characters; unique per gateway).
    pub request_id: String,
    /// NaaP's Kafka-topic organisation: naap has none, always "".
    pub org: String,
    pub gateway: String,
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = String)]
    pub pipeline: Option<String>,
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = String)]
    pub model_id: Option<String>,
    /// RFC 3339; null when the received event was not seen.
    pub received_at: Option<String>,
    /// RFC 3339.
    pub completed_at: String,
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = bool)]
    pub success: Option<bool>,
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = i64)]
    pub tries: Option<i64>,
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = i64)]
    pub duration_ms: Option<i64>,
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = String)]
    pub orch_url: Option<String>,
    /// selected, no_orch or unknown.
    pub selection_outcome: String,
    /// The on-chain address, from the newest capability snapshot naming orch_url.
    pub orch_address: Option<String>,
    /// The GPU that snapshot lists for the pipeline and model.
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = String)]
    pub gpu_model_name: Option<String>,
    /// resolved (a snapshot names orch_url) or unresolved.
    pub attribution_status: String,
    pub error_type: Option<String>,
}

/// One BYOC job across its attempts (`/v1/requests/byoc/jobs`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ByocJob {
    /// The job's id: its discovery event's id (NaaP: a completed attempt's).
    pub request_id: String,
    /// NaaP's Kafka-topic organisation: naap has none, always "".
    pub org: String,
    pub gateway: String,
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = String)]
    pub capability: Option<String>,
    /// The model of the last orchestrator's runners for the capability,
    /// when they agree.
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = String)]
    pub model: Option<String>,
    pub price_per_unit: Option<i64>,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339: the last completion or attempt; the start when none was tried.
    pub completed_at: String,
    pub success: bool,
    /// ok, transport_error, auth_failed, insufficient_balance, no_capacity,
    /// worker_error, no_answer or no_orchestrators.
    pub outcome: String,
    pub attempts: i64,
    /// Of the attempt that succeeded.
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = i64)]
    pub duration_ms: Option<i64>,
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = i64)]
    pub http_status: Option<i64>,
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = String)]
    pub orch_address: Option<String>,
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = String)]
    pub orch_url: Option<String>,
    /// The runner that served it: the gateway's events do not name it, so
    /// always "" (NaaP's field, never null).
    pub worker_url: String,
    /// selected or no_orch.
    pub selection_outcome: String,
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = String)]
    pub gpu_model_name: Option<String>,
    pub attribution_status: String,
    pub streaming: bool,
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = String)]
    pub error: Option<String>,
}

/// A capability's runners (`/v1/requests/byoc/workers`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkerSummary {
    pub capability: String,
    /// Runners attached at some time in the window, each once.
    pub worker_count: i64,
    pub models: Vec<String>,
    /// Mean over those runners of their price numerator (wei).
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = f64)]
    pub avg_price_per_unit: Option<f64>,
    /// States at the window's end.
    pub active_workers: i64,
    pub saturated_workers: i64,
    pub gone_workers: i64,
    pub orchestrators: i64,
}

/// A capability's authentication (`/v1/requests/byoc/auth`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuthSummary {
    pub capability: String,
    /// Credential checks and stream auth webhooks.
    pub total_events: i64,
    pub success_rate: f64,
    pub failure_count: i64,
    pub webhook_events: i64,
}

/// A (pipeline, model) offered or asked for (`/v1/requests/models`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelOffer {
    pub pipeline: String,
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = String)]
    pub model: Option<String>,
    /// ai-batch or byoc.
    pub job_type: String,
    pub warm_orch_count: i64,
    /// GPUs advertised for it; 0 for BYOC (runners do not report GPUs).
    pub gpu_slots: i64,
    /// Jobs in the window (24 h unless start/end say otherwise).
    pub job_count_24h: i64,
    /// Three decimals; 0 without jobs (NaaP's schema has no null).
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = f64)]
    pub success_rate: Option<f64>,
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = f64)]
    pub avg_duration_ms: Option<f64>,
}

/// An orchestrator with offers (`/v1/requests/orchestrators`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrchestratorOffer {
    pub address: String,
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = String)]
    pub uri: Option<String>,
    /// "pipeline:model" pairs.
    pub capabilities: Vec<String>,
    pub gpu_count: i64,
    /// RFC 3339.
    #[serde(serialize_with = "or_default")]
    #[schema(value_type = String)]
    pub last_seen: Option<String>,
}

/// One orchestrator's work of one family (`/v1/requests/by-orchestrator`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrchestratorWork {
    /// The on-chain address (BYOC) or service URL (AI batch).
    pub orchestrator: String,
    /// ai-batch or byoc.
    pub family: String,
    /// Jobs tried there.
    pub total_jobs: i64,
    pub success_rate: Option<f64>,
    pub p50_duration_ms: Option<f64>,
    pub p95_duration_ms: Option<f64>,
    pub p50_ttft_ms: Option<f64>,
    pub p95_ttft_ms: Option<f64>,
    pub p50_tokens_per_sec: Option<f64>,
}
