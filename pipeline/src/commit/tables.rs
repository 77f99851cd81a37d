//! Applying commit records to the Delta tables, each exactly once.
//!
//! A record (see `crate::manifest`) names what one commit adds to and
//! removes from each table. Its part for one table becomes one Delta
//! version carrying application transactions:
//!
//! * `naap-commit` = the record's sequence number: the newest record the
//!   table holds. Every version the pipeline commits carries it, so two
//!   processes applying records to one table concurrently conflict
//!   (`ConcurrentTransaction`) and the loser looks again instead of
//!   committing twice;
//! * `naap-offset:<source>:<partition>` = the next offset of each input
//!   partition the record's writer held: what the table holds of that input;
//! * `naap-owner:<source>:<partition>` = the writer's generation for that
//!   partition (the record in which it claimed it): a table refuses a
//!   record of an older generation than one it holds, so a writer that lost
//!   a partition cannot add to a table behind its new owner's back.
//!
//! A table holds records in sequence order: before applying record N it
//! holds the record N names as its predecessor for that table (applying it
//! first if needed). So anyone can finish a crashed writer's record, and a
//! table never holds a record without the ones before it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use arrow::array::RecordBatch;

use deltalake_core::kernel::transaction::CommitConflictError;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake_core::kernel::{Action, Add, Remove, Transaction};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::{DeltaTable, DeltaTableError};
use tracing::{debug, info};

#[path = "evolve.rs"]
mod evolve;

use crate::manifest::{Manifest, TableChange};
use crate::{Error, Result, failpoint};
use naap_sql::delta::ActiveFile;

/// Application id of the newest commit record a table holds.
pub(crate) const COMMIT_APP: &str = "naap-commit";

/// Application id of what a table holds of one input partition.
pub(crate) fn offset_app(source: &str, partition: i32) -> String {
    format!("naap-offset:{source}:{partition}")
}

/// Application id of the generation of a partition's owner.
pub(crate) fn owner_app(source: &str, partition: i32) -> String {
    format!("naap-owner:{source}:{partition}")
}

/// A new Delta log checkpoint every this many versions of a table.
const CHECKPOINT_EVERY: &str = "10";

/// Log entries older than this (and older than the newest checkpoint) are
/// deleted: how far back time travel reaches.
const LOG_RETENTION: &str = "interval 7 days";

/// The open Delta tables of the lake, newest version as last seen.
pub(crate) struct Tables {
    lake: naap_sql::Lake,
    open: HashMap<String, DeltaTable>,
    /// Per table: (Delta version, newest record it holds) as this process
    /// last committed or read it; looking the transaction up again (which
    /// reads the log since its checkpoint) is needed only when the table
    /// has moved on since.
    known: HashMap<String, (i64, u64)>,
    /// Per table: the Delta version at which the owner generations were
    /// last checked (or written by this process).
    fenced_at: HashMap<String, i64>,
    /// Tables whose schema this process has compared with the files it
    /// writes (see `evolve`).
    schema_checked: HashSet<String>,
}

impl Tables {
    pub(crate) fn new(lake: naap_sql::Lake) -> Self {
        Self {
            lake,
            open: HashMap::new(),
            known: HashMap::new(),
            fenced_at: HashMap::new(),
            schema_checked: HashSet::new(),
        }
    }

    /// `table` at its newest version, or `None` before its first commit.
    pub(crate) async fn current(&mut self, table: &str) -> Result<Option<&DeltaTable>> {
        if let Some(t) = self.open.get_mut(table) {
            naap_sql::delta::refresh(t, table).await?;
        } else if let Some(t) = naap_sql::delta::open(&self.lake, table).await? {
            self.open.insert(table.to_owned(), t);
        }
        Ok(self.open.get(table))
    }

    /// Rows of `table` in the UTC hour partitions [from_ms, to_ms) of its
    /// newest version (lake types); none before its first commit.
    pub(crate) async fn read_hours(&mut self, table: &str, from_ms: i64, to_ms: i64) -> Result<Vec<RecordBatch>> {
        let lake = self.lake.clone();
        let Some(t) = self.current(table).await? else {
            return Ok(Vec::new());
        };
        Ok(naap_sql::delta::read_hours_of(&lake, t, table, from_ms, to_ms).await?)
    }

    /// The files of `table`'s UTC hour partitions starting at each of
    /// `hours` in its newest version, by hour (none before its first commit).
    pub(crate) async fn hour_files(&mut self, table: &str, hours: &[i64]) -> Result<BTreeMap<i64, Vec<ActiveFile>>> {
        let mut out: BTreeMap<i64, Vec<ActiveFile>> = hours.iter().map(|h| (*h, Vec::new())).collect();
        let Some(t) = self.current(table).await? else {
            return Ok(out);
        };
        let partitions: Vec<_> = hours
            .iter()
            .map(|h| (*h, naap_sql::delta::partition_values(*h)))
            .collect();
        for file in naap_sql::delta::active_files(t, table)? {
            if let Some((hour, _)) = partitions.iter().find(|(_, p)| *p == file.partition) {
                out.entry(*hour).or_default().push(file);
            }
        }
        Ok(out)
    }

    /// The rows of `files` of `table` (lake types), with only `columns`
    /// when given.
    pub(crate) async fn read_files(
        &self,
        table: &str,
        files: &[ActiveFile],
        columns: Option<&[&str]>,
    ) -> Result<Vec<RecordBatch>> {
        Ok(naap_sql::delta::read_columns(&self.lake, table, files, columns).await?)
    }

    /// The newest record `table` holds (0: none).
    async fn holds(&mut self, table: &str) -> Result<u64> {
        let version = match self.current(table).await? {
            Some(t) => naap_sql::delta::version_of(t),
            None => return Ok(0),
        };
        if let Some((known_version, holds)) = self.known.get(table)
            && *known_version == version
        {
            return Ok(*holds);
        }
        let Some(t) = self.open.get(table) else { return Ok(0) };
        let snapshot = t.snapshot().map_err(delta_error(table))?;
        let txn = snapshot
            .transaction_version(t.log_store().as_ref(), COMMIT_APP)
            .await
            .map_err(delta_error(table))?;
        let holds = txn.map_or(0, |v| u64::try_from(v).unwrap_or(0));
        self.known.insert(table.to_owned(), (version, holds));
        Ok(holds)
    }

    /// Applies `record` to every table it changes (and, first, whatever
    /// earlier record a table lacks), retrying store errors.
    pub(crate) async fn apply(&mut self, record: &Manifest) -> Result<()> {
        let mut applied = 0;
        for table in record.tables.keys() {
            let mut delay = Duration::from_millis(200);
            loop {
                match self.apply_to(table, record).await {
                    Ok(()) => break,
                    // A table not opened yet is listed first: that listing
                    // failing (Error::Lake) is the store failing too.
                    Err(e) if e.is_storage() && delay < Duration::from_secs(60) => {
                        tracing::warn!(table, seq = record.seq, error = %e, "cannot commit to the table yet; retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(10));
                    }
                    Err(e) => return Err(e),
                }
            }
            applied += 1;
            if applied == 1 {
                failpoint::hit("after_table");
            }
        }
        Ok(())
    }

    /// Makes every table the newest record names hold it (after a crash, or
    /// when taking over partitions).
    pub(crate) async fn roll_forward(&mut self, latest: &Manifest) -> Result<()> {
        let mut finished = 0;
        for (table, &seq) in &latest.last_change {
            if self.holds(table).await? >= seq {
                continue;
            }
            let record = if seq == latest.seq {
                latest.clone()
            } else {
                load_record(&self.lake, seq).await?
            };
            self.apply_to(table, &record).await?;
            finished += 1;
        }
        if finished > 0 {
            info!(
                tables = finished,
                "finished commits an earlier run recorded but did not apply"
            );
        }
        Ok(())
    }

    /// Applies `record`'s change to `table`, after the records it follows.
    async fn apply_to(&mut self, table: &str, record: &Manifest) -> Result<()> {
        loop {
            let holds = self.holds(table).await?;
            if holds >= record.seq {
                return Ok(());
            }
            // The records this table lacks, newest first, down to what it holds.
            let mut chain = vec![record.clone()];
            while let Some(after) = chain.last().and_then(|r| r.tables.get(table)).map(|c| c.after)
                && after > holds
            {
                chain.push(load_record(&self.lake, after).await?);
            }
            let mut conflicted = false;
            for r in chain.iter().rev() {
                let change = r.tables.get(table).cloned().unwrap_or_default();
                self.fence(table, r).await?;
                match self.commit(table, r, &change).await {
                    Ok(()) => {}
                    Err(Error::Delta { source, .. }) if is_conflict(&source) => {
                        debug!(
                            table,
                            seq = r.seq,
                            "another process committed to the table first; looking again"
                        );
                        conflicted = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if !conflicted {
                return Ok(());
            }
        }
    }

    /// Fails with [`Error::Lost`] if `table` holds a newer owner generation
    /// for a partition `record`'s writer claims to own. Reads the table's
    /// transactions only when another process committed to it since the
    /// last check.
    async fn fence(&mut self, table: &str, record: &Manifest) -> Result<()> {
        let Some(t) = self.open.get(table) else {
            return Ok(());
        };
        let version = naap_sql::delta::version_of(t);
        if self.fenced_at.get(table) == Some(&version) {
            return Ok(());
        }
        let snapshot = t.snapshot().map_err(delta_error(table))?;
        for (source, partition, generation) in owned(record) {
            let held = snapshot
                .transaction_version(t.log_store().as_ref(), owner_app(source, partition))
                .await
                .map_err(delta_error(table))?;
            if let Some(held) = held.filter(|h| *h > generation) {
                return Err(Error::Lost {
                    source_name: source.to_owned(),
                    partition,
                    owner: format!("of generation {held} (table {table}; this record is of generation {generation})"),
                });
            }
        }
        self.fenced_at.insert(table.to_owned(), version);
        Ok(())
    }

    /// One Delta version: `change` of `record`, with its transactions.
    async fn commit(&mut self, table: &str, record: &Manifest, change: &TableChange) -> Result<()> {
        // Newest first: an earlier record of the same chain was just committed.
        if self.current(table).await?.is_none() {
            self.create(table, change).await?;
        }
        let t = self.open.get(table).ok_or_else(|| Error::Manifest {
            path: table.to_owned(),
            detail: "table vanished after its creation".into(),
        })?;
        let now = now_ms();
        let mut actions: Vec<Action> = Vec::with_capacity(change.adds.len() + change.removes.len());
        for add in &change.adds {
            actions.push(Action::Add(Add {
                path: add.path.clone(),
                partition_values: naap_sql::delta::partition_values(add.hour_ms),
                size: add.size,
                modification_time: now,
                data_change: add.data_change,
                stats: Some(format!("{{\"numRecords\":{}}}", add.rows)),
                ..Default::default()
            }));
        }
        for removed in &change.removes {
            actions.push(Action::Remove(Remove {
                path: removed.path.clone(),
                data_change: removed.data_change,
                deletion_timestamp: Some(now),
                extended_file_metadata: Some(true),
                partition_values: Some(naap_sql::delta::partition_values(removed.hour_ms)),
                size: Some(removed.size),
                tags: None,
                deletion_vector: None,
                base_row_id: None,
                default_row_commit_version: None,
            }));
        }
        if let Some(metadata) = self.evolution(table, change).await? {
            actions.push(Action::Metadata(metadata));
        }
        let mut txns = vec![Transaction::new(COMMIT_APP, record.seq as i64)];
        for (source, partition, generation) in owned(record) {
            let next_offset = record.sources[source][&partition].next_offset;
            txns.push(Transaction::new(offset_app(source, partition), next_offset));
            txns.push(Transaction::new(owner_app(source, partition), generation));
        }
        let properties = CommitProperties::default()
            .with_application_transactions(txns)
            .with_max_retries(20)
            .with_metadata([("naap.commit".to_owned(), serde_json::json!(record.seq))]);
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(naap_sql::delta::PARTITION_COLUMNS.map(str::to_owned).to_vec()),
            predicate: None,
        };
        let snapshot = t.snapshot().map_err(delta_error(table))?;
        let finished = CommitBuilder::from(properties)
            .with_actions(actions)
            .build(Some(snapshot), t.log_store(), operation)
            .await
            .map_err(delta_error(table))?;
        debug!(
            table,
            seq = record.seq,
            version = finished.version(),
            "committed to the Delta table"
        );
        let version = i64::try_from(finished.version()).unwrap_or(i64::MAX);
        self.known.insert(table.to_owned(), (version, record.seq));
        self.fenced_at.insert(table.to_owned(), version);
        if !change.adds.is_empty() {
            self.schema_checked.insert(table.to_owned());
        }
        Ok(())
    }
}

/// (source, partition, generation) of the partitions `record`'s writer owns.
fn owned(record: &Manifest) -> impl Iterator<Item = (&str, i32, i64)> {
    record.sources.iter().flat_map(move |(source, partitions)| {
        partitions
            .iter()
            .filter(|(_, p)| p.owner.as_deref() == Some(record.writer.as_str()))
            .map(move |(partition, p)| {
                let generation = p.generation.map_or(0, |g| i64::try_from(g).unwrap_or(i64::MAX));
                (source.as_str(), *partition, generation)
            })
    })
}

fn is_conflict(e: &DeltaTableError) -> bool {
    matches!(
        e,
        DeltaTableError::VersionAlreadyExists(_)
            | DeltaTableError::Transaction {
                source: TransactionError::CommitConflict(CommitConflictError::ConcurrentTransaction)
                    | TransactionError::VersionAlreadyExists(_)
                    | TransactionError::MaxCommitAttempts(_)
            }
    )
}

fn delta_error(table: &str) -> impl FnOnce(DeltaTableError) -> Error + '_ {
    move |source| Error::Delta {
        table: table.to_owned(),
        source,
    }
}

async fn load_record(lake: &naap_sql::Lake, seq: u64) -> Result<Manifest> {
    Manifest::load(lake, seq).await?.ok_or_else(|| Error::Manifest {
        path: crate::manifest::manifest_path(lake, seq).to_string(),
        detail: "a table lacks this commit record's changes, and the record is gone".into(),
    })
}

/// The records that changed each table, newest first: what
/// `Manifest::last_change` carries forward.
pub(crate) fn last_change(base: &Manifest, seq: u64, changed: &BTreeMap<String, TableChange>) -> BTreeMap<String, u64> {
    let mut out = base.last_change.clone();
    for table in changed.keys() {
        out.insert(table.clone(), seq);
    }
    out
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::path::Path;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::manifest::{AddedFile, PartitionProgress};

    const HOUR: i64 = 1_767_906_000_000;

    /// A record of `writer` (generation `generation` for partition 0 of
    /// `src`) adding one file of `rows` rows to table `t`, after `after`.
    async fn record(lake: &naap_sql::Lake, seq: u64, writer: &str, generation: u64, after: u64) -> Manifest {
        let path = format!("date=2026-01-08/hour=21/p00000@src@{seq:020}-{writer}-0000.parquet");
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![seq as i64]))]).unwrap();
        let object = Path::from(format!("{}/{path}", lake.table_dir("t")));
        let bytes = super::super::files::parquet_bytes(&batch, &object).unwrap();
        let size = bytes.len() as i64;
        super::super::files::put_with_retry(lake, &object, bytes).await.unwrap();
        let progress = PartitionProgress {
            next_offset: seq as i64 * 10,
            owner: Some(writer.to_owned()),
            generation: Some(generation),
            ..Default::default()
        };
        let adds = vec![AddedFile {
            path,
            size,
            rows: 1,
            hour_ms: HOUR,
            data_change: true,
        }];
        Manifest {
            format: crate::manifest::MANIFEST_FORMAT,
            seq,
            writer: writer.to_owned(),
            sources: [("src".to_owned(), [(0, progress)].into())].into(),
            tables: [(
                "t".to_owned(),
                TableChange {
                    after,
                    adds,
                    removes: Vec::new(),
                },
            )]
            .into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn records_apply_once_in_order_and_an_older_owner_generation_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let lake = naap_sql::Lake::open(dir.path().to_str().unwrap(), &Default::default()).unwrap();
        let (one, two) = (record(&lake, 1, "a", 1, 0).await, record(&lake, 2, "b", 2, 1).await);
        one.write(&lake).await.unwrap();
        // Applying the second first applies the one it follows; applying
        // either again (another process finishing them) adds nothing.
        let mut tables = Tables::new(lake.clone());
        tables.apply(&two).await.unwrap();
        Tables::new(lake.clone()).apply(&one).await.unwrap();
        tables.apply(&two).await.unwrap();
        let t = naap_sql::delta::open(&lake, "t").await.unwrap().unwrap();
        assert_eq!(naap_sql::delta::active_files(&t, "t").unwrap().len(), 2);
        let snapshot = t.snapshot().unwrap();
        let txn = |app: String| {
            let (snapshot, store) = (snapshot, t.log_store());
            async move { snapshot.transaction_version(store.as_ref(), app).await.unwrap() }
        };
        assert_eq!(txn(COMMIT_APP.to_owned()).await, Some(2));
        assert_eq!(txn(offset_app("src", 0)).await, Some(20));
        assert_eq!(txn(owner_app("src", 0)).await, Some(2));

        // Writer a, still believing it owns partition 0 at generation 1,
        // cannot add to a table that holds generation 2.
        let stale = record(&lake, 3, "a", 1, 2).await;
        let refused = Tables::new(lake.clone()).apply(&stale).await.unwrap_err();
        assert!(matches!(refused, Error::Lost { partition: 0, .. }), "{refused}");
        let t = naap_sql::delta::open(&lake, "t").await.unwrap().unwrap();
        assert_eq!(naap_sql::delta::active_files(&t, "t").unwrap().len(), 2);
    }
}
