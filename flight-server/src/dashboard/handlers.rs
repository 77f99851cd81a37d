//! The dashboard's JSON: the overview, the orchestrator list and one
//! orchestrator's page.

use axum::extract::State;
use axum::response::Response;

use crate::Error;
use crate::dashboard::leaderboards::Leaderboards;
use crate::dashboard::{self, OrchestratorDetail, OrchestratorList, Overview};
use crate::http::api;
use crate::http::served::{RuleChoice, ScoredChoice, answer};
use crate::http::{AppState, Params};

/// Network overview: orchestrators seen, sessions, startup success, median score
#[utoipa::path(get, path = "/v1/overview", params(ScoredChoice), responses(
    (status = 200, description = "overview", body = Overview,
        headers(("naap-rules" = String, description = "The rule versions the answer used, e.g. sla=1,uptime=1"))),
    (status = 400, response = api::BadRequest),
))]
pub(crate) async fn overview(
    State(AppState { catalog, .. }): State<AppState>,
    Params(choice): Params<ScoredChoice>,
) -> Result<Response, Error> {
    let served = catalog.served_for(choice.rule.as_deref(), choice.version.as_deref())?;
    let rows = dashboard::orchestrators(&catalog, &served, choice.within.unwrap_or_default()).await?;
    Ok(answer(&served, dashboard::overview(&rows, &served)))
}

/// One row per orchestrator, best score first
///
/// See [`dashboard::OrchestratorRow`].
#[utoipa::path(get, path = "/v1/orchestrators", params(ScoredChoice), responses(
    (status = 200, description = "rows", body = OrchestratorList,
        headers(("naap-rules" = String, description = "The rule versions the answer used, e.g. sla=1,uptime=1"))),
    (status = 400, response = api::BadRequest),
))]
pub(crate) async fn orchestrators(
    State(AppState { catalog, .. }): State<AppState>,
    Params(choice): Params<ScoredChoice>,
) -> Result<Response, Error> {
    let served = catalog.served_for(choice.rule.as_deref(), choice.version.as_deref())?;
    let rows = dashboard::orchestrators(&catalog, &served, choice.within.unwrap_or_default()).await?;
    let list = OrchestratorList {
        orchestrators: rows,
        rules: dashboard::rule_versions(&served),
    };
    Ok(answer(&served, list))
}

/// One orchestrator: hourly SLA rows, hourly uptime, GPUs, advertised capabilities, regions
#[utoipa::path(get, path = "/v1/orchestrators/{address}",
    params(
        ("address" = String, Path, description = "The on-chain address", pattern = "^0[xX][0-9a-fA-F]{40}$"),
        RuleChoice,
    ),
    responses(
        (status = 200, description = "history", body = OrchestratorDetail,
            headers(("naap-rules" = String, description = "The rule versions the answer used, e.g. sla=1,uptime=1"))),
        (status = 400, response = api::BadRequest),
    ),
)]
pub(crate) async fn orchestrator(
    State(AppState { catalog, .. }): State<AppState>,
    axum::extract::Path(address): axum::extract::Path<String>,
    Params(choice): Params<RuleChoice>,
) -> Result<Response, Error> {
    let served = catalog.served_for(choice.rule.as_deref(), choice.version.as_deref())?;
    Ok(answer(
        &served,
        dashboard::orchestrator(&catalog, &address, &served).await?,
    ))
}

/// Leaderboards: the SLA per pipeline and model, the jobs rule per family, capability and model, node health
///
/// One table per rule and cohort, each orchestrator's newest scored hour
/// (within `within` of its rule version's newest hour), every row with its
/// orchestrator's GPU and regions (null or empty when unknown).
#[utoipa::path(get, path = "/v1/leaderboards", params(ScoredChoice), responses(
    (status = 200, description = "leaderboards", body = Leaderboards,
        headers(("naap-rules" = String, description = "The rule versions the answer used, e.g. sla=1,uptime=1"))),
    (status = 400, response = api::BadRequest),
))]
pub(crate) async fn leaderboards(
    State(AppState { catalog, .. }): State<AppState>,
    Params(choice): Params<ScoredChoice>,
) -> Result<Response, Error> {
    let served = catalog.served_for(choice.rule.as_deref(), choice.version.as_deref())?;
    let boards = dashboard::leaderboards::leaderboards(&catalog, &served, choice.within.unwrap_or_default()).await?;
    Ok(answer(&served, boards))
}
