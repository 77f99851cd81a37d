//! The commit record: which files a commit added and which input it covers.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Format version of the manifest JSON.
pub const MANIFEST_FORMAT: u32 = 1;

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

/// One file added by a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub table: String,
    pub path: String,
    pub rows: u64,
}

/// `_naap/manifest/<seq>.json`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub seq: u64,
    pub committed_at_ms: i64,
    /// source (topic or file name) → partition → progress
    pub sources: BTreeMap<String, BTreeMap<i32, PartitionProgress>>,
    /// State of every partition (manifests before scale-out; now each
    /// partition names its own, see [`PartitionProgress`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_file: Option<String>,
    /// Event ids remembered for dedup (manifests before scale-out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_file: Option<String>,
    /// UTC hours before this are sealed into the hourly tables.
    #[serde(default)]
    pub sealed_before_ms: Option<i64>,
    /// Hours (start, ms) holding accepted gateway events, not sealed yet.
    #[serde(default)]
    pub unsealed_hours: Vec<i64>,
    pub files: Vec<FileEntry>,
    /// Files this commit superseded with replacements (see `naap_sql::files`).
    #[serde(default)]
    pub replaced: Vec<String>,
    /// Superseded files still in the lake, deleted once their grace period
    /// (for queries that listed them before) has passed.
    #[serde(default)]
    pub garbage: Vec<Garbage>,
    pub totals: Totals,
}

/// A superseded file and when it may be deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Garbage {
    pub path: String,
    pub delete_after_ms: i64,
}

pub(crate) fn manifest_path(lake: &naap_sql::Lake, seq: u64) -> Path {
    lake.internal(&format!("manifest/{seq:020}.json"))
}

/// Open-window state written by process `writer` for commit `seq` (named
/// by both: two processes may try the same sequence number).
pub(crate) fn state_path(lake: &naap_sql::Lake, seq: u64, writer: &str) -> Path {
    lake.internal(&format!("state/{seq:020}-{writer}.parquet"))
}

pub(crate) fn dedup_path(lake: &naap_sql::Lake, seq: u64, writer: &str) -> Path {
    lake.internal(&format!("state/{seq:020}-{writer}.ids.parquet"))
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

impl Manifest {
    /// The state and dedup files some partition (or the legacy top-level
    /// fields) refers to.
    pub(crate) fn referenced_state(&self) -> std::collections::BTreeSet<String> {
        let per_partition = self
            .sources
            .values()
            .flat_map(|ps| ps.values())
            .flat_map(|p| [p.state_file.clone(), p.dedup_file.clone()]);
        per_partition
            .chain([self.state_file.clone(), self.dedup_file.clone()])
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
        let prefix = lake.internal("manifest");
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
