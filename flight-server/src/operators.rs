//! Every operator of a client's plan: yielding often, so that a deadline
//! stops it, and never copying one wide row into a whole batch.
//!
//! A query past its deadline is dropped where it runs, but a task only
//! notices at its next yield, and DataFusion's operators may compute for
//! seconds without yielding (a nested-loop join feeding an aggregate, say).
//! Until then the stopped query keeps its thread and starves the next. So
//! in a client's session every operator of the physical plan is wrapped:
//! its output stream yields once it has run [`SLICE`] since it last
//! waited, which bounds how long a stopped query goes on, and how long the
//! queries sharing a thread wait for each other.
//!
//! Joins, `UNNEST` and window functions copy an input row into many output
//! rows, and the memory pool does not see their output batches: a one
//! megabyte row crossed with a series is gigabytes in one batch. So their
//! inputs are measured too, and a row wider than the query's value
//! allowance divided by the batch size fails the query with the memory
//! limit error before it is copied.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, OffsetSizeTrait};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::ReplaceChildrenOptions;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
};
use futures::{Stream, StreamExt};

/// Longest a stream runs before it yields.
const SLICE: Duration = Duration::from_millis(20);

/// The physical optimizer rule, last in a client session's list.
#[derive(Debug)]
pub(crate) struct Guarded {
    /// Widest input row of an operator that copies rows.
    pub(crate) max_row_bytes: usize,
}

/// Whether an operator may copy one input row into many output rows.
fn copies_rows(plan: &dyn ExecutionPlan) -> bool {
    let name = plan.name();
    name.ends_with("JoinExec") || name.ends_with("WindowAggExec") || name == "UnnestExec"
}

impl PhysicalOptimizerRule for Guarded {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if node.is::<Sliced>() {
                return Ok(Transformed::no(node));
            }
            let node = if copies_rows(node.as_ref()) {
                let measured = node
                    .children()
                    .into_iter()
                    .map(|child| Arc::new(Sliced::new(Arc::clone(child), Some(self.max_row_bytes))) as _)
                    .collect();
                node.replace_children(measured, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Keep))?
            } else {
                node
            };
            Ok(Transformed::yes(
                Arc::new(Sliced::new(node, None)) as Arc<dyn ExecutionPlan>
            ))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "naap_guarded_operators"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// One operator whose output stream yields every [`SLICE`], and refuses
/// rows wider than `max_row_bytes` where that is set.
#[derive(Debug)]
struct Sliced {
    input: Arc<dyn ExecutionPlan>,
    max_row_bytes: Option<usize>,
}

impl Sliced {
    fn new(input: Arc<dyn ExecutionPlan>, max_row_bytes: Option<usize>) -> Self {
        Self { input, max_row_bytes }
    }
}

impl DisplayAs for Sliced {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.max_row_bytes {
            Some(max) => write!(f, "Sliced: rows<={max}B"),
            None => write!(f, "Sliced"),
        }
    }
}

impl ExecutionPlan for Sliced {
    fn name(&self) -> &str {
        "Sliced"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        match children.len() {
            1 => Ok(Arc::new(Sliced::new(children.remove(0), self.max_row_bytes))),
            n => Err(DataFusionError::Internal(format!("Sliced has one child, not {n}"))),
        }
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let inner = self.input.execute(partition, context)?;
        Ok(Box::pin(SlicedStream {
            inner,
            since: Instant::now(),
            max_row_bytes: self.max_row_bytes,
        }))
    }
}

struct SlicedStream {
    inner: SendableRecordBatchStream,
    since: Instant,
    max_row_bytes: Option<usize>,
}

impl Stream for SlicedStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.since.elapsed() >= SLICE {
            self.since = Instant::now();
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let polled = self.inner.poll_next_unpin(cx);
        if polled.is_pending() {
            self.since = Instant::now();
        }
        if let (Poll::Ready(Some(Ok(batch))), Some(max)) = (&polled, self.max_row_bytes) {
            let widest = widest_row(batch);
            if widest > max {
                return Poll::Ready(Some(Err(DataFusionError::ResourcesExhausted(format!(
                    "a join, UNNEST or window function would copy rows of up to {widest} bytes into whole \
                     batches; the rows it copies may take at most {max} bytes (from the memory one query may use)"
                )))));
            }
        }
        polled
    }
}

impl RecordBatchStream for SlicedStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

/// An upper bound of the widest row's bytes: each column's widest value, added.
fn widest_row(batch: &RecordBatch) -> usize {
    batch.columns().iter().map(|c| widest_value(c.as_ref())).sum()
}

fn widest_value(array: &dyn Array) -> usize {
    fn widest<O: OffsetSizeTrait>(offsets: &OffsetBuffer<O>) -> usize {
        offsets.windows(2).map(|w| (w[1] - w[0]).as_usize()).max().unwrap_or(0)
    }
    fn view_len(view: &u128) -> usize {
        (*view as u32) as usize
    }
    match array.data_type() {
        DataType::Utf8 => widest(array.as_string::<i32>().offsets()),
        DataType::LargeUtf8 => widest(array.as_string::<i64>().offsets()),
        DataType::Binary => widest(array.as_binary::<i32>().offsets()),
        DataType::LargeBinary => widest(array.as_binary::<i64>().offsets()),
        DataType::Utf8View => array.as_string_view().views().iter().map(view_len).max().unwrap_or(0),
        DataType::BinaryView => array.as_binary_view().views().iter().map(view_len).max().unwrap_or(0),
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            widest(list.offsets()) * per_item(list.values().as_ref())
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>();
            widest(list.offsets()) * per_item(list.values().as_ref())
        }
        DataType::Struct(_) => array
            .as_struct()
            .columns()
            .iter()
            .map(|c| widest_value(c.as_ref()))
            .sum(),
        _ => per_item(array),
    }
}

/// Average bytes of one value: exact for fixed-width types.
fn per_item(array: &dyn Array) -> usize {
    (array.get_array_memory_size() / array.len().max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> datafusion::prelude::SessionContext {
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(Guarded { max_row_bytes: 4096 }))
            .build();
        datafusion::prelude::SessionContext::new_with_state(state)
    }

    #[tokio::test]
    async fn a_guarded_plan_answers_as_before() {
        let ctx = context();
        let df = ctx
            .sql(
                "SELECT count(*) AS n FROM generate_series(1, 2000) a \
                 JOIN generate_series(1, 2000) b ON (a.value * b.value) % 7 = 3",
            )
            .await
            .expect("plans");
        let plan = df.clone().create_physical_plan().await.expect("physical plan");
        let shown = datafusion::physical_plan::displayable(plan.as_ref())
            .indent(false)
            .to_string();
        assert!(shown.matches("Sliced").count() >= 3, "{shown}");
        assert!(shown.contains("Sliced: rows<=4096B"), "{shown}");
        let batches = df.collect().await.expect("runs");
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .expect("format")
            .to_string();
        assert!(text.contains("| 490204 |"), "{text}");
    }

    #[tokio::test]
    async fn wide_rows_are_not_copied_by_joins_or_unnest() {
        let ctx = context();
        for sql in [
            "SELECT max(length(s)) FROM (SELECT repeat('x', 10000) AS s) t CROSS JOIN generate_series(1, 100000)",
            "SELECT max(length(s) + i) FROM (SELECT repeat('x', 10000) AS s, unnest(range(1, 100000)) AS i)",
        ] {
            let err = ctx.sql(sql).await.expect("plans").collect().await.expect_err(sql);
            assert!(
                matches!(err.find_root(), DataFusionError::ResourcesExhausted(_)),
                "{sql}: {err}"
            );
        }
    }
}
