//! The `/v1/streaming/*` routes, with NaaP's parameters: `start` and
//! `end` (RFC 3339, the last 24 hours by default), `limit` (1 to 1000,
//! default 50) and `cursor` for the hourly lists, whose legacy `offset`,
//! `page` and `page_size` are refused. The snapshot lists take an optional
//! `end` (naap's: answer as of then, e.g. for a replayed lake).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{DemandRow, GpuMetricsRow, SlaRow, StreamingModel, StreamingOrchestrator};
use crate::http::api::BadRequest;
use crate::http::{AppState, Params};
use crate::requests::{Page, Paging, Window};
use crate::{Error, now_ms};

/// A window of hours and one page of them.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HourPage {
    /// RFC 3339; default: 24 hours before end
    #[param(example = "2026-04-15T12:00:00Z")]
    start: Option<String>,
    /// RFC 3339; default: now
    end: Option<String>,
    /// Rows per page
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000, default = 50)]
    limit: Option<String>,
    /// The next_cursor of the page before
    cursor: Option<String>,
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

impl HourPage {
    fn window_and_paging(&self) -> Result<(Window, Paging), Error> {
        let paging = Paging::parse(
            self.limit.as_deref(),
            None,
            &[
                ("offset", self.offset.is_some()),
                ("page", self.page.is_some()),
                ("page_size", self.page_size.is_some()),
            ],
        )?;
        let window = Window::parse(self.start.as_deref(), self.end.as_deref(), now_ms())?;
        Ok((window, paging))
    }
}

/// As of when a snapshot list answers.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AsOf {
    /// RFC 3339: answer as of this time instead of now (naap's; NaaP has
    /// no parameters here)
    #[param(example = "2026-04-15T12:00:00Z")]
    pub(crate) end: Option<String>,
}

impl AsOf {
    /// The end of what the list looks back over: `end`, or now.
    pub(crate) fn end_ms(&self) -> Result<i64, Error> {
        let now = now_ms();
        Ok(Window::parse(None, self.end.as_deref(), now)?.end_ms)
    }
}

fn json(body: impl serde::Serialize) -> Response {
    axum::Json(body).into_response()
}

/// Live-video SLA per hour, orchestrator, model and GPU, newest hour first
///
/// Rates are 0..1, `sla_score` 0..100 (the served SLA version); figures
/// without requested sessions are 0, as in NaaP.
#[utoipa::path(get, path = "/v1/streaming/sla", params(HourPage), responses(
    (status = 200, description = "a page of hours", body = Page<SlaRow>),
    (status = 400, response = BadRequest),
))]
pub(crate) async fn sla(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<HourPage>,
) -> Result<Response, Error> {
    let (window, paging) = q.window_and_paging()?;
    Ok(json(
        super::sla(&catalog, window, &paging, q.cursor.as_deref(), now_ms()).await?,
    ))
}

/// Live-video demand per hour, gateway and model, newest hour first
///
/// Sessions count in the hour they started in.
#[utoipa::path(get, path = "/v1/streaming/demand", params(HourPage), responses(
    (status = 200, description = "a page of hours", body = Page<DemandRow>),
    (status = 400, response = BadRequest),
))]
pub(crate) async fn demand(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<HourPage>,
) -> Result<Response, Error> {
    let (window, paging) = q.window_and_paging()?;
    Ok(json(
        super::demand_page(&catalog, window, &paging, q.cursor.as_deref(), now_ms()).await?,
    ))
}

/// Live video per hour on each GPU, newest hour first
///
/// Only hours whose orchestrator advertised exactly one GPU for the model.
#[utoipa::path(get, path = "/v1/streaming/gpu-metrics", params(HourPage), responses(
    (status = 200, description = "a page of hours", body = Page<GpuMetricsRow>),
    (status = 400, response = BadRequest),
))]
pub(crate) async fn gpu_metrics(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<HourPage>,
) -> Result<Response, Error> {
    let (window, paging) = q.window_and_paging()?;
    Ok(json(
        super::gpu_metrics(&catalog, window, &paging, q.cursor.as_deref(), now_ms()).await?,
    ))
}

/// Live-video models: orchestrators, GPUs, active streams and capacity
#[utoipa::path(get, path = "/v1/streaming/models", params(AsOf), responses(
    (status = 200, description = "models, most orchestrators first", body = [StreamingModel]),
    (status = 400, response = BadRequest),
))]
pub(crate) async fn models(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<AsOf>,
) -> Result<Response, Error> {
    Ok(json(super::models(&catalog, q.end_ms()?).await?))
}

/// Orchestrators offering live video, most GPUs first
#[utoipa::path(get, path = "/v1/streaming/orchestrators", params(AsOf), responses(
    (status = 200, description = "orchestrators", body = [StreamingOrchestrator]),
    (status = 400, response = BadRequest),
))]
pub(crate) async fn orchestrators(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<AsOf>,
) -> Result<Response, Error> {
    Ok(json(super::orchestrators(&catalog, q.end_ms()?).await?))
}
