//! BYOC ("bring your own container") jobs: the job as the gateway saw it
//! (`job_gateway`), as the orchestrator saw it (`job_orchestrator`,
//! relayed) and its authentication (`job_auth`). Payment is in
//! [`super::payment`], the runner inventory in [`super::workers`].
//!
//! Relayed and drained events carry no `data.type`: `Subtype::of_relayed`
//! infers it from the keys, as `events-2026.md` proposes.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{Subtype, blank_as_none, decode_subtype};
use crate::livepeer::{LivepeerError, OrchestratorInfo};

/// `job_orchestrator_token_fetch_result`: one orchestrator's answer to
/// `GET /process/token` during discovery.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TokenFetch {
    pub capability: String,
    #[serde(default)]
    pub orch_url: String,
    pub success: bool,
    #[serde(default)]
    pub latency_ms: Option<i64>,
    /// Free runner slots matching the job's filter (on success).
    #[serde(default)]
    pub available_capacity: Option<i64>,
    /// On a non-200 answer.
    #[serde(default)]
    pub http_status: Option<i64>,
    #[serde(default)]
    pub orchestrator_info: Option<OrchestratorInfo>,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub error: Option<String>,
}

/// `job_orchestrator_discovery_result`: how many orchestrators were kept.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Discovery {
    pub capability: String,
    pub success: bool,
    #[serde(default)]
    pub selected: i64,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub error: Option<String>,
}

/// `job_gateway_submitted` (without the outcome fields) and
/// `job_gateway_completed`: one attempt of a job on one orchestrator.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Attempt {
    pub capability: String,
    #[serde(default)]
    pub orchestrator_info: OrchestratorInfo,
    /// The client's job id; often empty.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub request_id: Option<String>,
    /// 0-based position in the selected list (newer gateways only).
    #[serde(default)]
    pub attempt_index: Option<i64>,
    /// Completed only: the gateway got a 2xx and finished relaying.
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default)]
    pub duration_ms: Option<i64>,
    #[serde(default)]
    pub http_status: Option<i64>,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub error: Option<String>,
    /// Unix ms (newer gateways only).
    #[serde(default, deserialize_with = "super::optional_time")]
    pub completed_at: Option<f64>,
    /// A server-sent-events response, completed when the stream ended.
    #[serde(default)]
    pub streaming: bool,
}

/// One `job_gateway` event.
#[derive(Debug, Clone, PartialEq)]
pub enum JobGateway {
    TokenFetch(TokenFetch),
    Discovery(Discovery),
    Submitted(Attempt),
    Completed(Attempt),
}

/// `job_orchestrator_received`: signature, payment and capacity checks
/// passed and a runner was reserved.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OrchestratorReceived {
    pub capability: String,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub request_id: Option<String>,
    /// The gateway's Ethereum address.
    #[serde(default)]
    pub sender_address: String,
    #[serde(default)]
    pub worker_url: String,
    #[serde(default)]
    pub timeout_ms: Option<i64>,
    #[serde(default)]
    pub price_per_unit: Option<i64>,
    #[serde(default)]
    pub pixels_per_unit: Option<i64>,
    pub has_payment: bool,
    #[serde(default)]
    pub orchestrator_info: OrchestratorInfo,
}

/// `job_orchestrator_worker_result`: the runner's HTTP outcome.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WorkerResult {
    pub capability: String,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub request_id: Option<String>,
    #[serde(default)]
    pub worker_url: String,
    /// 0 on a transport error.
    #[serde(default)]
    pub http_status: i64,
    pub success: bool,
    pub retryable: bool,
    #[serde(default)]
    pub charged_compute: Option<bool>,
    /// Runner time.
    #[serde(default)]
    pub duration_ms: Option<i64>,
    #[serde(default, deserialize_with = "super::optional_time")]
    pub completed_at: Option<f64>,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub orchestrator_info: OrchestratorInfo,
}

/// `job_orchestrator_capacity_rejected`: no matching runner was free (503).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CapacityRejected {
    pub capability: String,
    #[serde(default)]
    pub options_filter: Option<BTreeMap<String, String>>,
    pub reason: String,
    #[serde(default)]
    pub orchestrator_info: OrchestratorInfo,
}

/// One `job_orchestrator` event (relayed: the subtype is inferred).
#[derive(Debug, Clone, PartialEq)]
pub enum JobOrchestrator {
    Received(OrchestratorReceived),
    WorkerResult(WorkerResult),
    CapacityRejected(CapacityRejected),
}

/// `job_credential_verify_result` (relayed): the orchestrator checked the
/// job's signature. Capability and runner are absent on failure.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CredentialVerify {
    #[serde(default)]
    pub sender: String,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub capability: Option<String>,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub worker_url: Option<String>,
    pub success: bool,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub orchestrator_info: OrchestratorInfo,
}

/// `job_auth_webhook_result`: the gateway's auth webhook for a BYOC live stream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AuthWebhook {
    #[serde(default)]
    pub stream_name: String,
    #[serde(default)]
    pub stream_id: String,
    #[serde(default)]
    pub pipeline: String,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub pipeline_id: Option<String>,
    #[serde(default)]
    pub gateway_host: String,
    pub success: bool,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub error: Option<String>,
}

/// One `job_auth` event.
#[derive(Debug, Clone, PartialEq)]
pub enum JobAuth {
    CredentialVerify(CredentialVerify),
    Webhook(AuthWebhook),
}

pub(super) fn job_gateway(data: Value) -> Result<JobGateway, LivepeerError> {
    const FAMILY: &str = "job_gateway";
    match Subtype::of(FAMILY, &data)?.as_str() {
        "job_orchestrator_token_fetch_result" => Ok(JobGateway::TokenFetch(decode_subtype(FAMILY, data)?)),
        "job_orchestrator_discovery_result" => Ok(JobGateway::Discovery(decode_subtype(FAMILY, data)?)),
        "job_gateway_submitted" => Ok(JobGateway::Submitted(decode_subtype(FAMILY, data)?)),
        "job_gateway_completed" => {
            let attempt: Attempt = decode_subtype(FAMILY, data)?;
            if attempt.success.is_none() {
                return Err(LivepeerError::MissingField {
                    family: FAMILY.into(),
                    detail: "success (job_gateway_completed)".into(),
                });
            }
            Ok(JobGateway::Completed(attempt))
        }
        other => Err(LivepeerError::UnknownSubtype {
            subtype: format!("{FAMILY}/{other}"),
        }),
    }
}

pub(super) fn job_orchestrator(data: Value) -> Result<JobOrchestrator, LivepeerError> {
    const FAMILY: &str = "job_orchestrator";
    let subtype = Subtype::of_relayed(
        FAMILY,
        &data,
        &[
            ("has_payment", "job_orchestrator_received"),
            ("retryable", "job_orchestrator_worker_result"),
            ("reason", "job_orchestrator_capacity_rejected"),
        ],
    )?;
    match subtype.as_str() {
        "job_orchestrator_received" => Ok(JobOrchestrator::Received(decode_subtype(FAMILY, data)?)),
        "job_orchestrator_worker_result" => Ok(JobOrchestrator::WorkerResult(decode_subtype(FAMILY, data)?)),
        "job_orchestrator_capacity_rejected" => Ok(JobOrchestrator::CapacityRejected(decode_subtype(FAMILY, data)?)),
        other => Err(LivepeerError::UnknownSubtype {
            subtype: format!("{FAMILY}/{other}"),
        }),
    }
}

pub(super) fn job_auth(data: Value) -> Result<JobAuth, LivepeerError> {
    const FAMILY: &str = "job_auth";
    // Every relayed `job_auth` event is a credential check.
    let subtype = match data.get("type") {
        None | Some(Value::Null) => "job_credential_verify_result".to_owned(),
        Some(_) => Subtype::of(FAMILY, &data)?,
    };
    match subtype.as_str() {
        "job_credential_verify_result" => Ok(JobAuth::CredentialVerify(decode_subtype(FAMILY, data)?)),
        "job_auth_webhook_result" => Ok(JobAuth::Webhook(decode_subtype(FAMILY, data)?)),
        other => Err(LivepeerError::UnknownSubtype {
            subtype: format!("{FAMILY}/{other}"),
        }),
    }
}

impl JobGateway {
    /// The subtype's name, as `data.type` spells it.
    pub fn subtype(&self) -> &'static str {
        match self {
            JobGateway::TokenFetch(_) => "job_orchestrator_token_fetch_result",
            JobGateway::Discovery(_) => "job_orchestrator_discovery_result",
            JobGateway::Submitted(_) => "job_gateway_submitted",
            JobGateway::Completed(_) => "job_gateway_completed",
        }
    }
}

impl JobOrchestrator {
    /// The subtype's name (inferred: relayed events carry none).
    pub fn subtype(&self) -> &'static str {
        match self {
            JobOrchestrator::Received(_) => "job_orchestrator_received",
            JobOrchestrator::WorkerResult(_) => "job_orchestrator_worker_result",
            JobOrchestrator::CapacityRejected(_) => "job_orchestrator_capacity_rejected",
        }
    }
}

impl JobAuth {
    /// The subtype's name (a credential check's inferred).
    pub fn subtype(&self) -> &'static str {
        match self {
            JobAuth::CredentialVerify(_) => "job_credential_verify_result",
            JobAuth::Webhook(_) => "job_auth_webhook_result",
        }
    }
}
