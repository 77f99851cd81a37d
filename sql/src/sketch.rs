//! Mergeable latency sketches as SQL functions.
//!
//! Sketches are DDSketch (relative accuracy 1%, the defaults of
//! `sketches-ddsketch`), serialized in DDSketch's portable binary encoding
//! (the one Datadog's Java and Go libraries read). Their merge adds bucket
//! counts, so it is exact, commutative and associative: minutes merge into
//! hours and days with the same result in any order, which a t-digest does
//! not guarantee.
//!
//! * `ddsketch_agg(double) -> binary`: sketch of the non-null values; null when there are none.
//! * `ddsketch_merge(binary) -> binary`: merge of the non-null sketches.
//! * `ddsketch_quantile(binary, double) -> double`: the q-quantile (relative error ≤ 1%).
//! * `ddsketch_count(binary) -> bigint`: number of values in a sketch.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, BooleanArray, Float64Array, Int64Array};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, EmitTo, GroupsAccumulator, ScalarUDF, Signature,
    Volatility, create_udf,
};
use sketches_ddsketch::{Config, DDSketch};

/// Name of the sketch algorithm and encoding, recorded in column metadata.
pub const SKETCH_ENCODING: &str = "ddsketch/portable-binary/alpha=0.01";

fn config() -> Config {
    Config::defaults()
}

/// A new empty sketch with naap's configuration.
pub fn new_sketch() -> DDSketch {
    DDSketch::new(config())
}

/// Serializes a sketch.
pub fn encode(sketch: &DDSketch) -> Vec<u8> {
    sketch.to_java_bytes()
}

/// Deserializes a sketch written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<DDSketch> {
    DDSketch::from_java_bytes(bytes).map_err(|e| DataFusionError::Execution(format!("corrupt latency sketch: {e}")))
}

/// Merges `other` into `into`.
pub fn merge(into: &mut DDSketch, other: &DDSketch) -> Result<()> {
    into.merge(other)
        .map_err(|e| DataFusionError::Execution(format!("sketch merge: {e}")))
}

struct SketchAccumulator {
    sketch: DDSketch,
}

impl std::fmt::Debug for SketchAccumulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SketchAccumulator")
            .field("count", &self.sketch.count())
            .finish()
    }
}

impl SketchAccumulator {
    fn new() -> Self {
        Self { sketch: new_sketch() }
    }

    fn merge_binary(&mut self, array: &ArrayRef) -> Result<()> {
        for bytes in array.as_binary::<i32>().iter().flatten() {
            merge(&mut self.sketch, &decode(bytes)?)?;
        }
        Ok(())
    }

    fn value(&self) -> ScalarValue {
        if self.sketch.count() == 0 {
            ScalarValue::Binary(None)
        } else {
            ScalarValue::Binary(Some(encode(&self.sketch)))
        }
    }
}

impl Accumulator for SketchAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(values) = values.first() else { return Ok(()) };
        if values.data_type() == &DataType::Binary {
            return self.merge_binary(values);
        }
        for v in values.as_primitive::<Float64Type>().iter().flatten() {
            if v.is_finite() {
                self.sketch.add(v);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.value())
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.sketch.length() * 16
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.value()])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        match states.first() {
            Some(state) => self.merge_binary(state),
            None => Ok(()),
        }
    }
}

/// `ddsketch_agg` or `ddsketch_merge`: a UDAF with one accumulator per group
/// of a `GROUP BY` (DataFusion's adapter would run one [`Accumulator`] per
/// group, slicing the input for each).
#[derive(Debug, PartialEq, Eq, Hash)]
struct SketchUdaf {
    name: &'static str,
    signature: Signature,
}

impl AggregateUDFImpl for SketchUdaf {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SketchAccumulator::new()))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "sketch"),
            DataType::Binary,
            true,
        ))])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(SketchGroups::default()))
    }
}

/// One sketch per group, created at the group's first value (groups without
/// values cost nothing and come out null).
#[derive(Default)]
struct SketchGroups {
    sketches: Vec<Option<DDSketch>>,
    /// Bins of all sketches held, kept as they grow and leave, so that
    /// [`size`](GroupsAccumulator::size), which DataFusion asks after every
    /// batch, costs O(1) rather than a walk over every group.
    bins: usize,
}

impl std::fmt::Debug for SketchGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SketchGroups")
            .field("groups", &self.sketches.len())
            .finish()
    }
}

impl SketchGroups {
    /// Adds values (Float64) or merges sketches (Binary) into their groups.
    fn add(
        &mut self,
        values: &ArrayRef,
        groups: &[usize],
        filter: Option<&BooleanArray>,
        total_groups: usize,
    ) -> Result<()> {
        if self.sketches.len() < total_groups {
            self.sketches.resize_with(total_groups, || None);
        }
        let selected = |i: usize| filter.is_none_or(|f| f.is_valid(i) && f.value(i));
        if values.data_type() == &DataType::Binary {
            let sketches = values.as_binary::<i32>();
            for (i, group) in groups.iter().enumerate() {
                if selected(i) && sketches.is_valid(i) {
                    let other = decode(sketches.value(i))?;
                    let sketch = self.sketches[*group].get_or_insert_with(new_sketch);
                    let before = sketch.length();
                    merge(sketch, &other)?;
                    self.bins = (self.bins + sketch.length()).saturating_sub(before);
                }
            }
        } else {
            let floats = values.as_primitive::<Float64Type>();
            for (i, group) in groups.iter().enumerate() {
                if selected(i) && floats.is_valid(i) && floats.value(i).is_finite() {
                    let sketch = self.sketches[*group].get_or_insert_with(new_sketch);
                    let before = sketch.length();
                    sketch.add(floats.value(i));
                    self.bins = (self.bins + sketch.length()).saturating_sub(before);
                }
            }
        }
        Ok(())
    }

    fn emit(&mut self, emit_to: EmitTo) -> ArrayRef {
        let taken = emit_to.take_needed(&mut self.sketches);
        let left: usize = taken.iter().flatten().map(DDSketch::length).sum();
        self.bins = self.bins.saturating_sub(left);
        let mut out = BinaryBuilder::with_capacity(taken.len(), 0);
        for sketch in taken {
            match sketch {
                Some(s) if s.count() > 0 => out.append_value(encode(&s)),
                _ => out.append_null(),
            }
        }
        Arc::new(out.finish())
    }
}

impl GroupsAccumulator for SketchGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        match values.first() {
            Some(v) => self.add(v, group_indices, opt_filter, total_num_groups),
            None => Ok(()),
        }
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(self.emit(emit_to))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.emit(emit_to)])
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        match values.first() {
            Some(v) => self.add(v, group_indices, None, total_num_groups),
            None => Ok(()),
        }
    }

    /// Each input row as a state of its own: a one-value sketch (or the
    /// row's sketch, for `ddsketch_merge`); null where filtered out.
    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let Some(values) = values.first() else {
            return Ok(Vec::new());
        };
        let mut single = SketchGroups::default();
        let rows: Vec<usize> = (0..values.len()).collect();
        single.add(values, &rows, opt_filter, values.len())?;
        Ok(vec![single.emit(EmitTo::All)])
    }

    fn size(&self) -> usize {
        self.sketches.capacity() * std::mem::size_of::<Option<DDSketch>>() + self.bins * 16
    }
}

fn sketch_udaf(name: &'static str, input: DataType) -> AggregateUDF {
    AggregateUDF::from(SketchUdaf {
        name,
        signature: Signature::exact(vec![input], Volatility::Immutable),
    })
}

/// `ddsketch_agg(double) -> binary`
pub fn ddsketch_agg() -> AggregateUDF {
    sketch_udaf("ddsketch_agg", DataType::Float64)
}

/// `ddsketch_merge(binary) -> binary`
pub fn ddsketch_merge() -> AggregateUDF {
    sketch_udaf("ddsketch_merge", DataType::Binary)
}

/// `ddsketch_quantile(binary, double) -> double`
pub fn ddsketch_quantile() -> ScalarUDF {
    create_udf(
        "ddsketch_quantile",
        vec![DataType::Binary, DataType::Float64],
        DataType::Float64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let sketches = arrays[0].as_binary::<i32>();
            let qs = arrays[1].as_primitive::<Float64Type>();
            let mut out = Vec::with_capacity(sketches.len());
            for i in 0..sketches.len() {
                if sketches.is_null(i) || qs.is_null(i) {
                    out.push(None);
                    continue;
                }
                let q = qs.value(i);
                if !(0.0..=1.0).contains(&q) {
                    return Err(DataFusionError::Execution(format!("quantile {q} is outside [0, 1]")));
                }
                let sketch = decode(sketches.value(i))?;
                out.push(
                    sketch
                        .quantile(q)
                        .map_err(|e| DataFusionError::Execution(format!("sketch quantile: {e}")))?,
                );
            }
            Ok(ColumnarValue::Array(Arc::new(Float64Array::from(out))))
        }),
    )
}

/// `ddsketch_count(binary) -> bigint`
pub fn ddsketch_count() -> ScalarUDF {
    create_udf(
        "ddsketch_count",
        vec![DataType::Binary],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let mut out = Vec::with_capacity(arrays[0].len());
            for bytes in arrays[0].as_binary::<i32>().iter() {
                out.push(match bytes {
                    Some(b) => Some(decode(b)?.count() as i64),
                    None => None,
                });
            }
            Ok(ColumnarValue::Array(Arc::new(Int64Array::from(out))))
        }),
    )
}

/// Builds a binary column of sketches, one per slice of values (tests and fixtures).
pub fn sketches_of(values: &[&[f64]]) -> ArrayRef {
    let mut builder = BinaryBuilder::new();
    for vs in values {
        let mut s = new_sketch();
        vs.iter().for_each(|v| s.add(*v));
        builder.append_value(encode(&s));
    }
    Arc::new(builder.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quantiles(s: &DDSketch) -> Vec<f64> {
        [0.5, 0.95, 0.99]
            .iter()
            .map(|q| s.quantile(*q).unwrap().unwrap())
            .collect()
    }

    #[test]
    fn encoding_round_trips_and_merge_is_order_independent() {
        let values: Vec<f64> = (1..=1000).map(|i| (i as f64).powf(1.3)).collect();
        let mut whole = new_sketch();
        values.iter().for_each(|v| whole.add(*v));
        // Split into three parts, merge in two different orders.
        let parts: Vec<DDSketch> = values
            .chunks(337)
            .map(|c| {
                let mut s = new_sketch();
                c.iter().for_each(|v| s.add(*v));
                decode(&encode(&s)).unwrap()
            })
            .collect();
        let mut a = new_sketch();
        for p in &parts {
            merge(&mut a, p).unwrap();
        }
        let mut b = new_sketch();
        for p in parts.iter().rev() {
            merge(&mut b, p).unwrap();
        }
        assert_eq!(quantiles(&a), quantiles(&b));
        assert_eq!(quantiles(&a), quantiles(&whole));
        assert_eq!(a.count(), 1000);
        // Relative accuracy of 1% against the exact quantile.
        let exact_p95 = values[949];
        let p95 = a.quantile(0.95).unwrap().unwrap();
        assert!((p95 - exact_p95).abs() / exact_p95 <= 0.011, "{p95} vs {exact_p95}");
    }

    #[test]
    fn corrupt_sketch_is_an_error_not_a_panic() {
        assert!(decode(b"\x02\xff\xff\xff\xff\xff").is_err());
    }

    #[test]
    fn size_is_kept_without_walking_the_groups() {
        let walked = |g: &SketchGroups| {
            let bins: usize = g.sketches.iter().flatten().map(DDSketch::length).sum();
            g.sketches.capacity() * std::mem::size_of::<Option<DDSketch>>() + bins * 16
        };
        let mut groups = SketchGroups::default();
        let values: ArrayRef = Arc::new(arrow::array::Float64Array::from_iter_values(
            (1..=3000).map(|i| (i as f64).powf(1.7)),
        ));
        let indices: Vec<usize> = (0..3000).map(|i| i % 7).collect();
        groups.update_batch(&[values], &indices, None, 7).unwrap();
        assert_eq!(groups.size(), walked(&groups));
        // Sketches merged in (another partial's state), then some groups leave.
        let state = groups.state(EmitTo::First(3)).unwrap();
        assert_eq!(groups.size(), walked(&groups));
        groups.merge_batch(&state, &[4, 5, 6], 7).unwrap();
        assert_eq!(groups.size(), walked(&groups));
        groups.evaluate(EmitTo::All).unwrap();
        assert_eq!(groups.size(), walked(&groups));
        assert_eq!(groups.bins, 0);
    }
}
