//! Scoring one hour with one rule version, through the harness the
//! pipeline's seal uses ([`naap_sql::rules::score`]), over the input the
//! seal would give it (see [`crate::inputs::Inputs::register_for`]).

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use datafusion::execution::context::SessionContext;
use naap_sql::Rule;
use naap_sql::rules::{Scope, score};

use crate::Error;

/// One row a rule wrote for an hour.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scored {
    pub orchestrator: String,
    pub pipeline: String,
    pub model: String,
    /// Null when the rule had no evidence ("no data"), which is not a low score.
    pub score: Option<f64>,
    /// A benchmark the row was compared with held fewer rows than the
    /// rule needs to say anything (its `*_benchmark_rows` columns).
    pub thin_benchmark: bool,
}

/// The fewest benchmark rows a rule compares with before it falls back to
/// a neutral part (the SLA's `BENCHMARK_MIN_ROWS`, `sql/rules/sla/v1.sql`):
/// rows a rule writes with `*_benchmark_rows` columns below it cannot tell
/// orchestrators apart by that part.
pub const BENCHMARK_MIN_ROWS: f64 = 48.0;

/// The column holding a rule's score: `<table>_score` for a rule writing
/// `<table>_hourly` (`sla_score` in `sla_hourly`).
pub(crate) fn score_column(rule: &Rule) -> String {
    format!("{}_score", rule.header.output.trim_end_matches("_hourly"))
}

/// The rows `rule` writes for the hour starting at `hour_ms`, from what
/// `ctx` holds.
pub(crate) async fn hour(ctx: &SessionContext, rule: &Rule, hour_ms: i64) -> Result<Vec<Scored>, Error> {
    let failed = |e: datafusion::error::DataFusionError| Error::Rule {
        file: rule.file.to_owned(),
        detail: e.to_string(),
    };
    let df = score(ctx, rule, Scope::WindowStart(hour_ms)).await.map_err(failed)?;
    let column = score_column(rule);
    for needed in ["orchestrator", "pipeline", "model", column.as_str()] {
        if !df.schema().has_column_with_unqualified_name(needed) {
            return Err(Error::Rule {
                file: rule.file.to_owned(),
                detail: format!(
                    "its rows have no column {needed}; a rule writing {} names each row's orchestrator, pipeline, model and {column}",
                    rule.header.output
                ),
            });
        }
    }
    let batches = df.collect().await.map_err(failed)?;
    let mut out = Vec::new();
    for b in &batches {
        let text = |name: &str| cast(b.column_by_name(name).expect("checked above"), &DataType::Utf8);
        let (orch, pipeline, model) = (text("orchestrator")?, text("pipeline")?, text("model")?);
        let (orch, pipeline, model) = (
            orch.as_string::<i32>(),
            pipeline.as_string::<i32>(),
            model.as_string::<i32>(),
        );
        let scores = cast(b.column_by_name(&column).expect("checked above"), &DataType::Float64)?;
        let scores = scores.as_primitive::<Float64Type>();
        let benchmarks = b
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| f.name().ends_with("_benchmark_rows"))
            .map(|(i, _)| cast(b.column(i), &DataType::Float64))
            .collect::<Result<Vec<_>, _>>()?;
        let thin = |i: usize| {
            benchmarks.iter().any(|c| {
                let c = c.as_primitive::<Float64Type>();
                c.is_null(i) || c.value(i) < BENCHMARK_MIN_ROWS
            })
        };
        for i in 0..b.num_rows() {
            if orch.is_null(i) {
                continue;
            }
            out.push(Scored {
                orchestrator: orch.value(i).to_owned(),
                pipeline: if pipeline.is_null(i) {
                    String::new()
                } else {
                    pipeline.value(i).to_owned()
                },
                model: if model.is_null(i) {
                    String::new()
                } else {
                    model.value(i).to_owned()
                },
                score: (scores.is_valid(i) && scores.value(i).is_finite()).then(|| scores.value(i)),
                thin_benchmark: thin(i),
            });
        }
    }
    Ok(out)
}
