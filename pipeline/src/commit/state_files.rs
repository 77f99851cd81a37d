//! The open windows and remembered event ids of each partition, as the
//! Parquet files a commit record names (`_naap/state/`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, RecordBatch, StringArray};
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use object_store::path::Path;

use crate::source::PartitionKey;
use crate::verify::Dedup;
use crate::window::PartitionWindows;
use crate::{Error, Result};

/// Open-window state written by process `writer` for commit `seq` (named
/// by both: two processes may try the same sequence number).
pub(crate) fn state_path(lake: &naap_sql::Lake, seq: u64, writer: &str) -> Path {
    lake.internal(&format!("state/{seq:020}-{writer}.parquet"))
}

pub(crate) fn dedup_path(lake: &naap_sql::Lake, seq: u64, writer: &str) -> Path {
    lake.internal(&format!("state/{seq:020}-{writer}.ids.parquet"))
}

fn with_partition_columns(batch: &RecordBatch, source: &str, partition: i32) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let mut fields = vec![
        Arc::new(Field::new("_source", DataType::Utf8, false)),
        Arc::new(Field::new("_partition", DataType::Int32, false)),
    ];
    fields.extend(batch.schema().fields().iter().cloned());
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![source; n])),
        Arc::new(Int32Array::from(vec![partition; n])),
    ];
    columns.extend(batch.columns().iter().cloned());
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

/// The open windows of every partition, tagged with `_source`/`_partition`.
pub(crate) fn state_batch(
    parts: &BTreeMap<PartitionKey, PartitionWindows>,
    state_schema: &SchemaRef,
) -> Result<RecordBatch> {
    let mut batches = Vec::new();
    for ((source, partition), part) in parts {
        for b in &part.open {
            if b.num_rows() > 0 {
                batches.push(with_partition_columns(b, source, *partition)?);
            }
        }
    }
    let schema = with_partition_columns(&RecordBatch::new_empty(Arc::clone(state_schema)), "", 0)?.schema();
    Ok(concat_batches(&schema, &batches)?)
}

/// (source, partition, event_time_ms, event_fingerprint) of the ids the dedup remembers.
pub(crate) fn dedup_batch(dedup: &BTreeMap<PartitionKey, Dedup>) -> Result<RecordBatch> {
    let (mut sources, mut partitions, mut times) = (Vec::new(), Vec::new(), Vec::new());
    let mut fingerprints = arrow::array::FixedSizeBinaryBuilder::new(16);
    for ((source, partition), d) in dedup {
        for (time, fp) in d.entries() {
            sources.push(source.as_str());
            partitions.push(*partition);
            times.push(time);
            fingerprints.append_value(fp.to_be_bytes())?;
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("_source", DataType::Utf8, false),
        Field::new("_partition", DataType::Int32, false),
        Field::new("event_time_ms", DataType::Int64, false),
        Field::new("event_fingerprint", DataType::FixedSizeBinary(16), false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(sources)),
            Arc::new(Int32Array::from(partitions)),
            Arc::new(arrow::array::Int64Array::from(times)),
            Arc::new(fingerprints.finish()),
        ],
    )?)
}

/// Loads the open windows in `files` of the `wanted` partitions into `parts`.
pub(crate) async fn load_windows(
    lake: &naap_sql::Lake,
    files: &BTreeSet<String>,
    wanted: &BTreeSet<PartitionKey>,
    state_schema: &SchemaRef,
    parts: &mut BTreeMap<PartitionKey, PartitionWindows>,
) -> Result<()> {
    for state in files {
        for batch in crate::manifest::read_parquet(lake, &Path::from(state.as_str())).await? {
            let sources = batch.column(0).as_any().downcast_ref::<StringArray>().cloned();
            let partitions = batch.column(1).as_any().downcast_ref::<Int32Array>().cloned();
            let (Some(sources), Some(partitions)) = (sources, partitions) else {
                return Err(Error::Manifest {
                    path: state.clone(),
                    detail: "state file lacks _source/_partition".into(),
                });
            };
            let body = batch.project(&(2..batch.num_columns()).collect::<Vec<_>>())?;
            let body = RecordBatch::try_new(Arc::clone(state_schema), body.columns().to_vec())?;
            for key in wanted {
                let mask: arrow::array::BooleanArray = (0..batch.num_rows())
                    .map(|i| Some(sources.value(i) == key.0 && partitions.value(i) == key.1))
                    .collect();
                let rows = filter_record_batch(&body, &mask)?;
                if rows.num_rows() > 0
                    && let Some(w) = parts.get_mut(key)
                {
                    w.open.push(rows);
                }
            }
        }
    }
    Ok(())
}

/// Loads the event ids in `files` of the `wanted` partitions into `dedup`.
pub(crate) async fn load_ids(
    lake: &naap_sql::Lake,
    files: &BTreeSet<String>,
    wanted: &BTreeSet<PartitionKey>,
    dedup: &mut BTreeMap<PartitionKey, Dedup>,
) -> Result<()> {
    for ids in files {
        for batch in crate::manifest::read_parquet(lake, &Path::from(ids.as_str())).await? {
            let (Some(sources), Some(partitions), Some(times), Some(fingerprints)) = (
                batch.column(0).as_any().downcast_ref::<StringArray>(),
                batch.column(1).as_any().downcast_ref::<Int32Array>(),
                batch.column(2).as_any().downcast_ref::<arrow::array::Int64Array>(),
                batch.column(3).as_fixed_size_binary_opt(),
            ) else {
                return Err(Error::Manifest {
                    path: ids.clone(),
                    detail: "dedup file is not (source, partition, event_time_ms, FixedSizeBinary(16) fingerprint)"
                        .into(),
                });
            };
            for i in 0..batch.num_rows() {
                let key = (sources.value(i).to_owned(), partitions.value(i));
                if !wanted.contains(&key) {
                    continue;
                }
                let fp = fingerprints
                    .is_valid(i)
                    .then(|| fingerprints.value(i).try_into().ok())
                    .flatten()
                    .map_or(0, u128::from_be_bytes);
                dedup.entry(key).or_default().restore(times.value(i), fp);
            }
        }
    }
    Ok(())
}
