//! The routes that query the lake and belong to no feature folder: the
//! rule versions this server knows, and the quarantine.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use naap_sql::{serving, tables};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{self, Role};
use crate::http::AppState;
use crate::http::api;
use crate::http::served::answer;
use crate::{Error, cells};

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
