//! The Livepeer Explorer's performance API: `/api/aggregated_stats`,
//! `/api/raw_stats`, `/api/regions`, `/api/pipelines`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::explorer::{self, PipelineList, RawStat, RegionList};
use crate::http::api;
use crate::http::served::answer;
use crate::http::{AppState, Params};
use crate::perf_stats::RegionScore;
use crate::{Error, now_ms};

/// Explorer leaderboard aggregated stats in [since, until)
///
/// `{orchestrator: {REGION: {score, success_rate, round_trip_score}}}`:
/// probe figures per observer region, the served SLA version's session
/// figures under the default region (see [`explorer`]).
#[utoipa::path(get, path = "/api/aggregated_stats", params(explorer::StatsQuery), responses(
    (status = 200, description = "stats", body = BTreeMap<String, BTreeMap<String, RegionScore>>,
        headers(("naap-rules" = String, description = "The rule versions the answer used, e.g. sla=1,uptime=1"))),
    (status = 400, response = api::BadRequest),
))]
pub(crate) async fn aggregated_stats(
    State(AppState { catalog, regions, .. }): State<AppState>,
    Params(q): Params<explorer::StatsQuery>,
) -> Result<Response, Error> {
    let body = explorer::aggregated_stats(&catalog, &regions, &q, now_ms()).await?;
    Ok(answer(catalog.served(), body))
}

/// Explorer leaderboard raw stats: one orchestrator's probes, newest first, by observer region
///
/// At most 10 000 probes; `{}` when there are none, or when `pipeline` is
/// given (probes are job-agnostic). See [`explorer`].
#[utoipa::path(get, path = "/api/raw_stats", params(explorer::StatsQuery), responses(
    (status = 200, description = "probes by region", body = BTreeMap<String, Vec<RawStat>>),
    (status = 400, response = api::BadRequest),
))]
pub(crate) async fn raw_stats(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<explorer::StatsQuery>,
) -> Result<Response, Error> {
    Ok(axum::Json(explorer::raw_stats(&catalog, &q, now_ms()).await?).into_response())
}

/// Explorer leaderboard regions
#[utoipa::path(get, path = "/api/regions", responses(
    (status = 200, description = "regions", body = RegionList),
))]
pub(crate) async fn explorer_regions(
    State(AppState { catalog, regions, .. }): State<AppState>,
) -> Result<Response, Error> {
    Ok(axum::Json(explorer::regions(&catalog, &regions).await?).into_response())
}

/// Explorer leaderboard pipelines and their models
#[utoipa::path(get, path = "/api/pipelines", responses(
    (status = 200, description = "pipelines", body = PipelineList),
))]
pub(crate) async fn explorer_pipelines(State(AppState { catalog, .. }): State<AppState>) -> Result<Response, Error> {
    Ok(axum::Json(explorer::pipelines(&catalog).await?).into_response())
}
