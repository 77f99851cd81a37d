//! Fuzzing the wire contract's decoders on the stable toolchain: valid
//! messages, mutated at random (bytes flipped, lengths and sizes replaced
//! with extreme values, cut, spliced), and gateway events whose values are
//! replaced with extreme ones.
//!
//! Each target runs for `NAAP_FUZZ_SECONDS` (default 2; `./test.sh` runs
//! them so, the hour-long run in SECURITY.md sets 3600). A crash, an
//! allocation failure or a stack overflow fails the run; so does a decoded
//! message holding a value the lake cannot hold.

use std::time::{Duration, Instant};

use naap_events::gateway_tables::GatewayTables;
use naap_events::ipc::{self, IpcCheck, MESSAGE_BUDGET};
use naap_events::lake_types::{EVENT_TIME_MS, unfit_rows};
use naap_events::samples::{MetricSampleBuilder, SampleOrigin};
use naap_events::telemetry::{TelemetryBatchBuilder, TelemetryEvent};
use naap_events::{Family, livepeer};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

/// Runs `check` on values of `strategy` until the time is up.
fn fuzz<S: Strategy>(name: &str, strategy: S, check: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let seconds: f64 = std::env::var("NAAP_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let started = Instant::now();
    let config = Config {
        cases: 64,
        failure_persistence: None,
        // A failure is reported within a minute, shrunk as far as that goes.
        max_shrink_time: 60_000,
        ..Config::default()
    };
    // A runner runs its cases once: each round takes a fresh one, seeded
    // from the first, so rounds go on where the last left off.
    let mut seeds = TestRunner::new(config.clone());
    let mut rounds = 0u64;
    while rounds == 0 || started.elapsed() < Duration::from_secs_f64(seconds) {
        let mut runner = TestRunner::new_with_rng(config.clone(), seeds.new_rng());
        if let Err(e) = runner.run(&strategy, &check) {
            // The input can be megabytes: a bounded prefix of its Debug form.
            let report = format!("{e}");
            let end = report.char_indices().nth(4096).map_or(report.len(), |(i, _)| i);
            panic!("fuzz {name}: {}", &report[..end]);
        }
        rounds += 1;
    }
    eprintln!(
        "fuzz {name}: {} cases in {:.1} s",
        rounds * 64,
        started.elapsed().as_secs_f64()
    );
}

/// Values that break code trusting a length, a count or a range.
const EXTREMES: [i64; 14] = [
    0,
    -1,
    -2,
    1,
    8,
    255,
    i32::MAX as i64,
    i32::MIN as i64,
    1 << 32,
    1 << 40,
    (1 << 62) + 7,
    i64::MAX,
    i64::MIN,
    -9_223_372_036_854,
];

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, xor: u8 },
    Extreme64 { at: usize, which: usize },
    Extreme32 { at: usize, which: usize },
    Cut { at: usize },
    Repeat { at: usize, len: usize, times: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        (any::<usize>(), 0..EXTREMES.len()).prop_map(|(at, which)| Mutation::Extreme64 { at, which }),
        (any::<usize>(), 0..EXTREMES.len()).prop_map(|(at, which)| Mutation::Extreme32 { at, which }),
        any::<usize>().prop_map(|at| Mutation::Cut { at }),
        (any::<usize>(), 1..64usize, 1..8usize).prop_map(|(at, len, times)| Mutation::Repeat { at, len, times }),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        let n = bytes.len();
        match *m {
            Mutation::Flip { at, xor } => bytes[at % n] ^= xor,
            Mutation::Extreme64 { at, which } => {
                let at = (at % n) & !7;
                let value = EXTREMES[which].to_le_bytes();
                let end = (at + 8).min(n);
                bytes[at..end].copy_from_slice(&value[..end - at]);
            }
            Mutation::Extreme32 { at, which } => {
                let at = (at % n) & !3;
                let value = (EXTREMES[which] as i32).to_le_bytes();
                let end = (at + 4).min(n);
                bytes[at..end].copy_from_slice(&value[..end - at]);
            }
            Mutation::Cut { at } => bytes.truncate(at % n),
            Mutation::Repeat { at, len, times } => {
                let at = at % n;
                let piece = bytes[at..(at + len).min(n)].to_vec();
                for _ in 0..times {
                    bytes.splice(at..at, piece.iter().copied());
                }
            }
        }
    }
    bytes
}

const ORCH: &str = "0x00000000000000000000000000000000000000aa";

fn origin(i: i64) -> SampleOrigin {
    SampleOrigin {
        event_id: format!("e{i}").parse().expect("an event id"),
        event_time_ms: 1_767_908_945_298 + i,
        orchestrator: ORCH.parse().expect("an address"),
        node_id: "n1".into(),
        region: "eu-west".into(),
    }
}

/// Valid messages of two families, uncompressed and compressed.
fn seeds() -> Vec<(Family, Vec<u8>)> {
    let mut telemetry = TelemetryBatchBuilder::default();
    for i in 0..20 {
        let o = origin(i);
        telemetry.push(&TelemetryEvent::probe(
            o.event_id,
            o.event_time_ms,
            o.orchestrator,
            "n1",
            "eu-west",
            Some(10.0 + i as f64),
        ));
    }
    let mut metrics = MetricSampleBuilder::default();
    for i in 0..10 {
        metrics.push(
            &origin(i),
            "livepeer_current_sessions_total",
            r#"{"node":"a"}"#,
            i as f64,
        );
    }
    let (telemetry, metrics) = (telemetry.finish(), metrics.finish());
    let mut out = vec![
        (Family::NodeTelemetryV1, ipc::encode(&telemetry).expect("encodes")),
        (Family::MetricSampleV1, ipc::encode(&metrics).expect("encodes")),
    ];
    for compression in [None, Some(arrow::ipc::CompressionType::LZ4_FRAME)] {
        let options = arrow::ipc::writer::IpcWriteOptions::default()
            .try_with_compression(compression)
            .expect("options");
        let mut w = arrow::ipc::writer::StreamWriter::try_new_with_options(Vec::new(), &telemetry.schema(), options)
            .expect("a writer");
        w.write(&telemetry).expect("writes");
        out.push((Family::NodeTelemetryV1, w.into_inner().expect("finishes")));
    }
    out
}

#[test]
fn fuzz_the_ipc_reader() {
    let seeds = seeds();
    let n = seeds.len();
    fuzz(
        "ipc reader",
        (0..n, prop::collection::vec(mutation(), 1..6)),
        |(seed, mutations)| {
            let (family, bytes) = &seeds[seed];
            let bytes = mutate(bytes.clone(), &mutations);
            // Bounded before reading, then read: either may refuse; neither
            // may abort, and what is read is within the budget.
            let _ = IpcCheck::stream(MESSAGE_BUDGET, &bytes);
            if let Ok(batch) = ipc::decode(*family, &bytes) {
                prop_assert!(batch.num_rows() as i64 <= MESSAGE_BUDGET.max_rows);
                let unfit = unfit_rows(&batch, EVENT_TIME_MS.end, family.non_finite_columns());
                prop_assert_eq!(unfit.keep.len(), batch.num_rows());
            }
            Ok(())
        },
    );
}

/// Values that break code trusting a JSON value's type or range.
fn json_extreme() -> impl Strategy<Value = Value> {
    let strings = [
        "NaN",
        "inf",
        "-inf",
        "1e309",
        "-1",
        "9223372036854775807",
        "-9223372036854775808",
        "99999999999999999999999",
        "",
        "0x",
        "1.5e3 WEI",
        "x wei/pixel",
    ];
    prop_oneof![
        prop::sample::select(EXTREMES.to_vec()).prop_map(Value::from),
        prop::sample::select(strings.to_vec()).prop_map(Value::from),
        prop::sample::select(vec![1e300, -1e300, 1e-300, -0.0, 0.5]).prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        Just(Value::Null),
        Just(Value::Bool(true)),
        Just(Value::Array(vec![])),
        Just(serde_json::json!({"address": ORCH, "latency_ms": "NaN"})),
    ]
}

/// The fixtures' events, each a JSON value.
fn gateway_events() -> Vec<Value> {
    [
        include_str!("../../data/livepeer/gateway-events-sample.ndjson"),
        include_str!("../../data/livepeer/ai-batch-byoc-sample.ndjson"),
    ]
    .iter()
    .flat_map(|text| text.lines())
    .filter(|l| !l.trim().is_empty())
    .map(|l| serde_json::from_str(l).expect("the fixtures are JSON"))
    .collect()
}

/// Every path to a leaf of `value`: object keys and array indices.
fn leaves(value: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                prefix.push(Value::from(k.as_str()));
                leaves(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                prefix.push(Value::from(i));
                leaves(v, prefix, out);
                prefix.pop();
            }
        }
        _ => out.push(prefix.clone()),
    }
}

fn replace(value: &mut Value, path: &[Value], with: Value) {
    let mut at = value;
    for step in path {
        let next = match (at, step) {
            (Value::Object(map), Value::String(k)) => map.get_mut(k),
            (Value::Array(items), Value::Number(i)) => i.as_u64().and_then(|i| items.get_mut(i as usize)),
            _ => None,
        };
        let Some(next) = next else { return };
        at = next;
    }
    *at = with;
}

#[test]
fn fuzz_the_gateway_event_decoder() {
    let events = gateway_events();
    let n = events.len();
    fuzz(
        "gateway events",
        (
            0..n,
            prop::collection::vec((any::<usize>(), json_extreme()), 1..4),
            prop::collection::vec(mutation(), 0..2),
        ),
        |(which, replacements, byte_mutations)| {
            let mut event = events[which].clone();
            let mut paths = Vec::new();
            leaves(&event, &mut Vec::new(), &mut paths);
            for (at, with) in replacements {
                if !paths.is_empty() {
                    replace(&mut event, &paths[at % paths.len()], with);
                }
            }
            let bytes = mutate(serde_json::to_vec(&event).expect("encodes"), &byte_mutations);
            // Accepted means every value fits the lake: the typed tables it
            // becomes hold no time out of range and no unfinished number.
            if let Ok(envelope) = livepeer::decode(&bytes) {
                let mut tables = GatewayTables::default();
                tables.push(&envelope);
                for (table, batch) in tables.finish() {
                    let unfit = unfit_rows(&batch, EVENT_TIME_MS.end, &[]);
                    prop_assert!(
                        unfit.first.is_none(),
                        "{} accepted, but {table} holds {:?}",
                        String::from_utf8_lossy(&bytes),
                        unfit.first
                    );
                }
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_the_telemetry_values() {
    let times = prop_oneof![
        EVENT_TIME_MS.start..EVENT_TIME_MS.end,
        prop::sample::select(EXTREMES.to_vec()),
        Just(EVENT_TIME_MS.end),
        Just(EVENT_TIME_MS.start - 1),
    ];
    let latencies = prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        0.0..1e6f64,
    ];
    fuzz(
        "telemetry values",
        prop::collection::vec((times, latencies), 1..40),
        |rows| {
            let mut b = TelemetryBatchBuilder::default();
            for (i, (t, latency)) in rows.iter().enumerate() {
                let o = origin(i as i64);
                b.push(&TelemetryEvent::probe(
                    o.event_id,
                    *t,
                    o.orchestrator,
                    "n1",
                    "eu-west",
                    Some(*latency),
                ));
            }
            let bytes = ipc::encode(&b.finish()).expect("encodes");
            let batch = ipc::decode(Family::NodeTelemetryV1, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let unfit = unfit_rows(&batch, EVENT_TIME_MS.end, &[]);
            let expected = rows
                .iter()
                .filter(|(t, l)| EVENT_TIME_MS.contains(t) && l.is_finite())
                .count();
            prop_assert_eq!(batch.num_rows() - unfit.refused, expected);
            let kept = arrow::compute::filter_record_batch(&batch, &unfit.keep).expect("filters");
            prop_assert!(unfit_rows(&kept, EVENT_TIME_MS.end, &[]).first.is_none());
            Ok(())
        },
    );
}
