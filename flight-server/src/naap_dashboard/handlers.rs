//! The `/v1/dashboard/*` routes, with NaaP's parameters: `window` (`24h`,
//! `24`, `7d`; default 24 hours, at most 168), or naap's `start` and `end`
//! instead; `limit` where NaaP has one (pipelines: default 5, at most 20;
//! job-feed: default 50, at most 200; more is silently the most, as in
//! NaaP); the snapshot answers take naap's optional `end`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{CatalogEntry, DashboardKpi, DashboardOrchestrator, DashboardPipelines, FeedRow, GpuCapacity, PriceRow};
use crate::http::api::BadRequest;
use crate::http::{AppState, Params};
use crate::requests::Window;
use crate::streaming::handlers::AsOf;
use crate::{Error, now_ms};

/// The dashboard's trailing window.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DashboardQuery {
    /// Hours or days back from now: 24h, 24 or 7d; at most 168 hours
    #[param(default = "24h")]
    window: Option<String>,
    /// RFC 3339: instead of window, from here (naap's; default: 24 hours before end)
    start: Option<String>,
    /// RFC 3339: instead of window, to here (naap's; default: now)
    end: Option<String>,
    /// Rows (pipelines: 1 to 20, default 5)
    #[param(value_type = Option<i64>, minimum = 1)]
    limit: Option<String>,
    /// Only this live pipeline (kpi)
    pipeline: Option<String>,
    /// Only this live model (kpi)
    model_id: Option<String>,
}

impl DashboardQuery {
    fn window(&self) -> Result<Window, Error> {
        if self.start.is_some() || self.end.is_some() {
            if self.window.is_some() {
                return Err(Error::Refused {
                    detail: "give window, or start and end, not both".into(),
                });
            }
            return Window::parse(self.start.as_deref(), self.end.as_deref(), now_ms());
        }
        Window::trailing(self.window.as_deref(), now_ms())
    }

    /// The window asked for, as written.
    fn label(&self) -> String {
        match (&self.window, &self.start) {
            (Some(w), _) => w.clone(),
            (None, None) if self.end.is_none() => "24h".into(),
            _ => "custom".into(),
        }
    }
}

/// NaaP's `limit`: `default` when absent, at most `most`; refused when it
/// is not a whole number from 1.
fn limit(value: Option<&str>, default: i64, most: i64) -> Result<i64, Error> {
    let Some(text) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    text.parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .map(|n| n.min(most))
        .ok_or_else(|| Error::Refused {
            detail: format!("limit {text:?} is not a whole number from 1 (at most {most} are returned)"),
        })
}

/// A job-feed length.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FeedQuery {
    /// Rows: 1 to 200
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200, default = 50)]
    limit: Option<String>,
    /// RFC 3339: as of this time instead of now (naap's)
    end: Option<String>,
}

fn json(body: impl serde::Serialize) -> Response {
    axum::Json(body).into_response()
}

/// Dashboard KPIs: live video (sessions, startup success, minutes,
/// orchestrators) and AI batch and BYOC requests over a trailing window
///
/// `pipeline` and `model_id` narrow the live-video half only, as in NaaP.
#[utoipa::path(get, path = "/v1/dashboard/kpi", params(DashboardQuery), responses(
    (status = 200, description = "KPIs", body = DashboardKpi),
    (status = 400, response = BadRequest),
))]
pub(crate) async fn kpi(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<DashboardQuery>,
) -> Result<Response, Error> {
    let window = q.window()?;
    // The KPIs list nothing, but a bad value is refused wherever it is given.
    limit(q.limit.as_deref(), 5, 20)?;
    let pipeline = q.pipeline.as_deref().filter(|p| !p.is_empty());
    let model = q.model_id.as_deref().filter(|m| !m.is_empty());
    Ok(json(super::kpi(&catalog, window, q.label(), pipeline, model).await?))
}

/// Dashboard pipelines: live pipelines with their models, AI batch
/// pipelines and BYOC capabilities, busiest first
#[utoipa::path(get, path = "/v1/dashboard/pipelines", params(DashboardQuery), responses(
    (status = 200, description = "pipelines", body = DashboardPipelines),
    (status = 400, response = BadRequest),
))]
pub(crate) async fn pipelines(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<DashboardQuery>,
) -> Result<Response, Error> {
    let window = q.window()?;
    let limit = limit(q.limit.as_deref(), 5, 20)? as usize;
    Ok(json(super::pipelines(&catalog, window, q.label(), limit).await?))
}

/// Dashboard orchestrators: live-video service over the window, newest SLA
/// score, pipelines and GPUs, most sessions first
#[utoipa::path(get, path = "/v1/dashboard/orchestrators", params(DashboardQuery), responses(
    (status = 200, description = "orchestrators", body = [DashboardOrchestrator]),
    (status = 400, response = BadRequest),
))]
pub(crate) async fn orchestrators(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<DashboardQuery>,
) -> Result<Response, Error> {
    limit(q.limit.as_deref(), 5, 20)?;
    Ok(json(super::orchestrators(&catalog, q.window()?).await?))
}

/// GPU capacity: GPUs advertised in the last 24 hours, by hardware and
/// pipeline, and those busy with live video
#[utoipa::path(get, path = "/v1/dashboard/gpu-capacity", params(AsOf), responses(
    (status = 200, description = "capacity", body = GpuCapacity),
    (status = 400, response = BadRequest),
))]
pub(crate) async fn gpu_capacity(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<AsOf>,
) -> Result<Response, Error> {
    Ok(json(super::gpu_capacity(&catalog, q.end_ms()?).await?))
}

/// Pipeline catalog: each pipeline and the models advertised for it on
/// hardware in the last 24 hours
#[utoipa::path(get, path = "/v1/dashboard/pipeline-catalog", params(AsOf), responses(
    (status = 200, description = "pipelines", body = [CatalogEntry]),
    (status = 400, response = BadRequest),
))]
pub(crate) async fn pipeline_catalog(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<AsOf>,
) -> Result<Response, Error> {
    Ok(json(super::pipeline_catalog(&catalog, q.end_ms()?).await?))
}

/// Prices: each orchestrator's newest advertised price per pipeline and
/// model in the last 24 hours
#[utoipa::path(get, path = "/v1/dashboard/pricing", params(AsOf), responses(
    (status = 200, description = "prices", body = [PriceRow]),
    (status = 400, response = BadRequest),
))]
pub(crate) async fn pricing(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<AsOf>,
) -> Result<Response, Error> {
    Ok(json(super::pricing(&catalog, q.end_ms()?).await?))
}

/// Job feed: open live-video streams, most recently seen first
#[utoipa::path(get, path = "/v1/dashboard/job-feed", params(FeedQuery), responses(
    (status = 200, description = "streams", body = [FeedRow]),
    (status = 400, response = BadRequest),
))]
pub(crate) async fn job_feed(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<FeedQuery>,
) -> Result<Response, Error> {
    let limit = limit(q.limit.as_deref(), 50, 200)?;
    let end_ms = AsOf { end: q.end.clone() }.end_ms()?;
    Ok(json(super::job_feed(&catalog, end_ms, limit).await?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn limits_default_clamp_and_refuse_what_is_not_a_count() {
        assert_eq!(super::limit(None, 5, 20).unwrap(), 5);
        assert_eq!(super::limit(Some("7"), 5, 20).unwrap(), 7);
        assert_eq!(super::limit(Some("500"), 5, 20).unwrap(), 20);
        for bad in ["0", "-1", "ten", "1.5"] {
            let e = super::limit(Some(bad), 5, 20).unwrap_err().to_string();
            assert!(e.contains("limit"), "{e}");
        }
    }
}
