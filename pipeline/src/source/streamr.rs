//! A Streamr stream, read through naap's sidecar (`streamr/`): every
//! message of the stream, from any publisher, in the order it arrives.
//!
//! All of a stream's messages form one input partition (partition 0 of the
//! source `streamr.<stream>`), numbered in arrival order from where the
//! last commit record left off: Streamr keeps no history here, so there is
//! nothing to re-read, and repeats are dropped by event id as they are from
//! Kafka. Each message also carries its publisher's chain position (the
//! agent's spool sequence number), from which the pipeline counts the
//! positions that never arrived (`crate::chains`). A payload that is not
//! one of naap's messages is quarantined with its publisher. The sidecar is
//! restarted when it dies; what the stream carried meanwhile shows up as
//! gaps.

use std::collections::BTreeMap;
use std::time::Duration;

use naap_events::framing;
use naap_streamr::sidecar::{Sidecar, SidecarConfig};
use naap_streamr::{Connection, FromSidecar, MessageHeader};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{
    CHUNK, CHUNK_BYTES, ChainRef, Check, Reader, SourceEvent, SourceMessage, StreamrSpec, decode_into, safe_name,
};
use crate::decode::Decoded;

/// The source name of `stream` in commit records and file names.
pub(crate) fn source_name(stream: &str) -> String {
    format!("streamr.{}", safe_name(stream))
}

/// Where accepted messages go when the stream is read beside Kafka: the
/// partition of `topic` their key maps to, as the producer's default
/// partitioner (librdkafka's `consistent_random`: CRC-32 of the key,
/// modulo the partition count) placed the Kafka copy.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) topic: String,
    pub(crate) partitions: i32,
}

impl Route {
    fn partition(&self, key: &[u8]) -> i32 {
        (crc32fast::hash(key) % self.partitions.max(1) as u32) as i32
    }
}

/// How long a partly filled chunk waits for more messages.
const LINGER: Duration = Duration::from_millis(50);

/// The reading loop: the sidecar, subscribed, restarted when it fails.
pub(super) fn reader(
    spec: StreamrSpec,
    route: Option<Route>,
    start: &BTreeMap<String, BTreeMap<i32, i64>>,
    check: Check,
    tx: mpsc::Sender<SourceEvent>,
    metrics: std::sync::Arc<crate::Metrics>,
) -> Reader {
    let name = source_name(&spec.stream);
    let next = start.get(&name).and_then(|p| p.get(&0)).copied().unwrap_or(0);
    Box::new(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "cannot start the Streamr reader's runtime");
                return;
            }
        };
        let mut feed = Feed {
            name,
            route,
            next,
            check,
            tx,
            chunk: Vec::new(),
            chunk_bytes: 0,
        };
        runtime.block_on(read(spec, &mut feed, &metrics));
    })
}

/// Numbers the messages and hands them over in chunks.
struct Feed {
    name: String,
    route: Option<Route>,
    /// The offset of the next message.
    next: i64,
    check: Check,
    tx: mpsc::Sender<SourceEvent>,
    chunk: Vec<SourceMessage>,
    chunk_bytes: usize,
}

impl Feed {
    fn push(&mut self, header: MessageHeader, payload: Vec<u8>) {
        let mut message = message(&self.name, self.next, header, payload);
        self.next += 1;
        self.chunk_bytes += message.payload.as_ref().map_or(0, Vec::len);
        if message.decoded.is_none() {
            // Checked as this source's (signatures required), wherever it goes.
            self.chunk_bytes += decode_into(&self.check, &mut message);
        }
        let accepted = !matches!(message.decoded, Some(Decoded::Refused { .. }));
        if let (Some(route), true, Some(key)) = (&self.route, accepted, &message.key) {
            message.partition = route.partition(key);
            message.source.clone_from(&route.topic);
            message.routed = true;
        }
        self.chunk.push(message);
    }

    fn full(&self) -> bool {
        self.chunk.len() >= CHUNK || self.chunk_bytes >= CHUNK_BYTES
    }

    /// False once the pipeline stopped listening.
    async fn flush(&mut self) -> bool {
        self.chunk_bytes = 0;
        if self.chunk.is_empty() {
            return !self.tx.is_closed();
        }
        let chunk = std::mem::take(&mut self.chunk);
        self.tx.send(SourceEvent::Messages(chunk)).await.is_ok()
    }
}

async fn read(spec: StreamrSpec, feed: &mut Feed, metrics: &crate::Metrics) {
    let mut config = SidecarConfig::new(spec.network.clone(), spec.socket.clone());
    config.loopback_only = spec.loopback_only;
    let mut delay = Duration::from_millis(500);
    loop {
        match subscribed(&config, &spec.stream).await {
            Ok((sidecar, mut connection)) => {
                info!(stream = %spec.stream, source = %feed.name, "subscribed to the Streamr stream");
                delay = Duration::from_millis(500);
                let outcome = receive(&mut connection, feed).await;
                sidecar.stop().await;
                match outcome {
                    Ok(()) => return,
                    Err(e) => {
                        metrics.source_restarted();
                        warn!(error = %e, "the Streamr sidecar failed; restarting it (messages meanwhile are counted as gaps)");
                    }
                }
            }
            Err(e) => {
                warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "cannot subscribe through the Streamr sidecar yet")
            }
        }
        if feed.tx.is_closed() {
            return;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

async fn subscribed(config: &SidecarConfig, stream: &str) -> Result<(Sidecar, Connection), naap_streamr::Error> {
    let (sidecar, mut connection) = Sidecar::start(config).await?;
    match connection.subscribe(stream).await {
        Ok(()) => Ok((sidecar, connection)),
        Err(e) => {
            sidecar.stop().await;
            Err(e)
        }
    }
}

/// Hands the stream's messages over until the pipeline stops listening
/// (`Ok`) or the sidecar fails.
async fn receive(connection: &mut Connection, feed: &mut Feed) -> Result<(), naap_streamr::Error> {
    loop {
        let frame = if feed.chunk.is_empty() {
            tokio::select! {
                frame = connection.next() => Some(frame?),
                _ = tokio::time::sleep(LINGER) => None,
            }
        } else {
            tokio::time::timeout(LINGER, connection.next()).await.ok().transpose()?
        };
        match frame {
            Some(FromSidecar::Message { header, payload }) => {
                feed.push(header, payload);
                if feed.full() && !feed.flush().await {
                    return Ok(());
                }
            }
            Some(_) => {}
            None => {
                if !feed.flush().await {
                    return Ok(());
                }
            }
        }
    }
}

/// One Streamr message as a source message: naap's record inside it, or
/// (not naap's) its bytes, refused with the publisher named.
fn message(source: &str, offset: i64, header: MessageHeader, payload: Vec<u8>) -> SourceMessage {
    let chain = header.position.map(|position| ChainRef {
        source: source.to_owned(),
        publisher: header.publisher.clone(),
        position,
    });
    match framing::decode_message(&payload) {
        Ok((meta, value)) => SourceMessage {
            source: source.to_owned(),
            partition: 0,
            offset,
            key: meta.key.map(String::into_bytes),
            headers: meta.headers,
            payload: Some(value),
            timestamp_ms: Some(header.timestamp),
            decoded: None,
            chain,
            routed: false,
        },
        Err(e) => SourceMessage {
            source: source.to_owned(),
            partition: 0,
            offset,
            key: None,
            headers: vec![("streamr-publisher".to_owned(), header.publisher.clone())],
            decoded: Some(Decoded::Refused {
                reason: "not_naap_message",
                detail: format!(
                    "a Streamr message from {} (chain {}, {}) is not a naap message: {e}",
                    header.publisher, header.msg_chain_id, header.sequence_number
                ),
            }),
            payload: Some(payload),
            timestamp_ms: Some(header.timestamp),
            chain,
            routed: false,
        },
    }
}
