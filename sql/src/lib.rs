//! naap's analytical contract: the versioned SQL in `sql/`, the functions it
//! needs, the lake layout both sides agree on, and the read-only session that
//! runs untrusted SQL.
//!
//! The pipeline writes the lake and the server reads it; they never call each
//! other. This crate is what they share instead: where a table lives
//! ([`lake`]), what SQL computes it ([`mod@rules`]), and how sketches are stored
//! ([`sketch`]). It must never consume Kafka or serve requests.
//!
//! # Example
//!
//! ```
//! # async fn run() -> datafusion::error::Result<()> {
//! let ctx = naap_sql::session::context();
//! let df = ctx.sql("SELECT ddsketch_quantile(ddsketch_agg(v), 0.5) FROM (VALUES (1.0), (2.0), (3.0)) t(v)").await?;
//! let batches = df.collect().await?;
//! assert_eq!(batches[0].num_rows(), 1);
//! # Ok(()) }
//! ```

pub mod append;
pub mod delta;
pub mod hourly;
pub mod lake;
pub mod rules;
pub mod serving;
pub mod session;
pub mod sketch;
pub mod weighted;

pub use delta::{ActiveFile, TableError};
pub use lake::{Lake, LakeError, StoreOptions};
pub use naap_events::tables;
pub use rules::{Rule, RuleHeader, RuleSet, Served, aggregates, rules};
