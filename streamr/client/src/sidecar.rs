//! The sidecar as a child process: started with its settings, its log lines
//! passed on, connected to once it listens, and stopped with SIGTERM (so the
//! SDK leaves the network cleanly) or, when that is not enough, killed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tracing::{info, warn};

use crate::{Connection, Error};

/// The variable the sidecar reads its Streamr key from.
pub const KEY_VARIABLE: &str = "NAAP_STREAMR_KEY";

/// How to start one sidecar.
#[derive(Debug, Clone)]
pub struct SidecarConfig {
    /// The Node.js executable.
    pub node: PathBuf,
    /// `streamr/src/sidecar.mjs` (its `node_modules` beside it, from `npm ci`).
    pub script: PathBuf,
    /// The network as JSON (contracts, entry points, default stream).
    pub network: PathBuf,
    /// The stream to publish to, when not the network file's.
    pub stream: Option<String>,
    /// The Unix socket the sidecar listens on.
    pub socket: PathBuf,
    /// The node's Streamr key (hex); a throwaway one when none.
    pub key: Option<String>,
    /// Refuse every connection beyond loopback (tests).
    pub loopback_only: bool,
    /// How long it may take to listen (joining the network included).
    pub start_timeout: Duration,
}

impl SidecarConfig {
    /// The settings of a sidecar at `socket` on the network described in
    /// `network`, with the script this source tree ships (or the one
    /// `NAAP_STREAMR_SIDECAR` names, for an installed agent).
    pub fn new(network: PathBuf, socket: PathBuf) -> Self {
        SidecarConfig {
            node: std::env::var_os("NAAP_NODE").map_or_else(|| PathBuf::from("node"), PathBuf::from),
            script: default_script(),
            network,
            stream: None,
            socket,
            key: None,
            loopback_only: false,
            start_timeout: Duration::from_secs(60),
        }
    }
}

/// The sidecar script: `NAAP_STREAMR_SIDECAR`, else this source tree's.
pub fn default_script() -> PathBuf {
    std::env::var_os("NAAP_STREAMR_SIDECAR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../src/sidecar.mjs"),
        PathBuf::from,
    )
}

/// A running sidecar (killed if dropped without [`Sidecar::stop`]).
#[derive(Debug)]
pub struct Sidecar {
    child: Child,
    pid: Option<u32>,
}

impl Sidecar {
    /// Starts the sidecar and connects to it once it listens.
    pub async fn start(config: &SidecarConfig) -> Result<(Sidecar, Connection), Error> {
        if !config.script.exists() {
            return Err(Error::Start(format!(
                "no sidecar script at {} (set NAAP_STREAMR_SIDECAR, and run `npm ci` in its folder)",
                config.script.display()
            )));
        }
        // It runs in its own folder: every path it is given is absolute.
        let absolute = |p: &Path| std::path::absolute(p).map_err(|e| Error::Start(format!("{}: {e}", p.display())));
        let (socket, network) = (absolute(&config.socket)?, absolute(&config.network)?);
        if !network.is_file() {
            return Err(Error::Start(format!(
                "no Streamr network file at {}",
                network.display()
            )));
        }
        let _ = std::fs::remove_file(&socket);
        let mut command = Command::new(&config.node);
        command
            .arg(absolute(&config.script)?)
            .arg("--socket")
            .arg(&socket)
            .arg("--network")
            .arg(&network);
        if let Some(stream) = &config.stream {
            command.args(["--stream", stream]);
        }
        if config.loopback_only {
            command.arg("--loopback-only");
        }
        if let Some(key) = &config.key {
            command.env(KEY_VARIABLE, key);
        }
        if let Some(dir) = config.script.parent().and_then(Path::parent) {
            command.current_dir(dir);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::Start(format!("running {}: {e}", config.node.display())))?;
        let pid = child.id();
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    info!(target: "naap_streamr::sidecar", pid, "{line}");
                }
            });
        }
        let mut sidecar = Sidecar { child, pid };
        let deadline = Instant::now() + config.start_timeout;
        loop {
            if let Some(status) = sidecar.child.try_wait()? {
                return Err(Error::Start(format!(
                    "the sidecar exited ({status}) before it listened"
                )));
            }
            if socket.exists()
                && let Ok(connection) = Connection::open(&socket).await
            {
                info!(pid, node = %connection.ready.node_id, address = %connection.ready.address,
                      stream = %connection.ready.stream, "Streamr sidecar ready");
                return Ok((sidecar, connection));
            }
            if Instant::now() >= deadline {
                sidecar.stop().await;
                return Err(Error::Start(format!(
                    "the sidecar did not listen at {} within {:?}",
                    socket.display(),
                    config.start_timeout
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Its process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Asks it to stop (SIGTERM), and kills it after 5 s.
    pub async fn stop(mut self) {
        if let Some(pid) = self.pid {
            // The child is not reaped before the wait below, so the pid is still its.
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .stderr(Stdio::null())
                .status()
                .await;
        }
        match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                warn!(
                    pid = self.pid,
                    "the Streamr sidecar did not stop within 5 s; killing it"
                );
                let _ = self.child.kill().await;
            }
        }
    }
}
