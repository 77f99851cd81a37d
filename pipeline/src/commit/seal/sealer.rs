//! One commit's sealing of hours: reads the gateway rows around each hour
//! and runs the aggregates, then the rules, over them.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::{Schema, SchemaRef};
use naap_events::gateway_tables::{self, CAPABILITY_SNAPSHOTS_TABLE, GATEWAY_EVENTS_TABLE};
use naap_events::tables;
use naap_sql::hourly::{HOUR_MS, HOURLY_AGGREGATES, SEAL_WINDOW, SLA_INPUTS};
use tracing::{debug, info};

use super::SessionIndex;
use super::queries::SealQueries;
use crate::commit::tables::Tables;
use crate::{Error, Result};

/// Start of the UTC hour holding `t`.
pub(crate) fn hour_of(t: i64) -> i64 {
    t.div_euclid(HOUR_MS) * HOUR_MS
}

/// Rows as `schema`: its columns, by name, cast to its types.
pub(super) fn from_lake(rows: &[RecordBatch], schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
    Ok(rows
        .iter()
        .map(|b| naap_events::lake_types::from_lake(b, schema))
        .collect::<std::result::Result<Vec<_>, _>>()?)
}

/// What sealing reads of a gateway table: every column but the raw payload
/// `data` (most of a row's bytes; no aggregate reads it, and one that tried
/// would fail to plan), all nullable.
fn sealed_schema(schema: &SchemaRef) -> SchemaRef {
    let schema = naap_sql::hourly::nullable(schema);
    let fields: Vec<_> = schema.fields().iter().filter(|f| f.name() != "data").cloned().collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The column names of `schema`.
pub(super) fn names(schema: &SchemaRef) -> Vec<&str> {
    schema.fields().iter().map(|f| f.name().as_str()).collect()
}

/// The UTC hours meeting [from_ms, to_ms).
pub(super) fn hours(from_ms: i64, to_ms: i64) -> Vec<i64> {
    (0..)
        .map(|i| hour_of(from_ms) + i * HOUR_MS)
        .take_while(|h| *h < to_ms)
        .collect()
}

/// `sessions.sql` over each group of whole sessions in turn (its only
/// input of the hour's size is `gateway_events`), its rows in session order
/// whatever the grouping.
async fn by_session_group(
    queries: &mut SealQueries,
    aggregate: &naap_sql::rules::Rule,
    schema: &SchemaRef,
    groups: Vec<Vec<RecordBatch>>,
) -> Result<RecordBatch> {
    let mut parts = Vec::with_capacity(groups.len());
    for group in groups {
        queries.set(GATEWAY_EVENTS_TABLE, schema, group)?;
        parts.push(queries.run(aggregate.file, aggregate.sql).await?);
    }
    queries.set(GATEWAY_EVENTS_TABLE, schema, Vec::new())?;
    let Some(first) = parts.first() else {
        return queries.run(aggregate.file, aggregate.sql).await;
    };
    let rows = concat_batches(&first.schema(), &parts)?;
    drop(parts);
    let session = rows
        .column_by_name("session_id")
        .ok_or_else(|| arrow::error::ArrowError::SchemaError("sessions.sql writes no session_id".into()))?;
    let order = arrow::compute::sort_to_indices(session, None, None)?;
    Ok(arrow::compute::take_record_batch(&rows, &order)?)
}

/// How sealing reads around an hour.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SealSpan {
    pub settle_ms: i64,
    pub lookback_ms: i64,
    /// Sessions per run of `sessions.sql` (at least 1).
    pub group_sessions: usize,
}

impl SealSpan {
    pub(crate) fn of(config: &crate::PipelineConfig) -> Self {
        Self {
            settle_ms: crate::commit::ms(config.session_settle),
            lookback_ms: crate::commit::ms(config.session_lookback),
            group_sessions: config.seal_group_sessions.max(1),
        }
    }
}

/// Seals one or more hours within a single commit.
pub(crate) struct Sealer<'a> {
    /// Sealing's SQL session (kept across hours and commits).
    pub queries: &'a mut SealQueries,
    /// The lake's tables, kept open across hours and commits (loading a
    /// table's log afresh for every hour made sealing slower as the lake grew).
    pub tables: &'a mut Tables,
    /// Which sessions earlier hours hold (kept across commits).
    pub sessions: &'a mut SessionIndex,
    pub rules: &'a naap_sql::RuleSet,
    pub span: SealSpan,
    /// Gateway rows of this commit, not yet in the lake, by table.
    pub pending: BTreeMap<&'static str, Vec<RecordBatch>>,
    /// `sla_inputs_hourly` rows sealed earlier in this commit.
    pub sealed_hourly: Vec<RecordBatch>,
}

impl Sealer<'_> {
    /// Lake rows of `table` in the hours meeting [from, to) plus this
    /// commit's pending rows, as `schema` (a [`sealed_schema`]).
    async fn input(
        &mut self,
        table: &'static str,
        schema: &SchemaRef,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<RecordBatch>> {
        let files = self.tables.hour_files(table, &hours(from_ms, to_ms)).await?;
        let mut rows = Vec::new();
        for files in files.values() {
            let read = self.tables.read_files(table, files, Some(&names(schema))).await?;
            rows.extend(from_lake(&read, schema)?);
        }
        rows.extend(from_lake(
            self.pending.get(table).map_or(&[][..], Vec::as_slice),
            schema,
        )?);
        Ok(rows)
    }

    /// The hourly tables of the hour starting at `hour`, by table name.
    pub(crate) async fn seal(&mut self, hour: i64) -> Result<Vec<(String, RecordBatch)>> {
        let started = std::time::Instant::now();
        let mut steps: Vec<(&str, u128)> = Vec::new();
        let mut lap = std::time::Instant::now();
        let SealSpan {
            settle_ms, lookback_ms, ..
        } = self.span;
        let window = naap_sql::hourly::seal_window(hour, settle_ms, lookback_ms);
        self.queries.set(SEAL_WINDOW, &window.schema(), vec![window])?;
        let around = (hour - lookback_ms, hour + HOUR_MS + settle_ms + 1);
        let (mut session_groups, mut events_schema) = (Vec::new(), None);
        for (table, schema) in gateway_tables::schemas() {
            // Tables whose rows of one session or request span hours are
            // read around the hour; the others only in it.
            let spanning = [
                GATEWAY_EVENTS_TABLE,
                CAPABILITY_SNAPSHOTS_TABLE,
                tables::AI_BATCH_EVENTS.name,
                tables::LLM_EVENTS.name,
                tables::BYOC_JOB_EVENTS.name,
                tables::BYOC_AUTH_EVENTS.name,
                tables::BYOC_PAYMENT_EVENTS.name,
                tables::WORKER_EVENTS.name,
            ];
            let (from, to) = if spanning.contains(&table) {
                around
            } else {
                (hour, hour + HOUR_MS)
            };
            let schema = sealed_schema(&schema);
            if table == GATEWAY_EVENTS_TABLE {
                // Registered one group of sessions at a time, below.
                let pending = self.pending.get(table).map_or(&[][..], Vec::as_slice);
                session_groups = self
                    .sessions
                    .rows(self.tables, pending, &schema, hour, self.span)
                    .await?;
                events_schema = Some(schema);
                continue;
            }
            let rows = self.input(table, &schema, from, to).await?;
            self.queries.set(table, &schema, rows)?;
        }
        let events_schema = events_schema.expect("gateway_events is a gateway table");
        steps.push(("inputs", lap.elapsed().as_millis()));
        lap = std::time::Instant::now();
        let mut out = Vec::new();
        for name in HOURLY_AGGREGATES {
            let aggregate = naap_sql::rules::aggregate(name);
            let rows = if name == tables::SESSIONS.name {
                let groups = std::mem::take(&mut session_groups);
                by_session_group(self.queries, &aggregate, &events_schema, groups).await?
            } else {
                self.queries.run(aggregate.file, aggregate.sql).await?
            };
            self.queries.set(name, &rows.schema(), vec![rows.clone()])?;
            if name == SLA_INPUTS {
                self.sealed_hourly.push(rows.clone());
            }
            out.push((name.to_owned(), rows));
            steps.push((name, lap.elapsed().as_millis()));
            lap = std::time::Instant::now();
        }
        // Rules see the hour with its benchmark history: the previous 7 full
        // UTC days from the lake and whatever this commit sealed before it.
        let day = hour.div_euclid(24 * HOUR_MS) * 24 * HOUR_MS;
        let schema = self
            .sealed_hourly
            .last()
            .map(RecordBatch::schema)
            .expect("the sla_inputs_hourly aggregate ran above");
        let history = self.tables.read_hours(SLA_INPUTS, day - 7 * 24 * HOUR_MS, hour).await?;
        let mut history = from_lake(&history, &naap_sql::hourly::nullable(&schema))?;
        history.extend(self.sealed_hourly.iter().cloned());
        self.queries.set(SLA_INPUTS, &schema, history)?;
        let mut scored: BTreeMap<String, Vec<RecordBatch>> = BTreeMap::new();
        // Rules over the hour's other aggregate see its network-wide
        // cohorts, no history.
        let rules = self.rules.over(SLA_INPUTS);
        for rule in rules.into_iter().chain(self.rules.over(tables::REQUESTS_HOURLY.name)) {
            let what = || Error::sql(rule.file.to_owned());
            let df = naap_sql::rules::score(self.queries.ctx(), &rule, naap_sql::rules::Scope::WindowStart(hour))
                .await
                .map_err(what())?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let rows = concat_batches(&schema, &df.collect().await.map_err(what())?)?;
            scored.entry(rule.header.output.clone()).or_default().push(rows);
        }
        // Versions of one rule write one table: one file per table and hour.
        for (table, versions) in scored {
            let schema = versions[0].schema();
            let shape = |s: &Schema| -> Vec<(String, arrow::datatypes::DataType)> {
                s.fields()
                    .iter()
                    .map(|f| (f.name().clone(), f.data_type().clone()))
                    .collect()
            };
            if versions.iter().any(|v| shape(&v.schema()) != shape(&schema)) {
                return Err(Error::sql(format!("rule versions writing {table}"))(
                    datafusion::error::DataFusionError::Plan(
                        "every version of a rule must write the same columns, in the same order and types".into(),
                    ),
                ));
            }
            out.push((table, concat_batches(&schema, &versions)?));
        }
        let counts: Vec<String> = out
            .iter()
            .filter(|(_, b)| b.num_rows() > 0)
            .map(|(t, b)| format!("{t}={}", b.num_rows()))
            .collect();
        steps.push(("rules", lap.elapsed().as_millis()));
        let steps: Vec<String> = steps.iter().map(|(s, ms)| format!("{s}={ms}")).collect();
        let at = naap_sql::lake::hour_partition(hour);
        debug!(hour = %at, steps = %steps.join(" "), "milliseconds each step of sealing the hour took");
        info!(hour = %at, rows = %counts.join(" "), ms = started.elapsed().as_millis(), "sealed hour");
        self.queries.clear();
        Ok(out.into_iter().filter(|(_, b)| b.num_rows() > 0).collect())
    }
}
