//! A Kafka producer whose sends resolve when the broker acknowledges: the
//! one producer of the agent, its backup and the message sinks.
//!
//! rdkafka's `FutureProducer` polls from its own thread in 100 ms calls,
//! and each call ends by spinning on non-blocking polls through its last
//! millisecond (its deadline is handed to librdkafka in whole
//! milliseconds): about half a percent of a core for an idle agent, its
//! largest cost. This producer polls in 1 s calls from one thread, so that
//! tail costs a tenth as much, while acknowledgements still arrive the
//! moment librdkafka reports them: each message carries a oneshot channel
//! as its delivery opaque, answered from the delivery report.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::oneshot;

use crate::kafka::Reporter;
use crate::sink::EncodedMessage;

/// How long one poll call waits for delivery reports (also the longest a
/// drop waits for the polling thread).
const POLL: Duration = Duration::from_secs(1);
/// How long a send waits for room in a full local queue, and how often it
/// tries again.
const QUEUE_FULL_WAIT: Duration = Duration::from_secs(30);
const QUEUE_FULL_RETRY: Duration = Duration::from_millis(50);

/// The producer's context: the reporter's view of the connections, and
/// each delivery report answered on its message's channel.
struct Acks(Reporter);

impl ClientContext for Acks {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.0.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.0.error(error, reason);
    }
}

impl ProducerContext for Acks {
    type DeliveryOpaque = Box<oneshot::Sender<KafkaResult<()>>>;

    fn delivery(&self, result: &DeliveryResult<'_>, ack: Self::DeliveryOpaque) {
        // The sender may have stopped waiting; nothing to tell then.
        let _ = ack.send(result.as_ref().map(|_| ()).map_err(|(e, _)| e.clone()));
    }
}

/// A producer and the thread that polls it.
pub struct AckedProducer {
    producer: Arc<BaseProducer<Acks>>,
    stop: Arc<AtomicBool>,
    poller: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for AckedProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckedProducer").finish_non_exhaustive()
    }
}

impl AckedProducer {
    /// A producer from `config`, reporting its connections to `reporter`.
    pub fn new(config: &ClientConfig, reporter: Reporter) -> KafkaResult<AckedProducer> {
        let producer: Arc<BaseProducer<Acks>> = Arc::new(config.create_with_context(Acks(reporter))?);
        let stop = Arc::new(AtomicBool::new(false));
        let poller = {
            let (producer, stop) = (Arc::clone(&producer), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("kafka-acks".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        producer.poll(POLL);
                    }
                })
                .map_err(|e| KafkaError::ClientCreation(format!("polling thread: {e}")))?
        };
        Ok(AckedProducer {
            producer,
            stop,
            poller: Some(poller),
        })
    }

    /// Sends `m` to `topic`; Ok once the broker acknowledged it, the error
    /// when it was refused or not acknowledged within the producer's
    /// `message.timeout.ms`.
    pub async fn send(&self, topic: &str, m: &EncodedMessage) -> KafkaResult<()> {
        let (ack, acked) = oneshot::channel();
        let mut headers = OwnedHeaders::new_with_capacity(m.headers.len());
        for (k, v) in &m.headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            });
        }
        let mut record = BaseRecord::with_opaque_to(topic, Box::new(ack))
            .key(&m.key)
            .payload(&m.value)
            .headers(headers)
            .timestamp(m.timestamp_ms);
        // A full local queue drains as the broker acknowledges: wait and
        // retry, for a while (as FutureProducer did). Any other refusal
        // (too large, unknown topic) comes back with its channel at once.
        let mut waited = Duration::ZERO;
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) if waited < QUEUE_FULL_WAIT => {
                    record = back;
                    tokio::time::sleep(QUEUE_FULL_RETRY).await;
                    waited += QUEUE_FULL_RETRY;
                }
                Err((e, _)) => return Err(e),
            }
        }
        acked.await.unwrap_or(Err(KafkaError::Canceled))
    }
}

impl Drop for AckedProducer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(poller) = self.poller.take() {
            let _ = poller.join();
        }
    }
}
