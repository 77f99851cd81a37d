//! The SQL session sealing runs in: every table it reads is a slot whose
//! rows are swapped for each hour (or group of sessions), so each aggregate
//! is planned once per process and its plan executed again and again.
//!
//! Planning is not free: `sessions.sql` took about 0.3 s to optimise and
//! plan in a dev build, as long as running it over 2,500 sessions. A slot
//! reports no statistics, so no plan bakes in one hour's row counts (an
//! optimiser answering `count(*)` from a table's statistics would otherwise
//! answer the next hour with this one's).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::execution::TaskContext;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::physical_plan::execution_plan::reset_plan_states;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream, collect};

use crate::{Error, Result};

/// The rows a slot table holds now.
#[derive(Debug)]
struct Slot {
    schema: SchemaRef,
    rows: Mutex<Vec<RecordBatch>>,
}

impl PartitionStream for Slot {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let rows = self.rows.lock().map(|r| r.clone()).unwrap_or_default();
        let stream = futures::stream::iter(rows.into_iter().map(Ok));
        Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&self.schema), stream))
    }
}

/// Sealing's SQL session, its slot tables and its plans.
pub(crate) struct SealQueries {
    ctx: SessionContext,
    slots: HashMap<String, Arc<Slot>>,
    /// Physical plans by SQL file, as first planned (executed as copies).
    plans: HashMap<&'static str, Arc<dyn ExecutionPlan>>,
}

impl std::fmt::Debug for SealQueries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealQueries")
            .field("slots", &self.slots.keys().collect::<Vec<_>>())
            .field("plans", &self.plans.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for SealQueries {
    fn default() -> Self {
        // One partition: sealing is one task beside the pipeline's own, and
        // float sums keep one order from run to run. No dynamic filters: a
        // plan is executed again and again, and the bound a `min`/`max`
        // aggregate's filter learnt is shared by the copies of its plan (the
        // tables are in memory, so such a filter would prune nothing anyway).
        let config = SessionConfig::new()
            .with_target_partitions(1)
            .set_bool("datafusion.optimizer.enable_dynamic_filter_pushdown", false);
        let ctx = naap_sql::session::context_with(config);
        Self {
            ctx,
            slots: HashMap::new(),
            plans: HashMap::new(),
        }
    }
}

impl SealQueries {
    /// The session, for what plans its own queries (the rules).
    pub(crate) fn ctx(&self) -> &SessionContext {
        &self.ctx
    }

    /// Makes `rows` table `name`'s rows (all columns nullable, so rows read
    /// back from Parquet and rows fresh from SQL mix freely). A table seen
    /// with another schema is registered afresh and every plan dropped.
    pub(crate) fn set(&mut self, name: &str, schema: &SchemaRef, rows: Vec<RecordBatch>) -> Result<()> {
        let schema = naap_sql::hourly::nullable(schema);
        let rows = rows
            .into_iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| RecordBatch::try_new(Arc::clone(&schema), b.columns().to_vec()))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(slot) = self.slots.get(name)
            && slot.schema == schema
        {
            *slot.rows.lock().map_err(|_| poisoned(name))? = rows;
            return Ok(());
        }
        let slot = Arc::new(Slot {
            schema: Arc::clone(&schema),
            rows: Mutex::new(rows),
        });
        let partition: Arc<dyn PartitionStream> = Arc::clone(&slot) as _;
        let table = StreamingTable::try_new(schema, vec![partition]).map_err(Error::sql(format!("table {name}")))?;
        self.ctx
            .deregister_table(name)
            .map_err(Error::sql(format!("table {name}")))?;
        self.ctx
            .register_table(name, Arc::new(table))
            .map_err(Error::sql(format!("table {name}")))?;
        self.slots.insert(name.to_owned(), slot);
        self.plans.clear();
        Ok(())
    }

    /// Empties every slot (what sealing read is not held between seals).
    pub(crate) fn clear(&mut self) {
        for slot in self.slots.values() {
            if let Ok(mut rows) = slot.rows.lock() {
                rows.clear();
            }
        }
    }

    /// Runs `sql` (read-only; its plan kept under `file`, the SQL file it
    /// comes from) over the slots' rows now; its rows as one batch (empty,
    /// with the schema, when none).
    pub(crate) async fn run(&mut self, file: &'static str, sql: &str) -> Result<RecordBatch> {
        let what = || Error::sql(file.to_owned());
        let plan = match self.plans.get(file) {
            // A copy without the state the last run left (hash tables built).
            Some(plan) => reset_plan_states(Arc::clone(plan)).map_err(what())?,
            None => {
                let df = self
                    .ctx
                    .sql_with_options(sql, naap_sql::session::read_only())
                    .await
                    .map_err(what())?;
                let plan = df.create_physical_plan().await.map_err(what())?;
                self.plans.insert(file, Arc::clone(&plan));
                reset_plan_states(plan).map_err(what())?
            }
        };
        let schema = plan.schema();
        let batches = collect(plan, self.ctx.task_ctx()).await.map_err(what())?;
        Ok(concat_batches(&schema, &batches)?)
    }
}

fn poisoned(name: &str) -> Error {
    Error::sql(format!("table {name}"))(datafusion::error::DataFusionError::Execution(
        "a slot's lock was poisoned by a panic".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    fn rows(values: &[i64]) -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(Int64Array::from(values.to_vec()))])
            .expect("one column");
        (schema, vec![batch])
    }

    #[tokio::test]
    async fn a_kept_plan_reads_the_rows_set_since() {
        let mut queries = SealQueries::default();
        let sql = "SELECT min(x) AS lo, max(x) AS hi, count(*) AS n FROM t";
        let mut answers = Vec::new();
        // Larger values first, then smaller, then none: no bound, count or
        // hash table of an earlier run may leak into a later one.
        for values in [&[50, 70, 60][..], &[1, 2], &[]] {
            let (schema, batches) = rows(values);
            queries.set("t", &schema, batches).expect("set");
            let out = queries.run("test.sql", sql).await.expect("run");
            let column = |i: usize| out.column(i).as_primitive::<Int64Type>().iter().next().flatten();
            answers.push((column(0), column(1), column(2)));
        }
        assert_eq!(
            answers,
            vec![
                (Some(50), Some(70), Some(3)),
                (Some(1), Some(2), Some(2)),
                (None, None, Some(0))
            ]
        );
        assert_eq!(queries.plans.len(), 1, "planned once");
    }
}
