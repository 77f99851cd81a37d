//! Sealing UTC hours of go-livepeer gateway data into the hourly tables.
//!
//! Sessions span hours and their events arrive on several topics and
//! partitions, out of order. Instead of holding session state in memory, the
//! pipeline keeps every accepted gateway event in the lake (committed like
//! any other table) and, once the event-time watermark of every partition
//! has passed an hour's end plus the settle time and the allowed lateness,
//! *seals* the hour: it runs `sql/aggregates/{sessions, orchestrator_hourly,
//! sla_inputs_hourly, gpu_inventory, discovery_latency, payments,
//! ai_requests, llm_requests, byoc_attempts, byoc_jobs}.sql` over
//! the gateway rows
//! around the hour (the lake's plus this commit's pending ones), then every
//! rule over `sla_inputs_hourly` (NaaP's status hours) with its 7-day
//! history. The session state
//! is therefore the lake itself, and survives restarts through the commit
//! protocol: the sealed hour's files are added to their tables by the commit
//! whose record moves `sealed_before_ms` past them.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::{Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::execution::context::SessionContext;
use naap_events::gateway_tables::{self, CAPABILITY_SNAPSHOTS_TABLE, GATEWAY_EVENTS_TABLE};
use naap_events::tables;
use naap_sql::hourly::{HOUR_MS, HOURLY_AGGREGATES, SEAL_WINDOW, SLA_INPUTS};
use tracing::{debug, info};

use crate::commit::tables::Tables;
use crate::{Error, Result};

mod sessions;
pub(crate) use sessions::SessionIndex;

/// Start of the UTC hour holding `t`.
pub(crate) fn hour_of(t: i64) -> i64 {
    t.div_euclid(HOUR_MS) * HOUR_MS
}

/// Rows as `schema`: its columns, by name, cast to its types.
fn from_lake(rows: &[RecordBatch], schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
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
fn names(schema: &SchemaRef) -> Vec<&str> {
    schema.fields().iter().map(|f| f.name().as_str()).collect()
}

/// The UTC hours meeting [from_ms, to_ms).
fn hours(from_ms: i64, to_ms: i64) -> Vec<i64> {
    (0..)
        .map(|i| hour_of(from_ms) + i * HOUR_MS)
        .take_while(|h| *h < to_ms)
        .collect()
}

/// Registers `batches` as table `name` (all columns nullable, so rows read
/// back from Parquet and rows fresh from SQL mix freely).
fn register(ctx: &SessionContext, name: &str, schema: &SchemaRef, batches: Vec<RecordBatch>) -> Result<()> {
    let schema = naap_sql::hourly::nullable(schema);
    let batches = batches
        .into_iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| RecordBatch::try_new(Arc::clone(&schema), b.columns().to_vec()))
        .collect::<Result<Vec<_>, _>>()?;
    let table = MemTable::try_new(schema, vec![batches]).map_err(Error::sql(format!("table {name}")))?;
    ctx.deregister_table(name)
        .map_err(Error::sql(format!("table {name}")))?;
    ctx.register_table(name, Arc::new(table))
        .map_err(Error::sql(format!("table {name}")))?;
    Ok(())
}

/// Runs `sql` and returns its rows as one batch (empty, with the schema, when none).
async fn query(ctx: &SessionContext, what: &str, sql: &str) -> Result<RecordBatch> {
    let df = ctx
        .sql_with_options(sql, naap_sql::session::read_only())
        .await
        .map_err(Error::sql(what.to_owned()))?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.map_err(Error::sql(what.to_owned()))?;
    Ok(concat_batches(&schema, &batches)?)
}

/// How sealing reads around an hour.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SealSpan {
    pub settle_ms: i64,
    pub lookback_ms: i64,
}

/// Seals one or more hours within a single commit.
pub(crate) struct Sealer<'a> {
    pub ctx: &'a SessionContext,
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
        let ctx = self.ctx;
        let started = std::time::Instant::now();
        let mut steps: Vec<(&str, u128)> = Vec::new();
        let mut lap = std::time::Instant::now();
        let SealSpan { settle_ms, lookback_ms } = self.span;
        let window = naap_sql::hourly::seal_window(hour, settle_ms, lookback_ms);
        register(ctx, SEAL_WINDOW, &window.schema(), vec![window])?;
        let around = (hour - lookback_ms, hour + HOUR_MS + settle_ms + 1);
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
            let rows = if table == GATEWAY_EVENTS_TABLE {
                let pending = self.pending.get(table).map_or(&[][..], Vec::as_slice);
                self.sessions
                    .rows(self.tables, pending, &schema, hour, self.span)
                    .await?
            } else {
                self.input(table, &schema, from, to).await?
            };
            register(ctx, table, &schema, rows)?;
        }
        steps.push(("inputs", lap.elapsed().as_millis()));
        lap = std::time::Instant::now();
        let mut out = Vec::new();
        for name in HOURLY_AGGREGATES {
            let aggregate = naap_sql::rules::aggregate(name);
            let rows = query(ctx, aggregate.file, aggregate.sql).await?;
            register(ctx, name, &rows.schema(), vec![rows.clone()])?;
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
        register(ctx, SLA_INPUTS, &schema, history)?;
        let mut scored: BTreeMap<String, Vec<RecordBatch>> = BTreeMap::new();
        // Rules over the hour's other aggregate see its network-wide
        // cohorts, no history.
        let rules = self.rules.over(SLA_INPUTS);
        for rule in rules.into_iter().chain(self.rules.over(tables::REQUESTS_HOURLY.name)) {
            let what = || Error::sql(rule.file.to_owned());
            let df = naap_sql::rules::score(ctx, &rule, naap_sql::rules::Scope::WindowStart(hour))
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
        Ok(out.into_iter().filter(|(_, b)| b.num_rows() > 0).collect())
    }
}
