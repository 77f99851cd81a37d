//! A live-video session that returns hours later: the hour it returns in
//! sees its earlier events (request, playability, status samples) through
//! the lookback, also after a restart, and sessions of other hours stay out.

use crate::common::{naap, run_ok, table_rows};

/// 2026-11-01T00:00:00Z.
const T0: i64 = 1_793_491_200_000;
const MIN: i64 = 60_000;

fn trace(id: &str, stream: &str, request: &str, kind: &str, t: i64) -> String {
    serde_json::json!({"id": id, "type": "stream_trace", "timestamp": t.to_string(), "gateway": "gw",
        "data": {"orchestrator_info": {"address": "", "url": ""}, "pipeline_id": "", "request_id": request,
                 "stream_id": stream, "timestamp": t, "type": kind}})
    .to_string()
}

fn status(id: &str, stream: &str, request: &str, t: i64) -> String {
    serde_json::json!({"id": id, "type": "ai_stream_status", "timestamp": t.to_string(), "gateway": "gw",
        "data": {"inference_status": {"fps": 17.5, "last_error": null}, "input_status": {"fps": 20.0},
                 "orchestrator_info": {"address": "0x00000000000000000000000000000000000000aa",
                                       "url": "https://a.example.com:8935"},
                 "pipeline": "streamdiffusion", "pipeline_id": "", "request_id": request, "start_time": t,
                 "state": "ONLINE", "stream_id": stream, "timestamp": t, "type": "status"}})
    .to_string()
}

/// Replays `lines` (one file per call, so each call is another source and
/// another process) into `lake`.
fn replay(dir: &std::path::Path, name: &str, lake: &std::path::Path, lines: &[String]) {
    let input = dir.join(name);
    std::fs::write(&input, lines.join("\n") + "\n").expect("write the input file");
    run_ok(
        naap()
            .args(["replay", "--format", "livepeer-json", "--input"])
            .arg(&input)
            .arg("--lake")
            .arg(lake),
    );
}

/// The value of `column` in a row printed by `table_rows`.
fn cell<'a>(row: &'a str, column: &str) -> &'a str {
    let start = row
        .find(&format!("{column}="))
        .unwrap_or_else(|| panic!("no {column} in {row}"));
    row[start + column.len() + 1..].split(' ').next().unwrap_or_default()
}

#[test]
fn a_session_returning_hours_later_brings_its_earlier_events_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let t = |minutes: i64| T0 + minutes * MIN;
    // Hours 0 and 1: the long session starts and plays; another session in hour 1.
    replay(
        dir.path(),
        "first.ndjson",
        &lake,
        &[
            trace("a1", "s-long", "r1", "gateway_receive_stream_request", t(10)),
            trace(
                "a2",
                "s-long",
                "r1",
                "gateway_receive_first_processed_segment",
                t(10) + 900,
            ),
            trace(
                "a3",
                "s-long",
                "r1",
                "gateway_receive_few_processed_segments",
                t(10) + 1500,
            ),
            status("a4", "s-long", "r1", t(11)),
            trace("b1", "s-other", "r2", "gateway_receive_stream_request", t(90)),
            status("b2", "s-other", "r2", t(91)),
        ],
    );
    // Hour 2, in a second process: the long session comes back; a new one starts.
    replay(
        dir.path(),
        "second.ndjson",
        &lake,
        &[
            status("a5", "s-long", "r1", t(135)),
            status("a6", "s-long", "r1", t(136)),
            trace("c1", "s-new", "r3", "gateway_receive_stream_request", t(140)),
        ],
    );
    let rows = table_rows(&lake, "sessions", &[]);
    let in_hour_2: Vec<&String> = rows
        .iter()
        .filter(|r| r.starts_with("window_start=2026-11-01T02:"))
        .collect();
    let long = in_hour_2
        .iter()
        .find(|r| cell(r, "session_id") == "s-long|r1")
        .unwrap_or_else(|| panic!("no row of the long session in hour 2: {rows:#?}"));
    assert_eq!(cell(long, "requested_seen"), "true", "{long}");
    assert_eq!(cell(long, "playable_seen"), "true", "{long}");
    assert_eq!(cell(long, "startup_outcome"), "success", "{long}");
    assert_eq!(cell(long, "startup_latency_ms"), "900", "{long}");
    assert_eq!(cell(long, "started_in_hour"), "false", "{long}");
    assert_eq!(cell(long, "status_samples"), "3", "{long}");
    assert_eq!(cell(long, "hour_status_samples"), "2", "{long}");
    let ids: Vec<&str> = in_hour_2.iter().map(|r| cell(r, "session_id")).collect();
    assert_eq!(ids.len(), 2, "{in_hour_2:#?}");
    assert!(ids.contains(&"s-new|r3") && !ids.contains(&"s-other|r2"), "{ids:?}");
}

#[test]
fn reseal_refuses_what_it_cannot_do_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    replay(
        dir.path(),
        "one.ndjson",
        &lake,
        &[trace("a1", "s", "r", "gateway_receive_stream_request", T0)],
    );
    let refused = |args: &[&str], expect: &str| {
        let out = naap()
            .args(["reseal", "--lake"])
            .arg(&lake)
            .args(args)
            .env("RUST_BACKTRACE", "0")
            .output()
            .expect("spawn naap");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && out.status.code() != Some(101),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains(expect) && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    };
    refused(
        &["--tables", "sessions,bogus"],
        "--tables bogus: not a table sealing writes; one of:",
    );
    refused(&["--since", "yesterday"], "neither RFC 3339 nor epoch milliseconds");
    refused(&["--since=-9223372036854775808"], "outside 1970-01-01 .. 9999-12-31");
    refused(&["--until", "9223372036854775807"], "outside 1970-01-01 .. 9999-12-31");
    let empty = dir.path().join("empty");
    let out = naap()
        .args(["reseal", "--lake"])
        .arg(&empty)
        .output()
        .expect("spawn naap");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("not a naap lake"), "{stderr}");
    // What it can do still works: the one hour, rebuilt.
    let done = run_ok(
        naap()
            .args(["reseal", "--lake"])
            .arg(&lake)
            .args(["--tables", "sessions"]),
    );
    assert!(String::from_utf8_lossy(&done.stdout).contains("reseal: 1 hours rebuilt"));
}

#[test]
fn sealing_an_hour_in_groups_of_sessions_writes_the_rows_of_one_group() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("live.ndjson");
    run_ok(
        naap()
            .args([
                "emit",
                "--simulate",
                "12",
                "--gateway-live",
                "--sessions-per-hour",
                "10",
            ])
            .args(["--from", "2026-11-01T00:00:00Z", "--span", "2h", "--output"])
            .arg(&input),
    );
    let replay_grouped = |name: &str, group: &str| {
        let lake = dir.path().join(name);
        run_ok(
            naap()
                .args(["replay", "--format", "livepeer-json", "--input"])
                .arg(&input)
                .arg("--lake")
                .arg(&lake)
                .args(["--seal-group-sessions", group]),
        );
        lake
    };
    // About 120 sessions an hour: one run of sessions.sql, or 18 of 7 sessions.
    let (one, many) = (replay_grouped("one", "1000000"), replay_grouped("many", "7"));
    for table in ["sessions", "orchestrator_hourly", "sla_inputs_hourly", "sla_hourly"] {
        let (mut a, mut b) = (table_rows(&one, table, &[]), table_rows(&many, table, &[]));
        a.sort();
        b.sort();
        assert!(a.len() > 10, "{table}: {} rows", a.len());
        assert_eq!(a, b, "{table}");
    }
}
