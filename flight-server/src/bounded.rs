//! Scalar functions whose results are bounded in size.
//!
//! A query's memory pool sees what operators buffer (sorts, joins,
//! aggregates), not the arrays that scalar functions build: `repeat('x',
//! 1000000000)` allocates a gigabyte however small the pool is. So in a
//! client's session every scalar function is wrapped: the functions whose
//! result size is set by an argument (`repeat`, `lpad`, `rpad`,
//! `array_repeat`, `array_resize`, `range`, `generate_series`, `replace`,
//! `regexp_replace`) have it computed from their arguments before they run,
//! and every function's result is measured after it runs. Either past
//! [`QueryLimits::max_value_bytes`](crate::QueryLimits::max_value_bytes)
//! fails the query with the memory-limit error. Functions of the other kind
//! build at most a small multiple of their inputs, so the measurement after
//! the call bounds each step of any nesting of them. The allowance of one
//! call is the query's allowance shared by every call, `||` and table of
//! the statement ([`crate::guard::Checked::builders`]), so many calls (or
//! one value copied by many) add up to no more than one query may hold.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array};
use arrow::datatypes::{DataType, FieldRef, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{ExprSchema, ScalarValue};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::interval_arithmetic::Interval;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
use datafusion::prelude::SessionContext;

/// Functions whose simplification builds their result out of literals.
const CONCATENATING: [&str; 2] = ["concat", "concat_ws"];

/// Wraps every scalar function registered in `ctx`; one call may build at
/// most `max_bytes`.
pub(crate) fn bound_scalar_functions(ctx: &SessionContext, max_bytes: usize) {
    let mut seen = std::collections::BTreeSet::new();
    let functions: Vec<Arc<ScalarUDF>> = ctx.state().scalar_functions().values().cloned().collect();
    for f in functions {
        if seen.insert(f.name().to_owned()) {
            ctx.register_udf(ScalarUDF::new_from_impl(Bounded {
                inner: f.as_ref().clone(),
                max_bytes,
            }));
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: ScalarUDF,
    max_bytes: usize,
}

impl Bounded {
    fn too_large(&self, bytes: u128) -> DataFusionError {
        DataFusionError::ResourcesExhausted(format!(
            "{}() would build {bytes} bytes in one call; one function result may take at most {} bytes \
             (a quarter of the memory one query may use)",
            self.inner.name(),
            self.max_bytes
        ))
    }
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.inner().schema_name(args)
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.inner().return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    #[allow(deprecated)]
    fn is_nullable(&self, args: &[Expr], schema: &dyn ExprSchema) -> bool {
        self.inner.inner().is_nullable(args, schema)
    }

    fn is_strict(&self) -> bool {
        self.inner.inner().is_strict()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let Some(bytes) = planned_size(self.inner.name(), &args.args, args.number_rows)
            && bytes > self.max_bytes as u128
        {
            return Err(self.too_large(bytes));
        }
        let out = self.inner.invoke_with_args(args)?;
        let built = match &out {
            ColumnarValue::Array(a) => a.get_array_memory_size(),
            ColumnarValue::Scalar(s) => s.size(),
        };
        if built > self.max_bytes {
            return Err(self.too_large(built as u128));
        }
        Ok(out)
    }

    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        let inner = self.inner.inner().with_updated_config(config)?;
        Some(ScalarUDF::new_from_impl(Bounded {
            inner,
            max_bytes: self.max_bytes,
        }))
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        // Their simplification joins literal arguments into a new literal
        // without calling the function; constant folding calls it instead.
        if CONCATENATING.contains(&self.inner.name()) {
            return Ok(ExprSimplifyResult::Original(args));
        }
        self.inner.simplify(args, info)
    }

    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }

    fn conditional_arguments<'a>(&self, args: &'a [Expr]) -> Option<(Vec<&'a Expr>, Vec<&'a Expr>)> {
        self.inner.conditional_arguments(args)
    }

    fn evaluate_bounds(&self, input: &[&Interval]) -> Result<Interval> {
        self.inner.evaluate_bounds(input)
    }

    fn propagate_constraints(&self, interval: &Interval, inputs: &[&Interval]) -> Result<Option<Vec<Interval>>> {
        self.inner.propagate_constraints(interval, inputs)
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(inputs)
    }

    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.preserves_lex_ordering(inputs)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

/// What a function whose result size is set by its arguments would build
/// over these arguments (summed over the rows), before it runs; `None` for
/// every other function.
fn planned_size(name: &str, args: &[ColumnarValue], rows: usize) -> Option<u128> {
    let rows = if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
        1
    } else {
        rows
    };
    let int = |i: usize| args.get(i).map(|a| ints(a, rows));
    let len = |i: usize| args.get(i).map(|a| lengths(a, rows));
    let per_row = |f: &dyn Fn(usize) -> u128| (0..rows).map(f).fold(0u128, u128::saturating_add);
    match name {
        "repeat" => {
            let (s, n) = (len(0)?, int(1)?);
            Some(per_row(&|r| s[r] * n[r]))
        }
        "lpad" | "rpad" => {
            let n = int(1)?;
            Some(per_row(&|r| n[r] * 4))
        }
        "array_repeat" => {
            let n = int(1)?;
            let element = args.first().map(value_bytes).unwrap_or(8).max(8) as u128;
            Some(per_row(&|r| n[r] * element))
        }
        "array_resize" => {
            let n = int(1)?;
            Some(per_row(&|r| n[r] * 16))
        }
        "range" | "generate_series" => series_len(args).map(|n| n.saturating_mul(8).saturating_mul(rows as u128)),
        "replace" => {
            let (s, from, to) = (len(0)?, len(1)?, len(2)?);
            Some(per_row(&|r| (s[r] / from[r].max(1) + 1) * to[r] + s[r]))
        }
        "regexp_replace" => {
            let (s, with) = (len(0)?, len(2)?);
            Some(per_row(&|r| (s[r] + 1) * with[r].max(1) + s[r]))
        }
        _ => None,
    }
}

/// Non-negative integers of an argument, one per row (0 for null or non-integer).
fn ints(arg: &ColumnarValue, rows: usize) -> Vec<u128> {
    match arg {
        ColumnarValue::Scalar(s) => {
            let v = s.cast_to(&DataType::Int64).ok().and_then(|v| match v {
                ScalarValue::Int64(Some(n)) => Some(n.max(0) as u128),
                _ => None,
            });
            vec![v.unwrap_or(0); rows]
        }
        ColumnarValue::Array(a) => column_ints(a, rows),
    }
}

fn column_ints(a: &ArrayRef, rows: usize) -> Vec<u128> {
    let cast = arrow::compute::cast(a, &DataType::Int64).ok();
    let values = cast.as_ref().and_then(|c| c.as_any().downcast_ref::<Int64Array>());
    (0..rows)
        .map(|r| match values {
            Some(v) if r < v.len() && v.is_valid(r) => v.value(r).max(0) as u128,
            _ => 0,
        })
        .collect()
}

/// Byte lengths of a string argument, one per row.
fn lengths(arg: &ColumnarValue, rows: usize) -> Vec<u128> {
    match arg {
        ColumnarValue::Scalar(s) => {
            let n = match s {
                ScalarValue::Utf8(Some(v)) | ScalarValue::LargeUtf8(Some(v)) | ScalarValue::Utf8View(Some(v)) => {
                    v.len()
                }
                other => other.size(),
            };
            vec![n as u128; rows]
        }
        ColumnarValue::Array(a) => match arrow::compute::kernels::length::length(a) {
            Ok(l) => column_ints(&l, rows),
            // Not a string array: its bytes spread over its rows.
            Err(_) => vec![(a.get_array_memory_size() / a.len().max(1)) as u128; rows],
        },
    }
}

fn value_bytes(arg: &ColumnarValue) -> usize {
    match arg {
        ColumnarValue::Scalar(s) => s.size(),
        ColumnarValue::Array(a) => a.get_array_memory_size() / a.len().max(1),
    }
}

/// Elements of `range`/`generate_series(start, stop[, step])` with scalar
/// arguments: integers, or dates and timestamps with an interval step.
fn series_len(args: &[ColumnarValue]) -> Option<u128> {
    let scalar = |i: usize| match args.get(i) {
        Some(ColumnarValue::Scalar(s)) => Some(s.clone()),
        _ => None,
    };
    let (start, stop) = match args.len() {
        1 => (ScalarValue::Int64(Some(0)), scalar(0)?),
        _ => (scalar(0)?, scalar(1)?),
    };
    let step = args.get(2).map(|_| scalar(2)).unwrap_or(None);
    let as_int = |v: &ScalarValue| match v.cast_to(&DataType::Int64).ok()? {
        ScalarValue::Int64(n) => n,
        _ => None,
    };
    if start.data_type().is_integer() {
        let (a, b) = (as_int(&start)?, as_int(&stop)?);
        let step = step.as_ref().and_then(as_int).unwrap_or(1).unsigned_abs().max(1) as u128;
        return Some((a as i128 - b as i128).unsigned_abs() / step + 1);
    }
    let nanos = |v: &ScalarValue| {
        let t = v.cast_to(&DataType::Timestamp(TimeUnit::Nanosecond, None)).ok()?;
        as_int(&t)
    };
    let (a, b) = (nanos(&start)?, nanos(&stop)?);
    const DAY: i128 = 86_400_000_000_000;
    let step = match step {
        Some(ScalarValue::IntervalMonthDayNano(Some(i))) => {
            i.months as i128 * 28 * DAY + i.days as i128 * DAY + i.nanoseconds as i128
        }
        Some(ScalarValue::IntervalDayTime(Some(i))) => i.days as i128 * DAY + i.milliseconds as i128 * 1_000_000,
        Some(ScalarValue::IntervalYearMonth(Some(m))) => m as i128 * 28 * DAY,
        None => DAY,
        // A step this code cannot read: count it as one nanosecond.
        Some(_) => 1,
    };
    Some((a as i128 - b as i128).unsigned_abs() / step.unsigned_abs().max(1) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(sql: &str) -> Result<Vec<arrow::record_batch::RecordBatch>> {
        let ctx = SessionContext::new();
        bound_scalar_functions(&ctx, 1 << 20);
        ctx.sql(sql).await?.collect().await
    }

    #[tokio::test]
    async fn amplifying_functions_are_refused_before_they_allocate() {
        for sql in [
            "SELECT length(repeat('x', 1000000000))",
            "SELECT cardinality(range(1, 1000000000))",
            "SELECT cardinality(range(TIMESTAMP '1970-01-01', TIMESTAMP '2100-01-01', INTERVAL '1 second'))",
            "SELECT cardinality(array_repeat(1, 1000000000))",
            "SELECT length(lpad('x', 1000000000))",
            "SELECT length(replace(repeat('x', 1000), 'x', repeat('y', 100000)))",
            "SELECT length(concat(repeat('x', 900000), repeat('y', 900000)))",
        ] {
            let err = run(sql).await.expect_err(sql);
            assert!(
                matches!(err.find_root(), DataFusionError::ResourcesExhausted(_)),
                "{sql}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn ordinary_calls_answer_as_before() {
        let batches = run("SELECT length(repeat('ab', 1000)) AS n, cardinality(range(1, 11)) AS m, upper('x') AS u")
            .await
            .expect("small calls");
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .expect("format")
            .to_string();
        assert!(text.contains("| 2000 | 10 | X |"), "{text}");
    }
}
