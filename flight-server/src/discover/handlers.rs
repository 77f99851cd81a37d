//! `/v1/discover/orchestrators`, with NaaP's repeatable `caps`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::http::AppState;

/// NaaP's orchestrator discovery: one row per (orchestrator, pipeline), scored 0..1
///
/// Orchestrators advertised in the 30 minutes before the lake's newest
/// capability snapshot; `score` from the served SLA version (live video)
/// or jobs rule (AI batch, BYOC) over the hours within `within` (2 h) of
/// each rule's newest hour, 0 with `recent_work` false without one. `caps`
/// (repeatable, `pipeline/model`) keeps rows offering any of them. See
/// [`crate::discover`].
#[utoipa::path(get, path = "/v1/discover/orchestrators",
    params(
        ("caps" = Option<Vec<String>>, Query, description = "pipeline/model; repeatable, any of them"),
        ("within" = Option<String>, Query, description = "90m, 2h, 7d (1m to 7d); default 2h"),
    ),
    responses(
        (status = 200, description = "rows, best first", body = [crate::discover::Discovered]),
        (status = 400, response = crate::http::api::BadRequest),
    ),
)]
pub(crate) async fn discover(
    State(AppState { catalog, .. }): State<AppState>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Response, crate::Error> {
    let mut caps: Vec<String> = Vec::new();
    let mut within = crate::Within::DEFAULT;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "caps" if !value.trim().is_empty() => caps.push(value.trim().to_owned()),
            "within" => {
                within = crate::Within::parse(&value).map_err(|e| crate::Error::Refused {
                    detail: format!("query parameter within: {e}"),
                })?
            }
            _ => {}
        }
    }
    Ok(axum::Json(crate::discover::orchestrators(&catalog, &caps, within).await?).into_response())
}
