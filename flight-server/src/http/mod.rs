//! HTTP: health, scores, the dashboard and its files; the routes that
//! query the lake are in [`queried`].

mod queried;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::admission::Queries;
use crate::auth::Auth;
use crate::perf_stats::Regions;
use crate::snapshot::{ScoreFilter, Snapshots};
use crate::{Catalog, Error};

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
        .route("/orch-perf-stats", get(queried::orch_perf_stats))
        .route("/v1/select", get(queried::select))
        .route("/v1/overview", get(queried::overview))
        .route("/v1/orchestrators", get(queried::orchestrators))
        .route("/v1/orchestrators/{address}", get(queried::orchestrator))
        .route("/v1/quarantine", get(queried::quarantine_summary))
        .route("/api/aggregated_stats", get(queried::aggregated_stats))
        .route("/api/raw_stats", get(queried::raw_stats))
        .route("/api/pipelines", get(queried::explorer_pipelines))
        .route("/v1/quarantine/recent", get(queried::quarantine_recent))
        .route("/orch-webhook", get(queried::orch_webhook))
        .route_layer(axum::middleware::from_fn_with_state(queries.clone(), admitted));
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/scores", get(scores))
        .route("/v1/rules", get(queried::rules))
        .route("/", get(dashboard_page))
        .route("/assets/{file}", get(dashboard_asset))
        .route("/api/regions", get(queried::explorer_regions))
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
        include_str!("../../assets/openapi.json"),
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

/// The dashboard's files, bundled in the binary: it works on a closed network.
const ASSETS: [(&str, &str, &str); 3] = [
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
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/style.css"),
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
