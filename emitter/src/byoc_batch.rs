//! BYOC events waiting for their batch to close, and the messages they go
//! out in.
//!
//! A batch closes after the inbox's window or at its event count; its
//! events are then packed into as many `custom_event` messages as it takes
//! to keep each under the producer's [`MAX_MESSAGE_BYTES`]: a broker
//! refuses a larger message for ever, so one batch in one message would be
//! retried for ever and never delivered. An event too large for any
//! message is refused when it is posted (`413`), never accepted.

use naap_events::Family;
use naap_events::samples::{CustomEventBuilder, CustomEventFields, SampleOrigin};
use tracing::warn;

use crate::byoc::{Inbox, Submission};
use crate::heartbeat::{EmitStats, Node, now_ms};
use crate::sink::{EncodedMessage, Sink, SinkError, encode_batch};

/// The largest message value the emitter sends: under Kafka's default
/// `message.max.bytes` (1,000,000) and, with its key and headers, under
/// what one Streamr message carries (`naap_streamr::MAX_PAYLOAD`).
pub const MAX_MESSAGE_BYTES: usize = 960_000;

/// Room in a message for everything but the events' data: the Arrow schema,
/// headers, signature, and each event's envelope.
pub const MESSAGE_OVERHEAD_BYTES: usize = 16 * 1024;

/// Envelope bytes counted per event when packing (ids, source, type, …).
const EVENT_OVERHEAD_BYTES: usize = 512;

/// BYOC submissions waiting for their batch to close.
pub(crate) struct ByocBatch {
    pub(crate) inbox: Inbox,
    pending: Vec<Submission>,
    events: usize,
    pub(crate) flush_at: Option<tokio::time::Instant>,
    /// Per process, so that ids stay unique across restarts.
    nonce: u64,
    seq: u64,
}

/// One event's data and names, ready to pack.
struct Pending<'a> {
    name: &'a str,
    dataschema: &'a str,
    data: &'a str,
}

impl ByocBatch {
    pub(crate) fn new(inbox: Inbox) -> Self {
        Self {
            inbox,
            pending: Vec::new(),
            events: 0,
            flush_at: None,
            nonce: rand::random(),
            seq: 0,
        }
    }

    /// Queues a submission; true when the batch is full.
    pub(crate) fn add(&mut self, sub: Submission) -> bool {
        if self.pending.is_empty() {
            self.flush_at = Some(tokio::time::Instant::now() + self.inbox.batch_window);
        }
        self.events += sub.events.events.len();
        self.pending.push(sub);
        self.events >= self.inbox.max_batch
    }

    /// Spools the pending events as `custom_event` messages and answers
    /// every waiting request.
    pub(crate) async fn flush(&mut self, sink: &mut Sink, node: &Node, stats: &mut EmitStats) {
        self.flush_at = None;
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let count = std::mem::take(&mut self.events);
        let events: Vec<Pending<'_>> = pending
            .iter()
            .flat_map(|sub| {
                sub.events.events.iter().map(|data| Pending {
                    name: &sub.events.name,
                    dataschema: &sub.events.dataschema,
                    data,
                })
            })
            .collect();
        let sent = match self.messages(&events, node) {
            Ok(messages) => {
                let n = messages.len() as u64;
                sink.send(&messages).await.map(|()| n)
            }
            Err(e) => Err(e),
        };
        let answer = match sent {
            Ok(messages) => {
                stats.messages += messages;
                stats.events += count as u64;
                Ok(())
            }
            Err(e) => {
                warn!(events = count, error = %e, "BYOC events not stored; the senders are told to retry");
                Err(e.to_string())
            }
        };
        for sub in pending {
            let _ = sub.ack.send(answer.clone());
        }
    }

    /// The events packed into messages of at most [`MAX_MESSAGE_BYTES`].
    fn messages(&mut self, events: &[Pending<'_>], node: &Node) -> Result<Vec<EncodedMessage>, SinkError> {
        let budget = MAX_MESSAGE_BYTES - MESSAGE_OVERHEAD_BYTES;
        let mut out = Vec::new();
        let mut start = 0;
        while start < events.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < events.len()
                && (end == start || bytes + events[end].data.len() + EVENT_OVERHEAD_BYTES <= budget)
            {
                bytes += events[end].data.len() + EVENT_OVERHEAD_BYTES;
                end += 1;
            }
            let message = self.encode(&events[start..end], node)?;
            if message.value.len() > MAX_MESSAGE_BYTES {
                return Err(SinkError::TooLarge {
                    bytes: message.value.len(),
                    max: MAX_MESSAGE_BYTES,
                });
            }
            out.push(message);
            start = end;
        }
        Ok(out)
    }

    fn encode(&mut self, events: &[Pending<'_>], node: &Node) -> Result<EncodedMessage, SinkError> {
        let t = now_ms();
        let source = format!("/naap/{}/{}/byoc", node.orchestrator, node.node_id);
        let mut b = CustomEventBuilder::default();
        for event in events {
            self.seq += 1;
            let ce_id = format!("{:016x}-{}", self.nonce, self.seq);
            let origin = SampleOrigin {
                event_id: format!("byoc-{}-{}-{ce_id}", node.orchestrator, node.node_id)
                    .parse()
                    .unwrap_or_else(|_| {
                        format!("byoc-{ce_id}")
                            .parse()
                            .expect("hex and digits form an event id")
                    }),
                event_time_ms: t,
                orchestrator: node.orchestrator.clone(),
                node_id: node.node_id.clone(),
                region: node.region.clone(),
            };
            b.push(
                &origin,
                &CustomEventFields {
                    id: ce_id,
                    source: source.clone(),
                    event_type: event.name.to_owned(),
                    dataschema: event.dataschema.to_owned(),
                    data_json: event.data.to_owned(),
                },
            );
        }
        encode_batch(node.orchestrator.as_str(), Family::CustomEventV1, &b.finish(), t)
    }
}
