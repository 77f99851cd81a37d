//! The 2026 gateway event families: AI batch and LLM requests ([`ai`]),
//! BYOC jobs and authentication ([`byoc`]), payment ([`payment`]), the
//! runner inventory ([`workers`]), and the remote signer's
//! `create_signed_ticket`. `../shared/livepeer/events-2026.md` documents
//! each field as the emitting gateways send it; this module turns `data` into typed values and refuses what does not
//! fit, with a reason for the quarantine table.
//!
//! The quirks handled here, once: `null` and `""` both mean "none" for
//! optional text (`blank_as_none`); relayed and drained events lose
//! `data.type`, so their subtype is inferred from the keys
//! (`Subtype::of_relayed`); wei amounts written as `"x.xxx"` strings are
//! read exactly, in thousandths of a wei (`milli_wei`).

pub mod ai;
pub mod byoc;
pub mod payment;
pub mod workers;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::livepeer::LivepeerError;

pub use ai::{AiBatch, AiBatchCompleted, AiBatchReceived, Llm, LlmCompleted, LlmStarted};
pub use byoc::{
    Attempt, AuthWebhook, CapacityRejected, CredentialVerify, Discovery, JobAuth, JobGateway, JobOrchestrator,
    OrchestratorReceived, TokenFetch, WorkerResult,
};
pub use payment::JobPayment;
pub use workers::{WorkerChange, WorkerLifecycle};

/// `create_signed_ticket`: a remote signer signed a payment for a request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SignedTicket {
    #[serde(default, deserialize_with = "blank_as_none")]
    pub request_id: Option<String>,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub session_id: Option<String>,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub pipeline: Option<String>,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub app: Option<String>,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub orch_address: Option<String>,
    #[serde(default, deserialize_with = "blank_as_none")]
    pub orch_url: Option<String>,
    /// When the signer signed, Unix ms.
    #[serde(default)]
    pub current_time_unix: Option<i64>,
    #[serde(default)]
    pub billable_secs: Option<f64>,
    #[serde(default)]
    pub pixels: Option<f64>,
    #[serde(default)]
    pub num_tickets: Option<i64>,
}

/// One event of the 2026 families.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    AiBatch(AiBatch),
    Llm(Llm),
    Gateway(JobGateway),
    Orchestrator(JobOrchestrator),
    Auth(JobAuth),
    Payment(JobPayment),
    Worker(WorkerLifecycle),
    SignedTicket(SignedTicket),
}

impl JobEvent {
    /// The subtype's name; relayed and drained events' inferred.
    pub fn subtype(&self) -> &'static str {
        match self {
            JobEvent::AiBatch(a) => a.subtype(),
            JobEvent::Llm(l) => l.subtype(),
            JobEvent::Gateway(g) => g.subtype(),
            JobEvent::Orchestrator(o) => o.subtype(),
            JobEvent::Auth(a) => a.subtype(),
            JobEvent::Payment(p) => p.subtype_name(),
            JobEvent::Worker(w) => w.subtype(),
            JobEvent::SignedTicket(_) => "create_signed_ticket",
        }
    }
}

/// The families this module decodes.
pub const FAMILIES: [&str; 8] = [
    "ai_batch_request",
    "ai_llm_request",
    "job_gateway",
    "job_orchestrator",
    "job_auth",
    "job_payment",
    "worker_lifecycle",
    "create_signed_ticket",
];

/// Decodes `data` of `family`; `None` when the family is not one of [`FAMILIES`].
pub fn decode(family: &str, data: Value) -> Option<Result<JobEvent, LivepeerError>> {
    let event = match family {
        "ai_batch_request" => ai::ai_batch(data).map(JobEvent::AiBatch),
        "ai_llm_request" => ai::llm(data).map(JobEvent::Llm),
        "job_gateway" => byoc::job_gateway(data).map(JobEvent::Gateway),
        "job_orchestrator" => byoc::job_orchestrator(data).map(JobEvent::Orchestrator),
        "job_auth" => byoc::job_auth(data).map(JobEvent::Auth),
        "job_payment" => payment::job_payment(data).map(JobEvent::Payment),
        "worker_lifecycle" => workers::worker_lifecycle(data).map(JobEvent::Worker),
        "create_signed_ticket" => decode_subtype(family, data).map(JobEvent::SignedTicket),
        _ => return None,
    };
    Some(event)
}

/// Reading `data.type`, or inferring it where a relay dropped it.
pub(crate) struct Subtype;

impl Subtype {
    /// `data.type`, which direct publishes always carry.
    pub(crate) fn of(family: &str, data: &Value) -> Result<String, LivepeerError> {
        if !data.is_object() {
            return Err(LivepeerError::WrongType {
                family: family.into(),
                detail: "data is not an object".into(),
            });
        }
        match data.get("type") {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            None | Some(Value::Null) => Err(LivepeerError::MissingField {
                family: family.into(),
                detail: "type (the subtype)".into(),
            }),
            Some(other) => Err(LivepeerError::WrongType {
                family: family.into(),
                detail: format!("type is {other}, not a subtype name"),
            }),
        }
    }

    /// `data.type` when present, else the subtype of the first `(key,
    /// subtype)` whose key `data` holds.
    pub(crate) fn of_relayed(family: &str, data: &Value, by_key: &[(&str, &str)]) -> Result<String, LivepeerError> {
        if !data.is_object() || !matches!(data.get("type"), None | Some(Value::Null)) {
            return Subtype::of(family, data);
        }
        by_key
            .iter()
            .find(|(key, _)| data.get(key).is_some())
            .map(|(_, subtype)| (*subtype).to_owned())
            .ok_or_else(|| LivepeerError::UnknownSubtype {
                subtype: format!(
                    "{family}/(no type, and none of the keys {} that name one)",
                    by_key.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
                ),
            })
    }
}

/// `data` as `T`, or the reason it is not one.
pub(crate) fn decode_subtype<T: for<'de> Deserialize<'de>>(family: &str, data: Value) -> Result<T, LivepeerError> {
    serde_json::from_value(data).map_err(|e| crate::livepeer::serde_error(family, e))
}

/// Optional text where `null`, `""` and a missing key all mean "none".
pub(crate) fn blank_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

/// An optional Unix-ms time, refused unless the lake can hold it.
pub(crate) fn optional_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let value = Option::<f64>::deserialize(d)?;
    if let Some(ms) = value {
        let fits = ms.is_finite() && crate::lake_types::EVENT_TIME_MS.contains(&(ms as i64));
        if !fits {
            return Err(serde::de::Error::custom(format!(
                "time {ms} lies outside 1678-01-01..2262-01-01, the times the lake holds"
            )));
        }
    }
    Ok(value)
}

/// A wei amount as the gateway writes it (`"250000.000"`, `"-12.5"`,
/// `"90000"`), in thousandths of a wei, exactly.
pub(crate) fn milli_wei(family: &str, field: &'static str, text: &str) -> Result<i128, LivepeerError> {
    let bad = || LivepeerError::BadNumber {
        family: family.to_owned(),
        field,
        value: text.to_owned(),
        expected: "wei with at most 3 decimals",
    };
    let t = text.trim();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if fraction.len() > 3 || !all_digits(whole) || !all_digits(fraction) {
        return Err(bad());
    }
    let whole: i128 = whole.parse().map_err(|_| bad())?;
    let fraction: i128 = format!("{fraction:0<3}").parse().map_err(|_| bad())?;
    let value = whole
        .checked_mul(1000)
        .and_then(|w| w.checked_add(fraction))
        .ok_or_else(bad)?;
    Ok(if negative { -value } else { value })
}

#[cfg(test)]
mod tests;
