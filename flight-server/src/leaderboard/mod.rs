//! livepeer/naap's orchestrator leaderboard, from the lake:
//! `POST /api/v1/orchestrator-leaderboard/rank`.
//!
//! The request, its validation messages, the answer and the ranking are
//! those of the leaderboard plugin's API (`apps/web-next`, `rank/route.ts`,
//! `lib/orchestrator-leaderboard/`), so its clients switch by URL. The rows
//! come from the lake instead of its ClickHouse query: per orchestrator
//! offering the capability (a model, e.g. `streamdiffusion-sdxl`) warm in
//! the newest hour of `network_capabilities` snapshots, its newest slots,
//! slots in use and price, the swing of its free slots over the hour, its
//! GPU, and the discovery latency gateways measured over the last day (see
//! `rows`). Each row also carries naap's evidence (`naap`: its address,
//! how many snapshots and latency samples it rests on), so "no data" is
//! never read as "bad"; clients that do not know the field ignore it.

pub(crate) mod handlers;

mod ranking;
mod request;
mod rows;
mod tiers;

pub use ranking::{Filters, Given, GivenWeights, Weights};
pub use request::{RankRequest, Refusal};

use rand::SeedableRng;
use serde::Serialize;
use utoipa::ToSchema;

use crate::perf_stats::Regions;
use crate::{Catalog, Result};

/// One orchestrator offering the capability (livepeer/naap's
/// `OrchestratorRow`, camelCase on the wire).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// The service URI a gateway dials.
    pub orch_uri: String,
    pub gpu_name: String,
    /// GPU memory, GiB (one decimal); 0 when unknown.
    pub gpu_gb: f64,
    /// Free slots in the newest snapshot.
    pub avail: f64,
    /// Slots in the newest snapshot.
    pub total_cap: f64,
    /// Wei per unit (pixel for video), newest advertised; 0 when unknown.
    pub price_per_unit: f64,
    /// Lowest discovery latency gateways measured over the last day, ms.
    pub best_lat_ms: Option<f64>,
    /// Mean discovery latency over the last day, ms.
    pub avg_lat_ms: Option<f64>,
    /// How far free slots swung over the hour, over the slots: (max − min) / total.
    pub swap_ratio: Option<f64>,
    /// Mean free slots over the hour.
    pub avg_avail: Option<f64>,
    /// 0..1, only when the request gives `slaWeights`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla_score: Option<f64>,
    /// naap's evidence for the row.
    pub naap: Evidence,
}

/// What a row rests on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// The orchestrator's on-chain address.
    pub address: String,
    /// Snapshots of the hour that advertised the capability warm.
    pub snapshots: u64,
    /// Discovery round trips behind the latency figures.
    pub latency_samples: u64,
    /// The newest snapshot's time, RFC 3339.
    pub seen_at: String,
    /// The served SLA version's score, 0..1, over the hours within 2 hours
    /// of its newest (as discovery scores); null without one.
    pub sla_score: Option<f64>,
    /// The jobs rule's score, 0..1, the same way; null without one.
    pub jobs_score: Option<f64>,
}

/// The ranked rows for `request`.
pub async fn rank(catalog: &Catalog, regions: &Regions, request: &RankRequest) -> Result<Vec<Row>> {
    let region = request.region.as_deref().map(|r| (regions, r));
    let offered = rows::offering(catalog, &request.capability, region).await?;
    let mut rows = ranking::filter(offered, &request.filters);
    let scores = crate::discover::rule_scores(catalog, crate::Within::DEFAULT).await?;
    scored(&mut rows, &scores);
    let mut ranked = match request.weights {
        Some(given) => ranking::rerank(ranking::default_order(rows), Weights::from_given(given)),
        None => ranking::default_order(rows),
    };
    ranked.truncate(request.top_n);
    Ok(ranked)
}

/// python-gateway's discovery list: the service URIs offering any of
/// `capabilities` (in order; repeats dropped), at most `top_n`, shuffled
/// within five tiers.
///
/// Each capability's rows are ranked by the reference router's own code
/// (`router::select`, as `/orch-webhook` ranks for go-livepeer gateways):
/// the served rule's score (the SLA's, else the jobs rule's), the
/// advertised price and the best discovery latency, no minimum score and
/// no exploration; orchestrators without a score follow the scored ones,
/// in service-URI order. So a python gateway and a go-livepeer gateway are
/// given the same order from the same evidence.
pub async fn gateway_list(catalog: &Catalog, capabilities: &[String], top_n: usize) -> Result<Vec<String>> {
    let scores = crate::discover::rule_scores(catalog, crate::Within::DEFAULT).await?;
    let mut ordered: Vec<String> = Vec::new();
    for capability in capabilities {
        let mut rows = rows::offering(catalog, capability, None).await?;
        scored(&mut rows, &scores);
        for uri in router_order(rows, top_n) {
            if ordered.len() >= top_n {
                break;
            }
            if !ordered.contains(&uri) {
                ordered.push(uri);
            }
        }
    }
    let mut rng = rand::rng();
    Ok(tiers::shuffle_in_tiers(&ordered, 5, || {
        rand::Rng::random::<f64>(&mut rng)
    }))
}

/// Each row's naap evidence with the served SLA and jobs rule scores.
fn scored(rows: &mut [Row], scores: &crate::discover::RuleScores) {
    for row in rows {
        row.naap.sla_score = scores.sla(&row.naap.address);
        row.naap.jobs_score = scores.jobs(&row.naap.address, &row.orch_uri);
    }
}

/// `rows` (with their scores) in the reference router's order: the scored
/// ranked by `router::select` (no minimum, no exploration), then the
/// unscored by service URI.
fn router_order(rows: Vec<Row>, n: usize) -> Vec<String> {
    use crate::router::{Candidate, SelectRequest, Weights, select};
    let positive = |v: f64| (v > 0.0).then_some(v);
    let (scored, unscored): (Vec<Row>, Vec<Row>) = rows
        .into_iter()
        .partition(|r| r.naap.sla_score.or(r.naap.jobs_score).is_some());
    let candidates: Vec<Candidate> = scored
        .into_iter()
        .map(|row| Candidate {
            score: row.naap.sla_score.or(row.naap.jobs_score),
            price_wei_per_pixel: positive(row.price_per_unit),
            latency_ms: row.best_lat_ms,
            address: row.naap.address,
            uri: row.orch_uri,
            window_start: None,
        })
        .collect();
    let request = SelectRequest {
        pipeline: String::new(),
        model: String::new(),
        region: None,
        max_price: None,
        n,
        min_score: 0.0,
        explore: 0.0,
        within: crate::Within::DEFAULT,
    };
    let mut unscored: Vec<String> = unscored.into_iter().map(|r| r.orch_uri).collect();
    unscored.sort();
    // Without exploration the draws are never used; a fixed seed says so.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    select(candidates, &request, &Weights::default(), &mut rng)
        .into_iter()
        .map(|c| c.candidate.uri)
        .chain(unscored)
        .collect()
}
