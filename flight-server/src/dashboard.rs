//! What the dashboard and `/v1/orchestrators` show: one row per
//! orchestrator from whatever evidence the lake holds, and one
//! orchestrator's hourly history.
//!
//! Every table is optional: a lake of node telemetry only has no SLA
//! columns, a lake of gateway events only has no uptime. A missing figure is
//! null, never 0.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::RecordBatch;
use datafusion::scalar::ScalarValue;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{Catalog, Error, Result, cells};

/// The newest score of one orchestrator and what stands behind it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OrchestratorRow {
    pub orchestrator: String,
    /// 0..100: the SLA score of the latest sealed hour when there is one,
    /// else the latest minute's uptime score.
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

/// One row per orchestrator seen in any score table, best score first.
pub async fn orchestrators(catalog: &Catalog) -> Result<Vec<OrchestratorRow>> {
    let tables: BTreeSet<String> = catalog.table_names().await?.into_iter().collect();
    let mut rows: BTreeMap<String, OrchestratorRow> = BTreeMap::new();
    if tables.contains("scores") {
        let batches = catalog
            .query("SELECT orchestrator, rule_version, score, uptime_ratio, latency_p95_ms, CAST(window_start AS VARCHAR) AS window_start FROM scores WHERE rule = 'uptime' ORDER BY rule_version")
            .await?;
        for b in &batches {
            for row in 0..b.num_rows() {
                let Some(r) = row_of(&mut rows, b, row) else {
                    continue;
                };
                r.score = cells::number(b, "score", row);
                r.rule = Some("uptime".into());
                r.rule_version = cells::number(b, "rule_version", row).map(|v| v as i64);
                r.window_start = cells::text(b, "window_start", row);
                r.uptime_ratio = cells::number(b, "uptime_ratio", row);
                r.latency_p95_ms = cells::number(b, "latency_p95_ms", row);
            }
        }
    }
    if tables.contains("sla_hourly") {
        let batches = catalog
            .query("SELECT orchestrator, sum(sla_score * requested_sessions) / sum(requested_sessions) AS sla_score, sum(requested_sessions) AS requested_sessions, sum(startup_success_rate * requested_sessions) / sum(requested_sessions) AS startup_success_rate, avg(avg_output_fps) AS avg_output_fps, CAST(max(window_start) AS VARCHAR) AS window_start FROM sla_hourly WHERE sla_score IS NOT NULL AND window_start = (SELECT max(window_start) FROM sla_hourly) GROUP BY orchestrator")
            .await?;
        for b in &batches {
            for row in 0..b.num_rows() {
                let Some(r) = row_of(&mut rows, b, row) else {
                    continue;
                };
                r.score = cells::number(b, "sla_score", row).map(|s| (s * 1000.0).round() / 1000.0);
                r.rule = Some("sla".into());
                r.rule_version = Some(1);
                r.window_start = cells::text(b, "window_start", row);
                r.requested_sessions = cells::number(b, "requested_sessions", row);
                r.startup_success_rate = cells::number(b, "startup_success_rate", row);
                r.avg_output_fps = cells::number(b, "avg_output_fps", row);
            }
        }
    }
    for (table, sql) in [
        (
            "gpu_sample",
            "SELECT orchestrator, max(hw_model) AS gpu FROM gpu_sample GROUP BY orchestrator",
        ),
        (
            "capability_snapshots",
            "SELECT address AS orchestrator, max(gpu_name) AS gpu FROM capability_snapshots GROUP BY address",
        ),
    ] {
        if !tables.contains(table) {
            continue;
        }
        for b in &catalog.query(sql).await? {
            for row in 0..b.num_rows() {
                if let (Some(o), Some(gpu)) = (cells::text(b, "orchestrator", row), cells::text(b, "gpu", row))
                    && let Some(r) = rows.get_mut(&o)
                {
                    r.gpu_model.get_or_insert(gpu);
                }
            }
        }
    }
    if tables.contains("telemetry_1m") {
        let batches = catalog
            .query("SELECT DISTINCT orchestrator, region FROM telemetry_1m ORDER BY region")
            .await?;
        for b in &batches {
            for row in 0..b.num_rows() {
                if let (Some(o), Some(region)) = (cells::text(b, "orchestrator", row), cells::text(b, "region", row))
                    && let Some(r) = rows.get_mut(&o)
                {
                    r.regions.push(region);
                }
            }
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

/// Network overview from the orchestrator rows.
pub fn overview(rows: &[OrchestratorRow]) -> Value {
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
    json!({
        "orchestrators": rows.len(),
        "scored": scores.len(),
        "median_score": median,
        "sessions": if sessions > 0.0 { Some(sessions) } else { None },
        "startup_success_rate": if sessions > 0.0 { Some(succeeded / sessions) } else { None },
        "sla_window_start": rows.iter().filter(|r| r.rule.as_deref() == Some("sla")).filter_map(|r| r.window_start.clone()).max(),
    })
}

/// One orchestrator: hourly SLA rows, hourly mean of its minute uptime
/// scores, its GPUs and the regions its nodes declared.
pub async fn orchestrator(catalog: &Catalog, address: &str) -> Result<Value> {
    let address: naap_events::OrchestratorAddress = address
        .parse()
        .map_err(|e: naap_events::IdError| Error::Refused { detail: e.to_string() })?;
    let tables: BTreeSet<String> = catalog.table_names().await?.into_iter().collect();
    let param = || Some(vec![ScalarValue::Utf8(Some(address.as_str().to_owned()))]);
    let mut out = serde_json::Map::new();
    out.insert("orchestrator".into(), json!(address.as_str()));
    let queries = [
        (
            "sla_hourly",
            "sla_hourly",
            "SELECT CAST(window_start AS VARCHAR) AS window_start, pipeline, model, sla_score, reliability_score, quality_score, requested_sessions, startup_success_rate, avg_output_fps, avg_e2e_latency_ms FROM sla_hourly WHERE orchestrator = $1 ORDER BY window_start, pipeline, model",
        ),
        (
            "scores_history",
            "uptime_hourly",
            "SELECT CAST(date_trunc('hour', window_start) AS VARCHAR) AS hour, avg(score) AS mean_minute_score, avg(uptime_ratio) AS mean_uptime_ratio, count(*) AS minutes FROM scores_history WHERE orchestrator = $1 AND rule = 'uptime' GROUP BY 1 ORDER BY 1",
        ),
        (
            "gpu_sample",
            "gpus",
            "SELECT node_id, hw_id, max(hw_model) AS hw_model, max(hw_gpu_memory_limit_bytes) AS memory_bytes FROM gpu_sample WHERE orchestrator = $1 GROUP BY node_id, hw_id ORDER BY node_id, hw_id",
        ),
        (
            "capability_snapshots",
            "advertised",
            "SELECT DISTINCT pipeline, model_id AS model, gpu_id, gpu_name, orch_uri FROM capability_snapshots WHERE address = $1 ORDER BY pipeline, model, gpu_id",
        ),
        (
            "telemetry_1m",
            "regions",
            "SELECT region, count(DISTINCT node_id) AS nodes FROM telemetry_1m WHERE orchestrator = $1 GROUP BY region ORDER BY region",
        ),
    ];
    let mut seen = false;
    for (table, key, sql) in queries {
        let rows = if tables.contains(table) {
            cells::objects(&catalog.collect_with(sql, param()).await?)
        } else {
            Vec::new()
        };
        seen |= !rows.is_empty();
        out.insert(key.into(), Value::Array(rows));
    }
    out.insert("seen".into(), json!(seen));
    Ok(Value::Object(out))
}
