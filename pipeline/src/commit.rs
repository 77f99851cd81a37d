//! The run loop: read, decode, window, and commit exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
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

use crate::manifest::{FileEntry, Garbage, Manifest, PartitionProgress, Totals, manifest_path, state_path};
use crate::metrics::Metrics;
use crate::quarantine::{QUARANTINE_TABLE, QuarantineBuilder};
use crate::rewrite::{PendingFile, Rewrite};
use crate::seal::{SealSpan, Sealer, hour_of};
use crate::source::{InputFormat, SourceMessage, SourceSpec};
use crate::window::{PartitionWindows, RAW_TABLE, WINDOW_TABLE, distinct_windows, split_by_hour};
use crate::{Error, PipelineConfig, Result, decode, failpoint, rewrite, source};
use naap_events::gateway_tables::GatewayTables;
use naap_sql::files::FileName;
use naap_sql::hourly::HOUR_MS;

type PartitionKey = (String, i32);

struct Run {
    config: PipelineConfig,
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
    let mut run = Run::recover(config, &spec.source_names()).await?;
    metrics.restored(&run.totals);
    let start = run
        .parts
        .iter()
        .fold(BTreeMap::<String, BTreeMap<i32, i64>>::new(), |mut m, ((s, p), w)| {
            m.entry(s.clone()).or_default().insert(*p, w.progress.next_offset);
            m
        });
    let (mut rx, reader) = source::spawn(spec, start, run.config.format, Arc::clone(&metrics))?;
    let mut last_message = Instant::now();
    let mut source_done = false;
    loop {
        let deadline = tokio::time::Instant::now() + run.config.commit_interval;
        let mut read = 0usize;
        // A commit holds at most so many messages and events: memory follows
        // the commit size, not the input rate.
        while read < run.config.max_messages_per_commit && run.uncommitted.events_in < run.config.max_events_per_commit
        {
            tokio::select! {
                chunk = rx.recv() => match chunk {
                    Some(messages) => {
                        read += messages.len();
                        last_message = Instant::now();
                        for m in messages {
                            run.ingest(m)?;
                        }
                        metrics.pending(run.pending_messages);
                    }
                    None => { source_done = true; break; }
                },
                _ = tokio::time::sleep_until(deadline) => break,
                _ = stop.changed() => break,
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
            run.seal_everything = true;
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
    let mut run = Run::recover(config, &[]).await?;
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
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("3 is a valid zstd level"),
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
    async fn recover(config: PipelineConfig, sources: &[String]) -> Result<Run> {
        let ctx = naap_sql::session::context_with(SessionConfig::new().with_target_partitions(1));
        let raw_schema = crate::verify::with_signer_schema(&naap_events::Family::NodeTelemetryV1.schema());
        let state_schema = state_schema_of(&ctx, Arc::clone(&raw_schema)).await?;
        let lake = config.lake.clone();
        let manifest = Manifest::load_latest(&lake).await?.unwrap_or_default();
        let mut parts: BTreeMap<PartitionKey, PartitionWindows> = BTreeMap::new();
        for (source, partitions) in &manifest.sources {
            for (p, progress) in partitions {
                parts.insert(
                    (source.clone(), *p),
                    PartitionWindows::new(progress.clone(), Vec::new()),
                );
            }
        }
        if let Some(state) = &manifest.state_file {
            let bytes = crate::manifest::read_object(&lake, &Path::from(state.as_str())).await?;
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
                .and_then(|b| b.build())
                .map_err(|source| Error::Parquet {
                    path: state.clone(),
                    source,
                })?;
            for batch in reader {
                let batch = batch?;
                let sources = batch.column(0).as_any().downcast_ref::<StringArray>().cloned();
                let partitions = batch.column(1).as_any().downcast_ref::<Int32Array>().cloned();
                let (Some(sources), Some(partitions)) = (sources, partitions) else {
                    return Err(Error::Manifest {
                        path: state.clone(),
                        detail: "state file lacks _source/_partition".into(),
                    });
                };
                let body = batch.project(&(2..batch.num_columns()).collect::<Vec<_>>())?;
                let body = RecordBatch::try_new(Arc::clone(&state_schema), body.columns().to_vec())?;
                for key in parts.keys().cloned().collect::<Vec<_>>() {
                    let mask: arrow::array::BooleanArray = (0..batch.num_rows())
                        .map(|i| Some(sources.value(i) == key.0 && partitions.value(i) == key.1))
                        .collect();
                    let rows = filter_record_batch(&body, &mask)?;
                    if rows.num_rows() > 0
                        && let Some(w) = parts.get_mut(&key)
                    {
                        w.open.push(rows);
                    }
                }
            }
        }
        let mut dedup: BTreeMap<PartitionKey, crate::verify::Dedup> = BTreeMap::new();
        if let Some(ids) = &manifest.dedup_file {
            let bytes = crate::manifest::read_object(&lake, &Path::from(ids.as_str())).await?;
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
                .and_then(|b| b.build())
                .map_err(|source| Error::Parquet {
                    path: ids.clone(),
                    source,
                })?;
            for batch in reader {
                let batch = batch?;
                let (Some(sources), Some(partitions), Some(offsets), Some(event_ids)) = (
                    batch.column(0).as_any().downcast_ref::<StringArray>(),
                    batch.column(1).as_any().downcast_ref::<Int32Array>(),
                    batch.column(2).as_any().downcast_ref::<arrow::array::Int64Array>(),
                    batch.column(3).as_any().downcast_ref::<StringArray>(),
                ) else {
                    return Err(Error::Manifest {
                        path: ids.clone(),
                        detail: "dedup file is not (source, partition, event_time_ms, event_id)".into(),
                    });
                };
                for i in 0..batch.num_rows() {
                    dedup
                        .entry((sources.value(i).to_owned(), partitions.value(i)))
                        .or_default()
                        .restore(offsets.value(i), event_ids.value(i));
                }
            }
        }
        let run = Run {
            config,
            ctx,
            raw_schema,
            state_schema,
            seq: manifest.seq,
            totals: manifest.totals.clone(),
            parts,
            quarantine: BTreeMap::new(),
            gateway: BTreeMap::new(),
            samples: BTreeMap::new(),
            dedup,
            sealed_before_ms: manifest.sealed_before_ms,
            unsealed_hours: manifest.unsealed_hours.iter().copied().collect(),
            seal_everything: false,
            sealing_to: None,
            closing: BTreeMap::new(),
            uncommitted: Totals::default(),
            pending_messages: 0,
            garbage: manifest.garbage.clone(),
            replacing: Vec::new(),
            last_compaction: Instant::now(),
            last_commit_files: 0,
            pending_timestamps: Vec::new(),
        };
        run.remove_uncommitted_files(&manifest).await?;
        info!(
            lake = %run.config.lake,
            seq = manifest.seq,
            sources = ?sources,
            partitions = run.parts.len(),
            "recovered from manifest"
        );
        Ok(run)
    }

    /// Deletes lake files a crashed commit wrote without its manifest.
    async fn remove_uncommitted_files(&self, manifest: &Manifest) -> Result<()> {
        let lake = &self.config.lake;
        let prefix = lake.tables_dir();
        let mut listing = lake.store().list(Some(&prefix));
        let mut removed = 0u64;
        while let Some(meta) = listing.try_next().await.map_err(|source| Error::Store {
            op: "list",
            path: prefix.to_string(),
            source,
        })? {
            let Some(name) = meta.location.filename().and_then(FileName::parse) else {
                continue;
            };
            let progress = manifest.sources.get(name.source).and_then(|p| p.get(&name.partition));
            let committed = match (name.kind, name.replaces, progress) {
                // A replacement names the commit that wrote it.
                (_, Some(r), _) => r.seq <= manifest.seq,
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
        // State and manifests beyond the newest manifest are leftovers too.
        let committed_seq = manifest.seq;
        for dir in ["state", "manifest"] {
            let prefix = lake.internal(dir);
            let stale: Vec<Path> = lake
                .store()
                .list(Some(&prefix))
                .try_filter_map(|m| async move {
                    let seq = m
                        .location
                        .filename()
                        .and_then(|n| n.split('.').next())
                        .and_then(|n| n.parse::<u64>().ok());
                    Ok(seq.filter(|s| *s > committed_seq).map(|_| m.location))
                })
                .try_collect()
                .await
                .map_err(|source| Error::Store {
                    op: "list",
                    path: prefix.to_string(),
                    source,
                })?;
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

    fn ingest(&mut self, msg: SourceMessage) -> Result<()> {
        let key = (msg.source.clone(), msg.partition);
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
        // The signature covers the raw bytes: check it before decoding, so a
        // tampered message reads as tampered, not as unreadable.
        let signer = match self.config.signatures.check(&msg) {
            Ok(signer) => signer,
            Err(e) => {
                self.quarantine_message(key, &msg, e.reason(), &e.to_string());
                return Ok(());
            }
        };
        let (family, batch) = match decode::decode(&msg) {
            Ok(decoded) => decoded,
            Err(e) => {
                self.quarantine_message(key, &msg, e.reason(), &e.to_string());
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
                let merged = naap_sql::session::run_over(
                    &self.ctx,
                    "telemetry_1m_partials",
                    Arc::clone(&self.state_schema),
                    rows,
                    naap_sql::rules::aggregate("telemetry_1m_merge").sql,
                )
                .await
                .map_err(Error::sql("telemetry_1m merge of late events"))?;
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
        let Rewrite { files, replaced } = rewrite::compact(&self.config.lake, closed_before, self.seq + 1).await?;
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
        let last = *self.unsealed_hours.last()?;
        let limit = if self.seal_everything {
            last + HOUR_MS
        } else {
            // Every partition must be past the hour's end, its settle time
            // and the allowed lateness before the hour is final.
            let watermark = self.parts.values().filter_map(|p| p.progress.max_event_time_ms).min()?;
            let wait = ms(self.config.allowed_lateness) + ms(self.config.session_settle);
            hour_of(watermark - wait - HOUR_MS) + HOUR_MS
        };
        let hours: Vec<i64> = self.unsealed_hours.range(..limit).copied().collect();
        (!hours.is_empty()).then_some((hours, limit))
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
            let name = file_name('h', hour, 0, None, "sealed");
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
        let mut entries = Vec::with_capacity(files.len());
        let mut encoded = Vec::with_capacity(files.len());
        for f in &files {
            encoded.push((f.path.clone(), parquet_bytes(&f.batch, &f.path)?));
            entries.push(FileEntry {
                table: f.table.clone(),
                path: f.path.to_string(),
                rows: f.batch.num_rows() as u64,
            });
        }
        let state = self.state_batch()?;
        let state_file = state_path(&lake, seq);
        let state_bytes = parquet_bytes(&state, &state_file)?;
        let ids = self.dedup_batch()?;
        let ids_file = crate::manifest::dedup_path(&lake, seq);
        let ids_bytes = parquet_bytes(&ids, &ids_file)?;

        let mut totals = self.totals.clone();
        add_totals(&mut totals, &self.uncommitted);
        totals.windows_committed += self.closing.values().map(|c| distinct_windows(c)).sum::<u64>();
        // Replacements re-write rows already counted (compaction), or
        // windows already counted once (late events).
        for e in entries.iter().filter(|e| !is_replacement(&e.path)) {
            *totals.rows_written.entry(e.table.clone()).or_default() += e.rows;
        }
        let manifest = Manifest {
            format: crate::manifest::MANIFEST_FORMAT,
            seq,
            committed_at_ms: now_ms(),
            sources: self.parts.iter().fold(BTreeMap::new(), |mut m, ((s, p), w)| {
                m.entry(s.clone())
                    .or_insert_with(BTreeMap::new)
                    .insert(*p, w.progress.clone());
                m
            }),
            state_file: Some(state_file.to_string()),
            dedup_file: Some(ids_file.to_string()),
            sealed_before_ms: self.sealing_to.or(self.sealed_before_ms),
            unsealed_hours: self
                .unsealed_hours
                .iter()
                .copied()
                .filter(|h| self.sealing_to.is_none_or(|to| *h >= to))
                .collect(),
            files: entries,
            replaced: self.replacing.iter().map(Path::to_string).collect(),
            garbage: {
                let after = now_ms() + ms(self.config.compaction_grace);
                let mut g = self.garbage.clone();
                g.extend(self.replacing.iter().map(|p| Garbage {
                    path: p.to_string(),
                    delete_after_ms: after,
                }));
                g
            },
            totals,
        };

        // The object store may be down for a while: retry the whole write set
        // (same names, same bytes) until it lands, without reading further.
        let mut delay = Duration::from_millis(200);
        loop {
            let mut state_files = vec![(state_file.clone(), state_bytes.clone())];
            state_files.push((ids_file.clone(), ids_bytes.clone()));
            match self.write_commit(&encoded, &state_files, &manifest).await {
                Ok(()) => break,
                Err(e @ Error::Fenced { .. }) => return Err(e),
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
        }
        failpoint::hit("after_manifest");

        self.seq = seq;
        self.sealed_before_ms = manifest.sealed_before_ms;
        self.unsealed_hours = manifest.unsealed_hours.iter().copied().collect();
        self.sealing_to = None;
        self.totals = manifest.totals;
        self.uncommitted = Totals::default();
        self.closing.clear();
        self.pending_messages = 0;
        self.replacing.clear();
        self.garbage = manifest.garbage.clone();
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
        self.prune(seq).await;
        self.collect_garbage().await;
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
                    debug!(path = %g.path, "deleted a superseded file")
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

    async fn write_commit(
        &self,
        files: &[(Path, Bytes)],
        state_files: &[(Path, Bytes)],
        manifest: &Manifest,
    ) -> Result<()> {
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
        manifest.write(lake).await
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

    /// (source, partition, event_time_ms, event_id) of the ids the dedup remembers.
    fn dedup_batch(&self) -> Result<RecordBatch> {
        let (mut sources, mut partitions, mut offsets, mut ids) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ((source, partition), d) in &self.dedup {
            for (offset, id) in d.entries() {
                sources.push(source.as_str());
                partitions.push(*partition);
                offsets.push(offset);
                ids.push(id);
            }
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("_source", DataType::Utf8, false),
            Field::new("_partition", DataType::Int32, false),
            Field::new("event_time_ms", DataType::Int64, false),
            Field::new("event_id", DataType::Utf8, false),
        ]));
        Ok(RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(sources)),
                Arc::new(Int32Array::from(partitions)),
                Arc::new(arrow::array::Int64Array::from(offsets)),
                Arc::new(StringArray::from(ids)),
            ],
        )?)
    }

    /// Keeps the newest 1000 manifests and only the newest state files.
    async fn prune(&self, seq: u64) {
        let lake = &self.config.lake;
        if seq > 1 {
            let _ = lake.store().delete(&state_path(lake, seq - 1)).await;
            let _ = lake.store().delete(&crate::manifest::dedup_path(lake, seq - 1)).await;
        }
        if seq > 1000 {
            let _ = lake.store().delete(&manifest_path(lake, seq - 1000)).await;
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

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
