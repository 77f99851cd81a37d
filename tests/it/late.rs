//! Late and duplicated events: in-lateness, after-close, exact duplicate,
//! backup-cluster duplicate, each with the rows and counters it must leave.

use crate::common;

use std::io::Write;
use std::path::Path;

use crate::common::{T0, naap, run_ok, table_rows, totals};
use naap_emitter::sink::{EncodedMessage, encode_message};
use naap_events::framing::{MessageMeta, RecordReader, write_magic, write_record};
use naap_events::telemetry::TelemetryEvent;

const ORCH: &str = "0x00000000000000000000000000000000000000c1";

fn beat(second: i64) -> TelemetryEvent {
    TelemetryEvent::heartbeat(
        format!("hb-{second}").parse().expect("event id"),
        T0 + second * 1000,
        ORCH.parse().expect("address"),
        "node-0",
        "eu-west",
        20_000,
    )
}

fn message(events: &[TelemetryEvent]) -> EncodedMessage {
    encode_message(ORCH, events).expect("encode")
}

/// Appends messages to a message file (creating it with its magic).
fn append(path: &Path, messages: &[EncodedMessage]) {
    let fresh = !path.exists();
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open message file");
    if fresh {
        write_magic(&mut out).expect("magic");
    }
    for m in messages {
        let meta = MessageMeta {
            key: Some(m.key.clone()),
            headers: m.headers.clone(),
            timestamp_ms: Some(m.timestamp_ms),
        };
        write_record(&mut out, &meta, &m.value).expect("record");
    }
    out.flush().expect("flush");
}

fn replay(input: &Path, lake: &Path) {
    run_ok(
        naap()
            .args(["replay", "--commit-interval", "50ms", "--input"])
            .arg(input)
            .arg("--lake")
            .arg(lake),
    );
}

/// (window start, heartbeats) of every telemetry_1m row, and the uptime
/// score rows as (window start, heartbeats seen, uptime ratio).
fn windows(lake: &Path) -> (Vec<String>, Vec<String>) {
    let pick = |row: &String, keys: &[&str]| -> String {
        keys.iter()
            .map(|k| {
                row.split(' ')
                    .find_map(|cell| cell.strip_prefix(&format!("{k}=")))
                    .unwrap_or("?")
                    .to_owned()
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let w = table_rows(lake, "telemetry_1m", &[])
        .iter()
        .map(|r| pick(r, &["window_start", "heartbeats"]))
        .collect();
    let s = table_rows(lake, "scores", &[])
        .iter()
        .map(|r| pick(r, &["window_start", "heartbeats_seen", "uptime_ratio"]))
        .collect();
    (w, s)
}

#[test]
fn late_and_duplicate_events_leave_one_version_of_each_window_and_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let input = dir.join("beats.naapmsg");
    let lake = dir.join("lake");

    // Lateness is 30 s. 21:00:20 arrives after 21:01:10, but its window is
    // still open (the watermark is at 21:00:40): in lateness, it simply counts.
    append(
        &input,
        &[
            message(&[beat(10)]),
            message(&[beat(70)]),
            message(&[beat(20)]),
            message(&[beat(200)]),
        ],
    );
    replay(&input, &lake);
    let (w, s) = windows(&lake);
    assert_eq!(
        w,
        [
            "2026-01-08T21:00:00Z 2",
            "2026-01-08T21:01:00Z 1",
            "2026-01-08T21:03:00Z 1"
        ]
    );
    assert_eq!(s[0], "2026-01-08T21:00:00Z 2 0.6666666666666666");
    let t = totals(&lake);
    assert_eq!(
        (t["late_events"].as_u64(), t["duplicates"].as_u64()),
        (Some(0), Some(0)),
        "{t}"
    );

    // The replay closed every window. Now, on the same partition:
    // * 21:00:30, after its window was written: late, re-committed;
    // * the first message again, byte for byte: an exact duplicate;
    // * 21:01:10 and 21:03:20 again, re-batched into one message, as a
    //   backup cluster's copy arrives: both duplicates;
    // * 21:04:10: on time.
    let first = RecordReader::new(std::fs::File::open(&input).unwrap())
        .unwrap()
        .next_record()
        .unwrap()
        .expect("a first message");
    let exact = EncodedMessage {
        key: first.0.key.clone().unwrap_or_default(),
        headers: first.0.headers.clone(),
        value: first.1.clone(),
        timestamp_ms: first.0.timestamp_ms.unwrap_or_default(),
    };
    append(
        &input,
        &[
            message(&[beat(30)]),
            exact,
            message(&[beat(70), beat(200)]),
            message(&[beat(250)]),
        ],
    );
    replay(&input, &lake);

    let (w, s) = windows(&lake);
    assert_eq!(
        w,
        [
            "2026-01-08T21:00:00Z 3",
            "2026-01-08T21:01:00Z 1",
            "2026-01-08T21:03:00Z 1",
            "2026-01-08T21:04:00Z 1"
        ],
        "one version of 21:00, with the late beat in it"
    );
    assert_eq!(s.len(), 4, "{s:?}");
    assert_eq!(s[0], "2026-01-08T21:00:00Z 3 1.0", "the score of 21:00 was re-computed");
    let t = totals(&lake);
    assert_eq!(t["late_events"], 1, "{t}");
    assert_eq!(
        t["late_events_by_hour"]["telemetry_1m/date=2026-01-08/hour=21"], 1,
        "{t}"
    );
    assert_eq!(t["duplicates"], 3, "{t}");
    assert_eq!(t["messages_in"], 8, "{t}");
    assert_eq!(t["events_in"], 6, "{t}");
    // Raw events: each accepted event once, the late one included.
    let raw = table_rows(&lake, "node_telemetry", &[]);
    assert_eq!(raw.len(), 6);
    for second in [10, 20, 30, 70, 200, 250] {
        assert_eq!(
            raw.iter()
                .filter(|r| r.contains(&format!("event_id=hb-{second} ")))
                .count(),
            1,
            "hb-{second}"
        );
    }

    // The replaced files left their tables in the same Delta version that
    // added their replacement (one commit record names both), and are still
    // in the store for the grace period (vacuum deletes them later).
    let mut removed: Vec<(String, String)> = Vec::new();
    for record in records(&lake) {
        for (table, change) in record["tables"].as_object().into_iter().flatten() {
            let removes = change["removes"].as_array().cloned().unwrap_or_default();
            if !removes.is_empty() {
                assert!(
                    !change["adds"].as_array().expect("adds").is_empty(),
                    "{table}: a removal without its replacement"
                );
            }
            for r in removes {
                removed.push((table.clone(), r["path"].as_str().unwrap().to_owned()));
            }
        }
    }
    assert!(
        removed.iter().any(|(t, _)| t == "telemetry_1m") && removed.iter().any(|(t, _)| t == "scores"),
        "the window files and their score files: {removed:?}"
    );
    for (table, path) in &removed {
        assert!(path.starts_with("date=2026-01-08/hour=21/"), "{path}");
        let file = lake.join("lake").join(table).join(path);
        assert!(file.exists(), "{path} is kept for the grace period");
        assert!(
            !common::active_files(&lake, table).contains(&file),
            "{path} is still part of {table}"
        );
    }
}

fn records(lake: &Path) -> Vec<serde_json::Value> {
    common::commit_records(lake)
        .iter()
        .map(|n| serde_json::from_slice(&std::fs::read(n).expect("read a record")).expect("record JSON"))
        .collect()
}
