//! What was read and not committed yet: per partition, the windows, the
//! rows of each table, the quarantined messages and the event ids seen.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use tracing::warn;

use super::seal::Sealing;
use super::seal::hour_of;
use crate::PipelineConfig;
use crate::Result;
use crate::decode::{Decoded, Rows};
use crate::manifest::{PartitionProgress, Totals};
use crate::quarantine::QuarantineBuilder;
use crate::source::{PartitionKey, SourceMessage};
use crate::verify::Dedup;
use crate::window::{PartitionWindows, WINDOW_TABLE};
use naap_events::gateway_tables::GatewayTables;
use naap_events::livepeer::Envelope;

/// The uncommitted input of the partitions this process holds.
#[derive(Default)]
pub(crate) struct Input {
    pub(crate) parts: BTreeMap<PartitionKey, PartitionWindows>,
    pub(crate) quarantine: BTreeMap<PartitionKey, QuarantineBuilder>,
    /// Accepted rows of the sample families, per partition and table.
    pub(crate) samples: BTreeMap<PartitionKey, BTreeMap<&'static str, Vec<RecordBatch>>>,
    /// Event ids recently accepted, per partition (repeats are dropped).
    pub(crate) dedup: BTreeMap<PartitionKey, Dedup>,
    /// Accepted go-livepeer gateway events, per partition.
    pub(crate) gateway: BTreeMap<PartitionKey, GatewayTables>,
    /// Closed windows computed but not yet committed, per partition.
    pub(crate) closing: BTreeMap<PartitionKey, Vec<RecordBatch>>,
    pub(crate) uncommitted: Totals,
    pub(crate) pending_messages: u64,
    /// Broker timestamps of the messages the next commit covers.
    pub(crate) pending_timestamps: Vec<i64>,
    /// Publishers' chain positions (Streamr sources).
    pub(crate) chains: crate::chains::ChainLog,
}

impl Input {
    /// Takes one message in: decoded, deduplicated and windowed, or
    /// quarantined. A message that fails anywhere on the way is quarantined
    /// alone, with its reason; only the lake failing stops the pipeline.
    pub(crate) fn ingest(
        &mut self,
        mut msg: SourceMessage,
        config: &PipelineConfig,
        raw_schema: &SchemaRef,
        sealing: &mut Sealing,
    ) -> Result<()> {
        let key = (msg.source.clone(), msg.partition);
        let part = self
            .parts
            .entry(key.clone())
            .or_insert_with(|| PartitionWindows::new(PartitionProgress::default(), Vec::new()));
        if msg.routed {
            // A Streamr copy: no offset here (the Kafka copy has it).
            part.saw_copy();
        } else if msg.offset < part.progress.next_offset {
            // Already committed (a source re-delivering after a rebalance).
            return Ok(());
        } else {
            part.saw_offset(msg.offset);
        }
        self.pending_messages += 1;
        if let Some(t) = msg.timestamp_ms {
            self.pending_timestamps.push(t);
        }
        self.uncommitted.messages_in += 1;
        let decoded = msg.decoded.take().unwrap_or_else(|| config.decoder().decode(&msg));
        // A publisher's chain starts with a message naap accepts (signed,
        // where the source requires it), so strangers cannot make chains up;
        // from then on every message of it moves the chain.
        if let Some(chain) = &msg.chain
            && (!matches!(decoded, Decoded::Refused { .. }) || self.chains.follows(chain))
        {
            self.chains.observe(chain, super::now_ms());
        }
        let taken = match decoded {
            Decoded::Telemetry(rows) | Decoded::Sample(rows) => self.take_rows(&key, &msg, rows, config, raw_schema),
            Decoded::Gateway(envelope) => {
                self.take_gateway_event(&key, &msg, &envelope, sealing);
                Ok(())
            }
            Decoded::Refused { reason, detail } => {
                self.quarantine_message(key.clone(), &msg, reason, &detail);
                Ok(())
            }
        };
        match taken {
            Err(e) if !e.is_storage() => {
                self.quarantine_message(key, &msg, "unprocessable", &e.to_string());
                Ok(())
            }
            other => other,
        }
    }

    /// A go-livepeer gateway event: into the gateway tables, and its hour
    /// noted for sealing (or counted late, its hour being sealed already).
    fn take_gateway_event(
        &mut self,
        key: &PartitionKey,
        msg: &SourceMessage,
        envelope: &Envelope,
        sealing: &mut Sealing,
    ) {
        let t = envelope.timestamp_ms;
        let part = self.parts.get_mut(key).expect("inserted by ingest");
        part.progress.max_event_time_ms = Some(part.progress.max_event_time_ms.map_or(t, |m| m.max(t)));
        if sealing.is_sealed(t) {
            // Its hour is sealed: kept as a gateway event, not in the hourly tables.
            self.uncommitted.late_events += 1;
            note_late(&mut self.uncommitted, naap_sql::hourly::SLA_INPUTS, hour_of(t), 1);
        } else {
            sealing.saw_hour(hour_of(t));
        }
        // A malformed orchestrator entry is refused alone; the rest stand.
        for refused in &envelope.refused {
            self.quarantine_message(key.clone(), msg, refused.reason, &refused.detail);
        }
        self.gateway.entry(key.clone()).or_default().push(envelope);
        self.uncommitted.events_in += 1;
    }

    /// The accepted rows of one of naap's own messages: kept as samples, or
    /// windowed; the rows it refused are quarantined with the message.
    fn take_rows(
        &mut self,
        key: &PartitionKey,
        msg: &SourceMessage,
        rows: Rows,
        config: &PipelineConfig,
        raw_schema: &SchemaRef,
    ) -> Result<()> {
        let Rows {
            signer,
            family,
            batch,
            refused,
        } = rows;
        if let Some((reason, detail)) = refused {
            self.quarantine_message(key.clone(), msg, reason, &detail);
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let schema = if family == naap_events::Family::NodeTelemetryV1 {
            Arc::clone(raw_schema)
        } else {
            crate::verify::with_signer_schema(&family.schema())
        };
        let batch = crate::verify::add_signer(batch, &schema, signer.as_deref())?;
        let horizon = super::ms(config.dedup_horizon.max(config.allowed_lateness));
        let batch = if msg.chain.is_some() {
            // From a public stream, where anyone may replay an old signed
            // batch: what lies beyond the dedup horizon is refused.
            let (batch, old) = self
                .dedup
                .entry(key.clone())
                .or_default()
                .beyond_horizon(batch, horizon)?;
            if old > 0 {
                let detail = format!(
                    "{old} events more than {horizon} ms older than the newest event time seen: from a public \
                     stream, a repeat of an accepted event could not be told from a new one (--dedup-horizon)"
                );
                self.quarantine_message(key.clone(), msg, "beyond_dedup_horizon", &detail);
            }
            batch
        } else {
            batch
        };
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let (batch, repeats) = self.dedup.entry(key.clone()).or_default().filter(batch, horizon)?;
        self.uncommitted.duplicates += repeats;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if family != naap_events::Family::NodeTelemetryV1 {
            // Samples are kept as they are, one lake table per family.
            self.uncommitted.events_in += batch.num_rows() as u64;
            self.samples
                .entry(key.clone())
                .or_default()
                .entry(family.name())
                .or_default()
                .push(batch);
            return Ok(());
        }
        let rows = batch.num_rows() as u64;
        let part = self.parts.get_mut(key).expect("inserted by ingest");
        let late = part.add(batch, super::ms(config.allowed_lateness))?;
        self.uncommitted.events_in += rows;
        self.uncommitted.late_events += late;
        for (hour, n) in std::mem::take(&mut part.late_by_hour) {
            note_late(&mut self.uncommitted, WINDOW_TABLE, hour, n);
        }
        Ok(())
    }

    fn quarantine_message(&mut self, key: PartitionKey, msg: &SourceMessage, reason: &str, detail: &str) {
        // A Streamr copy placed in a Kafka partition is recorded as what it
        // is: the Streamr source's message of that arrival number.
        let routed;
        let msg = match &msg.chain {
            Some(chain) if msg.routed => {
                routed = SourceMessage {
                    source: chain.source.clone(),
                    partition: 0,
                    ..msg.clone()
                };
                &routed
            }
            _ => msg,
        };
        warn!(source = %msg.source, partition = msg.partition, offset = msg.offset, reason, error = %detail, "quarantined message");
        self.quarantine.entry(key).or_default().push(msg, reason, detail);
        self.uncommitted.quarantined += 1;
        *self
            .uncommitted
            .quarantined_by_reason
            .entry(reason.to_owned())
            .or_default() += 1;
    }

    /// Whether some partition has input not committed yet.
    pub(crate) fn has_pending(&self) -> bool {
        self.parts.values().any(PartitionWindows::has_pending)
    }

    /// Whether some open window lies before its partition's closing point.
    pub(crate) fn closes_something(&self) -> bool {
        self.parts.values().any(|p| {
            let Some(cb) = p.progress.closed_before_ms else {
                return false;
            };
            p.open.iter().any(|b| super::min_window(b).is_ok_and(|w| w < cb))
        })
    }

    /// Forgets everything of `key` (its partition went to another process).
    pub(crate) fn forget(&mut self, key: &PartitionKey) {
        self.parts.remove(key);
        self.dedup.remove(key);
        self.quarantine.remove(key);
        self.samples.remove(key);
        self.gateway.remove(key);
        self.closing.remove(key);
    }

    /// After a commit landed: the pending input is in the lake now.
    pub(crate) fn committed(&mut self) {
        self.uncommitted = Totals::default();
        self.closing.clear();
        self.chains.committed();
        self.pending_messages = 0;
        for part in self.parts.values_mut() {
            part.pending_raw.clear();
            part.first_pending_offset = None;
            part.committed_closed_before = part.progress.closed_before_ms;
        }
    }
}

/// Counts `n` late events against `table`'s folder of `hour`.
fn note_late(totals: &mut Totals, table: &str, hour: i64, n: u64) {
    let key = format!("{table}/{}", naap_sql::lake::hour_partition(hour));
    *totals.late_events_by_hour.entry(key).or_default() += n;
}
