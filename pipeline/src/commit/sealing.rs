//! Which UTC hours of gateway data are sealed, which wait, and sealing them.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::RecordBatch;
use datafusion::execution::context::SessionContext;

use super::files::{SEALED_GROUP, Staged};
use super::tables::Tables;
use crate::manifest::Manifest;
use crate::seal::{SealSpan, Sealer, SessionIndex, hour_of};
use crate::source::PartitionKey;
use crate::window::PartitionWindows;
use crate::{PipelineConfig, Result};
use naap_sql::hourly::HOUR_MS;

/// The sealing state: carried in every commit record.
#[derive(Debug, Default)]
pub(crate) struct Sealing {
    /// Hours before this are sealed into the hourly tables.
    pub(crate) sealed_before_ms: Option<i64>,
    /// Hours holding on-time gateway events, not sealed yet.
    pub(crate) unsealed_hours: BTreeSet<i64>,
    /// Seal every unsealed hour at the next commit (end of a replay).
    pub(crate) seal_everything: bool,
    /// `sealed_before_ms` once the commit being written lands.
    pub(crate) sealing_to: Option<i64>,
    /// Which sessions the lookback's hours hold.
    pub(crate) sessions: SessionIndex,
}

impl Sealing {
    pub(crate) fn is_sealed(&self, t: i64) -> bool {
        self.sealed_before_ms.is_some_and(|sb| t < sb)
    }

    pub(crate) fn saw_hour(&mut self, hour: i64) {
        self.unsealed_hours.insert(hour);
    }

    /// Takes a record's sealing state; hours of gateway events read but not
    /// committed yet stay unsealed.
    pub(crate) fn adopt(&mut self, record: &Manifest) {
        self.sealed_before_ms = record.sealed_before_ms;
        let sealed_before = self.sealed_before_ms.unwrap_or(i64::MIN);
        self.unsealed_hours = record
            .unsealed_hours
            .iter()
            .copied()
            .chain(self.unsealed_hours.iter().copied())
            .filter(|h| *h >= sealed_before)
            .collect();
    }

    /// The sealing state of the next record, built on `base`.
    pub(crate) fn next(&self, base: &Manifest) -> (Option<i64>, Vec<i64>) {
        let sealed_before_ms = base.sealed_before_ms.max(self.sealing_to);
        let sealed_before = sealed_before_ms.unwrap_or(i64::MIN);
        let unsealed: BTreeSet<i64> = base
            .unsealed_hours
            .iter()
            .chain(&self.unsealed_hours)
            .copied()
            .filter(|h| *h >= sealed_before)
            .collect();
        (sealed_before_ms, unsealed.into_iter().collect())
    }

    /// Whether `latest` has hours to seal this commit's seal did not see
    /// (another process committed them meanwhile).
    pub(crate) fn missed(&self, latest: &Manifest) -> bool {
        self.sealing_to.is_some_and(|to| {
            latest
                .unsealed_hours
                .iter()
                .any(|h| *h < to && !self.unsealed_hours.contains(h))
        })
    }

    /// Hours that may be sealed now, oldest first, and the new `sealed_before_ms`.
    pub(crate) fn sealable(
        &self,
        leads: bool,
        config: &PipelineConfig,
        watermark: Option<i64>,
    ) -> Option<(Vec<i64>, i64)> {
        if !leads {
            return None;
        }
        let last = *self.unsealed_hours.last()?;
        let limit = if self.seal_everything {
            last + HOUR_MS
        } else {
            // Every partition must be past the hour's end, its settle time
            // and the allowed lateness before the hour is final.
            let wait = super::ms(config.allowed_lateness) + super::ms(config.session_settle);
            hour_of(watermark? - wait - HOUR_MS) + HOUR_MS
        };
        let hours: Vec<i64> = self.unsealed_hours.range(..limit).copied().collect();
        (!hours.is_empty()).then_some((hours, limit))
    }

    /// Seals `hours` into staged files of the hourly tables.
    pub(crate) async fn seal(
        &mut self,
        ctx: &SessionContext,
        config: &PipelineConfig,
        (hours, limit): (Vec<i64>, i64),
        pending: BTreeMap<&'static str, Vec<RecordBatch>>,
        tables: &mut Tables,
    ) -> Result<Vec<Staged>> {
        let mut sealer = Sealer {
            ctx,
            tables,
            sessions: &mut self.sessions,
            rules: &config.rules,
            span: SealSpan {
                settle_ms: super::ms(config.session_settle),
                lookback_ms: super::ms(config.session_lookback),
            },
            pending,
            sealed_hourly: Vec::new(),
        };
        let mut files = Vec::new();
        for hour in hours {
            for (table, rows) in sealer.seal(hour).await? {
                files.push(Staged::new(table, hour, SEALED_GROUP.to_owned(), rows));
            }
        }
        self.sealing_to = Some(limit);
        Ok(files)
    }
}

/// The oldest newest-event-time of all partitions: this process's own as
/// read so far, the others' as last committed.
pub(crate) fn watermark(parts: &BTreeMap<PartitionKey, PartitionWindows>, base: &Manifest) -> Option<i64> {
    let own = parts.values().filter_map(|p| p.progress.max_event_time_ms);
    let others = base.sources.iter().flat_map(|(s, ps)| {
        ps.iter()
            .filter(|(p, _)| !parts.contains_key(&(s.clone(), **p)))
            .filter_map(|(_, e)| e.max_event_time_ms)
    });
    own.chain(others).min()
}
