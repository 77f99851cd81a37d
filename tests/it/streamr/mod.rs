//! The Streamr transport on the offline network (`streamr/src/env.mjs`: a
//! local chain with Streamr's contracts, an entry point, the stream), with
//! the real SDK in naap's sidecars: the agent publishing, the pipeline
//! subscribing, strangers publishing what naap must not take.
//! Needs `node` and `streamr/node_modules` (`./test.sh` installs them).

mod lake;
mod strangers;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::naap;
use crate::common::run_ok;
use naap_events::signing::Signer;

// Well-known development keys (Hardhat/Anvil accounts 0 and 1): never real funds.
pub(super) const OPERATOR_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
pub(super) const OTHER_KEY: &str = "59c6995e998f97a5a0044966f0945389dc9c86dae88b60b82c8e6e7e11d71d6a";

fn streamr_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("streamr")
}

/// A child process asked to stop with SIGTERM when dropped (the network's
/// process then stops its chain; a pipeline commits and stops its sidecar).
pub(super) struct Stopped(pub(super) Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &self.0.id().to_string()])
                .status();
        }
        let _ = self.0.wait();
    }
}

/// The offline Streamr network and the stream test `index` has to itself:
/// ./test.sh's (`NAAP_TEST_STREAMR_NETWORK`, one stream per test), or,
/// without it outside CI, one started here; `None` (skip) where it cannot run.
pub(super) fn network(dir: &Path, index: usize) -> Option<(Option<Stopped>, PathBuf, String)> {
    if let Ok(shared) = std::env::var("NAAP_TEST_STREAMR_NETWORK") {
        let text = std::fs::read_to_string(&shared).expect("the shared network file");
        let mut network: serde_json::Value = serde_json::from_str(&text).expect("network JSON");
        let stream = network["testStreams"][index]
            .as_str()
            .expect("a test stream for this test (env.mjs --test-streams)")
            .to_owned();
        network["stream"] = serde_json::Value::String(stream.clone());
        let file = dir.join("network.json");
        std::fs::write(&file, network.to_string()).expect("write the test's network file");
        return Some((None, file, stream));
    }
    if !streamr_dir().join("node_modules/@streamr/sdk").exists() || std::env::var("CI").as_deref() == Ok("true") {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "NAAP_TEST_STREAMR_NETWORK is not set and CI=true: run through ./test.sh"
        );
        eprintln!("skipping: streamr/node_modules missing (cd streamr && npm ci)");
        return None;
    }
    let file = dir.join("network.json");
    let child = std::process::Command::new("node")
        .arg("src/env.mjs")
        .arg("--out")
        .arg(&file)
        .current_dir(streamr_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs");
    let env = Stopped(child);
    wait_for("the offline Streamr network", 120, || file.exists());
    let text = std::fs::read_to_string(&file).expect("network file");
    let stream = serde_json::from_str::<serde_json::Value>(&text).expect("network JSON")["stream"]
        .as_str()
        .expect("stream id")
        .to_owned();
    Some((Some(env), file, stream))
}

pub(super) fn wait_for(what: &str, seconds: u64, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !check() {
        assert!(Instant::now() < deadline, "waited {seconds} s for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(super) fn operator() -> Signer {
    Signer::from_hex(OPERATOR_KEY).expect("key")
}

/// `--require-signatures all` and the operator bound to each simulated orchestrator.
pub(super) fn trust_flags(orchestrators: usize) -> Vec<String> {
    let out = run_ok(naap().args(["emit", "--describe", "--simulate", &orchestrators.to_string()]));
    let described: serde_json::Value = serde_json::from_slice(&out.stdout).expect("describe JSON");
    let mut flags = vec!["--require-signatures".to_owned(), "all".to_owned()];
    for o in described["orchestrators"].as_array().expect("orchestrators") {
        flags.push("--signer-binding".to_owned());
        flags.push(format!(
            "{}={}",
            operator().address(),
            o["address"].as_str().expect("address")
        ));
    }
    flags
}

/// A pipeline subscribed to `stream`, stopping after 12 s without a message.
pub(super) fn streamr_pipeline(network: &Path, stream: &str, lake: &Path, log: &Path, trust: &[String]) -> Stopped {
    let child = naap()
        .env("NAAP_LOG", "info,librdkafka=off")
        .args([
            "pipeline",
            "--source",
            &format!("streamr://{stream}"),
            "--streamr-loopback-only",
        ])
        .arg("--streamr-network")
        .arg(network)
        .arg("--lake")
        .arg(lake)
        .args([
            "--commit-interval",
            "300ms",
            "--stop-after-idle",
            "12s",
            "--finalize-at-idle",
        ])
        .args(trust)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("start the pipeline");
    let read = || std::fs::read_to_string(log).unwrap_or_default();
    wait_for("the pipeline's subscription", 90, || {
        read().contains("subscribed to the Streamr stream")
    });
    Stopped(child)
}

pub(super) fn wait_exit(mut p: Stopped, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = p.0.try_wait().expect("wait") {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            assert!(status.success(), "{what} failed:\n{text}");
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not stop");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub(super) fn newest_record(lake: &Path) -> serde_json::Value {
    let newest = crate::common::commit_records(lake).pop().expect("a commit record");
    serde_json::from_slice(&std::fs::read(newest).expect("read the record")).expect("record JSON")
}
