//! The server's error type and its mapping to gRPC and HTTP statuses.

use std::net::SocketAddr;

use datafusion::error::DataFusionError;
use tracing::{info, warn};

/// What can go wrong while serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Lake(#[from] naap_sql::LakeError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("query refused: {detail}")]
    Refused { detail: String },
    #[error("query failed: {source}")]
    Query { source: DataFusionError },
    #[error(
        "query ran past the server's time limit of {limit:?}; narrow it (filters, LIMIT) or ask the operator for a longer one"
    )]
    TimedOut { limit: std::time::Duration },
    #[error("query needs more than the server's memory limit per query: {detail}")]
    MemoryLimit { detail: String },
    #[error("{max} queries are running, the most this server runs at once; retry shortly")]
    Busy { max: usize },
    #[error(transparent)]
    Denied(#[from] crate::auth::Denied),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("unknown ticket {ticket:?}; use a Flight SQL statement ticket or one of: scores")]
    UnknownTicket { ticket: String },
    #[error("reading table {table}: {source}")]
    Catalog { table: String, source: DataFusionError },
    #[error(transparent)]
    Table(Box<naap_sql::TableError>),
    #[error("lake listing: {source}")]
    Store { source: object_store::Error },
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("http server: {0}")]
    Http(std::io::Error),
    #[error("encoding results: {0}")]
    Encode(#[from] arrow::error::ArrowError),
    #[error("the rows of serving statement {statement} do not fit its answer: {source}")]
    Shape {
        statement: &'static str,
        source: serde_json::Error,
    },
    #[error("the query failed unexpectedly and was stopped: {detail}")]
    Crashed { detail: String },
    #[error("starting the query threads: {0}")]
    Runtime(std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<naap_sql::TableError> for Error {
    fn from(e: naap_sql::TableError) -> Self {
        Error::Table(Box::new(e))
    }
}

impl Error {
    /// A query error: refusals (DDL, DML, unknown tables, syntax) are the client's fault.
    pub(crate) fn query(source: DataFusionError) -> Error {
        if file_gone(&source) {
            // Named without the store's path: where the lake lives is the
            // operator's business.
            return Error::Refused {
                detail: "a file this table version needs is gone: vacuum removed it. A file that a newer \
                         version replaced (compacted, or rewritten by late events) is kept for the pipeline's \
                         compaction grace (5 minutes unless its operator chose otherwise), then deleted; read a \
                         version committed since, or the newest"
                    .into(),
            };
        }
        match source.find_root() {
            DataFusionError::ResourcesExhausted(detail) => Error::MemoryLimit { detail: detail.clone() },
            // A value the client wrote that Arrow cannot use (a LIKE
            // pattern past the regex size limit, a bad cast): its fault.
            DataFusionError::ArrowError(e, _)
                if matches!(e.as_ref(), arrow::error::ArrowError::InvalidArgumentError(_)) =>
            {
                Error::Refused {
                    detail: source.to_string(),
                }
            }
            DataFusionError::Plan(_)
            | DataFusionError::SQL(..)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_) => Error::Refused {
                detail: source.to_string(),
            },
            _ => Error::Query { source },
        }
    }

    fn is_client_fault(&self) -> bool {
        matches!(self, Error::Refused { .. } | Error::UnknownTicket { .. })
    }
}

/// Whether `error` comes from a data file missing from the store.
fn file_gone(error: &DataFusionError) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(object_store::Error::NotFound { .. }) = e.downcast_ref::<object_store::Error>() {
            return true;
        }
        if let Some(DataFusionError::ObjectStore(inner)) = e.downcast_ref::<DataFusionError>()
            && matches!(inner.as_ref(), object_store::Error::NotFound { .. })
        {
            return true;
        }
        cause = e.source();
    }
    // The Parquet reader keeps only the text of the store's error.
    let text = error.to_string();
    text.contains("Object at location") && text.contains(" not found")
}

/// The stable `reason` of every HTTP error body: a code for programs,
/// beside the sentence for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    BadRequest,
    NotFound,
    MethodNotAllowed,
    TooLarge,
    UriTooLong,
    HeadersTooLarge,
    Unauthenticated,
    NotAdmin,
    Busy,
    TimeLimit,
    MemoryLimit,
    Internal,
}

impl Reason {
    /// The code as written in bodies and in `/metrics`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::BadRequest => "bad_request",
            Reason::NotFound => "not_found",
            Reason::MethodNotAllowed => "method_not_allowed",
            Reason::TooLarge => "too_large",
            Reason::UriTooLong => "uri_too_long",
            Reason::HeadersTooLarge => "headers_too_large",
            Reason::Unauthenticated => "unauthenticated",
            Reason::NotAdmin => "not_admin",
            Reason::Busy => "busy",
            Reason::TimeLimit => "time_limit",
            Reason::MemoryLimit => "memory_limit",
            Reason::Internal => "internal",
        }
    }
}

impl Error {
    /// The stable `reason` of this error in HTTP bodies.
    pub(crate) fn reason(&self) -> Reason {
        match self {
            Error::Denied(crate::auth::Denied::NotAdmin) => Reason::NotAdmin,
            Error::Denied(_) => Reason::Unauthenticated,
            Error::TimedOut { .. } => Reason::TimeLimit,
            Error::MemoryLimit { .. } => Reason::MemoryLimit,
            Error::Busy { .. } => Reason::Busy,
            Error::Refused { .. } | Error::UnknownTicket { .. } => Reason::BadRequest,
            _ => Reason::Internal,
        }
    }

    /// The `/metrics` reason of a refused request or stopped query.
    fn refusal(&self) -> Option<&'static str> {
        match self.reason() {
            Reason::Internal => None,
            Reason::BadRequest => Some("refused"),
            reason => Some(reason.as_str()),
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        if let Some(reason) = e.refusal() {
            crate::metrics::METRICS.stopped(reason);
        }
        match &e {
            Error::Denied(crate::auth::Denied::NotAdmin) => {
                info!(error = %e, "request refused");
                tonic::Status::permission_denied(e.to_string())
            }
            Error::Denied(_) => {
                info!(error = %e, "request refused");
                tonic::Status::unauthenticated(e.to_string())
            }
            Error::TimedOut { .. } => {
                info!(error = %e, "query stopped");
                tonic::Status::deadline_exceeded(e.to_string())
            }
            Error::MemoryLimit { .. } | Error::Busy { .. } => {
                info!(error = %e, "query stopped");
                tonic::Status::resource_exhausted(e.to_string())
            }
            Error::Refused { .. } | Error::UnknownTicket { .. } => {
                info!(error = %e, "request refused");
                tonic::Status::invalid_argument(e.to_string())
            }
            Error::Lake(_)
            | Error::Tls(_)
            | Error::Bind { .. }
            | Error::Query { .. }
            | Error::Catalog { .. }
            | Error::Table(_)
            | Error::Store { .. }
            | Error::Transport(_)
            | Error::Http(_)
            | Error::Encode(_)
            | Error::Crashed { .. }
            | Error::Shape { .. }
            | Error::Runtime(_) => {
                warn!(error = %e, "request failed");
                tonic::Status::internal(e.to_string())
            }
        }
    }
}

impl axum::response::IntoResponse for Error {
    fn into_response(self) -> axum::response::Response {
        if let Some(reason) = self.refusal() {
            crate::metrics::METRICS.stopped(reason);
        }
        use axum::http::StatusCode;
        let limited = match &self {
            Error::Denied(crate::auth::Denied::NotAdmin) => Some(StatusCode::FORBIDDEN),
            Error::Denied(_) => Some(StatusCode::UNAUTHORIZED),
            Error::TimedOut { .. } => Some(StatusCode::GATEWAY_TIMEOUT),
            Error::MemoryLimit { .. } | Error::Busy { .. } => Some(StatusCode::SERVICE_UNAVAILABLE),
            _ => None,
        };
        let status = if let Some(status) = limited {
            info!(error = %self, "query stopped");
            status
        } else if self.is_client_fault() {
            info!(error = %self, "request refused");
            axum::http::StatusCode::BAD_REQUEST
        } else {
            warn!(error = %self, "request failed");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        };
        let reason = self.reason();
        crate::http::problem(status, reason, &self.to_string())
    }
}
