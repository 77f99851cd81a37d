//! `/v1/charts/{chart}`: one chart as SVG.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::http::api;
use crate::http::{AppState, Params, problem};
use crate::requests::Window;
use crate::{Error, Reason, charts, now_ms};

/// Widths a chart may be drawn at, in pixels.
const WIDTHS: std::ops::RangeInclusive<u32> = 280..=1600;

/// Which hours, whose, and how wide.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ChartQuery {
    /// 24h, 7d or 30d of whole hours, ending with the hour that holds `end`
    #[param(default = "24h", example = "7d")]
    range: Option<String>,
    /// RFC 3339; default: now
    end: Option<String>,
    /// The on-chain address, for the orchestrator charts (`o-…`)
    #[param(pattern = "^0[xX][0-9a-fA-F]{40}$")]
    orchestrator: Option<String>,
    /// With version: draw this rule's version instead of the server's
    #[param(example = "sla")]
    rule: Option<String>,
    /// With rule: the version to draw
    #[param(value_type = Option<u32>, minimum = 1)]
    version: Option<String>,
    /// The backtest run, for the backtest charts (`bt-…`)
    run: Option<String>,
    /// The pipeline, for the backtest charts
    pipeline: Option<String>,
    /// The model, for the backtest charts
    model: Option<String>,
    /// Width in pixels, 280 to 1600 (default 720)
    #[param(value_type = Option<u32>, minimum = 280, maximum = 1600)]
    width: Option<String>,
}

/// One chart of the dashboard, drawn as SVG
///
/// Network charts: sessions, usage, startup, orchestrators, requests,
/// request-success, fees, prices, gpus. One orchestrator's (with `orchestrator`):
/// o-sla, o-reliability, o-quality, o-startup, o-no-swap, o-viability,
/// o-latency, o-ptff, o-fps, o-sessions, o-uptime, o-heartbeats,
/// o-probe-latency, o-probes, o-gpu. One backtest run's pipeline and model
/// (with `run`, `pipeline`, `model`): bt-startup, bt-viability, bt-latency.
/// A line per series (pipeline · model, request family, region, device,
/// rule version), a legend naming each, axes with units and UTC dates.
#[utoipa::path(get, path = "/v1/charts/{chart}",
    params(("chart" = String, Path, description = "The chart's name, e.g. sessions or o-sla"), ChartQuery),
    responses(
        (status = 200, description = "the chart", content_type = "image/svg+xml", body = String),
        (status = 400, response = api::BadRequest),
        (status = 404, response = api::NotFound),
    ),
)]
pub(crate) async fn chart(
    State(AppState { catalog, .. }): State<AppState>,
    axum::extract::Path(name): axum::extract::Path<String>,
    Params(q): Params<ChartQuery>,
) -> Result<Response, Error> {
    let Some(chart) = charts::find(&name) else {
        let known: Vec<&str> = charts::CHARTS.iter().map(|c| c.name).collect();
        let detail = format!("no chart named {name:?}; charts: {}", known.join(", "));
        return Ok(problem(StatusCode::NOT_FOUND, Reason::NotFound, &detail));
    };
    let refused = |detail: String| Error::Refused { detail };
    let end_ms = Window::parse(None, q.end.as_deref(), now_ms())?.end_ms;
    let span = charts::Span::parse(q.range.as_deref(), end_ms)?;
    let width = match q.width.as_deref() {
        None => 720,
        Some(w) => w
            .parse::<u32>()
            .ok()
            .filter(|w| WIDTHS.contains(w))
            .ok_or_else(|| refused(format!("width {w:?} is not a number of pixels from 280 to 1600")))?,
    };
    let orchestrator = q
        .orchestrator
        .as_deref()
        .map(|a| {
            a.parse::<naap_events::OrchestratorAddress>()
                .map_err(|e| refused(e.to_string()))
        })
        .transpose()?;
    let served = catalog.served_for(q.rule.as_deref(), q.version.as_deref())?;
    let request = charts::Request {
        span,
        orchestrator: orchestrator.as_ref().map(|a| a.as_str()),
        served: &served,
        backtest: match (q.run.as_deref(), q.pipeline.as_deref(), q.model.as_deref()) {
            (Some(run), Some(pipeline), Some(model)) => Some([run, pipeline, model]),
            _ => None,
        },
        width,
    };
    let svg = charts::svg(&catalog, chart, &request).await?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")], svg).into_response())
}
