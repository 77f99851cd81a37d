//! The request analytics routes: NaaP's `/v1/requests/*` paths, with
//! NaaP's parameters and shapes (plain lists as bare arrays, job lists
//! as `{data, pagination, meta}`). See [`crate::requests`].

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use crate::http::{AppState, Params, api};
use crate::requests::{
    self, AiJob, AuthSummary, ByocJob, CapabilitySummary, Family, LlmSummary, ModelOffer, OrchestratorOffer,
    OrchestratorWork, Page, Paging, Summary, Window, WorkerSummary,
};
use crate::{Error, now_ms};

/// A time window.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Range {
    /// RFC 3339; default: 24 hours before end
    #[param(example = "2026-04-15T12:00:00Z")]
    start: Option<String>,
    /// RFC 3339; default: now
    end: Option<String>,
}

impl Range {
    fn window(&self) -> Result<Window, Error> {
        Window::parse(self.start.as_deref(), self.end.as_deref(), now_ms())
    }
}

/// A time window and one page of a job list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct JobsQuery {
    /// RFC 3339; default: 24 hours before end
    start: Option<String>,
    /// RFC 3339; default: now
    end: Option<String>,
    /// Rows per page
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000, default = 50)]
    limit: Option<String>,
    /// The next_cursor of the page before
    cursor: Option<String>,
    /// Only this pipeline (AI batch) or capability (BYOC)
    pipeline: Option<String>,
    /// Only this capability (BYOC)
    capability: Option<String>,
    /// Refused: page with limit and cursor
    #[param(value_type = Option<i64>)]
    offset: Option<String>,
    /// Refused: page with limit and cursor
    #[param(value_type = Option<i64>)]
    page: Option<String>,
    /// Refused: page with limit and cursor
    #[param(value_type = Option<i64>)]
    page_size: Option<String>,
}

impl JobsQuery {
    fn window_and_paging(&self) -> Result<(Window, Paging), Error> {
        let window = Window::parse(self.start.as_deref(), self.end.as_deref(), now_ms())?;
        let paging = Paging::parse(
            self.limit.as_deref(),
            self.cursor.as_deref(),
            &[
                ("offset", self.offset.is_some()),
                ("page", self.page.is_some()),
                ("page_size", self.page_size.is_some()),
            ],
        )?;
        Ok((window, paging))
    }
}

fn json(body: impl Serialize) -> Response {
    axum::Json(body).into_response()
}

/// AI batch requests per pipeline
///
/// Over the sealed hours from the one `start` falls in to `end`.
#[utoipa::path(get, path = "/v1/requests/ai-batch/summary", params(Range), responses(
    (status = 200, description = "pipelines, busiest first", body = [Summary]),
    (status = 400, response = api::BadRequest),
))]
pub(crate) async fn ai_batch_summary(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<Range>,
) -> Result<Response, Error> {
    Ok(json(requests::summary(&catalog, q.window()?, Family::AiBatch).await?))
}

/// AI batch requests, newest first, one page
#[utoipa::path(get, path = "/v1/requests/ai-batch/jobs", params(JobsQuery), responses(
    (status = 200, description = "a page of requests", body = Page<AiJob>),
    (status = 400, response = api::BadRequest),
))]
pub(crate) async fn ai_batch_jobs(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<JobsQuery>,
) -> Result<Response, Error> {
    let (window, paging) = q.window_and_paging()?;
    Ok(json(
        requests::ai_jobs(&catalog, window, q.pipeline.clone(), &paging, now_ms()).await?,
    ))
}

/// LLM requests per requested model: success, TTFT, tokens per second
#[utoipa::path(get, path = "/v1/requests/ai-batch/llm-summary", params(Range), responses(
    (status = 200, description = "models, busiest first", body = [LlmSummary]),
    (status = 400, response = api::BadRequest),
))]
pub(crate) async fn llm_summary(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<Range>,
) -> Result<Response, Error> {
    Ok(json(requests::llm_summary(&catalog, q.window()?).await?))
}

/// BYOC jobs per capability, each job once across its attempts
#[utoipa::path(get, path = "/v1/requests/byoc/summary", params(Range), responses(
    (status = 200, description = "capabilities, busiest first", body = [CapabilitySummary]),
    (status = 400, response = api::BadRequest),
))]
pub(crate) async fn byoc_summary(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<Range>,
) -> Result<Response, Error> {
    let rows = requests::summary(&catalog, q.window()?, Family::Byoc).await?;
    Ok(json(rows.into_iter().map(CapabilitySummary::from).collect::<Vec<_>>()))
}

/// BYOC jobs, newest first, one page
#[utoipa::path(get, path = "/v1/requests/byoc/jobs", params(JobsQuery), responses(
    (status = 200, description = "a page of jobs", body = Page<ByocJob>),
    (status = 400, response = api::BadRequest),
))]
pub(crate) async fn byoc_jobs(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<JobsQuery>,
) -> Result<Response, Error> {
    let (window, paging) = q.window_and_paging()?;
    let capability = q.capability.clone().or_else(|| q.pipeline.clone());
    Ok(json(
        requests::byoc_jobs(&catalog, window, capability, &paging, now_ms()).await?,
    ))
}

/// BYOC runners per capability, each once however many gateways drained its events
#[utoipa::path(get, path = "/v1/requests/byoc/workers", params(Range), responses(
    (status = 200, description = "capabilities", body = [WorkerSummary]),
    (status = 400, response = api::BadRequest),
))]
pub(crate) async fn byoc_workers(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<Range>,
) -> Result<Response, Error> {
    Ok(json(requests::byoc_workers(&catalog, q.window()?).await?))
}

/// BYOC authentication per capability, failures and stream webhooks included
#[utoipa::path(get, path = "/v1/requests/byoc/auth", params(Range), responses(
    (status = 200, description = "capabilities", body = [AuthSummary]),
    (status = 400, response = api::BadRequest),
))]
pub(crate) async fn byoc_auth(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<Range>,
) -> Result<Response, Error> {
    Ok(json(requests::byoc_auth(&catalog, q.window()?).await?))
}

/// Every (pipeline, model) offered or asked for, AI batch and BYOC
#[utoipa::path(get, path = "/v1/requests/models", params(Range), responses(
    (status = 200, description = "models", body = [ModelOffer]),
    (status = 400, response = api::BadRequest),
))]
pub(crate) async fn models(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<Range>,
) -> Result<Response, Error> {
    Ok(json(requests::models(&catalog, q.window()?).await?))
}

/// Orchestrators with AI batch or BYOC offers
#[utoipa::path(get, path = "/v1/requests/orchestrators", params(Range), responses(
    (status = 200, description = "orchestrators", body = [OrchestratorOffer]),
    (status = 400, response = api::BadRequest),
))]
pub(crate) async fn orchestrators(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<Range>,
) -> Result<Response, Error> {
    Ok(json(requests::orchestrators(&catalog, q.window()?).await?))
}

/// AI batch and BYOC work per orchestrator: jobs, success, duration, TTFT and tokens/s percentiles
///
/// naap's own (NaaP has no such endpoint); the dashboard's request panel.
#[utoipa::path(get, path = "/v1/requests/by-orchestrator", params(Range), responses(
    (status = 200, description = "orchestrators, busiest first", body = [OrchestratorWork]),
    (status = 400, response = api::BadRequest),
))]
pub(crate) async fn by_orchestrator(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<Range>,
) -> Result<Response, Error> {
    Ok(json(requests::by_orchestrator(&catalog, q.window()?).await?))
}
