//! Who else is on the public stream: strangers' batches, and the agent's
//! own sidecar dying.

use std::path::Path;
use std::process::Stdio;

use super::{OPERATOR_KEY, OTHER_KEY, network, newest_record, streamr_pipeline, trust_flags, wait_exit, wait_for};
use crate::common::{T0, emitted, naap, run_ok, table_rows, totals};
use naap_events::framing::{MessageMeta, RecordReader, encode_message};
use naap_events::signing::{HEADER_SIGNATURE, HEADER_SIGNER, Signer};

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
    let (emitted, events) = emitted(&said);
    assert!(
        said.contains(&format!("spooled {emitted}, delivered {emitted}")),
        "{said}"
    );
    wait_exit(pipeline, "the Streamr pipeline", &log);
    let t = totals(&lake);
    assert_eq!(t["events_in"], events, "every event arrived once: {t}");
    assert_eq!(t["quarantined"], 0, "{t}");
}
