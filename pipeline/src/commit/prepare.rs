//! Turning the input read since the last commit into the staged files of
//! the next one: raw rows, samples, gateway rows and quarantine per hour;
//! closed windows and their scores; late windows; sealed hours; compaction.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::SchemaRef;
use datafusion::execution::context::SessionContext;
use tokio::task::JoinSet;
use tracing::info;

use super::files::{Rewrite, SEALED_GROUP, Staged, group, group_is_partition};
use super::{Run, ms, rewrite};
use crate::quarantine::QUARANTINE_TABLE;
use crate::source::PartitionKey;
use crate::window::{PartitionWindows, RAW_TABLE, WINDOW_TABLE, split_by_hour};
use crate::{Error, Result};

/// One staged file per UTC hour of `time_column` in `rows`.
/// `rows` of `table` split into its hour partitions (by the time column
/// the table list names for it).
fn hourly(table: &str, rows: &RecordBatch, group: &str) -> Result<Vec<Staged>> {
    let time_column = naap_events::tables::by_name(table)
        .ok_or_else(|| Error::Manifest {
            path: table.to_owned(),
            detail: "not a table of naap_events::tables::ALL".to_owned(),
        })?
        .time_column;
    Ok(split_by_hour(rows, time_column)?
        .into_iter()
        .map(|(hour, batch)| Staged::new(table, hour, group.to_owned(), batch))
        .collect())
}

/// One partition's windows, worked on by a runtime worker while the other
/// partitions' are worked on by the other: the windows move into the task
/// and come back with what they gave.
struct Worked {
    key: PartitionKey,
    part: PartitionWindows,
    /// The partition's session, kept for scoring its closed windows.
    ctx: SessionContext,
    /// Windows the watermark closed, merged to one row each.
    closed: Vec<RecordBatch>,
    /// Late rows aggregated into window partials.
    late: Vec<RecordBatch>,
    /// The raw table's files of the rows read since the last commit.
    raw: Vec<Staged>,
}

/// The SQL work of one partition's windows, each partition on a session of
/// its own (a session's tables are named, so two folds cannot share one).
async fn work_on(
    key: PartitionKey,
    mut part: PartitionWindows,
    ctx: SessionContext,
    raw_schema: SchemaRef,
    state_schema: SchemaRef,
) -> Result<Worked> {
    let closed = part.fold(&ctx, Arc::clone(&raw_schema), state_schema).await?;
    let late = part.late_partials(&ctx, Arc::clone(&raw_schema)).await?;
    let mut raw = Vec::new();
    if part.first_pending_offset.is_some() && !part.pending_raw.is_empty() {
        let rows = concat_batches(&raw_schema, &part.pending_raw)?;
        raw = hourly(RAW_TABLE, &rows, &group(&key.0, key.1, None))?;
    }
    Ok(Worked {
        key,
        part,
        ctx,
        closed,
        late,
        raw,
    })
}

/// The files of one partition's closed windows: the windows themselves and
/// every rule's scores over them.
async fn score_closed(
    key: PartitionKey,
    closed: Vec<RecordBatch>,
    ctx: SessionContext,
    rules: naap_sql::RuleSet,
    state_schema: SchemaRef,
) -> Result<Vec<Staged>> {
    let windows = concat_batches(&state_schema, &closed)?;
    let (source, partition) = key;
    let mut files = hourly(WINDOW_TABLE, &windows, &group(&source, partition, None))?;
    for (rule, scored) in rewrite::score_windows(&ctx, &rules, &state_schema, &windows).await? {
        if scored.num_rows() > 0 {
            let g = group(&source, partition, Some(&rule.view_name()));
            files.extend(hourly(&rule.header.output, &scored, &g)?);
        }
    }
    Ok(files)
}

/// Waits for every task of `tasks`; a task that panicked panics here, as
/// it would have without the task.
async fn all_of<T: 'static>(mut tasks: JoinSet<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(value) => out.push(value),
            Err(e) => std::panic::resume_unwind(e.try_into_panic().unwrap_or_else(|e| Box::new(e.to_string()))),
        }
    }
    out
}

impl Run {
    /// A session like the pipeline's own, with tables of its own.
    fn worker_session(&self) -> SessionContext {
        naap_sql::session::context_with(self.ctx.copied_config())
    }

    /// This commit's files from the pending input, and the files they replace.
    ///
    /// The partitions' windows are folded, and their closed windows scored,
    /// concurrently on the runtime's workers: that SQL is most of a
    /// telemetry commit's work, and one partition's is independent of
    /// another's.
    pub(super) async fn prepare(&mut self) -> Result<Rewrite> {
        let mut tasks = JoinSet::new();
        for (key, part) in std::mem::take(&mut self.input.parts) {
            let (ctx, raw, state) = (
                self.worker_session(),
                Arc::clone(&self.raw_schema),
                Arc::clone(&self.state_schema),
            );
            tasks.spawn(work_on(key, part, ctx, raw, state));
        }
        let mut files = Vec::new();
        let mut late = Vec::new();
        let mut sessions = BTreeMap::new();
        let mut failed = None;
        for worked in all_of(tasks).await {
            match worked {
                Ok(w) => {
                    if !w.closed.is_empty() {
                        self.input.closing.entry(w.key.clone()).or_default().extend(w.closed);
                    }
                    files.extend(w.raw);
                    if !w.late.is_empty() {
                        late.push((w.key.clone(), w.late));
                    }
                    sessions.insert(w.key.clone(), w.ctx);
                    self.input.parts.insert(w.key, w.part);
                }
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        let mut pending_gateway: BTreeMap<&'static str, Vec<RecordBatch>> = BTreeMap::new();
        let input = &mut self.input;
        for ((source, partition), part) in input.parts.iter() {
            let key = (source.clone(), *partition);
            if part.first_pending_offset.is_none() {
                continue;
            }
            let g = group(source, *partition, None);
            if let Some(gateway) = input.gateway.get_mut(&key)
                && !gateway.is_empty()
            {
                for (table, rows) in gateway.finish() {
                    files.extend(hourly(table, &rows, &g)?);
                    pending_gateway.entry(table).or_default().push(rows);
                }
            }
            for (table, batches) in input.samples.remove(&key).unwrap_or_default() {
                let Some(schema) = batches.first().map(RecordBatch::schema) else {
                    continue;
                };
                files.extend(hourly(table, &concat_batches(&schema, &batches)?, &g)?);
            }
            if let Some(q) = input.quarantine.get_mut(&key)
                && !q.is_empty()
            {
                files.extend(hourly(QUARANTINE_TABLE, &q.finish(), &g)?);
            }
        }
        if let Some(gaps) = self.input.chains.gap_rows() {
            let source = gaps
                .column(0)
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .map_or(String::new(), |s| s.value(0).to_owned());
            files.extend(hourly(crate::chains::GAPS_TABLE, &gaps, &group(&source, 0, None))?);
        }
        let mut out = self.late_windows(late).await?;
        out.files.extend(files);
        let mut tasks = JoinSet::new();
        for (key, closed) in &self.input.closing {
            if closed.is_empty() {
                continue;
            }
            let (ctx, rules, state) = (
                sessions.remove(key).unwrap_or_else(|| self.worker_session()),
                self.config.rules.clone(),
                Arc::clone(&self.state_schema),
            );
            tasks.spawn(score_closed(key.clone(), closed.clone(), ctx, rules, state));
        }
        for scored in all_of(tasks).await {
            out.files.extend(scored?);
        }
        if let Some(sealable) = self.sealable() {
            let sealed = self
                .sealing
                .seal(&self.config, sealable, pending_gateway, &mut self.tables)
                .await?;
            out.files.extend(sealed);
        }
        Ok(out)
    }

    /// Late events (aggregated per partition into `partials`): windows this
    /// commit closes take them in (their rows are merged again); windows an
    /// earlier commit wrote are re-written, re-scored, and counted per hour.
    async fn late_windows(&mut self, late: Vec<(PartitionKey, Vec<RecordBatch>)>) -> Result<Rewrite> {
        let lake = self.config.lake.clone();
        let mut out = Rewrite::default();
        for (key, partials) in late {
            let Some(part) = self.input.parts.get(&key) else {
                continue;
            };
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
            if closing_now.num_rows() > 0 {
                let mut rows = self.input.closing.remove(&key).unwrap_or_default();
                rows.push(closing_now);
                let merged = crate::window::merge_partials(&self.ctx, &self.state_schema, rows).await?;
                self.input.closing.insert(key.clone(), merged);
            }
            if written.num_rows() > 0 {
                let more = rewrite::late_windows(
                    &self.ctx,
                    &lake,
                    &self.config.rules,
                    &self.state_schema,
                    (&key.0, key.1),
                    written,
                )
                .await?;
                out.files.extend(more.files);
                out.removed.extend(more.removed);
            }
        }
        Ok(out)
    }

    /// Whether a compaction pass is due.
    pub(super) fn compaction_due(&self) -> bool {
        self.config
            .compact_every
            .is_some_and(|every| self.last_compaction.elapsed() >= every)
    }

    /// One compaction pass over the hours every partition has closed.
    pub(super) async fn compaction(&mut self) -> Result<Rewrite> {
        self.last_compaction = Instant::now();
        let Some(newest) = self
            .input
            .parts
            .values()
            .filter_map(|p| p.progress.max_event_time_ms)
            .min()
        else {
            return Ok(Rewrite::default());
        };
        let closed_before = newest - ms(self.config.allowed_lateness) - ms(self.config.session_settle);
        let leads = self.owner.leads();
        let parts: Vec<_> = self.input.parts.keys().cloned().collect();
        let owns = |g: &str| {
            if g == SEALED_GROUP {
                leads
            } else {
                parts.iter().any(|(s, p)| group_is_partition(g, s, *p))
            }
        };
        let out = rewrite::compact(&self.config.lake, closed_before, owns).await?;
        if !out.files.is_empty() {
            info!(
                files = out.files.len(),
                replaced = out.removed.len(),
                "compacting closed hours"
            );
        }
        Ok(out)
    }
}
