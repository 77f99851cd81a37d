//! livepeer/naap's leaderboard route, in its own envelope:
//! `{success: true, data}` and `{success: false, error: {code, message}}`.
//! See [`crate::leaderboard`].

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::leaderboard::{self, RankRequest, Row};

/// The most of a request body this route reads.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// `{success: true, data: [...]}`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Ranked {
    success: bool,
    data: Vec<Row>,
}

/// `{success: false, error: {code, message}}`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Failure {
    success: bool,
    error: FailureDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct FailureDetail {
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
/// and adds `slaScore`. Each row's `naap` says what it rests on.
#[utoipa::path(post, path = "/api/v1/orchestrator-leaderboard/rank",
    request_body(content = serde_json::Value, description = "{capability, topN?, filters?, slaWeights?}",
        content_type = "application/json"),
    responses(
        (status = 200, description = "ranked rows", body = Ranked,
            headers(("Cache-Control" = String, description = "private, max-age=10"))),
        (status = 400, description = "VALIDATION_ERROR", body = Failure),
    ),
)]
pub(super) async fn rank(
    State(AppState { catalog, .. }): State<AppState>,
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
    match leaderboard::rank(&catalog, &request).await {
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
