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
use serde_json::json;

use super::{AppState, Params};
use crate::auth::{self, Role};
use crate::{Error, dashboard, explorer, perf_stats, router};

/// The header naming the rule versions an answer used.
const RULES_HEADER: HeaderName = HeaderName::from_static("naap-rules");

/// `body` as JSON, with the `naap-rules` header of `served`.
fn answer(served: &Served, body: impl serde::Serialize) -> Response {
    let rules = HeaderValue::from_str(&served.to_string()).unwrap_or(HeaderValue::from_static("none"));
    ([(RULES_HEADER, rules)], axum::Json(body)).into_response()
}

/// A request's choice of rule version (`?rule=sla&version=2`); without
/// one, the server's (`naap serve --rule`).
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct RuleChoice {
    rule: Option<String>,
    version: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct PerfStatsQuery {
    #[serde(default = "default_rule")]
    rule: String,
    /// Default: the version the server serves.
    version: Option<u32>,
}

fn default_rule() -> String {
    "sla".into()
}

/// go-livepeer's `-orchPerfStatsUrl` feed (see [`perf_stats`]).
pub(super) async fn orch_perf_stats(
    State(AppState { catalog, regions, .. }): State<AppState>,
    Params(q): Params<PerfStatsQuery>,
) -> Result<Response, Error> {
    let mut served = catalog.served().clone();
    if let Some(version) = q.version {
        served
            .choose(catalog.rules(), &format!("{}={version}", q.rule))
            .map_err(|e| Error::Refused { detail: e.to_string() })?;
    }
    let Some(version) = served.version(&q.rule) else {
        return Err(Error::Refused {
            detail: format!("no rule {}", q.rule),
        });
    };
    let body = perf_stats::feed(&catalog, &regions, &q.rule, version).await?;
    Ok(answer(&served, body))
}

/// The reference router (see [`crate::router`]).
pub(super) async fn select(
    State(AppState { catalog, regions, .. }): State<AppState>,
    Params(params): Params<router::SelectParams>,
) -> Result<Response, Error> {
    let selection = router::answer(&catalog, &regions, &params, 3).await?;
    Ok(answer(catalog.served(), selection))
}

/// go-livepeer's `-orchWebhookUrl` discovery feed: the router's order for
/// a region, pipeline and model as `[{"address": "<service URI>"}]`. The
/// hour the scores come from is in the `X-Naap-Window` header.
pub(super) async fn orch_webhook(
    State(AppState { catalog, regions, .. }): State<AppState>,
    Params(params): Params<router::SelectParams>,
) -> Result<Response, Error> {
    let selection = router::answer(&catalog, &regions, &params, 10).await?;
    let body: Vec<serde_json::Value> = selection
        .choices
        .iter()
        .map(|c| json!({ "address": c.candidate.uri }))
        .collect();
    let window = selection.window_start.unwrap_or_else(|| "none".into());
    let window = HeaderValue::from_str(&window).unwrap_or(HeaderValue::from_static("none"));
    Ok((
        [(HeaderName::from_static("x-naap-window"), window)],
        answer(catalog.served(), body),
    )
        .into_response())
}

/// The rule versions this server knows, which of each it serves, and
/// each version's description: what the dashboard's version picker lists.
pub(super) async fn rules(State(AppState { catalog, .. }): State<AppState>) -> Response {
    let served = catalog.served();
    let list: Vec<serde_json::Value> = catalog
        .rules()
        .all()
        .iter()
        .map(|r| {
            json!({
                "rule": r.header.name,
                "version": r.header.version,
                "served": served.version(&r.header.name) == Some(r.header.version),
                "output": r.header.output,
                "file": r.file,
                "description": r.header.description,
            })
        })
        .collect();
    answer(served, json!({ "rules": list }))
}

/// Network overview: orchestrators seen, sessions, startup success, median score.
pub(super) async fn overview(
    State(AppState { catalog, .. }): State<AppState>,
    Params(choice): Params<RuleChoice>,
) -> Result<Response, Error> {
    let served = catalog.served_for(choice.rule.as_deref(), choice.version.as_deref())?;
    let rows = dashboard::orchestrators(&catalog, &served).await?;
    Ok(answer(&served, dashboard::overview(&rows, &served)))
}

/// One row per orchestrator (see [`dashboard::OrchestratorRow`]).
pub(super) async fn orchestrators(
    State(AppState { catalog, .. }): State<AppState>,
    Params(choice): Params<RuleChoice>,
) -> Result<Response, Error> {
    let served = catalog.served_for(choice.rule.as_deref(), choice.version.as_deref())?;
    let rows = dashboard::orchestrators(&catalog, &served).await?;
    Ok(answer(
        &served,
        json!({ "orchestrators": rows, "rules": dashboard::rules_json(&served) }),
    ))
}

/// One orchestrator's hourly history, GPUs and regions.
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

/// Quarantined messages by source and reason: what producers get wrong.
pub(super) async fn quarantine_summary(State(AppState { catalog, .. }): State<AppState>) -> Result<Response, Error> {
    if !has_quarantine(&catalog).await? {
        return Ok(axum::Json(json!({ "quarantined": 0, "by_reason": [] })).into_response());
    }
    let rows = crate::cells::objects(&catalog.serve(serving::QUARANTINE_SUMMARY, Vec::new()).await?);
    let total: i64 = rows.iter().filter_map(|r| r["messages"].as_i64()).sum();
    Ok(axum::Json(json!({ "quarantined": total, "by_reason": rows })).into_response())
}

/// The newest quarantined messages with their detail (admin only: the
/// detail and payload are whatever a producer sent).
pub(super) async fn quarantine_recent(
    State(AppState { catalog, .. }): State<AppState>,
    axum::Extension(role): axum::Extension<Role>,
) -> Result<Response, Error> {
    auth::admin(role)?;
    if !has_quarantine(&catalog).await? {
        return Ok(axum::Json(json!([])).into_response());
    }
    let batches = catalog.serve(serving::QUARANTINE_RECENT, Vec::new()).await?;
    Ok(axum::Json(crate::cells::objects(&batches)).into_response())
}

/// The Explorer leaderboard's `/api/aggregated_stats` (see [`explorer`]).
pub(super) async fn aggregated_stats(
    State(AppState { catalog, regions, .. }): State<AppState>,
    Params(q): Params<explorer::StatsQuery>,
) -> Result<Response, Error> {
    let body = explorer::aggregated_stats(&catalog, &regions, &q, now_ms()).await?;
    Ok(answer(catalog.served(), body))
}

/// The Explorer leaderboard's `/api/raw_stats` (see [`explorer`]).
pub(super) async fn raw_stats(
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

pub(super) async fn explorer_regions(State(AppState { regions, .. }): State<AppState>) -> Response {
    axum::Json(explorer::regions(&regions)).into_response()
}

pub(super) async fn explorer_pipelines(State(AppState { catalog, .. }): State<AppState>) -> Result<Response, Error> {
    Ok(axum::Json(explorer::pipelines(&catalog).await?).into_response())
}
