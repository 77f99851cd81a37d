//! Live counters of a pipeline run.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::manifest::Totals;

/// Counters as of the last commit, shared with progress printers.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Snapshot>,
}

/// A copy of the counters.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub totals: Totals,
    pub commits: u64,
    pub last_commit_ms: u64,
    /// Messages read but not yet committed.
    pub pending_messages: u64,
}

impl Metrics {
    pub fn snapshot(&self) -> Snapshot {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn committed(&self, totals: &Totals, commit_ms: u64) {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.totals = totals.clone();
        s.commits += 1;
        s.last_commit_ms = commit_ms;
        s.pending_messages = 0;
    }

    pub(crate) fn pending(&self, messages: u64) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).pending_messages = messages;
    }
}

impl Snapshot {
    /// One progress line: events in, windows committed, rows written, quarantined.
    pub fn progress_line(&self) -> String {
        format!("{} | commits {}", totals_line(&self.totals), self.commits)
    }
}

/// The totals as one line: events in, windows committed, rows written, quarantined.
pub fn totals_line(t: &Totals) -> String {
    let rows: u64 = t.rows_written.values().sum();
    format!(
        "events in {} | messages {} | windows committed {} | rows written {} ({}) | quarantined {} | late {} | duplicates {}",
        t.events_in,
        t.messages_in,
        t.windows_committed,
        rows,
        fmt_tables(&t.rows_written),
        t.quarantined,
        t.late_events,
        t.duplicates,
    )
}

fn fmt_tables(rows: &BTreeMap<String, u64>) -> String {
    rows.iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
