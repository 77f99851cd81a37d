//! Delivery to a Streamr stream through naap's sidecar (`streamr/`, the
//! real `@streamr/sdk` in Node): the agent starts it, publishes each
//! spooled message as one Streamr message (the message file's record:
//! key, headers, timestamp, value; see [`naap_events::framing`]) carrying
//! its spool sequence number as its chain position, and restarts the
//! sidecar whenever it dies or stops answering. A message counts as
//! delivered when the sidecar's SDK published it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use naap_events::framing::{self, MessageMeta};
use naap_streamr::sidecar::{Sidecar, SidecarConfig};
use naap_streamr::{Connection, FromSidecar, MAX_PAYLOAD};
use tracing::{info, warn};

use crate::sink::EncodedMessage;

/// Where the agent's messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// The Kafka cluster (and its backup).
    Kafka,
    /// A Streamr stream, through the sidecar.
    Streamr,
    /// Both: a message leaves the spool once each acknowledged it.
    Both,
}

impl Transport {
    pub fn kafka(self) -> bool {
        self != Transport::Streamr
    }
    pub fn streamr(self) -> bool {
        self != Transport::Kafka
    }
}

/// The agent's Streamr settings.
#[derive(Debug, Clone, Args)]
pub struct StreamrArgs {
    /// The Streamr network (JSON: `contracts`, `entryPoints`, `stream`, as
    /// `streamr/src/env.mjs` writes them).
    #[arg(long, value_name = "FILE", env = "NAAP_STREAMR_NETWORK")]
    pub streamr_network: Option<PathBuf>,
    /// The stream to publish to (default: the network file's `stream`).
    #[arg(long, value_name = "ID")]
    pub streamr_stream: Option<String>,
    /// The sidecar's Streamr key is kept in this file (created, mode 0600,
    /// on first start: a stable publisher, so gaps in its chain are seen).
    /// Default: `streamr.key` in the spool directory.
    #[arg(long, value_name = "FILE")]
    pub streamr_key_file: Option<PathBuf>,
    /// Refuse every Streamr connection beyond loopback (offline tests).
    #[arg(long)]
    pub streamr_loopback_only: bool,
}

/// Sends in a row without any answer after which the sidecar is restarted.
const SILENT_SENDS: u32 = 3;

/// Payloads must leave room for the record's metadata (key, headers).
const _: () = assert!(crate::MAX_MESSAGE_BYTES + 16 * 1024 <= MAX_PAYLOAD);

/// The Streamr side of delivery: the sidecar and its connection, restarted
/// with a growing delay while it keeps failing.
#[derive(Debug)]
pub struct StreamrDelivery {
    config: SidecarConfig,
    running: Option<(Sidecar, Connection)>,
    /// When the next start may be tried.
    retry_at: Option<Instant>,
    delay: Duration,
    starts: u64,
    problem: Option<String>,
    /// Sends in a row that timed out with no answer at all.
    silent: u32,
}

impl StreamrDelivery {
    /// The delivery of an agent whose spool is `spool_dir`.
    pub fn new(args: &StreamrArgs, spool_dir: &Path) -> anyhow::Result<StreamrDelivery> {
        use anyhow::Context;
        let Some(network) = &args.streamr_network else {
            anyhow::bail!("--transport streamr|both needs --streamr-network FILE (or NAAP_STREAMR_NETWORK)");
        };
        std::fs::create_dir_all(spool_dir).with_context(|| format!("creating {}", spool_dir.display()))?;
        let key_file = args
            .streamr_key_file
            .clone()
            .unwrap_or_else(|| spool_dir.join("streamr.key"));
        let key = std::env::var(naap_streamr::sidecar::KEY_VARIABLE)
            .ok()
            .map_or_else(|| key(&key_file), Ok)?;
        // A Unix socket's path holds at most 107 bytes.
        let mut socket = spool_dir.join("streamr.sock");
        if socket.as_os_str().len() > 100 {
            socket = std::env::temp_dir().join(format!("naap-emit-{}.sock", std::process::id()));
        }
        let mut config = SidecarConfig::new(network.clone(), socket);
        config.stream = args.streamr_stream.clone();
        config.key = Some(key);
        config.loopback_only = args.streamr_loopback_only;
        Ok(StreamrDelivery {
            config,
            running: None,
            retry_at: None,
            delay: Duration::from_millis(500),
            starts: 0,
            problem: None,
            silent: 0,
        })
    }

    /// Starts the sidecar at once (the agent's first batch then does not
    /// wait for it); a failure is retried at the first send.
    pub async fn start(&mut self) {
        let _ = self.connection().await;
    }

    /// The newest problem, while there is one.
    pub fn last_problem(&self) -> Option<String> {
        self.problem.clone()
    }

    async fn connection(&mut self) -> Option<&mut Connection> {
        if let Some((sidecar, _)) = &mut self.running
            && !sidecar.running()
        {
            self.failed("the sidecar exited".into()).await;
        }
        if self.running.is_none() {
            if self.retry_at.is_some_and(|at| Instant::now() < at) {
                return None;
            }
            self.starts += 1;
            match Sidecar::start(&self.config).await {
                Ok(running) => {
                    if self.starts > 1 {
                        info!(starts = self.starts, "Streamr sidecar restarted");
                    }
                    self.running = Some(running);
                }
                Err(e) => {
                    self.failed(e.to_string()).await;
                    return None;
                }
            }
        }
        self.running.as_mut().map(|(_, c)| c)
    }

    async fn failed(&mut self, problem: String) {
        warn!(
            problem,
            retry_in_ms = self.delay.as_millis() as u64,
            "Streamr sidecar failed; restarting it"
        );
        if let Some((sidecar, _)) = self.running.take() {
            sidecar.stop().await;
        }
        self.problem = Some(problem);
        self.retry_at = Some(Instant::now() + self.delay);
        self.delay = (self.delay * 2).min(Duration::from_secs(10));
    }

    /// Publishes `batch` (each message's chain position is its spool
    /// sequence number) and returns the sequence numbers the sidecar
    /// published, waiting at most `timeout` for its answers.
    pub async fn send(&mut self, batch: &[(u64, EncodedMessage)], timeout: Duration) -> Vec<u64> {
        let mut acked = Vec::new();
        let Some(connection) = self.connection().await else {
            return acked;
        };
        let outcome = tokio::time::timeout(timeout, publish_all(connection, batch, &mut acked)).await;
        match outcome {
            Ok(Ok(refused)) => {
                self.delay = Duration::from_millis(500);
                self.silent = 0;
                self.problem = refused;
            }
            Ok(Err(e)) => self.failed(e.to_string()).await,
            // Slow (a node alone on the stream waits for a neighbour before
            // its first publish): what was not answered stays spooled. Only
            // a sidecar that answers nothing, send after send, is restarted.
            Err(_) => {
                self.silent = if acked.is_empty() { self.silent + 1 } else { 0 };
                let problem = format!("no answer within {timeout:?}");
                if self.silent >= SILENT_SENDS {
                    self.silent = 0;
                    self.failed(format!("{problem}, {SILENT_SENDS} times in a row")).await;
                } else {
                    self.problem = Some(problem);
                }
            }
        }
        acked
    }

    /// Stops the sidecar (SIGTERM).
    pub async fn stop(&mut self) {
        if let Some((sidecar, _)) = self.running.take() {
            sidecar.stop().await;
        }
    }
}

/// Sends every message and reads the answers into `acked`; returns the
/// first refusal's reason, if the sidecar refused some.
async fn publish_all(
    connection: &mut Connection,
    batch: &[(u64, EncodedMessage)],
    acked: &mut Vec<u64>,
) -> Result<Option<String>, naap_streamr::Error> {
    let mut waiting = std::collections::BTreeSet::new();
    for (seq, m) in batch {
        let meta = MessageMeta {
            key: Some(m.key.clone()),
            headers: m.headers.clone(),
            timestamp_ms: Some(m.timestamp_ms),
        };
        let payload = framing::encode_message(&meta, &m.value)?;
        if payload.len() > MAX_PAYLOAD {
            warn!(
                seq,
                bytes = payload.len(),
                "a spooled message is too large for Streamr; it stays spooled"
            );
            continue;
        }
        connection.publish(*seq, *seq, &payload).await?;
        waiting.insert(*seq);
    }
    let mut refused = None;
    while !waiting.is_empty() {
        if let FromSidecar::Ack { id, result } = connection.next().await? {
            if !waiting.remove(&id) {
                continue;
            }
            match result {
                Ok(()) => acked.push(id),
                Err(reason) => {
                    warn!(seq = id, %reason, "the Streamr sidecar did not publish a message; it stays spooled");
                    refused.get_or_insert(reason);
                }
            }
        }
    }
    Ok(refused)
}

/// The Streamr key kept in `path`, made (32 random bytes, mode 0600) when absent.
fn key(path: &Path) -> anyhow::Result<String> {
    use anyhow::Context;
    if let Ok(text) = std::fs::read_to_string(path) {
        let key = text.trim().to_owned();
        let hex = key.strip_prefix("0x").unwrap_or(&key);
        anyhow::ensure!(
            hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "{} does not hold a 32-byte hex key",
            path.display()
        );
        return Ok(key);
    }
    let bytes: [u8; 32] = rand::random();
    let key = format!("0x{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(key.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("creating {}", path.display()))?;
    info!(path = %path.display(), "made a Streamr key for this agent");
    Ok(key)
}
