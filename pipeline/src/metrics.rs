//! Live counters of a pipeline run, and their Prometheus text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use sketches_ddsketch::{Config, DDSketch};

use crate::health::{Health, State};
use crate::manifest::Totals;

/// Counters as of the last commit, shared with progress printers and `/metrics`.
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
    /// (source, partition) → next offset the lake holds.
    pub committed_offsets: BTreeMap<(String, i32), i64>,
    /// (source, partition) → the broker's high watermark, last seen.
    pub high_watermarks: BTreeMap<(String, i32), i64>,
    /// Seconds from a message's broker timestamp to the commit that made it
    /// queryable (1 % relative accuracy).
    pub queryable_after: Option<Latency>,
    /// Seconds each commit took.
    pub commit_seconds: Option<Latency>,
    /// Whether commits land.
    pub health: Health,
    /// Streamr publishers' chains, as of the last commit.
    pub chains: crate::chains::Chains,
    /// Times a source's connection was started again (the Streamr sidecar).
    pub source_restarts: u64,
}

/// A latency distribution.
#[derive(Clone)]
pub struct Latency(DDSketch);

impl std::fmt::Debug for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Latency(n={})", self.0.count())
    }
}

impl Default for Latency {
    fn default() -> Self {
        Latency(DDSketch::new(Config::defaults()))
    }
}

impl Latency {
    pub fn add(&mut self, seconds: f64) {
        self.0.add(seconds.max(0.0));
    }

    /// The q-quantile, if anything was added.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.0.quantile(q).ok().flatten()
    }

    pub fn count(&self) -> usize {
        self.0.count()
    }

    pub fn sum(&self) -> f64 {
        self.0.sum().unwrap_or_default()
    }
}

impl Metrics {
    pub fn snapshot(&self) -> Snapshot {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The totals recovered from the lake (no commit of this process yet).
    pub(crate) fn restored(&self, totals: &Totals) {
        self.lock().totals = totals.clone();
    }

    pub(crate) fn committed(&self, totals: &Totals, commit_ms: u64) {
        let mut s = self.lock();
        s.health.state = State::Committing;
        s.health.last_commit_at_ms = Some(now_ms());
        s.totals = totals.clone();
        s.commits += 1;
        s.last_commit_ms = commit_ms;
        s.pending_messages = 0;
        s.commit_seconds
            .get_or_insert_with(Latency::default)
            .add(commit_ms as f64 / 1000.0);
    }

    /// After a commit: what the lake now holds, and how long each message
    /// of the commit waited since its broker timestamp.
    pub(crate) fn made_queryable(
        &self,
        offsets: impl IntoIterator<Item = ((String, i32), i64)>,
        waited_ms: impl IntoIterator<Item = i64>,
    ) {
        let mut s = self.lock();
        s.committed_offsets.extend(offsets);
        let sketch = s.queryable_after.get_or_insert_with(Latency::default);
        for ms in waited_ms {
            sketch.add(ms as f64 / 1000.0);
        }
    }

    /// After a commit: the publishers' chains it recorded.
    pub(crate) fn chains(&self, chains: &crate::chains::Chains) {
        self.lock().chains.clone_from(chains);
    }

    /// The source had to start its connection again.
    pub(crate) fn source_restarted(&self) {
        self.lock().source_restarts += 1;
    }

    /// A commit failed and is retried; the first failure of a streak sets
    /// since when.
    pub(crate) fn retrying(&self, error: &dyn std::fmt::Display) {
        let mut s = self.lock();
        let since_ms = match &s.health.state {
            State::Retrying { since_ms, .. } => *since_ms,
            _ => now_ms(),
        };
        s.health.state = State::Retrying {
            since_ms,
            error: error.to_string(),
        };
    }

    /// The run ended with `error`.
    pub(crate) fn stopped(&self, error: &dyn std::fmt::Display) {
        self.lock().health.state = State::Stopped {
            at_ms: now_ms(),
            error: error.to_string(),
        };
    }

    pub(crate) fn pending(&self, messages: u64) {
        self.lock().pending_messages = messages;
    }

    /// The broker's newest offset + 1 of a partition (from the source thread).
    pub(crate) fn high_watermark(&self, source: &str, partition: i32, high: i64) {
        self.lock().high_watermarks.insert((source.to_owned(), partition), high);
    }
}

impl Snapshot {
    /// One progress line: events in, windows committed, rows written, quarantined.
    pub fn progress_line(&self) -> String {
        format!("{} | commits {}", totals_line(&self.totals), self.commits)
    }

    /// Messages the lake is behind the broker, per partition.
    pub fn lag(&self) -> BTreeMap<(String, i32), i64> {
        self.high_watermarks
            .iter()
            .map(|(key, high)| {
                let committed = self.committed_offsets.get(key).copied().unwrap_or(0);
                (key.clone(), (high - committed).max(0))
            })
            .collect()
    }

    /// The counters in the Prometheus text format (version 0.0.4).
    pub fn prometheus(&self) -> String {
        let t = &self.totals;
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        };
        counter(
            "naap_pipeline_messages_consumed_total",
            "Messages read and committed.",
            t.messages_in,
        );
        counter(
            "naap_pipeline_events_committed_total",
            "Events accepted into the lake.",
            t.events_in,
        );
        counter(
            "naap_pipeline_commits_total",
            "Commits since this process started.",
            self.commits,
        );
        counter(
            "naap_pipeline_windows_committed_total",
            "Windows closed and written.",
            t.windows_committed,
        );
        counter(
            "naap_pipeline_late_events_total",
            "Events whose window had closed.",
            t.late_events,
        );
        counter(
            "naap_pipeline_duplicates_total",
            "Events dropped as repeats of an accepted event_id.",
            t.duplicates,
        );
        let _ = writeln!(
            out,
            "# HELP naap_pipeline_quarantined_total Messages quarantined, by reason.\n# TYPE naap_pipeline_quarantined_total counter"
        );
        for (reason, n) in &t.quarantined_by_reason {
            let _ = writeln!(
                out,
                "naap_pipeline_quarantined_total{{reason=\"{}\"}} {n}",
                escape(reason)
            );
        }
        let _ = writeln!(
            out,
            "# HELP naap_pipeline_rows_written_total Rows written, by table.\n# TYPE naap_pipeline_rows_written_total counter"
        );
        for (table, n) in &t.rows_written {
            let _ = writeln!(
                out,
                "naap_pipeline_rows_written_total{{table=\"{}\"}} {n}",
                escape(table)
            );
        }
        let _ = writeln!(
            out,
            "# HELP naap_pipeline_pending_messages Messages read but not committed yet.\n# TYPE naap_pipeline_pending_messages gauge\nnaap_pipeline_pending_messages {}",
            self.pending_messages
        );
        let _ = writeln!(
            out,
            "# HELP naap_pipeline_lag_messages Broker high watermark minus the lake's next offset, per partition.\n# TYPE naap_pipeline_lag_messages gauge"
        );
        for ((source, partition), lag) in self.lag() {
            let _ = writeln!(
                out,
                "naap_pipeline_lag_messages{{source=\"{}\",partition=\"{partition}\"}} {lag}",
                escape(&source)
            );
        }
        self.chain_lines(&mut out);
        for (name, help, latency) in [
            (
                "naap_pipeline_commit_seconds",
                "Time one commit took.",
                &self.commit_seconds,
            ),
            (
                "naap_pipeline_queryable_seconds",
                "From a message's broker timestamp to the commit that made it queryable.",
                &self.queryable_after,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} summary");
            let Some(l) = latency else { continue };
            for q in [0.5, 0.9, 0.99] {
                if let Some(v) = l.quantile(q) {
                    let _ = writeln!(out, "{name}{{quantile=\"{q}\"}} {v}");
                }
            }
            let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", l.sum(), l.count());
        }
        self.health.prometheus(&mut out);
        out
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Snapshot {
    /// Streamr: each publisher's chain, its gaps and late arrivals.
    fn chain_lines(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP naap_pipeline_source_restarts_total Times a source's connection was started again.\n# TYPE naap_pipeline_source_restarts_total counter\nnaap_pipeline_source_restarts_total {}",
            self.source_restarts
        );
        for (name, kind, help, value) in [
            (
                "naap_pipeline_chain_gap_positions_total",
                "counter",
                "Chain positions a publisher skipped (messages the stream did not deliver in order).",
                (|c: &crate::chains::ChainProgress| c.gap_positions) as fn(&crate::chains::ChainProgress) -> u64,
            ),
            (
                "naap_pipeline_chain_recovered_positions_total",
                "counter",
                "Skipped positions that arrived later.",
                |c| c.recovered,
            ),
            (
                "naap_pipeline_chain_missing_positions",
                "gauge",
                "Skipped positions not arrived yet.",
                |c| c.outstanding(),
            ),
            (
                "naap_pipeline_chain_messages_total",
                "counter",
                "Messages seen per publisher.",
                |c| c.messages,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (chain, progress) in &self.chains {
                let (source, publisher) = chain.rsplit_once('/').unwrap_or((chain.as_str(), ""));
                let _ = writeln!(
                    out,
                    "{name}{{source=\"{}\",publisher=\"{}\"}} {}",
                    escape(source),
                    escape(publisher),
                    value(progress)
                );
            }
        }
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_counters_lag_and_latency() {
        let m = Metrics::default();
        let mut totals = Totals {
            messages_in: 10,
            events_in: 900,
            ..Default::default()
        };
        totals.quarantined_by_reason.insert("bad_signature".into(), 2);
        m.committed(&totals, 250);
        m.high_watermark("naap.telemetry.v1", 3, 15);
        m.made_queryable([(("naap.telemetry.v1".to_owned(), 3), 10)], [1000, 2000, 3000]);
        let text = m.snapshot().prometheus();
        assert!(text.contains("naap_pipeline_messages_consumed_total 10\n"), "{text}");
        assert!(text.contains("naap_pipeline_quarantined_total{reason=\"bad_signature\"} 2\n"));
        assert!(text.contains("naap_pipeline_lag_messages{source=\"naap.telemetry.v1\",partition=\"3\"} 5\n"));
        assert!(text.contains("naap_pipeline_queryable_seconds_count 3\n"), "{text}");
        let p50 = m
            .snapshot()
            .queryable_after
            .and_then(|l| l.quantile(0.5))
            .unwrap_or_default();
        assert!((p50 - 2.0).abs() < 0.05, "{p50}");
    }
}
