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

/// Every row of a lake table as text, sorted; `exclude` drops columns by name.
pub fn table_rows(lake: &Path, table: &str, exclude: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    collect_parquet(&lake.join("lake").join(table), &mut files);
    // What a reader sees: files superseded by a replacement are left out.
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let files: Vec<PathBuf> = files
        .into_iter()
        .zip(naap_sql::files::visible(&names))
        .filter_map(|(f, keep)| keep.then_some(f))
        .collect();
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

fn collect_parquet(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_parquet(&path, out);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
}

/// Totals of the newest manifest of a lake.
pub fn totals(lake: &Path) -> serde_json::Value {
    let dir = lake.join("_naap").join("manifest");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("manifest dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    let newest = names.last().expect("a manifest");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(newest).expect("read manifest")).expect("manifest JSON");
    manifest["totals"].clone()
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
