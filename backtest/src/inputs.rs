//! What a backtest reads from the lake: the rules' hourly input
//! (`sla_inputs_hourly`) of the range and of the 7 days of benchmark
//! history before it, split by hour, and the outcomes of each hour.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Int64Type, SchemaRef, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::execution::context::SessionContext;
use naap_sql::hourly::{HOUR_MS, SLA_INPUTS};

use crate::Error;

/// How far before an hour the rules read their benchmark: the 7 full UTC
/// days before the hour's day (as the pipeline's seal gives them).
pub(crate) fn history_start(hour_ms: i64) -> i64 {
    let day = hour_ms.div_euclid(24 * HOUR_MS) * 24 * HOUR_MS;
    day - 7 * 24 * HOUR_MS
}

/// The hourly input rows, by hour.
pub(crate) struct Inputs {
    pub schema: SchemaRef,
    pub by_hour: BTreeMap<i64, Vec<RecordBatch>>,
}

impl Inputs {
    /// Reads the hours [from_ms, to_ms) of the lake's `sla_inputs_hourly`.
    pub(crate) async fn read(lake: &naap_sql::Lake, from_ms: i64, to_ms: i64) -> Result<Self, Error> {
        let schemas = naap_sql::hourly::schemas().await?;
        let schema = schemas
            .into_iter()
            .find(|(name, _)| *name == SLA_INPUTS)
            .map(|(_, s)| naap_sql::hourly::nullable(&s))
            .ok_or_else(|| Error::NoData(format!("no schema for {SLA_INPUTS}")))?;
        let rows = naap_sql::delta::read_hours(lake, SLA_INPUTS, from_ms, to_ms).await?;
        let mut by_hour: BTreeMap<i64, Vec<RecordBatch>> = BTreeMap::new();
        for batch in rows {
            let batch = naap_events::lake_types::from_lake(&batch, &schema)?;
            for (hour, part) in split_by_hour(&batch)? {
                by_hour.entry(hour).or_default().push(part);
            }
        }
        Ok(Self { schema, by_hour })
    }

    /// Registers as `sla_inputs_hourly` what the pipeline gives the rules
    /// when it seals `hour`: the hour and its benchmark history.
    pub(crate) fn register_for(&self, ctx: &SessionContext, hour: i64) -> Result<(), Error> {
        let batches: Vec<RecordBatch> = self
            .by_hour
            .range(history_start(hour)..=hour)
            .flat_map(|(_, b)| b.iter().cloned())
            .collect();
        self.register(ctx, batches)
    }

    /// Registers every hour read as `sla_inputs_hourly`.
    pub(crate) fn register_all(&self, ctx: &SessionContext) -> Result<(), Error> {
        self.register(ctx, self.by_hour.values().flatten().cloned().collect())
    }

    fn register(&self, ctx: &SessionContext, batches: Vec<RecordBatch>) -> Result<(), Error> {
        let table = MemTable::try_new(Arc::clone(&self.schema), vec![batches])?;
        ctx.deregister_table(SLA_INPUTS)?;
        ctx.register_table(SLA_INPUTS, Arc::new(table))?;
        Ok(())
    }
}

/// `column` (a timestamp) as epoch milliseconds.
pub(crate) fn epoch_ms(batch: &RecordBatch, column: &str) -> Result<Vec<Option<i64>>, Error> {
    let array = batch
        .column_by_name(column)
        .ok_or_else(|| Error::NoData(format!("no column {column}")))?;
    let ms = cast(array, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
    let ms = cast(&ms, &DataType::Int64)?;
    let ms = ms.as_primitive::<Int64Type>();
    Ok((0..ms.len()).map(|i| ms.is_valid(i).then(|| ms.value(i))).collect())
}

/// The rows of `batch` by the UTC hour of their `window_start`.
fn split_by_hour(batch: &RecordBatch) -> Result<Vec<(i64, RecordBatch)>, Error> {
    let hours: Vec<Option<i64>> = epoch_ms(batch, "window_start")?
        .into_iter()
        .map(|t| t.map(|t| t.div_euclid(HOUR_MS) * HOUR_MS))
        .collect();
    let distinct: std::collections::BTreeSet<i64> = hours.iter().flatten().copied().collect();
    if distinct.len() == 1 && hours.iter().all(Option::is_some) {
        return Ok(distinct.into_iter().map(|h| (h, batch.clone())).collect());
    }
    distinct
        .into_iter()
        .map(|h| {
            let mask: arrow::array::BooleanArray = hours.iter().map(|t| Some(*t == Some(h))).collect();
            Ok((h, filter_record_batch(batch, &mask)?))
        })
        .collect()
}

/// What one orchestrator delivered for one pipeline and model in one hour.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub orchestrator: String,
    pub sessions: f64,
    pub startup_success: f64,
    pub output_viability: f64,
    pub no_swap: f64,
    pub e2e_latency_ms: Option<f64>,
}

/// (hour, pipeline, model) → outcomes of every orchestrator with sessions.
pub(crate) type Outcomes = HashMap<(i64, String, String), Vec<Outcome>>;

/// Runs the embedded backtest statement `name` (`sql/backtest/`), read-only.
pub(crate) async fn query(ctx: &SessionContext, name: &str) -> Result<Vec<RecordBatch>, Error> {
    let statement = naap_sql::rules::backtest(name);
    Ok(ctx
        .sql_with_options(statement.sql, naap_sql::session::read_only())
        .await?
        .collect()
        .await?)
}

/// Runs `sql/backtest/outcomes.sql` over every hour read.
pub(crate) async fn outcomes(ctx: &SessionContext, inputs: &Inputs) -> Result<Outcomes, Error> {
    inputs.register_all(ctx)?;
    let batches = query(ctx, "backtest_outcomes").await?;
    let mut out = Outcomes::new();
    for b in &batches {
        let text = |name: &str| cast(b.column_by_name(name).expect("outcomes.sql names it"), &DataType::Utf8);
        let float = |name: &str| {
            cast(
                b.column_by_name(name).expect("outcomes.sql names it"),
                &DataType::Float64,
            )
        };
        let (orch, pipeline, model) = (text("orchestrator")?, text("pipeline")?, text("model")?);
        let (orch, pipeline, model) = (
            orch.as_string::<i32>(),
            pipeline.as_string::<i32>(),
            model.as_string::<i32>(),
        );
        let hour = cast(
            b.column_by_name("hour_ms").expect("outcomes.sql names it"),
            &DataType::Int64,
        )?;
        let hour = hour.as_primitive::<Int64Type>();
        let columns = [
            "requested_sessions",
            "startup_success_rate",
            "output_viability_rate",
            "no_swap_rate",
            "avg_e2e_latency_ms",
        ]
        .map(float);
        let [sessions, success, viability, no_swap, e2e] = columns;
        let (sessions, success, viability, no_swap, e2e) = (sessions?, success?, viability?, no_swap?, e2e?);
        let f = |a: &Arc<dyn Array>, i: usize| {
            let a = a.as_primitive::<arrow::datatypes::Float64Type>();
            a.is_valid(i).then(|| a.value(i))
        };
        for i in 0..b.num_rows() {
            out.entry((hour.value(i), pipeline.value(i).to_owned(), model.value(i).to_owned()))
                .or_default()
                .push(Outcome {
                    orchestrator: orch.value(i).to_owned(),
                    sessions: f(&sessions, i).unwrap_or_default(),
                    startup_success: f(&success, i).unwrap_or_default(),
                    output_viability: f(&viability, i).unwrap_or_default(),
                    no_swap: f(&no_swap, i).unwrap_or_default(),
                    e2e_latency_ms: f(&e2e, i),
                });
        }
    }
    Ok(out)
}
