//! End-to-end tests of the `naap` binary: replay, crash recovery, quarantine.

use std::io::Write;
use std::time::Duration;

use crate::common::{self, T0, naap, run_ok, simulated_file, table_rows, totals};

/// Tables whose rows must match between runs (raw events, windows, scores).
const TABLES: [&str; 3] = ["node_telemetry", "telemetry_1m", "scores"];

fn replay(input: &std::path::Path, lake: &std::path::Path) -> std::process::Command {
    let mut cmd = naap();
    cmd.args(["replay", "--commit-interval", "100ms", "--input"])
        .arg(input)
        .arg("--lake")
        .arg(lake);
    cmd
}

fn assert_same_lake(expected: &std::path::Path, actual: &std::path::Path) {
    for table in TABLES {
        let want = table_rows(expected, table, &[]);
        let got = table_rows(actual, table, &[]);
        assert!(!want.is_empty(), "{table} is empty in the reference run");
        assert_eq!(want.len(), got.len(), "{table}: row count differs");
        if let Some((w, g)) = want.iter().zip(&got).find(|(w, g)| w != g) {
            panic!("{table}: rows differ; first difference:\n  expected {w}\n  actual   {g}");
        }
    }
    let (a, b) = (totals(expected), totals(actual));
    for key in ["events_in", "messages_in", "windows_committed", "rows_written"] {
        assert_eq!(a[key], b[key], "totals.{key}");
    }
}

#[test]
fn replay_windows_and_scores_every_orchestrator() {
    let dir = tempfile::tempdir().unwrap();
    let input = simulated_file(dir.path(), 9, "5m");
    let lake = dir.path().join("lake-root");
    let out = run_ok(&mut replay(&input, &lake));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("windows committed 5"), "{stdout}");

    // 9 orchestrators x 5 minutes of uptime scores.
    let scores = table_rows(&lake, "scores", &[]);
    assert_eq!(scores.len(), 45);
    // Orchestrators 0-3 have no outage (simulate::OUTAGE_CLASSES), and 0-2 run
    // one node: 12 of 12 heartbeats (3 has two nodes, 24 of 24). Orchestrator 8
    // is down 45 s a minute: 3 of 12.
    let t = totals(&lake);
    assert_eq!(t["quarantined"], 0);
    assert_eq!(t["late_events"], 0);
    assert_eq!(t["rows_written"]["scores"], 45);
    let expected_hb = |lost: u64| format!("heartbeats_seen={} heartbeats_expected=12", 12 - lost);
    assert_eq!(
        scores.iter().filter(|r| r.contains(&expected_hb(0))).count(),
        3 * 5,
        "{scores:#?}"
    );
    assert_eq!(scores.iter().filter(|r| r.contains(&expected_hb(9))).count(), 5);
}

#[test]
fn sigkill_mid_replay_then_restart_equals_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = simulated_file(dir.path(), 12, "20m");
    let reference = dir.path().join("reference");
    run_ok(&mut replay(&input, &reference));

    let crashed = dir.path().join("crashed");
    // 12 orchestrators x 240 spans = 2880 messages at 800/s: ~3.6 s; kill at ~1.5 s.
    let mut child = replay(&input, &crashed).args(["--rate", "800"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "replay finished before the kill");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = totals(&crashed);
    let messages = partial["messages_in"].as_u64().unwrap();
    assert!(
        messages > 0 && messages < 2880,
        "killed midway, after {messages} messages"
    );

    run_ok(&mut replay(&input, &crashed));
    assert_same_lake(&reference, &crashed);
}

#[test]
fn crash_at_each_commit_fail_point_recovers_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let input = simulated_file(dir.path(), 6, "8m");
    let reference = dir.path().join("reference");
    run_ok(&mut replay(&input, &reference));
    for point in [
        "after_files@3",
        "after_state@2",
        "after_manifest@4",
        "after_table@3",
        "after_tables@2",
    ] {
        let lake = dir.path().join(point.replace('@', "-"));
        let out = replay(&input, &lake)
            .args(["--rate", "500"])
            .env("NAAP_FAILPOINT", point)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{point}: the fail point did not stop the run");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("NAAP_FAILPOINT"),
            "{point}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        run_ok(&mut replay(&input, &lake));
        assert_same_lake(&reference, &lake);
    }
}

#[test]
fn bad_messages_are_quarantined_with_reasons_and_nothing_else_is_lost() {
    use naap_events::framing::{MessageMeta, RecordReader, write_magic, write_record};
    let dir = tempfile::tempdir().unwrap();
    let good = simulated_file(dir.path(), 4, "3m");
    // Interleave three bad messages with the good ones.
    let mut reader = RecordReader::new(std::fs::File::open(&good).unwrap()).unwrap();
    let mixed_path = dir.path().join("mixed.naapmsg");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&mixed_path).unwrap());
    write_magic(&mut out).unwrap();
    let headers = |name: &str, version: &str| MessageMeta {
        key: Some("0x00000000000000000000000000000000000000aa".into()),
        headers: vec![
            ("naap-schema".into(), name.into()),
            ("naap-schema-version".into(), version.into()),
        ],
        timestamp_ms: Some(T0),
    };
    let mut good_messages = 0;
    let mut first_good = None;
    while let Some((meta, value)) = reader.next_record().unwrap() {
        good_messages += 1;
        if good_messages == 10 {
            let random: Vec<u8> = (0..300u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect();
            write_record(&mut out, &headers("node_telemetry", "1"), &random).unwrap();
            write_record(&mut out, &headers("node_telemetry", "7"), &value).unwrap();
            let truncated = &first_good.as_ref().map_or(&value, |v: &Vec<u8>| v)[..value.len() / 2];
            write_record(&mut out, &headers("node_telemetry", "1"), truncated).unwrap();
        }
        first_good.get_or_insert_with(|| value.clone());
        write_record(&mut out, &meta, &value).unwrap();
    }
    out.flush().unwrap();
    drop(out);

    let lake = dir.path().join("lake");
    run_ok(&mut replay(&mixed_path, &lake));
    let reference = dir.path().join("reference");
    run_ok(&mut replay(&good, &reference));

    let t = totals(&lake);
    assert_eq!(t["quarantined"], 3);
    assert_eq!(t["quarantined_by_reason"]["ipc_unreadable"], 2, "{t}");
    assert_eq!(t["quarantined_by_reason"]["unknown_schema"], 1, "{t}");
    assert_eq!(t["messages_in"].as_u64().unwrap(), good_messages + 3);
    let quarantine = table_rows(&lake, "quarantine", &["payload"]);
    assert_eq!(quarantine.len(), 3);
    assert!(
        quarantine
            .iter()
            .any(|r| r.contains("reason=unknown_schema") && r.contains("schema_header=node_telemetry.v7"))
    );
    assert!(
        quarantine
            .iter()
            .all(|r| r.contains("detail=") && !r.contains("detail= "))
    );
    // Every good event made it, and the windows equal a run without the bad messages.
    for table in TABLES {
        assert_eq!(
            table_rows(&reference, table, &[]),
            table_rows(&lake, table, &[]),
            "{table}"
        );
    }
}

#[test]
fn heartbeats_without_nvml_say_no_gpu_and_keep_flowing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hb.naapmsg");
    let out = run_ok(
        naap()
            .args(["emit", "--orchestrator", "0xD00354656922168815Fcd1e51CBddB9e359e3C7F"])
            .args([
                "--node-id",
                "box-1",
                "--region",
                "eu-west",
                "--heartbeat-interval",
                "300ms",
                "--duration",
                "2s",
            ])
            .arg("--output")
            .arg(&file)
            .env("NAAP_LOG", "info"),
    );
    let lake = dir.path().join("lake");
    run_ok(&mut replay(&file, &lake));
    let rows = table_rows(&lake, "node_telemetry", &[]);
    assert!(rows.len() >= 5, "{rows:#?}");
    // The address is stored canonical (lowercase), whatever the operator typed.
    assert!(
        rows.iter()
            .all(|r| r.contains("orchestrator=0xd00354656922168815fcd1e51cbddb9e359e3c7f"))
    );
    if String::from_utf8_lossy(&out.stderr).contains("NVML is not available") {
        // No NVIDIA driver here (CI): every heartbeat says so, and nothing stopped.
        assert!(
            rows.iter()
                .all(|r| r.contains("kind=heartbeat") && r.contains("gpu_available=false"))
        );
    } else {
        // On a GPU host, heartbeats say true and GPU samples ride along.
        assert!(rows.iter().any(|r| r.contains("kind=gpu")), "{rows:#?}");
    }
}

#[test]
fn fake_gpus_put_every_nvml_field_in_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gpus.naapmsg");
    run_ok(
        naap()
            .args(["emit", "--orchestrator", "0xd00354656922168815fcd1e51cbddb9e359e3c7f"])
            .args(["--node-id", "box-1", "--region", "eu-west", "--fake-gpus", "8"])
            .args(["--heartbeat-interval", "250ms", "--duration", "1s", "--output"])
            .arg(&file),
    );
    let lake = dir.path().join("lake");
    run_ok(&mut replay(&file, &lake));
    let rows = table_rows(&lake, "gpu_sample", &[]);
    assert!(rows.len() >= 8 * 3, "{} rows", rows.len());
    // Every field is set (but the signer: this run is unsigned).
    let unsigned = table_rows(&lake, "gpu_sample", &["signer"]);
    assert!(!unsigned.iter().any(|r| r.contains("=NULL")), "{unsigned:#?}");
    // Device 3 of the fake host (GpuReading::fake), unit conversions included:
    // 53 % -> 0.53, 250000 mW -> 250 W, 1000 KB/s -> 1024000 B/s, CUDA 12050 -> 12.5.
    let device3: Vec<&String> = rows
        .iter()
        .filter(|r| r.contains("hw_id=GPU-00000000-0000-0000-0000-000000000003 "))
        .collect();
    assert!(!device3.is_empty());
    for field in [
        "hw_model=NVIDIA Fake 48GB",
        "hw_vendor=nvidia",
        "hw_driver_version=555.42.06",
        "hw_cuda_version=12.5",
        "hw_gpu_utilization=0.53",
        "hw_gpu_memory_utilization=0.25",
        "hw_gpu_memory_usage_bytes=4294967296",
        "hw_gpu_memory_limit_bytes=51539607552",
        "hw_temperature_celsius=63.0",
        "hw_power_watts=250.0",
        "hw_power_limit_watts=450.0",
        "hw_gpu_sm_clock_mhz=1980.0",
        "hw_gpu_io_receive_bytes_per_second=1024000.0",
        "hw_gpu_io_transmit_bytes_per_second=2048000.0",
        "hw_errors=0",
        "hw_gpu_processes=1",
        "hw_status=ok",
        "node_id=box-1",
        "verified=false",
    ] {
        assert!(device3.iter().all(|r| r.contains(field)), "{field}: {device3:#?}");
    }
    // The host collector rides along: one host_sample per heartbeat.
    let host = table_rows(&lake, "host_sample", &[]);
    assert!(host.len() >= 3);
    assert!(
        host.iter().all(|r| !r.contains("system_memory_limit_bytes=NULL")),
        "{host:#?}"
    );
    // The heartbeats say there are GPUs, and the minute aggregates see them.
    let telemetry = table_rows(&lake, "node_telemetry", &[]);
    assert!(
        telemetry
            .iter()
            .any(|r| r.contains("kind=heartbeat") && r.contains("gpu_available=true"))
    );
    assert!(telemetry.iter().filter(|r| r.contains("kind=gpu")).count() >= 8 * 3);
}

/// The hourly tables built from go-livepeer events.
const LIVEPEER_TABLES: [&str; 10] = [
    "gateway_events",
    "capability_snapshots",
    "payment_events",
    "sessions",
    "orchestrator_hourly",
    "sla_inputs_hourly",
    "gpu_inventory",
    "discovery_latency",
    "payments",
    "sla_hourly",
];

fn livepeer_sample() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/livepeer/gateway-events-sample.ndjson"
    ))
    .expect("the recorded sample is in the repository")
}

fn livepeer_replay(input: &std::path::Path, lake: &std::path::Path) -> std::process::Command {
    let mut cmd = replay(input, lake);
    cmd.args(["--format", "livepeer-json"]);
    cmd
}

fn assert_same_tables(expected: &std::path::Path, actual: &std::path::Path, tables: &[&str]) {
    for table in tables {
        let want = table_rows(expected, table, &[]);
        let got = table_rows(actual, table, &[]);
        assert!(!want.is_empty(), "{table} is empty in the reference run");
        assert_eq!(want, got, "{table}: rows differ");
    }
}

#[test]
fn livepeer_gateway_events_replay_with_bad_lines_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let sample = livepeer_sample();
    let clean = dir.path().join("clean.ndjson");
    std::fs::write(&clean, &sample).unwrap();
    let reference = dir.path().join("reference");
    run_ok(&mut livepeer_replay(&clean, &reference));

    let input = dir.path().join("gateway.ndjson");
    let bad = [
        // malformed JSON
        r#"{"id":"x","#,
        // an unknown family
        r#"{"id":"1","type":"mystery","timestamp":"1767908945298","gateway":"","data":{}}"#,
        // an unknown stream_trace subtype
        r#"{"id":"2","type":"stream_trace","timestamp":"1767908945298","gateway":"","data":{"type":"gateway_dance","timestamp":1}}"#,
        // a wrong-typed field (state is a number)
        r#"{"id":"3","type":"ai_stream_status","timestamp":"1767908945298","gateway":"","data":{"state":7,"timestamp":1}}"#,
    ];
    // The bad lines sit among the good ones.
    let mut lines: Vec<&str> = sample.lines().collect();
    for (i, b) in bad.iter().enumerate() {
        lines.insert(10 + i * 15, b);
    }
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let lake = dir.path().join("lake");
    run_ok(&mut livepeer_replay(&input, &lake));
    let t = totals(&lake);
    assert_eq!(t["events_in"], 65, "{t}");
    assert_eq!(t["messages_in"], 69, "{t}");
    for reason in ["malformed_json", "unknown_family", "unknown_subtype", "wrong_type"] {
        assert_eq!(t["quarantined_by_reason"][reason], 1, "{reason}: {t}");
    }
    let quarantined = table_rows(&lake, "quarantine", &[]);
    assert_eq!(quarantined.len(), 4);
    // Each keeps its reason and its whole payload (Binary, shown as hex).
    let reasons = ["malformed_json", "unknown_family", "unknown_subtype", "wrong_type"];
    for (reason, line) in reasons.iter().zip(bad) {
        let hex: String = line.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(
            quarantined
                .iter()
                .any(|r| r.contains(&format!("reason={reason} ")) && r.contains(&hex)),
            "{reason} with its payload: {quarantined:#?}"
        );
    }
    // Nothing else is lost: every table equals the clean run's.
    assert_same_tables(&reference, &lake, &LIVEPEER_TABLES);
    let rows = table_rows(&lake, "gateway_events", &["data"]);
    assert!(rows.iter().any(|r| r.contains("family=network_capabilities")));
    assert_eq!(rows.iter().filter(|r| r.contains("family=stream_trace")).count(), 6);
    let raw = table_rows(&lake, "gateway_events", &[]);
    assert!(
        raw.iter().all(|r| !r.contains("clientIP")),
        "personal data is dropped at ingest"
    );
}

#[test]
fn livepeer_sessions_survive_crashes_at_every_commit_point() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("gateway.ndjson");
    std::fs::write(&input, livepeer_sample()).unwrap();
    let reference = dir.path().join("reference");
    run_ok(&mut livepeer_replay(&input, &reference));
    let sla = table_rows(&reference, "sla_hourly", &[]);
    assert_eq!(sla.len(), 1, "{sla:#?}");
    assert!(sla[0].contains("orchestrator=0xd00354656922168815fcd1e51cbddb9e359e3c7f"));

    // Unthrottled, the whole file fits the first commit, which also seals
    // the hour (finalize at the end of the input): stop at each point of it,
    // with the sealed files written but not committed, then rerun.
    for point in ["after_files@1", "after_state@1", "after_manifest@1", "after_table@1"] {
        let lake = dir.path().join(point.replace('@', "-"));
        let out = livepeer_replay(&input, &lake)
            .env("NAAP_FAILPOINT", point)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{point}: the fail point did not stop the run");
        assert!(
            lake.join("lake/sla_hourly").exists(),
            "{point}: the crash was not in the sealing commit"
        );
        run_ok(&mut livepeer_replay(&input, &lake));
        assert_same_tables(&reference, &lake, &LIVEPEER_TABLES);
    }

    // SIGKILL mid-session (20 messages a second: about 36 of 65 read), then resume.
    let killed = dir.path().join("killed");
    let mut child = livepeer_replay(&input, &killed).args(["--rate", "20"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1800));
    assert!(child.try_wait().unwrap().is_none(), "replay finished before the kill");
    child.kill().unwrap();
    child.wait().unwrap();
    run_ok(&mut livepeer_replay(&input, &killed));
    assert_same_tables(&reference, &killed, &LIVEPEER_TABLES);
}

#[test]
fn replaying_a_file_of_the_wrong_format_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/livepeer/gateway-events-sample.ndjson"
    );
    // NDJSON without --format livepeer-json is not a message file.
    let out = naap()
        .args(["replay", "--input", sample, "--lake"])
        .arg(dir.path().join("lake"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a naap message file"), "{stderr}");
}

/// One HTTP/1.1 POST over a plain socket: (status, body).
fn http_post(port: u16, path: &str, body: &str) -> (u16, String) {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn byoc_events_are_validated_batched_and_reach_the_lake_in_cloudevents_envelopes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("byoc.naapmsg");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut emitter = naap()
        .args(["emit", "--orchestrator", "0xd00354656922168815fcd1e51cbddb9e359e3c7f"])
        .args(["--node-id", "box-1", "--region", "eu-west", "--no-gpu", "--no-host"])
        .args(["--heartbeat-interval", "200ms", "--duration", "6s"])
        .args(["--byoc-listen", &format!("127.0.0.1:{port}")])
        .args([
            "--byoc-schemas",
            concat!(env!("CARGO_MANIFEST_DIR"), "/data/byoc-events.toml"),
        ])
        .args(["--byoc-batch-window", "100ms", "--byoc-max-batch", "3", "--output"])
        .arg(&file)
        .spawn()
        .expect("spawn naap emit");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "the BYOC endpoint did not open");
        std::thread::sleep(Duration::from_millis(50));
    }
    let path = "/v1/events/inference_done";
    // Accepted: one object, then an array of two (keys in any order).
    let one = r#"{"pipeline":"live-video-to-video","model":"streamdiffusion","latency_ms":41.5,"frames":30}"#;
    assert_eq!(http_post(port, path, one), (202, r#"{"accepted":1}"#.to_owned()));
    let two = r#"[{"model":"m","pipeline":"p","latency_ms":1},{"pipeline":"p","model":"m","latency_ms":2,"ok":true,"started_at":"2026-01-08T21:00:00Z"}]"#;
    assert_eq!(http_post(port, path, two), (202, r#"{"accepted":2}"#.to_owned()));
    // Refused whole, each with its reason; none of these events is kept.
    for (body, reason, needle) in [
        (r#"{"pipeline":"p","model":"m"}"#, "missing_field", "latency_ms"),
        (
            r#"{"pipeline":"p","model":"m","latency_ms":"fast"}"#,
            "wrong_type",
            "a number",
        ),
        (
            r#"{"pipeline":"p","model":"m","latency_ms":1,"gpu":0}"#,
            "unknown_field",
            "gpu",
        ),
        (
            r#"[{"pipeline":"p","model":"m","latency_ms":1},{"pipeline":"q"}]"#,
            "missing_field",
            "event 1",
        ),
        ("{oops", "malformed_json", "not JSON"),
        (
            r#"[{"pipeline":"p","model":"m","latency_ms":1},{"pipeline":"p","model":"m","latency_ms":1},{"pipeline":"p","model":"m","latency_ms":1},{"pipeline":"p","model":"m","latency_ms":1}]"#,
            "too_many_events",
            "at most 3",
        ),
    ] {
        let (status, answer) = http_post(port, path, body);
        assert_eq!(status, 400, "{body}: {answer}");
        let answer: serde_json::Value = serde_json::from_str(&answer).expect("JSON refusal");
        assert_eq!(answer["reason"], reason, "{body}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| e.contains(needle)),
            "{body}: {answer}"
        );
    }
    let (status, answer) = http_post(port, "/v1/events/not_registered", "{}");
    assert_eq!(status, 400);
    assert!(
        answer.contains("unknown_event") && answer.contains("inference_done, model_loaded"),
        "{answer}"
    );
    let model = r#"{"model":"streamdiffusion","load_ms":5300,"vram_bytes":8589934592}"#;
    assert_eq!(http_post(port, "/v1/events/model_loaded", model).0, 202);
    let status = emitter.wait().expect("emitter exit");
    assert!(status.success(), "naap emit failed: {status}");

    let lake = dir.path().join("lake");
    run_ok(&mut replay(&file, &lake));
    let rows = table_rows(&lake, "custom_event", &["event_time", "event_id", "ce_id"]);
    let expect = |ty: &str, schema: &str, data: &str| {
        format!(
            "orchestrator=0xd00354656922168815fcd1e51cbddb9e359e3c7f node_id=box-1 region=eu-west ce_specversion=1.0 \
             ce_source=/naap/0xd00354656922168815fcd1e51cbddb9e359e3c7f/box-1/byoc ce_type={ty} \
             ce_dataschema=naap:byoc/{schema}/v1 data={data} signer=NULL verified=false"
        )
    };
    let mut want = vec![
        expect(
            "inference_done",
            "inference_done",
            r#"{"frames":30,"latency_ms":41.5,"model":"streamdiffusion","pipeline":"live-video-to-video"}"#,
        ),
        expect(
            "inference_done",
            "inference_done",
            r#"{"latency_ms":1,"model":"m","pipeline":"p"}"#,
        ),
        expect(
            "inference_done",
            "inference_done",
            r#"{"latency_ms":2,"model":"m","ok":true,"pipeline":"p","started_at":"2026-01-08T21:00:00Z"}"#,
        ),
        expect(
            "model_loaded",
            "model_loaded",
            r#"{"load_ms":5300,"model":"streamdiffusion","vram_bytes":8589934592}"#,
        ),
    ];
    want.sort();
    assert_eq!(rows, want);
    // Ids are unique, and the event id embeds the CloudEvents id.
    let ids = table_rows(&lake, "custom_event", &[]);
    let mut ce_ids: Vec<&str> = ids
        .iter()
        .filter_map(|r| r.split(" ce_id=").nth(1).and_then(|s| s.split(' ').next()))
        .collect();
    ce_ids.sort();
    ce_ids.dedup();
    assert_eq!(ce_ids.len(), 4, "{ids:#?}");
    assert!(ids.iter().all(|r| {
        let id = r
            .split(" ce_id=")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .unwrap_or("?");
        r.contains(&format!("-{id} "))
    }));
}

/// A second pipeline over the same lake takes every partition over (its
/// claim is a commit record of its own); the first one's next commit finds
/// the new owner in the records and stops with a clear error instead of
/// committing beside it.
#[test]
fn a_pipeline_whose_partitions_another_took_over_stops_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // 4 orchestrators x 120 spans = 480 messages at 50/s: ~10 s.
    let input = simulated_file(dir.path(), 4, "10m");
    let lake = dir.path().join("lake");
    let first = replay(&input, &lake)
        .args(["--rate", "50"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while common::commit_records(&lake).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first pipeline never committed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    run_ok(&mut replay(&input, &lake));
    let out = first.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the first pipeline went on:\n{stderr}");
    assert!(
        stderr.contains("another pipeline took over this lake's partitions"),
        "{stderr}"
    );
}
