//! DataFusion sessions with naap's functions, and the read-only guard.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use datafusion::execution::runtime_env::RuntimeEnv;

use crate::rules::Rule;

/// A session with naap's SQL functions registered.
pub fn context() -> SessionContext {
    context_with(SessionConfig::new())
}

/// Like [`context`], with the caller's configuration (target partitions, batch size, …).
pub fn context_with(config: SessionConfig) -> SessionContext {
    with_functions(SessionContext::new_with_config(config))
}

/// Like [`context_with`], on the caller's runtime (memory pool, disk manager).
pub fn context_with_runtime(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> SessionContext {
    with_functions(SessionContext::new_with_config_rt(config, runtime))
}

/// Like [`context`], from a session state the caller built (its own
/// optimizer rules, runtime and configuration).
pub fn context_from_state(state: datafusion::execution::SessionState) -> SessionContext {
    with_functions(SessionContext::new_with_state(state))
}

fn with_functions(ctx: SessionContext) -> SessionContext {
    ctx.register_udaf(crate::sketch::ddsketch_agg());
    ctx.register_udaf(crate::sketch::ddsketch_merge());
    ctx.register_udf(crate::sketch::ddsketch_quantile());
    ctx.register_udf(crate::sketch::ddsketch_count());
    ctx.register_udaf(crate::weighted::weighted_avg());
    ctx
}

/// Options that refuse DDL, DML and `SET`-style statements: what untrusted
/// SQL (rules, Flight SQL clients) runs under.
pub fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Registers the rollup views (`telemetry_5m`, `telemetry_1h`,
/// `telemetry_1d`) over the session's `telemetry_1m`; returns the names
/// registered (none without `telemetry_1m`).
pub async fn register_rollups(ctx: &SessionContext) -> Result<Vec<String>> {
    let mut registered = Vec::new();
    for rollup in crate::rules::rollups() {
        if !ctx.table_exist(rollup.header.inputs.trim())? {
            break;
        }
        let plan = ctx.state().create_logical_plan(rollup.sql).await?;
        let view = datafusion::datasource::ViewTable::new(plan, Some(rollup.sql.to_owned()));
        ctx.register_table(rollup.header.name.as_str(), Arc::new(view))?;
        registered.push(rollup.header.name.clone());
    }
    Ok(registered)
}

/// Runs `sql` read-only over `batches` registered as table `input`, replacing
/// any table of that name. Bounded: the plan sees exactly these batches.
pub async fn run_over(
    ctx: &SessionContext,
    input: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    sql: &str,
) -> Result<Vec<RecordBatch>> {
    let table = MemTable::try_new(schema, vec![batches])?;
    ctx.deregister_table(input)?;
    ctx.register_table(input, Arc::new(table))?;
    let df = ctx.sql_with_options(sql, read_only()).await?;
    let out = df.collect().await;
    ctx.deregister_table(input)?;
    out
}

/// Registers every rule as a view `<name>_v<version>` over whatever tables the
/// session holds (used by the SQL tests and the server).
pub async fn register_rule_views(ctx: &SessionContext, rules: &[Rule]) -> Result<()> {
    for rule in rules {
        let plan = ctx.state().create_logical_plan(rule.sql).await?;
        let view = datafusion::datasource::ViewTable::new(plan, Some(rule.sql.to_owned()));
        ctx.deregister_table(rule.view_name())?;
        ctx.register_table(rule.view_name(), Arc::new(view))?;
    }
    Ok(())
}
