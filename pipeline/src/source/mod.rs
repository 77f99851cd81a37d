//! Where messages come from: Kafka partitions, a message file, or a
//! Streamr stream.
//!
//! Each source runs on its own OS thread (librdkafka's poll and file reads
//! block) and hands chunks of messages to the pipeline through a bounded
//! channel, so a slow lake slows consumption instead of growing memory.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};

use crate::{Error, Result};

mod file;
mod kafka;
mod streamr;

/// One message as read from a source.
#[derive(Debug, Clone)]
pub struct SourceMessage {
    pub source: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub headers: Vec<(String, String)>,
    pub payload: Option<Vec<u8>>,
    pub timestamp_ms: Option<i64>,
    /// What it holds, read on the source's thread.
    pub(crate) decoded: Option<crate::decode::Decoded>,
    /// A Streamr message's publisher and chain position.
    pub chain: Option<ChainRef>,
    /// A Streamr copy of a message placed in the Kafka partition its key
    /// maps to (both transports read at once): it has no offset there.
    pub routed: bool,
}

/// Where a Streamr message stands in its publisher's chain: the agent's
/// spool sequence number, one more with each message it publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRef {
    /// The Streamr source (`streamr.<stream>`) it arrived on.
    pub source: String,
    /// The Streamr publisher (the sidecar's address).
    pub publisher: String,
    pub position: u64,
}

/// How the source's thread reads each message before handing it over.
pub(crate) type Check = std::sync::Arc<crate::decode::Decoder>;

/// Reads `message` and returns the memory that added (read-ahead counts it
/// with the payload).
pub(super) fn decode_into(check: &Check, message: &mut SourceMessage) -> usize {
    let decoded = check.decode(message);
    let size = decoded.memory(message.payload.as_ref().map_or(0, Vec::len));
    message.decoded = Some(decoded);
    size
}

impl SourceMessage {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A source partition: topic (or file source name) and partition number.
pub(crate) type PartitionKey = (String, i32);

/// What a source hands to the pipeline, in order.
#[derive(Debug)]
pub(crate) enum SourceEvent {
    Messages(Vec<SourceMessage>),
    /// The consumer group gave this process these partitions: the pipeline
    /// claims them in a commit record and answers with the offset to start each at.
    Assigned {
        partitions: Vec<PartitionKey>,
        reply: oneshot::Sender<BTreeMap<PartitionKey, i64>>,
    },
    /// The group takes these partitions away: the pipeline commits what it
    /// read of them, lets them go, then answers.
    Revoked {
        partitions: Vec<PartitionKey>,
        done: oneshot::Sender<()>,
    },
}

/// How message values are encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InputFormat {
    /// naap's Arrow IPC batches with schema headers (`naap emit`); files are message files.
    #[default]
    NaapIpc,
    /// go-livepeer gateway JSON envelopes, as gateways publish them; files are NDJSON.
    LivepeerJson,
}

/// Extra Kafka settings.
#[derive(Debug, Clone, Default)]
pub struct KafkaOptions {
    /// Consumer group, used for lag monitoring only: offsets of record live in the lake's commit records.
    pub group_id: String,
    /// Raw librdkafka properties (`security.protocol`, `sasl.*`, …).
    pub properties: BTreeMap<String, String>,
    /// Join the consumer group and read only the partitions it assigns,
    /// sharing the topics with the group's other `naap pipeline` processes;
    /// otherwise read every partition.
    pub scale_out: bool,
}

/// What to read.
#[derive(Debug, Clone)]
pub enum SourceSpec {
    Kafka {
        brokers: String,
        topics: Vec<String>,
        options: KafkaOptions,
        /// A Streamr stream read beside the topics: each of its messages
        /// joins the partition of the first topic its key maps to (as the
        /// producer's partitioner places it), where the Kafka copy's
        /// repeat is dropped by event id; whichever arrives first counts.
        streamr: Option<StreamrSpec>,
    },
    File {
        path: PathBuf,
        /// Messages per second, for tests that must stop a replay midway.
        rate: Option<u32>,
    },
    /// A Streamr stream, through naap's sidecar.
    Streamr(StreamrSpec),
}

/// A Streamr stream to subscribe to.
#[derive(Debug, Clone)]
pub struct StreamrSpec {
    /// The stream id (`<owner>/<path>`).
    pub stream: String,
    /// The network (contracts, entry points), as `streamr/src/env.mjs` writes it.
    pub network: PathBuf,
    /// Where the sidecar's socket goes.
    pub socket: PathBuf,
    /// Refuse every connection beyond loopback (offline tests).
    pub loopback_only: bool,
}

impl SourceSpec {
    /// Names of the sources this spec reads, as the commit records name them.
    pub fn source_names(&self) -> Vec<String> {
        match self {
            SourceSpec::Kafka { topics, streamr, .. } => {
                let beside = streamr.iter().map(|s| streamr::source_name(&s.stream));
                topics.iter().cloned().chain(beside).collect()
            }
            SourceSpec::File { path, .. } => vec![file_source_name(path)],
            SourceSpec::Streamr(spec) => vec![streamr::source_name(&spec.stream)],
        }
    }
}

pub(super) fn file_source_name(path: &std::path::Path) -> String {
    let stem = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("file.{}", safe_name(&stem))
}

/// `name` with every character a file name must not hold as `_`.
pub(super) fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Most messages in one chunk handed to the pipeline …
pub(super) const CHUNK: usize = 512;
/// … and most bytes (payloads plus their decoded rows): with the channel's 16 chunks, at most 64 MiB
/// of read-ahead, whatever the message size.
pub(super) const CHUNK_BYTES: usize = 4 << 20;

/// A source's reading loop, run on its thread.
type Reader = Box<dyn FnOnce() + Send>;

/// Starts reading; `start` maps source → partition → first offset to read.
pub(crate) fn spawn(
    spec: SourceSpec,
    start: BTreeMap<String, BTreeMap<i32, i64>>,
    format: InputFormat,
    check: Check,
    metrics: std::sync::Arc<crate::Metrics>,
) -> Result<(mpsc::Receiver<SourceEvent>, std::thread::JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel(16);
    // Each reads on a thread of its own (librdkafka's poll and file reads block).
    let (name, run): (&str, Reader) = match spec {
        SourceSpec::File { path, rate } => ("naap-replay", file::reader(path, rate, &start, format, check, tx)?),
        SourceSpec::Kafka {
            brokers,
            topics,
            options,
            streamr,
        } => (
            "naap-kafka",
            kafka::reader(&brokers, topics, options, streamr, start, check, tx, metrics)?,
        ),
        SourceSpec::Streamr(spec) => ("naap-streamr", streamr::reader(spec, None, &start, check, tx, metrics)),
    };
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(run)
        .map_err(|source| Error::Io {
            path: "thread".into(),
            source,
        })?;
    Ok((rx, handle))
}
