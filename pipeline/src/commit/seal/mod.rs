//! Sealing UTC hours of go-livepeer gateway data into the hourly tables.
//!
//! Sessions span hours and their events arrive on several topics and
//! partitions, out of order. Instead of holding session state in memory, the
//! pipeline keeps every accepted gateway event in the lake (committed like
//! any other table) and, once the event-time watermark of every partition
//! has passed an hour's end plus the settle time and the allowed lateness,
//! *seals* the hour: it runs `sql/aggregates/{sessions, orchestrator_hourly,
//! sla_inputs_hourly, gpu_inventory, discovery_latency, payments,
//! ai_requests, llm_requests, byoc_attempts, byoc_jobs}.sql` over
//! the gateway rows
//! around the hour (the lake's plus this commit's pending ones), then every
//! rule over `sla_inputs_hourly` (NaaP's status hours) with its 7-day
//! history. The session state
//! is therefore the lake itself, and survives restarts through the commit
//! protocol: the sealed hour's files are added to their tables by the commit
//! whose record moves `sealed_before_ms` past them.
//!
//! This module owns the sealing state (which hours are sealed, which wait,
//! which sessions earlier hours hold); [`sealer`] computes an hour's tables.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::RecordBatch;

use crate::commit::files::{SEALED_GROUP, Staged};
use crate::commit::tables::Tables;
use crate::manifest::Manifest;
use crate::source::PartitionKey;
use crate::window::PartitionWindows;
use crate::{PipelineConfig, Result};
use naap_sql::hourly::HOUR_MS;

mod queries;
mod sealer;
mod sessions;

pub(crate) use queries::SealQueries;
pub(crate) use sealer::{SealSpan, Sealer, hour_of};
pub(crate) use sessions::SessionIndex;

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
    /// The SQL session sealing runs in, with its planned aggregates.
    pub(crate) queries: SealQueries,
    /// Tables whose every sealed hour the commit being written rebuilds
    /// (a whole reseal's last hour), with the aggregate version now theirs.
    pub(crate) resealed: BTreeMap<String, u32>,
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

    /// The `sealed_with` of the next record, built on `base`: the first
    /// seal of a lake records this release's versions; a whole reseal
    /// records them for the tables it rebuilt.
    pub(crate) fn sealed_with(&self, base: &Manifest) -> BTreeMap<String, u32> {
        let mut out = base.sealed_with.clone();
        if base.sealed_before_ms.is_none() && self.sealing_to.is_some() {
            for (table, version) in aggregate_versions() {
                out.entry(table).or_insert(version);
            }
        }
        out.extend(self.resealed.iter().map(|(t, v)| (t.clone(), *v)));
        out
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
            let wait = crate::commit::ms(config.allowed_lateness) + crate::commit::ms(config.session_settle);
            hour_of(watermark? - wait - HOUR_MS) + HOUR_MS
        };
        let hours: Vec<i64> = self.unsealed_hours.range(..limit).copied().collect();
        (!hours.is_empty()).then_some((hours, limit))
    }

    /// Seals `hours` into staged files of the hourly tables.
    pub(crate) async fn seal(
        &mut self,
        config: &PipelineConfig,
        (hours, limit): (Vec<i64>, i64),
        pending: BTreeMap<&'static str, Vec<RecordBatch>>,
        tables: &mut Tables,
    ) -> Result<Vec<Staged>> {
        let mut sealer = Sealer {
            queries: &mut self.queries,
            tables,
            sessions: &mut self.sessions,
            rules: &config.rules,
            span: SealSpan::of(config),
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

/// This release's version of each hourly aggregate.
pub(crate) fn aggregate_versions() -> BTreeMap<String, u32> {
    let all = naap_sql::rules::aggregates();
    naap_sql::hourly::HOURLY_AGGREGATES
        .iter()
        .filter_map(|t| all.get(*t).map(|r| ((*t).to_owned(), r.header.version)))
        .collect()
}

/// The hourly tables of `record` whose sealed hours an older version of
/// their aggregate computed: (table, lake's version, this release's).
pub(crate) fn outdated(record: &Manifest) -> Vec<(String, u32, u32)> {
    if record.sealed_before_ms.is_none() {
        return Vec::new();
    }
    aggregate_versions()
        .into_iter()
        .filter_map(|(table, now)| {
            let then = record.sealed_with.get(&table).copied().unwrap_or(1);
            (then < now).then_some((table, then, now))
        })
        .collect()
}
