//! Who may publish, and what arrives once: signatures, dedup, the spool bound.

use std::io::Write;

use crate::common::{T0, naap, run_ok, simulated_file, table_rows, totals};
use naap_events::framing::{MessageMeta, RecordReader, write_magic, write_record};
use naap_events::signing::{HEADER_SIGNATURE, HEADER_SIGNER, Signer};

// Well-known development keys (Hardhat/Anvil accounts 0 and 1): never real funds.
const OPERATOR_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const OTHER_KEY: &str = "59c6995e998f97a5a0044966f0945389dc9c86dae88b60b82c8e6e7e11d71d6a";

fn records(path: &std::path::Path) -> Vec<(MessageMeta, Vec<u8>)> {
    let mut reader = RecordReader::new(std::fs::File::open(path).expect("open message file")).expect("message file");
    let mut out = Vec::new();
    while let Some(r) = reader.next_record().expect("message record") {
        out.push(r);
    }
    out
}

fn write_records(path: &std::path::Path, records: &[(MessageMeta, Vec<u8>)]) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create message file"));
    write_magic(&mut out).expect("write");
    for (meta, value) in records {
        write_record(&mut out, meta, value).expect("write");
    }
    out.flush().expect("flush");
}

fn header<'a>(meta: &'a MessageMeta, name: &str) -> &'a str {
    meta.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .expect("header present")
}

fn replay(input: &std::path::Path, lake: &std::path::Path, extra: &[&str]) {
    run_ok(
        naap()
            .args(["replay", "--input"])
            .arg(input)
            .arg("--lake")
            .arg(lake)
            .args(extra),
    );
}

#[test]
fn signed_batches_are_verified_and_forgeries_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let operator = Signer::from_hex(OPERATOR_KEY).unwrap();
    let other = Signer::from_hex(OTHER_KEY).unwrap();
    // Simulated orchestrators, every message signed by the operator's key.
    let signed = dir.path().join("signed.naapmsg");
    run_ok(
        naap()
            .env("NAAP_TEST_KEY", OPERATOR_KEY)
            .args(["emit", "--simulate", "2", "--from", &T0.to_string(), "--span", "2m"])
            .args(["--signing-key-env", "NAAP_TEST_KEY", "--output"])
            .arg(&signed),
    );
    let good = records(&signed);
    assert!(good.len() >= 4);
    let orchestrators: std::collections::BTreeSet<String> = good.iter().map(|(m, _)| m.key.clone().unwrap()).collect();
    for (meta, _) in &good {
        assert_eq!(header(meta, HEADER_SIGNER), operator.address());
    }
    // The operator's key is bound to both orchestrators it runs.
    let bindings: Vec<String> = orchestrators
        .iter()
        .flat_map(|o| ["--signer-binding".to_owned(), format!("{}={o}", operator.address())])
        .collect();
    let bindings: Vec<&str> = bindings.iter().map(String::as_str).collect();
    let require: Vec<&str> = [&["--require-signatures", "all"][..], &bindings].concat();

    let clean = dir.path().join("clean");
    replay(&signed, &clean, &require);
    assert_eq!(totals(&clean)["quarantined"], 0, "{}", totals(&clean));
    let rows = table_rows(&clean, "node_telemetry", &[]);
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r.contains("verified=true") && r.contains(&format!("signer={}", operator.address())))
    );

    // Three forgeries among the good messages.
    let (meta, value) = good[0].clone();
    let mut tampered = value.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    let mut by_other = meta.clone();
    by_other
        .headers
        .retain(|(k, _)| k != HEADER_SIGNATURE && k != HEADER_SIGNER);
    let key = meta.key.clone().unwrap();
    by_other.headers.push((
        HEADER_SIGNATURE.into(),
        other.sign(
            header(&meta, "naap-schema"),
            header(&meta, "naap-schema-version"),
            &key,
            &value,
        ),
    ));
    by_other.headers.push((HEADER_SIGNER.into(), other.address().into()));
    let mut unsigned = meta.clone();
    unsigned
        .headers
        .retain(|(k, _)| k != HEADER_SIGNATURE && k != HEADER_SIGNER);
    let mut mixed = good.clone();
    mixed.insert(1, (meta.clone(), tampered));
    mixed.insert(2, (by_other, value.clone()));
    mixed.insert(3, (unsigned.clone(), value.clone()));
    let mixed_path = dir.path().join("mixed.naapmsg");
    write_records(&mixed_path, &mixed);

    let lake = dir.path().join("lake");
    replay(&mixed_path, &lake, &require);
    let t = totals(&lake);
    assert_eq!(t["quarantined"], 3, "{t}");
    assert_eq!(t["quarantined_by_reason"]["bad_signature"], 1, "{t}");
    assert_eq!(t["quarantined_by_reason"]["signer_mismatch"], 1, "{t}");
    assert_eq!(t["quarantined_by_reason"]["unsigned"], 1, "{t}");
    // Nothing else is lost.
    assert_eq!(
        table_rows(&clean, "node_telemetry", &[]),
        table_rows(&lake, "node_telemetry", &[])
    );

    // Without --require-signatures the unsigned one is accepted, unverified;
    // a forgery is still refused. Its events repeat ones already accepted
    // (same event ids), so they count as duplicates, not twice.
    let lenient = dir.path().join("lenient");
    replay(&mixed_path, &lenient, &bindings);
    let t = totals(&lenient);
    assert_eq!(t["quarantined"], 2, "{t}");
    assert!(t["duplicates"].as_u64().unwrap() > 0, "{t}");
    assert_eq!(
        table_rows(&clean, "node_telemetry", &[]),
        table_rows(&lenient, "node_telemetry", &[])
    );
    // Unbound, the operator's valid signatures are not enough.
    let unbound = dir.path().join("unbound");
    replay(&signed, &unbound, &["--require-signatures", "all"]);
    assert_eq!(
        totals(&unbound)["quarantined_by_reason"]["signer_mismatch"].as_u64(),
        Some(good.len() as u64)
    );
}

#[test]
fn a_message_delivered_twice_adds_its_events_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = simulated_file(dir.path(), 3, "2m");
    let all = records(&input);
    let mut twice = all.clone();
    // A spool resending after a crash: the same messages again, later.
    twice.extend(all.iter().take(5).cloned());
    let doubled = dir.path().join("twice.naapmsg");
    write_records(&doubled, &twice);
    let (once_lake, twice_lake) = (dir.path().join("once"), dir.path().join("twice"));
    replay(&input, &once_lake, &[]);
    replay(&doubled, &twice_lake, &[]);
    for table in ["node_telemetry", "telemetry_1m", "scores"] {
        assert_eq!(
            table_rows(&once_lake, table, &[]),
            table_rows(&twice_lake, table, &[]),
            "{table}"
        );
    }
    let t = totals(&twice_lake);
    let repeated: u64 = all
        .iter()
        .take(5)
        .map(|(_, v)| {
            naap_events::ipc::decode(naap_events::Family::NodeTelemetryV1, v)
                .unwrap()
                .num_rows() as u64
        })
        .sum();
    assert_eq!(t["duplicates"].as_u64(), Some(repeated), "{t}");
}

#[test]
fn a_full_spool_drops_its_oldest_messages_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    // No broker listens on port 1: every message stays spooled. Heartbeats
    // only, about 4.5 KB each: a 20 KB spool holds four.
    let out = run_ok(
        naap()
            .env("NAAP_LOG", "warn,librdkafka=off,rdkafka=off")
            .args(["emit", "--brokers", "127.0.0.1:1", "--no-gpu", "--no-host"])
            .args(["--orchestrator", "0x00000000000000000000000000000000000000aa"])
            .args([
                "--heartbeat-interval",
                "50ms",
                "--duration",
                "2s",
                "--delivery-timeout",
                "500ms",
            ])
            .args(["--flush-timeout", "0s", "--spool-max-bytes", "20000", "--spool-dir"])
            .arg(dir.path().join("spool")),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let field = |name: &str| -> u64 {
        let at = stdout
            .find(&format!("{name} "))
            .unwrap_or_else(|| panic!("{name} in {stdout}"));
        stdout[at + name.len() + 1..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (spooled, dropped, delivered) = (field("spooled"), field("dropped"), field("delivered"));
    assert_eq!(delivered, 0, "{stdout}");
    assert!(spooled >= 20, "{stdout}");
    let left = crate::common::spooled_messages(&dir.path().join("spool")) as u64;
    assert!(left <= 4, "{left} files left");
    assert_eq!(dropped, spooled - left, "{stdout}");
    assert!(stderr.contains("spool full: dropped its oldest message"), "{stderr}");
}

#[test]
fn the_sample_emitter_toml_configures_the_agent_and_flags_win() {
    // The same flags reach `naap emit` and the lean `naap-emit` binary.
    let lean = || {
        // naap-emitter's binary, built beside `naap` by `cargo test --workspace`.
        let bin = std::path::Path::new(env!("CARGO_BIN_EXE_naap")).with_file_name("naap-emit");
        assert!(
            bin.exists(),
            "{} is missing: run `cargo test --workspace`",
            bin.display()
        );
        let mut cmd = std::process::Command::new(bin);
        cmd.env("NAAP_LOG", "warn");
        cmd
    };
    for (name, mut cmd) in [("naap emit", naap()), ("naap-emit", lean())] {
        if name == "naap emit" {
            cmd.arg("emit");
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hb.naapmsg");
        run_ok(
            cmd.args(["--config", concat!(env!("CARGO_MANIFEST_DIR"), "/data/emitter.toml")])
                .args([
                    "--region",
                    "us-east",
                    "--no-gpu",
                    "--heartbeat-interval",
                    "200ms",
                    "--duration",
                    "1s",
                ])
                .arg("--output")
                .arg(&file),
        );
        let lake = dir.path().join("lake");
        replay(&file, &lake, &[]);
        let rows = table_rows(&lake, "node_telemetry", &[]);
        assert!(rows.len() >= 3, "{name}: {rows:#?}");
        // From the file: the orchestrator and node id; from the command line: the region.
        assert!(
            rows.iter().all(
                |r| r.contains("orchestrator=0x00000000000000000000000000000000000000aa")
                    && r.contains("node_id=gpu-box-1")
                    && r.contains("region=us-east")
            ),
            "{name}: {rows:#?}"
        );
    }
}

#[test]
fn a_config_file_with_an_unknown_key_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("emitter.toml");
    std::fs::write(
        &config,
        "orchestrator = \"0x00000000000000000000000000000000000000aa\"\nheartbeat-intervall = \"5s\"\n",
    )
    .unwrap();
    let out = naap().args(["emit", "--config"]).arg(&config).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--heartbeat-intervall"), "{stderr}");
}
