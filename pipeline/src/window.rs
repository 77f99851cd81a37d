//! Event-time windows of one source partition.
//!
//! An event is *late* when its window was already closed by the watermark as
//! it stood before the event's message: the decision depends only on the
//! order of messages in the partition, never on how they were grouped into
//! micro-batches, so a rerun after a crash closes the same windows with the
//! same rows.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array};
use arrow::compute::kernels::cmp::lt;
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use datafusion::execution::context::SessionContext;

use crate::manifest::PartitionProgress;
use crate::{Error, Result};

/// Lake table of accepted raw events.
pub const RAW_TABLE: &str = naap_events::tables::NODE_TELEMETRY.name;
/// Lake table of closed one-minute windows.
pub const WINDOW_TABLE: &str = naap_events::tables::TELEMETRY_1M.name;
/// Window length.
pub const WINDOW_MS: i64 = 60_000;

/// A timestamp (any unit) or integer column as epoch milliseconds.
pub(crate) fn epoch_ms(col: &ArrayRef) -> Result<Int64Array> {
    let ms = match col.data_type() {
        DataType::Timestamp(_, _) => cast(
            &cast(col, &DataType::Timestamp(TimeUnit::Millisecond, None))?,
            &DataType::Int64,
        )?,
        _ => cast(col, &DataType::Int64)?,
    };
    Ok(ms.as_primitive::<arrow::datatypes::Int64Type>().clone())
}

/// Start of the window holding `t`.
pub fn window_start(t: i64) -> i64 {
    t.div_euclid(WINDOW_MS) * WINDOW_MS
}

/// Windows, watermark and uncommitted input of one partition.
#[derive(Debug)]
pub(crate) struct PartitionWindows {
    pub(crate) progress: PartitionProgress,
    /// On-time raw rows not yet folded into `open`.
    pub(crate) pending_on_time: Vec<RecordBatch>,
    /// All accepted rows (on time and late) not yet written to the raw table.
    pub(crate) pending_raw: Vec<RecordBatch>,
    /// Offset of the first message read since the last commit.
    pub(crate) first_pending_offset: Option<i64>,
    /// Partial aggregates of open windows, one row per key after [`fold`](Self::fold).
    pub(crate) open: Vec<RecordBatch>,
    /// Late raw rows not yet folded into their (closed) windows.
    pub(crate) pending_late: Vec<RecordBatch>,
    /// Late events per hour (start, ms) since the last commit.
    pub(crate) late_by_hour: std::collections::BTreeMap<i64, u64>,
    /// `closed_before_ms` as of the last commit: windows before it are in the lake.
    pub(crate) committed_closed_before: Option<i64>,
}

impl PartitionWindows {
    pub(crate) fn new(progress: PartitionProgress, open: Vec<RecordBatch>) -> Self {
        Self {
            pending_on_time: Vec::new(),
            pending_raw: Vec::new(),
            first_pending_offset: None,
            committed_closed_before: progress.closed_before_ms,
            progress,
            open,
            pending_late: Vec::new(),
            late_by_hour: std::collections::BTreeMap::new(),
        }
    }

    /// Notes a message as read (accepted or not).
    pub(crate) fn saw_offset(&mut self, offset: i64) {
        self.first_pending_offset.get_or_insert(offset);
        self.progress.next_offset = self.progress.next_offset.max(offset + 1);
    }

    /// A message without an offset of its own here (a copy from another
    /// transport) is pending, the partition's progress unchanged.
    pub(crate) fn saw_copy(&mut self) {
        self.first_pending_offset.get_or_insert(self.progress.next_offset);
    }

    /// Adds one decoded message's events; returns how many were late.
    pub(crate) fn add(&mut self, batch: RecordBatch, lateness_ms: i64) -> Result<u64> {
        let times = batch
            .column_by_name("event_time")
            .map(|c| c.as_primitive::<TimestampMillisecondType>().clone())
            .ok_or_else(|| Error::Manifest {
                path: "batch".into(),
                detail: "event_time column missing".into(),
            })?;
        let closed_before = self.progress.closed_before_ms;
        let mut late = 0u64;
        let on_time: BooleanArray = times
            .values()
            .iter()
            .map(|t| {
                let ok = closed_before.is_none_or(|cb| window_start(*t) >= cb);
                if !ok {
                    late += 1;
                    *self
                        .late_by_hour
                        .entry(t.div_euclid(3_600_000) * 3_600_000)
                        .or_default() += 1;
                }
                Some(ok)
            })
            .collect();
        if let Some(max) = times.values().iter().max().copied() {
            let newest = self.progress.max_event_time_ms.map_or(max, |m| m.max(max));
            self.progress.max_event_time_ms = Some(newest);
            let cb = window_start(newest.saturating_sub(lateness_ms));
            self.progress.closed_before_ms = Some(closed_before.map_or(cb, |old| old.max(cb)));
        }
        let kept = if late == 0 {
            batch.clone()
        } else {
            self.pending_late
                .push(filter_record_batch(&batch, &arrow::compute::not(&on_time)?)?);
            filter_record_batch(&batch, &on_time)?
        };
        if kept.num_rows() > 0 {
            self.pending_on_time.push(kept);
        }
        self.pending_raw.push(batch);
        Ok(late)
    }

    /// Closes every window, complete or not (end of a replay).
    pub(crate) fn close_all(&mut self) {
        if let Some(max) = self.progress.max_event_time_ms {
            self.progress.closed_before_ms = Some(window_start(max) + WINDOW_MS);
        }
    }

    /// Folds pending on-time rows into the open-window state, then splits
    /// off the windows the watermark has closed, merged to one row each.
    ///
    /// The state is kept as partial aggregates, one batch per fold, merged
    /// only when a window closes or the batches pile up: merging is
    /// associative and commutative (`sql/tests/rollups.rs`), so when it
    /// happens does not change a row, and a commit costs what it adds, not
    /// what is open.
    pub(crate) async fn fold(
        &mut self,
        ctx: &SessionContext,
        raw_schema: SchemaRef,
        state_schema: SchemaRef,
    ) -> Result<Vec<RecordBatch>> {
        if !self.pending_on_time.is_empty() {
            let aggregate = naap_sql::rules::aggregate("telemetry_1m");
            let partials = naap_sql::session::run_over(
                ctx,
                RAW_TABLE,
                raw_schema,
                std::mem::take(&mut self.pending_on_time),
                aggregate.sql,
            )
            .await
            .map_err(Error::sql("telemetry_1m aggregate"))?;
            self.open.extend(partials.into_iter().filter(|b| b.num_rows() > 0));
        }
        let mut closed = Vec::new();
        if let Some(closed_before) = self.progress.closed_before_ms {
            let mut still_open = Vec::with_capacity(self.open.len());
            for batch in std::mem::take(&mut self.open) {
                let starts = epoch_ms(batch.column_by_name("window_start").ok_or_else(|| Error::Manifest {
                    path: "state".into(),
                    detail: "window_start missing".into(),
                })?)?;
                let is_closed = lt(&starts, &Int64Array::new_scalar(closed_before))?;
                match is_closed.true_count() {
                    0 => still_open.push(batch),
                    n if n == batch.num_rows() => closed.push(batch),
                    _ => {
                        closed.push(filter_record_batch(&batch, &is_closed)?);
                        still_open.push(filter_record_batch(&batch, &arrow::compute::not(&is_closed)?)?);
                    }
                }
            }
            self.open = still_open;
        }
        if self.open.len() > MAX_OPEN_PARTIALS {
            self.open = merge_partials(ctx, &state_schema, std::mem::take(&mut self.open)).await?;
        }
        Ok(match closed.len() {
            0 => Vec::new(),
            _ => merge_partials(ctx, &state_schema, closed).await?,
        })
    }

    pub(crate) fn has_pending(&self) -> bool {
        self.first_pending_offset.is_some()
    }

    /// Aggregates the late rows into window partials (SQL), leaving none pending.
    pub(crate) async fn late_partials(
        &mut self,
        ctx: &SessionContext,
        raw_schema: SchemaRef,
    ) -> Result<Vec<RecordBatch>> {
        if self.pending_late.is_empty() {
            return Ok(Vec::new());
        }
        naap_sql::session::run_over(
            ctx,
            RAW_TABLE,
            raw_schema,
            std::mem::take(&mut self.pending_late),
            naap_sql::rules::aggregate("telemetry_1m").sql,
        )
        .await
        .map_err(Error::sql("telemetry_1m aggregate of late events"))
    }
}

/// Batches of partial window state kept before they are merged.
const MAX_OPEN_PARTIALS: usize = 8;

/// One row per window key from partial rows (`telemetry_1m_merge.sql`).
pub(crate) async fn merge_partials(
    ctx: &SessionContext,
    state_schema: &SchemaRef,
    partials: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>> {
    let partials: Vec<RecordBatch> = partials
        .into_iter()
        .map(|b| RecordBatch::try_new(Arc::clone(state_schema), b.columns().to_vec()))
        .collect::<std::result::Result<_, _>>()?;
    let merge = naap_sql::rules::aggregate("telemetry_1m_merge");
    naap_sql::session::run_over(
        ctx,
        "telemetry_1m_partials",
        Arc::clone(state_schema),
        partials,
        merge.sql,
    )
    .await
    .map_err(Error::sql("telemetry_1m merge"))
}

/// Number of distinct window starts in `batches` (for the "windows committed" counter).
pub(crate) fn distinct_windows(batches: &[RecordBatch]) -> u64 {
    let mut starts: Vec<i64> = Vec::new();
    for b in batches {
        if let Some(c) = b.column_by_name("window_start")
            && let Ok(c) = epoch_ms(c)
        {
            starts.extend(c.iter().flatten());
        }
    }
    starts.sort_unstable();
    starts.dedup();
    starts.len() as u64
}

/// Groups rows by the UTC hour of a millisecond timestamp column (for the
/// `date=/hour=` folders); returns (hour start ms, rows), hours ascending,
/// rows in their order. One pass assigns rows to hours; each hour's rows
/// are then gathered once, so the cost follows the rows, not rows × hours.
pub(crate) fn split_by_hour(batch: &RecordBatch, column: &str) -> Result<Vec<(i64, RecordBatch)>> {
    let Some(col) = batch.column_by_name(column) else {
        return Ok(vec![(0, batch.clone())]);
    };
    let ms = epoch_ms(col)?;
    let hour_of = |i: usize| {
        if ms.is_null(i) {
            0
        } else {
            ms.value(i).div_euclid(3_600_000) * 3_600_000
        }
    };
    // Rows of one hour come in runs: the last hour hit is tried first, then
    // an index (any number of distinct hours costs one lookup a row).
    let mut hours: Vec<(i64, Vec<u32>)> = Vec::new();
    let mut index: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    let mut last = 0usize;
    for i in 0..ms.len() {
        let h = hour_of(i);
        if hours.get(last).is_none_or(|(hour, _)| *hour != h) {
            last = *index.entry(h).or_insert_with(|| {
                hours.push((h, Vec::new()));
                hours.len() - 1
            });
        }
        hours[last].1.push(u32::try_from(i).map_err(|_| Error::Manifest {
            path: "batch".into(),
            detail: "more than 2^32 rows in one batch".into(),
        })?);
    }
    if let [(h, _)] = hours.as_slice() {
        return Ok(vec![(*h, batch.clone())]);
    }
    hours.sort_unstable_by_key(|(h, _)| *h);
    hours
        .into_iter()
        .map(|(h, rows)| {
            let rows = arrow::array::UInt32Array::from(rows);
            Ok((h, arrow::compute::take_record_batch(batch, &rows)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_starts_are_utc_aligned() {
        assert_eq!(window_start(0), 0);
        assert_eq!(window_start(59_999), 0);
        assert_eq!(window_start(60_000), 60_000);
        assert_eq!(window_start(-1), -60_000);
    }

    #[test]
    fn rows_split_by_hour_keep_their_order() {
        let hour = 3_600_000i64;
        let times = [
            5 * hour + 1,
            3 * hour,
            5 * hour + 2,
            4 * hour,
            3 * hour + 9,
            5 * hour + 3,
        ];
        let batch = RecordBatch::try_from_iter([
            ("t", Arc::new(Int64Array::from(times.to_vec())) as ArrayRef),
            ("n", Arc::new(Int64Array::from_iter_values(0..6)) as ArrayRef),
        ])
        .unwrap();
        let split = split_by_hour(&batch, "t").unwrap();
        let got: Vec<(i64, Vec<i64>)> = split
            .iter()
            .map(|(h, b)| {
                (
                    *h / hour,
                    b.column(1)
                        .as_primitive::<arrow::datatypes::Int64Type>()
                        .values()
                        .to_vec(),
                )
            })
            .collect();
        assert_eq!(got, vec![(3, vec![1, 4]), (4, vec![3]), (5, vec![0, 2, 5])]);
        let one = batch.slice(1, 1);
        assert_eq!(split_by_hour(&one, "t").unwrap()[0].0, 3 * hour);
    }
}
