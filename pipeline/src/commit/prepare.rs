//! Turning the input read since the last commit into the staged files of
//! the next one: raw rows, samples, gateway rows and quarantine per hour;
//! closed windows and their scores; late windows; sealed hours; compaction.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::compute::{concat_batches, filter_record_batch};
use tracing::info;

use super::files::{Rewrite, SEALED_GROUP, Staged, group, group_is_partition};
use super::{Run, ms, rewrite};
use crate::quarantine::QUARANTINE_TABLE;
use crate::window::{RAW_TABLE, WINDOW_TABLE, split_by_hour};
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

impl Run {
    /// This commit's files from the pending input, and the files they replace.
    pub(super) async fn prepare(&mut self) -> Result<Rewrite> {
        let mut files = Vec::new();
        let mut pending_gateway: BTreeMap<&'static str, Vec<RecordBatch>> = BTreeMap::new();
        let input = &mut self.input;
        for ((source, partition), part) in input.parts.iter_mut() {
            let key = (source.clone(), *partition);
            let closed = part
                .fold(&self.ctx, Arc::clone(&self.raw_schema), Arc::clone(&self.state_schema))
                .await?;
            if !closed.is_empty() {
                input.closing.entry(key.clone()).or_default().extend(closed);
            }
            if part.first_pending_offset.is_none() {
                continue;
            }
            let g = group(source, *partition, None);
            if !part.pending_raw.is_empty() {
                let raw = concat_batches(&self.raw_schema, &part.pending_raw)?;
                files.extend(hourly(RAW_TABLE, &raw, &g)?);
            }
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
        let mut out = self.late_windows().await?;
        out.files.extend(files);
        for ((source, partition), closed) in &self.input.closing {
            if closed.is_empty() {
                continue;
            }
            let windows = concat_batches(&self.state_schema, closed)?;
            let g = group(source, *partition, None);
            out.files.extend(hourly(WINDOW_TABLE, &windows, &g)?);
            for (rule, scored) in
                rewrite::score_windows(&self.ctx, &self.config.rules, &self.state_schema, &windows).await?
            {
                if scored.num_rows() > 0 {
                    let g = group(source, *partition, Some(&rule.view_name()));
                    out.files.extend(hourly(&rule.header.output, &scored, &g)?);
                }
            }
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

    /// Late events: windows this commit closes take them in (their rows are
    /// merged again); windows an earlier commit wrote are re-written,
    /// re-scored, and counted per hour.
    async fn late_windows(&mut self) -> Result<Rewrite> {
        let lake = self.config.lake.clone();
        let mut out = Rewrite::default();
        for ((source, partition), part) in self.input.parts.iter_mut() {
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
                let mut rows = self.input.closing.remove(&key).unwrap_or_default();
                rows.push(closing_now);
                let merged = crate::window::merge_partials(&self.ctx, &self.state_schema, rows).await?;
                self.input.closing.insert(key, merged);
            }
            if written.num_rows() > 0 {
                let more = rewrite::late_windows(
                    &self.ctx,
                    &lake,
                    &self.config.rules,
                    &self.state_schema,
                    (source, *partition),
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
