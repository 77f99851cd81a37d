//! Publishers' chain positions on a Streamr source: where each publisher's
//! messages stand, the positions that were skipped (a gap: a message the
//! stream never delivered), and the skipped ones that arrived after all
//! (the agent re-sends what the sidecar did not confirm). A chain's state
//! is in every commit record, like a Kafka offset; each gap is a row of the
//! `stream_gaps` table and counted in `/metrics`, never silent.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, StringBuilder, TimestampMillisecondBuilder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::source::ChainRef;

/// Lake table of gaps.
pub const GAPS_TABLE: &str = naap_events::tables::STREAM_GAPS.name;

/// Skipped ranges kept per publisher; older ones are given up on (they
/// stay counted as gaps).
const MAX_MISSING: usize = 1024;
/// Publishers followed; messages of more are taken in without a chain
/// (and said so), so a flood of publishers cannot grow the commit record.
const MAX_CHAINS: usize = 10_000;

/// Where one publisher's chain stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainProgress {
    /// The position after the highest one seen.
    pub next: u64,
    /// Messages seen (repeats included).
    pub messages: u64,
    /// Positions ever skipped.
    pub gap_positions: u64,
    /// Skipped positions that arrived later.
    pub recovered: u64,
    /// Skipped positions not arrived yet, as `[from, to)` ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<(u64, u64)>,
}

impl ChainProgress {
    /// Positions skipped and not arrived (yet).
    pub fn outstanding(&self) -> u64 {
        self.missing.iter().fold(0u64, |n, (a, b)| n.saturating_add(b - a))
    }

    /// Takes `position` in; returns the range it skipped, if any.
    fn observe(&mut self, position: u64) -> Option<(u64, u64)> {
        self.messages = self.messages.saturating_add(1);
        if self.messages == 1 {
            // A publisher's first message: what came before it went elsewhere.
            self.next = position.saturating_add(1);
            return None;
        }
        if position >= self.next {
            let skipped = (position > self.next).then_some((self.next, position));
            if let Some((from, to)) = skipped {
                self.gap_positions = self.gap_positions.saturating_add(to - from);
                self.missing.push((from, to));
                if self.missing.len() > MAX_MISSING {
                    self.missing.remove(0);
                }
            }
            self.next = position.saturating_add(1);
            return skipped;
        }
        if let Some(i) = self.missing.iter().position(|(a, b)| (*a..*b).contains(&position)) {
            let (a, b) = self.missing[i];
            self.missing.remove(i);
            if position + 1 < b {
                self.missing.insert(i, (position + 1, b));
            }
            if a < position {
                self.missing.insert(i, (a, position));
            }
            self.recovered = self.recovered.saturating_add(1);
        }
        None
    }
}

/// Every publisher's chain, by `<source>/<publisher>`.
pub type Chains = BTreeMap<String, ChainProgress>;

/// The chains of a run, and the gaps seen since the last commit.
#[derive(Debug, Default)]
pub(crate) struct ChainLog {
    pub(crate) chains: Chains,
    gaps: Vec<Gap>,
    full_reported: bool,
}

#[derive(Debug)]
struct Gap {
    source: String,
    publisher: String,
    from: u64,
    to: u64,
    detected_at_ms: i64,
}

impl ChainLog {
    pub(crate) fn new(chains: Chains) -> Self {
        ChainLog {
            chains,
            gaps: Vec::new(),
            full_reported: false,
        }
    }

    /// Whether `chain`'s publisher is followed already.
    pub(crate) fn follows(&self, chain: &ChainRef) -> bool {
        self.chains
            .contains_key(&format!("{}/{}", chain.source, chain.publisher))
    }

    /// Takes in a message's chain position.
    pub(crate) fn observe(&mut self, chain: &ChainRef, now_ms: i64) {
        let (source, key) = (&chain.source, format!("{}/{}", chain.source, chain.publisher));
        if self.chains.len() >= MAX_CHAINS && !self.chains.contains_key(&key) {
            if !self.full_reported {
                self.full_reported = true;
                warn!(
                    publishers = self.chains.len(),
                    "following as many publishers' chains as allowed; new publishers' gaps are not counted"
                );
            }
            return;
        }
        let progress = self.chains.entry(key).or_default();
        if let Some((from, to)) = progress.observe(chain.position) {
            warn!(source, publisher = %chain.publisher, from, to, "positions missing from a publisher's chain");
            self.gaps.push(Gap {
                source: source.clone(),
                publisher: chain.publisher.clone(),
                from,
                to,
                detected_at_ms: now_ms,
            });
        }
    }

    /// The gaps since the last commit, as rows of the gaps table.
    pub(crate) fn gap_rows(&self) -> Option<RecordBatch> {
        if self.gaps.is_empty() {
            return None;
        }
        let (mut source, mut publisher) = (StringBuilder::new(), StringBuilder::new());
        let (mut from, mut to, mut positions) = (UInt64Builder::new(), UInt64Builder::new(), UInt64Builder::new());
        let mut detected = TimestampMillisecondBuilder::new();
        for g in &self.gaps {
            source.append_value(&g.source);
            publisher.append_value(&g.publisher);
            from.append_value(g.from);
            to.append_value(g.to);
            positions.append_value(g.to - g.from);
            detected.append_value(g.detected_at_ms);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(source.finish()),
            Arc::new(publisher.finish()),
            Arc::new(from.finish()),
            Arc::new(to.finish()),
            Arc::new(positions.finish()),
            Arc::new(detected.finish().with_timezone("UTC")),
        ];
        Some(RecordBatch::try_new(Arc::clone(&SCHEMA), columns).expect("builders follow SCHEMA column for column"))
    }

    /// After a commit: its gaps are in the lake.
    pub(crate) fn committed(&mut self) {
        self.gaps.clear();
    }
}

/// One row per gap: a publisher's positions `[from_position, to_position)`
/// that had not arrived when a later one did.
pub static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("publisher", DataType::Utf8, false),
        Field::new("from_position", DataType::UInt64, false),
        Field::new("to_position", DataType::UInt64, false),
        Field::new("positions", DataType::UInt64, false),
        Field::new(
            "detected_at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
    ]))
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_counted_and_late_arrivals_recovered() {
        let mut c = ChainProgress::default();
        for p in [10, 11, 12] {
            assert_eq!(c.observe(p), None);
        }
        assert_eq!(c.observe(16), Some((13, 16)));
        assert_eq!((c.gap_positions, c.outstanding()), (3, 3));
        // 14 arrives late (re-sent), 12 again (a repeat: nothing changes).
        assert_eq!(c.observe(14), None);
        assert_eq!(c.observe(12), None);
        assert_eq!(c.missing, vec![(13, 14), (15, 16)]);
        assert_eq!((c.gap_positions, c.recovered, c.outstanding()), (3, 1, 2));
        assert_eq!(c.next, 17);
        assert_eq!(c.messages, 6);
    }

    #[test]
    fn missing_ranges_stay_bounded() {
        let mut c = ChainProgress::default();
        c.observe(0);
        for i in 1..=(MAX_MISSING as u64 + 10) {
            c.observe(i * 2);
        }
        assert_eq!(c.missing.len(), MAX_MISSING);
        assert_eq!(c.gap_positions, MAX_MISSING as u64 + 10);
    }

    #[test]
    fn positions_at_the_top_of_the_range_neither_overflow_nor_wrap() {
        let mut c = ChainProgress::default();
        c.observe(0);
        assert_eq!(c.observe(u64::MAX), Some((1, u64::MAX)));
        assert_eq!(c.next, u64::MAX);
        assert_eq!(c.observe(u64::MAX), None);
        c.observe(5);
        assert_eq!(c.outstanding(), u64::MAX - 2);
        assert_eq!(c.recovered, 1);
    }
}
