//! The data files of a commit: which group each belongs to, how it is
//! named and encoded, and writing it to the store.
//!
//! A file's *group* is who wrote its rows: one input partition (and, for a
//! rule's output table, the rule's view), or the hour sealer. Late windows
//! and compaction rewrite one group's files of one hour and nothing else, so
//! a process touches only the partitions it holds. The group leads the file
//! name, which is otherwise unique:
//!
//! ```text
//! date=YYYY-MM-DD/hour=HH/<group>@<seq, 20 digits>-<writer>-<n>.parquet
//! group: p<partition, 5 digits>[-<view>]@<source>  |  sealed
//! ```
//!
//! (Every character of a name is one object stores, Delta logs and URLs
//! all leave as it is: `~`, for one, is escaped by some and not others.)
//!
//! A name says nothing about visibility: a file is part of a table exactly
//! when the table's Delta log adds it.

use std::time::Duration;

use arrow::array::RecordBatch;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use tracing::warn;

use crate::manifest::{AddedFile, RemovedFile};
use crate::{Error, Result};

/// The group of the hourly tables' files.
pub(crate) const SEALED_GROUP: &str = "sealed";

/// The group of `partition` of `source`, for `view`'s output when given.
pub(crate) fn group(source: &str, partition: i32, view: Option<&str>) -> String {
    match view {
        Some(view) => format!("p{partition:05}-{view}@{source}"),
        None => format!("p{partition:05}@{source}"),
    }
}

/// The group a file name (or path) belongs to.
pub(crate) fn group_of(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next()?.strip_suffix(".parquet")?;
    name.rsplit_once('@').map(|(group, _)| group)
}

/// Whether a group belongs to `(source, partition)` (any view).
pub(crate) fn group_is_partition(group: &str, source: &str, partition: i32) -> bool {
    let Some((head, src)) = group.rsplit_once('@') else {
        return false;
    };
    src == source && head.get(1..6).and_then(|p| p.parse::<i32>().ok()) == Some(partition)
}

/// Rows about to become one file of `table`.
pub(crate) struct Staged {
    pub(crate) table: String,
    pub(crate) hour_ms: i64,
    pub(crate) group: String,
    pub(crate) batch: RecordBatch,
    /// False when the rows are in the table already (compaction).
    pub(crate) data_change: bool,
    /// The rows of the files it replaces (late windows, compaction), which
    /// were counted when first written: only the difference is new.
    pub(crate) replaces_rows: u64,
}

impl Staged {
    /// New rows of `table` from `group`, in the hour starting at `hour_ms`.
    pub(crate) fn new(table: impl Into<String>, hour_ms: i64, group: String, batch: RecordBatch) -> Self {
        Self {
            table: table.into(),
            hour_ms,
            group,
            batch,
            data_change: true,
            replaces_rows: 0,
        }
    }
}

/// A staged file, encoded and named.
pub(crate) struct Encoded {
    pub(crate) table: String,
    /// Rows this file adds to its table: its own, less those of the files
    /// it replaces.
    pub(crate) new_rows: u64,
    pub(crate) object: Path,
    pub(crate) bytes: Bytes,
    pub(crate) added: AddedFile,
}

/// What a rewrite (late windows, compaction) adds to a commit.
#[derive(Default)]
pub(crate) struct Rewrite {
    pub(crate) files: Vec<Staged>,
    /// (table, file) the new files replace.
    pub(crate) removed: Vec<(String, RemovedFile)>,
}

/// `batch` as one Parquet file, as it is (state files).
pub(crate) fn parquet_bytes(batch: &RecordBatch, path: &Path) -> Result<Bytes> {
    let parquet_error = |source| Error::Parquet {
        path: path.to_string(),
        source,
    };
    // Unique per row: a dictionary would only cost the interning of every
    // value before falling back to plain encoding.
    let unique = ["event_id", "event_time", "source_offset"].map(parquet::schema::types::ColumnPath::from);
    let props = unique
        .into_iter()
        .fold(WriterProperties::builder(), |b, column| {
            b.set_column_dictionary_enabled(column, false)
        })
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("1 is a valid zstd level"),
        ))
        .build();
    let mut buf = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props)).map_err(parquet_error)?;
    writer.write(batch).map_err(parquet_error)?;
    writer.close().map_err(parquet_error)?;
    Ok(Bytes::from(buf))
}

/// Encodes `files` on the blocking pool, two at a time (the read loop waits
/// for the commit anyway), naming them for commit `seq` of `writer`.
pub(crate) async fn encode_all(
    lake: &naap_sql::Lake,
    files: Vec<Staged>,
    seq: u64,
    writer: &str,
) -> Result<Vec<Encoded>> {
    let jobs = files.into_iter().enumerate().map(|(n, f)| {
        let folder = naap_sql::lake::hour_partition(f.hour_ms);
        let path = format!("{folder}/{}@{seq:020}-{writer}-{n:04}.parquet", f.group);
        let object = Path::from(format!("{}/{path}", lake.table_dir(&f.table)));
        async move {
            tokio::task::spawn_blocking(move || {
                let bytes = parquet_bytes(&naap_events::lake_types::to_lake(&f.batch)?, &object)?;
                let added = AddedFile {
                    path,
                    size: bytes.len() as i64,
                    rows: f.batch.num_rows() as u64,
                    hour_ms: f.hour_ms,
                    data_change: f.data_change,
                };
                Ok(Encoded {
                    table: f.table,
                    new_rows: (f.batch.num_rows() as u64).saturating_sub(f.replaces_rows),
                    object,
                    bytes,
                    added,
                })
            })
            .await
            .map_err(|e| Error::Manifest {
                path: "parquet encoding".into(),
                detail: format!("encoder task failed: {e}"),
            })?
        }
    });
    futures::stream::iter(jobs).buffered(2).try_collect().await
}

/// Writes `bytes` at `path`, retrying for about 15 s of store errors.
pub(crate) async fn put_with_retry(lake: &naap_sql::Lake, path: &Path, bytes: Bytes) -> Result<()> {
    let mut delay = Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match lake.store().put(path, PutPayload::from(bytes.clone())).await {
            Ok(_) => return Ok(()),
            Err(source) if attempt >= 6 => {
                return Err(Error::Store {
                    op: "put",
                    path: path.to_string(),
                    source,
                });
            }
            Err(e) => {
                warn!(%path, attempt, error = %e, "object store put failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Writes every encoded file, 8 at a time.
pub(crate) async fn write_all(lake: &naap_sql::Lake, files: &[Encoded]) -> Result<()> {
    // Owned futures: a stream of futures borrowing through a closure's
    // argument would make the whole commit future not `Send`.
    let puts: Vec<_> = files
        .iter()
        .map(|f| {
            let (lake, path, bytes) = (lake.clone(), f.object.clone(), f.bytes.clone());
            async move { put_with_retry(&lake, &path, bytes).await }
        })
        .collect();
    futures::stream::iter(puts)
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_name_their_partition_and_survive_in_the_file_name() {
        let g = group("livepeer.events", 3, Some("sla_v1"));
        assert_eq!(g, "p00003-sla_v1@livepeer.events");
        let path = format!("date=2026-01-08/hour=21/{g}@{:020}-w1x2-0000.parquet", 7);
        assert_eq!(group_of(&path), Some(g.as_str()));
        assert!(group_is_partition(&g, "livepeer.events", 3));
        assert!(!group_is_partition(&g, "livepeer.events", 30));
        assert!(!group_is_partition(&g, "other", 3));
        assert!(!group_is_partition(SEALED_GROUP, "livepeer.events", 3));
        assert_eq!(group_of("date=x/hour=y/part-0001.parquet"), None);
        assert_eq!(
            group_of(&format!("x/{SEALED_GROUP}@{:020}-w1x2-0003.parquet", 9)),
            Some(SEALED_GROUP)
        );
    }
}
