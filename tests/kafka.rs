//! The pipeline against a real Kafka-API broker (Tansu, started by ./test.sh).

mod common;

use std::time::Duration;

use common::{T0, naap, run_ok, service, table_rows, totals};
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
    run_ok(
        naap()
            .args([
                "pipeline",
                "--brokers",
                &brokers,
                "--topic",
                &topic,
                "--stop-after-idle",
                "3s",
            ])
            .arg("--lake")
            .arg(&lake),
    );
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

/// go-livepeer gateways publish to several topics; a session's events land on
/// any partition, in any order within the lateness bound. The hourly tables
/// must not notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livepeer_events_over_several_topics_and_partitions_equal_the_replay() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;

    let Some(brokers) = service("NAAP_TEST_KAFKA") else {
        return;
    };
    let sample_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/livepeer/gateway-events-sample.ndjson"
    );
    let sample = std::fs::read_to_string(sample_path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference");
    run_ok(
        naap()
            .args(["replay", "--format", "livepeer-json", "--input", sample_path, "--lake"])
            .arg(&reference),
    );

    let streams = format!("livepeer-streams-{}", std::process::id());
    let network = format!("livepeer-network-{}", std::process::id());
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("admin client");
    let topics = [
        NewTopic::new(&streams, 2, TopicReplication::Fixed(1)),
        NewTopic::new(&network, 2, TopicReplication::Fixed(1)),
    ];
    for result in admin
        .create_topics(
            &topics,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("create topics")
    {
        result.expect("topic created");
    }
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("producer");
    // Reverse every run of 4 events (the sample is spaced ~5 s apart, so an
    // event arrives at most ~15 s early, within the 30 s lateness), send the
    // stream families to one topic and the rest to another, alternating
    // partitions so one session is spread over all four.
    let lines: Vec<&str> = sample.lines().collect();
    let mut shuffled: Vec<&str> = Vec::new();
    for chunk in lines.chunks(4) {
        shuffled.extend(chunk.iter().rev().copied());
    }
    assert_ne!(shuffled, lines);
    for (i, line) in shuffled.iter().enumerate() {
        let family: serde_json::Value = serde_json::from_str(line).unwrap();
        let topic = match family["type"].as_str().unwrap() {
            "stream_trace" | "ai_stream_status" | "ai_stream_events" | "stream_ingest_metrics" => &streams,
            _ => &network,
        };
        let record = FutureRecord::<(), str>::to(topic)
            .payload(*line)
            .partition((i % 2) as i32);
        producer.send(record, Duration::from_secs(10)).await.expect("delivered");
    }

    let lake = dir.path().join("lake");
    run_ok(
        naap()
            .args([
                "pipeline",
                "--source",
                "kafka",
                "--brokers",
                &brokers,
                "--format",
                "livepeer-json",
            ])
            .args(["--topics", &format!("{streams},{network}")])
            .args(["--stop-after-idle", "3s", "--finalize-at-idle"])
            .arg("--lake")
            .arg(&lake),
    );
    let t = totals(&lake);
    assert_eq!(t["events_in"], 65, "{t}");
    assert_eq!(t["late_events"], 0, "{t}");
    for table in [
        "sla_hourly",
        "sessions",
        "orchestrator_hourly",
        "gpu_inventory",
        "discovery_latency",
        "payments",
        "capability_snapshots",
        "payment_events",
    ] {
        let want = table_rows(&reference, table, &[]);
        assert!(!want.is_empty(), "{table} is empty in the replay");
        assert_eq!(want, table_rows(&lake, table, &[]), "{table}");
    }
    // Raw events match too, less where each one was read from.
    assert_eq!(
        table_rows(&reference, "gateway_events", &[]),
        table_rows(&lake, "gateway_events", &[])
    );
    let sla = table_rows(&lake, "sla_hourly", &[]);
    assert!(sla[0].contains("sla_score=85.0"), "{sla:?}");
}
