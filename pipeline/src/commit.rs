//! The run loop: read, decode, window, and commit exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, RecordBatch, StringArray};
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use datafusion::execution::context::{SessionConfig, SessionContext};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::manifest::{FileEntry, Garbage, Manifest, PartitionProgress, Totals, dedup_path, manifest_path, state_path};
use crate::metrics::Metrics;
use crate::quarantine::{QUARANTINE_TABLE, QuarantineBuilder};
use crate::rewrite::{PendingFile, Rewrite};
use crate::seal::{SealSpan, Sealer, hour_of};
use crate::source::{InputFormat, PartitionKey, SourceEvent, SourceMessage, SourceSpec};
use crate::window::{PartitionWindows, RAW_TABLE, WINDOW_TABLE, distinct_windows, split_by_hour};
use crate::{Error, PipelineConfig, Result, decode, failpoint, rewrite, source};
use naap_events::gateway_tables::GatewayTables;
use naap_sql::files::{FileName, Replaces};
use naap_sql::hourly::HOUR_MS;

/// Source of the sealed hourly files (`h…@sealed`), written by the leader.
const SEALED_SOURCE: &str = "sealed";

struct Run {
    config: PipelineConfig,
    /// This process, as the manifest names partition owners.
    me: String,
    /// Partitions come and go with the consumer group's assignments.
    scale_out: bool,
    /// Whoever holds this partition seals hours and compacts sealed files
    /// (scale-out; without it this process does).
    leader_key: Option<PartitionKey>,
    /// The newest manifest this process knows: commits build on it.
    base: Manifest,
    /// Partitions this process holds (scale-out).
    owned: BTreeSet<PartitionKey>,
    /// State and dedup files this process wrote or inherited; each is
    /// deleted once no manifest it commits refers to it.
    known_state: BTreeSet<String>,
    /// Superseded files this process deleted since its last commit.
    deleted_garbage: BTreeSet<String>,
    ctx: SessionContext,
    raw_schema: SchemaRef,
    state_schema: SchemaRef,
    seq: u64,
    totals: Totals,
    parts: BTreeMap<PartitionKey, PartitionWindows>,
    quarantine: BTreeMap<PartitionKey, QuarantineBuilder>,
    /// Accepted rows of the sample families not yet written, per partition and table.
    samples: BTreeMap<PartitionKey, BTreeMap<&'static str, Vec<RecordBatch>>>,
    /// Event ids recently accepted, per partition (repeats are dropped).
    dedup: BTreeMap<PartitionKey, crate::verify::Dedup>,
    /// Accepted go-livepeer gateway events not yet written, per partition.
    gateway: BTreeMap<PartitionKey, GatewayTables>,
    /// Hours before this are sealed into the hourly tables.
    sealed_before_ms: Option<i64>,
    /// Hours holding on-time gateway events, not sealed yet.
    unsealed_hours: BTreeSet<i64>,
    /// Seal every unsealed hour at the next commit (end of a replay).
    seal_everything: bool,
    /// `sealed_before_ms` once the commit being written lands.
    sealing_to: Option<i64>,
    /// Closed windows computed but not yet committed, per partition.
    closing: BTreeMap<PartitionKey, Vec<RecordBatch>>,
    uncommitted: Totals,
    pending_messages: u64,
    /// Superseded files not deleted yet.
    garbage: Vec<Garbage>,
    /// Files the commit being written supersedes.
    replacing: Vec<Path>,
    /// When the last compaction pass ran.
    last_compaction: Instant,
    /// Replacement files the last compaction commit wrote.
    last_commit_files: usize,
    /// Broker timestamps of the messages the next commit covers.
    pending_timestamps: Vec<i64>,
}

pub(crate) async fn run(
    config: PipelineConfig,
    spec: SourceSpec,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) -> Result<Totals> {
    let scale_out = matches!(&spec, SourceSpec::Kafka { options, .. } if options.scale_out);
    let leader_key = match &spec {
        SourceSpec::Kafka { topics, .. } if scale_out => topics.iter().min().map(|t| (t.clone(), 0)),
        _ => None,
    };
    let mut run = Run::recover(config, &spec.source_names(), scale_out, leader_key).await?;
    metrics.restored(&run.totals);
    let start = run
        .parts
        .iter()
        .fold(BTreeMap::<String, BTreeMap<i32, i64>>::new(), |mut m, ((s, p), w)| {
            m.entry(s.clone()).or_default().insert(*p, w.progress.next_offset);
            m
        });
    // naap's own messages are checked and decoded on the source's thread.
    let check: Option<source::Check> = (run.config.format == InputFormat::NaapIpc).then(|| {
        let signatures = run.config.signatures.clone();
        Arc::new(move |m: &SourceMessage| decode::check_and_decode(&signatures, m)) as source::Check
    });
    let (mut rx, reader) = source::spawn(spec, start, run.config.format, check, Arc::clone(&metrics))?;
    let mut last_message = Instant::now();
    let mut source_done = false;
    // A pause this long in the input commits what was read without waiting
    // for the interval: the end of a backlog or of a burst is queryable at once.
    let pause = run.config.commit_interval.min(Duration::from_millis(100));
    loop {
        let deadline = tokio::time::Instant::now() + run.config.commit_interval;
        let mut read = 0usize;
        // A commit holds at most so many messages and events: memory follows
        // the commit size, not the input rate.
        while read < run.config.max_messages_per_commit && run.uncommitted.events_in < run.config.max_events_per_commit
        {
            let event = tokio::select! {
                event = rx.recv() => event,
                _ = tokio::time::sleep_until(deadline) => break,
                _ = tokio::time::sleep(pause), if run.pending_messages > 0 => break,
                _ = stop.changed() => break,
            };
            match event {
                Some(SourceEvent::Messages(messages)) => {
                    read += messages.len();
                    last_message = Instant::now();
                    for m in messages {
                        run.ingest(m)?;
                    }
                    metrics.pending(run.pending_messages);
                }
                Some(SourceEvent::Assigned { partitions, reply }) => {
                    last_message = Instant::now();
                    let offsets = run.claim(&partitions, &mut stop).await?;
                    let _ = reply.send(offsets);
                }
                Some(SourceEvent::Revoked { partitions, done }) => {
                    // Everything read of them goes into the lake before the
                    // group may hand them to another process.
                    run.commit(&metrics, &mut stop).await?;
                    run.release(&partitions);
                    let _ = done.send(());
                }
                None => {
                    source_done = true;
                    break;
                }
            }
        }
        let idle = run
            .config
            .stop_after_idle
            .is_some_and(|limit| last_message.elapsed() >= limit);
        if (source_done || idle) && run.config.finalize_at_end {
            for w in run.parts.values_mut() {
                w.close_all();
            }
            // With several processes, hours are sealed as the merged
            // watermark passes them, never on one process's say-so.
            run.seal_everything = !run.scale_out;
        }
        run.commit(&metrics, &mut stop).await?;
        if source_done || idle || *stop.borrow() {
            if idle {
                info!("no message for the idle limit; stopping");
            }
            break;
        }
    }
    // Stop the reader thread and wait for it, so its client is closed before
    // the caller tears down whatever it reads from.
    drop(rx);
    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    Ok(run.totals)
}

/// What one offline compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Replacement files written.
    pub written: usize,
    /// Files they superseded (deleted after the grace period).
    pub replaced: usize,
}

/// One compaction pass as its own commit, for a lake no pipeline is
/// writing; then waits out the grace period and deletes the superseded files.
pub(crate) async fn compact_once(mut config: PipelineConfig) -> Result<Compacted> {
    config.compact_every = Some(Duration::ZERO);
    if Manifest::load_latest(&config.lake).await?.is_none() {
        return Err(Error::Manifest {
            path: config.lake.internal("manifest").to_string(),
            detail: "no manifest: not a naap lake, or nothing committed yet; nothing to compact".into(),
        });
    }
    let mut run = Run::recover(config, &[], false, None).await?;
    let before = run.garbage.len();
    let (_stop, mut stopped) = watch::channel(false);
    run.commit(&Metrics::default(), &mut stopped).await?;
    let replaced = run.garbage.len().saturating_sub(before);
    let written = run.last_commit_files;
    if replaced > 0 {
        info!(
            written,
            replaced,
            grace_s = run.config.compaction_grace.as_secs_f64(),
            "compacted; deleting the superseded files after the grace period"
        );
        tokio::time::sleep(run.config.compaction_grace).await;
        run.collect_garbage().await;
    }
    Ok(Compacted { written, replaced })
}

fn parquet_bytes(batch: &RecordBatch, path: &Path) -> Result<Bytes> {
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
    let mut writer = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props)).map_err(|source| Error::Parquet {
        path: path.to_string(),
        source,
    })?;
    writer.write(batch).map_err(|source| Error::Parquet {
        path: path.to_string(),
        source,
    })?;
    writer.close().map_err(|source| Error::Parquet {
        path: path.to_string(),
        source,
    })?;
    Ok(Bytes::from(buf))
}

/// Encodes the files of a commit on the blocking pool, two at a time (the
/// read loop waits for the commit anyway), in their order.
async fn encode_all(files: Vec<PendingFile>) -> Result<Vec<(Path, Bytes)>> {
    let jobs = files.into_iter().map(|f| async move {
        tokio::task::spawn_blocking(move || parquet_bytes(&f.batch, &f.path).map(|bytes| (f.path, bytes)))
            .await
            .map_err(|e| Error::Manifest {
                path: "parquet encoding".into(),
                detail: format!("encoder task failed: {e}"),
            })?
    });
    futures::stream::iter(jobs).buffered(2).try_collect().await
}

/// One file named `name` per UTC hour of `time_column` in `rows`.
fn hourly_files(
    lake: &naap_sql::Lake,
    table: &str,
    rows: &RecordBatch,
    time_column: &str,
    name: &str,
) -> Result<Vec<PendingFile>> {
    Ok(split_by_hour(rows, time_column)?
        .into_iter()
        .map(|(hour, batch)| PendingFile {
            table: table.to_owned(),
            path: lake.table_file(table, hour, name),
            batch,
        })
        .collect())
}

/// A plain file name (see `naap_sql::files`).
fn file_name(kind: char, number: i64, partition: i32, tag: Option<&str>, source: &str) -> String {
    FileName::new(kind, number, partition, tag, source).to_string()
}

async fn put_with_retry(lake: &naap_sql::Lake, path: &Path, bytes: Bytes) -> Result<()> {
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

async fn state_schema_of(ctx: &SessionContext, raw_schema: SchemaRef) -> Result<SchemaRef> {
    let aggregate = naap_sql::rules::aggregate("telemetry_1m");
    let df = {
        let empty = RecordBatch::new_empty(Arc::clone(&raw_schema));
        let table = datafusion::datasource::MemTable::try_new(raw_schema, vec![vec![empty]])
            .map_err(Error::sql("state schema"))?;
        ctx.register_table(RAW_TABLE, Arc::new(table))
            .map_err(Error::sql("state schema"))?;
        let df = ctx.sql(aggregate.sql).await.map_err(Error::sql("state schema"))?;
        ctx.deregister_table(RAW_TABLE).map_err(Error::sql("state schema"))?;
        df
    };
    Ok(Arc::new(df.schema().as_arrow().clone()))
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

impl Run {
    async fn recover(
        config: PipelineConfig,
        sources: &[String],
        scale_out: bool,
        leader_key: Option<PartitionKey>,
    ) -> Result<Run> {
        let ctx = naap_sql::session::context_with(SessionConfig::new().with_target_partitions(1));
        let raw_schema = crate::verify::with_signer_schema(&naap_events::Family::NodeTelemetryV1.schema());
        let state_schema = state_schema_of(&ctx, Arc::clone(&raw_schema)).await?;
        let base = Manifest::load_latest(&config.lake).await?.unwrap_or_default();
        let mut run = Run {
            config,
            me: writer_id(),
            scale_out,
            leader_key,
            owned: BTreeSet::new(),
            known_state: BTreeSet::new(),
            deleted_garbage: BTreeSet::new(),
            ctx,
            raw_schema,
            state_schema,
            seq: base.seq,
            totals: base.totals.clone(),
            parts: BTreeMap::new(),
            quarantine: BTreeMap::new(),
            gateway: BTreeMap::new(),
            samples: BTreeMap::new(),
            dedup: BTreeMap::new(),
            sealed_before_ms: base.sealed_before_ms,
            unsealed_hours: base.unsealed_hours.iter().copied().collect(),
            seal_everything: false,
            sealing_to: None,
            closing: BTreeMap::new(),
            uncommitted: Totals::default(),
            pending_messages: 0,
            garbage: base.garbage.clone(),
            replacing: Vec::new(),
            last_compaction: Instant::now(),
            last_commit_files: 0,
            pending_timestamps: Vec::new(),
            base,
        };
        if !scale_out {
            // This process reads every partition: it takes over each one the
            // manifest knows, whoever held it before.
            let keys: Vec<PartitionKey> = run
                .base
                .sources
                .iter()
                .flat_map(|(s, ps)| ps.keys().map(move |p| (s.clone(), *p)))
                .collect();
            let (_never, mut stop) = watch::channel(false);
            run.claim(&keys, &mut stop).await?;
        }
        info!(
            lake = %run.config.lake,
            seq = run.seq,
            sources = ?sources,
            partitions = run.parts.len(),
            writer = %run.me,
            "recovered from manifest"
        );
        Ok(run)
    }

    /// Whether this process seals hours (and compacts the sealed files).
    fn leads(&self) -> bool {
        self.leader_key.as_ref().is_none_or(|k| self.owned.contains(k))
    }

    /// Takes `keys` over: records this process as their owner in a
    /// manifest of its own (from then on a previous holder's commits leave
    /// them alone), loads their open windows and remembered ids, removes
    /// their files of an interrupted commit, and returns where to read each.
    async fn claim(
        &mut self,
        keys: &[PartitionKey],
        stop: &mut watch::Receiver<bool>,
    ) -> Result<BTreeMap<PartitionKey, i64>> {
        let fresh: Vec<PartitionKey> = keys.iter().filter(|k| !self.owned.contains(*k)).cloned().collect();
        let lake = self.config.lake.clone();
        let mut delay = Duration::from_millis(200);
        loop {
            let attempt = async {
                let latest = Manifest::load_latest(&lake).await?.unwrap_or_default();
                let owner_of = |(s, p): &PartitionKey| {
                    latest
                        .sources
                        .get(s)
                        .and_then(|ps| ps.get(p))
                        .and_then(|e| e.owner.clone())
                };
                if fresh.iter().all(|k| owner_of(k).as_deref() == Some(self.me.as_str())) || fresh.is_empty() {
                    return Ok(latest);
                }
                let mut claim = latest.clone();
                claim.format = crate::manifest::MANIFEST_FORMAT;
                claim.seq += 1;
                claim.committed_at_ms = now_ms();
                claim.files.clear();
                claim.replaced.clear();
                for (s, p) in &fresh {
                    claim.sources.entry(s.clone()).or_default().entry(*p).or_default().owner = Some(self.me.clone());
                }
                claim.write(&lake).await.map(|()| claim)
            };
            match attempt.await {
                Ok(manifest) => {
                    self.adopt(manifest);
                    break;
                }
                Err(Error::Fenced { seq }) => debug!(seq, "another process committed first; claiming again"),
                Err(e) => {
                    if *stop.borrow() {
                        return Err(e);
                    }
                    warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "cannot claim partitions yet; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
        self.load_state(&fresh).await?;
        self.remove_uncommitted_files(self.scale_out.then_some(&fresh)).await?;
        if self.scale_out {
            self.owned.extend(fresh.iter().cloned());
            info!(claimed = fresh.len(), holding = self.owned.len(), partitions = ?fresh, "claimed partitions in the manifest");
        }
        Ok(keys
            .iter()
            .map(|k| (k.clone(), self.parts.get(k).map_or(0, |p| p.progress.next_offset)))
            .collect())
    }

    /// Lets partitions go (after committing them): the group hands them to
    /// another process, which resumes from the manifest.
    fn release(&mut self, keys: &[PartitionKey]) {
        for key in keys {
            self.owned.remove(key);
            self.parts.remove(key);
            self.dedup.remove(key);
            self.quarantine.remove(key);
            self.samples.remove(key);
            self.gateway.remove(key);
            self.closing.remove(key);
        }
        info!(released = keys.len(), holding = self.owned.len(), "released partitions");
    }

    /// Makes `manifest` (just written, or found newer) the base of the next commit.
    fn adopt(&mut self, manifest: Manifest) {
        self.seq = manifest.seq;
        self.totals = manifest.totals.clone();
        self.sealed_before_ms = manifest.sealed_before_ms;
        // Hours of gateway events read but not committed yet stay unsealed.
        let sealed_before = self.sealed_before_ms.unwrap_or(i64::MIN);
        self.unsealed_hours = manifest
            .unsealed_hours
            .iter()
            .copied()
            .chain(self.unsealed_hours.iter().copied())
            .filter(|h| *h >= sealed_before)
            .collect();
        self.garbage = manifest
            .garbage
            .iter()
            .filter(|g| !self.deleted_garbage.contains(&g.path))
            .cloned()
            .collect();
        self.base = manifest;
    }

    /// Loads the open windows and remembered ids of `keys` from the files
    /// the base manifest names for them.
    async fn load_state(&mut self, keys: &[PartitionKey]) -> Result<()> {
        let lake = self.config.lake.clone();
        let wanted: BTreeSet<&PartitionKey> = keys.iter().collect();
        let (mut state_files, mut id_files) = (BTreeSet::new(), BTreeSet::new());
        for key @ (source, p) in keys {
            let entry = self
                .base
                .sources
                .get(source)
                .and_then(|ps| ps.get(p))
                .cloned()
                .unwrap_or_default();
            if let Some(f) = entry.state_file.clone().or_else(|| self.base.state_file.clone()) {
                state_files.insert(f);
            }
            if let Some(f) = entry.dedup_file.clone().or_else(|| self.base.dedup_file.clone()) {
                id_files.insert(f);
            }
            self.parts.insert(key.clone(), PartitionWindows::new(entry, Vec::new()));
        }
        for state in &state_files {
            for batch in crate::manifest::read_parquet(&lake, &Path::from(state.as_str())).await? {
                let sources = batch.column(0).as_any().downcast_ref::<StringArray>().cloned();
                let partitions = batch.column(1).as_any().downcast_ref::<Int32Array>().cloned();
                let (Some(sources), Some(partitions)) = (sources, partitions) else {
                    return Err(Error::Manifest {
                        path: state.clone(),
                        detail: "state file lacks _source/_partition".into(),
                    });
                };
                let body = batch.project(&(2..batch.num_columns()).collect::<Vec<_>>())?;
                let body = RecordBatch::try_new(Arc::clone(&self.state_schema), body.columns().to_vec())?;
                for key in &wanted {
                    let mask: arrow::array::BooleanArray = (0..batch.num_rows())
                        .map(|i| Some(sources.value(i) == key.0 && partitions.value(i) == key.1))
                        .collect();
                    let rows = filter_record_batch(&body, &mask)?;
                    if rows.num_rows() > 0
                        && let Some(w) = self.parts.get_mut(*key)
                    {
                        w.open.push(rows);
                    }
                }
            }
        }
        for ids in &id_files {
            for batch in crate::manifest::read_parquet(&lake, &Path::from(ids.as_str())).await? {
                let (Some(sources), Some(partitions), Some(times)) = (
                    batch.column(0).as_any().downcast_ref::<StringArray>(),
                    batch.column(1).as_any().downcast_ref::<Int32Array>(),
                    batch.column(2).as_any().downcast_ref::<arrow::array::Int64Array>(),
                ) else {
                    return Err(Error::Manifest {
                        path: ids.clone(),
                        detail: "dedup file is not (source, partition, event_time_ms, fingerprint)".into(),
                    });
                };
                // Fingerprints; files written before them hold the ids.
                let column = batch.column(3);
                let fingerprints: Vec<u128> = if let Some(fp) = column.as_fixed_size_binary_opt() {
                    fp.iter()
                        .map(|v| v.and_then(|b| b.try_into().ok()).map_or(0, u128::from_be_bytes))
                        .collect()
                } else if let Some(text) = column.as_string_opt::<i32>() {
                    text.iter()
                        .map(|v| crate::verify::fingerprint(v.unwrap_or_default()))
                        .collect()
                } else {
                    return Err(Error::Manifest {
                        path: ids.clone(),
                        detail: format!("dedup fingerprints are {}, not FixedSizeBinary(16)", column.data_type()),
                    });
                };
                for (i, fp) in fingerprints.into_iter().enumerate() {
                    let key = (sources.value(i).to_owned(), partitions.value(i));
                    if wanted.contains(&key) {
                        self.dedup.entry(key).or_default().restore(times.value(i), fp);
                    }
                }
            }
        }
        self.known_state.extend(state_files);
        self.known_state.extend(id_files);
        Ok(())
    }

    /// Deletes lake files a crashed commit wrote without its manifest: of
    /// `only` these partitions (scale-out: other processes' commits may be
    /// in flight), or of every partition.
    async fn remove_uncommitted_files(&self, only: Option<&[PartitionKey]>) -> Result<()> {
        let lake = &self.config.lake;
        let manifest = &self.base;
        let sealed_too = match only {
            None => true,
            Some(keys) => self.leader_key.as_ref().is_some_and(|k| keys.contains(k)),
        };
        let prefix = lake.tables_dir();
        let listed = crate::manifest::list_all(lake.store().as_ref(), &prefix).await?;
        let mut listed_by: BTreeMap<u64, Option<BTreeSet<String>>> = BTreeMap::new();
        let mut removed = 0u64;
        for meta in listed {
            let Some(name) = meta.location.filename().and_then(FileName::parse) else {
                continue;
            };
            let mine = match only {
                None => true,
                Some(_) if name.source == SEALED_SOURCE => sealed_too,
                Some(keys) => keys.iter().any(|(s, p)| s == name.source && *p == name.partition),
            };
            if !mine {
                continue;
            }
            let progress = manifest.sources.get(name.source).and_then(|p| p.get(&name.partition));
            let committed = match (name.kind, name.replaces, progress) {
                // A replacement names the commit that wrote it; that commit's
                // manifest lists it (unless pruned long ago).
                (_, Some(r), _) if r.seq > manifest.seq => false,
                (_, Some(r), _) => {
                    if let std::collections::btree_map::Entry::Vacant(e) = listed_by.entry(r.seq) {
                        let files = Manifest::load(lake, r.seq)
                            .await?
                            .map(|m| m.files.into_iter().map(|f| f.path).collect());
                        e.insert(files);
                    }
                    listed_by[&r.seq]
                        .as_ref()
                        .is_none_or(|files| files.contains(meta.location.as_ref()))
                }
                ('h', None, _) => manifest.sealed_before_ms.is_some_and(|sb| name.number < sb),
                ('o', None, Some(p)) => name.number < p.next_offset,
                ('w', None, Some(p)) => p.closed_before_ms.is_some_and(|cb| name.number < cb),
                _ => false,
            };
            if !committed {
                debug!(path = %meta.location, "removing file of an uncommitted commit");
                lake.store()
                    .delete(&meta.location)
                    .await
                    .map_err(|source| Error::Store {
                        op: "delete",
                        path: meta.location.to_string(),
                        source,
                    })?;
                removed += 1;
            }
        }
        if only.is_none() {
            // A single process may also drop state files no manifest names.
            let referenced = manifest.referenced_state();
            let prefix = lake.internal("state");
            let listed = crate::manifest::list_all(lake.store().as_ref(), &prefix).await?;
            let stale = listed
                .into_iter()
                .map(|m| m.location)
                .filter(|p| !referenced.contains(p.as_ref()));
            for path in stale {
                let _ = lake.store().delete(&path).await;
                removed += 1;
            }
        }
        if removed > 0 {
            info!(removed, "removed files of an interrupted commit");
        }
        Ok(())
    }

    fn ingest(&mut self, mut msg: SourceMessage) -> Result<()> {
        let key = (msg.source.clone(), msg.partition);
        if self.scale_out && !self.owned.contains(&key) {
            // Read just before a rebalance took the partition away: its new
            // holder reads it again from the manifest's offset.
            return Ok(());
        }
        let lateness = i64::try_from(self.config.allowed_lateness.as_millis()).unwrap_or(i64::MAX);
        let part = self
            .parts
            .entry(key.clone())
            .or_insert_with(|| PartitionWindows::new(PartitionProgress::default(), Vec::new()));
        if msg.offset < part.progress.next_offset {
            // Already committed (a source re-delivering after a rebalance).
            return Ok(());
        }
        part.saw_offset(msg.offset);
        self.pending_messages += 1;
        if let Some(t) = msg.timestamp_ms {
            self.pending_timestamps.push(t);
        }
        self.uncommitted.messages_in += 1;
        if self.config.format == InputFormat::LivepeerJson {
            match naap_events::livepeer::decode(msg.payload.as_deref().unwrap_or_default()) {
                Ok(envelope) => {
                    let t = envelope.timestamp_ms;
                    part.progress.max_event_time_ms = Some(part.progress.max_event_time_ms.map_or(t, |m| m.max(t)));
                    if self.sealed_before_ms.is_some_and(|sb| t < sb) {
                        // Its hour is sealed: kept as a gateway event, not in the hourly tables.
                        self.uncommitted.late_events += 1;
                        note_late(&mut self.uncommitted, crate::seal::ORCHESTRATOR_HOURLY, hour_of(t), 1);
                    } else {
                        self.unsealed_hours.insert(hour_of(t));
                    }
                    self.gateway.entry(key).or_default().push(&envelope);
                    self.uncommitted.events_in += 1;
                }
                Err(e) => self.quarantine_message(key, &msg, e.reason(), &e.to_string()),
            }
            return Ok(());
        }
        let checked = match msg.checked.take() {
            Some(checked) => checked,
            None => decode::check_and_decode(&self.config.signatures, &msg),
        };
        let (signer, family, batch) = match checked {
            Ok(decoded) => decoded,
            Err((reason, detail)) => {
                self.quarantine_message(key, &msg, reason, &detail);
                return Ok(());
            }
        };
        let schema = if family == naap_events::Family::NodeTelemetryV1 {
            Arc::clone(&self.raw_schema)
        } else {
            crate::verify::with_signer_schema(&family.schema())
        };
        let batch = crate::verify::add_signer(batch, &schema, signer.as_deref())?;
        let horizon = ms(self.config.dedup_horizon.max(self.config.allowed_lateness));
        let (batch, repeats) = self.dedup.entry(key.clone()).or_default().filter(batch, horizon)?;
        self.uncommitted.duplicates += repeats;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if family != naap_events::Family::NodeTelemetryV1 {
            // Samples are kept as they are, one lake table per family.
            self.uncommitted.events_in += batch.num_rows() as u64;
            self.samples
                .entry(key)
                .or_default()
                .entry(family.name())
                .or_default()
                .push(batch);
            return Ok(());
        }
        let rows = batch.num_rows() as u64;
        let part = self.parts.get_mut(&key).expect("inserted at the top of ingest");
        let late = part.add(batch, lateness)?;
        self.uncommitted.events_in += rows;
        self.uncommitted.late_events += late;
        for (hour, n) in std::mem::take(&mut part.late_by_hour) {
            note_late(&mut self.uncommitted, WINDOW_TABLE, hour, n);
        }
        Ok(())
    }

    fn quarantine_message(&mut self, key: PartitionKey, msg: &SourceMessage, reason: &str, detail: &str) {
        warn!(source = %msg.source, partition = msg.partition, offset = msg.offset, reason, error = %detail, "quarantined message");
        self.quarantine.entry(key).or_default().push(msg, reason, detail);
        self.uncommitted.quarantined += 1;
        *self
            .uncommitted
            .quarantined_by_reason
            .entry(reason.to_owned())
            .or_default() += 1;
    }

    /// Computes this commit's files from the pending input.
    async fn prepare(&mut self) -> Result<Vec<PendingFile>> {
        let lake = self.config.lake.clone();
        let mut files = Vec::new();
        let mut pending_gateway: BTreeMap<&'static str, Vec<RecordBatch>> = BTreeMap::new();
        for ((source, partition), part) in self.parts.iter_mut() {
            let closed = part
                .fold(&self.ctx, Arc::clone(&self.raw_schema), Arc::clone(&self.state_schema))
                .await?;
            if !closed.is_empty() {
                self.closing
                    .entry((source.clone(), *partition))
                    .or_default()
                    .extend(closed);
            }
            let Some(first) = part.first_pending_offset else {
                continue;
            };
            let name = file_name('o', first, *partition, None, source);
            if !part.pending_raw.is_empty() {
                let raw = concat_batches(&self.raw_schema, &part.pending_raw)?;
                files.extend(hourly_files(&lake, RAW_TABLE, &raw, "event_time", &name)?);
            }
            if let Some(g) = self.gateway.get_mut(&(source.clone(), *partition))
                && !g.is_empty()
            {
                for (table, rows) in g.finish() {
                    files.extend(hourly_files(&lake, table, &rows, "event_time", &name)?);
                    pending_gateway.entry(table).or_default().push(rows);
                }
            }
            if let Some(tables) = self.samples.remove(&(source.clone(), *partition)) {
                for (table, batches) in tables {
                    let Some(schema) = batches.first().map(RecordBatch::schema) else {
                        continue;
                    };
                    let rows = concat_batches(&schema, &batches)?;
                    files.extend(hourly_files(&lake, table, &rows, "event_time", &name)?);
                }
            }
            if let Some(q) = self.quarantine.get_mut(&(source.clone(), *partition))
                && !q.is_empty()
            {
                files.extend(hourly_files(
                    &lake,
                    QUARANTINE_TABLE,
                    &q.finish(),
                    "message_time",
                    &name,
                )?);
            }
        }
        files.extend(self.late_windows().await?);
        for ((source, partition), closed) in &self.closing {
            if closed.is_empty() {
                continue;
            }
            let windows = concat_batches(&self.state_schema, closed)?;
            for (hour, rows) in split_by_hour(&windows, "window_start")? {
                let first_window = min_window(&rows)?;
                files.push(PendingFile {
                    table: WINDOW_TABLE.into(),
                    path: lake.table_file(
                        WINDOW_TABLE,
                        hour,
                        &file_name('w', first_window, *partition, None, source),
                    ),
                    batch: rows,
                });
            }
            for (rule, scored) in rewrite::score_windows(&self.ctx, &self.state_schema, &windows).await? {
                if scored.num_rows() == 0 {
                    continue;
                }
                for (hour, rows) in split_by_hour(&scored, "window_start")? {
                    let first_window = min_window(&rows)?;
                    let name = file_name('w', first_window, *partition, Some(&rule.view_name()), source);
                    files.push(PendingFile {
                        table: rule.header.output.clone(),
                        path: lake.table_file(&rule.header.output, hour, &name),
                        batch: rows,
                    });
                }
            }
        }
        files.extend(self.seal(pending_gateway).await?);
        Ok(files)
    }

    /// Late events: windows this commit closes take them in (their rows are
    /// merged again); windows an earlier commit wrote are re-written as
    /// replacements, re-scored, and counted per hour.
    async fn late_windows(&mut self) -> Result<Vec<PendingFile>> {
        let lake = self.config.lake.clone();
        let seq = self.seq + 1;
        let mut files = Vec::new();
        for ((source, partition), part) in self.parts.iter_mut() {
            let partials = part.late_partials(&self.ctx, Arc::clone(&self.raw_schema)).await?;
            if partials.is_empty() {
                continue;
            }
            let partials: Vec<RecordBatch> = partials
                .into_iter()
                .map(|b| RecordBatch::try_new(Arc::clone(&self.state_schema), b.columns().to_vec()))
                .collect::<std::result::Result<_, _>>()?;
            let partials = concat_batches(&self.state_schema, &partials)?;
            let starts =
                crate::window::epoch_ms(partials.column_by_name("window_start").ok_or_else(|| Error::Manifest {
                    path: "late partials".into(),
                    detail: "window_start missing".into(),
                })?)?;
            let written_before = part.committed_closed_before.unwrap_or(i64::MIN);
            let older =
                arrow::compute::kernels::cmp::lt(&starts, &arrow::array::Int64Array::new_scalar(written_before))?;
            let closing_now = filter_record_batch(&partials, &arrow::compute::not(&older)?)?;
            let written = filter_record_batch(&partials, &older)?;
            let key = (source.clone(), *partition);
            if closing_now.num_rows() > 0 {
                let mut rows = self.closing.remove(&key).unwrap_or_default();
                rows.push(closing_now);
                let merged = crate::window::merge_partials(&self.ctx, &self.state_schema, rows).await?;
                self.closing.insert(key, merged);
            }
            if written.num_rows() > 0 {
                let Rewrite { files: more, replaced } =
                    rewrite::late_windows(&self.ctx, &lake, &self.state_schema, (source, *partition), written, seq)
                        .await?;
                files.extend(more);
                self.replacing.extend(replaced);
            }
        }
        Ok(files)
    }

    /// Whether a compaction pass is due.
    fn compaction_due(&self) -> bool {
        self.config
            .compact_every
            .is_some_and(|every| self.last_compaction.elapsed() >= every)
    }

    /// One compaction pass over the hours every partition has closed.
    async fn compaction(&mut self) -> Result<Vec<PendingFile>> {
        self.last_compaction = Instant::now();
        let Some(newest) = self.parts.values().filter_map(|p| p.progress.max_event_time_ms).min() else {
            return Ok(Vec::new());
        };
        let closed_before = newest - ms(self.config.allowed_lateness) - ms(self.config.session_settle);
        let leads = self.leads();
        let owns = |partition: i32, source: &str| {
            if source == SEALED_SOURCE {
                leads
            } else {
                self.parts.contains_key(&(source.to_owned(), partition))
            }
        };
        let Rewrite { files, replaced } =
            rewrite::compact(&self.config.lake, closed_before, self.seq + 1, owns).await?;
        if !files.is_empty() {
            info!(
                files = files.len(),
                replaced = replaced.len(),
                "compacting closed hours"
            );
        }
        self.replacing.extend(replaced);
        Ok(files)
    }

    /// Hours that may be sealed now, oldest first, and the new `sealed_before_ms`.
    fn sealable(&self) -> Option<(Vec<i64>, i64)> {
        if !self.leads() {
            return None;
        }
        let last = *self.unsealed_hours.last()?;
        let limit = if self.seal_everything {
            last + HOUR_MS
        } else {
            // Every partition must be past the hour's end, its settle time
            // and the allowed lateness before the hour is final.
            let watermark = self.watermark()?;
            let wait = ms(self.config.allowed_lateness) + ms(self.config.session_settle);
            hour_of(watermark - wait - HOUR_MS) + HOUR_MS
        };
        let hours: Vec<i64> = self.unsealed_hours.range(..limit).copied().collect();
        (!hours.is_empty()).then_some((hours, limit))
    }

    /// The oldest newest-event-time of all partitions: this process's own
    /// as read so far, the others' as last committed.
    fn watermark(&self) -> Option<i64> {
        let own = self.parts.values().filter_map(|p| p.progress.max_event_time_ms);
        let others = self.base.sources.iter().flat_map(|(s, ps)| {
            ps.iter()
                .filter(|(p, _)| !self.parts.contains_key(&(s.clone(), **p)))
                .filter_map(|(_, e)| e.max_event_time_ms)
        });
        own.chain(others).min()
    }

    async fn seal(&mut self, pending: BTreeMap<&'static str, Vec<RecordBatch>>) -> Result<Vec<PendingFile>> {
        let Some((hours, limit)) = self.sealable() else {
            return Ok(Vec::new());
        };
        let lake = self.config.lake.clone();
        let mut sealer = Sealer {
            ctx: &self.ctx,
            lake: &lake,
            span: SealSpan {
                settle_ms: ms(self.config.session_settle),
                lookback_ms: ms(self.config.session_lookback),
            },
            pending,
            sealed_hourly: Vec::new(),
        };
        let mut files = Vec::new();
        for hour in hours {
            let name = file_name('h', hour, 0, None, SEALED_SOURCE);
            for (table, rows) in sealer.seal(hour).await? {
                files.push(PendingFile {
                    path: lake.table_file(&table, hour, &name),
                    table,
                    batch: rows,
                });
            }
        }
        self.sealing_to = Some(limit);
        Ok(files)
    }

    async fn commit(&mut self, metrics: &Metrics, stop: &mut watch::Receiver<bool>) -> Result<()> {
        let dirty = self.parts.values().any(PartitionWindows::has_pending)
            || self.closes_something()
            || self.sealable().is_some();
        let compacted = if self.compaction_due() {
            self.compaction().await?
        } else {
            Vec::new()
        };
        if !dirty && compacted.is_empty() {
            self.collect_garbage().await;
            return Ok(());
        }
        let started = Instant::now();
        let mut files = self.prepare().await?;
        self.last_commit_files = compacted.len();
        files.extend(compacted);
        let lake = self.config.lake.clone();
        let seq = self.seq + 1;
        let mut entries: Vec<FileEntry> = files
            .iter()
            .map(|f| FileEntry {
                table: f.table.clone(),
                path: f.path.to_string(),
                rows: f.batch.num_rows() as u64,
            })
            .collect();
        let mut encoded = encode_all(files).await?;
        let state_file = state_path(&lake, seq, &self.me);
        let ids_file = dedup_path(&lake, seq, &self.me);
        let state_files = vec![
            (state_file.clone(), parquet_bytes(&self.state_batch()?, &state_file)?),
            (ids_file.clone(), parquet_bytes(&self.dedup_batch()?, &ids_file)?),
        ];
        let mut delta = self.uncommitted.clone();
        delta.windows_committed += self.closing.values().map(|c| distinct_windows(c)).sum::<u64>();
        // Replacements re-write rows already counted (compaction), or
        // windows already counted once (late events).
        for e in entries.iter().filter(|e| !is_replacement(&e.path)) {
            *delta.rows_written.entry(e.table.clone()).or_default() += e.rows;
        }
        let delete_after = now_ms() + ms(self.config.compaction_grace);
        let new_garbage: Vec<Garbage> = self
            .replacing
            .iter()
            .map(|p| Garbage {
                path: p.to_string(),
                delete_after_ms: delete_after,
            })
            .collect();

        // The object store may be down for a while: retry (same names, same
        // bytes) until everything lands, without reading further; then the
        // manifest, built on the newest one (another process may have
        // committed meanwhile).
        let mut delay = Duration::from_millis(200);
        let mut files_landed = false;
        let manifest = loop {
            let attempt = async {
                if !files_landed {
                    self.write_files(&encoded, &state_files).await?;
                    files_landed = true;
                }
                self.check_ownership()?;
                let manifest = self.next_manifest(entries.clone(), &state_file, &ids_file, &delta, &new_garbage);
                manifest.write(&lake).await.map(|()| manifest)
            };
            match attempt.await {
                Ok(manifest) => break manifest,
                Err(Error::Fenced { seq: taken }) => {
                    debug!(seq = taken, "another process committed first; building on its manifest");
                    self.rebase(&mut encoded, &mut entries).await?;
                }
                Err(e @ Error::Lost { .. }) if !self.scale_out => return Err(e),
                Err(Error::Lost { .. }) => {
                    let lost = self.lost();
                    warn!(
                        partitions = ?lost,
                        "another process claimed partitions of this one (cut off from the group too long); \
                         letting them go uncommitted: their new holder reads them again"
                    );
                    self.release(&lost);
                }
                Err(e) => {
                    if *stop.borrow() {
                        return Err(e);
                    }
                    warn!(seq, error = %e, retry_in_ms = delay.as_millis() as u64, "commit failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {},
                        _ = stop.changed() => return Err(e),
                    }
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        };
        failpoint::hit("after_manifest");

        let seq = manifest.seq;
        self.adopt(manifest.clone());
        self.deleted_garbage.clear();
        self.sealing_to = None;
        self.uncommitted = Totals::default();
        self.closing.clear();
        self.pending_messages = 0;
        self.replacing.clear();
        for part in self.parts.values_mut() {
            part.pending_raw.clear();
            part.first_pending_offset = None;
            part.committed_closed_before = part.progress.closed_before_ms;
        }
        let elapsed = started.elapsed().as_millis() as u64;
        metrics.committed(&self.totals, elapsed);
        let committed_at = manifest.committed_at_ms;
        metrics.made_queryable(
            self.parts.iter().map(|(k, p)| (k.clone(), p.progress.next_offset)),
            self.pending_timestamps.drain(..).map(|t| committed_at - t),
        );
        debug!(seq, files = manifest.files.len(), elapsed_ms = elapsed, "committed");
        self.known_state.insert(state_file.to_string());
        self.known_state.insert(ids_file.to_string());
        self.prune(&manifest).await;
        self.collect_garbage().await;
        Ok(())
    }

    /// Data files first (8 at a time), then the state files.
    async fn write_files(&self, files: &[(Path, Bytes)], state_files: &[(Path, Bytes)]) -> Result<()> {
        let lake = &self.config.lake;
        let puts = files.iter().map(|(path, bytes)| {
            let (lake, path, bytes) = (lake.clone(), path.clone(), bytes.clone());
            async move { put_with_retry(&lake, &path, bytes).await }
        });
        let puts: Vec<_> = puts.collect();
        futures::stream::iter(puts)
            .buffer_unordered(8)
            .try_collect::<Vec<()>>()
            .await?;
        failpoint::hit("after_files");
        for (path, bytes) in state_files {
            put_with_retry(lake, path, bytes.clone()).await?;
        }
        failpoint::hit("after_state");
        Ok(())
    }

    /// Fails with [`Error::Lost`] if another process has claimed one of this
    /// process's partitions since (it was cut off from the group for too long).
    fn check_ownership(&self) -> Result<()> {
        match self.lost().into_iter().next() {
            None => Ok(()),
            Some((source, partition)) => Err(Error::Lost {
                owner: self.owner_of(&source, partition).unwrap_or_default().to_owned(),
                source_name: source,
                partition,
            }),
        }
    }

    /// This process's partitions the base manifest gives to another process.
    fn lost(&self) -> Vec<PartitionKey> {
        self.parts
            .keys()
            .filter(|(s, p)| self.owner_of(s, *p).is_some_and(|o| o != self.me))
            .cloned()
            .collect()
    }

    fn owner_of(&self, source: &str, partition: i32) -> Option<&str> {
        self.base
            .sources
            .get(source)
            .and_then(|ps| ps.get(&partition))
            .and_then(|e| e.owner.as_deref())
    }

    /// The manifest of this commit: the base's, with this process's
    /// partitions, files and counts in.
    fn next_manifest(
        &self,
        files: Vec<FileEntry>,
        state_file: &Path,
        ids_file: &Path,
        delta: &Totals,
        new_garbage: &[Garbage],
    ) -> Manifest {
        let base = &self.base;
        let mut sources = base.sources.clone();
        for ((source, partition), w) in &self.parts {
            let entry = PartitionProgress {
                owner: Some(self.me.clone()),
                state_file: Some(state_file.to_string()),
                dedup_file: Some(ids_file.to_string()),
                ..w.progress.clone()
            };
            sources.entry(source.clone()).or_default().insert(*partition, entry);
        }
        let sealed_before_ms = base.sealed_before_ms.max(self.sealing_to);
        let sealed_before = sealed_before_ms.unwrap_or(i64::MIN);
        let unsealed: BTreeSet<i64> = base
            .unsealed_hours
            .iter()
            .chain(&self.unsealed_hours)
            .copied()
            .filter(|h| *h >= sealed_before)
            .collect();
        let mut garbage: Vec<Garbage> = base
            .garbage
            .iter()
            .filter(|g| !self.deleted_garbage.contains(&g.path))
            .cloned()
            .collect();
        garbage.extend_from_slice(new_garbage);
        let mut totals = base.totals.clone();
        add_totals(&mut totals, delta);
        Manifest {
            format: crate::manifest::MANIFEST_FORMAT,
            seq: base.seq + 1,
            committed_at_ms: now_ms(),
            sources,
            state_file: None,
            dedup_file: None,
            sealed_before_ms,
            unsealed_hours: unsealed.into_iter().collect(),
            files,
            replaced: self.replacing.iter().map(Path::to_string).collect(),
            garbage,
            totals,
        }
    }

    /// After losing the race for a sequence number: takes the newest
    /// manifest as the base, renames this commit's replacements for the next
    /// sequence number, and gives up a seal that missed hours another
    /// process committed meanwhile (the next commit seals them together).
    async fn rebase(&mut self, encoded: &mut Vec<(Path, Bytes)>, entries: &mut Vec<FileEntry>) -> Result<()> {
        let lake = self.config.lake.clone();
        let latest = Manifest::load_latest(&lake).await?.unwrap_or_default();
        let seq = latest.seq + 1;
        if let Some(to) = self.sealing_to {
            let missed = latest
                .unsealed_hours
                .iter()
                .any(|h| *h < to && !self.unsealed_hours.contains(h));
            if missed {
                info!(
                    sealing_to = to,
                    "hours to seal changed under this commit; sealing them next time"
                );
                self.sealing_to = None;
                let sealed: Vec<String> = entries
                    .iter()
                    .filter(|e| {
                        let name = e.path.rsplit('/').next().unwrap_or_default();
                        FileName::parse(name).is_some_and(|n| n.source == SEALED_SOURCE && n.replaces.is_none())
                    })
                    .map(|e| e.path.clone())
                    .collect();
                for path in &sealed {
                    let _ = lake.store().delete(&Path::from(path.as_str())).await;
                }
                entries.retain(|e| !sealed.contains(&e.path));
                encoded.retain(|(p, _)| !sealed.iter().any(|s| s == p.as_ref()));
            }
        }
        for ((path, bytes), entry) in encoded.iter_mut().zip(entries.iter_mut()) {
            let Some(renamed) = renamed_for(path, seq) else {
                continue;
            };
            put_with_retry(&lake, &renamed, bytes.clone()).await?;
            let _ = lake.store().delete(path).await;
            entry.path = renamed.to_string();
            *path = renamed;
        }
        self.adopt(latest);
        Ok(())
    }

    /// Deletes the superseded files whose grace period has passed (the
    /// next manifest stops listing them).
    async fn collect_garbage(&mut self) {
        let now = now_ms();
        let lake = self.config.lake.clone();
        let mut kept = Vec::with_capacity(self.garbage.len());
        for g in std::mem::take(&mut self.garbage) {
            if g.delete_after_ms > now {
                kept.push(g);
                continue;
            }
            match lake.store().delete(&Path::from(g.path.as_str())).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                    debug!(path = %g.path, "deleted a superseded file");
                    self.deleted_garbage.insert(g.path);
                }
                Err(e) => {
                    warn!(path = %g.path, error = %e, "could not delete a superseded file; will retry");
                    kept.push(g);
                }
            }
        }
        self.garbage = kept;
    }

    fn closes_something(&self) -> bool {
        self.parts.values().any(|p| {
            let Some(cb) = p.progress.closed_before_ms else {
                return false;
            };
            p.open.iter().any(|b| min_window(b).is_ok_and(|w| w < cb))
        })
    }

    fn state_batch(&self) -> Result<RecordBatch> {
        let mut batches = Vec::new();
        for ((source, partition), part) in &self.parts {
            for b in &part.open {
                if b.num_rows() > 0 {
                    batches.push(with_partition_columns(b, source, *partition)?);
                }
            }
        }
        let schema = with_partition_columns(&RecordBatch::new_empty(Arc::clone(&self.state_schema)), "", 0)?.schema();
        Ok(concat_batches(&schema, &batches)?)
    }

    /// (source, partition, event_time_ms, event_fingerprint) of the ids the dedup remembers.
    fn dedup_batch(&self) -> Result<RecordBatch> {
        let (mut sources, mut partitions, mut times) = (Vec::new(), Vec::new(), Vec::new());
        let mut fingerprints = arrow::array::FixedSizeBinaryBuilder::new(16);
        for ((source, partition), d) in &self.dedup {
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

    /// Keeps the newest 1000 manifests, and deletes the state files this
    /// process knows that `manifest` no longer names.
    async fn prune(&mut self, manifest: &Manifest) {
        let lake = &self.config.lake;
        let referenced = manifest.referenced_state();
        let unused: Vec<String> = self
            .known_state
            .iter()
            .filter(|f| !referenced.contains(*f))
            .cloned()
            .collect();
        for f in unused {
            let _ = lake.store().delete(&Path::from(f.as_str())).await;
            self.known_state.remove(&f);
        }
        if manifest.seq > 1000 {
            let _ = lake.store().delete(&manifest_path(lake, manifest.seq - 1000)).await;
        }
    }
}

fn min_window(batch: &RecordBatch) -> Result<i64> {
    let col = batch.column_by_name("window_start").ok_or_else(|| Error::Manifest {
        path: "batch".into(),
        detail: "window_start missing".into(),
    })?;
    Ok(arrow::compute::min(&crate::window::epoch_ms(col)?).unwrap_or(0))
}

fn add_totals(into: &mut Totals, add: &Totals) {
    into.messages_in += add.messages_in;
    into.events_in += add.events_in;
    into.quarantined += add.quarantined;
    into.late_events += add.late_events;
    for (hour, n) in &add.late_events_by_hour {
        *into.late_events_by_hour.entry(hour.clone()).or_default() += n;
    }
    into.duplicates += add.duplicates;
    into.windows_committed += add.windows_committed;
    for (table, n) in &add.rows_written {
        *into.rows_written.entry(table.clone()).or_default() += n;
    }
    for (reason, n) in &add.quarantined_by_reason {
        *into.quarantined_by_reason.entry(reason.clone()).or_default() += n;
    }
}

fn is_replacement(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    FileName::parse(name).is_some_and(|n| n.replaces.is_some())
}

/// Counts `n` late events against `table`'s folder of `hour`.
fn note_late(totals: &mut Totals, table: &str, hour: i64, n: u64) {
    let key = format!("{table}/{}", naap_sql::lake::hour_partition(hour));
    *totals.late_events_by_hour.entry(key).or_default() += n;
}

/// A name for this process, unique among the pipelines of one lake.
fn writer_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("w{}x{:x}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

/// `path` (a replacement written for another commit) renamed for commit `seq`.
fn renamed_for(path: &Path, seq: u64) -> Option<Path> {
    let name = FileName::parse(path.filename()?)?;
    let r = name.replaces?;
    let renamed = FileName {
        replaces: Some(Replaces { seq, ..r }),
        ..name
    };
    let folder = path.as_ref().rsplit_once('/').map_or("", |(f, _)| f);
    Some(Path::from(format!("{folder}/{renamed}")))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
