use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Decimal128Type, Int64Type};

use super::*;
use crate::gateway_tables::GatewayTables;
use crate::livepeer::decode;

const SAMPLE: &str = include_str!("../../../data/livepeer/ai-batch-byoc-sample.ndjson");

fn tables() -> BTreeMap<&'static str, RecordBatch> {
    let mut t = GatewayTables::default();
    for line in SAMPLE.lines() {
        t.push(&decode(line.as_bytes()).expect("the fixture decodes"));
    }
    t.finish().into_iter().collect()
}

fn texts(b: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let c = b.column_by_name(column).expect(column);
    let c = c.as_string::<i32>();
    (0..c.len())
        .map(|i| c.is_valid(i).then(|| c.value(i).to_owned()))
        .collect()
}

#[test]
fn the_fixture_fills_one_table_per_kind_of_work_beside_gateway_events() {
    let tables = tables();
    let rows: BTreeMap<&str, usize> = tables.iter().map(|(t, b)| (*t, b.num_rows())).collect();
    let want: BTreeMap<&str, usize> = [
        (tables::GATEWAY_EVENTS.name, 60),
        (tables::AI_BATCH_EVENTS.name, 12),
        (tables::LLM_EVENTS.name, 6),
        (tables::BYOC_JOB_EVENTS.name, 23),
        (tables::BYOC_AUTH_EVENTS.name, 4),
        (tables::BYOC_PAYMENT_EVENTS.name, 9),
        (tables::WORKER_EVENTS.name, 6),
    ]
    .into();
    assert_eq!(rows, want);
    for (name, schema) in schemas() {
        assert_eq!(tables[name].schema(), schema, "{name}");
    }
}

#[test]
fn addresses_are_lowercase_none_is_null_and_wei_keeps_its_decimals() {
    let tables = tables();
    for (name, batch) in &tables {
        if let Some(c) = batch.column_by_name("orchestrator_address") {
            let c = c.as_string::<i32>();
            assert!(c.iter().flatten().all(|a| a == a.to_ascii_lowercase()), "{name}");
        }
        if let Some(c) = batch.column_by_name("error") {
            assert!(
                c.as_string::<i32>().iter().flatten().all(|e| !e.is_empty()),
                "{name}: \"\" is null"
            );
        }
    }
    let payments = &tables[tables::BYOC_PAYMENT_EVENTS.name];
    let subtypes = texts(payments, "subtype");
    let sync = subtypes
        .iter()
        .position(|s| s.as_deref() == Some("payment_balance_sync"))
        .expect("a sync");
    let balance = payments
        .column_by_name("balance_wei")
        .expect("balance")
        .as_primitive::<Decimal128Type>();
    assert_eq!(balance.value(sync), 250_000_000, "250000.000 wei at scale 3");
    let charged = subtypes
        .iter()
        .position(|s| s.as_deref() == Some("payment_compute_charged"))
        .expect("a relayed charge");
    let total = payments
        .column_by_name("total_charged_wei")
        .expect("total")
        .as_primitive::<Int64Type>();
    assert_eq!(total.value(charged), 4500);
}

#[test]
fn relayed_and_drained_rows_carry_their_inferred_subtypes() {
    let tables = tables();
    let jobs = &tables[tables::BYOC_JOB_EVENTS.name];
    let orchestrator_side: Vec<String> = texts(jobs, "family")
        .into_iter()
        .zip(texts(jobs, "subtype"))
        .filter(|(f, _)| f.as_deref() == Some("job_orchestrator"))
        .filter_map(|(_, s)| s)
        .collect();
    assert_eq!(
        orchestrator_side,
        [
            "job_orchestrator_received",
            "job_orchestrator_worker_result",
            "job_orchestrator_capacity_rejected"
        ]
    );
    let workers = &tables[tables::WORKER_EVENTS.name];
    let ids = texts(workers, "worker_event_id");
    assert_eq!(ids[0], ids[3], "the same drained event from two gateways keeps one id");
    let events = &tables[tables::GATEWAY_EVENTS.name];
    assert!(
        texts(events, "subtype").iter().all(Option::is_some),
        "gateway_events names every job event's subtype"
    );
    assert!(SAMPLE.contains("\"client_ip\""), "the fixture has end users' addresses");
    assert!(
        texts(events, "data").iter().flatten().all(|d| !d.contains("client_ip")),
        "personal data is never kept"
    );
}
