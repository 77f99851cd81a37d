//! One row struct per job table: its fields are the table's columns after
//! the [`Head`], in schema order.

use serde::Serialize;

use super::{Head, address, head, url, wei};
use crate::jobs::{AiBatch, JobAuth, JobGateway, JobOrchestrator, JobPayment, Llm, WorkerChange, WorkerLifecycle};
use crate::livepeer::Envelope;

#[derive(Debug, Serialize)]
pub(super) struct AiBatchRow {
    #[serde(flatten)]
    head: Head,
    signal_time: i64,
    request_id: String,
    pipeline: String,
    model_id: String,
    orchestrator_filter: Option<String>,
    success: Option<bool>,
    tries: Option<i64>,
    duration_ms: Option<i64>,
    orchestrator_url: Option<String>,
    latency_score: Option<f64>,
    price_per_unit: Option<f64>,
    error_type: Option<String>,
    error: Option<String>,
}

impl AiBatchRow {
    pub(super) fn new(e: &Envelope, a: &AiBatch) -> Self {
        match a {
            AiBatch::Received(r) => AiBatchRow {
                head: head(e, a.subtype()),
                signal_time: r.timestamp,
                request_id: r.request_id.clone(),
                pipeline: r.pipeline.clone(),
                model_id: r.model_id.clone(),
                orchestrator_filter: r.orchestrator.clone(),
                success: None,
                tries: None,
                duration_ms: None,
                orchestrator_url: None,
                latency_score: None,
                price_per_unit: None,
                error_type: None,
                error: None,
            },
            AiBatch::Completed(c) => AiBatchRow {
                head: head(e, a.subtype()),
                signal_time: c.timestamp,
                request_id: c.request_id.clone(),
                pipeline: c.pipeline.clone(),
                model_id: c.model_id.clone(),
                orchestrator_filter: None,
                success: Some(c.success),
                tries: Some(c.tries),
                duration_ms: Some(c.duration_ms),
                orchestrator_url: c.orch_url.clone(),
                latency_score: c.latency_score,
                price_per_unit: c.price_per_unit,
                error_type: c.error_type.clone(),
                error: c.error.clone(),
            },
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub(super) struct LlmRow {
    #[serde(flatten)]
    head: Head,
    signal_time: i64,
    request_id: String,
    model: Option<String>,
    orchestrator_url: Option<String>,
    price_per_unit: Option<f64>,
    streaming: bool,
    max_tokens: Option<i64>,
    message_count: Option<i64>,
    system_prompt: Option<bool>,
    temperature: Option<f64>,
    completion_id: Option<String>,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    total_tokens: Option<i64>,
    token_utilization: Option<f64>,
    finish_reason: Option<String>,
    total_duration_ms: Option<i64>,
    tokens_per_second: Option<f64>,
    latency_score: Option<f64>,
    ttft_ms: Option<i64>,
    error: Option<String>,
}

impl LlmRow {
    pub(super) fn new(e: &Envelope, l: &Llm) -> Self {
        match l {
            Llm::Started(s) => LlmRow {
                head: head(e, l.subtype()),
                signal_time: s.timestamp,
                request_id: s.request_id.clone(),
                model: Some(s.model.clone()).filter(|m| !m.is_empty()),
                orchestrator_url: s.orch_url.clone(),
                price_per_unit: s.price_per_unit,
                streaming: s.streaming,
                max_tokens: s.max_tokens,
                message_count: s.message_count,
                system_prompt: s.system_prompt,
                temperature: s.temperature,
                ..LlmRow::default()
            },
            Llm::Completed(c) => LlmRow {
                head: head(e, l.subtype()),
                signal_time: c.timestamp,
                request_id: c.request_id.clone(),
                model: c.model.clone(),
                orchestrator_url: c.orch_url.clone(),
                price_per_unit: c.price_per_unit,
                streaming: c.streaming,
                max_tokens: c.max_tokens_requested,
                completion_id: c.completion_id.clone(),
                prompt_tokens: Some(c.prompt_tokens),
                completion_tokens: Some(c.completion_tokens),
                total_tokens: Some(c.total_tokens),
                token_utilization: c.token_utilization,
                finish_reason: c.finish_reason.clone(),
                total_duration_ms: Some(c.total_duration_ms),
                tokens_per_second: c.tokens_per_second,
                latency_score: c.latency_score,
                ttft_ms: c.ttft_ms,
                error: c.error.clone(),
                ..LlmRow::default()
            },
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub(super) struct JobRow {
    #[serde(flatten)]
    head: Head,
    family: &'static str,
    capability: String,
    request_id: Option<String>,
    orchestrator_address: Option<String>,
    orchestrator_url: Option<String>,
    attempt_index: Option<i64>,
    success: Option<bool>,
    http_status: Option<i64>,
    duration_ms: Option<i64>,
    completed_at: Option<i64>,
    streaming: Option<bool>,
    error: Option<String>,
    latency_ms: Option<i64>,
    available_capacity: Option<i64>,
    selected: Option<i64>,
    worker_url: Option<String>,
    sender_address: Option<String>,
    has_payment: Option<bool>,
    retryable: Option<bool>,
    timeout_ms: Option<i64>,
    price_per_unit: Option<i64>,
    pixels_per_unit: Option<i64>,
    reason: Option<String>,
    options_filter: Option<String>,
}

fn blank(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

impl JobRow {
    pub(super) fn gateway(e: &Envelope, g: &JobGateway) -> Self {
        let family = "job_gateway";
        match g {
            JobGateway::TokenFetch(t) => JobRow {
                head: head(e, g.subtype()),
                family,
                capability: t.capability.clone(),
                orchestrator_address: t.orchestrator_info.as_ref().and_then(address),
                orchestrator_url: t
                    .orchestrator_info
                    .as_ref()
                    .and_then(url)
                    .or_else(|| blank(&t.orch_url)),
                success: Some(t.success),
                http_status: t.http_status,
                error: t.error.clone(),
                latency_ms: t.latency_ms,
                available_capacity: t.available_capacity,
                ..JobRow::default()
            },
            JobGateway::Discovery(d) => JobRow {
                head: head(e, g.subtype()),
                family,
                capability: d.capability.clone(),
                success: Some(d.success),
                error: d.error.clone(),
                selected: Some(d.selected),
                ..JobRow::default()
            },
            JobGateway::Submitted(a) | JobGateway::Completed(a) => JobRow {
                head: head(e, g.subtype()),
                family,
                capability: a.capability.clone(),
                request_id: a.request_id.clone(),
                orchestrator_address: address(&a.orchestrator_info),
                orchestrator_url: url(&a.orchestrator_info),
                attempt_index: a.attempt_index,
                success: a.success,
                http_status: a.http_status,
                duration_ms: a.duration_ms,
                completed_at: a.completed_at.map(|t| t as i64),
                streaming: a.success.map(|_| a.streaming),
                error: a.error.clone(),
                ..JobRow::default()
            },
        }
    }

    pub(super) fn orchestrator(e: &Envelope, o: &JobOrchestrator) -> Self {
        let family = "job_orchestrator";
        match o {
            JobOrchestrator::Received(r) => JobRow {
                head: head(e, o.subtype()),
                family,
                capability: r.capability.clone(),
                request_id: r.request_id.clone(),
                orchestrator_address: address(&r.orchestrator_info),
                orchestrator_url: url(&r.orchestrator_info),
                worker_url: blank(&r.worker_url),
                sender_address: blank(&r.sender_address.to_ascii_lowercase()),
                has_payment: Some(r.has_payment),
                timeout_ms: r.timeout_ms,
                price_per_unit: r.price_per_unit,
                pixels_per_unit: r.pixels_per_unit,
                ..JobRow::default()
            },
            JobOrchestrator::WorkerResult(w) => JobRow {
                head: head(e, o.subtype()),
                family,
                capability: w.capability.clone(),
                request_id: w.request_id.clone(),
                orchestrator_address: address(&w.orchestrator_info),
                orchestrator_url: url(&w.orchestrator_info),
                success: Some(w.success),
                http_status: Some(w.http_status),
                duration_ms: w.duration_ms,
                completed_at: w.completed_at.map(|t| t as i64),
                error: w.error.clone(),
                worker_url: blank(&w.worker_url),
                retryable: Some(w.retryable),
                ..JobRow::default()
            },
            JobOrchestrator::CapacityRejected(c) => JobRow {
                head: head(e, o.subtype()),
                family,
                capability: c.capability.clone(),
                orchestrator_address: address(&c.orchestrator_info),
                orchestrator_url: url(&c.orchestrator_info),
                success: Some(false),
                http_status: Some(503),
                reason: blank(&c.reason),
                options_filter: c.options_filter.as_ref().and_then(|f| serde_json::to_string(f).ok()),
                ..JobRow::default()
            },
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub(super) struct AuthRow {
    #[serde(flatten)]
    head: Head,
    capability: Option<String>,
    success: bool,
    error: Option<String>,
    sender: Option<String>,
    orchestrator_address: Option<String>,
    orchestrator_url: Option<String>,
    worker_url: Option<String>,
    stream_id: Option<String>,
    stream_name: Option<String>,
    pipeline: Option<String>,
    pipeline_id: Option<String>,
}

impl AuthRow {
    pub(super) fn new(e: &Envelope, a: &JobAuth) -> Self {
        match a {
            JobAuth::CredentialVerify(v) => AuthRow {
                head: head(e, a.subtype()),
                capability: v.capability.clone(),
                success: v.success,
                error: v.error.clone(),
                sender: blank(&v.sender.to_ascii_lowercase()),
                orchestrator_address: address(&v.orchestrator_info),
                orchestrator_url: url(&v.orchestrator_info),
                worker_url: v.worker_url.clone(),
                ..AuthRow::default()
            },
            JobAuth::Webhook(w) => AuthRow {
                head: head(e, a.subtype()),
                // A BYOC stream's pipeline is its capability.
                capability: blank(&w.pipeline),
                success: w.success,
                error: w.error.clone(),
                stream_id: blank(&w.stream_id),
                stream_name: blank(&w.stream_name),
                pipeline: blank(&w.pipeline),
                pipeline_id: w.pipeline_id.clone(),
                ..AuthRow::default()
            },
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct PaymentRow {
    #[serde(flatten)]
    head: Head,
    request_id: Option<String>,
    capability: Option<String>,
    sender: Option<String>,
    orchestrator_address: Option<String>,
    orchestrator_url: Option<String>,
    balance_wei: Option<String>,
    diff_wei: Option<String>,
    min_balance_wei: Option<String>,
    reset_to_zero: Option<bool>,
    with_tickets: Option<bool>,
    elapsed_seconds: Option<i64>,
    price_per_unit: Option<i64>,
    total_charged_wei: Option<i64>,
    balance_after_wei: Option<i64>,
    on_error: Option<bool>,
    stream_id: Option<String>,
    success: Option<bool>,
    error: Option<String>,
}

impl PaymentRow {
    pub(super) fn new(e: &Envelope, p: &JobPayment) -> Self {
        PaymentRow {
            head: head(e, p.subtype_name()),
            request_id: p.request_id.clone(),
            capability: p.capability.clone(),
            sender: p.sender.as_deref().map(str::to_ascii_lowercase),
            orchestrator_address: address(&p.orchestrator_info),
            orchestrator_url: url(&p.orchestrator_info),
            balance_wei: wei(p.balance_milli_wei),
            diff_wei: wei(p.diff_milli_wei),
            min_balance_wei: wei(p.min_balance_milli_wei),
            reset_to_zero: p.reset_to_zero,
            with_tickets: p.with_tickets,
            elapsed_seconds: p.elapsed_seconds,
            price_per_unit: p.price_per_unit,
            total_charged_wei: p.total_charged_wei,
            balance_after_wei: p.balance_after_wei,
            on_error: p.on_error,
            stream_id: p.stream_id.clone(),
            success: p.success,
            error: p.error.clone(),
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub(super) struct WorkerRow {
    #[serde(flatten)]
    head: Head,
    worker_event_id: String,
    capability: String,
    orchestrator_address: Option<String>,
    orchestrator_url: Option<String>,
    worker_url: Option<String>,
    price_per_unit: Option<i64>,
    price_scaling: Option<i64>,
    models: Option<Vec<String>>,
    options_count: Option<i64>,
    reason: Option<String>,
}

impl WorkerRow {
    pub(super) fn new(e: &Envelope, w: &WorkerLifecycle) -> Self {
        let base = WorkerRow {
            head: head(e, w.subtype()),
            worker_event_id: w.event_id.clone(),
            capability: w.capability.clone(),
            orchestrator_address: address(&w.orchestrator_info),
            orchestrator_url: url(&w.orchestrator_info),
            ..WorkerRow::default()
        };
        match &w.change {
            WorkerChange::Registered {
                worker_url,
                price_per_unit,
                price_scaling,
                models,
                options_count,
            } => WorkerRow {
                worker_url: blank(worker_url),
                price_per_unit: Some(*price_per_unit),
                price_scaling: Some(*price_scaling),
                models: Some(models.clone()),
                options_count: Some(*options_count),
                ..base
            },
            WorkerChange::Unregistered { worker_url, reason } => WorkerRow {
                worker_url: worker_url.clone(),
                reason: blank(reason),
                ..base
            },
            WorkerChange::CapacityExhausted => base,
        }
    }
}
