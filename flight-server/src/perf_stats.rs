//! The go-livepeer perf-score feed: `GET /orch-perf-stats?rule=sla&version=1`.
//!
//! A gateway started with `-orchPerfStatsUrl URL -region R -minPerfScore S`
//! fetches `{"0x<orch>": {"<REGION>": {"score": 0..1, ...}}}` every 10
//! minutes and reads `score` under its own region. This feed serves the
//! latest complete (sealed) hour of a rule's output table:
//!
//! * `score` is the rule's score / 100, averaged over the orchestrator's
//!   (pipeline, model) rows weighted by requested sessions;
//! * per region, the rule is re-run on that hour's input rows (`sla_inputs_hourly`)
//!   of the gateways mapped to the region (benchmark history stays
//!   network-wide); an orchestrator without sessions from a region's gateways
//!   gets its network-wide score there, so "no regional evidence" never
//!   reads as 0;
//! * `success_rate` (startup success) and `round_trip_score` (the latency
//!   component) are included because the Explorer's client of the same
//!   shape requires all three numbers; go-livepeer reads only `score`.
//!
//! Orchestrators whose score is null (nothing requested) are left out.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};
use serde_json::{Map, Value, json};

use crate::{Catalog, Error, Result};

/// Which region label each gateway's sessions count for.
#[derive(Debug, Clone)]
pub struct Regions {
    /// Gateway id (the envelope's `gateway`) → region label.
    pub by_gateway: BTreeMap<String, String>,
    /// Label of gateways not in the map, and of the network-wide score.
    pub default_region: String,
}

impl Default for Regions {
    fn default() -> Self {
        Self {
            by_gateway: BTreeMap::new(),
            default_region: "GLOBAL".into(),
        }
    }
}

impl Regions {
    fn labels(&self) -> BTreeSet<String> {
        let mut labels: BTreeSet<String> = self.by_gateway.values().cloned().collect();
        labels.insert(self.default_region.clone());
        labels
    }

    /// SQL expression mapping column `gateway` to its region label.
    fn region_sql(&self) -> String {
        let mut sql = String::from("CASE");
        for (gateway, region) in &self.by_gateway {
            sql.push_str(&format!(" WHEN gateway = {} THEN {}", quote(gateway), quote(region)));
        }
        sql.push_str(&format!(" ELSE {} END", quote(&self.default_region)));
        sql
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Score, success rate and latency score per orchestrator.
type Scores = BTreeMap<String, (f64, Option<f64>, Option<f64>)>;

fn f64_column(batch: &RecordBatch, name: &str, row: usize) -> Option<f64> {
    let col = batch.column_by_name(name)?;
    let col = arrow::compute::cast(col, &DataType::Float64).ok()?;
    let values = col.as_primitive::<Float64Type>();
    (!values.is_null(row)).then(|| values.value(row))
}

fn collect_scores(batches: &[RecordBatch]) -> Scores {
    let mut out = Scores::new();
    for b in batches {
        let Some(orchestrators) = b.column_by_name("orchestrator") else {
            continue;
        };
        let Ok(orchestrators) = arrow::compute::cast(orchestrators, &DataType::Utf8) else {
            continue;
        };
        let orchestrators = orchestrators.as_string::<i32>();
        for row in 0..b.num_rows() {
            if orchestrators.is_null(row) {
                continue;
            }
            let Some(score) = f64_column(b, "score", row) else {
                continue;
            };
            out.insert(
                orchestrators.value(row).to_owned(),
                (
                    score,
                    f64_column(b, "success_rate", row),
                    f64_column(b, "round_trip_score", row),
                ),
            );
        }
    }
    out
}

/// Per-orchestrator aggregate of a rule's rows (`rows` is a SQL relation).
fn per_orchestrator_sql(rows: &str, score_column: &str, has_sla_columns: bool) -> String {
    let weight = if has_sla_columns {
        "CAST(requested_sessions AS DOUBLE)"
    } else {
        "1.0"
    };
    let extra = if has_sla_columns {
        format!(
            ", sum(startup_success_rate * {weight}) / sum({weight}) AS success_rate, \
             sum(latency_score * {weight}) / sum({weight}) AS round_trip_score"
        )
    } else {
        String::new()
    };
    format!(
        "SELECT orchestrator, sum({score_column} * {weight}) / sum({weight}) / 100.0 AS score{extra} \
         FROM ({rows}) AS r WHERE {score_column} IS NOT NULL AND {weight} > 0 GROUP BY orchestrator"
    )
}

/// The feed's JSON for `rule` version `version`.
pub async fn feed(catalog: &Catalog, regions: &Regions, rule: &str, version: u32) -> Result<Value> {
    let Some(found) = naap_sql::rules()
        .into_iter()
        .find(|r| r.header.name == rule && r.header.version == version)
    else {
        return Err(Error::Refused {
            detail: format!("no rule {rule} version {version}"),
        });
    };
    let output = found.header.output.clone();
    let tables = catalog.table_names().await?;
    if !tables.contains(&output) {
        return Ok(json!({}));
    }
    let ctx = catalog.session().await?;
    let columns: BTreeSet<String> = ctx
        .table(output.as_str())
        .await
        .map_err(Error::query)?
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let score_column = if columns.contains(&format!("{rule}_score")) {
        format!("{rule}_score")
    } else {
        "score".to_owned()
    };
    let has_sla_columns = ["requested_sessions", "startup_success_rate", "latency_score"]
        .iter()
        .all(|c| columns.contains(*c));
    let filter = format!("rule = {} AND rule_version = {version}", quote(rule));
    let latest = ctx
        .sql(&format!(
            "SELECT CAST(CAST(max(window_start) AS TIMESTAMP(3)) AS BIGINT) AS latest FROM {output} WHERE {filter}"
        ))
        .await
        .map_err(Error::query)?
        .collect()
        .await
        .map_err(Error::query)?;
    let latest_ms = latest
        .first()
        .and_then(|b| arrow::compute::cast(b.column(0), &DataType::Int64).ok())
        .and_then(|c| {
            let c = c.as_primitive::<arrow::datatypes::Int64Type>().clone();
            (!c.is_empty() && !c.is_null(0)).then(|| c.value(0))
        });
    let Some(latest_ms) = latest_ms else {
        return Ok(json!({}));
    };
    // Timestamps are compared in ms since the epoch whatever their unit.
    let at_latest = format!("CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) = {latest_ms}");
    let network_sql = per_orchestrator_sql(
        &format!("SELECT * FROM {output} WHERE {filter} AND {at_latest}"),
        &score_column,
        has_sla_columns,
    );
    let network = collect_scores(
        &ctx.sql(&network_sql)
            .await
            .map_err(Error::query)?
            .collect()
            .await
            .map_err(Error::query)?,
    );
    let inputs = found
        .header
        .inputs
        .split([',', ' '])
        .next()
        .unwrap_or_default()
        .to_owned();
    let regional_input = inputs == naap_sql::hourly::SLA_INPUTS
        && tables.contains(&inputs)
        && ctx
            .table(inputs.as_str())
            .await
            .map(|t| t.schema().has_column_with_unqualified_name("gateway"))
            .unwrap_or(false);
    let mut body = Map::new();
    for region in regions.labels() {
        let regional = if regional_input && !regions.by_gateway.is_empty() {
            let ctx = catalog.session().await?;
            let all = ctx.table(inputs.as_str()).await.map_err(Error::query)?;
            ctx.deregister_table(inputs.as_str()).map_err(Error::query)?;
            ctx.register_table(format!("{inputs}_all"), all.into_view())
                .map_err(Error::query)?;
            let view = format!(
                "SELECT * FROM {inputs}_all WHERE CAST(CAST(window_start AS TIMESTAMP(3)) AS BIGINT) < {latest_ms} \
                 OR ({at_latest} AND {} = {})",
                regions.region_sql(),
                quote(&region)
            );
            let view = ctx.sql(&view).await.map_err(Error::query)?;
            ctx.register_table(inputs.as_str(), view.into_view())
                .map_err(Error::query)?;
            let rows = format!("SELECT * FROM ({}) AS scored WHERE {at_latest}", found.sql);
            let sql = per_orchestrator_sql(&rows, &score_column, has_sla_columns);
            collect_scores(
                &ctx.sql_with_options(&sql, naap_sql::session::read_only())
                    .await
                    .map_err(Error::query)?
                    .collect()
                    .await
                    .map_err(Error::query)?,
            )
        } else {
            Scores::new()
        };
        for (orchestrator, network_value) in &network {
            let (score, success, round_trip) = regional.get(orchestrator).unwrap_or(network_value);
            let mut entry = Map::new();
            entry.insert("score".into(), json!(score));
            entry.insert("success_rate".into(), json!(success.unwrap_or(*score)));
            entry.insert("round_trip_score".into(), json!(round_trip.unwrap_or(*score)));
            body.entry(orchestrator.clone())
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("inserted as an object")
                .insert(region.clone(), Value::Object(entry));
        }
    }
    Ok(Value::Object(body))
}
