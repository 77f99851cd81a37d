//! HTTP: the middleware (tokens, bounds, counters, query slots), the
//! routes that answer from memory (health, scores, the dashboard's files),
//! and the route table with its OpenAPI document ([`api`]). The routes
//! that query the lake live with their features (`requests/`,
//! `streaming/`, `naap_dashboard/`, `perf_stats/`, `router/`,
//! `explorer/`, `dashboard/`, `leaderboard/`, `discover/`, `backtests/`),
//! each in a `handlers.rs` beside its rows and queries; [`queried`] holds
//! the two that belong to none (rule versions, the quarantine), and
//! [`served`] what answers that depend on rule versions share.

pub(crate) mod api;
mod queried;
pub(crate) mod served;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::admission::Queries;
use crate::auth::Auth;
use crate::perf_stats::Regions;
use crate::snapshot::{ScoreFilter, ScoreRow, Snapshots};
use crate::{Catalog, Error, Reason};

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) regions: Arc<Regions>,
    snapshots: Arc<Snapshots>,
    companion: Option<Arc<dyn crate::Companion>>,
    /// `/openapi.json`, encoded once.
    openapi: bytes::Bytes,
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
/// Largest request body (only the leaderboard's POST reads one).
const MAX_BODY_BYTES: u64 = 64 * 1024;

/// What the HTTP API serves from: the query path, the gateways' region
/// map, tokens, the scores snapshot, and a pipeline beside it (if any).
pub(crate) struct Sources {
    pub(crate) queries: Queries,
    pub(crate) regions: Arc<Regions>,
    pub(crate) auth: Arc<Auth>,
    pub(crate) snapshots: Arc<Snapshots>,
    pub(crate) companion: Option<Arc<dyn crate::Companion>>,
}

/// Serves the HTTP API on `connections` until `shutdown` completes.
pub(crate) async fn serve(
    sources: Sources,
    connections: tokio::sync::mpsc::Receiver<crate::tls::Conn>,
    limits: naap_net::ConnLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let Sources {
        queries,
        regions,
        auth,
        snapshots,
        companion,
    } = sources;
    let routes = api::Routes::new();
    let openapi = match routes.document().to_pretty_json() {
        Ok(json) => bytes::Bytes::from(json),
        Err(e) => {
            tracing::error!(error = %e, "encoding the OpenAPI document");
            bytes::Bytes::from_static(b"{}")
        }
    };
    // Routes that query the lake run on the query threads, one slot each.
    let queried =
        axum::Router::from(routes.queried).route_layer(axum::middleware::from_fn_with_state(queries.clone(), admitted));
    let app = axum::Router::from(routes.plain)
        .merge(queried)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(AppState {
            catalog: Arc::clone(queries.catalog()),
            regions,
            snapshots: Arc::clone(&snapshots),
            companion,
            openapi,
        })
        .layer(axum::middleware::from_fn_with_state(auth, authorize))
        .layer(axum::middleware::from_fn_with_state(snapshots, crate::health::data_age))
        .layer(axum::middleware::from_fn(request_id))
        .layer(axum::middleware::from_fn(bounded_request))
        .layer(axum::middleware::from_fn(count));
    naap_net::serve_http(connections, app, limits, shutdown).await;
}

/// The HTTP API's OpenAPI 3.1 document, as `/openapi.json` answers it.
pub fn openapi() -> Result<String, serde_json::Error> {
    api::Routes::new().document().to_pretty_json()
}

/// The JSON error body of every non-2xx answer: a stable `reason` and a
/// sentence for people.
pub(crate) fn problem(status: StatusCode, reason: Reason, error: &str) -> Response {
    let body = api::Problem {
        reason,
        error: error.to_owned(),
    };
    (status, axum::Json(body)).into_response()
}

async fn not_found(uri: axum::http::Uri) -> Response {
    let path = uri.path().chars().take(200).collect::<String>();
    problem(
        StatusCode::NOT_FOUND,
        Reason::NotFound,
        &format!("no such path: {path}; see /openapi.json"),
    )
}

async fn method_not_allowed(method: axum::http::Method) -> Response {
    problem(
        StatusCode::METHOD_NOT_ALLOWED,
        Reason::MethodNotAllowed,
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
            Reason::UriTooLong,
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
            Reason::HeadersTooLarge,
            &format!("the request headers are {headers} bytes; at most {MAX_HEADER_BYTES}"),
        );
    }
    if axum::body::HttpBody::size_hint(request.body()).lower() > MAX_BODY_BYTES {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            Reason::TooLarge,
            &format!("the request body is larger than {MAX_BODY_BYTES} bytes, the most this server reads"),
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
    // The query threads are another runtime: the request's id goes along.
    let id = crate::requests::REQUEST_ID.try_with(String::clone).ok();
    let work = async move {
        match id {
            Some(id) => Ok(crate::requests::REQUEST_ID.scope(id, next.run(request)).await),
            None => Ok(next.run(request).await),
        }
    };
    match queries.run(work).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// Query parameters, refused as JSON (`bad_request`) when they do not parse.
pub(crate) struct Params<T>(pub(crate) T);

impl<T, S> axum::extract::FromRequestParts<S> for Params<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(pairs)
            .map(Params)
            .map_err(|e| Error::Refused {
                detail: parameter_error(&e.path().to_string(), &e.into_inner().to_string()),
            })
    }
}

/// A query-string error in HTTP's words: the parameter, and what was wrong
/// with it (never the deserializer's own framing).
fn parameter_error(path: &str, message: &str) -> String {
    let quoted = |m: &str, prefix: &str| {
        m.strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    if let Some(name) = quoted(message, "missing field `") {
        return format!("the query parameter {name} is required");
    }
    if let Some(name) = quoted(message, "duplicate field `") {
        return format!("the query parameter {name} is given more than once");
    }
    let what = message
        .replace("unknown variant", "unknown value")
        .replace("invalid type: string", "the value")
        .replace(", expected i64", " is not a whole number")
        .replace(", expected u64", " is not a whole number")
        .replace(", expected u32", " is not a whole number")
        .replace(", expected a boolean", " is not true or false");
    if path.is_empty() || path == "." {
        format!("query string: {what}")
    } else {
        format!("query parameter {path}: {what}")
    }
}

/// Liveness, and how fresh the answers are
///
/// `200` while the process serves; `status` is `degraded` while a pipeline
/// in the same process does not progress, and `lake` says when the data
/// served last changed (every answer's `X-Naap-Data-Age` header too).
#[utoipa::path(get, path = "/healthz", responses(
    (status = 200, description = "serving", body = crate::health::Health),
))]
async fn healthz(
    State(AppState {
        snapshots, companion, ..
    }): State<AppState>,
) -> Response {
    axum::Json(crate::health::report(&snapshots.get(), companion.as_deref())).into_response()
}

/// Runs the request with its `X-Request-Id` (printable, at most 128 bytes;
/// another is ignored), which the answers' `meta` echo.
async fn request_id(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let given = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= crate::requests::MAX_REQUEST_ID_BYTES)
        .filter(|v| v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned);
    match given {
        Some(id) => crate::requests::REQUEST_ID.scope(id, next.run(request)).await,
        None => next.run(request).await,
    }
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

/// The server's own metrics, Prometheus text format
#[utoipa::path(get, path = "/metrics", responses(
    (status = 200, description = "metrics", content_type = "text/plain; version=0.0.4", body = String),
))]
async fn metrics(
    State(AppState {
        snapshots, companion, ..
    }): State<AppState>,
) -> Response {
    let snapshot = snapshots.get();
    let mut text = crate::metrics::METRICS.render(&snapshot.version, snapshot.rows.len());
    text.push_str(&crate::health::metrics(&snapshot, companion.as_deref()));
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// This document
///
/// OpenAPI 3.1, generated from the handlers (see [`api`]).
#[utoipa::path(get, path = "/openapi.json", responses(
    (status = 200, description = "OpenAPI 3.1", body = serde_json::Value),
))]
async fn openapi_document(State(AppState { openapi, .. }): State<AppState>) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], openapi).into_response()
}

/// Latest score per orchestrator, rule and version, from the in-memory snapshot
///
/// Served from the in-memory snapshot (see [`crate::snapshot`]); the ETag
/// names the commit, so `If-None-Match` answers `304` until the next one.
#[utoipa::path(get, path = "/v1/scores",
    params(
        ScoreFilter,
        ("If-None-Match" = Option<String>, Header, description = "The ETag of an earlier answer"),
    ),
    responses(
        (status = 200, description = "rows; the ETag names the commit", body = [ScoreRow],
            headers(("ETag" = String, description = "The versions of the tables the rows come from"))),
        (status = 304, description = "unchanged since the ETag given"),
        (status = 400, response = api::BadRequest),
    ),
)]
async fn scores(
    State(AppState { snapshots, catalog, .. }): State<AppState>,
    headers: axum::http::HeaderMap,
    Params(filter): Params<ScoreFilter>,
) -> Result<Response, Error> {
    filter
        .check(catalog.rules())
        .map_err(|detail| Error::Refused { detail })?;
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

/// The dashboard's files, bundled in the binary: it works on a closed network.
const ASSETS: [(&str, &str, &str); 7] = [
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../assets/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/app.js"),
    ),
    (
        "charts.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/charts.js"),
    ),
    (
        "tables.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/tables.js"),
    ),
    (
        "orchestrator.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/orchestrator.js"),
    ),
    (
        "backtests.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/backtests.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/style.css"),
    ),
];

fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => ([(axum::http::header::CONTENT_TYPE, *kind)], *body).into_response(),
        None => problem(
            StatusCode::NOT_FOUND,
            Reason::NotFound,
            &format!("no such file: {name}"),
        ),
    }
}

/// The dashboard (HTML; its files are under /assets/)
#[utoipa::path(get, path = "/", responses(
    (status = 200, description = "page", content_type = "text/html", body = String),
))]
async fn dashboard_page() -> Response {
    asset("index.html")
}

/// The dashboard's files
#[utoipa::path(get, path = "/assets/{file}",
    params(("file" = String, Path, description = "index.html, app.js, charts.js, tables.js, orchestrator.js, backtests.js or style.css")),
    responses(
        (status = 200, description = "the file", content(
            (String = "text/html"), (String = "text/javascript"), (String = "text/css"))),
        (status = 404, response = api::NotFound),
    ),
)]
async fn dashboard_asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    asset(&file)
}
