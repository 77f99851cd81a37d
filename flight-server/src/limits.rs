//! What one client may take: per query wall time, memory, a share of the
//! server, and the size of what it sends.
//!
//! A public read endpoint must not let one request starve the rest. Every
//! client query runs in a session whose memory pool is capped and whose disk
//! spilling is off, and every scalar function result is bounded too
//! ([`crate::bounded`]); its SQL is bounded in length and nesting before it
//! is planned ([`crate::guard`]); a deadline covers planning and the whole
//! result stream; at most `max_concurrent` run at once on their own threads
//! ([`crate::admission`]), a few more wait briefly, and the rest are refused
//! at once with "retry shortly".

use std::time::Duration;

/// Limits of every query the server runs for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Wall time from admission (planning included) to the last row sent.
    pub timeout: Duration,
    /// Memory pool of one query, in bytes; one scalar function result may
    /// take a quarter of it.
    pub memory_bytes: usize,
    /// Queries running at once.
    pub max_concurrent: usize,
    /// Queries waiting for a running slot; one more is refused at once.
    pub max_queued: usize,
    /// How long a query waits for a running slot before it is refused.
    pub queue_timeout: Duration,
    /// Threads that run client queries (never the threads that accept
    /// connections, refresh the scores snapshot or, in `naap demo`, run the
    /// pipeline).
    pub threads: usize,
    /// Longest SQL text accepted, in bytes.
    pub max_sql_bytes: usize,
    /// Deepest nesting of expressions, set operations (UNION chains) and
    /// subqueries, and most tables, in one statement.
    pub max_expr_depth: usize,
    /// Most bytes of bound parameters one DoPut may send.
    pub max_put_bytes: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            memory_bytes: 512 * 1024 * 1024,
            max_concurrent: 8,
            max_queued: 32,
            queue_timeout: Duration::from_secs(2),
            threads: default_threads(),
            max_sql_bytes: 64 * 1024,
            max_expr_depth: 256,
            max_put_bytes: 1024 * 1024,
        }
    }
}

impl QueryLimits {
    /// The most all scalar function calls of one query may build together
    /// (shared out per call by the `bounded` module).
    pub fn max_value_bytes(&self) -> usize {
        (self.memory_bytes / 4).max(1024 * 1024)
    }

    /// What bound parameters (a DoPut stream, or the IPC stream inside a
    /// prepared-statement handle) may declare: a schema and a few batches
    /// of one row, decoding to no more than the query's value allowance.
    pub fn parameter_budget(&self) -> naap_events::ipc::IpcBudget {
        naap_events::ipc::IpcBudget {
            max_messages: 16,
            max_rows: 16,
            max_decoded_bytes: i64::try_from(self.max_value_bytes()).unwrap_or(i64::MAX),
        }
    }
}

/// All cores but one, so that accepting connections and the pipeline
/// always have one.
pub fn default_threads() -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    cores.saturating_sub(1).max(1)
}
