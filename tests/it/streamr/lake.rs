//! The lake a Streamr-fed pipeline writes, against Kafka's: alone and with
//! both transports at once.

use std::process::Stdio;
use std::time::Duration;

use super::{OPERATOR_KEY, Stopped, network, newest_record, streamr_pipeline, trust_flags, wait_exit, wait_for};
use crate::common::{T0, assert_same_tables, emitted, naap, run_ok, service, table_rows, totals};

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
    let (emitted, _) = emitted(&said);
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
    assert_same_tables(&via_kafka, &via_streamr, &tables);
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
    let (_, events) = emitted(&said);
    wait_exit(pipeline, "the pipeline", &log);

    let t = totals(&lake);
    let (_, first) = emitted(&first);
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
    assert_same_tables(&alone, &lake, &["node_telemetry", "telemetry_1m", "scores"]);
}
