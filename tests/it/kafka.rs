//! The pipeline against a real Kafka-API broker (Tansu, started by ./test.sh).

use std::time::Duration;

use crate::common::{self, T0, naap, run_ok, service, table_rows, totals};
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_kafka_messages_are_quarantined_and_the_rest_committed() {
    let Some(brokers) = service("NAAP_TEST_KAFKA") else {
        return;
    };
    let topic = format!("quarantine-{}", std::process::id());
    // Good traffic first: 4 orchestrators, 3 minutes, through the real emitter.
    run_ok(
        naap()
            .args(["emit", "--brokers", &brokers, "--topic", &topic, "--partitions", "2"])
            .args(["--simulate", "4", "--from", &T0.to_string(), "--span", "3m"]),
    );
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("producer");
    let key = "0x00000000000000000000000000000000000000aa";
    let schema_headers = || {
        OwnedHeaders::new()
            .insert(Header {
                key: "naap-schema",
                value: Some("node_telemetry"),
            })
            .insert(Header {
                key: "naap-schema-version",
                value: Some("1"),
            })
    };
    let random: Vec<u8> = (0..500u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let sends = [
        FutureRecord::to(&topic)
            .key(key)
            .payload(&random[..])
            .headers(schema_headers()),
        FutureRecord::to(&topic).key(key).payload(&random[..]),
        FutureRecord::to(&topic).key(key).headers(schema_headers()),
    ];
    for record in sends {
        producer.send(record, Duration::from_secs(10)).await.expect("delivered");
    }

    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let metrics_port = free_port();
    let mut child = naap()
        .args([
            "pipeline",
            "--brokers",
            &brokers,
            "--topic",
            &topic,
            "--stop-after-idle",
            "8s",
        ])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
        .arg("--lake")
        .arg(&lake)
        .spawn()
        .expect("start the pipeline");
    // The pipeline's own /metrics, scraped while it runs: counters by
    // reason, and no lag once everything is committed.
    let url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = match reqwest::get(&url).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let lags: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("naap_pipeline_lag_messages{"))
            .collect();
        if text.contains("naap_pipeline_quarantined_total{reason=\"ipc_unreadable\"} 2")
            && !lags.is_empty()
            && lags.iter().all(|l| l.ends_with(" 0"))
        {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "metrics never settled:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        text.contains("naap_pipeline_quarantined_total{reason=\"missing_header\"} 1"),
        "{text}"
    );
    assert!(text.contains("naap_pipeline_queryable_seconds_count "), "{text}");
    assert!(
        text.contains("naap_pipeline_commit_seconds{quantile=\"0.99\"}"),
        "{text}"
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(status.success());
    let t = totals(&lake);
    assert_eq!(t["quarantined"], 3, "{t}");
    assert_eq!(t["quarantined_by_reason"]["ipc_unreadable"], 2, "{t}");
    assert_eq!(t["quarantined_by_reason"]["missing_header"], 1, "{t}");
    let rows = table_rows(&lake, "quarantine", &["payload"]);
    assert!(
        rows.iter()
            .any(|r| r.contains("reason=missing_header") && r.contains("schema_header=NULL"))
    );
    assert!(rows.iter().all(|r| r.contains(&format!("source={topic}"))));

    // Every good event is in the lake: the same count as the emitter's own file.
    let file = dir.path().join("same.naapmsg");
    run_ok(
        naap()
            .args([
                "emit",
                "--simulate",
                "4",
                "--from",
                &T0.to_string(),
                "--span",
                "3m",
                "--output",
            ])
            .arg(&file),
    );
    let reference = dir.path().join("reference");
    run_ok(
        naap()
            .args(["replay", "--input"])
            .arg(&file)
            .arg("--lake")
            .arg(&reference),
    );
    assert_eq!(
        table_rows(&reference, "node_telemetry", &[]),
        table_rows(&lake, "node_telemetry", &[])
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A Tansu broker of the test's own, stopped (by PID) when dropped.
struct Broker(std::process::Child);

impl Broker {
    fn start(port: u16) -> Broker {
        let bin = std::env::var("NAAP_TANSU_BIN").expect("NAAP_TANSU_BIN (./test.sh exports it)");
        let url = format!("tcp://127.0.0.1:{port}");
        let child = std::process::Command::new(bin)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start tansu");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "tansu did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Broker(child)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The node agent through a broker outage and a SIGKILL: every heartbeat it
/// emitted reaches the lake exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_survive_an_outage_and_a_sigkill_exactly_once() {
    if service("NAAP_TEST_KAFKA").is_none() {
        return;
    }
    let port = free_port();
    let brokers = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let topic = "naap.node.v1";
    let emit = |extra: &[&str]| {
        let mut cmd = naap();
        cmd.env("NAAP_LOG", "info,librdkafka=off,rdkafka=off")
            // Heartbeats only, so that one spooled message is one lake row.
            .args(["emit", "--brokers", &brokers, "--topic", topic, "--no-gpu", "--no-host"])
            .args(["--orchestrator", "0x00000000000000000000000000000000000000aa"])
            .args([
                "--heartbeat-interval",
                "100ms",
                "--delivery-timeout",
                "1s",
                "--spool-dir",
            ])
            .arg(&spool)
            .args(extra);
        cmd
    };
    let emitted = |out: &std::process::Output| -> u64 {
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout
            .strip_prefix("emitted ")
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no emitted count in {stdout}"))
    };

    // 1. No broker: heartbeats pile up in the spool; then SIGKILL.
    let mut first = emit(&[]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    first.kill().unwrap();
    first.wait().unwrap();
    // Every heartbeat is one spooled message; all of them are still there.
    let killed_run = crate::common::spooled_messages(&spool) as u64;
    assert!(killed_run >= 5, "{killed_run} heartbeats spooled before the kill");

    // 2. Restarted, still no broker: it keeps spooling, then exits.
    let second = run_ok(&mut emit(&["--duration", "1s", "--flush-timeout", "1s"]));
    let second_run = emitted(&second);
    // The operator is told, once and in plain words, as a warning: the
    // spool keeps the data.
    let told = String::from_utf8_lossy(&second.stderr);
    assert!(told.contains("node agent started"), "{told}");
    assert_eq!(told.matches("cannot reach the broker").count(), 1, "{told}");
    assert!(told.contains("connection refused") && !told.contains("ERROR"), "{told}");
    assert!(told.contains("stays in the spool"), "{told}");

    // 3. The broker comes up; the next start delivers everything, oldest first.
    let _broker = Broker::start(port);
    let third = run_ok(&mut emit(&["--duration", "1s", "--flush-timeout", "30s"]));
    let third_run = emitted(&third);
    assert!(String::from_utf8_lossy(&third.stdout).contains("dropped 0"));
    let told = String::from_utf8_lossy(&third.stderr);
    assert!(
        told.contains("first batch acknowledged") && !told.contains("ERROR"),
        "{told}"
    );
    let left = crate::common::spooled_messages(&spool);
    assert_eq!(left, 0, "the spool holds no message once delivered");

    let lake = dir.path().join("lake");
    run_ok(
        naap()
            .args([
                "pipeline",
                "--brokers",
                &brokers,
                "--topic",
                topic,
                "--stop-after-idle",
                "3s",
            ])
            .arg("--lake")
            .arg(&lake),
    );
    let ids = table_rows(&lake, "node_telemetry", &[])
        .into_iter()
        .map(|r| r.split(' ').find(|c| c.starts_with("event_id=")).unwrap().to_owned())
        .collect::<Vec<_>>();
    let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "an event arrived twice");
    assert_eq!(ids.len() as u64, killed_run + second_run + third_run, "events lost");
}

/// Two `naap pipeline --scale-out` processes in one consumer group split 8
/// partitions, hand them over through the commit records when one leaves, and
/// write the same tables as one process reading everything.
#[test]
fn two_scale_out_processes_over_eight_partitions_write_the_tables_of_one() {
    let Some(brokers) = service("NAAP_TEST_KAFKA") else {
        return;
    };
    let topic = format!("scale-out-{}", std::process::id());
    let load = |from_min: i64, span: &str| {
        run_ok(
            naap()
                .args(["emit", "--brokers", &brokers, "--topic", &topic, "--partitions", "8"])
                .args(["--simulate", "16", "--span", span, "--from"])
                .arg((T0 + from_min * 60_000).to_string()),
        );
    };
    // The topic exists (8 partitions) before the group forms.
    load(0, "10m");
    let dir = tempfile::tempdir().unwrap();
    let pipeline = |lake: &std::path::Path, group: &str, extra: &[&str]| {
        let mut cmd = naap();
        cmd.env("NAAP_LOG", "info,librdkafka=off,rdkafka=off")
            .args([
                "pipeline",
                "--brokers",
                &brokers,
                "--topic",
                &topic,
                "--group-id",
                group,
            ])
            .arg("--lake")
            .arg(lake)
            .args([
                "--commit-interval",
                "200ms",
                "--stop-after-idle",
                "15s",
                "--finalize-at-idle",
            ])
            .args(["--kafka-property", "session.timeout.ms=6000"])
            .args(["--kafka-property", "heartbeat.interval.ms=500"])
            .args(extra);
        cmd
    };
    let (two, group) = (dir.path().join("two"), format!("{topic}-two"));
    let spawn = |name: &str| {
        let log = dir.path().join(format!("{name}.log"));
        let child = pipeline(&two, &group, &["--scale-out"])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start a pipeline");
        (child, log)
    };
    let claims = |log: &std::path::Path| -> Vec<u32> {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("claimed partitions"))
            .filter_map(|l| l.split("claimed=").nth(1)?.split(' ').next()?.parse().ok())
            .collect()
    };
    let (mut a, a_log) = spawn("a");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while claims(&a_log).is_empty() {
        assert!(std::time::Instant::now() < deadline, "a never got partitions");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (mut b, b_log) = spawn("b");
    while claims(&b_log).is_empty() {
        assert!(std::time::Instant::now() < deadline, "b never got partitions");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Most of the input arrives while the two share the partitions.
    load(10, "50m");
    let (status_a, status_b) = (a.wait().expect("a"), b.wait().expect("b"));
    let (log_a, log_b) = (
        std::fs::read_to_string(&a_log).unwrap(),
        std::fs::read_to_string(&b_log).unwrap(),
    );
    assert!(status_a.success() && status_b.success(), "a:\n{log_a}\nb:\n{log_b}");
    // Each held a share of the 8 partitions at once (4 + 4 after b joined).
    assert_eq!(claims(&a_log)[0], 8, "a alone holds all 8 first:\n{log_a}");
    assert_eq!(claims(&b_log)[0], 4, "b takes half when it joins:\n{log_b}");
    // Both committed data: the commit records that add partitions' files
    // come from both processes.
    let mut writers = std::collections::BTreeSet::new();
    for record in common::commit_records(&two) {
        let m: serde_json::Value = serde_json::from_slice(&std::fs::read(record).unwrap()).unwrap();
        let adds_partition_files = m["tables"].as_object().into_iter().flatten().any(|(_, change)| {
            change["adds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f["path"].as_str().is_some_and(|p| p.contains(&format!("@{topic}@"))))
        });
        if adds_partition_files && let Some(writer) = m["writer"].as_str() {
            writers.insert(writer.to_owned());
        }
    }
    assert_eq!(writers.len(), 2, "files committed by {writers:?}");

    let one = dir.path().join("one");
    run_ok(&mut pipeline(&one, &format!("{topic}-one"), &[]));
    for table in ["node_telemetry", "telemetry_1m", "scores"] {
        let want = table_rows(&one, table, &[]);
        let got = table_rows(&two, table, &[]);
        assert!(!want.is_empty(), "{table} is empty");
        assert_eq!(want.len(), got.len(), "{table}: row count differs");
        if let Some((w, g)) = want.iter().zip(&got).find(|(w, g)| w != g) {
            panic!("{table}: rows differ; first difference:\n  one process {w}\n  two         {g}");
        }
    }
    let (t1, t2) = (totals(&one), totals(&two));
    for key in [
        "events_in",
        "messages_in",
        "windows_committed",
        "rows_written",
        "duplicates",
    ] {
        assert_eq!(t1[key], t2[key], "totals.{key}");
    }
}

/// A producer whose local queue is full waits for room, as the broker
/// acknowledges, instead of failing the send: a whole simulated span goes
/// out through a queue of one message.
#[test]
fn a_full_producer_queue_waits_for_room() {
    let Some(brokers) = service("NAAP_TEST_KAFKA") else {
        return;
    };
    let topic = format!("queue-full-{}", std::process::id());
    let out = run_ok(
        naap()
            .args(["emit", "--brokers", &brokers, "--topic", &topic])
            .args(["--kafka-property", "queue.buffering.max.messages=1"])
            .args(["--simulate", "2", "--from", &T0.to_string(), "--span", "2m"]),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("emitted "), "{stdout}");
}
