//! `/v1/leaderboards`: one table per rule and cohort, never a column
//! mixing rules. The SLA per pipeline and model, the jobs rule per family,
//! capability and model, node health (the uptime rule) on its own; every
//! row carries what else the lake knows of its orchestrator (GPU, regions,
//! the price it was paid), null when it knows nothing.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::scalar::ScalarValue;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::{RuleVersions, int, rule_versions};
use crate::{Catalog, Result, cells};
use naap_sql::{Served, serving, tables};

/// What the lake knows of an orchestrator besides its scores.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Evidence {
    /// A GPU its nodes measured, else one it advertised.
    pub gpu_model: Option<String>,
    /// The regions its nodes declared.
    pub regions: Vec<String>,
    /// The newest price per pixel (wei) gateways paid it.
    pub price_wei_per_pixel: Option<f64>,
}

/// Evidence per orchestrator, from whichever tables the lake holds.
pub(crate) async fn evidence(catalog: &Catalog, present: &BTreeSet<String>) -> Result<BTreeMap<String, Evidence>> {
    let mut out: BTreeMap<String, Evidence> = BTreeMap::new();
    for (table, query) in [
        (tables::GPU_SAMPLE.name, serving::GPU_MODELS_MEASURED),
        (tables::CAPABILITY_SNAPSHOTS.name, serving::GPU_MODELS_ADVERTISED),
    ] {
        if !present.contains(table) {
            continue;
        }
        for b in &catalog.serve(query, Vec::new()).await? {
            for row in 0..b.num_rows() {
                if let (Some(o), Some(gpu)) = (cells::text(b, "orchestrator", row), cells::text(b, "gpu", row)) {
                    out.entry(o).or_default().gpu_model.get_or_insert(gpu);
                }
            }
        }
    }
    if present.contains(naap_events::gateway_tables::PAYMENT_EVENTS_TABLE) {
        for b in &catalog.serve(serving::LEADERBOARDS_PRICES, Vec::new()).await? {
            for row in 0..b.num_rows() {
                if let Some(o) = cells::text(b, "orchestrator", row) {
                    out.entry(o).or_default().price_wei_per_pixel = cells::number(b, "price_wei_per_pixel", row);
                }
            }
        }
    }
    if present.contains(tables::TELEMETRY_1M.name) {
        for b in &catalog.serve(serving::ORCHESTRATOR_REGIONS, Vec::new()).await? {
            for row in 0..b.num_rows() {
                if let (Some(o), Some(region)) = (cells::text(b, "orchestrator", row), cells::text(b, "region", row)) {
                    out.entry(o).or_default().regions.push(region);
                }
            }
        }
    }
    Ok(out)
}

/// One leaderboard: a rule's rows for one cohort, best first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Board {
    pub rule: String,
    pub rule_version: u32,
    /// What the rows share: `{"pipeline": …, "model": …}`, `{"family": …,
    /// "pipeline": …, "model": …}`, or nothing (node health).
    #[schema(value_type = BTreeMap<String, String>)]
    pub cohort: BTreeMap<String, String>,
    /// One per orchestrator: the statement's columns, then `gpu_model`,
    /// `regions` and `price_wei_per_pixel`.
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<Map<String, Value>>,
}

/// `/v1/leaderboards`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Leaderboards {
    /// SLA per pipeline and model (`sql/serving/leaderboards_sla.sql`).
    pub sla: Vec<Board>,
    /// The jobs rule per family, capability and model.
    pub jobs: Vec<Board>,
    /// The uptime rule's newest minute per orchestrator (node telemetry).
    pub node_health: Vec<Board>,
    /// The rule versions the answer used.
    #[schema(value_type = BTreeMap<String, u32>)]
    pub rules: RuleVersions,
}

/// Groups `batches` into one board per value of the `cohort` columns,
/// each row joined with its orchestrator's evidence.
fn boards(
    rule: &str,
    version: u32,
    cohort: &[&str],
    batches: &[arrow::array::RecordBatch],
    evidence: &BTreeMap<String, Evidence>,
) -> Vec<Board> {
    let mut out: Vec<Board> = Vec::new();
    for mut row in cells::rows(batches) {
        let key: BTreeMap<String, String> = cohort
            .iter()
            .map(|c| {
                let v = row
                    .remove(*c)
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                ((*c).to_owned(), v)
            })
            .collect();
        let known = row
            .get("orchestrator")
            .and_then(Value::as_str)
            .and_then(|o| evidence.get(o))
            .cloned()
            .unwrap_or_default();
        row.insert("gpu_model".into(), json!(known.gpu_model));
        row.insert("regions".into(), json!(known.regions));
        row.insert("price_wei_per_pixel".into(), json!(known.price_wei_per_pixel));
        match out.last_mut() {
            Some(board) if board.cohort == key => board.rows.push(row),
            _ => out.push(Board {
                rule: rule.to_owned(),
                rule_version: version,
                cohort: key,
                rows: vec![row],
            }),
        }
    }
    out
}

/// Every leaderboard of the rule versions in `served`, each orchestrator's
/// newest scored hour counting if it starts within `within` of its rule
/// version's newest hour.
pub async fn leaderboards(catalog: &Catalog, served: &Served, within: crate::Within) -> Result<Leaderboards> {
    let present: BTreeSet<String> = catalog
        .table_names()
        .await?
        .into_iter()
        .map(|t| crate::lake_schema::served_name(&t))
        .collect();
    let evidence = evidence(catalog, &present).await?;
    let within_ms = || ScalarValue::Int64(Some(within.ms()));
    let mut out = Leaderboards {
        sla: Vec::new(),
        jobs: Vec::new(),
        node_health: Vec::new(),
        rules: rule_versions(served),
    };
    if let Some(v) = served.version("sla") {
        let rows = catalog
            .serve_present(serving::LEADERBOARDS_SLA, vec![int(v), within_ms()])
            .await?;
        out.sla = boards("sla", v, &["pipeline", "model"], &rows, &evidence);
    }
    if let Some(v) = served.version("jobs") {
        let rows = catalog
            .serve_present(serving::LEADERBOARDS_JOBS, vec![int(v), within_ms()])
            .await?;
        out.jobs = boards("jobs", v, &["family", "pipeline", "model"], &rows, &evidence);
    }
    if let Some(v) = served.version("uptime")
        && present.contains("scores_history")
    {
        let rows = catalog.serve(serving::DASHBOARD_UPTIME, vec![int(v)]).await?;
        out.node_health = boards("uptime", v, &[], &rows, &evidence);
        let score = |r: &Map<String, Value>| r.get("score").and_then(Value::as_f64).unwrap_or(f64::NEG_INFINITY);
        for board in &mut out.node_health {
            board.rows.sort_by(|a, b| score(b).total_cmp(&score(a)));
        }
    }
    Ok(out)
}
