//! `weighted_avg(value, weight)`: the mean of `value` weighted by `weight`,
//! over the rows where both are present and the weight is positive; null
//! when no row qualifies.
//!
//! It is the one definition of every session-weighted figure the server
//! serves (an orchestrator's SLA score over its pipelines and models is
//! `weighted_avg(sla_score, requested_sessions)`), so the dashboard, the
//! Explorer API and the perf-stats feed cannot weigh differently.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};

#[derive(Debug, PartialEq, Eq, Hash)]
struct WeightedAvg {
    signature: Signature,
}

impl AggregateUDFImpl for WeightedAvg {
    fn name(&self) -> &str {
        "weighted_avg"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Sums::default()))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(["weighted_sum", "weight_sum"]
            .iter()
            .map(|part| Arc::new(Field::new(format_state_name(args.name, part), DataType::Float64, true)))
            .collect())
    }
}

/// Σ value·weight and Σ weight over the qualifying rows.
#[derive(Debug, Default)]
struct Sums {
    weighted: f64,
    weights: f64,
}

impl Sums {
    /// Adds `(a, b)` pairs: (value, weight) rows when `rows`, else
    /// (Σ value·weight, Σ weight) partial states.
    fn add(&mut self, a: &ArrayRef, b: &ArrayRef, rows: bool) -> Result<()> {
        let a = cast(a, &DataType::Float64)?;
        let b = cast(b, &DataType::Float64)?;
        let (a, b) = (a.as_primitive::<Float64Type>(), b.as_primitive::<Float64Type>());
        for (a, b) in a.iter().zip(b.iter()) {
            let (Some(a), Some(b)) = (a, b) else { continue };
            if rows && (b <= 0.0 || !a.is_finite() || !b.is_finite()) {
                continue;
            }
            let (weighted, weight) = if rows { (a * b, b) } else { (a, b) };
            self.weighted += weighted;
            self.weights += weight;
        }
        Ok(())
    }
}

impl Accumulator for Sums {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        match values {
            [value, weight] => self.add(value, weight, true),
            _ => Ok(()),
        }
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(
            (self.weights > 0.0).then(|| self.weighted / self.weights),
        ))
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::Float64(Some(self.weighted)),
            ScalarValue::Float64(Some(self.weights)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        match states {
            [weighted, weights] => self.add(weighted, weights, false),
            _ => Ok(()),
        }
    }
}

/// `weighted_avg(double, double) -> double`
pub fn weighted_avg() -> AggregateUDF {
    AggregateUDF::from(WeightedAvg {
        signature: Signature::exact(vec![DataType::Float64, DataType::Float64], Volatility::Immutable),
    })
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Float64Type;

    #[tokio::test]
    async fn weighs_present_positive_rows_only() {
        let ctx = crate::session::context();
        let sql = "SELECT weighted_avg(v, w) AS m, weighted_avg(v, w) FILTER (WHERE false) AS none \
                   FROM (VALUES (90.0, 3), (50.0, 1), (NULL, 5), (10.0, 0), (10.0, NULL)) t(v, w)";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let m = batches[0].column(0).as_primitive::<Float64Type>();
        assert_eq!(m.value(0), 80.0);
        assert!(batches[0].column(1).is_null(0));
    }
}
