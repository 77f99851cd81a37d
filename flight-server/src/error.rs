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
    #[error("unknown ticket {ticket:?}; use a Flight SQL statement ticket or one of: scores")]
    UnknownTicket { ticket: String },
    #[error("listing table {table}: {source}")]
    Catalog { table: String, source: DataFusionError },
    #[error("lake listing: {source}")]
    Store { source: object_store::Error },
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("http server: {0}")]
    Http(std::io::Error),
    #[error("encoding results: {0}")]
    Encode(#[from] arrow::error::ArrowError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A query error: refusals (DDL, DML, unknown tables, syntax) are the client's fault.
    pub(crate) fn query(source: DataFusionError) -> Error {
        match source.find_root() {
            DataFusionError::Plan(_) | DataFusionError::SQL(..) | DataFusionError::SchemaError(..) => Error::Refused {
                detail: source.to_string(),
            },
            _ => Error::Query { source },
        }
    }

    fn is_client_fault(&self) -> bool {
        matches!(self, Error::Refused { .. } | Error::UnknownTicket { .. })
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        match &e {
            Error::Refused { .. } | Error::UnknownTicket { .. } => {
                info!(error = %e, "request refused");
                tonic::Status::invalid_argument(e.to_string())
            }
            Error::Lake(_)
            | Error::Bind { .. }
            | Error::Query { .. }
            | Error::Catalog { .. }
            | Error::Store { .. }
            | Error::Transport(_)
            | Error::Http(_)
            | Error::Encode(_) => {
                warn!(error = %e, "request failed");
                tonic::Status::internal(e.to_string())
            }
        }
    }
}

impl axum::response::IntoResponse for Error {
    fn into_response(self) -> axum::response::Response {
        let status = if self.is_client_fault() {
            info!(error = %self, "request refused");
            axum::http::StatusCode::BAD_REQUEST
        } else {
            warn!(error = %self, "request failed");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        };
        (status, axum::Json(serde_json::json!({ "error": self.to_string() }))).into_response()
    }
}
