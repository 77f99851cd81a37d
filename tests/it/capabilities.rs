//! A `network_capabilities` event with one malformed orchestrator entry:
//! that entry goes to `quarantine` with its reason, the others reach
//! `capability_snapshots` (both GPU list shapes).

use crate::common::{naap, run_ok, table_rows, totals};

/// Replays the livepeer-json `lines` into a lake under `dir`; returns the lake.
fn replay(dir: &std::path::Path, lines: &str) -> std::path::PathBuf {
    let input = dir.join("caps.ndjson");
    std::fs::write(&input, format!("{lines}\n")).expect("write the input file");
    let lake = dir.join("lake");
    run_ok(
        naap()
            .args(["replay", "--format", "livepeer-json", "--input"])
            .arg(&input)
            .arg("--lake")
            .arg(&lake),
    );
    lake
}

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
    let lake = replay(dir.path(), &line.to_string());
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

/// Ports NaaP's `TestRuleTypedRaw002_CapabilityArrayFansOutWithoutBlankAddresses`,
/// `TestRuleAttribution001_CapabilitySnapshotsNormalizeAndConverge` and
/// `TestRuleFact001_HistoricalCapabilitySnapshotsAndLatestStateAreRecoverable`:
/// one row per orchestrator entry, none for a blank address, addresses
/// lowercased, and every snapshot kept as history (the newest is the latest
/// state).
#[test]
fn capability_snapshots_fan_out_normalise_addresses_and_keep_history() {
    let dir = tempfile::tempdir().unwrap();
    let mixed = "0xAbCdEf00000000000000000000000000000000aa";
    let first = serde_json::json!([
        {"address": mixed, "local_address": "orch-v1", "uri": "https://a.example.com", "version": "0.7.0"},
        {"address": "0x00000000000000000000000000000000000000bb", "local_address": "orch-b",
         "uri": "https://b.example.com", "version": "0.7.0"},
        {"address": "", "local_address": "blank", "uri": "https://blank.example.com", "version": "0.7.0"}
    ]);
    let second = serde_json::json!([
        {"address": mixed, "local_address": "orch-v2", "uri": "https://a.example.com", "version": "0.8.0"}
    ]);
    let lines = [("caps-1", "1767908945298", first), ("caps-2", "1767909005298", second)]
        .map(|(id, ts, data)| {
            serde_json::json!({"id": id, "type": "network_capabilities", "timestamp": ts, "gateway": "gw", "data": data})
                .to_string()
        })
        .join("\n");
    let lake = replay(dir.path(), &lines);
    let snapshots = table_rows(&lake, "capability_snapshots", &[]);
    let addresses: Vec<&str> = snapshots
        .iter()
        .filter_map(|r| r.split(" address=").nth(1)?.split(' ').next())
        .collect();
    let lower = mixed.to_lowercase();
    assert_eq!(addresses.iter().filter(|a| **a == lower).count(), 2, "{snapshots:#?}");
    assert_eq!(snapshots.len(), 3, "{snapshots:#?}");
    assert!(
        !snapshots.iter().any(|r| r.contains(mixed) || r.contains("blank")),
        "{snapshots:#?}"
    );
    assert!(
        snapshots.iter().any(|r| r.contains("local_address=orch-v2")),
        "{snapshots:#?}"
    );
}
