//! go-livepeer's gateway events, as gateways already publish them to Kafka.
//!
//! Every event is an envelope `{"id", "type", "timestamp": "<unix ms as a
//! string>", "gateway", "data"}`. This module turns one message value into a
//! typed [`LivepeerEvent`] or a [`LivepeerError`] whose
//! [`reason`](LivepeerError::reason) names what was wrong, for the quarantine
//! table. Numbers that go-livepeer writes as strings (`latency_ms`,
//! `faceValue` "N WEI", `price` "X wei/pixel", `winProb`, `numTickets`)
//! become numbers here; `clientIP` (personal data) is never read.

use serde::Deserialize;
use serde_json::Value;

/// Why a gateway event was refused.
#[derive(Debug, thiserror::Error)]
pub enum LivepeerError {
    #[error("not valid JSON: {detail}")]
    MalformedJson { detail: String },
    #[error("unknown event family {family:?}")]
    UnknownFamily { family: String },
    #[error("unknown stream_trace subtype {subtype:?}")]
    UnknownSubtype { subtype: String },
    #[error("{family}: missing field {detail}")]
    MissingField { family: String, detail: String },
    #[error("{family}: wrong type: {detail}")]
    WrongType { family: String, detail: String },
    #[error("{family}: field {field} holds {value:?}, not {expected}")]
    BadNumber {
        family: String,
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    /// A value the lake cannot hold: a time out of range, a measurement
    /// that is not a finite number.
    #[error("{family}: field {field}: {detail}")]
    Unfit {
        family: String,
        field: &'static str,
        reason: &'static str,
        detail: String,
    },
}

impl LivepeerError {
    /// A short, stable reason code for counters and the quarantine table.
    pub fn reason(&self) -> &'static str {
        match self {
            LivepeerError::MalformedJson { .. } => "malformed_json",
            LivepeerError::UnknownFamily { .. } => "unknown_family",
            LivepeerError::UnknownSubtype { .. } => "unknown_subtype",
            LivepeerError::MissingField { .. } => "missing_field",
            LivepeerError::WrongType { .. } | LivepeerError::BadNumber { .. } => "wrong_type",
            LivepeerError::Unfit { reason, .. } => reason,
        }
    }
}

/// The `stream_trace` subtypes with a fixed meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceSubtype {
    /// A known stream: enters the denominator.
    GatewayReceiveStreamRequest,
    GatewaySendFirstIngestSegment,
    GatewayReceiveFirstProcessedSegment,
    /// Playable: startup success.
    GatewayReceiveFewProcessedSegments,
    GatewayReceiveFirstDataSegment,
    /// Excused startup failure.
    GatewayNoOrchestratorsAvailable,
    OrchestratorSwap,
    GatewayIngestStreamClosed,
    RunnerReceiveFirstIngestSegment,
    RunnerSendFirstProcessedSegment,
    /// The 2026 gateways' additions (`events-2026.md`): kept, not yet read.
    StreamStopped,
    StreamOrchestratorTokenRefresh,
    StreamSlowOrchestratorDetected,
}

const TRACE_SUBTYPES: [&str; 13] = [
    "gateway_receive_stream_request",
    "gateway_send_first_ingest_segment",
    "gateway_receive_first_processed_segment",
    "gateway_receive_few_processed_segments",
    "gateway_receive_first_data_segment",
    "gateway_no_orchestrators_available",
    "orchestrator_swap",
    "gateway_ingest_stream_closed",
    "runner_receive_first_ingest_segment",
    "runner_send_first_processed_segment",
    "stream_stopped",
    "stream_orchestrator_token_refresh",
    "stream_slow_orchestrator_detected",
];

/// `orchestrator_info`: the address is often the operating (not on-chain) one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OrchestratorInfo {
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StreamTrace {
    #[serde(rename = "type")]
    pub subtype: TraceSubtype,
    #[serde(default)]
    pub stream_id: String,
    #[serde(default)]
    pub request_id: String,
    #[serde(default)]
    pub pipeline_id: String,
    #[serde(default)]
    pub pipeline: Option<String>,
    #[serde(default)]
    pub orchestrator_info: OrchestratorInfo,
    /// Event time of the trace, ms.
    pub timestamp: i64,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct InferenceStatus {
    #[serde(default)]
    pub fps: Option<f64>,
    #[serde(default)]
    pub restart_count: Option<i64>,
    #[serde(default)]
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct InputStatus {
    #[serde(default)]
    pub fps: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AiStreamStatus {
    pub state: String,
    #[serde(default)]
    pub stream_id: String,
    #[serde(default)]
    pub request_id: String,
    #[serde(default)]
    pub pipeline: String,
    #[serde(default)]
    pub orchestrator_info: OrchestratorInfo,
    #[serde(default)]
    pub inference_status: InferenceStatus,
    #[serde(default)]
    pub input_status: InputStatus,
    /// When the prompt was applied (start of prompt-to-playable), ms.
    #[serde(default)]
    pub start_time: Option<i64>,
    pub timestamp: i64,
}

/// One orchestrator found by discovery, with the gateway→orchestrator latency.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovered {
    pub address: String,
    pub url: String,
    pub latency_ms: f64,
}

/// A payment ticket batch (`clientIP` dropped).
#[derive(Debug, Clone, PartialEq)]
pub struct Payment {
    pub sender: String,
    pub recipient: String,
    pub orchestrator_url: String,
    pub face_value_wei: u128,
    pub win_prob: f64,
    pub price_wei_per_pixel: f64,
    pub num_tickets: u32,
    pub request_id: String,
    pub session_id: String,
    pub manifest_id: String,
}

pub use crate::capabilities::{Capability, GpuInfo, Hardware, RefusedEntry};

/// A decoded gateway event.
#[derive(Debug, Clone, PartialEq)]
pub enum LivepeerEvent {
    StreamTrace(StreamTrace),
    AiStreamStatus(AiStreamStatus),
    /// Error and parameter-update events; kept whole for the session logic.
    AiStreamEvents(Value),
    /// Ingest quality statistics; kept whole.
    StreamIngestMetrics(Value),
    DiscoveryResults(Vec<Discovered>),
    NetworkCapabilities(Vec<Capability>),
    CreateNewPayment(Payment),
    /// The 2026 families: AI batch, LLM and BYOC jobs (see [`crate::jobs`]).
    Job(crate::jobs::JobEvent),
}

/// The envelope and its decoded payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub id: String,
    pub family: String,
    /// Envelope time, UTC ms.
    pub timestamp_ms: i64,
    pub gateway: String,
    pub event: LivepeerEvent,
    /// `data` as received, less personal fields (`clientIP`, `client_ip`).
    pub data: Value,
    /// `data` as compact JSON text (the raw table's `data` column), written
    /// where the message is decoded, off the pipeline's thread.
    pub data_json: String,
    /// Parts of the event refused on their own (a malformed
    /// `network_capabilities` entry), for the quarantine table.
    pub refused: Vec<RefusedEntry>,
}

fn drop_personal_fields(value: &mut Value) {
    match value {
        Value::Object(map) => {
            // `clientIP` (2025 families), `client_ip` (the 2026 ones).
            map.remove("clientIP");
            map.remove("client_ip");
            map.values_mut().for_each(drop_personal_fields);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_personal_fields),
        _ => {}
    }
}

#[derive(Deserialize)]
struct RawEnvelope {
    id: String,
    #[serde(rename = "type")]
    family: String,
    timestamp: String,
    #[serde(default)]
    gateway: String,
    data: Value,
}

pub(crate) fn serde_error(family: &str, e: serde_json::Error) -> LivepeerError {
    let detail = e.to_string();
    if detail.starts_with("missing field") {
        LivepeerError::MissingField {
            family: family.to_owned(),
            detail,
        }
    } else if e.is_syntax() || e.is_eof() {
        LivepeerError::MalformedJson { detail }
    } else {
        LivepeerError::WrongType {
            family: family.to_owned(),
            detail,
        }
    }
}

fn number<T: std::str::FromStr>(
    family: &str,
    field: &'static str,
    text: &str,
    expected: &'static str,
) -> Result<T, LivepeerError> {
    text.trim().parse().map_err(|_| LivepeerError::BadNumber {
        family: family.to_owned(),
        field,
        value: text.to_owned(),
        expected,
    })
}

/// `"2402400000000000 WEI"` → 2402400000000000
pub fn parse_wei(text: &str) -> Option<u128> {
    let t = text.trim();
    let digits = t
        .strip_suffix("WEI")
        .or_else(|| t.strip_suffix("wei"))
        .unwrap_or(t)
        .trim();
    digits.parse().ok()
}

/// `"1635.021 wei/pixel"` → 1635.021
pub fn parse_price_per_pixel(text: &str) -> Option<f64> {
    let t = text.trim();
    let number = t.strip_suffix("wei/pixel").unwrap_or(t).trim();
    number.parse().ok().filter(|v: &f64| v.is_finite())
}

/// Refuses a time the lake cannot hold (see [`crate::lake_types::EVENT_TIME_MS`]).
pub(crate) fn check_time(family: &str, field: &'static str, ms: i64) -> Result<(), LivepeerError> {
    match crate::lake_types::event_time_error(ms) {
        None => Ok(()),
        Some(detail) => Err(LivepeerError::Unfit {
            family: family.to_owned(),
            field,
            reason: "time_out_of_range",
            detail,
        }),
    }
}

/// Refuses a measurement that is not a finite number in `0..=max`.
fn check_measure(family: &str, field: &'static str, value: f64, max: f64) -> Result<(), LivepeerError> {
    if value.is_finite() && (0.0..=max).contains(&value) {
        return Ok(());
    }
    Err(LivepeerError::Unfit {
        family: family.to_owned(),
        field,
        reason: if value.is_finite() {
            "out_of_range"
        } else {
            "not_finite"
        },
        detail: format!("{value} is not a finite number from 0 to {max}"),
    })
}

fn from_value<T: for<'de> Deserialize<'de>>(family: &str, data: &Value) -> Result<T, LivepeerError> {
    T::deserialize(data).map_err(|e| serde_error(family, e))
}

/// Decodes one message value.
pub fn decode(bytes: &[u8]) -> Result<Envelope, LivepeerError> {
    let mut raw: RawEnvelope = serde_json::from_slice(bytes).map_err(|e| serde_error("envelope", e))?;
    drop_personal_fields(&mut raw.data);
    let timestamp_ms = number(&raw.family, "timestamp", &raw.timestamp, "unix milliseconds")?;
    check_time(&raw.family, "timestamp", timestamp_ms)?;
    // The payload's own time, where it has one, becomes the signal time.
    if let Some(t) = raw.data.get("timestamp").and_then(Value::as_i64) {
        check_time(&raw.family, "data.timestamp", t)?;
    }
    let family = raw.family.as_str();
    let mut refused = Vec::new();
    let event = match family {
        "stream_trace" => {
            let subtype = raw.data.get("type").and_then(Value::as_str).unwrap_or_default();
            if !TRACE_SUBTYPES.contains(&subtype) {
                return Err(LivepeerError::UnknownSubtype {
                    subtype: subtype.to_owned(),
                });
            }
            LivepeerEvent::StreamTrace(from_value(family, &raw.data)?)
        }
        "ai_stream_status" => {
            let status: AiStreamStatus = from_value(family, &raw.data)?;
            if let Some(t) = status.start_time {
                check_time(family, "start_time", t)?;
            }
            LivepeerEvent::AiStreamStatus(status)
        }
        "ai_stream_events" => LivepeerEvent::AiStreamEvents(raw.data.clone()),
        "stream_ingest_metrics" => LivepeerEvent::StreamIngestMetrics(raw.data.clone()),
        "discovery_results" => {
            #[derive(Deserialize)]
            struct D {
                address: String,
                #[serde(default)]
                url: String,
                latency_ms: String,
            }
            let items: Vec<D> = from_value(family, &raw.data)?;
            let mut out = Vec::with_capacity(items.len());
            for d in items {
                let latency_ms: f64 = number(family, "latency_ms", &d.latency_ms, "milliseconds")?;
                check_measure(family, "latency_ms", latency_ms, f64::MAX)?;
                out.push(Discovered {
                    latency_ms,
                    address: d.address,
                    url: d.url,
                });
            }
            LivepeerEvent::DiscoveryResults(out)
        }
        "network_capabilities" => {
            let (entries, bad) =
                crate::capabilities::decode_entries(&raw.data).ok_or_else(|| LivepeerError::WrongType {
                    family: family.to_owned(),
                    detail: "data is not a list of orchestrators".into(),
                })?;
            refused = bad;
            LivepeerEvent::NetworkCapabilities(entries)
        }
        "create_new_payment" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct P {
                sender: String,
                recipient: String,
                orchestrator: String,
                face_value: String,
                win_prob: String,
                price: String,
                num_tickets: String,
                #[serde(rename = "requestID", default)]
                request_id: String,
                #[serde(rename = "sessionID", default)]
                session_id: String,
                #[serde(rename = "manifestID", default)]
                manifest_id: String,
            }
            let p: P = from_value(family, &raw.data)?;
            let bad = |field, value: &str, expected| LivepeerError::BadNumber {
                family: family.to_owned(),
                field,
                value: value.to_owned(),
                expected,
            };
            LivepeerEvent::CreateNewPayment(Payment {
                face_value_wei: parse_wei(&p.face_value).ok_or_else(|| bad("faceValue", &p.face_value, "N WEI"))?,
                price_wei_per_pixel: parse_price_per_pixel(&p.price)
                    .ok_or_else(|| bad("price", &p.price, "X wei/pixel"))?,
                win_prob: number(family, "winProb", &p.win_prob, "a probability")
                    .and_then(|w| check_measure(family, "winProb", w, 1.0).map(|()| w))?,
                num_tickets: number(family, "numTickets", &p.num_tickets, "a ticket count")?,
                sender: p.sender,
                recipient: p.recipient,
                orchestrator_url: p.orchestrator,
                request_id: p.request_id,
                session_id: p.session_id,
                manifest_id: p.manifest_id,
            })
        }
        other => match crate::jobs::decode(other, raw.data.clone()) {
            Some(job) => LivepeerEvent::Job(job?),
            None => {
                return Err(LivepeerError::UnknownFamily {
                    family: other.to_owned(),
                });
            }
        },
    };
    Ok(Envelope {
        id: raw.id,
        family: raw.family,
        timestamp_ms,
        gateway: raw.gateway,
        event,
        data_json: raw.data.to_string(),
        data: raw.data,
        refused,
    })
}

#[cfg(test)]
#[path = "livepeer_tests.rs"]
mod tests;
