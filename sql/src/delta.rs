//! The lake's tables as Delta Lake tables (delta-rs): opening one at its
//! newest or an older version, listing them, reading the rows of some hours,
//! and refusing a lake of the layout before Delta.
//!
//! Every table lives at `<root>/lake/<table>/` with its log in `_delta_log/`
//! and its files in `date=YYYY-MM-DD/hour=HH/` folders; `date` and `hour`
//! are the table's partition columns (strings, as the folder names spell
//! them). Commits go through delta-rs's default log store, which writes each
//! log entry with a create-only put: on S3 that is a conditional write, so
//! several writers need no lock service.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use bytes::Bytes;
use deltalake_core::logstore::{LogStoreRef, StorageConfig, default_logstore};
use deltalake_core::{DeltaTable, DeltaTableError};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use url::Url;

use crate::lake::{Lake, LakeError};

/// The partition columns of every lake table, in order.
pub const PARTITION_COLUMNS: [&str; 2] = naap_events::tables::PARTITION_COLUMNS;

/// The folder of every Delta log, inside a table's folder.
pub const LOG_DIR: &str = "_delta_log";

/// Why a Delta table could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("table {table}: {source}")]
    Delta { table: String, source: DeltaTableError },
    #[error("table {table}: file {path}: {detail}")]
    File {
        table: String,
        path: String,
        detail: String,
    },
    #[error(transparent)]
    Lake(#[from] LakeError),
}

impl TableError {
    fn delta(table: &str) -> impl FnOnce(DeltaTableError) -> TableError + '_ {
        move |source| TableError::Delta {
            table: table.to_owned(),
            source,
        }
    }
}

impl Lake {
    /// The URL of `table`'s Delta table.
    pub fn table_location(&self, table: &str) -> Url {
        let mut url = self.store_url().clone();
        url.set_path(&format!("/{}/", self.table_dir(table)));
        url
    }

    /// The log store of `table` (whether or not the table exists yet).
    pub fn log_store(&self, table: &str) -> LogStoreRef {
        let location = self.table_location(table);
        let prefixed = Arc::new(PrefixStore::new(Arc::clone(self.store()), self.table_dir(table)));
        default_logstore(prefixed, Arc::clone(self.store()), &location, &StorageConfig::default())
    }
}

/// `table` at its newest version; `None` when it has no Delta log yet.
pub async fn open(lake: &Lake, table: &str) -> Result<Option<DeltaTable>, TableError> {
    // Asking delta-rs to load a table that is not there yet logs an error.
    if !has_log(lake, table).await? {
        return Ok(None);
    }
    let mut t = DeltaTable::new(lake.log_store(table));
    match t.load().await {
        Ok(()) => Ok(Some(t)),
        Err(DeltaTableError::NotATable(_)) => Ok(None),
        Err(source) => Err(TableError::delta(table)(source)),
    }
}

/// `table` as of `version`.
pub async fn open_at(lake: &Lake, table: &str, version: i64) -> Result<DeltaTable, TableError> {
    let mut t = DeltaTable::new(lake.log_store(table));
    let version = u64::try_from(version).map_err(|_| TableError::Delta {
        table: table.to_owned(),
        source: DeltaTableError::InvalidVersion(0),
    })?;
    t.load_version(version).await.map_err(TableError::delta(table))?;
    Ok(t)
}

/// Brings `t` to its newest version (reads only the log entries since).
pub async fn refresh(t: &mut DeltaTable, table: &str) -> Result<(), TableError> {
    t.update_incremental(None).await.map_err(TableError::delta(table))
}

/// The version of an opened table.
pub fn version_of(t: &DeltaTable) -> i64 {
    t.version().map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX))
}

/// Names of the Delta tables in the lake, sorted.
pub async fn table_names(lake: &Lake) -> Result<Vec<String>, TableError> {
    let store = lake.store();
    let listed = match store.list_with_delimiter(Some(&lake.tables_dir())).await {
        Ok(l) => l,
        Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
        Err(source) => return Err(store_error(lake, source).into()),
    };
    let mut names = Vec::new();
    for dir in &listed.common_prefixes {
        let Some(name) = dir.filename() else { continue };
        if has_log(lake, name).await? {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Whether `table` has a Delta log (one listing request).
async fn has_log(lake: &Lake, table: &str) -> Result<bool, LakeError> {
    let log = lake.table_dir(table).join(LOG_DIR);
    let mut entries = lake.store().list(Some(&log));
    match entries.try_next().await {
        Ok(first) => Ok(first.is_some()),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(store_error(lake, e)),
    }
}

/// The partition values (`date`, `hour`) of the UTC hour holding `epoch_ms`.
pub fn partition_values(epoch_ms: i64) -> HashMap<String, Option<String>> {
    let folder = crate::lake::hour_partition(epoch_ms);
    folder
        .split('/')
        .filter_map(|part| part.split_once('='))
        .map(|(k, v)| (k.to_owned(), Some(v.to_owned())))
        .collect()
}

/// One active file of a table: its path from the table's folder, and its
/// partition values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveFile {
    pub path: String,
    pub size: i64,
    pub partition: HashMap<String, Option<String>>,
}

impl ActiveFile {
    /// Whether the file holds rows of the UTC hour starting at `hour_ms`.
    pub fn in_hour(&self, hour_ms: i64) -> bool {
        partition_values(hour_ms) == self.partition
    }

    /// The file's name, without its folder.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// The active files of `t` (its snapshot as loaded).
pub fn active_files(t: &DeltaTable, table: &str) -> Result<Vec<ActiveFile>, TableError> {
    let snapshot = t.snapshot().map_err(TableError::delta(table))?;
    let data = snapshot.log_data();
    Ok(data
        .iter()
        .map(|f| ActiveFile {
            path: f.path().into_owned(),
            size: f.size(),
            partition: f.partition_values_map(),
        })
        .collect())
}

/// Every row of `files` of `table` (as written: without the partition columns).
pub async fn read_files(lake: &Lake, table: &str, files: &[ActiveFile]) -> Result<Vec<RecordBatch>, TableError> {
    read_columns(lake, table, files, None).await
}

/// The rows of `files` of `table`, with only the columns named in
/// `columns` (those a file holds) when given, else every column.
pub async fn read_columns(
    lake: &Lake,
    table: &str,
    files: &[ActiveFile],
    columns: Option<&[&str]>,
) -> Result<Vec<RecordBatch>, TableError> {
    let mut out = Vec::new();
    for file in files {
        let path = Path::from(format!("{}/{}", lake.table_dir(table), file.path));
        let bytes: Bytes = match lake.store().get(&path).await {
            Ok(got) => got.bytes().await.map_err(|e| store_error(lake, e))?,
            Err(e) => return Err(store_error(lake, e).into()),
        };
        let file_error = |detail: String| TableError::File {
            table: table.to_owned(),
            path: file.path.clone(),
            detail,
        };
        let mut builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| file_error(e.to_string()))?;
        if let Some(columns) = columns {
            let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
            builder = builder.with_projection(mask);
        }
        let reader = builder.build().map_err(|e| file_error(e.to_string()))?;
        for batch in reader {
            out.push(batch.map_err(|e| file_error(e.to_string()))?);
        }
    }
    Ok(out)
}

/// Every row of `table` in the UTC hour partitions [from_ms, to_ms) of its
/// newest version, as written (lake types, no partition columns); none
/// before the table's first commit.
pub async fn read_hours(lake: &Lake, table: &str, from_ms: i64, to_ms: i64) -> Result<Vec<RecordBatch>, TableError> {
    match open(lake, table).await? {
        Some(t) => read_hours_of(lake, &t, table, from_ms, to_ms).await,
        None => Ok(Vec::new()),
    }
}

/// [`read_hours`] of a table already opened (at the version it was loaded
/// or last refreshed at): a process that reads one table again and again
/// keeps it open and refreshes it, instead of loading its log each time.
pub async fn read_hours_of(
    lake: &Lake,
    t: &DeltaTable,
    table: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<RecordBatch>, TableError> {
    const HOUR_MS: i64 = 3_600_000;
    let mut hours = Vec::new();
    let mut hour = from_ms.div_euclid(HOUR_MS) * HOUR_MS;
    while hour < to_ms {
        hours.push(partition_values(hour));
        hour += HOUR_MS;
    }
    let files: Vec<ActiveFile> = active_files(t, table)?
        .into_iter()
        .filter(|f| hours.contains(&f.partition))
        .collect();
    read_files(lake, table, &files).await
}

pub(crate) fn store_error(lake: &Lake, source: object_store::Error) -> LakeError {
    LakeError::Store {
        location: lake.to_string(),
        source,
    }
}

/// Refuses a lake written before its tables were Delta tables: one line
/// naming what was found and what to do.
pub async fn refuse_old_layout(lake: &Lake) -> Result<(), LakeError> {
    let store = lake.store();
    // The previous layout kept its commit records in `_naap/manifest/`.
    let old_manifests = lake.internal("manifest");
    let mut first = store.list(Some(&old_manifests));
    let old = match first.try_next().await {
        Ok(Some(meta)) => Some(meta.location.to_string()),
        Ok(None) | Err(object_store::Error::NotFound { .. }) => None,
        Err(source) => return Err(store_error(lake, source)),
    };
    let Some(found) = old else { return Ok(()) };
    Err(LakeError::OldLayout {
        location: lake.to_string(),
        found,
    })
}
