//! The feeds go-livepeer gateways poll: `-orchPerfStatsUrl`
//! (`/orch-perf-stats`) and `-orchWebhookUrl` (`/orch-webhook`, the
//! router's order as service URIs).

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::Error;
use crate::http::api;
use crate::http::served::answer;
use crate::http::{AppState, Params};
use crate::perf_stats::{self, RegionScore};
use crate::router;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PerfStatsQuery {
    /// The rule whose scores to serve
    #[serde(default = "default_rule")]
    #[param(default = "sla")]
    rule: String,
    /// Default: the version the server serves
    #[param(minimum = 1)]
    version: Option<u32>,
    /// How far back from the rule's newest window an orchestrator's own
    /// newest scored window still counts: 90m, 2h, 7d (1m to 7d)
    #[param(value_type = Option<String>, default = "2h", example = "2h")]
    within: Option<crate::Within>,
}

fn default_rule() -> String {
    "sla".into()
}

/// go-livepeer -orchPerfStatsUrl feed: {orchestrator: {region: {score, success_rate, round_trip_score}}}
///
/// See [`perf_stats`].
#[utoipa::path(get, path = "/orch-perf-stats", params(PerfStatsQuery), responses(
    (status = 200, description = "scores by orchestrator and region", body = BTreeMap<String, BTreeMap<String, RegionScore>>,
        headers(("naap-rules" = String, description = "The rule versions the answer used, e.g. sla=1,uptime=1"))),
    (status = 400, response = api::BadRequest),
))]
pub(crate) async fn orch_perf_stats(
    State(AppState { catalog, regions, .. }): State<AppState>,
    Params(q): Params<PerfStatsQuery>,
) -> Result<Response, Error> {
    let served = match q.version {
        Some(version) => catalog.served_for(Some(&q.rule), Some(&version.to_string()))?,
        None => catalog.served().clone(),
    };
    let Some(version) = served.version(&q.rule) else {
        return Err(Error::Refused {
            detail: format!("rule: no rule named {:?}", q.rule),
        });
    };
    let within = q.within.unwrap_or_default();
    let body = perf_stats::feed(&catalog, &regions, &q.rule, version, within).await?;
    Ok(answer(&served, body))
}

/// One entry of the webhook discovery feed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookEntry {
    /// The orchestrator's service URI.
    address: String,
}

/// go-livepeer -orchWebhookUrl discovery feed: the router's order as service URIs
///
/// The router's order for a region, pipeline and model as
/// `[{"address": "<service URI>"}]`. The hour the scores come from is in
/// the `X-Naap-Window` header.
#[utoipa::path(get, path = "/orch-webhook", params(router::SelectParams), responses(
    (status = 200, description = "pool", body = [WebhookEntry], headers(
        ("X-Naap-Window" = String, description = "Start of the sealed hour the scores come from, or none"),
        ("naap-rules" = String, description = "The rule versions the answer used, e.g. sla=1,uptime=1"))),
    (status = 400, response = api::BadRequest),
))]
pub(crate) async fn orch_webhook(
    State(AppState { catalog, regions, .. }): State<AppState>,
    Params(params): Params<router::SelectParams>,
) -> Result<Response, Error> {
    let selection = router::answer(&catalog, &regions, &params, 10).await?;
    let body: Vec<WebhookEntry> = selection
        .choices
        .into_iter()
        .map(|c| WebhookEntry {
            address: c.candidate.uri,
        })
        .collect();
    let window = selection.window_start.unwrap_or_else(|| "none".into());
    let window = HeaderValue::from_str(&window).unwrap_or(HeaderValue::from_static("none"));
    Ok((
        [(HeaderName::from_static("x-naap-window"), window)],
        answer(catalog.served(), body),
    )
        .into_response())
}
