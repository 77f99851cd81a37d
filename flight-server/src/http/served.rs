//! What answers that depend on rule versions share: the `naap-rules`
//! header, and the parameters that choose a rule version.
//!
//! Every answer that depends on a rule version says which it used: in its
//! JSON where the shape has room, and always in the `naap-rules` header
//! (`sla=1,uptime=1`), since some shapes (the perf-stats feed, the
//! Explorer's maps) are fixed by the clients that read them.

use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use naap_sql::Served;
use serde::Deserialize;
use utoipa::IntoParams;

/// The header naming the rule versions an answer used.
const RULES_HEADER: HeaderName = HeaderName::from_static("naap-rules");

/// `body` as JSON, with the `naap-rules` header of `served`.
pub(crate) fn answer(served: &Served, body: impl serde::Serialize) -> Response {
    let rules = HeaderValue::from_str(&served.to_string()).unwrap_or(HeaderValue::from_static("none"));
    ([(RULES_HEADER, rules)], axum::Json(body)).into_response()
}

/// A request's choice of rule version (`?rule=sla&version=2`); without
/// one, the server's (`naap serve --rule`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RuleChoice {
    /// With version: serve this rule's version instead of the server's
    #[param(example = "sla")]
    pub(crate) rule: Option<String>,
    /// With rule: the version to serve
    #[param(value_type = Option<u32>, minimum = 1)]
    pub(crate) version: Option<String>,
}

/// A rule choice, and how far back an orchestrator's newest scored hour
/// still counts (`?within=2h`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ScoredChoice {
    /// With version: serve this rule's version instead of the server's
    #[param(example = "sla")]
    pub(crate) rule: Option<String>,
    /// With rule: the version to serve
    #[param(value_type = Option<u32>, minimum = 1)]
    pub(crate) version: Option<String>,
    /// How far back from the SLA's newest hour an orchestrator's own newest
    /// scored hour still counts: 90m, 2h, 7d (1m to 7d)
    #[param(value_type = Option<String>, default = "2h", example = "2h")]
    pub(crate) within: Option<crate::Within>,
}
