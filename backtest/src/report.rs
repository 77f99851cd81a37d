//! A backtest's report: what it prints, its JSON, and its rows in the
//! `backtests` lake table.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use serde::Serialize;

/// One figure over the whole range, with its 95 % interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricValue {
    pub metric: String,
    /// Null when no hour had what the metric needs.
    pub value: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// Hours that gave a value.
    pub hours: u64,
    /// Orchestrator-hours (ρ), picks (uplift) or sessions (coverage) behind it.
    pub pairs: u64,
}

/// One figure of one hour (the score's hour), for charts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourValue {
    pub window_start_ms: i64,
    pub metric: String,
    pub value: f64,
    pub pairs: u64,
}

impl HourValue {
    pub(crate) fn new(window_start_ms: i64, metric: &str, value: f64, pairs: u64) -> Self {
        Self {
            window_start_ms,
            metric: metric.to_owned(),
            value,
            pairs,
        }
    }
}

/// The figures of one rule version for one pipeline and model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupReport {
    pub pipeline: String,
    pub model: String,
    pub metrics: Vec<MetricValue>,
    pub per_hour: Vec<HourValue>,
}

impl GroupReport {
    /// The figure called `metric`.
    pub fn metric(&self, metric: &str) -> Option<&MetricValue> {
        self.metrics.iter().find(|m| m.metric == metric)
    }
}

/// One rule version (built in or from a file) and its figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleReport {
    pub rule: String,
    pub version: u32,
    /// SHA-256 of the SQL text, first 16 hex digits: tells two files of one
    /// version apart.
    pub digest: String,
    /// `sql/rules/<rule>/v<N>.sql`, or the file given.
    pub source: String,
    /// Rows it scored (a score, not "no data") over the hours.
    pub scored_rows: u64,
    /// Of them, rows compared with a benchmark of fewer than
    /// [`crate::BENCHMARK_MIN_ROWS`] rows: their benchmarked part is the
    /// rule's neutral value, the same for every orchestrator.
    pub thin_benchmark_rows: u64,
    pub groups: Vec<GroupReport>,
}

impl RuleReport {
    pub fn label(&self) -> String {
        format!("{} v{}", self.rule, self.version)
    }

    /// Why its figures cannot say much, when they cannot: most of its rows
    /// (half or more) were compared with too thin a benchmark.
    pub fn warning(&self) -> Option<String> {
        if self.thin_benchmark_rows == 0 || 2 * self.thin_benchmark_rows < self.scored_rows {
            return None;
        }
        let share = 100.0 * self.thin_benchmark_rows as f64 / self.scored_rows.max(1) as f64;
        Some(format!(
            "{}: {share:.0} % of its {} scored rows were compared with a benchmark of fewer than {} rows \
             (for the SLA: the previous 7 full days of hourly rows of the same pipeline and model), so that part of \
             their score is the same neutral value for every orchestrator; versions that differ only there \
             backtest the same. Backtest a lake with more history (at least two days of it).",
            self.label(),
            self.scored_rows,
            crate::BENCHMARK_MIN_ROWS
        ))
    }
}

impl Report {
    /// The warnings of every rule version, one line each.
    pub fn warnings(&self) -> Vec<String> {
        self.rules.iter().filter_map(RuleReport::warning).collect()
    }
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub run_id: String,
    pub run_at_ms: i64,
    /// The hours scored: [from_ms, to_ms).
    pub from_ms: i64,
    pub to_ms: i64,
    pub horizon_hours: u32,
    pub top_k: usize,
    pub resamples: usize,
    pub seed: u64,
    pub hours_scored: usize,
    /// The weight choice evaluated as a selection policy (`--weights`).
    pub policy: Option<naap_flight_server::router::Weights>,
    pub elapsed_s: f64,
    pub rules: Vec<RuleReport>,
}

fn figure(m: Option<&MetricValue>, latency: bool) -> String {
    let Some(MetricValue {
        value: Some(v),
        low: Some(lo),
        high: Some(hi),
        ..
    }) = m
    else {
        return "–".to_owned();
    };
    if latency {
        format!("{v:+.0} [{lo:+.0}, {hi:+.0}]")
    } else {
        format!("{v:+.3} [{lo:+.3}, {hi:+.3}]")
    }
}

const ROWS: [(&str, &str); 9] = [
    ("spearman_startup_success", "ρ startup success"),
    ("spearman_output_viability", "ρ output viability"),
    ("spearman_no_swap", "ρ no swap"),
    ("spearman_e2e_latency", "ρ E2E latency (−)"),
    ("uplift_success_vs_random", "success, top k − random"),
    ("uplift_success_vs_router", "success, top k − router"),
    ("uplift_latency_ms_vs_random", "E2E ms saved vs random"),
    ("uplift_latency_ms_vs_router", "E2E ms saved vs router"),
    ("coverage", "coverage"),
];

const POLICY_ROWS: [(&str, &str); 2] = [
    ("policy_uplift_success_vs_random", "success, policy − random"),
    ("policy_uplift_latency_ms_vs_random", "E2E ms saved, policy"),
];

impl Report {
    /// The terminal table: per pipeline and model, one column per version.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let groups: std::collections::BTreeSet<(&str, &str)> = self
            .rules
            .iter()
            .flat_map(|r| r.groups.iter().map(|g| (g.pipeline.as_str(), g.model.as_str())))
            .collect();
        for (pipeline, model) in groups {
            let columns: Vec<(String, Option<&GroupReport>)> = self
                .rules
                .iter()
                .map(|r| {
                    let g = r.groups.iter().find(|g| g.pipeline == pipeline && g.model == model);
                    (r.label(), g)
                })
                .collect();
            let hours = columns
                .iter()
                .filter_map(|(_, g)| g.and_then(|g| g.metric("coverage")).map(|m| m.hours))
                .max()
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "\n{pipeline} / {model}: {hours} hours scored, outcomes {} h later, top k = {}{}",
                self.horizon_hours,
                self.top_k,
                self.policy.map_or(String::new(), |w| format!(
                    "; policy: score {} price {} latency {}",
                    w.score, w.price, w.latency
                ))
            );
            let _ = write!(out, "{:<26}", "");
            for (label, _) in &columns {
                let _ = write!(out, "  {label:<26}");
            }
            out.push('\n');
            let policy: &[(&str, &str)] = match self.policy {
                Some(_) => &POLICY_ROWS,
                None => &[],
            };
            for &(metric, title) in ROWS.iter().chain(policy) {
                let _ = write!(out, "{title:<26}");
                for (_, g) in &columns {
                    let m = g.and_then(|g| g.metric(metric));
                    let _ = write!(out, "  {:<26}", figure(m, metric.contains("latency_ms")));
                }
                out.push('\n');
            }
        }
        if self
            .rules
            .iter()
            .any(|r| r.source.ends_with(".sql") && !r.source.starts_with("sql/rules/"))
        {
            out.push('\n');
            for r in &self.rules {
                let _ = writeln!(out, "{}: {} (sha256 {})", r.label(), r.source, r.digest);
            }
        }
        let _ = writeln!(
            out,
            "\n[interval: 95 % bootstrap over hours, {} resamples; ρ > 0 and uplift > 0 are better]",
            self.resamples
        );
        out
    }

    /// Its rows for the `backtests` table: one per figure over the range
    /// (`window_start` null) and one per figure and hour.
    pub fn batch(&self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let ts = || DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        let schema = Arc::new(Schema::new(vec![
            Field::new("run_id", DataType::Utf8, false),
            Field::new("run_at", ts(), false),
            Field::new("range_start", ts(), false),
            Field::new("range_end", ts(), false),
            Field::new("horizon_hours", DataType::Int32, false),
            Field::new("top_k", DataType::Int32, false),
            Field::new("rule", DataType::Utf8, false),
            Field::new("rule_version", DataType::Int32, false),
            Field::new("rule_digest", DataType::Utf8, false),
            Field::new("rule_source", DataType::Utf8, false),
            Field::new("pipeline", DataType::Utf8, false),
            Field::new("model", DataType::Utf8, false),
            Field::new("metric", DataType::Utf8, false),
            Field::new("window_start", ts(), true),
            Field::new("value", DataType::Float64, true),
            Field::new("ci_low", DataType::Float64, true),
            Field::new("ci_high", DataType::Float64, true),
            Field::new("hours", DataType::Int64, false),
            Field::new("pairs", DataType::Int64, false),
        ]));
        let mut text: [Vec<String>; 7] = Default::default();
        let (mut version, mut hours, mut pairs) = (Vec::new(), Vec::new(), Vec::new());
        let mut window = TimestampMillisecondBuilder::new().with_timezone("UTC");
        let (mut value, mut low, mut high) = (Float64Builder::new(), Float64Builder::new(), Float64Builder::new());
        for r in &self.rules {
            for g in &r.groups {
                let mut row = |metric: &str,
                               start: Option<i64>,
                               v: Option<f64>,
                               lo: Option<f64>,
                               hi: Option<f64>,
                               n: (u64, u64)| {
                    for (column, s) in text.iter_mut().zip([
                        &self.run_id,
                        &r.rule,
                        &r.digest,
                        &r.source,
                        &g.pipeline,
                        &g.model,
                        &metric.to_owned(),
                    ]) {
                        column.push(s.clone());
                    }
                    version.push(i32::try_from(r.version).unwrap_or(i32::MAX));
                    window.append_option(start);
                    value.append_option(v);
                    low.append_option(lo);
                    high.append_option(hi);
                    hours.push(i64::try_from(n.0).unwrap_or(i64::MAX));
                    pairs.push(i64::try_from(n.1).unwrap_or(i64::MAX));
                };
                for m in &g.metrics {
                    row(&m.metric, None, m.value, m.low, m.high, (m.hours, m.pairs));
                }
                for p in &g.per_hour {
                    row(
                        &p.metric,
                        Some(p.window_start_ms),
                        Some(p.value),
                        None,
                        None,
                        (1, p.pairs),
                    );
                }
            }
        }
        let rows = version.len();
        let stamp = |v: i64| -> ArrayRef {
            Arc::new(arrow::array::TimestampMillisecondArray::from(vec![v; rows]).with_timezone("UTC"))
        };
        let int =
            |v: usize| -> ArrayRef { Arc::new(Int32Array::from(vec![i32::try_from(v).unwrap_or(i32::MAX); rows])) };
        let [run_id, rule, digest, source, pipeline, model, metric] =
            text.map(|c| Arc::new(StringArray::from(c)) as ArrayRef);
        RecordBatch::try_new(
            schema,
            vec![
                run_id,
                stamp(self.run_at_ms),
                stamp(self.from_ms),
                stamp(self.to_ms),
                int(self.horizon_hours as usize),
                int(self.top_k),
                rule,
                Arc::new(Int32Array::from(version)),
                digest,
                source,
                pipeline,
                model,
                metric,
                Arc::new(window.finish()),
                Arc::new(value.finish()),
                Arc::new(low.finish()),
                Arc::new(high.finish()),
                Arc::new(Int64Array::from(hours)),
                Arc::new(Int64Array::from(pairs)),
            ],
        )
    }
}
