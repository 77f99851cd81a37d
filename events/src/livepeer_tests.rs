use super::*;

const SAMPLE: &str = include_str!("../../data/livepeer/gateway-events-sample.ndjson");

#[test]
fn every_recorded_event_decodes() {
    let mut families = std::collections::BTreeMap::new();
    for line in SAMPLE.lines() {
        let e = decode(line.as_bytes()).unwrap_or_else(|err| panic!("{err}: {line}"));
        *families.entry(e.family.clone()).or_insert(0) += 1;
    }
    assert_eq!(families["stream_ingest_metrics"], 34);
    assert_eq!(families["ai_stream_status"], 17);
    assert_eq!(families["stream_trace"], 6);
    assert_eq!(families["create_new_payment"], 6);
    assert_eq!(families["discovery_results"], 1);
    assert_eq!(families["network_capabilities"], 1);
    assert_eq!(families.values().sum::<i32>(), 65);
}

#[test]
fn strings_that_hold_numbers_become_numbers() {
    let first_payment = SAMPLE
        .lines()
        .map(|l| decode(l.as_bytes()).unwrap())
        .find_map(|e| match e.event {
            LivepeerEvent::CreateNewPayment(p) => Some(p),
            _ => None,
        })
        .unwrap();
    assert_eq!(first_payment.face_value_wei, 2_402_400_000_000_000);
    assert_eq!(first_payment.price_wei_per_pixel, 1635.021);
    assert_eq!(first_payment.win_prob, 0.000999001);
    assert_eq!(first_payment.num_tickets, 2);
    let discovery = SAMPLE
        .lines()
        .map(|l| decode(l.as_bytes()).unwrap())
        .find_map(|e| match e.event {
            LivepeerEvent::DiscoveryResults(d) => Some(d),
            _ => None,
        })
        .unwrap();
    assert_eq!(discovery[0].latency_ms, 77.0);
    assert_eq!(discovery[0].address, "0x52cf2968b3dc6016778742d3539449a6597d5954");
}

#[test]
fn identity_of_the_recorded_orchestrator() {
    let caps = SAMPLE
        .lines()
        .map(|l| decode(l.as_bytes()).unwrap())
        .find_map(|e| match e.event {
            LivepeerEvent::NetworkCapabilities(c) => Some(c),
            _ => None,
        })
        .unwrap();
    let operating = "0x52cf2968b3dc6016778742d3539449a6597d5954";
    let resolved: Vec<_> = caps
        .iter()
        .filter(|c| c.local_address.eq_ignore_ascii_case(operating))
        .map(|c| c.address.to_ascii_lowercase())
        .collect();
    assert_eq!(resolved, vec!["0xd00354656922168815fcd1e51cbddb9e359e3c7f"]);
}

#[test]
fn rows_drop_client_ip_and_lower_addresses() {
    let mut b = crate::gateway_tables::GatewayTables::default();
    for line in SAMPLE.lines() {
        b.push(&decode(line.as_bytes()).unwrap());
    }
    let batch = b.finish().remove(0).1;
    assert_eq!(batch.num_rows(), 65);
    let data = batch.column_by_name("data").unwrap();
    let data = data.as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
    assert!(data.iter().flatten().all(|d| !d.contains("clientIP")));
    let addr = batch.column_by_name("orchestrator_address").unwrap();
    let addr = addr.as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
    assert!(
        addr.iter()
            .flatten()
            .any(|a| a == "0xd00354656922168815fcd1e51cbddb9e359e3c7f")
    );
    assert!(addr.iter().flatten().all(|a| a == a.to_ascii_lowercase()));
}

#[test]
fn bad_events_have_reasons() {
    let cases: [(&str, &str); 6] = [
        (r#"{"id":"1","type":"stream_trace","#, "malformed_json"),
        (
            r#"{"id":"1","type":"mystery","timestamp":"1","gateway":"","data":{}}"#,
            "unknown_family",
        ),
        (
            r#"{"id":"1","type":"stream_trace","timestamp":"1","gateway":"","data":{"type":"gateway_dance","timestamp":1}}"#,
            "unknown_subtype",
        ),
        (
            r#"{"id":"1","type":"ai_stream_status","timestamp":"1","gateway":"","data":{"state":7,"timestamp":1}}"#,
            "wrong_type",
        ),
        (
            r#"{"id":"1","type":"discovery_results","timestamp":"1","gateway":"","data":[{"address":"0x1","latency_ms":"fast"}]}"#,
            "wrong_type",
        ),
        (
            r#"{"id":"1","type":"stream_trace","gateway":"","data":{}}"#,
            "missing_field",
        ),
    ];
    for (input, reason) in cases {
        let err = decode(input.as_bytes()).expect_err(input);
        assert_eq!(err.reason(), reason, "{input}: {err}");
    }
    assert_eq!(parse_wei("12 WEI"), Some(12));
    assert_eq!(parse_wei("-1 WEI"), None);
    assert_eq!(parse_price_per_pixel("NaN wei/pixel"), None);
}
