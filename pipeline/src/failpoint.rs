//! Crash points of the commit protocol, for recovery tests.
//!
//! `NAAP_FAILPOINT=<name>[@<n>]` aborts the process (no unwinding, no
//! flushing: as close to SIGKILL as a process can do to itself) when the
//! named point is reached for the n-th time (default 1). Compiled only into
//! debug builds; release builds ignore the variable.

#[cfg(debug_assertions)]
pub(crate) fn hit(name: &str) {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};
    static HITS: Mutex<Vec<(String, AtomicU64)>> = Mutex::new(Vec::new());
    let Ok(spec) = std::env::var("NAAP_FAILPOINT") else {
        return;
    };
    let (point, nth) = match spec.split_once('@') {
        Some((p, n)) => (p.to_owned(), n.parse::<u64>().unwrap_or(1)),
        None => (spec.clone(), 1),
    };
    if point != name {
        return;
    }
    let mut hits = HITS.lock().unwrap_or_else(|e| e.into_inner());
    let count = match hits.iter().find(|(p, _)| p == name) {
        Some((_, c)) => c.fetch_add(1, Ordering::SeqCst) + 1,
        None => {
            hits.push((name.to_owned(), AtomicU64::new(1)));
            1
        }
    };
    if count == nth {
        eprintln!("NAAP_FAILPOINT {name}@{nth} reached: aborting");
        std::process::abort();
    }
}

#[cfg(not(debug_assertions))]
pub(crate) fn hit(_name: &str) {}
