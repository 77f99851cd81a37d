//! The leaderboard's filters and ranking, as livepeer/naap's
//! orchestrator-leaderboard plugin defines them: filters with inclusive
//! bounds (a latency or swap filter drops rows without a value), weights
//! laid over 0.4 / 0.3 / 0.3 and normalised, each metric scaled min-max
//! over the filtered rows with lower better (no value: 0.5; every value
//! equal: 1), the score rounded to 3 decimals before a stable sort.
//! naap adds two weights the plugin does not know, both 0 unless given:
//! `sla`, the served SLA score, and `jobs`, the jobs rule's score (each
//! 0..1, higher better, scaled the same way).

use super::Row;

/// Bounds a row must meet; absent ones do not apply.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Filters {
    pub gpu_ram_gb_min: Option<f64>,
    pub gpu_ram_gb_max: Option<f64>,
    pub price_max: Option<f64>,
    pub max_avg_latency_ms: Option<f64>,
    pub max_swap_ratio: Option<f64>,
}

impl Filters {
    fn keeps(&self, row: &Row) -> bool {
        let at_most = |bound: Option<f64>, value: Option<f64>| bound.is_none_or(|b| value.is_some_and(|v| v <= b));
        self.gpu_ram_gb_min.is_none_or(|min| row.gpu_gb >= min)
            && self.gpu_ram_gb_max.is_none_or(|max| row.gpu_gb <= max)
            && self.price_max.is_none_or(|max| row.price_per_unit <= max)
            && at_most(self.max_avg_latency_ms, row.avg_lat_ms)
            && at_most(self.max_swap_ratio, row.swap_ratio)
    }
}

/// A weight as the request gave it: absent keeps the default, `null`
/// counts as 0.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Given {
    #[default]
    Absent,
    Null,
    Value(f64),
}

/// `slaWeights` as given.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GivenWeights {
    pub latency: Given,
    pub swap_rate: Given,
    pub price: Given,
    /// naap's: the served SLA score.
    pub sla: Given,
    /// naap's: the jobs rule's score.
    pub jobs: Given,
}

/// Weights that sum to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    pub latency: f64,
    pub swap_rate: f64,
    pub price: f64,
    pub sla: f64,
    pub jobs: f64,
}

impl Weights {
    pub const DEFAULT: Weights = Weights {
        latency: 0.4,
        swap_rate: 0.3,
        price: 0.3,
        sla: 0.0,
        jobs: 0.0,
    };

    /// `given` over the defaults, negatives as 0, divided by their sum (the
    /// defaults when they sum to 0).
    pub fn from_given(given: GivenWeights) -> Weights {
        let pick = |g: Given, default: f64| match g {
            Given::Absent => default,
            Given::Null => 0.0,
            Given::Value(v) if v.is_finite() => v.max(0.0),
            Given::Value(_) => 0.0,
        };
        let raw = [
            pick(given.latency, Self::DEFAULT.latency),
            pick(given.swap_rate, Self::DEFAULT.swap_rate),
            pick(given.price, Self::DEFAULT.price),
            pick(given.sla, Self::DEFAULT.sla),
            pick(given.jobs, Self::DEFAULT.jobs),
        ];
        let sum: f64 = raw.iter().sum();
        if sum <= 0.0 {
            return Self::DEFAULT;
        }
        Weights {
            latency: raw[0] / sum,
            swap_rate: raw[1] / sum,
            price: raw[2] / sum,
            sla: raw[3] / sum,
            jobs: raw[4] / sum,
        }
    }
}

/// The rows `filters` keeps, in their order.
pub fn filter(rows: Vec<Row>, filters: &Filters) -> Vec<Row> {
    rows.into_iter().filter(|r| filters.keeps(r)).collect()
}

/// The smallest and largest value present.
fn range(values: impl Iterator<Item = Option<f64>>) -> (f64, f64) {
    values
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// `value` scaled into 0..1 within `range`, lower better.
fn scaled(value: Option<f64>, (min, max): (f64, f64)) -> f64 {
    match value {
        None => 0.5,
        Some(_) if max == min => 1.0,
        Some(v) => 1.0 - (v - min) / (max - min),
    }
}

/// Scores every row (`sla_score`) by `weights`, best first; ties keep
/// their order.
pub fn rerank(mut rows: Vec<Row>, weights: Weights) -> Vec<Row> {
    let latency = range(rows.iter().map(|r| r.best_lat_ms));
    let swap = range(rows.iter().map(|r| r.swap_ratio));
    let price = range(rows.iter().map(|r| Some(r.price_per_unit)));
    // Higher is better: scaled as their negatives.
    let sla = range(rows.iter().map(|r| r.naap.sla_score.map(|s| -s)));
    let jobs = range(rows.iter().map(|r| r.naap.jobs_score.map(|s| -s)));
    for row in &mut rows {
        let score = weights.latency * scaled(row.best_lat_ms, latency)
            + weights.swap_rate * scaled(row.swap_ratio, swap)
            + weights.price * scaled(Some(row.price_per_unit), price)
            + weights.sla * scaled(row.naap.sla_score.map(|s| -s), sla)
            + weights.jobs * scaled(row.naap.jobs_score.map(|s| -s), jobs);
        row.sla_score = Some((score * 1000.0).round() / 1000.0);
    }
    rows.sort_by(|a, b| {
        b.sla_score
            .partial_cmp(&a.sla_score)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    rows
}

/// Without weights: lowest best latency first (none last), then lowest
/// swing, then lowest price, then service URI, as the leaderboard's
/// source query orders them.
pub fn default_order(mut rows: Vec<Row>) -> Vec<Row> {
    let key = |v: Option<f64>| (v.is_none(), v.unwrap_or(0.0));
    rows.sort_by(|a, b| {
        key(a.best_lat_ms)
            .partial_cmp(&key(b.best_lat_ms))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(
                key(a.swap_ratio)
                    .partial_cmp(&key(b.swap_ratio))
                    .unwrap_or(std::cmp::Ordering::Equal),
            )
            .then(a.price_per_unit.total_cmp(&b.price_per_unit))
            .then(a.orch_uri.cmp(&b.orch_uri))
    });
    rows
}

#[cfg(test)]
#[path = "ranking_tests.rs"]
mod tests;
