//! `/v1/backtests`: the runs of `naap backtest` the lake holds, one run's
//! figures, and one metric of it per hour: what the dashboard's backtest
//! page draws. Empty until a backtest has written the `backtests` table.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use datafusion::scalar::ScalarValue;
use naap_sql::{serving, tables};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::http::{AppState, Params, api};
use crate::{Error, cells};

/// Which run, and which metric per hour.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BacktestQuery {
    /// A run_id of `runs`; default: the newest run
    run: Option<String>,
    /// The metric of `hourly`
    #[param(default = "spearman_startup_success")]
    metric: Option<String>,
}

/// One backtest run.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct BacktestRun {
    run_id: String,
    run_at: String,
    /// The hours scored: [range_start, range_end)
    range_start: String,
    range_end: String,
    /// Outcomes are those of the hour this many hours after the score's
    horizon_hours: i64,
    top_k: i64,
    /// The rule versions compared, e.g. `sla v1, sla v2`
    rules: String,
}

/// One figure of a run over its whole range, with its 95 % bootstrap interval.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct BacktestFigure {
    pipeline: String,
    model: String,
    rule: String,
    rule_version: i64,
    /// SHA-256 of the rule's SQL, first 16 hex digits
    rule_digest: String,
    rule_source: String,
    /// `spearman_*` (rank correlation with the next hour's outcome),
    /// `uplift_*` (top-k routing against random or the router) or `coverage`
    metric: String,
    value: Option<f64>,
    ci_low: Option<f64>,
    ci_high: Option<f64>,
    /// Hours that gave a value
    hours: i64,
    pairs: i64,
}

/// One metric's value at one scored hour.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct BacktestPoint {
    pipeline: String,
    model: String,
    rule: String,
    rule_version: i64,
    rule_digest: String,
    window_start: String,
    value: f64,
    pairs: i64,
}

/// The answer of `/v1/backtests`.
#[derive(Debug, Default, Serialize, ToSchema)]
pub(crate) struct Backtests {
    /// The 20 newest runs, newest first
    runs: Vec<BacktestRun>,
    /// The run `summary` and `hourly` describe; null when there is none
    run: Option<String>,
    metric: String,
    summary: Vec<BacktestFigure>,
    hourly: Vec<BacktestPoint>,
}

const DEFAULT_METRIC: &str = "spearman_startup_success";

/// Backtests of scoring rules
///
/// Written by `naap backtest`: how well each rule version's score at hour h
/// predicted the outcomes of the next hour, per pipeline and model.
#[utoipa::path(get, path = "/v1/backtests", params(BacktestQuery), responses(
    (status = 200, description = "runs, and one run's figures", body = Backtests),
    (status = 400, response = api::BadRequest),
))]
pub(crate) async fn backtests(
    State(AppState { catalog, .. }): State<AppState>,
    Params(q): Params<BacktestQuery>,
) -> Result<Response, Error> {
    let metric = q.metric.unwrap_or_else(|| DEFAULT_METRIC.to_owned());
    let exists = catalog.table_names().await?.iter().any(|t| t == tables::BACKTESTS.name);
    if !exists {
        if let Some(run) = q.run {
            return Err(no_run(&run));
        }
        return Ok(axum::Json(Backtests {
            metric,
            ..Default::default()
        })
        .into_response());
    }
    let runs: Vec<BacktestRun> = cells::typed(
        serving::BACKTEST_RUNS,
        &catalog.serve(serving::BACKTEST_RUNS, Vec::new()).await?,
    )?;
    let Some(run) = q.run.or_else(|| runs.first().map(|r| r.run_id.clone())) else {
        return Ok(axum::Json(Backtests {
            metric,
            ..Default::default()
        })
        .into_response());
    };
    let text = |s: &str| ScalarValue::Utf8(Some(s.to_owned()));
    let summary: Vec<BacktestFigure> = cells::typed(
        serving::BACKTEST_SUMMARY,
        &catalog.serve(serving::BACKTEST_SUMMARY, vec![text(&run)]).await?,
    )?;
    if summary.is_empty() {
        return Err(no_run(&run));
    }
    if !summary.iter().any(|f| f.metric == metric) {
        let mut known: Vec<&str> = summary.iter().map(|f| f.metric.as_str()).collect();
        known.sort_unstable();
        known.dedup();
        return Err(Error::Refused {
            detail: format!("metric {metric:?} is not one of this run's: {}", known.join(", ")),
        });
    }
    let hourly: Vec<BacktestPoint> = cells::typed(
        serving::BACKTEST_HOURLY,
        &catalog
            .serve(serving::BACKTEST_HOURLY, vec![text(&run), text(&metric)])
            .await?,
    )?;
    Ok(axum::Json(Backtests {
        runs,
        run: Some(run),
        metric,
        summary,
        hourly,
    })
    .into_response())
}

fn no_run(run: &str) -> Error {
    let shown: String = run.chars().take(80).collect();
    Error::Refused {
        detail: format!("no backtest run {shown:?} in the lake; /v1/backtests lists the newest"),
    }
}
