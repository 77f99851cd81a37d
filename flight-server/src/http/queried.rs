//! The routes that query the lake: feeds for gateways (perf stats, router,
//! webhook), the Explorer API, and the dashboard's JSON.
//!
//! Every answer that depends on a rule version says which it used: in its
//! JSON where the shape has room, and always in the `naap-rules` header
//! (`sla=1,uptime=1`), since some shapes (the perf-stats feed, the
//! Explorer's maps) are fixed by the clients that read them.

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use naap_sql::{Served, serving, tables};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{AppState, Params, api};
use crate::auth::{self, Role};
use crate::dashboard::{OrchestratorDetail, OrchestratorList, Overview};
use crate::explorer::{PipelineList, RawStat, RegionList};
use crate::perf_stats::RegionScore;
use crate::router::Selection;
use crate::{Error, cells, dashboard, explorer, now_ms, perf_stats, router};

/// The header naming the rule versions an answer used.
const RULES_HEADER: HeaderName = HeaderName::from_static("naap-rules");

/// `body` as JSON, with the `naap-rules` header of `served`.
fn answer(served: &Served, body: impl serde::Serialize) -> Response {
    let rules = HeaderValue::from_str(&served.to_string()).unwrap_or(HeaderValue::from_static("none"));
    ([(RULES_HEADER, rules)], axum::Json(body)).into_response()
}

/// A request's choice of rule version (`?rule=sla&version=2`); without
/// one, the server's (`naap serve --rule`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct RuleChoice {
    /// With version: serve this rule's version instead of the server's
    #[param(example = "sla")]
    rule: Option<String>,
    /// With rule: the version to serve
    #[param(value_type = Option<u32>, minimum = 1)]
    version: Option<String>,
}

/// A rule choice, and how far back an orchestrator's newest scored hour
/// still counts (`?within=2h`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ScoredChoice {
    /// With version: serve this rule's version instead of the server's
    #[param(example = "sla")]
    rule: Option<String>,
    /// With rule: the version to serve
    #[param(value_type = Option<u32>, minimum = 1)]
    version: Option<String>,
    /// How far back from the SLA's newest hour an orchestrator's own newest
    /// scored hour still counts: 90m, 2h, 7d (1m to 7d)
    #[param(value_type = Option<String>, default = "2h", example = "2h")]
    within: Option<crate::Within>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PerfStatsQuery {
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
pub(super) async fn orch_perf_stats(
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

/// The reference router: orchestrators to try for a pipeline and model from a region
///
/// See [`crate::router`].
#[utoipa::path(get, path = "/v1/select", params(router::SelectParams), responses(
    (status = 200, description = "selection", body = Selection,
        headers(("naap-rules" = String, description = "The rule versions the answer used, e.g. sla=1,uptime=1"))),
    (status = 400, response = api::BadRequest),
))]
pub(super) async fn select(
    State(AppState { catalog, regions, .. }): State<AppState>,
    Params(params): Params<router::SelectParams>,
) -> Result<Response, Error> {
    let selection = router::answer(&catalog, &regions, &params, 3).await?;
    Ok(answer(catalog.served(), selection))
}

/// One entry of the webhook discovery feed.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct WebhookEntry {
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
pub(super) async fn orch_webhook(
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

/// One rule version this server knows.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RuleEntry {
    rule: String,
    version: u32,
    /// Whether this is the version the server serves of its rule.
    served: bool,
    /// The lake table the rule writes.
    output: String,
    /// The rule's SQL file.
    file: String,
    description: String,
}

/// The answer of `/v1/rules`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RuleList {
    rules: Vec<RuleEntry>,
}

/// The rule versions this server knows, and which of each it serves
///
/// With each version's description: what the dashboard's version picker lists.
#[utoipa::path(get, path = "/v1/rules", responses(
    (status = 200, description = "rule versions", body = RuleList,
        headers(("naap-rules" = String, description = "The rule versions the answer used, e.g. sla=1,uptime=1"))),
))]
pub(super) async fn rules(State(AppState { catalog, .. }): State<AppState>) -> Response {
    let served = catalog.served();
    let rules = catalog
        .rules()
        .all()
        .iter()
        .map(|r| RuleEntry {
            rule: r.header.name.clone(),
            version: r.header.version,
            served: served.version(&r.header.name) == Some(r.header.version),
            output: r.header.output.clone(),
            file: r.file.to_owned(),
            description: r.header.description.clone(),
        })
        .collect();
    answer(served, RuleList { rules })
}

/// Network overview: orchestrators seen, sessions, startup success, median score
#[utoipa::path(get, path = "/v1/overview", params(ScoredChoice), responses(
    (status = 200, description = "overview", body = Overview,
        headers(("naap-rules" = String, description = "The rule versions the answer used, e.g. sla=1,uptime=1"))),
    (status = 400, response = api::BadRequest),
))]
pub(super) async fn overview(
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
pub(super) async fn orchestrators(
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
pub(super) async fn orchestrator(
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

/// Whether the lake has a quarantine table yet.
async fn has_quarantine(catalog: &crate::Catalog) -> Result<bool, Error> {
    Ok(catalog
        .table_names()
        .await?
        .iter()
        .any(|t| t == tables::QUARANTINE.name))
}

/// How many messages one source had quarantined for one reason.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(super) struct ReasonCount {
    source: String,
    reason: String,
    messages: i64,
}

/// The answer of `/v1/quarantine`.
#[derive(Debug, Default, Serialize, ToSchema)]
pub(super) struct QuarantineSummary {
    quarantined: i64,
    by_reason: Vec<ReasonCount>,
}

/// One quarantined message.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(super) struct QuarantinedMessage {
    /// The topic or file it came from.
    source: String,
    source_partition: Option<i64>,
    source_offset: Option<i64>,
    reason: String,
    /// What was wrong with it, and what it held.
    detail: Option<String>,
}

/// Quarantined messages by source and reason
///
/// What producers get wrong.
#[utoipa::path(get, path = "/v1/quarantine", responses(
    (status = 200, description = "summary", body = QuarantineSummary),
))]
pub(super) async fn quarantine_summary(State(AppState { catalog, .. }): State<AppState>) -> Result<Response, Error> {
    if !has_quarantine(&catalog).await? {
        return Ok(axum::Json(QuarantineSummary::default()).into_response());
    }
    let batches = catalog.serve(serving::QUARANTINE_SUMMARY, Vec::new()).await?;
    let by_reason: Vec<ReasonCount> = cells::typed(serving::QUARANTINE_SUMMARY, &batches)?;
    let quarantined = by_reason.iter().map(|r| r.messages).sum();
    Ok(axum::Json(QuarantineSummary { quarantined, by_reason }).into_response())
}

/// The newest quarantined messages with their detail (admin token)
///
/// Admin only: the detail and payload are whatever a producer sent.
#[utoipa::path(get, path = "/v1/quarantine/recent", security(("bearer" = [])), responses(
    (status = 200, description = "messages, newest first", body = [QuarantinedMessage]),
    (status = 403, response = api::NotAdmin),
))]
pub(super) async fn quarantine_recent(
    State(AppState { catalog, .. }): State<AppState>,
    axum::Extension(role): axum::Extension<Role>,
) -> Result<Response, Error> {
    auth::admin(role)?;
    if !has_quarantine(&catalog).await? {
        return Ok(axum::Json(Vec::<QuarantinedMessage>::new()).into_response());
    }
    let batches = catalog.serve(serving::QUARANTINE_RECENT, Vec::new()).await?;
    let messages: Vec<QuarantinedMessage> = cells::typed(serving::QUARANTINE_RECENT, &batches)?;
    Ok(axum::Json(messages).into_response())
}

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
pub(super) async fn aggregated_stats(
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
pub(super) async fn raw_stats(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<explorer::StatsQuery>,
) -> Result<Response, Error> {
    Ok(axum::Json(explorer::raw_stats(&catalog, &q, now_ms()).await?).into_response())
}

/// Explorer leaderboard regions
#[utoipa::path(get, path = "/api/regions", responses(
    (status = 200, description = "regions", body = RegionList),
))]
pub(super) async fn explorer_regions(
    State(AppState { catalog, regions, .. }): State<AppState>,
) -> Result<Response, Error> {
    Ok(axum::Json(explorer::regions(&catalog, &regions).await?).into_response())
}

/// Explorer leaderboard pipelines and their models
#[utoipa::path(get, path = "/api/pipelines", responses(
    (status = 200, description = "pipelines", body = PipelineList),
))]
pub(super) async fn explorer_pipelines(State(AppState { catalog, .. }): State<AppState>) -> Result<Response, Error> {
    Ok(axum::Json(explorer::pipelines(&catalog).await?).into_response())
}
