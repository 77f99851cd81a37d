//! Property tests of the additive telemetry state, over randomly generated
//! events (a seeded generator; the seed is printed, `NAAP_PROPERTY_SEED`
//! replays one):
//!
//! * merging partial `telemetry_1m` rows (`telemetry_1m_merge.sql`) is
//!   commutative and associative, and equals aggregating all events at once,
//!   however the events were split into micro-batches;
//! * the rollups 1 min → 5 min → 1 h → 1 d (`sql/views/telemetry_*.sql`)
//!   equal the direct computation from the events at each level: exactly for
//!   counts, sums, minima and maxima, within DDSketch's 1% relative error for
//!   latency quantiles.

#![allow(clippy::unwrap_used)] // a failed unwrap here is a failed assertion, with its location

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    UInt32Array,
};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampMillisecondType};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use naap_sql::rules::{aggregate, rollups};
use naap_sql::session::{context, register_rollups, run_over};

/// 2026-01-07T00:00:00Z: the events span two UTC days from here.
const DAY0: i64 = 1_767_744_000_000;
const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

/// A small deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One generated event: only the columns the telemetry aggregate reads.
#[derive(Debug, Clone)]
struct Event {
    time_ms: i64,
    orchestrator: String,
    node_id: String,
    region: String,
    kind: &'static str,
    heartbeat_interval_ms: Option<u32>,
    probe_ok: Option<bool>,
    /// Whole milliseconds, so float sums are exact in any order.
    latency_ms: Option<f64>,
    /// Multiples of 1/64, so float sums are exact in any order.
    gpu_utilization: Option<f64>,
}

fn events(rng: &mut Lcg, n: usize) -> Vec<Event> {
    (0..n)
        .map(|_| {
            let o = rng.below(3);
            let (kind, interval, ok, latency, util) = match rng.below(3) {
                0 => ("heartbeat", Some(1_000 * (1 + rng.below(10) as u32)), None, None, None),
                1 => {
                    let ok = rng.below(10) > 0;
                    // Latencies over three orders of magnitude.
                    let latency = ok.then(|| (1 + rng.below(20) * rng.below(200)) as f64);
                    ("probe", None, Some(ok), latency, None)
                }
                _ => ("gpu", None, None, None, Some(rng.below(65) as f64 / 64.0)),
            };
            Event {
                time_ms: DAY0 + rng.below((2 * DAY) as u64) as i64,
                orchestrator: format!("0x{o:040x}"),
                node_id: format!("node-{}", rng.below(2)),
                region: ["eu", "us"][(o % 2) as usize].to_owned(),
                kind,
                heartbeat_interval_ms: interval,
                probe_ok: ok,
                latency_ms: latency,
                gpu_utilization: util,
            }
        })
        .collect()
}

/// The columns of `node_telemetry` v1 the aggregate reads.
const COLUMNS: [&str; 9] = [
    "event_time",
    "orchestrator",
    "node_id",
    "region",
    "kind",
    "heartbeat_interval_ms",
    "probe_ok",
    "latency_ms",
    "gpu_utilization",
];

fn raw_schema() -> SchemaRef {
    let full = naap_events::Family::NodeTelemetryV1.schema();
    let indices: Vec<usize> = COLUMNS.iter().map(|c| full.index_of(c).unwrap()).collect();
    Arc::new(full.project(&indices).unwrap())
}

fn batch(events: &[Event]) -> RecordBatch {
    let strings = |f: fn(&Event) -> &str| Arc::new(StringArray::from_iter_values(events.iter().map(f))) as ArrayRef;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from_iter_values(events.iter().map(|e| e.time_ms)).with_timezone("UTC")),
        strings(|e| &e.orchestrator),
        strings(|e| &e.node_id),
        strings(|e| &e.region),
        strings(|e| e.kind),
        Arc::new(UInt32Array::from_iter(events.iter().map(|e| e.heartbeat_interval_ms))),
        Arc::new(BooleanArray::from_iter(events.iter().map(|e| e.probe_ok))),
        Arc::new(Float64Array::from_iter(events.iter().map(|e| e.latency_ms))),
        Arc::new(Float64Array::from_iter(events.iter().map(|e| e.gpu_utilization))),
    ];
    RecordBatch::try_new(raw_schema(), columns).unwrap()
}

/// `telemetry_1m` partial rows of one micro-batch.
async fn minute_state(ctx: &SessionContext, events: &[Event]) -> Vec<RecordBatch> {
    run_over(
        ctx,
        "node_telemetry",
        raw_schema(),
        vec![batch(events)],
        aggregate("telemetry_1m").sql,
    )
    .await
    .unwrap()
}

/// Merges partial rows (in the order given) into one row per key.
async fn merge(ctx: &SessionContext, partials: Vec<RecordBatch>) -> Vec<RecordBatch> {
    let schema = partials[0].schema();
    run_over(
        ctx,
        "telemetry_1m_partials",
        schema,
        partials,
        aggregate("telemetry_1m_merge").sql,
    )
    .await
    .unwrap()
}

/// Rows as sorted text (sketches as their bytes), for exact comparison.
fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let formatters: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default().with_null("∅")).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| f.value(i).to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
    }
    out.sort();
    out
}

/// Splits `events` into random consecutive micro-batches.
fn split(rng: &mut Lcg, events: &[Event]) -> Vec<Vec<Event>> {
    let mut out = Vec::new();
    let mut rest = events;
    while !rest.is_empty() {
        let n = (1 + rng.below(rest.len() as u64 / 2 + 1) as usize).min(rest.len());
        out.push(rest[..n].to_vec());
        rest = &rest[n..];
    }
    out
}

fn seeds() -> Vec<u64> {
    match std::env::var("NAAP_PROPERTY_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(seed) => vec![seed],
        None => (1..=8).map(|i| 20_261_125 * i).collect(),
    }
}

#[tokio::test]
async fn merging_minute_state_is_commutative_associative_and_split_independent() {
    let ctx = context();
    for seed in seeds() {
        eprintln!("seed {seed} (NAAP_PROPERTY_SEED)");
        let mut rng = Lcg(seed);
        // Few minutes, many events per key: merges really combine rows.
        let mut all = events(&mut rng, 1_500);
        for e in &mut all {
            e.time_ms = DAY0 + (e.time_ms - DAY0) % (5 * MINUTE);
        }
        let direct = rows(&minute_state(&ctx, &all).await);

        let mut partials = Vec::new();
        for part in split(&mut rng, &all) {
            partials.extend(minute_state(&ctx, &part).await);
        }
        let merged = rows(&merge(&ctx, partials.clone()).await);
        assert_eq!(
            merged, direct,
            "seed {seed}: merged micro-batches differ from one batch"
        );

        // Commutative: any order of the partials.
        let mut shuffled = partials.clone();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.below(i as u64 + 1) as usize);
        }
        assert_eq!(rows(&merge(&ctx, shuffled).await), direct, "seed {seed}: order matters");

        // Associative: (a ∪ b) ∪ c = a ∪ (b ∪ c), merged in those groupings.
        let third = partials.len() / 3;
        let (a, rest) = partials.split_at(third.max(1));
        let (b, c) = rest.split_at(rest.len() / 2);
        if b.is_empty() || c.is_empty() {
            continue;
        }
        let mut left = merge(&ctx, [a, b].concat()).await;
        left.extend_from_slice(c);
        let mut right = merge(&ctx, [b, c].concat()).await;
        right.extend_from_slice(a);
        assert_eq!(
            rows(&merge(&ctx, left).await),
            rows(&merge(&ctx, right).await),
            "seed {seed}: grouping matters"
        );
    }
}

/// What the events say directly about one key and window.
#[derive(Debug, Default)]
struct Direct {
    events: i64,
    heartbeats: i64,
    heartbeat_interval_ms: Option<u32>,
    probes: i64,
    probes_ok: i64,
    latencies: Vec<f64>,
    gpu_samples: i64,
    gpu_utilization_sum: f64,
    first: i64,
    last: i64,
}

fn direct(events: &[Event], width_ms: i64) -> BTreeMap<(i64, String, String, String), Direct> {
    let mut out: BTreeMap<_, Direct> = BTreeMap::new();
    for e in events {
        let window = e.time_ms.div_euclid(width_ms) * width_ms;
        let d = out
            .entry((window, e.orchestrator.clone(), e.node_id.clone(), e.region.clone()))
            .or_insert_with(|| Direct {
                first: i64::MAX,
                last: i64::MIN,
                ..Default::default()
            });
        d.events += 1;
        match e.kind {
            "heartbeat" => d.heartbeats += 1,
            "probe" => d.probes += 1,
            _ => d.gpu_samples += 1,
        }
        if let Some(i) = e.heartbeat_interval_ms {
            d.heartbeat_interval_ms = Some(d.heartbeat_interval_ms.map_or(i, |m| m.min(i)));
        }
        if e.kind == "probe" && e.probe_ok == Some(true) {
            d.probes_ok += 1;
        }
        d.latencies.extend(e.latency_ms);
        d.gpu_utilization_sum += e.gpu_utilization.unwrap_or(0.0);
        d.first = d.first.min(e.time_ms);
        d.last = d.last.max(e.time_ms);
    }
    for d in out.values_mut() {
        d.latencies.sort_by(f64::total_cmp);
    }
    out
}

fn int(batch: &RecordBatch, column: &str, row: usize) -> Option<i64> {
    let c = batch.column_by_name(column).unwrap();
    if c.is_null(row) {
        return None;
    }
    let c = arrow::compute::cast(c, &DataType::Int64).unwrap();
    Some(c.as_primitive::<arrow::datatypes::Int64Type>().value(row))
}

fn float(batch: &RecordBatch, column: &str, row: usize) -> Option<f64> {
    let c = batch.column_by_name(column).unwrap();
    (!c.is_null(row)).then(|| c.as_primitive::<arrow::datatypes::Float64Type>().value(row))
}

fn millis(batch: &RecordBatch, column: &str, row: usize) -> i64 {
    let c = arrow::compute::cast(
        batch.column_by_name(column).unwrap(),
        &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
    )
    .unwrap();
    c.as_primitive::<TimestampMillisecondType>().value(row)
}

#[tokio::test]
async fn rollups_equal_the_direct_computation_at_every_level() {
    for seed in seeds() {
        eprintln!("seed {seed} (NAAP_PROPERTY_SEED)");
        let mut rng = Lcg(seed);
        let all = events(&mut rng, 4_000);
        let ctx = context();
        // The stored minutes come from micro-batches, as the pipeline writes them.
        let mut partials = Vec::new();
        for part in split(&mut rng, &all) {
            partials.extend(minute_state(&ctx, &part).await);
        }
        let minutes = merge(&ctx, partials).await;
        let schema = minutes[0].schema();
        ctx.register_table(
            "telemetry_1m",
            Arc::new(MemTable::try_new(schema, vec![minutes]).unwrap()),
        )
        .unwrap();
        let registered = register_rollups(&ctx).await.unwrap();
        assert_eq!(registered, ["telemetry_5m", "telemetry_1h", "telemetry_1d"]);
        assert_eq!(rollups().len(), registered.len());

        for (view, width_ms) in [
            ("telemetry_5m", 5 * MINUTE),
            ("telemetry_1h", 60 * MINUTE),
            ("telemetry_1d", DAY),
        ] {
            let sql = format!(
                "SELECT *, ddsketch_quantile(latency_sketch, 0.5) AS p50, \
                 ddsketch_quantile(latency_sketch, 0.99) AS p99 FROM {view}"
            );
            let got = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
            let schema = got[0].schema();
            let got = concat_batches(&schema, &got).unwrap();
            let want = direct(&all, width_ms);
            assert_eq!(got.num_rows(), want.len(), "seed {seed}: {view} windows");
            for row in 0..got.num_rows() {
                let text = |c: &str| got.column_by_name(c).unwrap().as_string::<i32>().value(row).to_owned();
                let window = millis(&got, "window_start", row);
                let key = (window, text("orchestrator"), text("node_id"), text("region"));
                let d = want
                    .get(&key)
                    .unwrap_or_else(|| panic!("seed {seed}: {view} has {key:?}"));
                let at = format!("seed {seed}: {view} {key:?}");
                assert_eq!(millis(&got, "window_end", row), window + width_ms, "{at}");
                assert_eq!(int(&got, "events", row), Some(d.events), "{at} events");
                assert_eq!(int(&got, "heartbeats", row), Some(d.heartbeats), "{at} heartbeats");
                assert_eq!(
                    int(&got, "heartbeat_interval_ms", row),
                    d.heartbeat_interval_ms.map(i64::from),
                    "{at}"
                );
                assert_eq!(int(&got, "probes", row), Some(d.probes), "{at} probes");
                assert_eq!(int(&got, "probes_ok", row), Some(d.probes_ok), "{at} probes_ok");
                assert_eq!(int(&got, "gpu_samples", row), Some(d.gpu_samples), "{at} gpu_samples");
                if d.gpu_samples > 0 {
                    assert_eq!(
                        float(&got, "gpu_utilization_sum", row),
                        Some(d.gpu_utilization_sum),
                        "{at} gpu_utilization_sum"
                    );
                }
                assert_eq!(millis(&got, "first_event_time", row), d.first, "{at}");
                assert_eq!(millis(&got, "last_event_time", row), d.last, "{at}");
                let n = d.latencies.len();
                assert_eq!(int(&got, "latency_count", row), Some(n as i64), "{at} latency_count");
                if n == 0 {
                    assert_eq!(float(&got, "p50", row), None, "{at}");
                    continue;
                }
                assert_eq!(
                    float(&got, "latency_sum_ms", row),
                    Some(d.latencies.iter().sum()),
                    "{at} latency_sum_ms"
                );
                assert_eq!(float(&got, "latency_min_ms", row), d.latencies.first().copied(), "{at}");
                assert_eq!(float(&got, "latency_max_ms", row), d.latencies.last().copied(), "{at}");
                // DDSketch: the q-quantile is within 1% of a value whose rank
                // is q·(n−1), rounded either way.
                for (column, q) in [("p50", 0.5), ("p99", 0.99)] {
                    let rank = q * (n - 1) as f64;
                    let (lo, hi) = (d.latencies[rank.floor() as usize], d.latencies[rank.ceil() as usize]);
                    let estimate = float(&got, column, row).expect("a quantile");
                    assert!(
                        estimate >= lo * 0.99 && estimate <= hi * 1.01,
                        "{at}: {column} {estimate} is not within 1% of [{lo}, {hi}]"
                    );
                }
            }
        }
    }
}
