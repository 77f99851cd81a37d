//! Appending one file of rows to a lake table outside the pipeline's commit
//! protocol: for tables a batch command writes whole runs to (the
//! `backtests` table), where the row's own run id keeps runs apart and no
//! input offsets need recording.
//!
//! The file goes to the hour partition of `hour_ms`, named `<name>.parquet`
//! (no `@`, so the pipeline's compaction, which groups files of its own
//! commits, leaves it alone). The table is created on first use with the
//! batch's columns and the lake's partition columns.

use arrow::array::RecordBatch;
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake_core::kernel::{Action, Add, StructField, StructType};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::{DeltaTable, DeltaTableError};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use parquet::arrow::ArrowWriter;

use crate::delta::{PARTITION_COLUMNS, TableError, partition_values, store_error};
use crate::lake::Lake;

/// Writes `batch` to `table` as one file named `name` in the hour of
/// `hour_ms`, and commits it as one Delta version (an append). Returns the
/// version.
pub async fn append(
    lake: &Lake,
    table: &str,
    hour_ms: i64,
    name: &str,
    batch: &RecordBatch,
) -> Result<u64, TableError> {
    let file_error = |detail: String| TableError::File {
        table: table.to_owned(),
        path: name.to_owned(),
        detail,
    };
    let lake_batch = naap_events::lake_types::to_lake(batch).map_err(|e| file_error(e.to_string()))?;
    let mut bytes = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut bytes, lake_batch.schema(), None).map_err(|e| file_error(e.to_string()))?;
    writer.write(&lake_batch).map_err(|e| file_error(e.to_string()))?;
    writer.close().map_err(|e| file_error(e.to_string()))?;
    let relative = format!("{}/{name}.parquet", crate::lake::hour_partition(hour_ms));
    let object = Path::from(format!("{}/{relative}", lake.table_dir(table)));
    let size = bytes.len() as i64;
    lake.store()
        .put(&object, bytes.into())
        .await
        .map_err(|e| store_error(lake, e))?;
    let delta = |source: DeltaTableError| TableError::Delta {
        table: table.to_owned(),
        source,
    };
    let t = match crate::delta::open(lake, table).await? {
        Some(t) => t,
        None => create(lake, table, &lake_batch).await.map_err(delta)?,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let add = Action::Add(Add {
        path: relative,
        partition_values: partition_values(hour_ms),
        size,
        modification_time: now,
        data_change: true,
        stats: Some(format!("{{\"numRecords\":{}}}", batch.num_rows())),
        ..Default::default()
    });
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: Some(PARTITION_COLUMNS.map(str::to_owned).to_vec()),
        predicate: None,
    };
    let snapshot = t.snapshot().map_err(delta)?;
    let finished = CommitBuilder::from(CommitProperties::default().with_max_retries(20))
        .with_actions(vec![add])
        .build(Some(snapshot), t.log_store(), operation)
        .await
        .map_err(delta)?;
    Ok(finished.version())
}

async fn create(lake: &Lake, table: &str, batch: &RecordBatch) -> Result<DeltaTable, DeltaTableError> {
    let kernel: StructType = batch.schema().as_ref().try_into_kernel()?;
    let mut columns: Vec<StructField> = kernel.fields().cloned().collect();
    for column in PARTITION_COLUMNS {
        columns.push(StructField::new(column, deltalake_core::kernel::DataType::STRING, true));
    }
    let created = DeltaTable::new(lake.log_store(table))
        .create()
        .with_table_name(table)
        .with_columns(columns)
        .with_partition_columns(PARTITION_COLUMNS)
        .with_save_mode(SaveMode::Ignore)
        .await;
    match created {
        Ok(t) => Ok(t),
        Err(e) => match crate::delta::open(lake, table).await {
            // Created by another writer at the same moment: use that one.
            Ok(Some(t)) => Ok(t),
            _ => Err(e),
        },
    }
}
