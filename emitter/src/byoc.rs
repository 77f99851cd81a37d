//! BYOC custom events: a loopback HTTP endpoint for containers on this node.
//!
//! A container posts `POST /v1/events/<name>` with a JSON object or an array
//! of objects. Every name has a schema registered in a TOML file (see
//! `data/byoc-events.toml`): its version and its fields, each with a type and
//! whether it is required. A request is accepted whole or refused whole: any
//! invalid event answers `400` with the reason and the event's index, and
//! nothing of that request is kept. Accepted events are answered `202` only
//! once they are in the emitter's durable spool, so an accepted event
//! survives a crash of the emitter. They travel in their own family,
//! `custom_event`, with a CloudEvents 1.0 envelope (`id`, `source`, `type`,
//! `time`, `dataschema`), batched by time and size.
//!
//! The endpoint binds loopback addresses only: it is for containers on the
//! same host, never a port open to the network.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

/// Largest request body the endpoint reads.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long a request waits for its events to reach the spool.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest event (its data as JSON text) that fits in one message.
pub const MAX_EVENT_BYTES: usize = crate::byoc_batch::MAX_MESSAGE_BYTES - crate::byoc_batch::MESSAGE_OVERHEAD_BYTES;
/// Connections of the endpoint: containers on this host, a few each.
const CONNECTIONS: naap_net::ConnLimits = naap_net::ConnLimits {
    max_connections: 128,
    // Loopback only: every client has the one address.
    max_per_address: Some(128),
    header_read_timeout: Duration::from_secs(5),
    idle_timeout: Duration::from_secs(60),
};

/// Why the schema file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {source}")]
    Parse { path: String, source: toml::de::Error },
    #[error("{path}: event name {name:?} must be 1..=64 characters of a-z, 0-9, '_', '.', '-'")]
    Name { path: String, name: String },
    #[error("{path}: event {name:?} declares no fields")]
    NoFields { path: String, name: String },
}

/// Why a posted event was refused (the body of the `400`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("no schema is registered for event {name:?} (registered: {registered})")]
    UnknownEvent { name: String, registered: String },
    #[error("the body is not JSON: {detail}")]
    MalformedJson { detail: String },
    #[error("the body must be a JSON object or a non-empty array of objects")]
    NotObject,
    #[error("{count} events in one request; at most {max}")]
    TooMany { count: usize, max: usize },
    #[error("event {index}: the value is not a JSON object")]
    ElementNotObject { index: usize },
    #[error("event {index}: required field {field:?} is missing or null")]
    MissingField { index: usize, field: String },
    #[error("event {index}: field {field:?} must be {expected}, got {got}")]
    WrongType {
        index: usize,
        field: String,
        expected: &'static str,
        got: String,
    },
    #[error("event {index}: field {field:?} is not in the schema of {name:?}")]
    UnknownField { index: usize, field: String, name: String },
    #[error(
        "event {index} is {bytes} bytes of JSON; the limit of one event, so that it fits in one message of the emitter, is {max}"
    )]
    TooLarge { index: usize, bytes: usize, max: usize },
}

impl EventError {
    /// Stable reason code, the `reason` of the `400` body.
    pub fn reason(&self) -> &'static str {
        match self {
            EventError::UnknownEvent { .. } => "unknown_event",
            EventError::MalformedJson { .. } => "malformed_json",
            EventError::NotObject | EventError::ElementNotObject { .. } => "not_object",
            EventError::TooMany { .. } => "too_many_events",
            EventError::MissingField { .. } => "missing_field",
            EventError::WrongType { .. } => "wrong_type",
            EventError::UnknownField { .. } => "unknown_field",
            EventError::TooLarge { .. } => "too_large",
        }
    }
}

/// A field's type in an event schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Int64,
    Uint64,
    Float64,
    Bool,
    /// RFC 3339 text or epoch milliseconds.
    Timestamp,
    /// Any JSON value (kept as it is).
    Json,
}

impl FieldType {
    fn name(self) -> &'static str {
        match self {
            FieldType::String => "a string",
            FieldType::Int64 => "a signed 64-bit integer",
            FieldType::Uint64 => "an unsigned 64-bit integer",
            FieldType::Float64 => "a number",
            FieldType::Bool => "true or false",
            FieldType::Timestamp => "RFC 3339 text or epoch milliseconds",
            FieldType::Json => "any JSON value",
        }
    }

    fn accepts(self, v: &Value) -> bool {
        match self {
            FieldType::String => v.is_string(),
            FieldType::Int64 => v.is_i64(),
            FieldType::Uint64 => v.is_u64(),
            FieldType::Float64 => v.is_number(),
            FieldType::Bool => v.is_boolean(),
            FieldType::Timestamp => match v {
                Value::String(s) => humantime::parse_rfc3339_weak(s).is_ok(),
                other => other.is_i64(),
            },
            FieldType::Json => true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    #[serde(rename = "type")]
    pub kind: FieldType,
    #[serde(default)]
    pub required: bool,
}

/// One registered event name.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventSchema {
    pub version: u32,
    #[serde(default)]
    pub description: String,
    pub fields: BTreeMap<String, FieldSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    events: BTreeMap<String, EventSchema>,
}

/// The registered event schemas.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    events: BTreeMap<String, EventSchema>,
}

/// Events of one name that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    pub name: String,
    /// `naap:byoc/<name>/v<version>`.
    pub dataschema: String,
    /// Each event's data as JSON text.
    pub events: Vec<String>,
}

impl Registry {
    /// Reads the schema file; unknown keys are refused.
    pub fn load(path: &Path) -> Result<Registry, RegistryError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| RegistryError::Read {
            path: shown.clone(),
            source,
        })?;
        Registry::parse(&text, &shown)
    }

    /// Parses schema TOML; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Registry, RegistryError> {
        let file: RegistryFile = toml::from_str(text).map_err(|source| RegistryError::Parse {
            path: origin.to_owned(),
            source,
        })?;
        for (name, schema) in &file.events {
            let valid = (1..=64).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
            if !valid {
                return Err(RegistryError::Name {
                    path: origin.to_owned(),
                    name: name.clone(),
                });
            }
            if schema.fields.is_empty() {
                return Err(RegistryError::NoFields {
                    path: origin.to_owned(),
                    name: name.clone(),
                });
            }
        }
        Ok(Registry { events: file.events })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.events.keys().map(String::as_str)
    }

    /// Checks a request body for event `name`: an object or an array of at
    /// most `max` objects, each with exactly the schema's fields.
    pub fn validate(&self, name: &str, body: &[u8], max: usize) -> Result<Validated, EventError> {
        let schema = self.events.get(name).ok_or_else(|| EventError::UnknownEvent {
            name: name.to_owned(),
            registered: self.events.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
        let value: Value =
            serde_json::from_slice(body).map_err(|e| EventError::MalformedJson { detail: e.to_string() })?;
        let items = match value {
            Value::Object(o) => vec![Value::Object(o)],
            Value::Array(items) if !items.is_empty() => items,
            _ => return Err(EventError::NotObject),
        };
        if items.len() > max {
            return Err(EventError::TooMany {
                count: items.len(),
                max,
            });
        }
        let mut events = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            let Value::Object(object) = item else {
                return Err(EventError::ElementNotObject { index });
            };
            let text = check_object(name, schema, index, object)?;
            if text.len() > MAX_EVENT_BYTES {
                return Err(EventError::TooLarge {
                    index,
                    bytes: text.len(),
                    max: MAX_EVENT_BYTES,
                });
            }
            events.push(text);
        }
        Ok(Validated {
            name: name.to_owned(),
            dataschema: format!("naap:byoc/{name}/v{}", schema.version),
            events,
        })
    }
}

fn check_object(
    name: &str,
    schema: &EventSchema,
    index: usize,
    object: Map<String, Value>,
) -> Result<String, EventError> {
    if let Some(field) = object.keys().find(|k| !schema.fields.contains_key(*k)) {
        return Err(EventError::UnknownField {
            index,
            field: field.clone(),
            name: name.to_owned(),
        });
    }
    for (field, spec) in &schema.fields {
        match object.get(field) {
            None | Some(Value::Null) if spec.required => {
                return Err(EventError::MissingField {
                    index,
                    field: field.clone(),
                });
            }
            None | Some(Value::Null) => {}
            Some(v) if !spec.kind.accepts(v) => {
                let mut got = v.to_string();
                if got.len() > 80 {
                    got.truncate(77);
                    got.push_str("...");
                }
                return Err(EventError::WrongType {
                    index,
                    field: field.clone(),
                    expected: spec.kind.name(),
                    got,
                });
            }
            Some(_) => {}
        }
    }
    // Keys sorted, so equal data is equal text whatever order it was posted in.
    let sorted: BTreeMap<&String, &Value> = object.iter().collect();
    Ok(serde_json::to_string(&sorted).expect("JSON values serialize"))
}

/// Validated events on their way to the spool, with the request waiting for
/// the answer.
#[derive(Debug)]
pub struct Submission {
    pub events: Validated,
    pub ack: oneshot::Sender<Result<(), String>>,
}

/// The receiving end the heartbeat loop drains: batches close after
/// `batch_window` or at `max_batch` events, whichever comes first.
#[derive(Debug)]
pub struct Inbox {
    pub rx: mpsc::Receiver<Submission>,
    pub batch_window: Duration,
    pub max_batch: usize,
}

#[derive(Clone)]
struct AppState {
    registry: Arc<Registry>,
    tx: mpsc::Sender<Submission>,
    max_batch: usize,
}

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the BYOC endpoint binds loopback addresses only (127.0.0.0/8, ::1), not {addr}")]
    NotLoopback { addr: SocketAddr },
    #[error("binding the BYOC endpoint to {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// A bound BYOC endpoint, not yet serving.
#[derive(Debug)]
pub struct Endpoint {
    listener: tokio::net::TcpListener,
    state_registry: Arc<Registry>,
    tx: mpsc::Sender<Submission>,
    max_batch: usize,
}

impl Endpoint {
    /// Binds `addr` (loopback only) and returns the endpoint with the inbox
    /// its events arrive in.
    pub async fn bind(
        addr: SocketAddr,
        registry: Registry,
        batch_window: Duration,
        max_batch: usize,
    ) -> Result<(Endpoint, Inbox), ServeError> {
        if !addr.ip().is_loopback() {
            return Err(ServeError::NotLoopback { addr });
        }
        let listener = naap_net::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
        // A few batches of room: beyond that the endpoint answers 503 rather
        // than hold an unbounded queue in memory.
        let (tx, rx) = mpsc::channel(64);
        let max_batch = max_batch.max(1);
        Ok((
            Endpoint {
                listener,
                state_registry: Arc::new(registry),
                tx,
                max_batch,
            },
            Inbox {
                rx,
                batch_window,
                max_batch,
            },
        ))
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the process ends.
    pub async fn serve(self) -> std::io::Result<()> {
        let state = AppState {
            registry: self.state_registry,
            tx: self.tx,
            max_batch: self.max_batch,
        };
        let app = axum::Router::new()
            .route("/v1/events", get(list_schemas))
            .route("/v1/events/{name}", post(post_events))
            .fallback(|| async { refuse(StatusCode::NOT_FOUND, "not_found", "POST /v1/events/<name>".into()) })
            .method_not_allowed_fallback(|| async {
                refuse(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "GET /v1/events lists the events; POST /v1/events/<name> sends them".into(),
                )
            })
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(state);
        let connections = naap_net::accept(self.listener, CONNECTIONS.within_descriptor_limit(), "byoc");
        naap_net::serve_http(connections, app, CONNECTIONS, std::future::pending()).await;
        Ok(())
    }
}

async fn list_schemas(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "events": state.registry.events }))
}

fn refuse(status: StatusCode, reason: &str, error: String) -> Response {
    (status, Json(json!({ "reason": reason, "error": error }))).into_response()
}

async fn post_events(
    State(state): State<AppState>,
    name: Result<UrlPath<String>, axum::extract::rejection::PathRejection>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    // Refusals are JSON like every other answer, the body limit's too.
    let name = match name {
        Ok(UrlPath(name)) => name,
        Err(e) => return refuse(e.status(), "bad_request", e.body_text()),
    };
    let body = match body {
        Ok(body) => body,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let error = format!("the body is larger than {MAX_BODY_BYTES} bytes, the most this endpoint reads");
            return refuse(StatusCode::PAYLOAD_TOO_LARGE, "too_large", error);
        }
        Err(e) => return refuse(e.status(), "bad_request", e.body_text()),
    };
    let validated = match state.registry.validate(&name, &body, state.max_batch) {
        Ok(v) => v,
        Err(e) => {
            info!(event = %name, reason = e.reason(), error = %e, "refused a BYOC event");
            let status = match e {
                EventError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            return refuse(status, e.reason(), e.to_string());
        }
    };
    let count = validated.events.len();
    let (ack, answer) = oneshot::channel();
    if state.tx.try_send(Submission { events: validated, ack }).is_err() {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "the emitter is behind; retry later".to_owned(),
        );
    }
    match tokio::time::timeout(ACK_TIMEOUT, answer).await {
        Ok(Ok(Ok(()))) => (StatusCode::ACCEPTED, Json(json!({ "accepted": count }))).into_response(),
        Ok(Ok(Err(e))) => {
            warn!(event = %name, error = %e, "BYOC events could not be spooled");
            refuse(StatusCode::SERVICE_UNAVAILABLE, "not_stored", e)
        }
        _ => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_stored",
            "the emitter did not store the events in time; retry".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMAS: &str = r#"
        [events.inference_done]
        version = 2
        description = "one inference request"
        fields.pipeline = { type = "string", required = true }
        fields.latency_ms = { type = "float64", required = true }
        fields.frames = { type = "uint64" }
        fields.ok = { type = "bool" }
        fields.at = { type = "timestamp" }
        fields.extra = { type = "json" }
    "#;

    fn registry() -> Registry {
        Registry::parse(SCHEMAS, "test").expect("valid schemas")
    }

    fn refusal(body: &str) -> EventError {
        registry()
            .validate("inference_done", body.as_bytes(), 10)
            .expect_err("must be refused")
    }

    #[test]
    fn valid_object_and_array_are_accepted_with_sorted_keys() {
        let v = registry()
            .validate(
                "inference_done",
                br#"{"pipeline":"live-video-to-video","latency_ms":12.5,"frames":30,"at":"2026-01-08T21:00:00Z"}"#,
                10,
            )
            .expect("valid");
        assert_eq!(v.dataschema, "naap:byoc/inference_done/v2");
        assert_eq!(
            v.events,
            [r#"{"at":"2026-01-08T21:00:00Z","frames":30,"latency_ms":12.5,"pipeline":"live-video-to-video"}"#]
        );
        let v = registry()
            .validate(
                "inference_done",
                br#"[{"pipeline":"a","latency_ms":1},{"pipeline":"b","latency_ms":2,"ok":null,"extra":[1,{"x":2}]}]"#,
                10,
            )
            .expect("valid");
        assert_eq!(v.events.len(), 2);
    }

    #[test]
    fn each_kind_of_invalid_event_is_refused_with_its_reason_and_index() {
        let unknown = registry().validate("nope", b"{}", 10).expect_err("unknown name");
        assert_eq!(unknown.reason(), "unknown_event");
        assert!(unknown.to_string().contains("inference_done"), "{unknown}");
        assert_eq!(refusal("{not json").reason(), "malformed_json");
        assert_eq!(refusal("42").reason(), "not_object");
        assert_eq!(refusal("[]").reason(), "not_object");
        assert_eq!(
            refusal(r#"[{"pipeline":"a","latency_ms":1}, 7]"#),
            EventError::ElementNotObject { index: 1 }
        );
        assert_eq!(
            refusal(r#"[{"pipeline":"a","latency_ms":1},{"pipeline":"b"}]"#),
            EventError::MissingField {
                index: 1,
                field: "latency_ms".into()
            }
        );
        assert_eq!(
            refusal(r#"{"pipeline":"a","latency_ms":null}"#).reason(),
            "missing_field"
        );
        assert_eq!(
            refusal(r#"{"pipeline":"a","latency_ms":"12"}"#),
            EventError::WrongType {
                index: 0,
                field: "latency_ms".into(),
                expected: "a number",
                got: "\"12\"".into()
            }
        );
        assert_eq!(
            refusal(r#"{"pipeline":"a","latency_ms":1,"frames":-1}"#).reason(),
            "wrong_type"
        );
        assert_eq!(
            refusal(r#"{"pipeline":"a","latency_ms":1,"at":"yesterday"}"#).reason(),
            "wrong_type"
        );
        assert_eq!(
            refusal(r#"{"pipeline":"a","latency_ms":1,"gpu":"x"}"#),
            EventError::UnknownField {
                index: 0,
                field: "gpu".into(),
                name: "inference_done".into()
            }
        );
        let big = format!(r#"{{"pipeline":"{}","latency_ms":1}}"#, "x".repeat(MAX_EVENT_BYTES));
        assert_eq!(refusal(&big).reason(), "too_large");
        let many = format!("[{}]", [r#"{"pipeline":"a","latency_ms":1}"#; 11].join(","));
        assert_eq!(refusal(&many), EventError::TooMany { count: 11, max: 10 });
    }

    #[test]
    fn schema_files_with_unknown_keys_or_bad_names_are_refused() {
        let typo = Registry::parse("[events.a]\nversion = 1\nfeilds.x = { type = \"string\" }\n", "f");
        assert!(matches!(typo, Err(RegistryError::Parse { .. })), "{typo:?}");
        let bad_type = Registry::parse("[events.a]\nversion = 1\nfields.x = { type = \"text\" }\n", "f");
        assert!(matches!(bad_type, Err(RegistryError::Parse { .. })), "{bad_type:?}");
        let name = Registry::parse(
            "[events.\"Bad Name\"]\nversion = 1\nfields.x = { type = \"string\" }\n",
            "f",
        );
        assert!(matches!(name, Err(RegistryError::Name { .. })), "{name:?}");
        let empty = Registry::parse("[events.a]\nversion = 1\nfields = {}\n", "f");
        assert!(matches!(empty, Err(RegistryError::NoFields { .. })), "{empty:?}");
    }

    #[tokio::test]
    async fn the_endpoint_refuses_non_loopback_addresses() {
        let addr: SocketAddr = "0.0.0.0:0".parse().expect("address");
        let err = Endpoint::bind(addr, registry(), Duration::from_secs(1), 10)
            .await
            .expect_err("must refuse");
        assert!(matches!(err, ServeError::NotLoopback { .. }), "{err}");
    }
}
