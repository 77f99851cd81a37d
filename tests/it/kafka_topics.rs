//! go-livepeer gateways publish each event family to their own topics, and
//! an event lands on any partition of its topic: the lake must not notice.
//! Each test sends a recorded sample over a real Kafka-API broker (Tansu,
//! started by ./test.sh), spread over two topics of two partitions each,
//! and compares the tables with those of a file replay of the same sample.

use std::path::Path;
use std::time::Duration;

use crate::common::{naap, run_ok, service, table_rows, totals};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

/// A sample sent over Kafka, and what its lake must equal.
struct Spread<'a> {
    /// Under `data/livepeer/`.
    sample: &'a str,
    /// The families sent to the first topic; the rest go to the second.
    first_topic: &'a [&'a str],
    /// Reverse every run of this many events (1: keep the order).
    reverse_runs: usize,
    events: u64,
    /// Tables that must hold the same rows as the replay's (none empty).
    tables: &'a [&'a str],
}

/// Sends the sample, runs the pipeline over both topics, checks the tables,
/// and returns the lake.
async fn spread_equals_replay(brokers: &str, spread: Spread<'_>, dir: &Path) -> std::path::PathBuf {
    let sample_path = format!("{}/data/livepeer/{}", env!("CARGO_MANIFEST_DIR"), spread.sample);
    let sample = std::fs::read_to_string(&sample_path).expect("the sample is in the checkout");
    let reference = dir.join("reference");
    run_ok(
        naap()
            .args(["replay", "--format", "livepeer-json", "--input", &sample_path, "--lake"])
            .arg(&reference),
    );
    let tag = format!("{}-{}", spread.sample.trim_end_matches(".ndjson"), std::process::id());
    let (first, second) = (format!("first-{tag}"), format!("second-{tag}"));
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let topics = [
        NewTopic::new(&first, 2, TopicReplication::Fixed(1)),
        NewTopic::new(&second, 2, TopicReplication::Fixed(1)),
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
        .set("bootstrap.servers", brokers)
        .create()
        .expect("producer");
    let lines: Vec<&str> = sample.lines().collect();
    let mut sent: Vec<&str> = Vec::new();
    for chunk in lines.chunks(spread.reverse_runs) {
        sent.extend(chunk.iter().rev().copied());
    }
    // Alternating partitions, so one session's or job's events are spread
    // over all four.
    for (i, line) in sent.iter().enumerate() {
        let event: serde_json::Value = serde_json::from_str(line).expect("the sample is JSON");
        let family = event["type"].as_str().expect("every event names its family");
        let topic = if spread.first_topic.contains(&family) {
            &first
        } else {
            &second
        };
        let record = FutureRecord::<(), str>::to(topic)
            .payload(*line)
            .partition((i % 2) as i32);
        producer.send(record, Duration::from_secs(10)).await.expect("delivered");
    }
    let lake = dir.join("lake");
    run_ok(
        naap()
            .args([
                "pipeline",
                "--source",
                "kafka",
                "--brokers",
                brokers,
                "--format",
                "livepeer-json",
            ])
            .args(["--topics", &format!("{first},{second}")])
            .args(["--stop-after-idle", "3s", "--finalize-at-idle"])
            .arg("--lake")
            .arg(&lake),
    );
    let t = totals(&lake);
    assert_eq!(t["events_in"], spread.events, "{t}");
    assert_eq!(t["late_events"], 0, "{t}");
    for table in spread.tables {
        let want = table_rows(&reference, table, &[]);
        assert!(!want.is_empty(), "{table} is empty in the replay");
        assert_eq!(want, table_rows(&lake, table, &[]), "{table}");
    }
    lake
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livepeer_events_over_several_topics_and_partitions_equal_the_replay() {
    let Some(brokers) = service("NAAP_TEST_KAFKA") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Runs of 4 reversed: the sample is spaced ~5 s apart, so an event
    // arrives at most ~15 s early, within the 30 s lateness.
    let spread = Spread {
        sample: "gateway-events-sample.ndjson",
        first_topic: &[
            "stream_trace",
            "ai_stream_status",
            "ai_stream_events",
            "stream_ingest_metrics",
        ],
        reverse_runs: 4,
        events: 65,
        tables: &[
            "sla_hourly",
            "sessions",
            "orchestrator_hourly",
            "sla_inputs_hourly",
            "gpu_inventory",
            "discovery_latency",
            "payments",
            "capability_snapshots",
            "payment_events",
            "gateway_events",
        ],
    };
    let lake = spread_equals_replay(&brokers, spread, dir.path()).await;
    let sla = table_rows(&lake, "sla_hourly", &[]);
    assert!(sla[0].contains("sla_score=85.0"), "{sla:?}");
}

/// The 2026 families (AI batch, LLM, BYOC): AI requests on one topic, BYOC
/// jobs, auth, payments and drained worker events on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_families_over_several_topics_and_partitions_equal_the_replay() {
    let Some(brokers) = service("NAAP_TEST_KAFKA") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let spread = Spread {
        sample: "ai-batch-byoc-sample.ndjson",
        first_topic: &["ai_batch_request", "ai_llm_request"],
        reverse_runs: 1,
        events: 60,
        tables: &[
            "ai_batch_events",
            "llm_events",
            "byoc_job_events",
            "byoc_auth_events",
            "byoc_payment_events",
            "worker_events",
            "ai_requests",
            "llm_requests",
            "byoc_attempts",
            "byoc_jobs",
            "byoc_workers",
            "requests_hourly",
            "byoc_auth_hourly",
            "byoc_payments_hourly",
            "jobs_hourly",
        ],
    };
    let lake = spread_equals_replay(&brokers, spread, dir.path()).await;
    // The runner two gateways drained is one runner, seen twice.
    let workers = table_rows(&lake, "byoc_workers", &[]);
    assert_eq!(workers.len(), 3, "{workers:?}");
    assert_eq!(
        workers.iter().filter(|r| r.contains("registration_copies=2")).count(),
        1,
        "{workers:?}"
    );
}
