//! The Livepeer Explorer's leaderboard API, computed from the lake, so the
//! Explorer (and anything else written against `leaderboard-serverless`)
//! can point at naap unchanged:
//!
//! * `GET /api/aggregated_stats?orchestrator=&region=&since=&until=&pipeline=&model=`
//!   → `{"<orchestrator>": {"<REGION>": {"score", "success_rate", "round_trip_score"}}}`
//!   with numbers in 0..1;
//! * `GET /api/regions` → `{"regions": [{"id", "name", "type"}]}`;
//! * `GET /api/pipelines` → `{"pipelines": [{"id", "models": [...]}]}`.
//!
//! Parameters follow the original: `since`/`until` are Unix seconds
//! (fractions allowed; `since` defaults to 24 hours ago, `until` to now),
//! `region` is upper-cased, `orchestrator` lower-cased, and `pipeline` and
//! `model` come together or not at all (400 otherwise). The figures are the
//! SLA v1 rows of the sealed hours in the window, weighted by requested
//! sessions: `score` = SLA score / 100, `success_rate` = startup success,
//! `round_trip_score` = the latency component. They are network-wide and
//! listed under the default region label (`--default-region`); per-region
//! figures over arbitrary windows are not computed yet, so any other region
//! answers `{}`. An orchestrator with no sessions in the window is absent,
//! never 0.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::scalar::ScalarValue;
use serde_json::{Map, Value, json};

use crate::perf_stats::Regions;
use crate::{Catalog, Error, Result, cells};

/// The query parameters of `/api/aggregated_stats`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct StatsQuery {
    pub orchestrator: Option<String>,
    pub region: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub pipeline: Option<String>,
    pub model: Option<String>,
}

fn seconds(name: &str, value: Option<&str>, default_ms: i64) -> Result<i64> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(default_ms),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite())
            .map(|s| (s * 1000.0) as i64)
            .ok_or_else(|| Error::Refused {
                detail: format!("{name}={v:?} is not Unix seconds"),
            }),
    }
}

/// `/api/aggregated_stats`.
pub async fn aggregated_stats(catalog: &Catalog, regions: &Regions, q: &StatsQuery, now_ms: i64) -> Result<Value> {
    let pipeline = q.pipeline.clone().filter(|p| !p.is_empty());
    let model = q.model.clone().filter(|m| !m.is_empty());
    if pipeline.is_some() != model.is_some() {
        return Err(Error::Refused {
            detail: "pipeline and model must be given together".into(),
        });
    }
    let since = seconds("since", q.since.as_deref(), now_ms - 24 * 3_600_000)?;
    let until = seconds("until", q.until.as_deref(), now_ms)?;
    let region = q.region.as_deref().filter(|r| !r.is_empty()).map(str::to_uppercase);
    let orchestrator = q
        .orchestrator
        .as_deref()
        .filter(|o| !o.is_empty())
        .map(str::to_lowercase);
    let label = regions.default_region.to_uppercase();
    let mut out = Map::new();
    if region.as_ref().is_some_and(|r| *r != label) || !catalog.table_names().await?.iter().any(|t| t == "sla_hourly") {
        return Ok(Value::Object(out));
    }
    let params = vec![
        ScalarValue::Int64(Some(since)),
        ScalarValue::Int64(Some(until)),
        ScalarValue::Utf8(pipeline),
        ScalarValue::Utf8(model),
    ];
    let batches = catalog
        .collect_with(
            "SELECT orchestrator, sum(sla_score * requested_sessions) / sum(requested_sessions) / 100.0 AS score, sum(startup_success_rate * requested_sessions) / sum(requested_sessions) AS success_rate, sum(latency_score * requested_sessions) / sum(requested_sessions) AS round_trip_score FROM sla_hourly WHERE sla_score IS NOT NULL AND requested_sessions > 0 AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) >= $1 AND CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < $2 AND ($3 IS NULL OR pipeline = $3) AND ($4 IS NULL OR model = $4) GROUP BY orchestrator ORDER BY orchestrator",
            Some(params),
        )
        .await?;
    for b in &batches {
        for row in 0..b.num_rows() {
            let (Some(o), Some(score)) = (cells::text(b, "orchestrator", row), cells::number(b, "score", row)) else {
                continue;
            };
            if orchestrator.as_ref().is_some_and(|want| *want != o) {
                continue;
            }
            let stats = json!({
                "score": score,
                "success_rate": cells::number(b, "success_rate", row).unwrap_or(score),
                "round_trip_score": cells::number(b, "round_trip_score", row).unwrap_or(score),
            });
            out.insert(o, json!({ label.clone(): stats }));
        }
    }
    Ok(Value::Object(out))
}

/// `/api/regions`: the region labels this server reports under.
pub fn regions(regions: &Regions) -> Value {
    let mut labels: BTreeSet<String> = regions.by_gateway.values().map(|r| r.to_uppercase()).collect();
    labels.insert(regions.default_region.to_uppercase());
    let list: Vec<Value> = labels
        .into_iter()
        .map(|id| json!({ "id": id, "name": id, "type": "ai" }))
        .collect();
    json!({ "regions": list })
}

/// `/api/pipelines`: every pipeline and its models that orchestrators advertise.
pub async fn pipelines(catalog: &Catalog) -> Result<Value> {
    let mut by_pipeline: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if catalog.table_names().await?.iter().any(|t| t == "capability_snapshots") {
        let batches = catalog
            .query("SELECT DISTINCT pipeline, model_id FROM capability_snapshots WHERE pipeline IS NOT NULL AND model_id IS NOT NULL")
            .await?;
        for b in &batches {
            for row in 0..b.num_rows() {
                if let (Some(p), Some(m)) = (cells::text(b, "pipeline", row), cells::text(b, "model_id", row)) {
                    by_pipeline.entry(p).or_default().insert(m);
                }
            }
        }
    }
    let list: Vec<Value> = by_pipeline
        .into_iter()
        .map(|(id, models)| json!({ "id": id, "models": models }))
        .collect();
    Ok(json!({ "pipelines": list }))
}
