//! Where messages come from: Kafka partitions or a message file.
//!
//! Each source runs on its own OS thread (librdkafka's poll and file reads
//! block) and hands chunks of messages to the pipeline through a bounded
//! channel, so a slow lake slows consumption instead of growing memory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::{Headers, Message};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::{Error, Result};

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
}

/// How the source's thread reads each message before handing it over.
pub(crate) type Check = std::sync::Arc<crate::decode::Decoder>;

/// Reads `message` and returns the memory that added (read-ahead counts it
/// with the payload).
fn decode_into(check: &Check, message: &mut SourceMessage) -> usize {
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
    },
    File {
        path: PathBuf,
        /// Messages per second, for tests that must stop a replay midway.
        rate: Option<u32>,
    },
}

impl SourceSpec {
    /// Names of the sources this spec reads, as the commit records name them.
    pub fn source_names(&self) -> Vec<String> {
        match self {
            SourceSpec::Kafka { topics, .. } => topics.clone(),
            SourceSpec::File { path, .. } => vec![file_source_name(path)],
        }
    }
}

fn file_source_name(path: &std::path::Path) -> String {
    let stem = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("file.{clean}")
}

/// Most messages in one chunk handed to the pipeline …
const CHUNK: usize = 512;
/// … and most bytes (payloads plus their decoded rows): with the channel's 16 chunks, at most 64 MiB
/// of read-ahead, whatever the message size.
const CHUNK_BYTES: usize = 4 << 20;

/// Starts reading; `start` maps source → partition → first offset to read.
pub(crate) fn spawn(
    spec: SourceSpec,
    start: BTreeMap<String, BTreeMap<i32, i64>>,
    format: InputFormat,
    check: Check,
    metrics: std::sync::Arc<crate::Metrics>,
) -> Result<(mpsc::Receiver<SourceEvent>, std::thread::JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel(16);
    let handle = match spec {
        SourceSpec::File { path, rate } => {
            let file = std::fs::File::open(&path).map_err(|source| Error::Io {
                path: path.display().to_string(),
                source,
            })?;
            let input = std::io::BufReader::new(file);
            let name = file_source_name(&path);
            let from = start.get(&name).and_then(|p| p.get(&0)).copied().unwrap_or(0);
            // A message file's magic is checked here, so a wrong file fails
            // the command instead of replaying nothing.
            let input = match format {
                InputFormat::LivepeerJson => FileInput::Lines(input),
                InputFormat::NaapIpc => {
                    FileInput::Records(naap_events::framing::RecordReader::new(input).map_err(|source| {
                        Error::Input {
                            path: path.display().to_string(),
                            source,
                        }
                    })?)
                }
            };
            std::thread::Builder::new()
                .name("naap-replay".into())
                .spawn(move || match input {
                    FileInput::Records(reader) => read_file(reader, name, from, path, FileFeed::new(tx, rate, check)),
                    FileInput::Lines(lines) => read_lines(lines, name, from, path, FileFeed::new(tx, rate, check)),
                })
                .map_err(|source| Error::Io {
                    path: "thread".into(),
                    source,
                })?
        }
        SourceSpec::Kafka {
            brokers,
            topics,
            options,
        } => {
            let handoff = Handoff {
                tx: options.scale_out.then(|| tx.clone()),
                generation: Default::default(),
            };
            let consumer = kafka_consumer(&brokers, &options, handoff)?;
            let scale_out = options.scale_out;
            std::thread::Builder::new()
                .name("naap-kafka".into())
                .spawn(move || read_kafka(consumer, topics, start, scale_out, check, tx, &metrics))
                .map_err(|source| Error::Io {
                    path: "thread".into(),
                    source,
                })?
        }
    };
    Ok((rx, handle))
}

/// A replay file, opened for its format.
enum FileInput {
    Records(naap_events::framing::RecordReader<std::io::BufReader<std::fs::File>>),
    Lines(std::io::BufReader<std::fs::File>),
}

/// Hands a file's messages to the pipeline in chunks, at most `rate` per second.
struct FileFeed {
    tx: mpsc::Sender<SourceEvent>,
    chunk: Vec<SourceMessage>,
    chunk_bytes: usize,
    rate: Option<u32>,
    check: Check,
    started: Instant,
    sent: u64,
}

impl FileFeed {
    fn new(tx: mpsc::Sender<SourceEvent>, rate: Option<u32>, check: Check) -> Self {
        Self {
            tx,
            chunk: Vec::with_capacity(CHUNK),
            chunk_bytes: 0,
            rate,
            check,
            started: Instant::now(),
            sent: 0,
        }
    }

    /// False once the pipeline stopped listening.
    fn push(&mut self, mut message: SourceMessage) -> bool {
        self.chunk_bytes += message.payload.as_ref().map_or(0, Vec::len);
        self.chunk_bytes += decode_into(&self.check, &mut message);
        self.chunk.push(message);
        self.sent += 1;
        let chunk_size = if self.rate.is_some() { 1 } else { CHUNK };
        let full = self.chunk.len() >= chunk_size || self.chunk_bytes >= CHUNK_BYTES;
        if full {
            self.chunk_bytes = 0;
        }
        if full
            && self
                .tx
                .blocking_send(SourceEvent::Messages(std::mem::take(&mut self.chunk)))
                .is_err()
        {
            return false;
        }
        if let Some(rate) = self.rate {
            let due = Duration::from_secs_f64(self.sent as f64 / f64::from(rate.max(1)));
            if let Some(wait) = due.checked_sub(self.started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        true
    }

    fn finish(self, path: &std::path::Path) {
        if !self.chunk.is_empty() {
            let _ = self.tx.blocking_send(SourceEvent::Messages(self.chunk));
        }
        info!(path = %path.display(), messages = self.sent, "replay input read to the end");
    }
}

fn read_file(
    mut reader: naap_events::framing::RecordReader<std::io::BufReader<std::fs::File>>,
    name: String,
    from: i64,
    path: PathBuf,
    mut feed: FileFeed,
) {
    loop {
        let offset = reader.position() as i64;
        let record = match reader.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                // The rest of the file cannot be framed; say so loudly and stop
                // here, keeping everything before.
                warn!(path = %path.display(), offset, error = %e, "replay input is corrupt; stopping at this record");
                break;
            }
        };
        if offset < from {
            continue;
        }
        let (meta, value) = record;
        let message = SourceMessage {
            source: name.clone(),
            partition: 0,
            offset,
            key: meta.key.map(String::into_bytes),
            headers: meta.headers,
            payload: Some(value),
            timestamp_ms: meta.timestamp_ms,
            decoded: None,
        };
        if !feed.push(message) {
            return;
        }
    }
    feed.finish(&path);
}

/// One message per line (NDJSON); the line number is the offset.
fn read_lines(input: impl std::io::BufRead, name: String, from: i64, path: PathBuf, mut feed: FileFeed) {
    for (offset, line) in input.split(b'\n').enumerate() {
        let offset = offset as i64;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                warn!(path = %path.display(), offset, error = %e, "replay input unreadable; stopping at this line");
                break;
            }
        };
        if offset < from {
            continue;
        }
        let message = SourceMessage {
            source: name.clone(),
            partition: 0,
            offset,
            key: None,
            headers: Vec::new(),
            payload: Some(line),
            timestamp_ms: None,
            decoded: None,
        };
        if !feed.push(message) {
            return;
        }
    }
    feed.finish(&path);
}

/// Hands partitions over at a rebalance (scale-out): the consumer thread
/// waits in the callback until the pipeline has committed a revoked
/// partition, or claimed an assigned one and said where to start.
struct Handoff {
    tx: Option<mpsc::Sender<SourceEvent>>,
    /// Bumped at every rebalance: messages polled before it and not yet
    /// handed over are dropped (their partition restarts at its committed offset).
    generation: std::sync::atomic::AtomicU64,
}

impl ClientContext for Handoff {}

impl ConsumerContext for Handoff {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let partitions: Vec<PartitionKey> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect();
        let Some(tx) = &self.tx else { return };
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let outcome = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let (reply, answer) = oneshot::channel();
                info!(partitions = ?partitions, "the consumer group assigned partitions");
                if tx.blocking_send(SourceEvent::Assigned { partitions, reply }).is_err() {
                    return;
                }
                // No answer: the pipeline stopped (or failed to claim); take nothing.
                let Ok(offsets) = answer.blocking_recv() else { return };
                for ((topic, partition), offset) in offsets {
                    if let Err(e) = tpl.set_partition_offset(&topic, partition, Offset::Offset(offset)) {
                        warn!(%topic, partition, error = %e, "cannot set the start offset");
                    }
                }
                consumer.assign(tpl)
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let (done, finished) = oneshot::channel();
                info!(partitions = ?partitions, "the consumer group revokes partitions");
                if tx.blocking_send(SourceEvent::Revoked { partitions, done }).is_ok() {
                    let _ = finished.blocking_recv();
                }
                consumer.unassign()
            }
            other => {
                warn!(error = ?other, "consumer group rebalance failed; releasing every partition");
                consumer.unassign()
            }
        };
        if let Err(e) = outcome {
            warn!(error = %e, "cannot apply the consumer group's assignment");
        }
    }
}

fn kafka_consumer(brokers: &str, options: &KafkaOptions, handoff: Handoff) -> Result<BaseConsumer<Handoff>> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            if options.group_id.is_empty() {
                "naap-pipeline"
            } else {
                &options.group_id
            },
        )
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        .set("queued.max.messages.kbytes", "65536");
    if options.scale_out {
        // Eager rebalancing: every partition is revoked (and committed)
        // before any is assigned again, so no two processes hold one.
        config.set("partition.assignment.strategy", "roundrobin");
    }
    for (k, v) in &options.properties {
        config.set(k, v);
    }
    config.create_with_context(handoff).map_err(|source| Error::Kafka {
        what: "create consumer".into(),
        source,
    })
}

/// Waits until every topic has partitions, then assigns them at the commit records' offsets.
fn assign(
    consumer: &BaseConsumer<Handoff>,
    topics: &[String],
    start: &BTreeMap<String, BTreeMap<i32, i64>>,
) -> std::result::Result<(), rdkafka::error::KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for topic in topics {
        let mut waited = 0;
        let partitions = loop {
            let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(5))?;
            let parts: Vec<i32> = md
                .topics()
                .iter()
                .filter(|t| t.name() == topic && t.error().is_none())
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            if !parts.is_empty() {
                break parts;
            }
            if waited % 10 == 0 {
                info!(%topic, "waiting for the topic to exist");
            }
            waited += 1;
            std::thread::sleep(Duration::from_millis(500));
        };
        for p in partitions {
            let offset = match start.get(topic).and_then(|m| m.get(&p)) {
                Some(o) => Offset::Offset(*o),
                None => Offset::Beginning,
            };
            tpl.add_partition_offset(topic, p, offset)?;
        }
    }
    info!(partitions = tpl.count(), "assigned partitions at the lake's offsets");
    consumer.assign(&tpl)
}

/// How often the brokers' high watermarks are read (for lag).
const WATERMARK_EVERY: Duration = Duration::from_secs(5);

fn read_kafka(
    consumer: BaseConsumer<Handoff>,
    topics: Vec<String>,
    start: BTreeMap<String, BTreeMap<i32, i64>>,
    scale_out: bool,
    check: Check,
    tx: mpsc::Sender<SourceEvent>,
    metrics: &crate::Metrics,
) {
    loop {
        let joined = if scale_out {
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            consumer.subscribe(&names).inspect(
                |()| info!(topics = ?topics, "joined the consumer group; partitions come with its assignments"),
            )
        } else {
            assign(&consumer, &topics, &start)
        };
        match joined {
            Ok(()) => break,
            Err(e) => {
                warn!(error = %e, "cannot assign partitions yet; retrying");
                if tx.is_closed() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut chunk_bytes = 0usize;
    let mut watermarks_read = Instant::now() - WATERMARK_EVERY;
    let generation = || consumer.context().generation.load(std::sync::atomic::Ordering::SeqCst);
    let mut chunk_generation = generation();
    loop {
        if tx.is_closed() {
            return;
        }
        if watermarks_read.elapsed() >= WATERMARK_EVERY {
            watermarks_read = Instant::now();
            if let Ok(assigned) = consumer.assignment() {
                for tp in assigned.elements() {
                    if let Ok((_, high)) = consumer.fetch_watermarks(tp.topic(), tp.partition(), Duration::from_secs(1))
                    {
                        metrics.high_watermark(tp.topic(), tp.partition(), high);
                    }
                }
            }
        }
        let polled = consumer.poll(Duration::from_millis(50));
        if generation() != chunk_generation {
            chunk.clear();
            chunk_bytes = 0;
            chunk_generation = generation();
        }
        match polled {
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| {
                                (
                                    h.key.to_owned(),
                                    h.value
                                        .map(|v| String::from_utf8_lossy(v).into_owned())
                                        .unwrap_or_default(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                chunk_bytes += m.payload().map_or(0, <[u8]>::len);
                chunk.push(SourceMessage {
                    source: m.topic().to_owned(),
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    headers,
                    payload: m.payload().map(<[u8]>::to_vec),
                    timestamp_ms: m.timestamp().to_millis(),
                    decoded: None,
                });
                if let Some(last) = chunk.last_mut() {
                    chunk_bytes += decode_into(&check, last);
                }
                if chunk.len() < CHUNK && chunk_bytes < CHUNK_BYTES {
                    continue;
                }
            }
            Some(Err(e)) => warn!(error = %e, "kafka consumer error"),
            None => {}
        }
        chunk_bytes = 0;
        if !chunk.is_empty()
            && tx
                .blocking_send(SourceEvent::Messages(std::mem::take(&mut chunk)))
                .is_err()
        {
            return;
        }
    }
}
