//! Where batches go: a Kafka topic, the durable spool, or a message file.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use naap_events::framing::{self, MessageMeta};
use naap_events::telemetry::{TelemetryBatchBuilder, TelemetryEvent};
use naap_events::{Family, HEADER_SCHEMA, HEADER_SCHEMA_VERSION};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::Notify;

use crate::spool::{Spool, SpoolError};

/// Why a batch could not be published.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("kafka {what}: {source}")]
    Kafka {
        what: &'static str,
        source: rdkafka::error::KafkaError,
    },
    #[error("encoding a batch: {0}")]
    Encode(#[from] arrow::error::ArrowError),
    #[error("writing {path}: {source}")]
    File { path: String, source: std::io::Error },
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("a message of {bytes} bytes is larger than the producer sends ({max})")]
    TooLarge { bytes: usize, max: usize },
}

/// A message ready to publish: key, headers and Arrow IPC value.
#[derive(Debug, Clone)]
pub struct EncodedMessage {
    pub key: String,
    pub headers: Vec<(String, String)>,
    pub value: Vec<u8>,
    pub timestamp_ms: i64,
}

/// Encodes one batch of `family` as one message keyed by `key`.
pub fn encode_batch(
    key: &str,
    family: Family,
    batch: &RecordBatch,
    timestamp_ms: i64,
) -> Result<EncodedMessage, SinkError> {
    Ok(EncodedMessage {
        key: key.to_owned(),
        headers: vec![
            (HEADER_SCHEMA.to_owned(), family.name().to_owned()),
            (HEADER_SCHEMA_VERSION.to_owned(), family.version().to_string()),
        ],
        value: naap_events::ipc::encode(batch)?,
        timestamp_ms,
    })
}

/// Encodes one orchestrator's events as one message.
pub fn encode_message(key: &str, events: &[TelemetryEvent]) -> Result<EncodedMessage, SinkError> {
    let mut builder = TelemetryBatchBuilder::default();
    events.iter().for_each(|e| builder.push(e));
    let batch: RecordBatch = builder.finish();
    let family = Family::NodeTelemetryV1;
    Ok(EncodedMessage {
        key: key.to_owned(),
        headers: vec![
            (HEADER_SCHEMA.to_owned(), family.name().to_owned()),
            (HEADER_SCHEMA_VERSION.to_owned(), family.version().to_string()),
        ],
        value: naap_events::ipc::encode(&batch)?,
        timestamp_ms: events.iter().map(|e| e.event_time_ms).max().unwrap_or_default(),
    })
}

/// Adds the signature headers of `signer` to a message.
pub fn sign_message(m: &mut EncodedMessage, signer: &naap_events::signing::Signer) {
    let header = |name: &str| {
        m.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let signature = signer.sign(&header(HEADER_SCHEMA), &header(HEADER_SCHEMA_VERSION), &m.key, &m.value);
    m.headers
        .retain(|(k, _)| k != naap_events::signing::HEADER_SIGNATURE && k != naap_events::signing::HEADER_SIGNER);
    m.headers
        .push((naap_events::signing::HEADER_SIGNATURE.to_owned(), signature));
    m.headers.push((
        naap_events::signing::HEADER_SIGNER.to_owned(),
        signer.address().to_owned(),
    ));
}

enum Target {
    Kafka {
        producer: crate::acked::AckedProducer,
        topic: String,
    },
    File {
        writer: BufWriter<std::fs::File>,
        path: String,
    },
    Spool {
        spool: Arc<Mutex<Spool>>,
        wake: Arc<Notify>,
    },
}

/// A destination for messages, signing them when given a key.
pub struct Sink {
    target: Target,
    signer: Option<naap_events::signing::Signer>,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let signer = self.signer.as_ref().map(|s| s.address());
        match &self.target {
            Target::Kafka { topic, .. } => write!(f, "Sink::Kafka({topic}, signer {signer:?})"),
            Target::File { path, .. } => write!(f, "Sink::File({path}, signer {signer:?})"),
            Target::Spool { .. } => write!(f, "Sink::Spool(signer {signer:?})"),
        }
    }
}

impl Sink {
    /// A Kafka producer for `topic`; with `create_partitions`, first creates
    /// the topic with that many partitions if it is missing.
    pub async fn kafka(
        brokers: &str,
        properties: &crate::kafka::Properties,
        topic: &str,
        create_partitions: Option<i32>,
    ) -> Result<Sink, SinkError> {
        let config = crate::publish::producer_config(brokers, properties, std::time::Duration::from_secs(300));
        if let Some(partitions) = create_partitions {
            create_topic(&config, topic, partitions).await?;
        }
        let reporter = crate::kafka::Reporter::default();
        let producer = crate::acked::AckedProducer::new(&config, reporter).map_err(|source| SinkError::Kafka {
            what: "create producer",
            source,
        })?;
        Ok(Sink {
            target: Target::Kafka {
                producer,
                topic: topic.to_owned(),
            },
            signer: None,
        })
    }

    /// Messages go to the durable spool; a [`crate::publish::drain`] task
    /// delivers them, woken through `wake`.
    pub fn spooled(spool: Arc<Mutex<Spool>>, wake: Arc<Notify>) -> Sink {
        Sink {
            target: Target::Spool { spool, wake },
            signer: None,
        }
    }

    /// Signs every message with `signer` from now on.
    pub fn signed_by(mut self, signer: naap_events::signing::Signer) -> Sink {
        self.signer = Some(signer);
        self
    }

    /// A message file (see [`naap_events::framing`]), truncated if it exists.
    pub fn file(path: &Path) -> Result<Sink, SinkError> {
        let display = path.display().to_string();
        let file = std::fs::File::create(path).map_err(|source| SinkError::File {
            path: display.clone(),
            source,
        })?;
        let mut writer = BufWriter::new(file);
        framing::write_magic(&mut writer).map_err(|source| SinkError::File {
            path: display.clone(),
            source,
        })?;
        Ok(Sink {
            target: Target::File { writer, path: display },
            signer: None,
        })
    }

    /// Publishes messages; returns once every one is acknowledged (Kafka),
    /// written (file) or durably spooled.
    pub async fn send(&mut self, messages: &[EncodedMessage]) -> Result<(), SinkError> {
        let signed: Vec<EncodedMessage>;
        let messages = match &self.signer {
            Some(signer) => {
                signed = messages
                    .iter()
                    .map(|m| {
                        let mut m = m.clone();
                        sign_message(&mut m, signer);
                        m
                    })
                    .collect();
                &signed[..]
            }
            None => messages,
        };
        match &mut self.target {
            Target::Spool { spool, wake } => {
                {
                    let mut spool = spool.lock().unwrap_or_else(|e| e.into_inner());
                    spool.push_all(messages)?;
                }
                wake.notify_one();
                Ok(())
            }
            Target::Kafka { producer, topic } => {
                let sends = messages.iter().map(|m| producer.send(topic, m));
                for result in futures::future::join_all(sends).await {
                    result.map_err(|source| SinkError::Kafka {
                        what: "deliver message",
                        source,
                    })?;
                }
                Ok(())
            }
            Target::File { writer, path } => {
                for m in messages {
                    let meta = MessageMeta {
                        key: Some(m.key.clone()),
                        headers: m.headers.clone(),
                        timestamp_ms: Some(m.timestamp_ms),
                    };
                    framing::write_record(writer, &meta, &m.value).map_err(|source| SinkError::File {
                        path: path.clone(),
                        source,
                    })?;
                }
                Ok(())
            }
        }
    }

    /// Flushes buffered output.
    pub fn flush(&mut self) -> Result<(), SinkError> {
        match &mut self.target {
            Target::Kafka { .. } | Target::Spool { .. } => Ok(()),
            Target::File { writer, path } => writer.flush().map_err(|source| SinkError::File {
                path: path.clone(),
                source,
            }),
        }
    }
}

pub(crate) async fn create_topic(config: &ClientConfig, topic: &str, partitions: i32) -> Result<(), SinkError> {
    let admin: AdminClient<DefaultClientContext> = config.create().map_err(|source| SinkError::Kafka {
        what: "create admin client",
        source,
    })?;
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(10)));
    // Some Kafka-API brokers never answer CreateTopics; do not hang on them.
    match tokio::time::timeout(Duration::from_secs(15), admin.create_topics([&new_topic], &opts)).await {
        Ok(Ok(results)) => {
            for r in results {
                match r {
                    Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((name, code)) => tracing::warn!(topic = %name, ?code, "could not create topic"),
                }
            }
        }
        Ok(Err(e)) => tracing::warn!(%topic, error = %e, "could not create topic; assuming it exists"),
        Err(_) => tracing::warn!(%topic, "no answer to CreateTopics; assuming the topic exists"),
    }
    Ok(())
}
