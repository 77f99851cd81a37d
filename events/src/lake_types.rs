//! The column types a lake table stores: the one place where the wire
//! schemas meet the table format.
//!
//! The lake's tables are Delta Lake tables, and Delta has a smaller type
//! system than Arrow: no unsigned integers, timestamps only in microseconds
//! (UTC, or without a zone), no fixed-size binary, no dictionary or view
//! encodings. Every row the pipeline writes passes [`to_lake`]; every row it
//! reads back from the lake passes [`from_lake`] to meet the schema of the
//! rows computed in memory. The mapping:
//!
//! | Arrow (wire, in memory)          | lake                         |
//! |----------------------------------|------------------------------|
//! | UInt8 / UInt16 / UInt32          | Int16 / Int32 / Int64        |
//! | UInt64                           | Decimal128(20, 0)            |
//! | Timestamp(any unit, any zone)    | Timestamp(µs, "UTC")         |
//! | FixedSizeBinary(n)               | Binary                       |
//! | LargeUtf8, Utf8View              | Utf8                         |
//! | LargeBinary, BinaryView          | Binary                       |
//! | Dictionary(_, V)                 | the lake type of V           |
//! | List / LargeList / Struct / Map  | the same, children mapped    |
//!
//! Everything else (the signed integers, floats, Boolean, Utf8, Binary, the
//! wei `Decimal128(38, 0)`, Date32) is stored as it is.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;

/// The zone every lake timestamp is stored in.
pub const LAKE_TIME_ZONE: &str = "UTC";

/// The instants an event may carry, in Unix ms: those every engine reading
/// the lake holds at nanosecond precision (1677-09-21 to 2262-04-11), less a
/// margin for the hours, days and weeks computed from them. 1678-01-01 up
/// to, not including, 2262-01-01.
pub const EVENT_TIME_MS: std::ops::Range<i64> = -9_214_560_000_000..9_214_646_400_000;

/// Why a time is refused: it lies outside [`EVENT_TIME_MS`].
pub fn event_time_error(ms: i64) -> Option<String> {
    if EVENT_TIME_MS.contains(&ms) {
        return None;
    }
    Some(format!(
        "{ms} ms since 1970 lies outside 1678-01-01..2262-01-01, the times the lake holds"
    ))
}

/// The rows of a batch whose values a lake column may hold, and why the
/// others may not.
#[derive(Debug)]
pub struct Unfit {
    /// `true` for each row whose values all fit.
    pub keep: arrow::array::BooleanArray,
    /// How many rows do not.
    pub refused: usize,
    /// The first row that does not.
    pub first: Option<UnfitValue>,
}

/// One value no lake column may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfitValue {
    pub row: usize,
    pub column: String,
    /// `time_out_of_range`, `time_in_future` or `not_finite`.
    pub reason: &'static str,
    pub detail: String,
}

/// Checks every value of `batch` against what the lake can hold: times
/// (millisecond timestamps, the wire's unit) inside [`EVENT_TIME_MS`] and
/// before `latest_ms`, floats finite but in the columns named `raw`.
pub fn unfit_rows(batch: &RecordBatch, latest_ms: i64, raw: &[&str]) -> Unfit {
    use arrow::array::AsArray;
    use arrow::datatypes::{Float32Type, Float64Type, TimestampMillisecondType};
    let mut keep = vec![true; batch.num_rows()];
    let mut first: Option<UnfitValue> = None;
    let mut refuse = |row: usize, field: &Field, reason: &'static str, detail: &dyn Fn() -> String| {
        keep[row] = false;
        if first.as_ref().is_none_or(|f| row < f.row) {
            first = Some(UnfitValue {
                row,
                column: field.name().clone(),
                reason,
                detail: detail(),
            });
        }
    };
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        match field.data_type() {
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                for (i, t) in column.as_primitive::<TimestampMillisecondType>().iter().enumerate() {
                    let Some(t) = t else { continue };
                    if let Some(why) = event_time_error(t) {
                        refuse(i, field, "time_out_of_range", &|| why.clone());
                    } else if t >= latest_ms {
                        refuse(i, field, "time_in_future", &|| future_detail(t, latest_ms));
                    }
                }
            }
            DataType::Float64 | DataType::Float32 if raw.contains(&field.name().as_str()) => {}
            DataType::Float64 => {
                for (i, v) in column.as_primitive::<Float64Type>().iter().enumerate() {
                    if let Some(v) = v.filter(|v| !v.is_finite()) {
                        refuse(i, field, "not_finite", &|| format!("{v} is not a finite number"));
                    }
                }
            }
            DataType::Float32 => {
                for (i, v) in column.as_primitive::<Float32Type>().iter().enumerate() {
                    if let Some(v) = v.filter(|v| !v.is_finite()) {
                        refuse(i, field, "not_finite", &|| format!("{v} is not a finite number"));
                    }
                }
            }
            _ => {}
        }
    }
    Unfit {
        refused: keep.iter().filter(|k| !**k).count(),
        keep: arrow::array::BooleanArray::from(keep),
        first,
    }
}

/// Why a time at or after `latest_ms` (the pipeline's clock plus the skew
/// it allows) is refused.
pub fn future_detail(t: i64, latest_ms: i64) -> String {
    format!(
        "{t} ms since 1970 is {} s past the latest time accepted now (the pipeline's clock plus its allowed skew)",
        (t - latest_ms) / 1000
    )
}

/// The lake type of `data_type` (see the module table).
pub fn lake_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::UInt8 => DataType::Int16,
        DataType::UInt16 => DataType::Int32,
        DataType::UInt32 => DataType::Int64,
        DataType::UInt64 => DataType::Decimal128(20, 0),
        DataType::Timestamp(_, _) => DataType::Timestamp(TimeUnit::Microsecond, Some(LAKE_TIME_ZONE.into())),
        DataType::FixedSizeBinary(_) | DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
        DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        DataType::Dictionary(_, value) => lake_type(value),
        DataType::List(item) | DataType::LargeList(item) | DataType::ListView(item) => DataType::List(lake_field(item)),
        DataType::FixedSizeList(item, _) => DataType::List(lake_field(item)),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(lake_field).collect::<Fields>()),
        DataType::Map(entries, sorted) => DataType::Map(lake_field(entries), *sorted),
        other => other.clone(),
    }
}

fn lake_field(field: &FieldRef) -> FieldRef {
    Arc::new(field.as_ref().clone().with_data_type(lake_type(field.data_type())))
}

/// The lake schema of `schema`: every column mapped, and nullable (a table's
/// files are written over time by different code paths; nullability is not
/// part of what a reader may rely on).
pub fn lake_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            f.as_ref()
                .clone()
                .with_data_type(lake_type(f.data_type()))
                .with_nullable(true)
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` in lake types, ready to be written to a lake table.
pub fn to_lake(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = lake_schema(batch.schema_ref());
    cast_batch(batch, &schema)
}

/// Rows read from the lake as `schema` (the in-memory schema they were
/// written from): columns by name, each cast back to its type.
pub fn from_lake(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) => cast_column(column, field.data_type()),
            None if field.is_nullable() => Ok(arrow::array::new_null_array(field.data_type(), batch.num_rows())),
            None => Err(ArrowError::SchemaError(format!(
                "lake rows lack the column {:?} the pipeline needs",
                field.name()
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    // Nullability follows the rows: a column read back may hold nulls the
    // in-memory schema would refuse only if the lake were written wrongly.
    let relaxed = Arc::new(Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .zip(&columns)
            .map(|(f, c)| f.as_ref().clone().with_nullable(f.is_nullable() || c.null_count() > 0))
            .collect::<Vec<_>>(),
        schema.metadata().clone(),
    ));
    RecordBatch::try_new_with_options(relaxed, columns, &options)
}

fn cast_batch(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| cast_column(column, field.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(Arc::clone(schema), columns, &options)
}

fn cast_column(column: &ArrayRef, to: &DataType) -> Result<ArrayRef, ArrowError> {
    if column.data_type() == to {
        return Ok(Arc::clone(column));
    }
    // Safe casts: a value that does not fit is an error, never a silent null.
    cast_with_options(
        column,
        to,
        &CastOptions {
            safe: false,
            ..Default::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        FixedSizeBinaryArray, Int64Array, StringArray, TimestampMillisecondArray, UInt32Array, UInt64Array,
    };

    fn sample() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            Field::new("n", DataType::UInt32, false),
            Field::new("big", DataType::UInt64, true),
            Field::new("fp", DataType::FixedSizeBinary(2), false),
            Field::new("s", DataType::Utf8, false),
            Field::new("i", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampMillisecondArray::from(vec![1_767_908_945_298]).with_timezone("UTC")),
                Arc::new(UInt32Array::from(vec![u32::MAX])),
                Arc::new(UInt64Array::from(vec![Some(u64::MAX)])),
                Arc::new(FixedSizeBinaryArray::try_from_iter(vec![vec![1u8, 2]].into_iter()).unwrap()),
                Arc::new(StringArray::from(vec!["x"])),
                Arc::new(Int64Array::from(vec![-1])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn every_unsupported_type_maps_to_a_delta_type_and_back_losslessly() {
        let batch = sample();
        let lake = to_lake(&batch).unwrap();
        let types: Vec<DataType> = lake.schema().fields().iter().map(|f| f.data_type().clone()).collect();
        assert_eq!(
            types,
            vec![
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                DataType::Int64,
                DataType::Decimal128(20, 0),
                DataType::Binary,
                DataType::Utf8,
                DataType::Int64,
            ]
        );
        assert!(lake.schema().fields().iter().all(|f| f.is_nullable()));
        let back = from_lake(&lake, batch.schema_ref()).unwrap();
        assert_eq!(back.columns(), batch.columns());
    }

    #[test]
    fn reading_back_takes_columns_by_name_and_refuses_a_missing_required_one() {
        let batch = sample();
        let lake = to_lake(&batch).unwrap();
        let reordered = lake.project(&[5, 4, 3, 2, 1, 0]).unwrap();
        assert_eq!(
            from_lake(&reordered, batch.schema_ref()).unwrap().columns(),
            batch.columns()
        );
        let missing = lake.project(&[0, 1]).unwrap();
        let err = from_lake(&missing, batch.schema_ref()).unwrap_err();
        assert!(err.to_string().contains("\"fp\""), "{err}");
    }
}
