use super::*;
use crate::livepeer::decode;

const SAMPLE: &str = include_str!("../../data/livepeer/gateway-events-sample.ndjson");

#[test]
fn the_recorded_sample_fills_every_table() {
    let mut t = GatewayTables::default();
    for line in SAMPLE.lines() {
        t.push(&decode(line.as_bytes()).unwrap());
    }
    let tables: std::collections::BTreeMap<_, _> = t.finish().into_iter().collect();
    assert_eq!(tables[GATEWAY_EVENTS_TABLE].num_rows(), 65);
    // One orchestrator, one hardware entry with one GPU.
    let caps = &tables[CAPABILITY_SNAPSHOTS_TABLE];
    assert_eq!(caps.num_rows(), 1);
    let col = |b: &RecordBatch, name: &str| {
        b.column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap()
            .value(0)
            .to_owned()
    };
    assert_eq!(col(caps, "address"), "0xd00354656922168815fcd1e51cbddb9e359e3c7f");
    assert_eq!(col(caps, "local_address"), "0x52cf2968b3dc6016778742d3539449a6597d5954");
    assert_eq!(col(caps, "pipeline"), "live-video-to-video");
    assert_eq!(col(caps, "gpu_name"), "NVIDIA GeForce RTX 5090");
    assert_eq!(tables[DISCOVERY_RESULTS_TABLE].num_rows(), 1);
    let payments = &tables[PAYMENT_EVENTS_TABLE];
    assert_eq!(payments.num_rows(), 6);
    let face = payments
        .column_by_name("face_value_wei")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::Decimal128Array>()
        .unwrap();
    assert_eq!(face.value(0), 2_402_400_000_000_000);
    assert!(t.finish().is_empty(), "finish resets the builders");
}
