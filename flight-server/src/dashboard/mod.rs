//! What the dashboard and `/v1/orchestrators` show: one row per
//! orchestrator from whatever evidence the lake holds, and one
//! orchestrator's hourly history.
//!
//! Every table is optional: a lake of node telemetry only has no SLA
//! columns, a lake of gateway events only has no uptime. A missing figure is
//! null, never 0.

pub(crate) mod handlers;
pub(crate) mod leaderboards;

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::RecordBatch;
use datafusion::scalar::ScalarValue;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::{Catalog, Error, Result, cells};
use naap_sql::{Served, serving, tables};

/// The rules the dashboard shows.
const SLA: &str = "sla";
const UPTIME: &str = "uptime";

/// The newest score of one orchestrator and what stands behind it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct OrchestratorRow {
    pub orchestrator: String,
    /// 0..100: the SLA score of its newest scored hour within the trailing
    /// window (`within`) when there is one, else the latest minute's uptime
    /// score.
    pub score: Option<f64>,
    /// `sla` or `uptime`.
    pub rule: Option<String>,
    pub rule_version: Option<i64>,
    /// The window the score is of.
    pub window_start: Option<String>,
    pub uptime_ratio: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub avg_output_fps: Option<f64>,
    pub requested_sessions: Option<f64>,
    pub startup_success_rate: Option<f64>,
    pub gpu_model: Option<String>,
    pub regions: Vec<String>,
}

/// The entry of the orchestrator in `batch`'s `row`, created on first sight.
fn row_of<'a>(
    rows: &'a mut BTreeMap<String, OrchestratorRow>,
    batch: &RecordBatch,
    row: usize,
) -> Option<&'a mut OrchestratorRow> {
    let o = cells::text(batch, "orchestrator", row)?;
    Some(rows.entry(o.clone()).or_insert_with(|| OrchestratorRow {
        orchestrator: o,
        ..Default::default()
    }))
}

/// One row per orchestrator seen in any score table, best score first, of
/// the rule versions in `served`: its newest uptime minute, and its newest
/// scored SLA hour within `within` of the SLA version's newest hour.
pub async fn orchestrators(catalog: &Catalog, served: &Served, within: crate::Within) -> Result<Vec<OrchestratorRow>> {
    let tables: BTreeSet<String> = catalog.table_names().await?.into_iter().collect();
    let mut rows: BTreeMap<String, OrchestratorRow> = BTreeMap::new();
    if let (true, Some(version)) = (tables.contains(tables::SCORES.name), served.version(UPTIME)) {
        let batches = catalog.serve(serving::DASHBOARD_UPTIME, vec![int(version)]).await?;
        for b in &batches {
            for row in 0..b.num_rows() {
                let Some(r) = row_of(&mut rows, b, row) else {
                    continue;
                };
                r.score = cells::number(b, "score", row);
                r.rule = Some(UPTIME.into());
                r.rule_version = cells::number(b, "rule_version", row).map(|v| v as i64);
                r.window_start = cells::text(b, "window_start", row);
                r.uptime_ratio = cells::number(b, "uptime_ratio", row);
                r.latency_p95_ms = cells::number(b, "latency_p95_ms", row);
            }
        }
    }
    if let (true, Some(version)) = (tables.contains(tables::SLA_HOURLY.name), served.version(SLA)) {
        let within = ScalarValue::Int64(Some(within.ms()));
        let batches = catalog
            .serve(serving::DASHBOARD_SLA, vec![int(version), within])
            .await?;
        for b in &batches {
            for row in 0..b.num_rows() {
                let Some(r) = row_of(&mut rows, b, row) else {
                    continue;
                };
                r.score = cells::number(b, "sla_score", row).map(|s| (s * 1000.0).round() / 1000.0);
                r.rule = Some(SLA.into());
                r.rule_version = Some(i64::from(version));
                r.window_start = cells::text(b, "window_start", row);
                r.requested_sessions = cells::number(b, "requested_sessions", row);
                r.startup_success_rate = cells::number(b, "startup_success_rate", row);
                r.avg_output_fps = cells::number(b, "avg_output_fps", row);
            }
        }
    }
    for (o, known) in leaderboards::evidence(catalog, &tables).await? {
        if let Some(r) = rows.get_mut(&o) {
            r.gpu_model = known.gpu_model;
            r.regions = known.regions;
        }
    }
    let mut out: Vec<OrchestratorRow> = rows.into_values().collect();
    out.sort_by(|a, b| {
        b.score
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&a.score.unwrap_or(f64::NEG_INFINITY))
            .then_with(|| a.orchestrator.cmp(&b.orchestrator))
    });
    Ok(out)
}

/// The rule versions an answer used: `{"sla": 1, "uptime": 1}`.
pub type RuleVersions = BTreeMap<String, u32>;

/// The rule versions in `served`.
pub fn rule_versions(served: &Served) -> RuleVersions {
    served.iter().map(|(rule, v)| (rule.to_owned(), v)).collect()
}

/// The network at a glance (`/v1/overview`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Overview {
    /// Orchestrators seen in any score table.
    pub orchestrators: usize,
    /// Of them, those with a score.
    pub scored: usize,
    pub median_score: Option<f64>,
    /// Sessions requested in the orchestrators' latest SLA hours.
    pub sessions: Option<f64>,
    /// Of those sessions, the share that started.
    pub startup_success_rate: Option<f64>,
    /// The rule versions the answer used: `{"sla": 1, "uptime": 1}`.
    #[schema(value_type = BTreeMap<String, u32>)]
    pub rules: RuleVersions,
    /// The newest SLA hour among the orchestrators' rows.
    pub sla_window_start: Option<String>,
}

/// `/v1/orchestrators`: one row per orchestrator, best score first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OrchestratorList {
    pub orchestrators: Vec<OrchestratorRow>,
    /// The rule versions the answer used: `{"sla": 1, "uptime": 1}`.
    #[schema(value_type = BTreeMap<String, u32>)]
    pub rules: RuleVersions,
}

/// One orchestrator's history (`/v1/orchestrators/{address}`). Each list
/// holds the columns of its serving statement (`sql/serving/orchestrator_*.sql`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OrchestratorDetail {
    /// The address, in lower case.
    pub orchestrator: String,
    /// Whether any table holds a row of it.
    pub seen: bool,
    /// Its SLA rows by hour, of the served version.
    #[schema(value_type = Vec<Object>)]
    pub sla_hourly: Vec<Map<String, Value>>,
    /// The hourly mean of its minute uptime scores, of the served version.
    #[schema(value_type = Vec<Object>)]
    pub uptime_hourly: Vec<Map<String, Value>>,
    /// The GPUs its nodes measured.
    #[schema(value_type = Vec<Object>)]
    pub gpus: Vec<Map<String, Value>>,
    /// What it advertised: pipelines, models, prices, GPUs.
    #[schema(value_type = Vec<Object>)]
    pub advertised: Vec<Map<String, Value>>,
    /// The regions its nodes declared.
    #[schema(value_type = Vec<Object>)]
    pub regions: Vec<Map<String, Value>>,
    /// Its newest AI batch requests and BYOC jobs (at most 50).
    #[schema(value_type = Vec<Object>)]
    pub jobs: Vec<Map<String, Value>>,
    /// The rule versions the answer used: `{"sla": 1, "uptime": 1}`.
    #[schema(value_type = BTreeMap<String, u32>)]
    pub rules: RuleVersions,
}

/// Network overview from the orchestrator rows, of the rule versions in
/// `served`.
pub fn overview(rows: &[OrchestratorRow], served: &Served) -> Overview {
    let mut scores: Vec<f64> = rows.iter().filter_map(|r| r.score).collect();
    scores.sort_by(f64::total_cmp);
    let median = match scores.len() {
        0 => None,
        n if n % 2 == 1 => Some(scores[n / 2]),
        n => Some((scores[n / 2 - 1] + scores[n / 2]) / 2.0),
    };
    let sessions: f64 = rows.iter().filter_map(|r| r.requested_sessions).sum();
    let succeeded: f64 = rows
        .iter()
        .filter_map(|r| Some(r.requested_sessions? * r.startup_success_rate?))
        .sum();
    Overview {
        orchestrators: rows.len(),
        scored: scores.len(),
        median_score: median,
        sessions: (sessions > 0.0).then_some(sessions),
        startup_success_rate: (sessions > 0.0).then(|| succeeded / sessions),
        rules: rule_versions(served),
        sla_window_start: rows
            .iter()
            .filter(|r| r.rule.as_deref() == Some(SLA))
            .filter_map(|r| r.window_start.clone())
            .max(),
    }
}

/// One orchestrator: hourly SLA rows, hourly mean of its minute uptime
/// scores (of the versions in `served`), its GPUs and the regions its nodes
/// declared.
pub async fn orchestrator(catalog: &Catalog, address: &str, served: &Served) -> Result<OrchestratorDetail> {
    let address: naap_events::OrchestratorAddress = address
        .parse()
        .map_err(|e: naap_events::IdError| Error::Refused { detail: e.to_string() })?;
    let tables: BTreeSet<String> = catalog.table_names().await?.into_iter().collect();
    let who = || ScalarValue::Utf8(Some(address.as_str().to_owned()));
    let versioned = |rule: &str| served.version(rule).map(|v| vec![who(), int(v)]);
    let rows = async |table: &str, query, params: Option<Vec<ScalarValue>>| -> Result<Vec<Map<String, Value>>> {
        Ok(match params {
            Some(params) if tables.contains(table) => cells::rows(&catalog.serve(query, params).await?),
            _ => Vec::new(),
        })
    };
    let mut detail = OrchestratorDetail {
        orchestrator: address.as_str().to_owned(),
        seen: false,
        sla_hourly: rows(tables::SLA_HOURLY.name, serving::ORCHESTRATOR_SLA_HOURS, versioned(SLA)).await?,
        uptime_hourly: rows(
            tables::SCORES.name,
            serving::ORCHESTRATOR_UPTIME_HOURS,
            versioned(UPTIME),
        )
        .await?,
        gpus: rows(tables::GPU_SAMPLE.name, serving::ORCHESTRATOR_GPUS, Some(vec![who()])).await?,
        advertised: rows(
            tables::CAPABILITY_SNAPSHOTS.name,
            serving::ORCHESTRATOR_ADVERTISED,
            Some(vec![who()]),
        )
        .await?,
        regions: rows(
            tables::TELEMETRY_1M.name,
            serving::ORCHESTRATOR_NODE_REGIONS,
            Some(vec![who()]),
        )
        .await?,
        jobs: cells::rows(
            &catalog
                .serve_present(
                    serving::ORCHESTRATOR_JOBS,
                    vec![who(), ScalarValue::Int64(Some(RECENT_JOBS))],
                )
                .await?,
        ),
        rules: rule_versions(served),
    };
    detail.seen = [
        &detail.sla_hourly,
        &detail.uptime_hourly,
        &detail.gpus,
        &detail.advertised,
        &detail.regions,
        &detail.jobs,
    ]
    .iter()
    .any(|rows| !rows.is_empty());
    Ok(detail)
}

/// The most recent jobs an orchestrator's page lists.
const RECENT_JOBS: i64 = 50;

/// A rule version as a query parameter.
pub(crate) fn int(version: u32) -> ScalarValue {
    ScalarValue::Int32(Some(i32::try_from(version).unwrap_or(i32::MAX)))
}
