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
