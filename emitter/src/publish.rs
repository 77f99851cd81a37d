//! Delivery of spooled messages to Kafka, with a backup cluster (and,
//! beside or instead of Kafka, to Streamr: [`crate::transports`]).
//!
//! [`drain`] runs beside the collectors: it takes the oldest messages from
//! the spool, sends them to the primary cluster and removes them once
//! acknowledged. When the primary fails, the same messages go to the backup
//! bootstrap list (if any), which is used for a while before the primary is
//! tried again. When both fail, the messages stay spooled and delivery backs
//! off; the collectors never wait for the broker.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::acked::AckedProducer;
use crate::kafka::{Properties, Reporter};
use crate::sink::{EncodedMessage, SinkError, create_topic};
use crate::spool::{Spool, SpoolStats};
use crate::transports::Transports;

/// How long the backup is preferred after the primary failed.
const PRIMARY_RETRY: Duration = Duration::from_secs(30);
/// Messages sent per round.
const ROUND: usize = 64;

/// Producers for the primary and (optional) backup clusters.
pub struct Delivery {
    primary: AckedProducer,
    /// What the primary's connections reported.
    reporter: Reporter,
    backup: Option<AckedProducer>,
    topic: String,
    primary_failed_at: Option<Instant>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("topic", &self.topic)
            .field("backup", &self.backup.is_some())
            .finish()
    }
}

/// The producer settings of every naap producer: `properties` (TLS, SASL,
/// …) over `brokers`; a message not acknowledged within `timeout` fails.
pub(crate) fn producer_config(brokers: &str, properties: &Properties, timeout: Duration) -> ClientConfig {
    let mut config = properties.client(brokers);
    config
        .set("linger.ms", "5")
        // Kafka's default; values stay under MAX_MESSAGE_BYTES, leaving room
        // for the key and headers.
        .set("message.max.bytes", "1000000")
        .set("message.timeout.ms", timeout.as_millis().to_string())
        // The value is already zstd-compressed Arrow IPC.
        .set("compression.type", "none");
    config
}

fn producer(
    brokers: &str,
    properties: &Properties,
    timeout: Duration,
    reporter: Reporter,
) -> Result<(ClientConfig, AckedProducer), SinkError> {
    let config = producer_config(brokers, properties, timeout);
    let producer = AckedProducer::new(&config, reporter).map_err(|source| SinkError::Kafka {
        what: "create producer",
        source,
    })?;
    Ok((config, producer))
}

impl Delivery {
    /// Producers for `primary` (and `backup`); a message not acknowledged
    /// within `timeout` counts as failed and stays spooled.
    pub fn new(
        primary: &str,
        backup: Option<&str>,
        properties: &Properties,
        topic: &str,
        timeout: Duration,
        create_partitions: Option<i32>,
    ) -> Result<Delivery, SinkError> {
        let reporter = Reporter::default();
        let (config, primary) = producer(primary, properties, timeout, reporter.clone())?;
        if let Some(partitions) = create_partitions {
            // In the background: the broker may be down, and collection
            // must start anyway.
            let topic = topic.to_owned();
            tokio::spawn(async move {
                if let Err(e) = create_topic(&config, &topic, partitions).await {
                    warn!(%topic, error = %e, "could not create the topic");
                }
            });
        }
        let backup = backup
            .map(|b| producer(b, properties, timeout, Reporter::default()).map(|(_, p)| p))
            .transpose()?;
        Ok(Delivery {
            primary,
            reporter,
            backup,
            topic: topic.to_owned(),
            primary_failed_at: None,
        })
    }

    /// The newest connection problem of the primary producer.
    pub fn last_problem(&self) -> Option<String> {
        self.reporter.last_problem()
    }

    async fn send_with(producer: &AckedProducer, topic: &str, batch: &[(u64, EncodedMessage)]) -> Vec<bool> {
        let sends = batch.iter().map(|(_, m)| producer.send(topic, m));
        futures::future::join_all(sends)
            .await
            .into_iter()
            .map(|r| r.is_ok())
            .collect()
    }

    /// Sends `batch`; returns the sequence numbers acknowledged.
    pub(crate) async fn send(&mut self, batch: &[(u64, EncodedMessage)]) -> Vec<u64> {
        let prefer_backup =
            self.backup.is_some() && self.primary_failed_at.is_some_and(|at| at.elapsed() < PRIMARY_RETRY);
        let mut pending: Vec<(u64, EncodedMessage)> = batch.to_vec();
        let mut acked = Vec::new();
        let order: Vec<bool> = if prefer_backup {
            vec![true, false]
        } else {
            vec![false, true]
        };
        for use_backup in order {
            let Some(producer) = (if use_backup {
                self.backup.as_ref()
            } else {
                Some(&self.primary)
            }) else {
                continue;
            };
            let ok = Self::send_with(producer, &self.topic, &pending).await;
            let mut rest = Vec::new();
            for (delivered, item) in ok.into_iter().zip(pending) {
                if delivered {
                    acked.push(item.0);
                } else {
                    rest.push(item);
                }
            }
            if !use_backup {
                if rest.is_empty() {
                    if self.primary_failed_at.take().is_some() {
                        info!("primary cluster is back");
                    }
                } else if self.primary_failed_at.is_none() {
                    warn!(
                        failed = rest.len(),
                        backup = self.backup.is_some(),
                        "primary cluster did not acknowledge; messages stay spooled"
                    );
                    self.primary_failed_at = Some(Instant::now());
                }
            }
            pending = rest;
            if pending.is_empty() {
                break;
            }
        }
        acked
    }
}

/// Delivers the spool until `stop` is set, then keeps delivering until the
/// spool is empty or `flush_timeout` has passed. Returns the spool's counters.
/// What the operator is told about delivery: the first acknowledgement,
/// and while the broker does not acknowledge, every minute how much waits
/// in the spool (a WARN: nothing is lost), then when it recovers.
#[derive(Default)]
struct Outage {
    acknowledged_once: bool,
    since: Option<Instant>,
    reported: Option<Instant>,
}

/// How often an outage is reported.
const OUTAGE_REPORT: Duration = Duration::from_secs(60);

impl Outage {
    fn after_send(&mut self, acked: usize, all: bool, waiting: usize, oldest_ms: Option<i64>, problem: Option<String>) {
        if acked > 0 && !self.acknowledged_once {
            self.acknowledged_once = true;
            info!(acknowledged = acked, "first batch acknowledged by the broker");
        }
        if all {
            if let Some(since) = self.since.take() {
                info!(
                    outage_s = since.elapsed().as_secs(),
                    waiting, "the broker acknowledges again; delivering what the spool kept"
                );
            }
            self.reported = None;
            return;
        }
        let since = *self.since.get_or_insert_with(Instant::now);
        let due = self.reported.is_none_or(|at| at.elapsed() >= OUTAGE_REPORT);
        if due && since.elapsed() >= Duration::from_secs(5) {
            self.reported = Some(Instant::now());
            let oldest_age_s = oldest_ms.map(|ms| (crate::heartbeat::now_ms() - ms).max(0) / 1000);
            warn!(
                waiting,
                oldest_age_s,
                outage_s = since.elapsed().as_secs(),
                problem = problem.as_deref().unwrap_or("no acknowledgement"),
                "the broker does not acknowledge; the spool keeps every message and retries"
            );
        }
    }
}

pub async fn drain(
    spool: Arc<Mutex<Spool>>,
    wake: Arc<Notify>,
    mut delivery: Transports,
    mut stop: watch::Receiver<bool>,
    flush_timeout: Duration,
) -> Result<SpoolStats, SinkError> {
    let mut backoff = Duration::from_millis(200);
    let mut stop_deadline: Option<Instant> = None;
    let mut outage = Outage::default();
    delivery.start().await;
    loop {
        if stop_deadline.is_none() && *stop.borrow() {
            stop_deadline = Some(Instant::now() + flush_timeout);
        }
        let batch = spool.lock().unwrap_or_else(|e| e.into_inner()).peek(ROUND)?;
        if batch.is_empty() {
            if stop_deadline.is_some() {
                break;
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = stop.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            continue;
        }
        if stop_deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let acked = delivery.send(&batch).await;
        let all = acked.len() == batch.len();
        spool.lock().unwrap_or_else(|e| e.into_inner()).ack(&acked)?;
        let waiting = spool.lock().unwrap_or_else(|e| e.into_inner()).len();
        let oldest = batch.first().map(|(_, m)| m.timestamp_ms);
        outage.after_send(acked.len(), all, waiting, oldest, delivery.last_problem());
        if all {
            backoff = Duration::from_millis(200);
        } else {
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
    delivery.stop().await;
    let spool = spool.lock().unwrap_or_else(|e| e.into_inner());
    if !spool.is_empty() {
        warn!(
            pending = spool.len(),
            bytes = spool.bytes(),
            "stopping with undelivered messages; they stay spooled for the next start"
        );
    }
    Ok(spool.stats())
}
