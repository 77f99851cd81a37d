//! Reading single cells of query results as JSON, text or numbers: what
//! the JSON endpoints need from a `RecordBatch`, whatever the column's type.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type, UInt64Type};
use serde_json::{Value, json};

/// The cell as JSON; `None` for null, a missing column or an unsupported type.
pub(crate) fn json(batch: &RecordBatch, column: &str, row: usize) -> Option<Value> {
    value(batch.column_by_name(column)?.as_ref(), row)
}

/// Element `row` of `c` as JSON (lists as arrays, their null elements as
/// null); `None` for null or an unsupported type.
fn value(c: &dyn Array, row: usize) -> Option<Value> {
    if c.is_null(row) {
        return None;
    }
    Some(match c.data_type() {
        DataType::Boolean => json!(c.as_boolean().value(row)),
        DataType::Float64 => json!(c.as_primitive::<Float64Type>().value(row)),
        DataType::Int64 => json!(c.as_primitive::<Int64Type>().value(row)),
        DataType::Int32 => json!(c.as_primitive::<Int32Type>().value(row)),
        DataType::UInt64 => json!(c.as_primitive::<UInt64Type>().value(row)),
        DataType::Utf8 => json!(c.as_string::<i32>().value(row)),
        DataType::Utf8View => json!(c.as_string_view().value(row)),
        DataType::LargeUtf8 => json!(c.as_string::<i64>().value(row)),
        DataType::List(_) => {
            let items = c.as_list::<i32>().value(row);
            Value::Array(
                (0..items.len())
                    .map(|i| value(items.as_ref(), i).unwrap_or(Value::Null))
                    .collect(),
            )
        }
        _ => return None,
    })
}

/// A numeric cell as `f64`.
pub(crate) fn number(batch: &RecordBatch, column: &str, row: usize) -> Option<f64> {
    json(batch, column, row).and_then(|v| v.as_f64())
}

/// A text cell.
pub(crate) fn text(batch: &RecordBatch, column: &str, row: usize) -> Option<String> {
    json(batch, column, row).and_then(|v| v.as_str().map(str::to_owned))
}

/// Rows as `T`, whose fields are the statement's columns.
pub(crate) fn typed<T: serde::de::DeserializeOwned>(
    statement: naap_sql::serving::Query,
    batches: &[RecordBatch],
) -> crate::Result<Vec<T>> {
    rows(batches)
        .into_iter()
        .map(|row| serde_json::from_value(Value::Object(row)))
        .collect::<Result<_, _>>()
        .map_err(|source| crate::Error::Shape {
            statement: statement.name,
            source,
        })
}

/// Rows as JSON objects of every column.
pub(crate) fn rows(batches: &[RecordBatch]) -> Vec<serde_json::Map<String, Value>> {
    let mut out = Vec::new();
    for b in batches {
        let schema = b.schema();
        for row in 0..b.num_rows() {
            let mut o = serde_json::Map::new();
            for f in schema.fields() {
                o.insert(f.name().clone(), json(b, f.name(), row).unwrap_or(Value::Null));
            }
            out.push(o);
        }
    }
    out
}
