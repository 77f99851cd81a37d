//! The commit record: what one commit of the pipeline changes in each
//! table, and which input it covers.
//!
//! A commit changes several Delta tables, and Delta commits one table at a
//! time. So the pipeline first writes one record (`_naap/commits/<seq>.json`,
//! create-only: the sequence is one linear history however many processes
//! write it) naming, per table, the files to add and remove, and only then
//! commits each table's part as one Delta version carrying the record's
//! sequence number as an application transaction (see
//! `commit::tables`). Whoever finds a record a table lacks (the writer
//! itself, or any process after a crash) applies it; each table's own
//! transaction says which records it holds, so each is applied once.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Format version of the commit record JSON (1 was the layout before Delta).
pub const MANIFEST_FORMAT: u32 = 2;

/// Progress of one source partition as of a commit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionProgress {
    /// Next offset to read: everything below it is in the lake.
    pub next_offset: i64,
    /// Newest event time seen (UTC ms), if any.
    pub max_event_time_ms: Option<i64>,
    /// Windows starting before this are closed and written.
    pub closed_before_ms: Option<i64>,
    /// The pipeline process that holds the partition (scale-out): a process
    /// whose claim was taken over commits nothing more for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The owner's generation: the sequence number of the record in which
    /// it claimed the partition. Every table commit carries it as the
    /// `naap-owner:<source>:<partition>` transaction, and a table refuses a
    /// commit of an older generation than it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// Open-window state of the partition (`_naap/state/…parquet`, rows
    /// tagged with `_source`/`_partition`; one file may hold several partitions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_file: Option<String>,
    /// Event ids the partition's dedup remembers (`_naap/state/…ids.parquet`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_file: Option<String>,
}

/// Running totals since the lake was created (they survive restarts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub messages_in: u64,
    pub events_in: u64,
    pub quarantined: u64,
    pub quarantined_by_reason: BTreeMap<String, u64>,
    pub late_events: u64,
    /// Late events by the hour folder of the table whose window had closed
    /// (`telemetry_1m/date=…/hour=…`).
    #[serde(default)]
    pub late_events_by_hour: BTreeMap<String, u64>,
    /// Events dropped because their `event_id` was already accepted.
    #[serde(default)]
    pub duplicates: u64,
    pub windows_committed: u64,
    pub rows_written: BTreeMap<String, u64>,
}

/// A file a commit adds to a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddedFile {
    /// From the table's folder: `date=…/hour=…/<name>.parquet`.
    pub path: String,
    pub size: i64,
    pub rows: u64,
    /// The UTC hour (start, ms) its rows belong to: its partition.
    pub hour_ms: i64,
    /// False when the rows were in the table already (compaction).
    pub data_change: bool,
}

/// A file a commit removes from a table (replaced by one it adds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedFile {
    pub path: String,
    pub size: i64,
    pub hour_ms: i64,
    pub data_change: bool,
}

/// What one commit changes in one table: one Delta version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableChange {
    /// The newest earlier commit that changed this table (0: none); the
    /// table holds it before this one is applied.
    pub after: u64,
    pub adds: Vec<AddedFile>,
    pub removes: Vec<RemovedFile>,
}

/// `_naap/commits/<seq>.json`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub seq: u64,
    pub committed_at_ms: i64,
    /// The pipeline process that wrote it.
    #[serde(default)]
    pub writer: String,
    /// source (topic or file name) → partition → progress
    pub sources: BTreeMap<String, BTreeMap<i32, PartitionProgress>>,
    /// UTC hours before this are sealed into the hourly tables.
    #[serde(default)]
    pub sealed_before_ms: Option<i64>,
    /// Hours (start, ms) holding accepted gateway events, not sealed yet.
    #[serde(default)]
    pub unsealed_hours: Vec<i64>,
    /// What this commit changes, by table.
    #[serde(default)]
    pub tables: BTreeMap<String, TableChange>,
    /// For every table: the newest commit up to this one that changed it.
    #[serde(default)]
    pub last_change: BTreeMap<String, u64>,
    /// Per hourly table: the oldest version of its aggregate (the SQL
    /// file's `version:`) that any of its sealed hours was computed with.
    /// A table missing here, in a lake with sealed hours, was sealed by
    /// version 1 (every aggregate's version before this was recorded).
    #[serde(default)]
    pub sealed_with: BTreeMap<String, u32>,
    /// Streamr sources: each publisher's chain (`<source>/<publisher>`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub chains: crate::chains::Chains,
    pub totals: Totals,
}

pub(crate) fn manifest_path(lake: &naap_sql::Lake, seq: u64) -> Path {
    lake.internal(&format!("commits/{seq:020}.json"))
}

/// Every object under `prefix` (recursively) in `store`.
pub(crate) async fn list_all(
    store: &dyn object_store::ObjectStore,
    prefix: &Path,
) -> Result<Vec<object_store::ObjectMeta>> {
    store
        .list(Some(prefix))
        .try_collect()
        .await
        .map_err(|source| Error::Store {
            op: "list",
            path: prefix.to_string(),
            source,
        })
}

/// The whole content of one lake object.
pub(crate) async fn read_object(lake: &naap_sql::Lake, path: &Path) -> Result<Bytes> {
    let store_error = |op| {
        move |source| Error::Store {
            op,
            path: path.to_string(),
            source,
        }
    };
    let object = lake.store().get(path).await.map_err(store_error("get"))?;
    object.bytes().await.map_err(store_error("read"))
}

/// Every row of one Parquet object of the lake.
pub(crate) async fn read_parquet(lake: &naap_sql::Lake, path: &Path) -> Result<Vec<arrow::array::RecordBatch>> {
    let bytes = read_object(lake, path).await?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.build())
        .map_err(|source| Error::Parquet {
            path: path.to_string(),
            source,
        })?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}

/// The Arrow schema in the footer of one Parquet object of the lake.
pub(crate) async fn parquet_schema(lake: &naap_sql::Lake, path: &Path) -> Result<arrow::datatypes::SchemaRef> {
    let bytes = read_object(lake, path).await?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|source| {
        Error::Parquet {
            path: path.to_string(),
            source,
        }
    })?;
    Ok(std::sync::Arc::clone(builder.schema()))
}

impl Manifest {
    /// The state and dedup files some partition refers to.
    pub(crate) fn referenced_state(&self) -> std::collections::BTreeSet<String> {
        self.sources
            .values()
            .flat_map(|ps| ps.values())
            .flat_map(|p| [p.state_file.clone(), p.dedup_file.clone()])
            .flatten()
            .collect()
    }

    /// The manifest of commit `seq`, if it is still kept.
    pub async fn load(lake: &naap_sql::Lake, seq: u64) -> Result<Option<Manifest>> {
        let path = manifest_path(lake, seq);
        match lake.store().get(&path).await {
            Ok(object) => {
                let bytes = object.bytes().await.map_err(|source| Error::Store {
                    op: "read",
                    path: path.to_string(),
                    source,
                })?;
                Self::parse(&path, &bytes).map(Some)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(Error::Store {
                op: "get",
                path: path.to_string(),
                source,
            }),
        }
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<Manifest> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| Error::Manifest {
            path: path.to_string(),
            detail: e.to_string(),
        })?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(Error::Manifest {
                path: path.to_string(),
                detail: format!("format {} is not {MANIFEST_FORMAT}", manifest.format),
            });
        }
        Ok(manifest)
    }

    /// The newest manifest in the lake, if any.
    pub async fn load_latest(lake: &naap_sql::Lake) -> Result<Option<Manifest>> {
        let prefix = lake.internal("commits");
        let listed = list_all(lake.store().as_ref(), &prefix).await?;
        let newest = listed
            .iter()
            .filter_map(|m| {
                let name = m.location.filename()?;
                name.strip_suffix(".json")?
                    .parse::<u64>()
                    .ok()
                    .map(|seq| (seq, &m.location))
            })
            .max_by_key(|(seq, _)| *seq);
        let Some((_, path)) = newest else { return Ok(None) };
        let bytes = read_object(lake, path).await?;
        Self::parse(path, &bytes).map(Some)
    }

    /// Creates this manifest's object; fails with [`Error::Fenced`] if it exists.
    pub async fn write(&self, lake: &naap_sql::Lake) -> Result<()> {
        let path = manifest_path(lake, self.seq);
        let body = serde_json::to_vec_pretty(self).map_err(|e| Error::Manifest {
            path: path.to_string(),
            detail: e.to_string(),
        })?;
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match lake
            .store()
            .put_opts(&path, PutPayload::from(Bytes::from(body)), opts)
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) | Err(object_store::Error::Precondition { .. }) => {
                Err(Error::Fenced { seq: self.seq })
            }
            Err(source) => Err(Error::Store {
                op: "put",
                path: path.to_string(),
                source,
            }),
        }
    }
}
