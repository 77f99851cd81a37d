//! The pipeline's per-event work, one message of ~1k events at a time:
//! decoding the Arrow IPC payload, the one-minute window aggregate (SQL),
//! and the lake's visibility rule over a folder listing.
//!
//! `cargo bench -p naap-pipeline --bench hot_paths`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use naap_events::Family;
use naap_events::telemetry::{TelemetryBatchBuilder, TelemetryEvent};

const EVENTS: usize = 1_000;

fn message() -> arrow::record_batch::RecordBatch {
    let mut b = TelemetryBatchBuilder::default();
    for i in 0..EVENTS {
        let orchestrator = format!("0x{:040x}", i % 50).parse().expect("address");
        let t = 1_767_906_000_000 + i as i64 * 100;
        let event = if i % 3 == 0 {
            TelemetryEvent::probe(
                format!("p-{i}").parse().expect("id"),
                t,
                orchestrator,
                "prober-1",
                "eu-west",
                Some(20.0 + (i % 17) as f64),
            )
        } else {
            TelemetryEvent::heartbeat(
                format!("h-{i}").parse().expect("id"),
                t,
                orchestrator,
                "node-0",
                "eu-west",
                5_000,
            )
        };
        b.push(&event);
    }
    b.finish()
}

fn hot_paths(c: &mut Criterion) {
    let batch = message();
    let bytes = naap_events::ipc::encode(&batch).expect("encode");
    let mut group = c.benchmark_group("per_message");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("ipc_decode_1k_events", |b| {
        b.iter(|| naap_events::ipc::decode(Family::NodeTelemetryV1, black_box(&bytes)).expect("decode"))
    });

    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let ctx =
        naap_sql::session::context_with(datafusion::execution::context::SessionConfig::new().with_target_partitions(1));
    let schema = batch.schema();
    let sql = naap_sql::rules::aggregate("telemetry_1m").sql;
    group.bench_function("window_aggregate_1k_events", |b| {
        b.iter(|| {
            runtime
                .block_on(naap_sql::session::run_over(
                    &ctx,
                    "node_telemetry",
                    Arc::clone(&schema),
                    vec![black_box(batch.clone())],
                    sql,
                ))
                .expect("aggregate")
        })
    });
    group.finish();
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
