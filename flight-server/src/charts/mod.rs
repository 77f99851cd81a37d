//! The dashboard's charts, rendered on the server as SVG.
//!
//! Each chart is one measure of one serving statement
//! (`sql/serving/chart_*.sql`): the statement answers a column `t` (the
//! hour, Unix ms), a column `series` (what one line is: a pipeline and
//! model, a request family, a region) and its measures; the chart draws one
//! of those measures over the hours of a range, a line per series, with
//! plotters ([`render`]). A table the statement reads that the lake lacks
//! gives a chart that says "no data", never a 500.

pub(crate) mod handlers;
mod render;

use std::collections::BTreeMap;

use datafusion::scalar::ScalarValue;
use naap_sql::Served;
use naap_sql::serving::{self, Query};

use crate::{Catalog, Error, Result, cells};
use render::{Frame, Scale, Series};

const HOUR_MS: i64 = 3_600_000;
/// The most lines one chart draws (the rest are named in its title).
const MAX_SERIES: usize = 16;

/// Whose hours a chart shows, and which rule version its statement takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    /// The network: `(from, to)`.
    Network,
    /// One orchestrator: `(orchestrator, from, to)`.
    Orchestrator,
    /// One orchestrator under a rule's served version:
    /// `(orchestrator, version, from, to)`.
    Scored(&'static str),
    /// One backtest run's pipeline and model: `(run, pipeline, model)`,
    /// over the hours it scored.
    Backtest,
}

/// One chart.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chart {
    /// Its name in `/v1/charts/{name}`.
    pub name: &'static str,
    title: &'static str,
    unit: &'static str,
    scale: Scale,
    query: Query,
    /// The measure drawn.
    column: &'static str,
    subject: Subject,
}

const fn chart(
    name: &'static str,
    title: &'static str,
    unit: &'static str,
    scale: Scale,
    query: Query,
    column: &'static str,
    subject: Subject,
) -> Chart {
    Chart {
        name,
        title,
        unit,
        scale,
        query,
        column,
        subject,
    }
}

use Scale::{Amount, Correlation, Score, Share};
use Subject::{Backtest, Network, Orchestrator, Scored};

/// Every chart the server draws.
#[rustfmt::skip]
pub(crate) const CHARTS: &[Chart] = &[
    // The network.
    chart("sessions", "Live-video sessions requested, per pipeline · model", "sessions / hour", Amount, serving::CHART_LIVE, "sessions", Network),
    chart("usage", "Live-video usage, per pipeline · model", "minutes / hour", Amount, serving::CHART_LIVE, "usage_minutes", Network),
    chart("startup", "Live-video startup success, per pipeline · model", "sessions started", Share, serving::CHART_LIVE, "startup_success", Network),
    chart("orchestrators", "Orchestrators serving live video, per pipeline · model", "orchestrators", Amount, serving::CHART_ORCHESTRATORS, "orchestrators", Network),
    chart("requests", "AI batch, LLM and BYOC requests", "requests / hour", Amount, serving::CHART_REQUESTS, "requests", Network),
    chart("request-success", "AI batch, LLM and BYOC success", "requests succeeded", Share, serving::CHART_REQUESTS, "success", Network),
    chart("fees", "Fees: tickets gateways sent", "ETH / hour", Amount, serving::CHART_FEES, "eth", Network),
    chart("prices", "Prices the tickets carried, network-wide", "wei per pixel", Amount, serving::CHART_PRICES, "wei_per_pixel", Network),
    chart("gpus", "GPUs advertised, per GPU model", "GPUs", Amount, serving::CHART_GPUS, "gpus", Network),
    // One orchestrator's SLA and its components.
    chart("o-sla", "SLA score, per pipeline · model", "score (0-100)", Score, serving::CHART_ORCHESTRATOR_SLA, "sla_score", Scored("sla")),
    chart("o-reliability", "Reliability, per pipeline · model", "score (0-100)", Score, serving::CHART_ORCHESTRATOR_SLA, "reliability_score", Scored("sla")),
    chart("o-quality", "Quality (latency and fps against the network), per pipeline · model", "score (0-100)", Score, serving::CHART_ORCHESTRATOR_SLA, "quality_score", Scored("sla")),
    chart("o-startup", "Startup success, per pipeline · model", "sessions started", Share, serving::CHART_ORCHESTRATOR_SLA, "startup_success_rate", Scored("sla")),
    chart("o-no-swap", "Sessions without a swap, per pipeline · model", "sessions", Share, serving::CHART_ORCHESTRATOR_SLA, "no_swap_rate", Scored("sla")),
    chart("o-viability", "Output viability, per pipeline · model", "sessions", Share, serving::CHART_ORCHESTRATOR_SLA, "output_viability_rate", Scored("sla")),
    chart("o-latency", "End-to-end latency, per pipeline · model", "ms (hour's mean)", Amount, serving::CHART_ORCHESTRATOR_SLA, "avg_e2e_latency_ms", Scored("sla")),
    chart("o-ptff", "Prompt to first frame, per pipeline · model", "ms (hour's mean)", Amount, serving::CHART_ORCHESTRATOR_SLA, "avg_prompt_to_first_frame_ms", Scored("sla")),
    chart("o-fps", "Output frame rate, per pipeline · model", "fps (hour's mean)", Amount, serving::CHART_ORCHESTRATOR_SLA, "avg_output_fps", Scored("sla")),
    chart("o-sessions", "Sessions requested, per pipeline · model", "sessions / hour", Amount, serving::CHART_ORCHESTRATOR_SLA, "requested_sessions", Scored("sla")),
    // Its nodes.
    chart("o-uptime", "Uptime score (node telemetry), hour's mean of its minutes", "score (0-100)", Score, serving::CHART_ORCHESTRATOR_UPTIME, "score", Scored("uptime")),
    chart("o-heartbeats", "Heartbeat coverage", "minutes covered", Share, serving::CHART_ORCHESTRATOR_UPTIME, "heartbeat_coverage", Scored("uptime")),
    chart("o-probe-latency", "Probe latency, per observer region", "ms (median)", Amount, serving::CHART_ORCHESTRATOR_PROBES, "latency_p50_ms", Orchestrator),
    chart("o-probes", "Probes answered, per observer region", "probes", Share, serving::CHART_ORCHESTRATOR_PROBES, "probes_answered", Orchestrator),
    chart("o-gpu", "GPU utilisation, per device", "busy", Share, serving::CHART_ORCHESTRATOR_GPU, "utilization", Orchestrator),
    // A backtest run: does the score at hour h rank orchestrators the way
    // they serve at h + horizon?
    chart("bt-startup", "Rank correlation with next-hour startup success, per rule version", "Spearman rho", Correlation, serving::CHART_BACKTEST, "startup_success", Backtest),
    chart("bt-viability", "Rank correlation with next-hour output viability, per rule version", "Spearman rho", Correlation, serving::CHART_BACKTEST, "output_viability", Backtest),
    chart("bt-latency", "Rank correlation with next-hour E2E latency (sign flipped), per rule version", "Spearman rho", Correlation, serving::CHART_BACKTEST, "e2e_latency", Backtest),
];

/// The chart named `name`.
pub(crate) fn find(name: &str) -> Option<&'static Chart> {
    CHARTS.iter().find(|c| c.name == name)
}

/// The hours a chart covers: [from, to), whole hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub from_ms: i64,
    pub to_ms: i64,
}

/// The ranges a reader may pick.
pub(crate) const RANGES: [(&str, i64); 3] = [
    ("24h", 24 * HOUR_MS),
    ("7d", 7 * 24 * HOUR_MS),
    ("30d", 30 * 24 * HOUR_MS),
];

impl Span {
    /// `range` (24h, 7d or 30d; default 24h) of whole hours ending with the
    /// hour that holds `end_ms`.
    pub(crate) fn parse(range: Option<&str>, end_ms: i64) -> Result<Span> {
        let range = range.unwrap_or("24h");
        let (_, length) = RANGES
            .iter()
            .find(|(name, _)| *name == range)
            .ok_or_else(|| Error::Refused {
                detail: format!("range {range:?} is not one of 24h, 7d, 30d"),
            })?;
        let to_ms = end_ms.div_euclid(HOUR_MS).saturating_add(1).saturating_mul(HOUR_MS);
        Ok(Span {
            from_ms: to_ms.saturating_sub(*length),
            to_ms,
        })
    }
}

/// What to draw besides the chart's own settings.
#[derive(Debug, Clone)]
pub(crate) struct Request<'a> {
    pub span: Span,
    /// The orchestrator, for its charts (a checked address, lower case).
    pub orchestrator: Option<&'a str>,
    pub served: &'a Served,
    /// The run, pipeline and model, for the backtest charts.
    pub backtest: Option<[&'a str; 3]>,
    pub width: u32,
}

/// `chart` as an SVG document.
pub(crate) async fn svg(catalog: &Catalog, chart: &Chart, request: &Request<'_>) -> Result<String> {
    let Span { from_ms, to_ms } = request.span;
    let hours = [ScalarValue::Int64(Some(from_ms)), ScalarValue::Int64(Some(to_ms))];
    let who = || -> Result<ScalarValue> {
        let address = request.orchestrator.ok_or_else(|| Error::Refused {
            detail: format!("chart {} needs orchestrator=0x…", chart.name),
        })?;
        Ok(ScalarValue::Utf8(Some(address.to_owned())))
    };
    let params: Option<Vec<ScalarValue>> = match chart.subject {
        Network => Some(hours.to_vec()),
        Orchestrator => Some([vec![who()?], hours.to_vec()].concat()),
        // A rule the server does not serve has no rows to draw.
        Scored(rule) => match request.served.version(rule) {
            Some(v) => Some([vec![who()?, crate::dashboard::int(v)], hours.to_vec()].concat()),
            None => None,
        },
        Backtest => {
            let which = request.backtest.ok_or_else(|| Error::Refused {
                detail: format!("chart {} needs run, pipeline and model", chart.name),
            })?;
            Some(which.iter().map(|v| ScalarValue::Utf8(Some((*v).to_owned()))).collect())
        }
    };
    let batches = match params {
        Some(params) => catalog.serve_present(chart.query, params).await?,
        None => Vec::new(),
    };
    let mut lines: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for b in &batches {
        for row in 0..b.num_rows() {
            let (Some(t), Some(name)) = (cells::number(b, "t", row), cells::text(b, "series", row)) else {
                continue;
            };
            let points = lines.entry(name).or_default();
            if let Some(v) = cells::number(b, chart.column, row) {
                points.push((t as i64, v));
            }
        }
    }
    lines.retain(|_, points| !points.is_empty());
    let total = lines.len();
    let series: Vec<Series> = lines
        .into_iter()
        .take(MAX_SERIES)
        .map(|(name, mut points)| {
            points.sort_by_key(|p| p.0);
            Series { name, points }
        })
        .collect();
    let mut title = chart.title.to_owned();
    if let Scored(rule) = chart.subject
        && let Some(v) = request.served.version(rule)
    {
        title = format!("{title} ({rule} v{v})");
    }
    if total > MAX_SERIES {
        title = format!("{title}: {MAX_SERIES} of {total} series");
    }
    // A backtest's hours are the run's, not a range before now.
    let (from_ms, to_ms) = match chart.subject {
        Backtest => {
            let times = || series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
            match (times().min(), times().max()) {
                (Some(first), Some(last)) => (first, last + HOUR_MS),
                _ => (from_ms, to_ms),
            }
        }
        _ => (from_ms, to_ms),
    };
    let frame = Frame {
        title: &title,
        unit: chart.unit,
        scale: chart.scale,
        from_ms,
        to_ms,
        width: request.width,
    };
    render::svg(&frame, &series).map_err(|e| Error::Crashed {
        detail: format!("drawing chart {}: {e}", chart.name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_end_with_the_hour_holding_the_end() {
        let end = 10 * HOUR_MS + 5;
        assert_eq!(
            Span::parse(None, end).unwrap(),
            Span {
                from_ms: -13 * HOUR_MS,
                to_ms: 11 * HOUR_MS
            }
        );
        assert_eq!(
            Span::parse(Some("7d"), end).unwrap().to_ms - Span::parse(Some("7d"), end).unwrap().from_ms,
            168 * HOUR_MS
        );
        for bad in ["", "1y", "24", "-7d", "30d;drop"] {
            assert!(Span::parse(Some(bad), end).is_err(), "{bad}");
        }
        // The far ends of time neither overflow nor panic.
        assert!(Span::parse(Some("30d"), i64::MAX).is_ok());
        assert!(Span::parse(Some("30d"), i64::MIN).is_ok());
    }

    #[test]
    fn every_chart_draws_a_measure_its_statement_answers() {
        for chart in CHARTS {
            let sql = chart.query.sql();
            assert!(
                sql.contains(&format!(" AS {}", chart.column))
                    || sql.contains(&format!("  {},", chart.column))
                    || sql.contains(&format!("  {}\n", chart.column)),
                "{} draws {} which {} does not answer",
                chart.name,
                chart.column,
                chart.query.name
            );
            assert!(
                sql.contains(" AS t,") && sql.contains(" AS series"),
                "{}",
                chart.query.name
            );
        }
        let mut names: Vec<_> = CHARTS.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CHARTS.len(), "chart names repeat");
    }
}
