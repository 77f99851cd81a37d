//! How fresh this server's answers are, and whether what feeds them is
//! progressing: `/healthz`, the `X-Naap-Data-Age` header of every answer,
//! and what it reports of a pipeline running in the same process.
//!
//! The server never calls the pipeline; a process that runs both (`naap
//! demo`) hands the server a [`Companion`], a read-only view of the
//! pipeline's health. On its own, the server still knows when the lake's
//! newest version was committed.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

use crate::snapshot::{Snapshot, Snapshots};

/// What the server reports of a component running beside it.
pub trait Companion: Send + Sync + std::fmt::Debug {
    /// Why it is not progressing; `None` while it is.
    fn problem(&self) -> Option<String>;
    /// Its state for `/healthz`.
    fn health(&self) -> serde_json::Value;
    /// Its counters for `/metrics` (Prometheus text).
    fn metrics(&self) -> String;
}

/// The answer of `/healthz`: always `200` while the process serves.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`, or `degraded` while the pipeline beside it does not progress.
    status: &'static str,
    /// Why the status is `degraded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
    lake: LakeFreshness,
    /// The pipeline in this process (`naap demo`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pipeline: Option<serde_json::Value>,
}

/// When the data served last changed.
#[derive(Debug, Serialize, ToSchema)]
struct LakeFreshness {
    /// When the newest version of the tables behind the scores was
    /// committed (RFC 3339); null before the first commit.
    newest_commit: Option<String>,
    /// Seconds since then.
    age_seconds: Option<f64>,
}

pub(crate) fn report(snapshot: &Snapshot, companion: Option<&dyn Companion>) -> Health {
    let problem = companion.and_then(|c| c.problem());
    Health {
        status: if problem.is_some() { "degraded" } else { "ok" },
        problem,
        lake: LakeFreshness {
            newest_commit: snapshot.committed_at_ms.map(crate::requests::rfc3339),
            age_seconds: age_seconds(snapshot),
        },
        pipeline: companion.map(|c| c.health()),
    }
}

fn age_seconds(snapshot: &Snapshot) -> Option<f64> {
    snapshot
        .committed_at_ms
        .map(|at| (crate::now_ms() - at).max(0) as f64 / 1000.0)
}

/// Every answer says how old the data behind it may be: seconds since the
/// lake's newest commit (`X-Naap-Data-Age`), absent before the first.
pub(crate) async fn data_age(
    State(snapshots): State<Arc<Snapshots>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    if let Some(age) = age_seconds(&snapshots.get())
        && let Ok(value) = HeaderValue::from_str(&format!("{}", age.round() as i64))
    {
        response.headers_mut().insert("x-naap-data-age", value);
    }
    response
}

/// The `/metrics` lines of freshness, and the companion's own.
pub(crate) fn metrics(snapshot: &Snapshot, companion: Option<&dyn Companion>) -> String {
    let mut out = String::new();
    if let Some(at) = snapshot.committed_at_ms {
        out.push_str(&format!(
            "# HELP naap_lake_newest_commit_timestamp_seconds When the newest version of the tables behind the scores was committed.\n\
             # TYPE naap_lake_newest_commit_timestamp_seconds gauge\n\
             naap_lake_newest_commit_timestamp_seconds {}\n",
            at as f64 / 1000.0
        ));
    }
    if let Some(c) = companion {
        out.push_str(&c.metrics());
    }
    out
}
