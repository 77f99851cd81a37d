//! Kafka partitions: all of a topic's (assigned at the lake's offsets), or
//! the consumer group's share of them (scale-out).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::{Headers, Message};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::{CHUNK, CHUNK_BYTES, Check, KafkaOptions, PartitionKey, Reader, SourceEvent, SourceMessage, decode_into};
use crate::{Error, Result};

/// Creates the consumer and returns its reading loop.
#[allow(clippy::too_many_arguments)]
pub(super) fn reader(
    brokers: &str,
    topics: Vec<String>,
    options: KafkaOptions,
    streamr: Option<super::StreamrSpec>,
    start: BTreeMap<String, BTreeMap<i32, i64>>,
    check: Check,
    tx: mpsc::Sender<SourceEvent>,
    metrics: std::sync::Arc<crate::Metrics>,
) -> Result<Reader> {
    let handoff = Handoff {
        tx: options.scale_out.then(|| tx.clone()),
        generation: Default::default(),
    };
    let consumer = kafka_consumer(brokers, &options, handoff)?;
    let scale_out = options.scale_out;
    Ok(Box::new(move || {
        let beside = streamr.and_then(|spec| {
            let topic = topics.first()?.clone();
            let partitions = partition_count(&consumer, &topic, &tx)?;
            info!(stream = %spec.stream, %topic, partitions, "reading the Streamr stream beside the topic");
            let route = super::streamr::Route { topic, partitions };
            let run = super::streamr::reader(spec, Some(route), &start, check.clone(), tx.clone(), metrics.clone());
            std::thread::Builder::new().name("naap-streamr".into()).spawn(run).ok()
        });
        read_kafka(consumer, topics, start, scale_out, check, tx, &metrics);
        if let Some(thread) = beside {
            let _ = thread.join();
        }
    }))
}

/// How many partitions `topic` has (waiting until it exists); `None` once
/// the pipeline stopped listening.
fn partition_count(consumer: &BaseConsumer<Handoff>, topic: &str, tx: &mpsc::Sender<SourceEvent>) -> Option<i32> {
    loop {
        if let Ok(md) = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) {
            let n = md
                .topics()
                .iter()
                .filter(|t| t.name() == topic && t.error().is_none())
                .map(|t| t.partitions().len())
                .sum::<usize>();
            if n > 0 {
                return i32::try_from(n).ok();
            }
        }
        if tx.is_closed() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
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
                    chain: None,
                    routed: false,
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
