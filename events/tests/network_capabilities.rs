//! `network_capabilities` shapes, as production NaaP accepts them (ports of
//! its Go validation tests, named in each test).

use naap_events::livepeer::{LivepeerEvent, decode};
use serde_json::json;

fn envelope(data: serde_json::Value) -> Vec<u8> {
    json!({"id": "e1", "type": "network_capabilities", "timestamp": "1767908945298", "gateway": "g", "data": data})
        .to_string()
        .into_bytes()
}

fn gpus(data: serde_json::Value) -> Vec<(String, String, Option<u64>)> {
    let decoded = decode(&envelope(data)).expect("decodes");
    assert!(decoded.refused.is_empty(), "{:?}", decoded.refused);
    let LivepeerEvent::NetworkCapabilities(orchestrators) = decoded.event else {
        panic!("not capabilities")
    };
    orchestrators
        .iter()
        .flat_map(|o| o.hardware.iter())
        .flat_map(|h| h.gpu_info.iter())
        .map(|g| (g.id.clone(), g.name.clone(), g.memory_total))
        .collect()
}

/// Ports `TestRuleAttribution002_HardwareInventoryCapturesAllGPUEntriesFromArrayShape`.
#[test]
fn gpu_info_as_an_array_yields_every_gpu() {
    let data = json!([{"address": "0xaa", "local_address": "orch", "uri": "https://orch.example.com", "version": "0.9.0",
        "hardware": [{"pipeline": "text-to-image", "model_id": "model-array",
            "gpu_info": [{"id": "gpu-array-a", "name": "L4", "memory_total": 24576},
                         {"id": "gpu-array-b", "name": "L40", "memory_total": 49152}]}]}]);
    assert_eq!(
        gpus(data),
        [
            ("gpu-array-a".into(), "L4".into(), Some(24576)),
            ("gpu-array-b".into(), "L40".into(), Some(49152))
        ]
    );
}

/// Ports `TestRuleAttribution002_HardwareInventoryCapturesAllGPUEntriesFromObjectShapeAndSkipsEmptyIDs`.
#[test]
fn gpu_info_as_an_object_yields_its_gpus_in_key_order_without_empty_ids() {
    let data = json!([{"address": "0xaa", "local_address": "orch", "uri": "https://orch.example.com", "version": "0.9.0",
        "hardware": [{"pipeline": "image-to-video", "model_id": "model-object",
            "gpu_info": {"0": {"id": "", "name": "ignore-me", "memory_total": 1},
                         "1": {"id": "gpu-object-a", "name": "RTX 4090", "memory_total": 25769803776u64},
                         "2": {"id": "gpu-object-b", "name": "RTX 5090", "memory_total": 34190917632u64}}}]}]);
    assert_eq!(
        gpus(data),
        [
            ("gpu-object-a".into(), "RTX 4090".into(), Some(25_769_803_776)),
            ("gpu-object-b".into(), "RTX 5090".into(), Some(34_190_917_632))
        ]
    );
    assert!(gpus(json!([{"address": "0xaa", "hardware": [{"pipeline": "p", "gpu_info": null}]}])).is_empty());
}

#[test]
fn whole_numbers_written_with_an_exponent_are_integers_and_fractions_are_refused() {
    let whole = json!([{"address": "0xaa", "hardware": [{"pipeline": "p", "model_id": "m",
        "gpu_info": [{"id": "g", "memory_total": 2.4e10, "memory_free": 1e3}]}]}]);
    assert_eq!(gpus(whole), [("g".into(), String::new(), Some(24_000_000_000))]);
    let fraction =
        json!([{"address": "0xaa", "hardware": [{"pipeline": "p", "gpu_info": [{"id": "g", "memory_total": 2.5}]}]}]);
    let decoded = decode(&envelope(fraction)).expect("the event stands");
    assert_eq!(decoded.refused.len(), 1);
    assert!(decoded.refused[0].detail.contains("2.5"), "{:?}", decoded.refused);
}

/// One bad entry is refused alone, with its reason; the others stand.
#[test]
fn a_bad_entry_is_refused_on_its_own() {
    let data = json!([
        {"address": "0xaa", "hardware": [{"pipeline": "p", "model_id": "m", "gpu_info": [{"id": "ok"}]}]},
        {"address": "0xbb", "hardware": [{"pipeline": "p", "gpu_info": "a string"}]},
        {"orch_uri": "https://no-address.example.com"},
        {"address": "0xcc"}
    ]);
    let decoded = decode(&envelope(data)).expect("the event stands");
    let LivepeerEvent::NetworkCapabilities(kept) = &decoded.event else {
        panic!("not capabilities")
    };
    assert_eq!(
        kept.iter().map(|c| c.address.as_str()).collect::<Vec<_>>(),
        ["0xaa", "0xcc"]
    );
    let refused: Vec<(usize, &str)> = decoded.refused.iter().map(|r| (r.index, r.reason)).collect();
    assert_eq!(refused, [(1, "wrong_type"), (2, "missing_field")]);
    assert!(decoded.refused[0].detail.contains("0xbb") && decoded.refused[0].detail.contains("gpu_info"));
    // Not a list at all: the whole event is refused.
    let err = decode(&envelope(json!({"orchestrators": []}))).unwrap_err();
    assert_eq!(err.reason(), "wrong_type");
}
