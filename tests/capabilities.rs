//! A `network_capabilities` event with one malformed orchestrator entry:
//! that entry goes to `quarantine` with its reason, the others reach
//! `capability_snapshots` (both GPU list shapes).

mod common;

use common::{naap, run_ok, table_rows, totals};

#[test]
fn a_malformed_orchestrator_entry_is_quarantined_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = serde_json::json!([
        {"address": "0x00000000000000000000000000000000000000aa", "orch_uri": "https://a.example.com",
         "hardware": [{"pipeline": "live-video-to-video", "model_id": "streamdiffusion",
                       "gpu_info": [{"id": "GPU-a", "name": "L4", "memory_total": 2.4e10}]}]},
        {"address": "0x00000000000000000000000000000000000000bb",
         "hardware": [{"pipeline": "live-video-to-video", "gpu_info": "not a list"}]},
        {"address": "0x00000000000000000000000000000000000000cc",
         "hardware": [{"pipeline": "text-to-image", "model_id": "sdxl",
                       "gpu_info": {"1": {"id": "GPU-c1", "name": "A100"}, "0": {"id": "", "name": "empty"}}}]}
    ]);
    let line = serde_json::json!({"id": "caps-1", "type": "network_capabilities", "timestamp": "1767908945298",
                                  "gateway": "gw", "data": data});
    let input = dir.path().join("caps.ndjson");
    std::fs::write(&input, format!("{line}\n")).unwrap();
    let lake = dir.path().join("lake");
    run_ok(
        naap()
            .args(["replay", "--format", "livepeer-json", "--input"])
            .arg(&input)
            .arg("--lake")
            .arg(&lake),
    );
    let t = totals(&lake);
    assert_eq!(t["events_in"], 1, "{t}");
    assert_eq!(t["quarantined_by_reason"]["wrong_type"], 1, "{t}");
    let quarantined = table_rows(&lake, "quarantine", &["payload"]);
    assert_eq!(quarantined.len(), 1, "{quarantined:#?}");
    assert!(
        quarantined[0].contains("reason=wrong_type")
            && quarantined[0].contains("entry 1 (address 0x00000000000000000000000000000000000000bb)"),
        "{quarantined:#?}"
    );
    let snapshots = table_rows(&lake, "capability_snapshots", &[]);
    let gpus: Vec<&str> = snapshots
        .iter()
        .filter_map(|r| r.split("gpu_id=").nth(1)?.split(' ').next())
        .collect();
    assert_eq!(gpus, ["GPU-a", "GPU-c1"], "{snapshots:#?}");
    assert!(
        snapshots.iter().any(|r| r.contains("gpu_memory_total=24000000000")),
        "{snapshots:#?}"
    );
    assert!(!snapshots.iter().any(|r| r.contains("00bb")), "{snapshots:#?}");
}
