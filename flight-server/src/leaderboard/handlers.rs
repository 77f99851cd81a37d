//! livepeer/naap's leaderboard route, in its own envelope:
//! `{success: true, data}` and `{success: false, error: {code, message}}`.
//! See [`crate::leaderboard`].

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::AppState;
use crate::leaderboard::{self, RankRequest, Row};

/// The most of a request body this route reads.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// `{success: true, data: [...]}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Ranked {
    success: bool,
    data: Vec<Row>,
}

/// `{success: false, error: {code, message}}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Failure {
    success: bool,
    error: FailureDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FailureDetail {
    /// VALIDATION_ERROR, SERVICE_UNAVAILABLE, GATEWAY_TIMEOUT, UNAUTHORIZED, INTERNAL_ERROR
    code: String,
    message: String,
}

fn failure(status: StatusCode, message: String) -> Response {
    let code = match status {
        StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => "VALIDATION_ERROR",
        StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
        StatusCode::FORBIDDEN => "FORBIDDEN",
        StatusCode::SERVICE_UNAVAILABLE => "SERVICE_UNAVAILABLE",
        StatusCode::GATEWAY_TIMEOUT => "GATEWAY_TIMEOUT",
        _ => "INTERNAL_ERROR",
    };
    let body = Failure {
        success: false,
        error: FailureDetail {
            code: code.into(),
            message,
        },
    };
    (status, axum::Json(body)).into_response()
}

/// Orchestrators offering a capability, filtered and ranked (livepeer/naap's leaderboard)
///
/// The request and answer of livepeer/naap's orchestrator-leaderboard
/// plugin. `capability` is a model (`streamdiffusion-sdxl`, or
/// `pipeline/model`); `topN` 1 to 1000 (10); `filters` {gpuRamGbMin,
/// gpuRamGbMax, priceMax, maxAvgLatencyMs, maxSwapRatio}; `slaWeights`
/// {latency, swapRate, price} (over 0.4/0.3/0.3, normalised) ranks the rows
/// and adds `slaScore`; naap's `sla` and `jobs` weights (0 unless given)
/// add the served SLA score and the jobs rule's score. Each row's `naap`
/// says what it rests on, those two scores included. naap's `region` takes
/// the latency figures from that region's gateways only (`--region-map`).
#[utoipa::path(post, path = "/api/v1/orchestrator-leaderboard/rank",
    request_body(content = serde_json::Value, description = "{capability, topN?, filters?, slaWeights?, region?}",
        content_type = "application/json"),
    responses(
        (status = 200, description = "ranked rows", body = Ranked,
            headers(("Cache-Control" = String, description = "private, max-age=10"))),
        (status = 400, description = "VALIDATION_ERROR", body = Failure),
    ),
)]
pub(crate) async fn rank(
    State(AppState { catalog, regions, .. }): State<AppState>,
    request: axum::extract::Request,
) -> Response {
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return failure(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
            );
        }
    };
    let request = match RankRequest::parse(&body) {
        Ok(request) => request,
        Err(refusal) => return failure(StatusCode::BAD_REQUEST, refusal.0),
    };
    match leaderboard::rank(&catalog, &regions, &request).await {
        Ok(data) => (
            [(header::CACHE_CONTROL, "private, max-age=10")],
            axum::Json(Ranked { success: true, data }),
        )
            .into_response(),
        Err(e) => {
            let message = e.to_string();
            failure(e.into_response().status(), message)
        }
    }
}

/// The list python-gateway reads when no capability is named.
const DEFAULT_CAPABILITY: &str = "noop";
const DEFAULT_GATEWAY_TOP_N: usize = 100;
const MAX_GATEWAY_TOP_N: usize = 1000;
/// The most distinct capabilities one python-gateway request may name.
const MAX_GATEWAY_CAPS: usize = 32;

/// python-gateway's orchestrator list: `[{"address": "<service URI>"}]`
///
/// livepeer/naap's `python-gateway` discovery: `caps` (repeatable,
/// `pipeline/model` or a model; OR; at most 32) or else `capability` or `model`, else
/// `noop`; `topN` 1 to 1000 (100; other values fall back to it). The
/// service URIs offering them with a free slot, ranked as `/orch-webhook`
/// ranks for go-livepeer gateways (the reference router: the served score,
/// price and latency; the unscored after the scored), repeats dropped,
/// shuffled within five tiers so gateways spread their load without
/// preferring a lower tier.
#[utoipa::path(get, path = "/api/v1/orchestrator-leaderboard/python-gateway",
    params(
        ("caps" = Option<Vec<String>>, Query, description = "pipeline/model or model; repeatable, at most 32 distinct"),
        ("capability" = Option<String>, Query, description = "without caps: the model"),
        ("model" = Option<String>, Query, description = "without caps or capability: the model"),
        ("topN" = Option<u32>, Query, description = "1 to 1000; default 100"),
    ),
    responses(
        (status = 200, description = "service URIs, best tiers first", body = [GatewayEntry],
            headers(("X-Discovery-Mode" = String, description = "default"))),
        (status = 400, description = "a capability that is not one", body = Failure),
    ),
)]
pub(crate) async fn python_gateway(
    State(AppState { catalog, .. }): State<AppState>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.trim().to_owned()))
        .collect();
    let first = |key: &str| {
        pairs
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    let mut capabilities: Vec<String> = Vec::new();
    for (_, value) in pairs.iter().filter(|(k, v)| k == "caps" && !v.is_empty()) {
        let model = value.rsplit('/').next().unwrap_or(value).trim().to_owned();
        if !capabilities.contains(&model) {
            // Each capability reads the hour of snapshots: a bound keeps
            // one request from asking for thousands.
            if capabilities.len() == MAX_GATEWAY_CAPS {
                return failure(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "caps names more than {MAX_GATEWAY_CAPS} capabilities; at most {MAX_GATEWAY_CAPS} per request"
                    ),
                );
            }
            capabilities.push(model);
        }
    }
    if capabilities.is_empty() {
        capabilities.push(
            first("capability")
                .or_else(|| first("model"))
                .unwrap_or_else(|| DEFAULT_CAPABILITY.into()),
        );
    }
    for capability in &capabilities {
        let body = serde_json::json!({ "capability": capability }).to_string();
        if let Err(refusal) = RankRequest::parse(body.as_bytes()) {
            return failure(StatusCode::BAD_REQUEST, refusal.0);
        }
    }
    let top_n = first("topN")
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| (1..=MAX_GATEWAY_TOP_N).contains(n))
        .unwrap_or(DEFAULT_GATEWAY_TOP_N);
    match leaderboard::gateway_list(&catalog, &capabilities, top_n).await {
        Ok(uris) => (
            [
                (header::CACHE_CONTROL, "private, no-store, must-revalidate"),
                (header::HeaderName::from_static("x-discovery-mode"), "default"),
            ],
            axum::Json(
                uris.into_iter()
                    .map(|address| GatewayEntry { address })
                    .collect::<Vec<_>>(),
            ),
        )
            .into_response(),
        Err(e) => {
            let message = e.to_string();
            failure(e.into_response().status(), message)
        }
    }
}

/// One orchestrator python-gateway may dial.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GatewayEntry {
    /// Its service URI.
    address: String,
}
