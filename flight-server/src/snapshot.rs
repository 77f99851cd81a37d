//! The gateways' fast path: the latest scores held in memory.
//!
//! Score lookups are the hot request of this server (every gateway, every
//! few seconds), and the answer only changes when the pipeline commits. So
//! the `scores` view is computed once per commit into a snapshot: the Arrow
//! batch for Flight DoGet and the JSON rows for HTTP. A background task
//! watches the Delta versions of the tables it reads (`scores`, and those
//! behind the region and pipeline filters) and swaps in a new snapshot when
//! one changes; a request only clones an `Arc`. The versions are the ETag,
//! so an unchanged answer costs a `304`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use arrow::array::{BooleanArray, RecordBatch};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tracing::{debug, warn};
use utoipa::{IntoParams, ToSchema};

use crate::{Catalog, Error, Result, cells};
use naap_sql::{serving, tables};

/// The tables a snapshot reads: a new version of any of them makes a new snapshot.
const SNAPSHOT_TABLES: &[&str] = &[
    tables::SCORES.name,
    tables::TELEMETRY_1M.name,
    tables::CAPABILITY_SNAPSHOTS.name,
    tables::SLA_HOURLY.name,
];

/// One version of the latest scores.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The versions of the tables it was computed from (`none` for an empty lake).
    pub version: String,
    pub batch: Option<RecordBatch>,
    pub rows: Vec<ScoreRow>,
    /// All rows as a JSON array, encoded once: the unfiltered lookup costs
    /// no serialization.
    pub json: bytes::Bytes,
    /// All rows as Flight data messages, encoded once, likewise.
    pub flight: Vec<arrow_flight::FlightData>,
    /// What each orchestrator was seen doing, for the region and
    /// pipeline/model filters.
    pub seen: BTreeMap<String, Seen>,
    /// When the newest of the versions it was computed from was committed
    /// (Unix ms): how fresh every answer of this server can be.
    pub committed_at_ms: Option<i64>,
}

/// Where an orchestrator's nodes reported from and what it serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// Region labels (upper case) of its nodes' telemetry.
    pub regions: BTreeSet<String>,
    /// (pipeline, model) pairs it advertised or served sessions of.
    pub pipelines: BTreeSet<(String, String)>,
}

/// One row of the `scores` view: an orchestrator's newest window of one
/// rule version, with the rule's measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScoreRow {
    pub orchestrator: String,
    pub rule: String,
    pub rule_version: i64,
    pub window_start: String,
    pub window_end: String,
    /// 0..100; absent without evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The rule's other columns; a null one is absent.
    #[serde(flatten)]
    pub measures: Map<String, Value>,
}

/// Which rows a lookup wants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScoreFilter {
    /// Only this rule (uptime, sla)
    pub rule: Option<String>,
    /// Only this rule version
    pub version: Option<i64>,
    /// Only this orchestrator (any case)
    pub orchestrator: Option<String>,
    /// Orchestrators whose nodes reported from this region (any case)
    pub region: Option<String>,
    /// Orchestrators that advertised or served this pipeline
    pub pipeline: Option<String>,
    /// Orchestrators that advertised or served this model
    pub model: Option<String>,
}

impl ScoreFilter {
    /// From a ticket's query part: `rule=uptime&version=1&orchestrator=0x…&region=FRA&pipeline=…&model=…`.
    pub fn parse(query: &str) -> std::result::Result<ScoreFilter, String> {
        let mut f = ScoreFilter::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not key=value"))?;
            match k {
                "rule" => f.rule = Some(v.to_owned()),
                "version" => f.version = Some(v.parse().map_err(|_| format!("version {v:?} is not a number"))?),
                "orchestrator" => f.orchestrator = Some(v.to_owned()),
                "region" => f.region = Some(v.to_owned()),
                "pipeline" => f.pipeline = Some(v.to_owned()),
                "model" => f.model = Some(v.to_owned()),
                other => {
                    return Err(format!(
                        "unknown filter {other:?}; use rule, version, orchestrator, region, pipeline, model"
                    ));
                }
            }
        }
        Ok(f.normalized())
    }

    /// Refuses a filter that could only ever answer nothing: an address
    /// that is not one, a rule that does not exist or whose scores are not
    /// in the `scores` table (they are per pipeline, model and hour, in the
    /// rule's own table), a version the rule does not have.
    pub fn check(&self, rules: &naap_sql::RuleSet) -> std::result::Result<(), String> {
        if let Some(orchestrator) = &self.orchestrator {
            orchestrator
                .parse::<naap_events::OrchestratorAddress>()
                .map_err(|e| format!("orchestrator: {e}"))?;
        }
        let Some(rule) = &self.rule else {
            return Ok(());
        };
        let names = |keep: &dyn Fn(&naap_sql::Rule) -> bool| {
            let names: BTreeSet<&str> = rules
                .all()
                .iter()
                .filter(|r| keep(r))
                .map(|r| r.header.name.as_str())
                .collect();
            names.into_iter().collect::<Vec<_>>().join(", ")
        };
        let versions: Vec<&naap_sql::Rule> = rules.all().iter().filter(|r| r.header.name == *rule).collect();
        let Some(first) = versions.first() else {
            return Err(format!(
                "rule: no rule named {rule:?}; the rules are {}",
                names(&|_| true)
            ));
        };
        if !versions.iter().any(|r| r.header.output == tables::SCORES.name) {
            return Err(format!(
                "rule: {rule} scores each orchestrator per pipeline, model and hour, in the table {}; \
                 this list holds the rules scored per orchestrator ({}). Read {rule} at \
                 /v1/orchestrators/{{address}}, /orch-perf-stats or with SQL over {}",
                first.header.output,
                names(&|r| r.header.output == tables::SCORES.name),
                first.header.output
            ));
        }
        if let Some(version) = self.version
            && !versions.iter().any(|r| i64::from(r.header.version) == version)
        {
            let have: Vec<String> = versions.iter().map(|r| r.header.version.to_string()).collect();
            return Err(format!(
                "version: {rule} has no version {version}; it has {}",
                have.join(", ")
            ));
        }
        Ok(())
    }

    /// Addresses compare in lower case and regions in upper case.
    pub fn normalized(self) -> ScoreFilter {
        ScoreFilter {
            orchestrator: self.orchestrator.map(|o| o.to_lowercase()),
            region: self.region.map(|r| r.to_uppercase()),
            ..self
        }
    }

    fn keeps(&self, row: &ScoreRow, seen: &BTreeMap<String, Seen>) -> bool {
        let attributes = seen.get(&row.orchestrator);
        let in_region = self
            .region
            .as_ref()
            .is_none_or(|r| attributes.is_some_and(|a| a.regions.contains(r)));
        let serves = (self.pipeline.is_none() && self.model.is_none())
            || attributes.is_some_and(|a| {
                a.pipelines.iter().any(|(p, m)| {
                    self.pipeline.as_ref().is_none_or(|want| want == p)
                        && self.model.as_ref().is_none_or(|want| want == m)
                })
            });
        in_region
            && serves
            && self.rule.as_ref().is_none_or(|r| row.rule == *r)
            && self.version.is_none_or(|v| row.rule_version == v)
            && self.orchestrator.as_ref().is_none_or(|o| row.orchestrator == *o)
    }
}

impl Snapshot {
    /// The rows `filter` keeps.
    pub fn rows(&self, filter: &ScoreFilter) -> Vec<&ScoreRow> {
        self.rows.iter().filter(|r| filter.keeps(r, &self.seen)).collect()
    }

    /// The batch of the rows `filter` keeps.
    pub fn batch(&self, filter: &ScoreFilter) -> Result<Option<RecordBatch>> {
        let Some(batch) = &self.batch else { return Ok(None) };
        if *filter == ScoreFilter::default() {
            return Ok(Some(batch.clone()));
        }
        let mask: BooleanArray = self.rows.iter().map(|r| Some(filter.keeps(r, &self.seen))).collect();
        Ok(Some(arrow::compute::filter_record_batch(batch, &mask)?))
    }
}

/// The current snapshot, swapped whole.
#[derive(Debug, Default)]
pub struct Snapshots {
    current: RwLock<Arc<Snapshot>>,
}

impl Snapshots {
    pub fn get(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Takes a new snapshot when a table it reads has a newer version; true if it did.
    pub async fn refresh(&self, catalog: &Catalog) -> Result<bool> {
        let version = catalog.versions(SNAPSHOT_TABLES).await?;
        if self.get().version == version {
            return Ok(false);
        }
        let committed_at_ms = catalog.newest_commit_ms(SNAPSHOT_TABLES).await?;
        let tables = catalog.table_names().await?;
        let batches = if tables.iter().any(|t| t == tables::SCORES.name) {
            catalog.serve(serving::SCORES, Vec::new()).await?
        } else {
            Vec::new()
        };
        let batch = match batches.first() {
            Some(first) => Some(arrow::compute::concat_batches(&first.schema(), &batches)?),
            None => None,
        };
        let mut rows = Vec::new();
        if let Some(b) = &batch {
            let mut writer = arrow::json::ArrayWriter::new(Vec::new());
            writer.write(b)?;
            writer.finish()?;
            let text = writer.into_inner();
            if !text.is_empty() {
                rows = serde_json::from_slice(&text).map_err(|e| Error::Refused {
                    detail: format!("encoding the scores snapshot: {e}"),
                })?;
            }
        }
        let seen = seen(catalog, &tables).await?;
        debug!(%version, rows = rows.len(), orchestrators = seen.len(), "new scores snapshot");
        let json = serde_json::to_vec(&rows)
            .map_err(|e| Error::Refused {
                detail: format!("encoding the scores snapshot: {e}"),
            })?
            .into();
        let flight = match &batch {
            Some(b) => arrow_flight::encode::FlightDataEncoderBuilder::new()
                .with_schema(b.schema())
                .build(futures::stream::iter([Ok(b.clone())]))
                .try_collect()
                .await
                .map_err(|e| Error::Refused {
                    detail: format!("encoding the scores snapshot: {e}"),
                })?,
            None => Vec::new(),
        };
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Snapshot {
            version,
            batch,
            rows,
            json,
            flight,
            seen,
            committed_at_ms,
        });
        Ok(true)
    }

    /// Refreshes every `every` until the process ends, on the query
    /// threads.
    pub(crate) async fn keep_fresh(self: Arc<Self>, queries: crate::admission::Queries, every: Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let (snapshots, catalog) = (Arc::clone(&self), Arc::clone(queries.catalog()));
            let refreshed = queries
                .background(async move { snapshots.refresh(&catalog).await })
                .await
                .and_then(|r| r);
            if let Err(e) = refreshed {
                warn!(error = %e, "could not refresh the scores snapshot; serving the previous one");
            }
        }
    }
}

/// Regions from the last day of heartbeats (a probe's region is its
/// observer's, not the orchestrator's); pipelines and models from
/// capability advertisements and SLA rows.
async fn seen(catalog: &Catalog, tables: &[String]) -> Result<BTreeMap<String, Seen>> {
    let has = |t: &str| tables.iter().any(|have| have == t);
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    if has(tables::TELEMETRY_1M.name) {
        for b in catalog.serve(serving::SNAPSHOT_REGIONS, Vec::new()).await? {
            for row in 0..b.num_rows() {
                if let (Some(o), Some(r)) = (cells::text(&b, "orchestrator", row), cells::text(&b, "region", row)) {
                    seen.entry(o.to_lowercase()).or_default().regions.insert(r);
                }
            }
        }
    }
    let mut served = Vec::new();
    if has(tables::CAPABILITY_SNAPSHOTS.name) {
        served.push(serving::SNAPSHOT_ADVERTISED);
    }
    if has(tables::SLA_HOURLY.name) {
        served.push(serving::SNAPSHOT_SCORED);
    }
    for query in served {
        for b in catalog.serve(query, Vec::new()).await? {
            for row in 0..b.num_rows() {
                if let (Some(o), Some(p), Some(m)) = (
                    cells::text(&b, "orchestrator", row),
                    cells::text(&b, "pipeline", row),
                    cells::text(&b, "model", row),
                ) {
                    seen.entry(o.to_lowercase()).or_default().pipelines.insert((p, m));
                }
            }
        }
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_that_can_only_answer_nothing_are_refused() {
        let rules = naap_sql::RuleSet::embedded();
        let check = |query: &str| ScoreFilter::parse(query).and_then(|f| f.check(&rules));
        assert_eq!(
            check("rule=uptime&version=1&orchestrator=0x00000000000000000000000000000000000000AB"),
            Ok(())
        );
        assert_eq!(check("region=FRA&pipeline=p&model=m"), Ok(()));
        for (query, words) in [
            ("rule=sla", &["sla_hourly", "(uptime)"][..]),
            ("rule=jobs", &["jobs_hourly"]),
            ("rule=nope", &["no rule named \"nope\"", "jobs, sla, uptime"]),
            ("rule=uptime&version=7", &["no version 7", "it has 1"]),
            ("orchestrator=0xAB", &["orchestrator", "40 hex digits"]),
        ] {
            let err = check(query).expect_err(query);
            assert!(words.iter().all(|w| err.contains(w)), "{query}: {err}");
        }
    }

    #[test]
    fn ticket_filters_parse_and_refuse_unknown_keys() {
        assert_eq!(
            ScoreFilter::parse("rule=uptime&version=1&orchestrator=0xAB"),
            Ok(ScoreFilter {
                rule: Some("uptime".into()),
                version: Some(1),
                orchestrator: Some("0xab".into()),
                ..Default::default()
            })
        );
        assert_eq!(
            ScoreFilter::parse("region=fra&pipeline=live-video-to-video&model=m").map(|f| (f.region, f.pipeline)),
            Ok((Some("FRA".into()), Some("live-video-to-video".into())))
        );
        assert_eq!(ScoreFilter::parse(""), Ok(ScoreFilter::default()));
        assert!(ScoreFilter::parse("gpu=a100").is_err());
        assert!(ScoreFilter::parse("version=one").is_err());
    }

    #[test]
    fn region_and_pipeline_filters_read_what_each_orchestrator_was_seen_doing() {
        let row = |o: &str| ScoreRow {
            orchestrator: o.into(),
            rule: "uptime".into(),
            rule_version: 1,
            window_start: "2026-12-01T10:00:00".into(),
            window_end: "2026-12-01T10:01:00".into(),
            score: Some(90.0),
            measures: Map::new(),
        };
        let mut seen = BTreeMap::new();
        seen.insert(
            "0xa".to_owned(),
            Seen {
                regions: ["FRA".to_owned()].into(),
                pipelines: [("live-video-to-video".to_owned(), "sdxl".to_owned())].into(),
            },
        );
        seen.insert("0xb".to_owned(), Seen::default());
        let kept = |query: &str| -> Vec<bool> {
            let f = ScoreFilter::parse(query).expect("valid filter");
            [row("0xa"), row("0xb"), row("0xc")]
                .iter()
                .map(|r| f.keeps(r, &seen))
                .collect()
        };
        assert_eq!(kept(""), [true, true, true]);
        assert_eq!(kept("region=fra"), [true, false, false]);
        assert_eq!(kept("pipeline=live-video-to-video"), [true, false, false]);
        assert_eq!(
            kept("pipeline=live-video-to-video&model=sdxl&region=FRA"),
            [true, false, false]
        );
        assert_eq!(kept("pipeline=live-video-to-video&model=other"), [false, false, false]);
        assert_eq!(kept("model=sdxl&orchestrator=0xB"), [false, false, false]);
    }
}
