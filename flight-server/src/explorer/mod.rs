//! The Livepeer Explorer's leaderboard API, computed from the lake, so the
//! Explorer (and anything else written against `leaderboard-serverless`)
//! can point at naap unchanged:
//!
//! * `GET /api/aggregated_stats?orchestrator=&region=&since=&until=&pipeline=&model=`
//!   → `{"<orchestrator>": {"<REGION>": {"score", "success_rate", "round_trip_score"}}}`
//!   with numbers in 0..1;
//! * `GET /api/raw_stats?orchestrator=&region=&since=&until=&pipeline=&model=`
//!   → `{"<REGION>": [{"region", "orchestrator", "success_rate",
//!   "round_trip_time", "errors": [{"error_code", "count"}], "timestamp"}]}`;
//! * `GET /api/regions` → `{"regions": [{"id", "name", "type"}]}`;
//! * `GET /api/pipelines` → `{"pipelines": [{"id", "models": [...]}]}`.
//!
//! Parameters follow the original: `since`/`until` are Unix seconds
//! (fractions allowed; `since` defaults to 24 hours ago, `until` to now),
//! `region` is upper-cased, `orchestrator` lower-cased, and `pipeline` and
//! `model` come together or not at all for aggregated stats (400 otherwise).
//!
//! Two kinds of evidence feed the figures, each under its own region label:
//!
//! * **Probes** (the leaderboard's own evidence: test requests from a
//!   region). Per orchestrator and observer region, from `telemetry_1m`:
//!   `success_rate` = probes answered / probes sent; `round_trip_score` =
//!   e^(−k·p50) with k chosen so the network's median p50 scores 0.8 (the
//!   leaderboard's AI scoring); `score` = 0.65 · success + 0.35 · round
//!   trip, 0 when nothing succeeded. Probes are job-agnostic, so a request
//!   with `pipeline`/`model` leaves them out. Raw stats list the individual
//!   probes (`node_telemetry` rows of kind `probe`, newest first, at most
//!   10 000, set in `sql/serving/explorer_raw_probes.sql`).
//! * **Gateway sessions**: the served SLA version's rows of the sealed
//!   hours in the window, weighted by requested sessions, under the default region label
//!   (`--default-region`): `score` = SLA score / 100, `success_rate` =
//!   startup success, `round_trip_score` = the latency component. Where a
//!   probe region has the same label, the session figures win.
//!
//! An orchestrator with no evidence in the window is absent, never 0.

pub(crate) mod handlers;

use std::collections::{BTreeMap, BTreeSet};

use datafusion::scalar::ScalarValue;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use crate::perf_stats::{RegionScore, Regions, ScoresByRegion};
use crate::{Catalog, Error, Result, cells};
use naap_sql::{serving, tables};

/// The query parameters of `/api/aggregated_stats` and `/api/raw_stats`.
#[derive(Debug, Clone, Default, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Only this orchestrator (any case); raw stats need it
    pub orchestrator: Option<String>,
    /// Only this region label (any case)
    pub region: Option<String>,
    /// Unix seconds, fractions allowed; default 24 hours ago
    pub since: Option<String>,
    /// Unix seconds, fractions allowed; default now
    pub until: Option<String>,
    /// With model: only sessions of this pipeline (leaves out probes)
    pub pipeline: Option<String>,
    /// With pipeline: only sessions of this model
    pub model: Option<String>,
}

impl StatsQuery {
    /// The orchestrator asked for, in canonical form; a value that is not
    /// an address is refused rather than matching nothing.
    fn address(&self) -> Result<Option<String>> {
        let Some(given) = self.orchestrator.as_deref().filter(|o| !o.is_empty()) else {
            return Ok(None);
        };
        let address: naap_events::OrchestratorAddress = given.parse().map_err(|e| Error::Refused {
            detail: format!("orchestrator: {e}"),
        })?;
        Ok(Some(address.as_str().to_owned()))
    }
}

/// One probe (`/api/raw_stats`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RawStat {
    pub region: String,
    pub orchestrator: String,
    /// 1 when the probe was answered, else 0.
    pub success_rate: f64,
    /// Seconds.
    pub round_trip_time: f64,
    pub errors: Vec<ErrorCount>,
    /// Unix seconds.
    pub timestamp: i64,
}

/// Errors of one code.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ErrorCount {
    pub error_code: String,
    pub count: u64,
}

/// `/api/regions`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RegionList {
    pub regions: Vec<Region>,
}

/// A region label this server reports under.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Region {
    pub id: String,
    pub name: String,
    /// Always `ai`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `/api/pipelines`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PipelineList {
    pub pipelines: Vec<PipelineModels>,
}

/// A pipeline and the models orchestrators advertise for it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PipelineModels {
    pub id: String,
    pub models: Vec<String>,
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
pub async fn aggregated_stats(
    catalog: &Catalog,
    regions: &Regions,
    q: &StatsQuery,
    now_ms: i64,
) -> Result<ScoresByRegion> {
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
    let orchestrator = q.address()?;
    let label = regions.default_region.to_uppercase();
    let wanted = |o: &str, r: &str| {
        orchestrator.as_ref().is_none_or(|want| want == o) && region.as_ref().is_none_or(|want| want == r)
    };
    let tables = catalog.table_names().await?;
    let mut out = ScoresByRegion::new();
    if pipeline.is_none() && tables.iter().any(|t| t == tables::TELEMETRY_1M.name) {
        for p in probe_stats(catalog, since, until).await? {
            if wanted(&p.orchestrator, &p.region) {
                out.entry(p.orchestrator.clone())
                    .or_default()
                    .insert(p.region.clone(), p.figures());
            }
        }
    }
    if !tables.iter().any(|t| t == tables::SLA_HOURLY.name) || region.as_ref().is_some_and(|r| *r != label) {
        return Ok(out);
    }
    let Some(version) = catalog.served().version("sla") else {
        return Ok(out);
    };
    let params = vec![
        ScalarValue::Int64(Some(since)),
        ScalarValue::Int64(Some(until)),
        ScalarValue::Utf8(pipeline),
        ScalarValue::Utf8(model),
        crate::dashboard::int(version),
    ];
    let batches = catalog.serve(serving::EXPLORER_SESSION_STATS, params).await?;
    for b in &batches {
        for row in 0..b.num_rows() {
            let (Some(o), Some(score)) = (cells::text(b, "orchestrator", row), cells::number(b, "score", row)) else {
                continue;
            };
            if !wanted(&o, &label) {
                continue;
            }
            let stats = RegionScore {
                window_start: None,
                score,
                success_rate: cells::number(b, "success_rate", row).unwrap_or(score),
                round_trip_score: cells::number(b, "round_trip_score", row).unwrap_or(score),
            };
            out.entry(o).or_default().insert(label.clone(), stats);
        }
    }
    Ok(out)
}

/// The leaderboard's weights of success rate and round-trip score (AI jobs).
const WEIGHT_SUCCESS: f64 = 0.65;
const WEIGHT_ROUND_TRIP: f64 = 0.35;
/// The round-trip score of a probe as fast as the network's median.
const SCORE_AT_MEDIAN: f64 = 0.8;

/// Probe evidence of one orchestrator from one region.
#[derive(Debug, Clone, PartialEq)]
struct ProbeStats {
    orchestrator: String,
    region: String,
    success_rate: f64,
    round_trip_score: f64,
}

impl ProbeStats {
    fn figures(&self) -> RegionScore {
        let score = if self.success_rate == 0.0 {
            0.0
        } else {
            WEIGHT_SUCCESS * self.success_rate + WEIGHT_ROUND_TRIP * self.round_trip_score
        };
        RegionScore {
            window_start: None,
            score,
            success_rate: self.success_rate,
            round_trip_score: self.round_trip_score,
        }
    }
}

/// Probes per orchestrator and observer region in `[since, until)` (ms).
async fn probe_stats(catalog: &Catalog, since: i64, until: i64) -> Result<Vec<ProbeStats>> {
    let params = vec![ScalarValue::Int64(Some(since)), ScalarValue::Int64(Some(until))];
    let batches = catalog.serve(serving::EXPLORER_PROBE_STATS, params).await?;
    let mut rows = Vec::new();
    for b in &batches {
        for row in 0..b.num_rows() {
            let (Some(o), Some(r), Some(sent), Some(ok)) = (
                cells::text(b, "orchestrator", row),
                cells::text(b, "region", row),
                cells::number(b, "probes", row),
                cells::number(b, "probes_ok", row),
            ) else {
                continue;
            };
            rows.push((o.to_lowercase(), r, ok / sent, cells::number(b, "latency_p50_ms", row)));
        }
    }
    Ok(score_round_trips(rows))
}

/// Scores each p50 by exponential decay, 0.8 at the median p50 of all rows;
/// a row without latency scores 0.
fn score_round_trips(rows: Vec<(String, String, f64, Option<f64>)>) -> Vec<ProbeStats> {
    let mut p50s: Vec<f64> = rows.iter().filter_map(|r| r.3).filter(|v| v.is_finite()).collect();
    p50s.sort_by(f64::total_cmp);
    let median = match p50s.len() {
        0 => None,
        n if n % 2 == 1 => Some(p50s[n / 2]),
        n => Some((p50s[n / 2 - 1] + p50s[n / 2]) / 2.0),
    };
    rows.into_iter()
        .map(|(orchestrator, region, success_rate, p50)| {
            let round_trip_score = match (p50, median) {
                (Some(v), Some(m)) if m > 0.0 => (SCORE_AT_MEDIAN.ln() / m * v).exp(),
                (Some(_), Some(_)) => 1.0,
                _ => 0.0,
            };
            ProbeStats {
                orchestrator,
                region,
                success_rate,
                round_trip_score,
            }
        })
        .collect()
}

/// `/api/raw_stats`: the individual probes of one orchestrator, by region.
pub async fn raw_stats(catalog: &Catalog, q: &StatsQuery, now_ms: i64) -> Result<BTreeMap<String, Vec<RawStat>>> {
    let Some(orchestrator) = q.address()? else {
        return Err(Error::Refused {
            detail: "orchestrator is a required parameter".into(),
        });
    };
    let since = seconds("since", q.since.as_deref(), now_ms - 24 * 3_600_000)?;
    let until = seconds("until", q.until.as_deref(), now_ms)?;
    let region = q.region.as_deref().filter(|r| !r.is_empty()).map(str::to_uppercase);
    let mut out: BTreeMap<String, Vec<RawStat>> = BTreeMap::new();
    let job_specific = q.pipeline.as_deref().is_some_and(|p| !p.is_empty());
    if job_specific
        || !catalog
            .table_names()
            .await?
            .iter()
            .any(|t| t == tables::NODE_TELEMETRY.name)
    {
        return Ok(out);
    }
    let batches = catalog
        .serve(
            serving::EXPLORER_RAW_PROBES,
            vec![
                ScalarValue::Utf8(Some(orchestrator)),
                ScalarValue::Int64(Some(since)),
                ScalarValue::Int64(Some(until)),
                ScalarValue::Utf8(region),
            ],
        )
        .await?;
    for b in &batches {
        for row in 0..b.num_rows() {
            let (Some(r), Some(o), Some(t)) = (
                cells::text(b, "region", row),
                cells::text(b, "orchestrator", row),
                cells::number(b, "t", row),
            ) else {
                continue;
            };
            let ok = cells::json(b, "probe_ok", row)
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            let errors = if ok {
                Vec::new()
            } else {
                vec![ErrorCount {
                    error_code: "PROBE-FAILED".into(),
                    count: 1,
                }]
            };
            out.entry(r.clone()).or_default().push(RawStat {
                region: r,
                orchestrator: o.to_lowercase(),
                success_rate: if ok { 1.0 } else { 0.0 },
                round_trip_time: cells::number(b, "latency_ms", row).map_or(0.0, |ms| ms / 1000.0),
                errors,
                timestamp: (t / 1000.0).floor() as i64,
            });
        }
    }
    Ok(out)
}

/// `/api/regions`: every region label the other answers report under: the
/// default region (sessions), the gateways' regions, and the regions probes
/// came from.
pub async fn regions(catalog: &Catalog, regions: &Regions) -> Result<RegionList> {
    let mut labels: BTreeSet<String> = regions.by_gateway.values().map(|r| r.to_uppercase()).collect();
    labels.insert(regions.default_region.to_uppercase());
    if catalog
        .table_names()
        .await?
        .iter()
        .any(|t| t == tables::TELEMETRY_1M.name)
    {
        for b in &catalog.serve(serving::EXPLORER_PROBE_REGIONS, Vec::new()).await? {
            labels.extend((0..b.num_rows()).filter_map(|row| cells::text(b, "region", row)));
        }
    }
    let regions = labels
        .into_iter()
        .map(|id| Region {
            name: id.clone(),
            id,
            kind: "ai".into(),
        })
        .collect();
    Ok(RegionList { regions })
}

/// `/api/pipelines`: every pipeline and its models that orchestrators advertise.
pub async fn pipelines(catalog: &Catalog) -> Result<PipelineList> {
    let mut by_pipeline: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if catalog
        .table_names()
        .await?
        .iter()
        .any(|t| t == tables::CAPABILITY_SNAPSHOTS.name)
    {
        let batches = catalog.serve(serving::ADVERTISED_MODELS, Vec::new()).await?;
        for b in &batches {
            for row in 0..b.num_rows() {
                if let (Some(p), Some(m)) = (cells::text(b, "pipeline", row), cells::text(b, "model_id", row)) {
                    by_pipeline.entry(p).or_default().insert(m);
                }
            }
        }
    }
    let pipelines = by_pipeline
        .into_iter()
        .map(|(id, models)| PipelineModels {
            id,
            models: models.into_iter().collect(),
        })
        .collect();
    Ok(PipelineList { pipelines })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_round_trip_scores_0_8_and_slower_scores_less() {
        let rows = vec![
            ("0xa".to_owned(), "FRA".to_owned(), 1.0, Some(100.0)),
            ("0xb".to_owned(), "FRA".to_owned(), 0.5, Some(200.0)),
            ("0xc".to_owned(), "FRA".to_owned(), 0.0, Some(300.0)),
            ("0xd".to_owned(), "FRA".to_owned(), 1.0, None),
        ];
        let scored = score_round_trips(rows);
        let rt: Vec<f64> = scored.iter().map(|s| s.round_trip_score).collect();
        assert!((rt[1] - 0.8).abs() < 1e-12, "{rt:?}");
        assert!(
            (rt[0] - 0.8f64.sqrt()).abs() < 1e-12,
            "half the median: 0.8^0.5, {rt:?}"
        );
        assert!((rt[2] - 0.8f64.powf(1.5)).abs() < 1e-12, "{rt:?}");
        assert_eq!(rt[3], 0.0, "no latency evidence scores 0 for round trip");
        let figures = scored[1].figures();
        assert!((figures.score - (0.65 * 0.5 + 0.35 * 0.8)).abs() < 1e-12);
        assert_eq!(scored[2].figures().score, 0.0, "nothing succeeded: score 0");
    }
}
