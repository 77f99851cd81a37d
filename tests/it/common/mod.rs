//! Helpers for the end-to-end tests: the real `naap` binary, message files,
//! and lake contents as sorted rows.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::Array;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The `naap` binary cargo built for these tests.
pub fn naap() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_naap"));
    cmd.env("NAAP_LOG", "warn");
    cmd
}

/// Runs a command to completion, failing the test with its output if it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn naap");
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// 2026-01-08T21:00:00Z, the hour of the recorded gateway sample.
pub const T0: i64 = 1_767_906_000_000;

/// Writes a deterministic simulated span to a message file.
pub fn simulated_file(dir: &Path, orchestrators: usize, span: &str) -> PathBuf {
    let path = dir.join("input.naapmsg");
    run_ok(
        naap()
            .args([
                "emit",
                "--simulate",
                &orchestrators.to_string(),
                "--from",
                &T0.to_string(),
                "--span",
                span,
                "--output",
            ])
            .arg(&path),
    );
    path
}

/// The files of a lake table's newest Delta version (none before its first commit).
pub fn active_files(lake: &Path, table: &str) -> Vec<PathBuf> {
    // On a thread of its own: the caller may itself be an async test.
    let (lake, table) = (lake.to_owned(), table.to_owned());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let opened =
                naap_sql::Lake::open(lake.to_str().expect("utf-8 path"), &Default::default()).expect("open lake");
            match naap_sql::delta::open(&opened, &table).await.expect("open Delta table") {
                Some(t) => naap_sql::delta::active_files(&t, &table)
                    .expect("active files")
                    .into_iter()
                    .map(|f| lake.join("lake").join(&table).join(f.path))
                    .collect(),
                None => Vec::new(),
            }
        })
    })
    .join()
    .expect("reading the Delta log")
}

/// Every row of a lake table's newest Delta version as text, sorted;
/// `exclude` drops columns by name.
pub fn table_rows(lake: &Path, table: &str, exclude: &[&str]) -> Vec<String> {
    let files = active_files(lake, table);
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for file in files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).expect("open parquet"))
            .expect("parquet footer")
            .build()
            .expect("parquet reader");
        for batch in reader {
            let batch = batch.expect("parquet batch");
            let schema = batch.schema();
            let columns: Vec<_> = schema
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, f)| !exclude.contains(&f.name().as_str()))
                .map(|(i, f)| (f.name().clone(), batch.column(i).clone()))
                .collect();
            for row in 0..batch.num_rows() {
                let cells: Vec<String> = columns
                    .iter()
                    .map(|(name, c)| {
                        let value = if c.is_null(row) {
                            "NULL".to_owned()
                        } else {
                            ArrayFormatter::try_new(c.as_ref(), &options)
                                .expect("formatter")
                                .value(row)
                                .to_string()
                        };
                        format!("{name}={value}")
                    })
                    .collect();
                rows.push(cells.join(" "));
            }
        }
    }
    rows.sort();
    rows
}

/// The commit records of a lake, oldest first: the `<seq>.json` files of
/// `_naap/commits/`. A process killed mid-write leaves the store's staging
/// file beside them (`<seq>.json#<n>`, empty or partial), which is not a record.
pub fn commit_records(lake: &Path) -> Vec<std::path::PathBuf> {
    let dir = lake.join("_naap").join("commits");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    names.retain(|p: &std::path::PathBuf| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
            .is_some_and(|seq| !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit()))
    });
    names.sort();
    names
}

/// Totals of the newest commit record of a lake.
pub fn totals(lake: &Path) -> serde_json::Value {
    let records = commit_records(lake);
    let newest = records.last().expect("a commit record");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(newest).expect("read commit record")).expect("commit record JSON");
    record["totals"].clone()
}

/// A required test service: its address, or None (skip) outside CI.
pub fn service(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{var} is not set and CI=true: run the tests through ./test.sh")
        }
        _ => {
            eprintln!("skipping: {var} not set (./test.sh starts the service)");
            None
        }
    }
}

/// Messages waiting in an agent's spool directory (its `<seq>.msg` files;
/// beside them it keeps its sequence number and Streamr key).
pub fn spooled_messages(spool: &Path) -> usize {
    std::fs::read_dir(spool)
        .expect("read the spool")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "msg"))
        })
        .count()
}

/// The messages and events an `naap emit` run says it emitted ("emitted N
/// messages, M events").
pub fn emitted(stdout: &str) -> (u64, u64) {
    let count = |after: &str| -> u64 {
        stdout
            .split(after)
            .nth(1)
            .and_then(|s| s.split(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no count after {after:?} in {stdout}"))
    };
    (count("emitted "), count("messages, "))
}

/// Each of `tables` holds the same rows in both lakes (and `want` some).
pub fn assert_same_tables(want: &Path, got: &Path, tables: &[&str]) {
    for table in tables {
        let (w, g) = (table_rows(want, table, &[]), table_rows(got, table, &[]));
        assert!(!w.is_empty(), "{table} is empty in {}", want.display());
        assert_eq!(w.len(), g.len(), "{table}: row count differs");
        if let Some((w, g)) = w.iter().zip(&g).find(|(w, g)| w != g) {
            panic!(
                "{table}: rows differ; first difference:\n  {} {w}\n  {} {g}",
                want.display(),
                got.display()
            );
        }
    }
}
