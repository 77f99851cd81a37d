//! `/v1/select`: the reference router's answer.

use axum::extract::State;
use axum::response::Response;

use crate::Error;
use crate::http::api;
use crate::http::served::answer;
use crate::http::{AppState, Params};
use crate::router::{self, Selection};

/// The reference router: orchestrators to try for a pipeline and model from a region
///
/// See [`crate::router`].
#[utoipa::path(get, path = "/v1/select", params(router::SelectParams), responses(
    (status = 200, description = "selection", body = Selection,
        headers(("naap-rules" = String, description = "The rule versions the answer used, e.g. sla=1,uptime=1"))),
    (status = 400, response = api::BadRequest),
))]
pub(crate) async fn select(
    State(AppState { catalog, regions, .. }): State<AppState>,
    Params(params): Params<router::SelectParams>,
) -> Result<Response, Error> {
    let selection = router::answer(&catalog, &regions, &params, 3).await?;
    Ok(answer(catalog.served(), selection))
}
