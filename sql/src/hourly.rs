//! The hourly tables built from go-livepeer gateway events.
//!
//! The pipeline seals an hour once its event-time watermark has passed the
//! hour's end plus a settle time; sealing runs, over the gateway tables of
//! the lake, the aggregates in [`HOURLY_AGGREGATES`] (in that order, each
//! reading the ones before it) and then every rule over [`SLA_INPUTS`]
//! with its history. The hour being sealed is the one row of
//! [`SEAL_WINDOW`].

use std::sync::Arc;

use arrow::array::{RecordBatch, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::datasource::ViewTable;
use datafusion::error::Result;
use datafusion::execution::context::SessionContext;
use naap_events::tables;

/// The one-row table naming the hour being sealed.
pub const SEAL_WINDOW: &str = "seal_window";

/// Hourly aggregates, in dependency order.
pub const HOURLY_AGGREGATES: [&str; 14] = [
    tables::SESSIONS.name,
    tables::ORCHESTRATOR_HOURLY.name,
    SLA_INPUTS,
    tables::GPU_INVENTORY.name,
    tables::DISCOVERY_LATENCY.name,
    tables::PAYMENTS.name,
    tables::AI_REQUESTS.name,
    tables::LLM_REQUESTS.name,
    tables::BYOC_ATTEMPTS.name,
    tables::BYOC_WORKERS.name,
    tables::BYOC_JOBS.name,
    tables::REQUESTS_HOURLY.name,
    tables::BYOC_AUTH_HOURLY.name,
    tables::BYOC_PAYMENTS_HOURLY.name,
];

pub const HOUR_MS: i64 = 3_600_000;

/// Schema of [`SEAL_WINDOW`].
pub fn seal_window_schema() -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("window_start", ts(), false),
        Field::new("window_end", ts(), false),
        Field::new("horizon_end", ts(), false),
        Field::new("lookback_start", ts(), false),
    ]))
}

/// The seal window of the hour starting at `hour_ms`: later events up to
/// `settle_ms` after the hour inform its sessions, earlier ones back to
/// `lookback_ms` before it.
pub fn seal_window(hour_ms: i64, settle_ms: i64, lookback_ms: i64) -> RecordBatch {
    let col = |v: i64| Arc::new(TimestampMillisecondArray::from(vec![v]).with_timezone("UTC")) as _;
    RecordBatch::try_new(
        seal_window_schema(),
        vec![
            col(hour_ms),
            col(hour_ms + HOUR_MS),
            col(hour_ms + HOUR_MS + settle_ms),
            col(hour_ms - lookback_ms),
        ],
    )
    .expect("four timestamp columns match the schema")
}

/// The hourly table the scoring rules read: NaaP's status hours, with the
/// 7 days before the sealed hour as their benchmark history.
pub const SLA_INPUTS: &str = tables::SLA_INPUTS_HOURLY.name;

/// Earlier [`SLA_INPUTS`] rows the rules see beside the hour being sealed
/// (their benchmark history).
pub const SLA_INPUTS_HISTORY: &str = "sla_inputs_hourly_history";

/// Registers every hourly aggregate as a view over the tables the session
/// already holds (gateway tables and `seal_window`), for SQL tests.
/// [`SLA_INPUTS`] is the union of the aggregate over the sealed hour
/// and an empty, all-nullable [`SLA_INPUTS_HISTORY`] table that tests
/// fill with earlier hours, as the pipeline does from the lake.
pub async fn register_views(ctx: &SessionContext) -> Result<()> {
    for name in HOURLY_AGGREGATES {
        let rule = crate::rules::aggregate(name);
        let plan = ctx.state().create_logical_plan(rule.sql).await?;
        let sealed = format!("{SLA_INPUTS}_sealed");
        let view_name = if name == SLA_INPUTS { sealed.as_str() } else { name };
        if name == SLA_INPUTS {
            let history = datafusion::datasource::MemTable::try_new(nullable(plan.schema().inner()), vec![vec![]])?;
            ctx.deregister_table(SLA_INPUTS_HISTORY)?;
            ctx.register_table(SLA_INPUTS_HISTORY, Arc::new(history))?;
        }
        ctx.deregister_table(view_name)?;
        ctx.register_table(view_name, Arc::new(ViewTable::new(plan, Some(rule.sql.to_owned()))))?;
    }
    let union = format!("SELECT * FROM {SLA_INPUTS}_sealed UNION ALL SELECT * FROM {SLA_INPUTS_HISTORY}");
    let plan = ctx.state().create_logical_plan(&union).await?;
    ctx.deregister_table(SLA_INPUTS)?;
    ctx.register_table(SLA_INPUTS, Arc::new(ViewTable::new(plan, Some(union))))?;
    Ok(())
}

/// The schema of every gateway table and hourly aggregate as the pipeline
/// writes them (less the `date`/`hour` partition columns): what a reader
/// may assume of one that no commit has written yet.
pub async fn schemas() -> Result<Vec<(&'static str, SchemaRef)>> {
    let ctx = crate::session::context();
    let empty = |schema: SchemaRef| datafusion::datasource::MemTable::try_new(schema, vec![vec![]]).map(Arc::new);
    let mut out = Vec::new();
    for (name, schema) in naap_events::gateway_tables::schemas() {
        ctx.register_table(name, empty(Arc::clone(&schema))?)?;
        out.push((name, schema));
    }
    ctx.register_table(SEAL_WINDOW, empty(seal_window_schema())?)?;
    register_views(&ctx).await?;
    for name in HOURLY_AGGREGATES {
        let schema = ctx.table(name).await?.schema().as_arrow().clone();
        out.push((name, Arc::new(schema)));
    }
    Ok(out)
}

/// `schema` with every field nullable: the hourly inputs as the scoring
/// harness registers them (a sealed hour may lack any column's values).
pub fn nullable(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<Field>>(),
    ))
}
