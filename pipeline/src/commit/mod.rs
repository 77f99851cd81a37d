//! The run loop: read, decode, window, and commit exactly once.
//!
//! The state of a run is split by owner, each in its own module, imports
//! going one way (this module composes them):
//!
//! | module        | owns                                                        |
//! |---------------|-------------------------------------------------------------|
//! | `input`       | what was read and not committed: windows, rows, ids         |
//! | `ownership`   | which partitions this process holds, claims and releases    |
//! | `sealing`     | which hours are sealed, and sealing them                    |
//! | `prepare`     | turning the input into the staged files of a commit         |
//! | `rewrite`     | late windows and compaction: files that replace files       |
//! | `files`       | naming, encoding and writing those files                    |
//! | `state_files` | open windows and event ids as `_naap/state/` files          |
//! | `tables`      | applying commit records to the Delta tables, exactly once   |
//! | `recovery`    | starting from the newest record                             |
//! | `garbage`     | unreferenced state files, old records, vacuum               |

mod files;
mod garbage;
mod input;
mod ownership;
mod prepare;
mod recovery;
pub(crate) mod reseal;
mod rewrite;
mod seal;
mod state_files;
mod tables;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::execution::context::SessionContext;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::manifest::{Manifest, PartitionProgress, RemovedFile, TableChange, Totals};
use crate::metrics::Metrics;
use crate::source::{SourceEvent, SourceSpec};
use crate::window::distinct_windows;
use crate::{Error, PipelineConfig, Result, failpoint, source};
pub use reseal::{ResealSpec, Resealed};

struct Run {
    config: PipelineConfig,
    ctx: SessionContext,
    raw_schema: SchemaRef,
    state_schema: SchemaRef,
    /// The newest commit record this process knows: commits build on it.
    base: Manifest,
    totals: Totals,
    owner: ownership::Ownership,
    input: input::Input,
    sealing: seal::Sealing,
    tables: tables::Tables,
    garbage: garbage::Garbage,
    /// When the last compaction pass ran.
    last_compaction: Instant,
    /// Files the last commit's compaction wrote.
    last_compacted: usize,
    /// Files the next commit replaces besides its own input (a reseal).
    injected: files::Rewrite,
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
        .input
        .parts
        .iter()
        .fold(BTreeMap::<String, BTreeMap<i32, i64>>::new(), |mut m, ((s, p), w)| {
            m.entry(s.clone()).or_default().insert(*p, w.progress.next_offset);
            m
        });
    // Messages are read (checked, decoded) on the source's thread.
    let check: source::Check = Arc::new(run.config.decoder());
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
        while read < run.config.max_messages_per_commit
            && run.input.uncommitted.events_in < run.config.max_events_per_commit
        {
            let event = tokio::select! {
                event = rx.recv() => event,
                _ = tokio::time::sleep_until(deadline) => break,
                _ = tokio::time::sleep(pause), if run.input.pending_messages > 0 => break,
                _ = stop.changed() => break,
            };
            match event {
                Some(SourceEvent::Messages(messages)) => {
                    read += messages.len();
                    last_message = Instant::now();
                    for m in messages {
                        // Read just before a rebalance took the partition
                        // away: its new holder reads it again.
                        if run.owner.accepts(&(m.source.clone(), m.partition)) {
                            run.input.ingest(m, &run.config, &run.raw_schema, &mut run.sealing)?;
                        }
                    }
                    metrics.pending(run.input.pending_messages);
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
            for w in run.input.parts.values_mut() {
                w.close_all();
            }
            // With several processes, hours are sealed as the merged
            // watermark passes them, never on one process's say-so.
            run.sealing.seal_everything = !run.owner.scale_out;
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
    /// Files written (one per compacted group).
    pub written: usize,
    /// Files they replaced in their tables.
    pub replaced: usize,
    /// Files deleted from the store by vacuum (replaced ones past the grace
    /// period, and files of commits that never finished).
    pub deleted: usize,
}

/// One compaction pass as its own commit (Delta: files removed and added
/// with `dataChange = false`), then a full vacuum after the grace period:
/// for a lake no pipeline is writing.
pub(crate) async fn compact_once(mut config: PipelineConfig) -> Result<Compacted> {
    config.compact_every = Some(Duration::ZERO);
    if Manifest::load_latest(&config.lake).await?.is_none() {
        naap_sql::delta::refuse_old_layout(&config.lake).await?;
        return Err(Error::Manifest {
            path: config.lake.internal("commits").to_string(),
            detail: "no commit record: not a naap lake, or nothing committed yet; nothing to compact".into(),
        });
    }
    let mut run = Run::recover(config, &[], false, None).await?;
    let (_stop, mut stopped) = watch::channel(false);
    let before = run.base.seq;
    run.commit(&Metrics::default(), &mut stopped).await?;
    let replaced = if run.base.seq > before {
        run.base.tables.values().map(|c| c.removes.len()).sum()
    } else {
        0
    };
    let written = run.last_compacted;
    let grace = run.config.compaction_grace;
    if replaced > 0 {
        info!(
            written,
            replaced,
            grace_s = grace.as_secs_f64(),
            "compacted; vacuuming the replaced files after the grace period"
        );
        tokio::time::sleep(grace).await;
    }
    let deleted = run.garbage.vacuum(&run.config.lake, grace, true).await?;
    Ok(Compacted {
        written,
        replaced,
        deleted,
    })
}

impl Run {
    async fn commit(&mut self, metrics: &Metrics, stop: &mut watch::Receiver<bool>) -> Result<()> {
        let dirty = self.input.has_pending() || self.input.closes_something() || self.sealable().is_some();
        let compacted = if self.compaction_due() {
            match self.compaction().await {
                Ok(compacted) => compacted,
                // Compaction only tidies what is committed already: a store
                // that fails it now (an outage) is tried at the next pass,
                // and the commit goes on without it.
                Err(e) if e.is_storage() => {
                    warn!(error = %e, "compaction pass failed; trying again at the next pass");
                    files::Rewrite::default()
                }
                Err(e) => return Err(e),
            }
        } else {
            files::Rewrite::default()
        };
        let injected = std::mem::take(&mut self.injected);
        if !dirty && compacted.files.is_empty() && injected.files.is_empty() && injected.removed.is_empty() {
            self.vacuum_if_due().await;
            return Ok(());
        }
        let started = Instant::now();
        let mut rewrite = self.prepare().await?;
        let prepared_ms = started.elapsed().as_millis() as u64;
        self.last_compacted = compacted.files.len();
        rewrite.files.extend(compacted.files);
        rewrite.removed.extend(compacted.removed);
        rewrite.files.extend(injected.files);
        rewrite.removed.extend(injected.removed);
        let lake = self.config.lake.clone();
        let seq = self.base.seq + 1;
        let mut delta = self.input.uncommitted.clone();
        delta.windows_committed += self.input.closing.values().map(|c| distinct_windows(c)).sum::<u64>();
        let mut encoded = files::encode_all(&lake, rewrite.files, seq, &self.owner.me).await?;
        let encoded_ms = started.elapsed().as_millis() as u64;
        // Rewrites hold rows already counted (compaction, and the windows
        // late events change): only the rows they add are new.
        for e in encoded.iter().filter(|e| e.new_rows > 0) {
            *delta.rows_written.entry(e.table.clone()).or_default() += e.new_rows;
        }
        let state_file = state_files::state_path(&lake, seq, &self.owner.me);
        let ids_file = state_files::dedup_path(&lake, seq, &self.owner.me);
        let state = [
            (
                state_file.clone(),
                state_files::state_batch(&self.input.parts, &self.state_schema)?,
            ),
            (ids_file.clone(), state_files::dedup_batch(&self.input.dedup)?),
        ];

        // The object store may be down for a while: retry (same names, same
        // bytes) until everything lands, without reading further; then the
        // record, built on the newest one (another process may have
        // committed meanwhile), then the tables.
        let mut delay = Duration::from_millis(200);
        let mut files_landed = false;
        let record = loop {
            let attempt = async {
                if !files_landed {
                    files::write_all(&lake, &encoded).await?;
                    failpoint::hit("after_files");
                    for (path, batch) in &state {
                        let bytes = files::parquet_bytes(batch, path)?;
                        files::put_with_retry(&lake, path, bytes).await?;
                    }
                    failpoint::hit("after_state");
                    files_landed = true;
                }
                self.owner.check(&self.input.parts, &self.base)?;
                let record = self.next_record(&encoded, &rewrite.removed, &state_file, &ids_file, &delta);
                record.write(&lake).await.map(|()| record)
            };
            match attempt.await {
                Ok(record) => break record,
                Err(Error::Fenced { seq: taken }) => {
                    debug!(seq = taken, "another process committed first; building on its record");
                    self.rebase(&mut encoded).await?;
                }
                Err(e @ Error::Lost { .. }) if !self.owner.scale_out => return Err(e),
                Err(Error::Lost { .. }) => {
                    let lost = self.owner.lost(&self.input.parts, &self.base);
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
                    metrics.retrying(&e);
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
        let recorded_ms = started.elapsed().as_millis() as u64;
        self.tables.apply(&record).await?;
        failpoint::hit("after_tables");

        let seq = record.seq;
        self.adopt(record.clone());
        self.sealing.sealing_to = None;
        self.sealing.resealed.clear();
        self.input.committed();
        let elapsed = started.elapsed().as_millis() as u64;
        metrics.committed(&self.totals, elapsed);
        metrics.chains(&self.base.chains);
        let committed_at = record.committed_at_ms;
        metrics.made_queryable(
            self.input
                .parts
                .iter()
                .map(|(k, p)| (k.clone(), p.progress.next_offset)),
            self.input.pending_timestamps.drain(..).map(|t| committed_at - t),
        );
        let files: usize = record.tables.values().map(|c| c.adds.len()).sum();
        debug!(
            seq,
            files,
            prepared_ms,
            encoded_ms,
            recorded_ms,
            elapsed_ms = elapsed,
            "committed (milliseconds from the start of the commit to the end of each phase)"
        );
        self.garbage.track([state_file.to_string(), ids_file.to_string()]);
        self.garbage.prune(&lake, &record).await;
        self.vacuum_if_due().await;
        Ok(())
    }

    async fn vacuum_if_due(&mut self) {
        if self.owner.leads() && self.garbage.vacuum_due(self.config.compact_every) {
            let (lake, grace) = (self.config.lake.clone(), self.config.compaction_grace);
            if let Err(e) = self.garbage.vacuum(&lake, grace, false).await {
                warn!(error = %e, "vacuum failed; trying again next time");
            }
        }
    }

    /// The record of this commit: the base's, with this process's
    /// partitions, table changes and counts in.
    fn next_record(
        &self,
        encoded: &[files::Encoded],
        removed: &[(String, RemovedFile)],
        state_file: &object_store::path::Path,
        ids_file: &object_store::path::Path,
        delta: &Totals,
    ) -> Manifest {
        let base = &self.base;
        let seq = base.seq + 1;
        let mut sources = base.sources.clone();
        for ((source, partition), w) in &self.input.parts {
            let entry = PartitionProgress {
                owner: Some(self.owner.me.clone()),
                state_file: Some(state_file.to_string()),
                dedup_file: Some(ids_file.to_string()),
                ..w.progress.clone()
            };
            sources.entry(source.clone()).or_default().insert(*partition, entry);
        }
        let mut changes: BTreeMap<String, TableChange> = BTreeMap::new();
        for e in encoded {
            changes.entry(e.table.clone()).or_default().adds.push(e.added.clone());
        }
        for (table, file) in removed {
            changes.entry(table.clone()).or_default().removes.push(file.clone());
        }
        for (table, change) in changes.iter_mut() {
            change.after = base.last_change.get(table).copied().unwrap_or(0);
        }
        let (sealed_before_ms, unsealed_hours) = self.sealing.next(base);
        let mut totals = base.totals.clone();
        add_totals(&mut totals, delta);
        Manifest {
            format: crate::manifest::MANIFEST_FORMAT,
            seq,
            committed_at_ms: now_ms(),
            writer: self.owner.me.clone(),
            sources,
            sealed_before_ms,
            unsealed_hours,
            last_change: tables::last_change(base, seq, &changes),
            sealed_with: self.sealing.sealed_with(base),
            chains: {
                let mut chains = base.chains.clone();
                chains.extend(self.input.chains.chains.iter().map(|(k, v)| (k.clone(), v.clone())));
                chains
            },
            tables: changes,
            totals,
        }
    }

    /// After losing the race for a sequence number: takes the newest record
    /// as the base, and gives up a seal that missed hours another process
    /// committed meanwhile (the next commit seals them together).
    async fn rebase(&mut self, encoded: &mut Vec<files::Encoded>) -> Result<()> {
        let latest = Manifest::load_latest(&self.config.lake).await?.unwrap_or_default();
        if self.sealing.missed(&latest) {
            info!(
                sealing_to = self.sealing.sealing_to,
                "hours to seal changed under this commit; sealing them next time"
            );
            self.sealing.sealing_to = None;
            encoded.retain(|e| files::group_of(&e.added.path) != Some(files::SEALED_GROUP));
        }
        self.adopt(latest);
        Ok(())
    }

    /// Makes `record` (just written, or found newer) the base of the next commit.
    fn adopt(&mut self, record: Manifest) {
        self.totals = record.totals.clone();
        self.sealing.adopt(&record);
        self.base = record;
    }

    /// Whether this process seals hours (and compacts the sealed files).
    fn sealable(&self) -> Option<(Vec<i64>, i64)> {
        let watermark = seal::watermark(&self.input.parts, &self.base);
        self.sealing.sealable(self.owner.leads(), &self.config, watermark)
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

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
