//! A reference router: which orchestrators a gateway should try next for a
//! pipeline and model, from the lake's evidence.
//!
//! go-livepeer's own selection weighs stake 0.7, price 0 and a random share
//! 0.3 by default, and knows nothing of how an orchestrator actually served.
//! This router ranks on what the lake measured instead:
//!
//! ```text
//! value = 0.6 * score + 0.2 * price_factor + 0.2 * latency_factor
//! score          = the latest sealed hour's NaaP SLA v1 score / 100
//! price_factor   = cheapest price per pixel among candidates / this price
//! latency_factor = lowest discovery latency among candidates / this latency,
//!                  as measured by the gateways of the requested region
//! ```
//!
//! A factor without evidence (no payment seen, no latency from that region)
//! counts 0.5, neither reward nor penalty. Candidates scoring below
//! `min_score` are dropped, as are those above `max_price` when their price
//! is known. Each of the `n` slots is, with probability `explore`, given to a
//! random candidate without a score yet (new, or unscored in this hour), so
//! that newcomers can earn a record; otherwise to the best-ranked scored
//! candidate left. When one kind runs out, the other fills the slots.

pub(crate) mod handlers;

use std::collections::{BTreeMap, HashMap};

use datafusion::scalar::ScalarValue;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use crate::perf_stats::Regions;
use crate::{Catalog, Result, Within, cells};
use naap_sql::{serving, tables};

/// The rule whose scores rank candidates.
const SLA: &str = "sla";
const JOBS: &str = "jobs";

/// The weights of the ranking (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Weights {
    pub score: f64,
    pub price: f64,
    pub latency: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            score: 0.6,
            price: 0.2,
            latency: 0.2,
        }
    }
}

/// What a gateway asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectRequest {
    pub pipeline: String,
    pub model: String,
    /// The gateway's region label (as in `--region-map`); `None`: network-wide latency.
    pub region: Option<String>,
    /// Highest acceptable price, wei per pixel.
    pub max_price: Option<f64>,
    /// How many orchestrators to return.
    pub n: usize,
    /// Scored candidates below this (0..1) are dropped.
    pub min_score: f64,
    /// Share of slots given to unscored candidates (0..1).
    pub explore: f64,
    /// How far back from the rule's newest hour a candidate's own newest
    /// scored hour still counts.
    pub within: Within,
}

/// One orchestrator that advertises the pipeline and model.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Candidate {
    pub address: String,
    /// The service URI a gateway dials.
    pub uri: String,
    /// 0..1; null when there is no score for it.
    pub score: Option<f64>,
    pub price_wei_per_pixel: Option<f64>,
    pub latency_ms: Option<f64>,
    /// The hour its score comes from: its newest scored hour within
    /// `within` of the rule's newest hour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_start: Option<String>,
}

/// A selected candidate, with why it was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Choice {
    #[serde(flatten)]
    pub candidate: Candidate,
    /// The ranking value; null for an exploration pick.
    pub value: Option<f64>,
    pub reason: Pick,
}

/// Why a candidate was chosen: by its ranking value, or to explore an
/// unscored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Pick {
    Ranked,
    Explore,
}

fn factor(best: Option<f64>, this: Option<f64>) -> f64 {
    match (best, this) {
        (Some(best), Some(this)) if this > 0.0 => (best / this).clamp(0.0, 1.0),
        (_, Some(_)) => 1.0,
        _ => 0.5,
    }
}

/// Ranks and picks `req.n` candidates; `rng` decides the exploration slots.
pub fn select(candidates: Vec<Candidate>, req: &SelectRequest, weights: &Weights, rng: &mut impl Rng) -> Vec<Choice> {
    let eligible: Vec<Candidate> = candidates
        .into_iter()
        .filter(|c| c.score.is_none_or(|s| s >= req.min_score))
        .filter(|c| {
            c.price_wei_per_pixel
                .is_none_or(|p| req.max_price.is_none_or(|max| p <= max))
        })
        .collect();
    let min_of = |f: fn(&Candidate) -> Option<f64>| {
        eligible
            .iter()
            .filter_map(f)
            .filter(|v| *v > 0.0)
            .min_by(f64::total_cmp)
    };
    let cheapest = min_of(|c| c.price_wei_per_pixel);
    let fastest = min_of(|c| c.latency_ms);
    let (scored, mut unscored): (Vec<Candidate>, Vec<Candidate>) =
        eligible.into_iter().partition(|c| c.score.is_some());
    let mut ranked: Vec<(f64, Candidate)> = scored
        .into_iter()
        .map(|c| {
            let value = weights.score * c.score.unwrap_or_default()
                + weights.price * factor(cheapest, c.price_wei_per_pixel)
                + weights.latency * factor(fastest, c.latency_ms);
            (value, c)
        })
        .collect();
    // Best first; ties by address so that the order is stable.
    ranked.sort_by(|(va, a), (vb, b)| vb.total_cmp(va).then_with(|| a.address.cmp(&b.address)));
    let mut ranked = ranked.into_iter();
    let mut out = Vec::with_capacity(req.n);
    while out.len() < req.n {
        let explore = !unscored.is_empty() && rng.random::<f64>() < req.explore;
        if explore || ranked.len() == 0 {
            if unscored.is_empty() {
                break;
            }
            let pick = rng.random_range(0..unscored.len());
            out.push(Choice {
                candidate: unscored.swap_remove(pick),
                value: None,
                reason: Pick::Explore,
            });
        } else if let Some((value, candidate)) = ranked.next() {
            out.push(Choice {
                candidate,
                value: Some(value),
                reason: Pick::Ranked,
            });
        }
    }
    out
}

/// `/v1/select`, `/orch-webhook` and the Flight action `select` take these
/// (as URL query parameters or a JSON object).
#[derive(Debug, Clone, serde::Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SelectParams {
    /// The pipeline to serve, e.g. live-video-to-video
    pub pipeline: String,
    /// The model to serve
    pub model: String,
    /// The gateway's region label (as in --region-map); default: network-wide latency
    pub region: Option<String>,
    /// Highest acceptable price, wei per pixel
    pub max_price: Option<f64>,
    /// How many orchestrators to return (at most 100)
    #[param(minimum = 0, maximum = 100)]
    pub n: Option<usize>,
    /// Scored candidates below this are dropped; default 0.5
    #[param(minimum = 0, maximum = 1)]
    pub min_score: Option<f64>,
    /// Share of slots given to unscored candidates; default 0.1
    #[param(minimum = 0, maximum = 1)]
    pub explore: Option<f64>,
    /// Fixes the exploration draws (tests, reproducible answers)
    pub seed: Option<u64>,
    /// How far back from the rule's newest hour a candidate's own newest
    /// scored hour still counts: 90m, 2h, 7d (1m to 7d)
    #[param(value_type = Option<String>, default = "2h", example = "2h")]
    pub within: Option<Within>,
}

impl SelectParams {
    pub fn request(&self, default_n: usize) -> SelectRequest {
        SelectRequest {
            pipeline: self.pipeline.clone(),
            model: self.model.clone(),
            region: self.region.clone(),
            max_price: self.max_price,
            n: self.n.unwrap_or(default_n).min(100),
            min_score: self.min_score.unwrap_or(0.5).clamp(0.0, 1.0),
            explore: self.explore.unwrap_or(0.1).clamp(0.0, 1.0),
            within: self.within.unwrap_or_default(),
        }
    }
}

/// The router's answer: the choices and the evidence they rest on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Selection {
    /// The rule whose scores rank the candidates: `sla` for live pipelines,
    /// `jobs` for AI batch pipelines and BYOC capabilities.
    #[schema(value_type = String)]
    pub rule: &'static str,
    /// Its version (the one the server serves).
    pub rule_version: Option<u32>,
    /// The newest hour a candidate's score comes from (each candidate names
    /// its own); null when none is scored.
    pub window_start: Option<String>,
    pub weights: Weights,
    pub explore: f64,
    pub min_score: f64,
    pub choices: Vec<Choice>,
}

/// Answers `params` from the lake.
pub async fn answer(
    catalog: &Catalog,
    regions: &Regions,
    params: &SelectParams,
    default_n: usize,
) -> Result<Selection> {
    let req = params.request(default_n);
    let Ranked {
        candidates,
        window_start,
        rule,
    } = candidates(catalog, regions, &req).await?;
    let weights = Weights::default();
    let choices = match params.seed {
        Some(seed) => select(candidates, &req, &weights, &mut rand::rngs::StdRng::seed_from_u64(seed)),
        None => select(candidates, &req, &weights, &mut rand::rng()),
    };
    Ok(Selection {
        rule,
        rule_version: catalog.served().version(rule),
        window_start,
        weights,
        explore: req.explore,
        min_score: req.min_score,
        choices,
    })
}

/// The candidates of a request, and what ranks them.
pub struct Ranked {
    pub candidates: Vec<Candidate>,
    /// The newest hour a candidate's score comes from (`None` when none
    /// is scored).
    pub window_start: Option<String>,
    /// The rule whose scores they are: `sla` for live pipelines, `jobs` for
    /// AI batch pipelines and BYOC capabilities that the SLA does not score.
    pub rule: &'static str,
}

/// The candidates for `req` from the lake: orchestrators advertising the
/// pipeline and model, and those with a BYOC runner of it.
pub async fn candidates(catalog: &Catalog, regions: &Regions, req: &SelectRequest) -> Result<Ranked> {
    let tables = catalog.table_names().await?;
    let has = |t: &str| tables.iter().any(|n| n == t);
    let within = || ScalarValue::Int64(Some(req.within.ms()));
    let key = || {
        vec![
            ScalarValue::Utf8(Some(req.pipeline.clone())),
            ScalarValue::Utf8(Some(req.model.clone())),
        ]
    };
    let mut caps = Vec::new();
    if has(tables::CAPABILITY_SNAPSHOTS.name) {
        caps.extend(catalog.serve(serving::ROUTER_CANDIDATES, key()).await?);
    }
    if has(tables::BYOC_WORKERS.name) {
        caps.extend(catalog.serve(serving::ROUTER_BYOC_CANDIDATES, key()).await?);
    }
    let mut by_address: BTreeMap<String, Candidate> = BTreeMap::new();
    let mut operating: HashMap<String, String> = HashMap::new();
    for b in &caps {
        for row in 0..b.num_rows() {
            let (Some(address), Some(uri)) = (cells::text(b, "address", row), cells::text(b, "orch_uri", row)) else {
                continue;
            };
            if let Some(local) = cells::text(b, "local_address", row) {
                operating.insert(local, address.clone());
            }
            operating.insert(uri.clone(), address.clone());
            by_address.entry(address.clone()).or_insert(Candidate {
                address,
                uri,
                score: None,
                price_wei_per_pixel: None,
                latency_ms: None,
                window_start: None,
            });
        }
    }
    if by_address.is_empty() {
        return Ok(Ranked {
            candidates: Vec::new(),
            window_start: None,
            rule: SLA,
        });
    }
    let mut hour = None;
    if let (true, Some(sla_version)) = (has(tables::SLA_HOURLY.name), catalog.served().version(SLA)) {
        let scores = catalog
            .serve(
                serving::ROUTER_SCORES,
                [key(), vec![crate::dashboard::int(sla_version), within()]].concat(),
            )
            .await?;
        for b in &scores {
            for row in 0..b.num_rows() {
                if let (Some(o), Some(s)) = (cells::text(b, "orchestrator", row), cells::number(b, "sla_score", row))
                    && let Some(c) = by_address.get_mut(&o)
                {
                    c.score = Some(s / 100.0);
                    c.window_start = cells::text(b, "hour", row);
                    hour = hour.max(c.window_start.clone());
                }
            }
        }
    }
    let mut rule = SLA;
    if let (None, true, Some(version)) = (&hour, has(tables::JOBS_HOURLY.name), catalog.served().version(JOBS)) {
        let scores = catalog
            .serve(
                serving::ROUTER_JOBS_SCORES,
                [key(), vec![crate::dashboard::int(version), within()]].concat(),
            )
            .await?;
        for b in &scores {
            for row in 0..b.num_rows() {
                let (Some(o), Some(s)) = (cells::text(b, "orchestrator", row), cells::number(b, "jobs_score", row))
                else {
                    continue;
                };
                // AI batch rows name the service URL.
                let address = operating.get(&o).cloned().unwrap_or(o);
                if let Some(c) = by_address.get_mut(&address) {
                    c.score = Some(s / 100.0);
                    c.window_start = cells::text(b, "hour", row);
                    hour = hour.max(c.window_start.clone());
                    rule = JOBS;
                }
            }
        }
    }
    if has("payment_events") {
        // The newest price each recipient was paid at.
        let prices = catalog.serve(serving::ROUTER_PRICES, Vec::new()).await?;
        for b in &prices {
            for row in 0..b.num_rows() {
                if let (Some(r), Some(p)) = (
                    cells::text(b, "recipient", row),
                    cells::number(b, "price_wei_per_pixel", row),
                ) {
                    let address = operating.get(&r.to_lowercase()).cloned().unwrap_or(r.to_lowercase());
                    if let Some(c) = by_address.get_mut(&address)
                        && c.price_wei_per_pixel.is_none()
                    {
                        c.price_wei_per_pixel = Some(p);
                    }
                }
            }
        }
    }
    if has("discovery_latency") {
        let latency = catalog.serve(serving::ROUTER_DISCOVERY_LATENCY, Vec::new()).await?;
        let mut sums: HashMap<String, (f64, f64)> = HashMap::new();
        for b in &latency {
            for row in 0..b.num_rows() {
                let gateway = cells::text(b, "gateway", row).unwrap_or_default();
                let region = regions.by_gateway.get(&gateway).unwrap_or(&regions.default_region);
                if req.region.as_ref().is_some_and(|r| r != region) {
                    continue;
                }
                let target = cells::text(b, "orchestrator_url", row)
                    .and_then(|u| operating.get(&u).cloned())
                    .or_else(|| {
                        cells::text(b, "orchestrator_address", row)
                            .map(|a| a.to_lowercase())
                            .map(|a| operating.get(&a).cloned().unwrap_or(a))
                    });
                if let (Some(t), Some(sum), Some(n)) = (
                    target,
                    cells::number(b, "latency_sum_ms", row),
                    cells::number(b, "samples", row),
                ) {
                    let e = sums.entry(t).or_default();
                    e.0 += sum;
                    e.1 += n;
                }
            }
        }
        for (address, (sum, n)) in sums {
            if let Some(c) = by_address.get_mut(&address)
                && n > 0.0
            {
                c.latency_ms = Some(sum / n);
            }
        }
    }
    Ok(Ranked {
        candidates: by_address.into_values().collect(),
        window_start: hour,
        rule,
    })
}

#[cfg(test)]
mod tests;
