//! NaaP's discovery, `GET /v1/discover/orchestrators?caps=pipeline/model`:
//! one row per (orchestrator, pipeline) advertised in the 30 minutes before
//! the lake's newest capability snapshot, scored 0..1 over the hours within
//! `within` (2 h) of each rule's newest hour: the served SLA version for
//! what it scores (live video), else the served jobs rule (AI batch, BYOC).
//! Without either, `score` is 0 and `recent_work` false, as in NaaP. `caps`
//! (repeatable) keeps the rows whose pipeline/model pairs include any of
//! them. NaaP's `address` is the service URI; naap adds the on-chain
//! address as `orchestrator`.

pub(crate) mod handlers;

use std::collections::HashMap;

use datafusion::scalar::ScalarValue;
use naap_sql::{serving, tables};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Catalog, Result, Within, cells};

/// How recently an orchestrator must have advertised, before the newest
/// snapshot (NaaP's documented 30 minutes).
const RECENT_MS: i64 = 30 * 60_000;

/// One (orchestrator, pipeline).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Discovered {
    /// The service URI of its newest offer (NaaP's field name).
    pub address: String,
    /// 0..1, three decimals; 0 without recent work.
    pub score: f64,
    /// Its `pipeline/model` pairs of this row's pipeline.
    pub capabilities: Vec<String>,
    /// Its newest offer, Unix ms.
    pub last_seen_ms: i64,
    /// The same, RFC 3339 with milliseconds.
    pub last_seen: String,
    /// Whether a rule scored it in the window.
    pub recent_work: bool,
    /// naap: the on-chain address.
    pub orchestrator: String,
    /// naap: the pipeline of the row.
    pub pipeline: String,
}

#[derive(Deserialize)]
struct Offered {
    address: String,
    orchestrator: String,
    pipeline: String,
    capabilities: Option<Vec<String>>,
    last_seen_ms: i64,
}

#[derive(Deserialize)]
struct Scored {
    orchestrator: String,
    pipeline: String,
    score: Option<f64>,
}

/// Scores by (orchestrator, pipeline) from `statement`, when `table` exists.
async fn scores(
    catalog: &Catalog,
    names: &[String],
    table: &str,
    statement: serving::Query,
    params: Vec<ScalarValue>,
) -> Result<HashMap<(String, String), f64>> {
    if !names.iter().any(|t| t == table) {
        return Ok(HashMap::new());
    }
    let rows: Vec<Scored> = cells::typed(statement, &catalog.serve(statement, params).await?)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| Some(((r.orchestrator, r.pipeline), r.score?)))
        .collect())
}

/// The two rules' scores by (orchestrator, pipeline), 0..1: the served
/// SLA version's (live video, by address) and the jobs rule's (AI batch by
/// service URL, BYOC by address), over the hours within `within` of each
/// rule's newest.
pub(crate) struct RuleScores {
    sla: HashMap<(String, String), f64>,
    jobs: HashMap<(String, String), f64>,
}

impl RuleScores {
    fn mean<'a>(scores: impl Iterator<Item = &'a f64>) -> Option<f64> {
        let (sum, n) = scores.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
        (n > 0).then(|| sum / n as f64)
    }

    /// The SLA score of `address`, over its pipelines.
    pub(crate) fn sla(&self, address: &str) -> Option<f64> {
        Self::mean(self.sla.iter().filter(|((a, _), _)| a == address).map(|(_, s)| s))
    }

    /// The jobs score of the orchestrator at `address` or `uri`, over its pipelines.
    pub(crate) fn jobs(&self, address: &str, uri: &str) -> Option<f64> {
        Self::mean(
            self.jobs
                .iter()
                .filter(|((a, _), _)| a == address || a == uri)
                .map(|(_, s)| s),
        )
    }
}

pub(crate) async fn rule_scores(catalog: &Catalog, within: Within) -> Result<RuleScores> {
    let names = catalog.table_names().await?;
    let within_ms = || ScalarValue::Int64(Some(within.ms()));
    let version = |rule| ScalarValue::Int32(Some(catalog.served().version(rule).map_or(0, |v| v as i32)));
    let sla = scores(
        catalog,
        &names,
        tables::SLA_HOURLY.name,
        serving::DISCOVER_SLA,
        vec![within_ms(), version("sla")],
    )
    .await?;
    let jobs = scores(
        catalog,
        &names,
        tables::JOBS_HOURLY.name,
        serving::DISCOVER_JOBS,
        vec![within_ms(), version("jobs")],
    )
    .await?;
    Ok(RuleScores { sla, jobs })
}

/// The rows, best first (score, then more capabilities, then address).
pub async fn orchestrators(catalog: &Catalog, caps: &[String], within: Within) -> Result<Vec<Discovered>> {
    // A set: a request may repeat `caps` as often as its URL allows.
    let wanted: std::collections::HashSet<&str> = caps.iter().map(String::as_str).collect();
    let names = catalog.table_names().await?;
    if !names.iter().any(|t| t == tables::CAPABILITY_SNAPSHOTS.name) {
        return Ok(Vec::new());
    }
    let RuleScores { sla, jobs } = rule_scores(catalog, within).await?;
    let statement = serving::DISCOVER_ORCHESTRATORS;
    let offered: Vec<Offered> = cells::typed(
        statement,
        &catalog
            .serve(statement, vec![ScalarValue::Int64(Some(RECENT_MS))])
            .await?,
    )?;
    let mut rows: Vec<Discovered> = offered
        .into_iter()
        .map(|r| {
            let key = |who: &str| (who.to_owned(), r.pipeline.clone());
            let score = sla
                .get(&key(&r.orchestrator))
                .or_else(|| jobs.get(&key(&r.orchestrator)))
                .or_else(|| jobs.get(&key(&r.address)))
                .copied();
            Discovered {
                score: score.map_or(0.0, |s| (s * 1000.0).round() / 1000.0),
                recent_work: score.is_some(),
                capabilities: r.capabilities.unwrap_or_default(),
                last_seen: crate::requests::rfc3339(r.last_seen_ms),
                last_seen_ms: r.last_seen_ms,
                address: r.address,
                orchestrator: r.orchestrator,
                pipeline: r.pipeline,
            }
        })
        .filter(|r| caps.is_empty() || r.capabilities.iter().any(|c| wanted.contains(c.as_str())))
        .collect();
    rows.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.capabilities.len().cmp(&a.capabilities.len()))
            .then(a.address.cmp(&b.address))
    });
    Ok(rows)
}
