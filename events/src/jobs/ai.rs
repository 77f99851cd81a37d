//! `ai_batch_request` and `ai_llm_request`: one request to a fixed
//! ("builtin") AI pipeline as the gateway saw it, and the token-level side
//! of the `llm` ones. Both are published by the gateway itself, so
//! `data.type` is always there (see `events-2026.md`).

use serde::Deserialize;
use serde_json::Value;

use super::{Subtype, blank_as_none, decode_subtype};
use crate::livepeer::LivepeerError;

/// `ai_batch_request_received`: the pipeline and model are known.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AiBatchReceived {
    /// Event time, Unix ms.
    pub timestamp: i64,
    pub request_id: String,
    pub pipeline: String,
    pub model_id: String,
    /// The client's `?orchestrator=` filter; `None` when it gave none.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub orchestrator: Option<String>,
}

/// `ai_batch_request_completed`: fired on every exit of the request. For a
/// streaming LLM request it fires when the stream *starts*: `success` then
/// means "the stream started", and `duration_ms` runs to the first headers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AiBatchCompleted {
    pub timestamp: i64,
    pub request_id: String,
    pub pipeline: String,
    pub model_id: String,
    pub success: bool,
    /// Selection-loop iterations.
    pub tries: i64,
    /// From the start of processing, selection included.
    pub duration_ms: i64,
    /// Service URI of the last session tried; `None` if none was.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub orch_url: Option<String>,
    /// That session's latest latency score (seconds per pixel·step, or per token).
    #[serde(default)]
    pub latency_score: Option<f64>,
    /// Wei per unit (pixel, token, audio ms); 0 when no session.
    #[serde(default)]
    pub price_per_unit: Option<f64>,
    /// `bad_request`, `timeout`, `no_orchestrators`, `worker_error`; `None` on success.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub error_type: Option<String>,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub error: Option<String>,
}

/// One `ai_batch_request` event.
#[derive(Debug, Clone, PartialEq)]
pub enum AiBatch {
    Received(AiBatchReceived),
    Completed(AiBatchCompleted),
}

/// `llm_request_started`: after selection and payment, just before the
/// call to the orchestrator; TTFT and the total duration count from here.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LlmStarted {
    pub timestamp: i64,
    pub request_id: String,
    /// The requested model.
    #[serde(default)]
    pub model: String,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub orch_url: Option<String>,
    #[serde(default)]
    pub price_per_unit: Option<f64>,
    /// Whether the client asked for server-sent events.
    pub streaming: bool,
    #[serde(default)]
    pub max_tokens: Option<i64>,
    #[serde(default)]
    pub message_count: Option<i64>,
    #[serde(default)]
    pub system_prompt: Option<bool>,
    #[serde(default)]
    pub temperature: Option<f64>,
}

/// `llm_stream_completed` or `llm_request_completed`: the response, or the
/// stream, ended (normally or broken).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LlmCompleted {
    /// From the subtype: a stream (`llm_stream_completed`) or one response.
    #[serde(skip)]
    pub streaming: bool,
    pub timestamp: i64,
    pub request_id: String,
    /// The model the worker reported; `None` if no chunk arrived.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub model: Option<String>,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub orch_url: Option<String>,
    #[serde(default)]
    pub price_per_unit: Option<f64>,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub completion_id: Option<String>,
    #[serde(default)]
    pub prompt_tokens: i64,
    #[serde(default)]
    pub completion_tokens: i64,
    #[serde(default)]
    pub total_tokens: i64,
    #[serde(default)]
    pub max_tokens_requested: Option<i64>,
    /// `total_tokens / max_tokens`: prompt tokens included, so it can pass 1.
    #[serde(default)]
    pub token_utilization: Option<f64>,
    /// `stop`, `length`, …; `unknown` if missing, `error` for a broken stream.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub finish_reason: Option<String>,
    /// From the started event to the end of the response or stream.
    pub total_duration_ms: i64,
    /// As the gateway computed it: completion tokens over the whole
    /// duration, time to first token included; 0 without tokens.
    #[serde(default)]
    pub tokens_per_second: Option<f64>,
    #[serde(default)]
    pub latency_score: Option<f64>,
    /// Streams only: from the started event to the first parsed chunk.
    #[serde(default)]
    pub ttft_ms: Option<i64>,
    /// Streams only: the read error.
    #[serde(default, deserialize_with = "blank_as_none")]
    pub error: Option<String>,
}

/// One `ai_llm_request` event.
#[derive(Debug, Clone, PartialEq)]
pub enum Llm {
    Started(LlmStarted),
    Completed(LlmCompleted),
}

impl AiBatch {
    /// The subtype's name, as `data.type` spells it.
    pub fn subtype(&self) -> &'static str {
        match self {
            AiBatch::Received(_) => "ai_batch_request_received",
            AiBatch::Completed(_) => "ai_batch_request_completed",
        }
    }
}

impl Llm {
    /// The subtype's name, as `data.type` spells it.
    pub fn subtype(&self) -> &'static str {
        match self {
            Llm::Started(_) => "llm_request_started",
            Llm::Completed(c) if c.streaming => "llm_stream_completed",
            Llm::Completed(_) => "llm_request_completed",
        }
    }
}

pub(super) fn ai_batch(data: Value) -> Result<AiBatch, LivepeerError> {
    const FAMILY: &str = "ai_batch_request";
    match Subtype::of(FAMILY, &data)?.as_str() {
        "ai_batch_request_received" => Ok(AiBatch::Received(decode_subtype(FAMILY, data)?)),
        "ai_batch_request_completed" => Ok(AiBatch::Completed(decode_subtype(FAMILY, data)?)),
        other => Err(LivepeerError::UnknownSubtype {
            subtype: format!("{FAMILY}/{other}"),
        }),
    }
}

pub(super) fn llm(data: Value) -> Result<Llm, LivepeerError> {
    const FAMILY: &str = "ai_llm_request";
    match Subtype::of(FAMILY, &data)?.as_str() {
        "llm_request_started" => Ok(Llm::Started(decode_subtype(FAMILY, data)?)),
        "llm_stream_completed" => Ok(Llm::Completed(LlmCompleted {
            streaming: true,
            ..decode_subtype(FAMILY, data)?
        })),
        "llm_request_completed" => Ok(Llm::Completed(LlmCompleted {
            streaming: false,
            ..decode_subtype(FAMILY, data)?
        })),
        other => Err(LivepeerError::UnknownSubtype {
            subtype: format!("{FAMILY}/{other}"),
        }),
    }
}
