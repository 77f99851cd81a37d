//! HTTP: health and scores as JSON.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::{Catalog, Error, Result};

pub(crate) async fn serve(
    catalog: Arc<Catalog>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/scores", get(scores))
        .with_state(catalog);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::Http)
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Latest score per orchestrator and rule version, as a JSON array of rows.
async fn scores(State(catalog): State<Arc<Catalog>>) -> Result<Response, Error> {
    let tables = catalog.table_names().await?;
    if !tables.iter().any(|t| t == "scores") {
        return Ok(axum::Json(serde_json::json!([])).into_response());
    }
    let batches = catalog
        .query("SELECT * FROM scores ORDER BY orchestrator, rule, rule_version")
        .await?;
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    for b in &batches {
        writer.write(b)?;
    }
    writer.finish()?;
    let mut body = writer.into_inner();
    if body.is_empty() {
        body = b"[]".to_vec();
    }
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
}
