//! The go-livepeer perf-score feed: `GET /orch-perf-stats?rule=sla&version=1`.
//!
//! A gateway started with `-orchPerfStatsUrl URL -region R -minPerfScore S`
//! fetches `{"0x<orch>": {"<REGION>": {"score": 0..1, ...}}}` every 10
//! minutes and reads `score` under its own region. This feed serves, per
//! orchestrator, its newest scored window among those that start within
//! `within` (2 hours by default) of the rule's newest window, so an
//! orchestrator quiet in the newest hour keeps its previous score; each
//! entry names its window (`window_start`):
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

pub(crate) mod handlers;

use std::collections::{BTreeMap, BTreeSet};

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use datafusion::datasource::MemTable;
use datafusion::execution::context::SessionContext;
use datafusion::prelude::{DataFrame, Expr, cast, col, lit};
use datafusion::scalar::ScalarValue;
use naap_sql::serving;

use crate::{Catalog, Error, Result, Within};

/// One orchestrator's figures under one region label, each 0..1: what
/// go-livepeer (`score`) and the Explorer (all three) read.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct RegionScore {
    pub score: f64,
    pub success_rate: f64,
    pub round_trip_score: f64,
    /// The window the figures come from (RFC 3339): the orchestrator's
    /// newest scored one within the feed's trailing window (`within`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_start: Option<String>,
}

/// `{"0x<orchestrator>": {"<REGION>": {score, success_rate, round_trip_score}}}`.
pub type ScoresByRegion = BTreeMap<String, BTreeMap<String, RegionScore>>;

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

    /// The map as a table `(gateway, region)`.
    fn table(&self) -> Result<MemTable> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("gateway", DataType::Utf8, false),
            Field::new("region", DataType::Utf8, false),
        ]));
        let gateways: StringArray = self.by_gateway.keys().map(Some).collect();
        let labels: StringArray = self.by_gateway.values().map(Some).collect();
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(gateways), Arc::new(labels)])
            .map_err(|e| Error::query(e.into()))?;
        MemTable::try_new(schema, vec![vec![batch]]).map_err(Error::query)
    }
}

/// One orchestrator's figures in one window.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Figures {
    score: f64,
    success_rate: Option<f64>,
    round_trip_score: Option<f64>,
    window_ms: i64,
}

/// Figures per orchestrator.
type Scores = BTreeMap<String, Figures>;

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
            let (Some(score), Some(window_ms)) = (f64_column(b, "score", row), f64_column(b, "window_ms", row)) else {
                continue;
            };
            out.insert(
                orchestrators.value(row).to_owned(),
                Figures {
                    score,
                    success_rate: f64_column(b, "success_rate", row),
                    round_trip_score: f64_column(b, "round_trip_score", row),
                    window_ms: window_ms as i64,
                },
            );
        }
    }
    out
}

/// A rule's rows in the shape `perf_stats_scores` reads: orchestrator,
/// window_start, score (the rule's `<rule>_score` or `score`, 0..100),
/// weight (requested sessions, or jobs tried, where the rule has them,
/// else 1), and the success and latency parts where it has them (else
/// null).
fn in_feed_shape(rows: DataFrame, rule: &str) -> Result<DataFrame> {
    let has = |c: &str| rows.schema().has_column_with_unqualified_name(c);
    let double = |e: Expr| cast(e, DataType::Float64);
    let own = format!("{rule}_score");
    let score = if has(&own) { col(own.as_str()) } else { col("score") };
    let none = || lit(ScalarValue::Float64(None));
    // The first column present of each: the SLA's, then the jobs rule's.
    let first = |names: &[&str]| names.iter().find(|c| has(c)).map(|c| double(col(*c)));
    let (weight, success, round_trip) = match (
        first(&["requested_sessions", "selected_jobs"]),
        first(&["startup_success_rate", "success_rate"]),
        first(&["latency_score"]),
    ) {
        (Some(weight), Some(success), Some(round_trip)) => (weight, success, round_trip),
        _ => (lit(1.0), none(), none()),
    };
    rows.select(vec![
        col("orchestrator"),
        col("window_start"),
        double(score).alias("score"),
        weight.alias("weight"),
        success.alias("success_rate"),
        round_trip.alias("round_trip_score"),
    ])
    .map_err(Error::query)
}

/// Runs serving statement `query` in `ctx` with `params`.
async fn run(ctx: &SessionContext, query: serving::Query, params: Vec<ScalarValue>) -> Result<Vec<RecordBatch>> {
    ctx.sql(query.sql())
        .await
        .and_then(|df| df.with_param_values(params))
        .map_err(Error::query)?
        .collect()
        .await
        .map_err(Error::query)
}

/// Per orchestrator, the score of its newest window within `within` of
/// the newest window of the rows `ctx` holds as `rule_rows`.
async fn newest_scores(ctx: &SessionContext, within: Within) -> Result<Scores> {
    let batches = run(
        ctx,
        serving::PERF_STATS_SCORES,
        vec![ScalarValue::Int64(Some(within.ms()))],
    )
    .await?;
    Ok(collect_scores(&batches))
}

/// The feed's JSON for `rule` version `version`: each orchestrator's
/// newest scored window within `within` of the rule's newest window.
pub async fn feed(
    catalog: &Catalog,
    regions: &Regions,
    rule: &str,
    version: u32,
    within: Within,
) -> Result<ScoresByRegion> {
    let Some(found) = catalog.rules().find(rule, version).cloned() else {
        return Err(Error::Refused {
            detail: format!("no rule {rule} version {version}"),
        });
    };
    let output = found.header.output.clone();
    let tables = catalog.table_names().await?;
    if !tables.contains(&output) {
        return Ok(ScoresByRegion::new());
    }
    let ctx = catalog.session().await?;
    let version_lit = lit(i32::try_from(version).unwrap_or(i32::MAX));
    let rows = ctx
        .table(output.as_str())
        .await
        .and_then(|t| t.filter(col("rule").eq(lit(rule)).and(col("rule_version").eq(version_lit))))
        .map_err(Error::query)?;
    ctx.register_table(RULE_ROWS, in_feed_shape(rows, rule)?.into_view())
        .map_err(Error::query)?;
    let network = newest_scores(&ctx, within).await?;
    if network.is_empty() {
        return Ok(ScoresByRegion::new());
    }
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
    // The windows the orchestrators' newest scores come from: a region's
    // figures are re-scored in each.
    let windows: BTreeSet<i64> = network.values().map(|f| f.window_ms).collect();
    let mut body = ScoresByRegion::new();
    for region in regions.labels() {
        let mut regional = Scores::new();
        if regional_input && !regions.by_gateway.is_empty() {
            for &window_ms in &windows {
                let at = regional_scores(catalog, regions, &found, &inputs, window_ms, &region).await?;
                regional.extend(
                    at.into_iter()
                        .filter(|(o, _)| network.get(o).is_some_and(|f| f.window_ms == window_ms)),
                );
            }
        }
        for (orchestrator, network_value) in &network {
            let figures = regional.get(orchestrator).unwrap_or(network_value);
            let entry = RegionScore {
                score: figures.score,
                success_rate: figures.success_rate.unwrap_or(figures.score),
                round_trip_score: figures.round_trip_score.unwrap_or(figures.score),
                window_start: hour_text(figures.window_ms),
            };
            body.entry(orchestrator.clone())
                .or_default()
                .insert(region.clone(), entry);
        }
    }
    Ok(body)
}

/// The table the feed's statements read a rule's rows from.
const RULE_ROWS: &str = "rule_rows";

/// Re-runs `rule` on the window at `window_ms` with only `region`'s
/// gateways' rows of `inputs` (benchmark history stays network-wide).
async fn regional_scores(
    catalog: &Catalog,
    regions: &Regions,
    rule: &naap_sql::Rule,
    inputs: &str,
    window_ms: i64,
    region: &str,
) -> Result<Scores> {
    let ctx = catalog.session().await?;
    let all = ctx.table(inputs).await.map_err(Error::query)?;
    ctx.deregister_table(inputs).map_err(Error::query)?;
    ctx.register_table("regional_inputs_all", all.into_view())
        .map_err(Error::query)?;
    ctx.register_table("gateway_regions", Arc::new(regions.table()?))
        .map_err(Error::query)?;
    let view = ctx
        .sql(serving::PERF_STATS_REGIONAL_INPUTS.sql())
        .await
        .and_then(|df| {
            df.with_param_values(vec![
                ScalarValue::Int64(Some(window_ms)),
                ScalarValue::Utf8(Some(region.to_owned())),
                ScalarValue::Utf8(Some(regions.default_region.clone())),
            ])
        })
        .map_err(Error::query)?;
    ctx.register_table(inputs, view.into_view()).map_err(Error::query)?;
    let scored = naap_sql::rules::score(&ctx, rule, naap_sql::rules::Scope::WindowStart(window_ms))
        .await
        .map_err(Error::query)?;
    ctx.register_table(RULE_ROWS, in_feed_shape(scored, &rule.header.name)?.into_view())
        .map_err(Error::query)?;
    // The rows hold the one window: its newest is it.
    newest_scores(&ctx, Within::DEFAULT).await
}

/// A window's start as RFC 3339 (UTC, seconds), as the other answers write it.
fn hour_text(ms: i64) -> Option<String> {
    arrow::temporal_conversions::timestamp_ms_to_datetime(ms).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}
