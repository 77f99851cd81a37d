//! The Streamr transport on the offline network (`streamr/src/env.mjs`: a
//! local chain with Streamr's contracts, an entry point, the stream), with
//! the real SDK in naap's sidecars: the agent publishing, the pipeline
//! subscribing, strangers publishing what naap must not take.
//! Needs `node` and `streamr/node_modules` (`./test.sh` installs them).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::{T0, naap, run_ok, service, table_rows, totals};
use naap_events::framing::{MessageMeta, RecordReader, encode_message};
use naap_events::signing::{HEADER_SIGNATURE, HEADER_SIGNER, Signer};

// Well-known development keys (Hardhat/Anvil accounts 0 and 1): never real funds.
const OPERATOR_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const OTHER_KEY: &str = "59c6995e998f97a5a0044966f0945389dc9c86dae88b60b82c8e6e7e11d71d6a";

fn streamr_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("streamr")
}

/// A child process asked to stop with SIGTERM when dropped (the network's
/// process then stops its chain; a pipeline commits and stops its sidecar).
struct Stopped(Child);

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
fn network(dir: &Path, index: usize) -> Option<(Option<Stopped>, PathBuf, String)> {
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

fn wait_for(what: &str, seconds: u64, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !check() {
        assert!(Instant::now() < deadline, "waited {seconds} s for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn operator() -> Signer {
    Signer::from_hex(OPERATOR_KEY).expect("key")
}

/// `--require-signatures all` and the operator bound to each simulated orchestrator.
fn trust_flags(orchestrators: usize) -> Vec<String> {
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
fn streamr_pipeline(network: &Path, stream: &str, lake: &Path, log: &Path, trust: &[String]) -> Stopped {
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

fn wait_exit(mut p: Stopped, what: &str, log: &Path) {
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

/// Agent → Streamr → pipeline writes the tables Kafka's path writes, row for
/// row: one agent run publishes through both transports at once.
#[test]
fn a_lake_from_streamr_equals_the_lake_from_kafka() {
    let Some(brokers) = service("NAAP_TEST_KAFKA") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some((_env, network, stream)) = network(dir.path(), 0) else {
        return;
    };
    let trust = trust_flags(4);
    let (via_streamr, log) = (dir.path().join("streamr-lake"), dir.path().join("pipeline.log"));
    let pipeline = streamr_pipeline(&network, &stream, &via_streamr, &log, &trust);
    let topic = format!("streamr-twin-{}", std::process::id());
    let out = run_ok(
        naap()
            .env("NAAP_TEST_KEY", OPERATOR_KEY)
            .args(["emit", "--simulate", "4", "--from", &T0.to_string(), "--span", "10m"])
            .args([
                "--signing-key-env",
                "NAAP_TEST_KEY",
                "--transport",
                "both",
                "--streamr-loopback-only",
            ])
            .args([
                "--brokers",
                &brokers,
                "--topic",
                &topic,
                "--partitions",
                "2",
                "--flush-timeout",
                "90s",
            ])
            .arg("--streamr-network")
            .arg(&network)
            .arg("--spool-dir")
            .arg(dir.path().join("spool")),
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let emitted: u64 = said
        .split("emitted ")
        .nth(1)
        .and_then(|s| s.split(' ').next()?.parse().ok())
        .expect("count");
    assert!(
        said.contains(&format!("spooled {emitted}, delivered {emitted}")),
        "{said}"
    );
    wait_exit(pipeline, "the Streamr pipeline", &log);

    let via_kafka = dir.path().join("kafka-lake");
    run_ok(
        naap()
            .args([
                "pipeline",
                "--brokers",
                &brokers,
                "--topic",
                &topic,
                "--group-id",
                &topic,
            ])
            .arg("--lake")
            .arg(&via_kafka)
            .args([
                "--commit-interval",
                "300ms",
                "--stop-after-idle",
                "8s",
                "--finalize-at-idle",
            ])
            .args(&trust),
    );
    // Every table either lake has, row for row.
    let tables: Vec<&str> = naap_events::tables::ALL
        .iter()
        .map(|t| t.name)
        .filter(|t| via_kafka.join("lake").join(t).exists() || via_streamr.join("lake").join(t).exists())
        .collect();
    assert!(tables.len() >= 3, "{tables:?}");
    for table in tables {
        let want = table_rows(&via_kafka, table, &[]);
        let got = table_rows(&via_streamr, table, &[]);
        assert!(!want.is_empty(), "{table} is empty");
        assert_eq!(want.len(), got.len(), "{table}: row count differs");
        if let Some((w, g)) = want.iter().zip(&got).find(|(w, g)| w != g) {
            panic!("{table}: rows differ; first difference:\n  kafka   {w}\n  streamr {g}");
        }
    }
    // (windows_committed counts a minute once per input partition that had
    // events in it: two Kafka partitions, one Streamr stream.)
    let (k, s) = (totals(&via_kafka), totals(&via_streamr));
    for key in ["events_in", "messages_in", "quarantined", "duplicates", "rows_written"] {
        assert_eq!(k[key], s[key], "totals.{key}");
    }
    assert_eq!(s["messages_in"], emitted);
    // The agent's chain arrived whole: every position, no gap.
    let record = newest_record(&via_streamr);
    let chains = record["chains"].as_object().expect("chains in the commit record");
    assert_eq!(chains.len(), 1, "{chains:?}");
    let chain = chains.values().next().unwrap();
    assert_eq!(chain["messages"], emitted);
    assert_eq!(chain["gap_positions"], 0);
    assert_eq!(chain["next"], emitted, "positions 0..{emitted}");
}

fn newest_record(lake: &Path) -> serde_json::Value {
    let newest = crate::common::commit_records(lake).pop().expect("a commit record");
    serde_json::from_slice(&std::fs::read(newest).expect("read the record")).expect("record JSON")
}

/// Anyone may publish to the public stream: a forged batch, one from a
/// signer bound to no orchestrator, bytes that are not naap's, and a
/// genuine batch replayed from beyond the dedup horizon land in quarantine
/// with their reasons; the good batches around them land.
#[test]
fn strangers_on_the_stream_are_quarantined_and_good_batches_land() {
    let dir = tempfile::tempdir().unwrap();
    let Some((_env, network, stream)) = network(dir.path(), 1) else {
        return;
    };
    let trust = trust_flags(2);
    let (lake, log) = (dir.path().join("lake"), dir.path().join("pipeline.log"));
    let pipeline = streamr_pipeline(&network, &stream, &lake, &log, &trust);
    let signed = |from: i64, span: &str, name: &str| {
        let file = dir.path().join(name);
        run_ok(
            naap()
                .env("NAAP_TEST_KEY", OPERATOR_KEY)
                .args(["emit", "--simulate", "2", "--from", &from.to_string(), "--span", span])
                .args(["--signing-key-env", "NAAP_TEST_KEY", "--output"])
                .arg(&file),
        );
        let mut reader = RecordReader::new(std::fs::File::open(&file).unwrap()).unwrap();
        let mut records = Vec::new();
        while let Some(r) = reader.next_record().unwrap() {
            records.push(r);
        }
        records
    };
    // The good batches are an hour after T0; one genuine batch of T0 is
    // replayed after them, far beyond the 10-minute dedup horizon.
    let good = signed(T0 + 3_600_000, "10s", "good.naapmsg");
    let old = signed(T0, "5s", "old.naapmsg");
    assert_eq!(good.len(), 4, "2 orchestrators × two 5 s batches");
    let (meta, value) = good[0].clone();
    let mut tampered = value.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    let header = |name: &str| meta.headers.iter().find(|(k, _)| k == name).unwrap().1.clone();
    let mut by_other = meta.clone();
    by_other
        .headers
        .retain(|(k, _)| k != HEADER_SIGNATURE && k != HEADER_SIGNER);
    let other = Signer::from_hex(OTHER_KEY).unwrap();
    let signature = other.sign(
        &header("naap-schema"),
        &header("naap-schema-version"),
        meta.key.as_deref().unwrap(),
        &value,
    );
    by_other.headers.push((HEADER_SIGNATURE.into(), signature));
    by_other.headers.push((HEADER_SIGNER.into(), other.address().into()));
    let payload = |m: &MessageMeta, v: &[u8]| encode_message(m, v).unwrap();
    let sequence: Vec<Vec<u8>> = vec![
        payload(&good[0].0, &good[0].1),
        payload(&meta, &tampered),
        payload(&good[1].0, &good[1].1),
        payload(&by_other, &value),
        br#"{"hello": "not naap"}"#.to_vec(),
        payload(&good[2].0, &good[2].1),
        payload(&good[3].0, &good[3].1),
        payload(&old[0].0, &old[0].1),
    ];
    publish(&network, &dir.path().join("stranger.sock"), &sequence);
    wait_exit(pipeline, "the Streamr pipeline", &log);

    let t = totals(&lake);
    assert_eq!(t["messages_in"], 8, "{t}");
    assert_eq!(t["quarantined"], 4, "{t}");
    let reasons = &t["quarantined_by_reason"];
    assert_eq!(reasons["bad_signature"], 1, "{t}");
    assert_eq!(reasons["signer_mismatch"], 1, "{t}");
    assert_eq!(reasons["not_naap_message"], 1, "{t}");
    assert_eq!(reasons["beyond_dedup_horizon"], 1, "{t}");
    let landed = table_rows(&lake, "node_telemetry", &[]);
    assert!(!landed.is_empty());
    assert!(landed.iter().all(|r| r.contains("verified=true")));
    let quarantined = table_rows(&lake, "quarantine", &["payload"]);
    assert!(
        quarantined
            .iter()
            .any(|r| r.contains("not_naap_message") && r.contains("is not a naap message")),
        "{quarantined:?}"
    );
    // The publisher's chain began with a good batch; every message after it
    // arrived, refused or not: positions 0..8, no gap.
    let record = newest_record(&lake);
    let chain = record["chains"].as_object().unwrap().values().next().unwrap().clone();
    assert_eq!(
        (
            chain["messages"].as_u64(),
            chain["next"].as_u64(),
            chain["gap_positions"].as_u64()
        ),
        (Some(8), Some(8), Some(0)),
        "{chain}"
    );
}

/// Publishes `payloads` in order through a sidecar of the test's own (a
/// stranger's key), each at its index as chain position.
fn publish(network: &Path, socket: &Path, payloads: &[Vec<u8>]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut config = naap_streamr::sidecar::SidecarConfig::new(network.to_owned(), socket.to_owned());
        config.loopback_only = true;
        let (sidecar, mut connection) = naap_streamr::sidecar::Sidecar::start(&config).await.expect("sidecar");
        for (i, p) in payloads.iter().enumerate() {
            connection.publish(i as u64, i as u64, p).await.expect("publish");
        }
        let mut acked = 0;
        while acked < payloads.len() {
            if let naap_streamr::FromSidecar::Ack { result, .. } = connection.next().await.expect("ack") {
                result.expect("published");
                acked += 1;
            }
        }
        sidecar.stop().await;
    });
}

/// The agent's sidecar killed with SIGKILL mid-run: the agent starts it
/// again and its spool drains; every event reaches the pipeline.
#[test]
fn a_killed_sidecar_is_restarted_and_the_spool_drains() {
    let dir = tempfile::tempdir().unwrap();
    let Some((_env, network, stream)) = network(dir.path(), 2) else {
        return;
    };
    let trust = trust_flags(2);
    let (lake, log) = (dir.path().join("lake"), dir.path().join("pipeline.log"));
    let pipeline = streamr_pipeline(&network, &stream, &lake, &log, &trust);
    let agent_log = dir.path().join("agent.log");
    let mut agent = naap()
        .env("NAAP_TEST_KEY", OPERATOR_KEY)
        .env("NAAP_LOG", "info")
        .args(["emit", "--simulate", "2", "--batch-span", "1s", "--duration", "14s"])
        .args([
            "--signing-key-env",
            "NAAP_TEST_KEY",
            "--transport",
            "streamr",
            "--streamr-loopback-only",
        ])
        .args(["--flush-timeout", "60s"])
        .arg("--streamr-network")
        .arg(&network)
        .arg("--spool-dir")
        .arg(dir.path().join("spool"))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&agent_log).unwrap())
        .spawn()
        .expect("start the agent");
    let read = || std::fs::read_to_string(&agent_log).unwrap_or_default();
    wait_for("the agent's first delivery", 60, || {
        read().contains("first batch acknowledged")
    });
    let pid: u32 = read()
        .lines()
        .find(|l| l.contains("Streamr sidecar ready"))
        .and_then(|l| l.split("pid=").nth(1)?.split(' ').next()?.parse().ok())
        .expect("the sidecar's pid in the agent's log");
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    let status = agent.wait().unwrap();
    let mut said = String::new();
    std::io::Read::read_to_string(agent.stdout.as_mut().unwrap(), &mut said).unwrap();
    assert!(status.success(), "{}", read());
    assert!(read().contains("Streamr sidecar restarted"), "{}", read());
    let emitted: u64 = said
        .split("emitted ")
        .nth(1)
        .and_then(|s| s.split(' ').next()?.parse().ok())
        .expect("count");
    let events: u64 = said
        .split("messages, ")
        .nth(1)
        .and_then(|s| s.split(' ').next()?.parse().ok())
        .expect("count");
    assert!(
        said.contains(&format!("spooled {emitted}, delivered {emitted}")),
        "{said}"
    );
    wait_exit(pipeline, "the Streamr pipeline", &log);
    let t = totals(&lake);
    assert_eq!(t["events_in"], events, "every event arrived once: {t}");
    assert_eq!(t["quarantined"], 0, "{t}");
}

/// Both transports at once, the pipeline reading both: every event counts
/// once (whichever copy came first), and while the pipeline's Streamr side
/// is frozen for 30 s, Kafka carries everything and the positions the
/// stream did not deliver are counted as a gap. The lake equals the one
/// Kafka alone writes.
#[test]
fn both_transports_count_each_event_once_and_a_frozen_stream_leaves_a_counted_gap() {
    let Some(brokers) = service("NAAP_TEST_KAFKA") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some((_env, network, stream)) = network(dir.path(), 3) else {
        return;
    };
    let trust = trust_flags(2);
    let topic = format!("streamr-both-{}", std::process::id());
    // The topic exists (2 partitions) before the pipeline reads it.
    let first = run_ok(
        naap()
            .env("NAAP_TEST_KEY", OPERATOR_KEY)
            .args(["emit", "--simulate", "2", "--from", &T0.to_string(), "--span", "5s"])
            .args(["--signing-key-env", "NAAP_TEST_KEY"])
            .args(["--brokers", &brokers, "--topic", &topic, "--partitions", "2"]),
    );
    let first = String::from_utf8_lossy(&first.stdout).into_owned();
    let (lake, log) = (dir.path().join("lake"), dir.path().join("pipeline.log"));
    let child = naap()
        .env("NAAP_LOG", "info,librdkafka=off")
        .args([
            "pipeline",
            "--source",
            &format!("kafka,streamr://{stream}"),
            "--streamr-loopback-only",
        ])
        .args(["--brokers", &brokers, "--topic", &topic, "--group-id", &topic])
        .arg("--streamr-network")
        .arg(&network)
        .arg("--lake")
        .arg(&lake)
        .args([
            "--commit-interval",
            "300ms",
            "--stop-after-idle",
            "12s",
            "--finalize-at-idle",
        ])
        .args(&trust)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let pipeline = Stopped(child);
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for("the pipeline's subscription", 90, || {
        read().contains("subscribed to the Streamr stream")
    });
    let agent_log = dir.path().join("agent.log");
    let agent = naap()
        .env("NAAP_TEST_KEY", OPERATOR_KEY)
        .env("NAAP_LOG", "info")
        .args(["emit", "--simulate", "2", "--batch-span", "1s", "--duration", "50s"])
        .args([
            "--signing-key-env",
            "NAAP_TEST_KEY",
            "--transport",
            "both",
            "--streamr-loopback-only",
        ])
        .args(["--brokers", &brokers, "--topic", &topic, "--flush-timeout", "60s"])
        .arg("--streamr-network")
        .arg(&network)
        .arg("--spool-dir")
        .arg(dir.path().join("spool"))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&agent_log).unwrap())
        .spawn()
        .unwrap();
    let agent_said = || std::fs::read_to_string(&agent_log).unwrap_or_default();
    wait_for("the agent's first delivery", 60, || {
        agent_said().contains("first batch acknowledged")
    });
    std::thread::sleep(Duration::from_secs(4));
    let pid: u32 = read()
        .lines()
        .find(|l| l.contains("Streamr sidecar ready"))
        .and_then(|l| l.split("pid=").nth(1)?.split(' ').next()?.parse().ok())
        .expect("the pipeline's sidecar pid in its log");
    std::process::Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_secs(30));
    std::process::Command::new("kill")
        .args(["-CONT", &pid.to_string()])
        .status()
        .unwrap();
    let out = agent.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", agent_said());
    let events: u64 = said
        .split("messages, ")
        .nth(1)
        .and_then(|s| s.split(' ').next()?.parse().ok())
        .expect("count");
    wait_exit(pipeline, "the pipeline", &log);

    let t = totals(&lake);
    let first: u64 = first
        .split("messages, ")
        .nth(1)
        .and_then(|s| s.split(' ').next()?.parse().ok())
        .expect("count");
    assert_eq!(t["events_in"].as_u64().unwrap(), first + events, "each event once: {t}");
    assert!(
        t["duplicates"].as_u64().unwrap() > 0,
        "the second copies were dropped: {t}"
    );
    assert_eq!(t["quarantined"], 0, "{t}");
    let record = newest_record(&lake);
    let chain = record["chains"]
        .as_object()
        .expect("chains")
        .values()
        .next()
        .unwrap()
        .clone();
    assert!(
        chain["gap_positions"].as_u64().unwrap() > 0,
        "the frozen 30 s are a gap: {chain}"
    );
    assert!(
        !table_rows(&lake, "stream_gaps", &[]).is_empty(),
        "and rows of stream_gaps"
    );

    let alone = dir.path().join("kafka-alone");
    run_ok(
        naap()
            .args([
                "pipeline",
                "--brokers",
                &brokers,
                "--topic",
                &topic,
                "--group-id",
                &format!("{topic}-alone"),
            ])
            .arg("--lake")
            .arg(&alone)
            .args([
                "--commit-interval",
                "300ms",
                "--stop-after-idle",
                "8s",
                "--finalize-at-idle",
            ])
            .args(&trust),
    );
    assert_eq!(totals(&alone)["events_in"], t["events_in"]);
    for table in ["node_telemetry", "telemetry_1m", "scores"] {
        let (want, got) = (table_rows(&alone, table, &[]), table_rows(&lake, table, &[]));
        assert_eq!(want.len(), got.len(), "{table}: row count differs");
        if let Some((w, g)) = want.iter().zip(&got).find(|(w, g)| w != g) {
            panic!("{table}: rows differ; first difference:\n  kafka alone {w}\n  both        {g}");
        }
    }
}
