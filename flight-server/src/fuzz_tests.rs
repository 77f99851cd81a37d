//! Fuzzing what the server decodes from clients, on the stable toolchain:
//! Flight commands and tickets (Flight SQL messages mutated at random,
//! prepared-statement handles with forged lengths and compressed
//! parameters), and the SQL guard (statements nesting expressions, types,
//! subqueries and set operations as deep as the text allows), each through
//! the service and the query threads a client reaches.
//!
//! Each target runs for `NAAP_FUZZ_SECONDS` (default 2; SECURITY.md
//! records an hour-long run). A crash, an allocation failure or a stack
//! overflow fails the run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::{
    CommandGetTables, CommandPreparedStatementQuery, CommandStatementQuery, ProstMessageExt, TicketStatementQuery,
};
use arrow_flight::{FlightDescriptor, Ticket};
use futures::StreamExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use prost::Message;

use crate::admission::Queries;
use crate::auth::Role;
use crate::flight::NaapFlight;
use crate::{Catalog, QueryLimits};

/// Held by the target running: each measures the process's peak memory
/// per input, which another target running beside it would raise (one
/// such run blamed a harmless statement for the other's growth).
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `check` on values of `strategy` until the time is up, alone in
/// the process, failing any input that raises the peak memory by more
/// than [`MAX_PEAK_GROWTH_MB`].
fn fuzz<S: Strategy>(name: &str, strategy: S, mut check: impl FnMut(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut check = move |value: S::Value| {
        reset_peak();
        let before = peak_mb();
        check(value)?;
        let grew = peak_mb().saturating_sub(before);
        prop_assert!(grew <= MAX_PEAK_GROWTH_MB, "one input took {grew} MB more");
        Ok(())
    };
    let seconds: f64 = std::env::var("NAAP_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let started = Instant::now();
    let config = Config {
        cases: 16,
        failure_persistence: None,
        // A failure is reported within a minute, shrunk as far as that goes.
        max_shrink_time: 60_000,
        ..Config::default()
    };
    // A runner runs its cases once: each round takes a fresh one, seeded
    // from the first, so rounds go on where the last left off.
    let mut seeds = TestRunner::new(config.clone());
    let mut rounds = 0u64;
    while rounds == 0 || started.elapsed() < Duration::from_secs_f64(seconds) {
        let mut runner = TestRunner::new_with_rng(config.clone(), seeds.new_rng());
        let check = std::cell::RefCell::new(&mut check);
        if let Err(e) = runner.run(&strategy, |v| (check.borrow_mut())(v)) {
            // The input can be megabytes: a bounded prefix of its Debug form.
            let report = format!("{e}");
            let end = report.char_indices().nth(4096).map_or(report.len(), |(i, _)| i);
            panic!("fuzz {name}: {}", &report[..end]);
        }
        rounds += 1;
    }
    eprintln!(
        "fuzz {name}: {} cases in {:.1} s",
        rounds * 16,
        started.elapsed().as_secs_f64()
    );
}

/// A server over an empty lake with tight limits, and a runtime to call it on.
struct Fixture {
    runtime: tokio::runtime::Runtime,
    queries: Queries,
    flight: NaapFlight,
    _lake: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let lake = naap_sql::Lake::open(&dir.path().to_string_lossy(), &Default::default()).expect("a lake");
    let limits = QueryLimits {
        timeout: Duration::from_secs(5),
        memory_bytes: 64 << 20,
        max_put_bytes: 64 << 10,
        ..QueryLimits::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let queries = runtime
        .block_on(async { Queries::new(Arc::new(Catalog::new(lake, limits))) })
        .expect("queries");
    let flight = NaapFlight::new(
        queries.clone(),
        Default::default(),
        Default::default(),
        Default::default(),
    );
    Fixture {
        runtime,
        queries,
        flight,
        _lake: dir,
    }
}

/// Nestings the parser builds without bound, each a (prefix, suffix) pair
/// wrapped around what is inside.
const WRAPPERS: &[(&str, &str)] = &[
    ("(", ")"),
    ("abs(", ")"),
    ("-", ""),
    ("NOT ", ""),
    ("CAST(", " AS BIGINT)"),
    ("make_array(", ")"),
    ("(SELECT ", ")"),
    ("1 + ", ""),
    ("", "[1]"),
    ("", "::BIGINT"),
    ("CASE WHEN true THEN ", " END"),
    ("struct(", ")"),
    ("coalesce(", ", 1)"),
];

/// Type nestings, wrapped around `INT`.
const TYPE_WRAPPERS: &[(&str, &str)] = &[("", "[]"), ("ARRAY<", ">"), ("STRUCT<a ", ">"), ("MAP(VARCHAR, ", ")")];

/// A statement built by nesting wrappers, `n` times each in turn.
fn statement() -> impl Strategy<Value = String> {
    let layers = prop::collection::vec((0..WRAPPERS.len(), 0..3000usize), 0..4);
    let types = prop::collection::vec((0..TYPE_WRAPPERS.len(), 0..4000usize), 0..3);
    let shape = 0..6usize;
    (layers, types, shape, 0..3000usize).prop_map(|(layers, types, shape, n)| {
        let mut expr = "1".to_owned();
        for (w, times) in layers {
            let (open, close) = WRAPPERS[w];
            expr = format!("{}{expr}{}", open.repeat(times), close.repeat(times));
        }
        let mut ty = "INT".to_owned();
        for (w, times) in types {
            let (open, close) = TYPE_WRAPPERS[w];
            ty = format!("{}{ty}{}", open.repeat(times), close.repeat(times));
        }
        match shape {
            0 => format!("SELECT {expr}"),
            1 => format!("SELECT CAST(NULL AS {ty}), {expr}"),
            2 => vec![format!("SELECT {expr}"); n.max(1)].join(" UNION ALL "),
            3 => format!("SELECT arrow_cast(NULL, '{}Int32{}')", "List(".repeat(n), ")".repeat(n)),
            4 => format!(
                "SELECT x FROM (VALUES ({expr})) AS t(x) WHERE x IN ({})",
                vec!["1"; n.max(1)].join(",")
            ),
            _ => format!(
                "SELECT {expr} FROM {}",
                vec!["(VALUES (1)) AS t"; n.clamp(1, 300)].join(" CROSS JOIN ")
            ),
        }
    })
}

#[test]
fn fuzz_the_sql_guard() {
    let f = fixture();
    let limit = f.queries.limits().max_expr_depth;
    fuzz("sql guard", statement(), |sql| {
        // Planned where a client's statement is: on the query threads.
        let planned = f.runtime.block_on(f.queries.schema(Role::Read, sql.clone(), None));
        if let Ok(schema) = planned {
            let depth = crate::guard::types::arrow_depth(schema.fields().iter().map(|f| f.data_type()));
            prop_assert!(
                depth <= limit,
                "{} planned to types {depth} deep",
                &sql[..sql.len().min(120)]
            );
        }
        Ok(())
    });
}

/// A prepared-statement handle as this server writes them, its parameter
/// (if any) in a compressed IPC stream or not.
pub(crate) fn handle(sql: &str, param: Option<i64>, compressed: bool) -> Vec<u8> {
    let mut out = b"naap-ps1".to_vec();
    out.extend((sql.len() as u64).to_be_bytes());
    out.extend(sql.as_bytes());
    if let Some(value) = param {
        let column: arrow::array::ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![value; 64]));
        let batch = arrow::record_batch::RecordBatch::try_from_iter([("$1", column)]).expect("a batch");
        let batch = batch.slice(0, 1);
        let compression = compressed.then_some(arrow::ipc::CompressionType::ZSTD);
        let options = arrow::ipc::writer::IpcWriteOptions::default()
            .try_with_compression(compression)
            .expect("options");
        let mut w = arrow::ipc::writer::StreamWriter::try_new_with_options(Vec::new(), &batch.schema(), options)
            .expect("a writer");
        w.write(&batch).expect("writes");
        out.extend(w.into_inner().expect("finishes"));
    }
    out
}

/// A Flight SQL message, valid, and then mutated.
fn command() -> impl Strategy<Value = Vec<u8>> {
    let sql = prop_oneof![
        Just("SELECT 1".to_owned()),
        Just("SELECT $1".to_owned()),
        statement(),
        ".{0,64}".prop_map(|s: String| s),
    ];
    let params = prop_oneof![Just(None), any::<i64>().prop_map(Some)];
    let compressed = any::<bool>();
    let kind = 0..5usize;
    let flips = prop::collection::vec((any::<usize>(), any::<u8>()), 0..4);
    (sql, params, compressed, kind, flips).prop_map(|(sql, param, compressed, kind, flips)| {
        let handle = handle(&sql, param, compressed);
        let mut bytes = match kind {
            0 => CommandStatementQuery {
                query: sql,
                transaction_id: None,
            }
            .as_any()
            .encode_to_vec(),
            1 => TicketStatementQuery {
                statement_handle: sql.into_bytes().into(),
            }
            .as_any()
            .encode_to_vec(),
            2 => CommandPreparedStatementQuery {
                prepared_statement_handle: handle.into(),
            }
            .as_any()
            .encode_to_vec(),
            3 => CommandGetTables {
                catalog: None,
                db_schema_filter_pattern: Some(sql),
                table_name_filter_pattern: None,
                table_types: vec![],
                include_schema: true,
            }
            .as_any()
            .encode_to_vec(),
            _ => format!("scores?{sql}").into_bytes(),
        };
        for (at, xor) in flips {
            if !bytes.is_empty() {
                let n = bytes.len();
                bytes[at % n] ^= xor;
            }
        }
        bytes
    })
}

/// The process's peak resident memory since the last [`reset_peak`], MB.
fn peak_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        })
        .map_or(0, |kb| kb / 1024)
}

/// Starts measuring the peak anew (Linux: `clear_refs` 5).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// What one input may add to the process's peak memory: the query pool
/// (64 MiB here) and the decoders' bounds, with room for the runtime.
const MAX_PEAK_GROWTH_MB: u64 = 1024;

#[test]
fn fuzz_flight_commands_and_tickets() {
    let f = fixture();
    fuzz("flight commands", command(), |bytes| {
        f.runtime.block_on(async {
            let info = f
                .flight
                .get_flight_info(tonic::Request::new(FlightDescriptor::new_cmd(bytes.clone())))
                .await;
            let _ = info.map(|i| i.into_inner().encode_to_vec());
            if let Ok(stream) = f.flight.do_get(tonic::Request::new(Ticket::new(bytes))).await {
                let mut stream = stream.into_inner();
                while let Some(item) = stream.next().await {
                    if item.is_err() {
                        break;
                    }
                }
            }
        });
        Ok(())
    });
}
