//! Comparing one rule version's scores at hour h with the outcomes of hour
//! h + horizon, per pipeline and model.
//!
//! * `spearman_*`: Spearman's ρ, within each hour, between the score and
//!   the outcome of the orchestrators that have both, averaged over the
//!   hours where it is defined (3 or more pairs, neither side constant).
//!   E2E latency is sign-flipped, so for every metric ρ > 0 means the
//!   score ranks as the outcome does.
//! * `uplift_*`: what a gateway would have got sending its sessions of
//!   h + horizon to the top k orchestrators by score at h, picked by the
//!   reference router's own selection (`naap_flight_server::router::select`
//!   over the orchestrators the rule scored, no exploration, no minimum
//!   score; price and latency, which the backtest does not see, count
//!   neutral, so the order is the score's, ties by address), against sending them at random
//!   among the orchestrators with sessions then, and against the router as
//!   it is set by default (its served SLA version, 3 picks, minimum score
//!   0.5, exploration 0.1). Sessions are spread evenly over the picks;
//!   success is startup success; latency is E2E in ms, counted as saved
//!   (random − top k), so for every uplift > 0 is better.
//! * `coverage`: the share of sessions of h + horizon whose orchestrator
//!   had a score at h; a row without a score ("no data") is not covered.
//! * `policy_*` (with `--weights`): a weight choice as a selection policy.
//!   The router's own selection with those weights over the scored
//!   orchestrators, now seeing each one's price and discovery latency of
//!   hour h (`evidence`), picks the top k; its success and E2E latency at
//!   h + horizon against random, as for `uplift_*`. `policy_weight_*`
//!   record the weights as given (`naap backtest` normalises them).
//!
//! Each figure has a 95 % bootstrap interval over hours.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use naap_flight_server::router::{Candidate, SelectRequest, Weights, select};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::evidence::{Evidence, Seen};
use crate::inputs::{Outcome, Outcomes};
use crate::report::{GroupReport, HourValue, MetricValue};
use crate::stats;

/// Scores of one rule version: (hour, pipeline, model) → orchestrator → score.
pub(crate) type Scores = HashMap<(i64, String, String), HashMap<String, Option<f64>>>;

/// How a backtest compares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub horizon_ms: i64,
    pub top_k: usize,
    pub resamples: usize,
    pub seed: u64,
    /// A weight choice to evaluate as a selection policy.
    pub policy: Option<Weights>,
}

/// The reference router's defaults (`/v1/select`).
const ROUTER_PICKS: usize = 3;
const ROUTER_MIN_SCORE: f64 = 0.5;
const ROUTER_EXPLORE: f64 = 0.1;

type Metric = (&'static str, fn(&Outcome) -> Option<f64>);

const CORRELATED: [Metric; 4] = [
    ("spearman_startup_success", |o| Some(o.startup_success)),
    ("spearman_output_viability", |o| Some(o.output_viability)),
    ("spearman_no_swap", |o| Some(o.no_swap)),
    ("spearman_e2e_latency", |o| o.e2e_latency_ms.map(|v| -v)),
];

/// Every metric, in report order.
pub const METRICS: [&str; 9] = [
    "spearman_startup_success",
    "spearman_output_viability",
    "spearman_no_swap",
    "spearman_e2e_latency",
    "uplift_success_vs_random",
    "uplift_success_vs_router",
    "uplift_latency_ms_vs_random",
    "uplift_latency_ms_vs_router",
    "coverage",
];

/// The policy's figures, with `--weights`.
pub const POLICY_METRICS: [&str; 2] = ["policy_uplift_success_vs_random", "policy_uplift_latency_ms_vs_random"];

/// The mean of `value` over `picked` (those that have one).
fn mean_of(picked: &[&Outcome], value: fn(&Outcome) -> Option<f64>) -> Option<f64> {
    let values: Vec<f64> = picked.iter().filter_map(|o| value(o)).collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The outcomes of the orchestrators the router picks, ranking by `score`
/// and what `seen` tells of each, with `weights`.
fn picks<'a>(
    outcomes: &'a [Outcome],
    score: impl Fn(&str) -> Option<f64>,
    seen: impl Fn(&str) -> Seen,
    (req, weights): (&SelectRequest, &Weights),
    seed: u64,
) -> Vec<&'a Outcome> {
    let candidates: Vec<Candidate> = outcomes
        .iter()
        .map(|o| {
            let seen = seen(&o.orchestrator);
            Candidate {
                address: o.orchestrator.clone(),
                uri: String::new(),
                score: score(&o.orchestrator),
                price_wei_per_pixel: seen.price,
                latency_ms: seen.latency_ms,
                window_start: None,
            }
        })
        .collect();
    let by_address: HashMap<&str, &Outcome> = outcomes.iter().map(|o| (o.orchestrator.as_str(), o)).collect();
    select(candidates, req, weights, &mut StdRng::seed_from_u64(seed))
        .into_iter()
        .filter_map(|c| by_address.get(c.candidate.address.as_str()).copied())
        .collect()
}

/// Per-hour values of each metric: (hour, value, pairs), and coverage as
/// (hour, covered sessions, sessions).
#[derive(Default)]
struct Series {
    values: BTreeMap<&'static str, Vec<(i64, f64, u64)>>,
    coverage: Vec<(i64, f64, f64)>,
}

/// Evaluates `scores` (and the router's `baseline`) for one pipeline and model.
pub(crate) fn group(
    (pipeline, model): (&str, &str),
    hours: &[i64],
    scores: &Scores,
    baseline: &Scores,
    (outcomes, evidence): (&Outcomes, &Evidence),
    settings: Settings,
) -> GroupReport {
    let mut series = Series::default();
    let empty = HashMap::new();
    for &hour in hours {
        let key = |h: i64| (h, pipeline.to_owned(), model.to_owned());
        let Some(next) = outcomes.get(&key(hour + settings.horizon_ms)) else {
            continue;
        };
        let at_h = scores.get(&key(hour)).unwrap_or(&empty);
        let score_of = |orch: &str| at_h.get(orch).copied().flatten();
        let covered: f64 = next
            .iter()
            .filter(|o| score_of(&o.orchestrator).is_some())
            .map(|o| o.sessions)
            .sum();
        let sessions: f64 = next.iter().map(|o| o.sessions).sum();
        series.coverage.push((hour, covered, sessions));
        for (name, value) in CORRELATED {
            let pairs: Vec<(f64, f64)> = next
                .iter()
                .filter_map(|o| Some((score_of(&o.orchestrator)?, value(o)?)))
                .collect();
            if let Some(rho) = stats::spearman(&pairs) {
                series
                    .values
                    .entry(name)
                    .or_default()
                    .push((hour, rho, pairs.len() as u64));
            }
        }
        if covered == 0.0 {
            continue;
        }
        let top = SelectRequest {
            pipeline: pipeline.to_owned(),
            model: model.to_owned(),
            region: None,
            max_price: None,
            n: settings.top_k,
            min_score: f64::MIN,
            explore: 0.0,
            within: naap_flight_server::Within::DEFAULT,
        };
        let router = SelectRequest {
            n: ROUTER_PICKS,
            min_score: ROUTER_MIN_SCORE,
            explore: ROUTER_EXPLORE,
            ..top.clone()
        };
        let seed = settings.seed ^ (hour as u64);
        // Top k ranks only what the rule scored; the router, as deployed,
        // also explores the unscored.
        let scored: Vec<Outcome> = next
            .iter()
            .filter(|o| score_of(&o.orchestrator).is_some())
            .cloned()
            .collect();
        let unseen = |_: &str| Seen::default();
        let weights = Weights::default();
        let chosen = picks(&scored, score_of, unseen, (&top, &weights), seed);
        let at_h_router = baseline.get(&key(hour)).unwrap_or(&empty);
        let routed = picks(
            next,
            |o| at_h_router.get(o).copied().flatten().map(|s| s / 100.0),
            unseen,
            (&router, &weights),
            seed,
        );
        let all: Vec<&Outcome> = next.iter().collect();
        let success = |o: &Outcome| Some(o.startup_success);
        let latency = |o: &Outcome| o.e2e_latency_ms;
        let n = chosen.len() as u64;
        let mut push = |name: &'static str, v: Option<f64>| {
            if let Some(v) = v {
                series.values.entry(name).or_default().push((hour, v, n));
            }
        };
        let (top_s, top_l) = (mean_of(&chosen, success), mean_of(&chosen, latency));
        push(
            "uplift_success_vs_random",
            top_s.zip(mean_of(&all, success)).map(|(t, r)| t - r),
        );
        push(
            "uplift_success_vs_router",
            top_s.zip(mean_of(&routed, success)).map(|(t, r)| t - r),
        );
        push(
            "uplift_latency_ms_vs_random",
            top_l.zip(mean_of(&all, latency)).map(|(t, r)| r - t),
        );
        push(
            "uplift_latency_ms_vs_router",
            top_l.zip(mean_of(&routed, latency)).map(|(t, r)| r - t),
        );
        if let Some(policy) = settings.policy {
            let seen = |o: &str| evidence.get(&(hour, o.to_lowercase())).copied().unwrap_or_default();
            let policed = picks(&scored, score_of, seen, (&top, &policy), seed);
            let (s, l) = (mean_of(&policed, success), mean_of(&policed, latency));
            let n = policed.len() as u64;
            let mut push = |name: &'static str, v: Option<f64>| {
                if let Some(v) = v {
                    series.values.entry(name).or_default().push((hour, v, n));
                }
            };
            push(POLICY_METRICS[0], s.zip(mean_of(&all, success)).map(|(t, r)| t - r));
            push(POLICY_METRICS[1], l.zip(mean_of(&all, latency)).map(|(t, r)| r - t));
        }
    }
    summarize(pipeline, model, series, settings)
}

fn summarize(pipeline: &str, model: &str, series: Series, settings: Settings) -> GroupReport {
    // One generator per group and metric, so a figure does not depend on
    // which other groups or metrics the run holds.
    let rng_for = |metric: &str| {
        let mut h: u64 = settings.seed;
        for b in pipeline.bytes().chain(model.bytes()).chain(metric.bytes()) {
            h = h.wrapping_mul(0x100_0000_01b3).wrapping_add(u64::from(b));
        }
        StdRng::seed_from_u64(h)
    };
    let mut metrics = Vec::new();
    let mut per_hour = Vec::new();
    let policy = settings.policy.map_or(&[][..], |_| &POLICY_METRICS[..]);
    for &metric in METRICS.iter().chain(policy) {
        let (estimate, hours, pairs) = if metric == "coverage" {
            let values: Vec<(f64, f64)> = series.coverage.iter().map(|(_, c, s)| (*c, *s)).collect();
            for (hour, c, s) in &series.coverage {
                if *s > 0.0 {
                    per_hour.push(HourValue::new(*hour, metric, c / s, *s as u64));
                }
            }
            let sessions: f64 = values.iter().map(|(_, s)| s).sum();
            let est = stats::ratio(&values, settings.resamples, &mut rng_for(metric));
            (est, values.len() as u64, sessions as u64)
        } else {
            let points = series.values.get(metric).map(Vec::as_slice).unwrap_or_default();
            let values: Vec<f64> = points.iter().map(|(_, v, _)| *v).collect();
            per_hour.extend(points.iter().map(|(h, v, n)| HourValue::new(*h, metric, *v, *n)));
            let pairs: u64 = points.iter().map(|(_, _, n)| n).sum();
            (
                stats::mean(&values, settings.resamples, &mut rng_for(metric)),
                values.len() as u64,
                pairs,
            )
        };
        metrics.push(MetricValue {
            metric: metric.to_owned(),
            value: estimate.map(|e| e.value),
            low: estimate.map(|e| e.low),
            high: estimate.map(|e| e.high),
            hours,
            pairs,
        });
    }
    if let Some(w) = settings.policy {
        for (metric, weight) in [
            ("policy_weight_score", w.score),
            ("policy_weight_price", w.price),
            ("policy_weight_latency", w.latency),
        ] {
            metrics.push(MetricValue {
                metric: metric.to_owned(),
                value: Some(weight),
                low: None,
                high: None,
                hours: 0,
                pairs: 0,
            });
        }
    }
    GroupReport {
        pipeline: pipeline.to_owned(),
        model: model.to_owned(),
        metrics,
        per_hour,
    }
}

/// Every (pipeline, model) that has outcomes at some hour + horizon.
pub(crate) fn groups(hours: &[i64], outcomes: &Outcomes, horizon_ms: i64) -> BTreeSet<(String, String)> {
    let wanted: BTreeSet<i64> = hours.iter().map(|h| h + horizon_ms).collect();
    outcomes
        .keys()
        .filter(|(h, _, _)| wanted.contains(h))
        .map(|(_, p, m)| (p.clone(), m.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn outcome(orchestrator: &str, success: f64, e2e: f64) -> Outcome {
        Outcome {
            orchestrator: orchestrator.to_owned(),
            sessions: 10.0,
            startup_success: success,
            output_viability: success,
            no_swap: 1.0,
            e2e_latency_ms: Some(e2e),
        }
    }

    /// Four hours; each hour the score ranks the next hour's success
    /// exactly, and says nothing of latency; "d" is never scored.
    fn case(flip: bool) -> GroupReport {
        let key = |h: i64| (h, "p".to_owned(), "m".to_owned());
        let (mut scores, mut outcomes) = (Scores::new(), Outcomes::new());
        for h in 0..5 {
            let s = |v: f64| Some(if flip { -v } else { v });
            scores.insert(
                key(h * H),
                [("a", s(3.0)), ("b", s(2.0)), ("c", s(1.0)), ("d", None)]
                    .into_iter()
                    .map(|(o, v)| (o.to_owned(), v))
                    .collect(),
            );
            let e2e = if h % 2 == 0 {
                [300.0, 200.0, 100.0, 250.0]
            } else {
                [100.0, 200.0, 300.0, 250.0]
            };
            outcomes.insert(
                key(h * H),
                vec![
                    outcome("a", 0.9, e2e[0]),
                    outcome("b", 0.8, e2e[1]),
                    outcome("c", 0.5, e2e[2]),
                    outcome("d", 0.7, e2e[3]),
                ],
            );
        }
        let settings = Settings {
            horizon_ms: H,
            top_k: 1,
            resamples: 200,
            seed: 1,
            policy: None,
        };
        let hours: Vec<i64> = (0..4).map(|h| h * H).collect();
        group(
            ("p", "m"),
            &hours,
            &scores,
            &scores,
            (&outcomes, &Evidence::new()),
            settings,
        )
    }

    #[test]
    fn a_score_that_ranks_the_next_hour_exactly() {
        let g = case(false);
        let m = |name: &str| g.metric(name).cloned().unwrap();
        let rho = m("spearman_startup_success");
        assert_eq!(
            (rho.value, rho.low, rho.high, rho.hours),
            (Some(1.0), Some(1.0), Some(1.0), 4)
        );
        // Top 1 is "a" (0.9) against the mean of all four (0.725).
        let uplift = m("uplift_success_vs_random");
        assert!((uplift.value.unwrap() - 0.175).abs() < 1e-12, "{uplift:?}");
        // Latency alternates against the score: 0 on average.
        let latency = m("spearman_e2e_latency");
        assert_eq!(latency.value, Some(0.0));
        assert!(latency.low.unwrap() < 0.0 && latency.high.unwrap() > 0.0);
        // "d" (10 of 40 sessions) has no score: coverage 0.75, every hour.
        assert_eq!(m("coverage").value, Some(0.75));
        assert_eq!(g.per_hour.iter().filter(|p| p.metric == "coverage").count(), 4);
    }

    #[test]
    fn a_price_policy_picks_the_cheapest_of_each_hour() {
        let key = |h: i64| (h, "p".to_owned(), "m".to_owned());
        let (mut scores, mut outcomes, mut evidence) = (Scores::new(), Outcomes::new(), Evidence::new());
        for h in 0..3 {
            let all = [("a", 0.9), ("b", 0.6), ("c", 0.3)];
            scores.insert(
                key(h * H),
                all.iter().map(|(o, _)| (o.to_string(), Some(0.8))).collect(),
            );
            outcomes.insert(key(h * H), all.iter().map(|(o, s)| outcome(o, *s, 100.0)).collect());
            // "b" is cheapest at hour 0, "a" later; "c" has no price seen (0.5).
            let cheapest = if h == 0 { "b" } else { "a" };
            for (o, price) in [("a", 200.0), ("b", 200.0)] {
                let price = if o == cheapest { 100.0 } else { price };
                evidence.insert(
                    (h * H, o.to_owned()),
                    Seen {
                        price: Some(price),
                        latency_ms: None,
                    },
                );
            }
        }
        let settings = Settings {
            horizon_ms: H,
            top_k: 1,
            resamples: 50,
            seed: 1,
            policy: Some(Weights {
                score: 0.0,
                price: 1.0,
                latency: 0.0,
            }),
        };
        let g = group(("p", "m"), &[0, H], &scores, &scores, (&outcomes, &evidence), settings);
        // Hour 0 picks "b" (0.6), hour 1 "a" (0.9); random is 0.6 each hour.
        let uplift = g.metric("policy_uplift_success_vs_random").unwrap();
        assert_eq!(uplift.hours, 2);
        assert!((uplift.value.unwrap() - 0.15).abs() < 1e-12, "{uplift:?}");
        assert_eq!(g.metric("policy_weight_price").unwrap().value, Some(1.0));
        // Equal scores: the plain top 1 takes the first address every hour.
        let plain = g.metric("uplift_success_vs_random").unwrap().value.unwrap();
        assert!((plain - 0.3).abs() < 1e-12, "{plain}");
    }

    #[test]
    fn a_score_upside_down_ranks_backwards() {
        let g = case(true);
        let rho = g.metric("spearman_startup_success").unwrap();
        assert_eq!(rho.value, Some(-1.0));
        // Top 1 is now "c" (0.5): 0.225 worse than random.
        let uplift = g.metric("uplift_success_vs_random").unwrap().value.unwrap();
        assert!((uplift + 0.225).abs() < 1e-12, "{uplift}");
    }
}
