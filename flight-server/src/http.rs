//! HTTP: health and scores as JSON.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::admission::Queries;
use crate::auth::{self, Auth, Role};
use crate::perf_stats::{self, Regions};
use crate::snapshot::{ScoreFilter, Snapshots};
use crate::{Catalog, Error};
use crate::{dashboard, explorer, router};

#[derive(Clone)]
struct AppState {
    catalog: Arc<Catalog>,
    regions: Arc<Regions>,
    snapshots: Arc<Snapshots>,
}

/// Resolves the request's role from `Authorization` (see [`crate::auth`]),
/// refusing it when the token is missing where one is needed, or wrong.
async fn authorize(
    State(auth): State<Arc<Auth>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let header = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned());
    match auth.role(header.as_deref()) {
        Ok(role) => {
            request.extensions_mut().insert(role);
            next.run(request).await
        }
        Err(denied) => Error::from(denied).into_response(),
    }
}

/// Longest request target (path and query) read, in bytes.
const MAX_URI_BYTES: usize = 8 * 1024;
/// Most bytes of request headers read.
const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Largest request body: every route is a GET, so none is ever read.
const MAX_BODY_BYTES: u64 = 64 * 1024;

/// Serves the HTTP API on `connections` until `shutdown` completes.
pub(crate) async fn serve(
    queries: Queries,
    regions: Arc<Regions>,
    auth: Arc<Auth>,
    snapshots: Arc<Snapshots>,
    connections: tokio::sync::mpsc::Receiver<crate::tls::Conn>,
    limits: naap_net::ConnLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    // Routes that query the lake run on the query threads, one slot each.
    let queried = Router::new()
        .route("/orch-perf-stats", get(orch_perf_stats))
        .route("/v1/select", get(select))
        .route("/v1/overview", get(overview))
        .route("/v1/orchestrators", get(orchestrators))
        .route("/v1/orchestrators/{address}", get(orchestrator))
        .route("/v1/quarantine", get(quarantine_summary))
        .route("/api/aggregated_stats", get(aggregated_stats))
        .route("/api/raw_stats", get(raw_stats))
        .route("/api/pipelines", get(explorer_pipelines))
        .route("/v1/quarantine/recent", get(quarantine_recent))
        .route("/orch-webhook", get(orch_webhook))
        .route_layer(axum::middleware::from_fn_with_state(queries.clone(), admitted));
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/scores", get(scores))
        .route("/", get(dashboard_page))
        .route("/assets/{file}", get(dashboard_asset))
        .route("/api/regions", get(explorer_regions))
        .merge(queried)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(AppState {
            catalog: Arc::clone(queries.catalog()),
            regions,
            snapshots,
        })
        .layer(axum::middleware::from_fn_with_state(auth, authorize))
        .layer(axum::middleware::from_fn(bounded_request))
        .layer(axum::middleware::from_fn(count));
    naap_net::serve_http(connections, app, limits, shutdown).await;
}

/// The JSON error body of every non-2xx answer: a stable `reason` and a
/// sentence for people.
pub(crate) fn problem(status: StatusCode, reason: &str, error: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "reason": reason, "error": error })),
    )
        .into_response()
}

async fn not_found(uri: axum::http::Uri) -> Response {
    let path = uri.path().chars().take(200).collect::<String>();
    problem(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("no such path: {path}; see /openapi.json"),
    )
}

async fn method_not_allowed(method: axum::http::Method) -> Response {
    problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("{method} is not served here; this API is read-only (GET)"),
    )
}

/// Refuses what no route reads before it is routed: a request target,
/// headers or a body larger than this server takes.
async fn bounded_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let target = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return problem(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            &format!("the request target is {target} bytes; at most {MAX_URI_BYTES}"),
        );
    }
    let headers: usize = request
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if headers > MAX_HEADER_BYTES {
        return problem(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            &format!("the request headers are {headers} bytes; at most {MAX_HEADER_BYTES}"),
        );
    }
    if axum::body::HttpBody::size_hint(request.body()).lower() > MAX_BODY_BYTES {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            &format!("the request body is larger than {MAX_BODY_BYTES} bytes; no route reads one"),
        );
    }
    next.run(request).await
}

/// Runs a query-running route in a slot on the query threads, within the
/// query deadline (see [`Queries::run`]).
async fn admitted(
    State(queries): State<Queries>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match queries.run(async move { Ok(next.run(request).await) }).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// Query parameters, refused as JSON (`bad_request`) when they do not parse.
struct Params<T>(T);

impl<T, S> axum::extract::FromRequestParts<S> for Params<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Params(value)),
            Err(rejection) => Err(Error::Refused {
                detail: rejection.body_text(),
            }),
        }
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Counts every request by its route template and status.
async fn count(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    crate::metrics::METRICS.http_request(&route, response.status().as_u16());
    response
}

async fn metrics(State(AppState { snapshots, .. }): State<AppState>) -> Response {
    let snapshot = snapshots.get();
    let text = crate::metrics::METRICS.render(&snapshot.version, snapshot.rows.len());
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// The OpenAPI 3.1 document of this API (written by hand, checked by a test).
async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!("../assets/openapi.json"),
    )
        .into_response()
}

/// Latest score per orchestrator and rule version, as a JSON array of rows.
/// Served from the in-memory snapshot (see [`crate::snapshot`]); the ETag
/// names the commit, so `If-None-Match` answers `304` until the next one.
async fn scores(
    State(AppState { snapshots, .. }): State<AppState>,
    headers: axum::http::HeaderMap,
    Params(filter): Params<ScoreFilter>,
) -> Result<Response, Error> {
    let snapshot = snapshots.get();
    let etag = format!("\"{}\"", snapshot.version);
    let etag_value =
        axum::http::HeaderValue::from_str(&etag).unwrap_or(axum::http::HeaderValue::from_static("\"none\""));
    let unchanged = headers
        .get(axum::http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if unchanged {
        return Ok((
            axum::http::StatusCode::NOT_MODIFIED,
            [(axum::http::header::ETAG, etag_value)],
        )
            .into_response());
    }
    let headers = [
        (axum::http::header::ETAG, etag_value),
        (
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        ),
    ];
    if filter == ScoreFilter::default() {
        return Ok((headers, snapshot.json.clone()).into_response());
    }
    let rows = snapshot.rows(&filter.normalized());
    let body = serde_json::to_vec(&rows).map_err(|e| Error::Refused {
        detail: format!("encoding scores: {e}"),
    })?;
    Ok((headers, body).into_response())
}

#[derive(Debug, serde::Deserialize)]
struct PerfStatsQuery {
    #[serde(default = "default_rule")]
    rule: String,
    #[serde(default = "default_version")]
    version: u32,
}

fn default_rule() -> String {
    "sla".into()
}

fn default_version() -> u32 {
    1
}

/// go-livepeer's `-orchPerfStatsUrl` feed (see [`perf_stats`]).
async fn orch_perf_stats(
    State(AppState { catalog, regions, .. }): State<AppState>,
    Params(q): Params<PerfStatsQuery>,
) -> Result<Response, Error> {
    let body = perf_stats::feed(&catalog, &regions, &q.rule, q.version).await?;
    Ok(axum::Json(body).into_response())
}

/// The reference router (see [`crate::router`]).
async fn select(
    State(AppState { catalog, regions, .. }): State<AppState>,
    Params(params): Params<router::SelectParams>,
) -> Result<Response, Error> {
    let selection = router::answer(&catalog, &regions, &params, 3).await?;
    Ok(axum::Json(selection).into_response())
}

/// go-livepeer's `-orchWebhookUrl` discovery feed: the router's order for
/// a region, pipeline and model as `[{"address": "<service URI>"}]`. The
/// hour the scores come from is in the `X-Naap-Window` header.
async fn orch_webhook(
    State(AppState { catalog, regions, .. }): State<AppState>,
    Params(params): Params<router::SelectParams>,
) -> Result<Response, Error> {
    let selection = router::answer(&catalog, &regions, &params, 10).await?;
    let body: Vec<serde_json::Value> = selection
        .choices
        .iter()
        .map(|c| serde_json::json!({ "address": c.candidate.uri }))
        .collect();
    let window = selection.window_start.unwrap_or_else(|| "none".into());
    Ok((
        [(
            axum::http::HeaderName::from_static("x-naap-window"),
            axum::http::HeaderValue::from_str(&window).unwrap_or(axum::http::HeaderValue::from_static("none")),
        )],
        axum::Json(body),
    )
        .into_response())
}

/// The dashboard's files, bundled in the binary: it works on a closed network.
const ASSETS: [(&str, &str, &str); 3] = [
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../assets/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../assets/style.css"),
    ),
];

fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => ([(axum::http::header::CONTENT_TYPE, *kind)], *body).into_response(),
        None => problem(StatusCode::NOT_FOUND, "not_found", &format!("no such file: {name}")),
    }
}

async fn dashboard_page() -> Response {
    asset("index.html")
}

async fn dashboard_asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    asset(&file)
}

/// Network overview: orchestrators seen, sessions, startup success, median score.
async fn overview(State(AppState { catalog, .. }): State<AppState>) -> Result<Response, Error> {
    let rows = dashboard::orchestrators(&catalog).await?;
    Ok(axum::Json(dashboard::overview(&rows)).into_response())
}

/// One row per orchestrator (see [`dashboard::OrchestratorRow`]).
async fn orchestrators(State(AppState { catalog, .. }): State<AppState>) -> Result<Response, Error> {
    let rows = dashboard::orchestrators(&catalog).await?;
    Ok(axum::Json(serde_json::json!({ "orchestrators": rows })).into_response())
}

/// One orchestrator's hourly history, GPUs and regions.
async fn orchestrator(
    State(AppState { catalog, .. }): State<AppState>,
    axum::extract::Path(address): axum::extract::Path<String>,
) -> Result<Response, Error> {
    Ok(axum::Json(dashboard::orchestrator(&catalog, &address).await?).into_response())
}

/// Quarantined messages by source and reason: what producers get wrong.
async fn quarantine_summary(State(AppState { catalog, .. }): State<AppState>) -> Result<Response, Error> {
    if !catalog.table_names().await?.iter().any(|t| t == "quarantine") {
        return Ok(axum::Json(serde_json::json!({ "quarantined": 0, "by_reason": [] })).into_response());
    }
    let batches = catalog
        .collect_as(Role::Admin, "SELECT source, reason, count(*) AS messages FROM quarantine GROUP BY source, reason ORDER BY source, reason", None)
        .await?;
    let rows = crate::cells::objects(&batches);
    let total: i64 = rows.iter().filter_map(|r| r["messages"].as_i64()).sum();
    Ok(axum::Json(serde_json::json!({ "quarantined": total, "by_reason": rows })).into_response())
}

/// The newest quarantined messages with their detail (admin only: the
/// detail and payload are whatever a producer sent).
async fn quarantine_recent(
    State(AppState { catalog, .. }): State<AppState>,
    axum::Extension(role): axum::Extension<Role>,
) -> Result<Response, Error> {
    auth::admin(role)?;
    if !catalog.table_names().await?.iter().any(|t| t == "quarantine") {
        return Ok(axum::Json(serde_json::json!([])).into_response());
    }
    let batches = catalog
        .collect_as(Role::Admin, "SELECT source, source_partition, source_offset, reason, detail FROM quarantine ORDER BY source, source_partition, source_offset DESC LIMIT 100", None)
        .await?;
    Ok(axum::Json(crate::cells::objects(&batches)).into_response())
}

/// The Explorer leaderboard's `/api/aggregated_stats` (see [`explorer`]).
async fn aggregated_stats(
    State(AppState { catalog, regions, .. }): State<AppState>,
    Params(q): Params<explorer::StatsQuery>,
) -> Result<Response, Error> {
    Ok(axum::Json(explorer::aggregated_stats(&catalog, &regions, &q, now_ms()).await?).into_response())
}

/// The Explorer leaderboard's `/api/raw_stats` (see [`explorer`]).
async fn raw_stats(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<explorer::StatsQuery>,
) -> Result<Response, Error> {
    Ok(axum::Json(explorer::raw_stats(&catalog, &q, now_ms()).await?).into_response())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

async fn explorer_regions(State(AppState { regions, .. }): State<AppState>) -> Response {
    axum::Json(explorer::regions(&regions)).into_response()
}

async fn explorer_pipelines(State(AppState { catalog, .. }): State<AppState>) -> Result<Response, Error> {
    Ok(axum::Json(explorer::pipelines(&catalog).await?).into_response())
}
