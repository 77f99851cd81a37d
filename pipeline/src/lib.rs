//! The naap streaming pipeline.
//!
//! Consumes event messages (Kafka, or a message file for replays), decodes
//! them, sends what cannot be decoded to the `quarantine` table with its
//! reason, windows accepted events by event time into additive per-minute
//! aggregates (SQL in `sql/aggregates/`), scores closed windows with every
//! rule in `sql/rules/`, and commits Parquet to the lake exactly once.
//!
//! go-livepeer gateway events (`--format livepeer-json`) take a second path:
//! they are kept as typed rows, and whole UTC hours are *sealed* into
//! sessions, hourly tables and the SLA rule once every partition has passed
//! them (see the `seal` module).
//!
//! It must never serve queries nor call the server: the lake's Delta tables
//! are the only contract between the two.
//!
//! # Commit protocol
//!
//! Every lake table is a Delta Lake table. Every commit (one micro-batch, by
//! default at most one per second):
//!
//! 1. writes the new Parquet files into the tables' `date=/hour=` folders
//!    (no reader sees a file before a Delta version adds it);
//! 2. writes the open-window state and the remembered event ids
//!    (`_naap/state/<seq>-<writer>[.ids].parquet`);
//! 3. creates the commit record `_naap/commits/<seq>.json` (create-only: a
//!    second writer with the same sequence number fails instead of
//!    overwriting) holding, per table, the files to add and remove; per
//!    source partition, the next offset to read, the watermark, the first
//!    window still open, its owner and its state files; the first unsealed
//!    hour, plus running totals;
//! 4. commits each table's part as one Delta version carrying application
//!    transactions: `naap-commit` = the record's sequence number, and
//!    `naap-offset:<source>:<partition>` = the offset the table holds of
//!    each input partition.
//!
//! On start the pipeline loads the newest record, finishes every table that
//! lacks a record (a crash between steps 3 and 4: each table's own
//! `naap-commit` transaction says what it holds), loads the state, and
//! resumes reading at the record's offsets. A crash before step 3 leaves
//! files no Delta version references; vacuum deletes them. The dangerous
//! moments are fail points (`NAAP_FAILPOINT=after_files|after_state|
//! after_manifest|after_table|after_tables[@N]`, debug builds) so tests can
//! stop the process exactly there.
//!
//! # Several processes
//!
//! With [`KafkaOptions::scale_out`] the consumer group splits the partitions
//! among processes. A process claims a partition it is assigned by writing a
//! commit record that names it the owner, then loads that partition's state;
//! at a revoke it commits first. A commit that loses the race for its
//! sequence number builds again on the newest record (other partitions and
//! totals carry over), so the records stay one linear history however many
//! processes write them, and every table takes them in that order.

//! # Example
//!
//! ```no_run
//! # async fn run() -> Result<(), naap_pipeline::Error> {
//! use naap_pipeline::{Pipeline, PipelineConfig, SourceSpec};
//! let lake = naap_sql::Lake::open("./naap-data", &Default::default())?;
//! let config = PipelineConfig::new(lake);
//! let source = SourceSpec::File { path: "events.naapmsg".into(), rate: None };
//! let report = Pipeline::new(config).run(source).await?;
//! println!("{} windows committed", report.windows_committed);
//! # Ok(()) }
//! ```

mod chains;
mod commit;
mod decode;
mod error;
mod failpoint;
mod health;
mod manifest;
mod metrics;
mod quarantine;
mod source;
mod verify;
mod window;

pub use chains::{ChainProgress, Chains, GAPS_TABLE};
pub use commit::{Compacted, ResealSpec, Resealed};
pub use error::{Error, Result};
pub use health::{Health, State};
pub use manifest::{Manifest, PartitionProgress, Totals};
pub use metrics::{Metrics, Snapshot, totals_line};
pub use quarantine::QUARANTINE_TABLE;
pub use source::{ChainRef, InputFormat, KafkaOptions, SourceSpec, StreamrSpec};
pub use verify::{SignaturePolicy, Signatures};
pub use window::{RAW_TABLE, WINDOW_TABLE};

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// How the pipeline windows and commits.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub lake: naap_sql::Lake,
    /// Events whose window closed more than this before the newest event time
    /// of their partition are late.
    pub allowed_lateness: Duration,
    /// An event dated more than this after the pipeline's clock is
    /// quarantined (`time_in_future`): one such event would otherwise move
    /// its partition's watermark, and close and seal what is still open.
    pub max_future_skew: Duration,
    /// Upper bound on the time between commits; a pause in the input of
    /// 100 ms (or this, if shorter) commits what was read sooner.
    pub commit_interval: Duration,
    /// Upper bound on the messages in one commit.
    pub max_messages_per_commit: usize,
    /// Upper bound on the events in one commit (checked after each chunk of
    /// messages, so a commit may exceed it by one chunk).
    pub max_events_per_commit: u64,
    /// Stop when no message arrived for this long (tests, batch jobs).
    pub stop_after_idle: Option<Duration>,
    /// At the end of the input (or when stopping for idleness), close every
    /// open window and seal every hour (replays, backfills).
    pub finalize_at_end: bool,
    /// Encoding of the message values.
    pub format: InputFormat,
    /// How long after an hour ends its sessions' later events still count
    /// (a stream requested at 21:59 may become playable at 22:00).
    pub session_settle: Duration,
    /// How far before an hour the events of its sessions are read (a session
    /// active in the hour may have started this long before).
    pub session_lookback: Duration,
    /// Sessions `sessions.sql` reads in one run when sealing an hour (the
    /// hour's sessions are sealed in groups this size: what sealing holds
    /// follows it; the rows are the same whatever it is).
    pub seal_group_sessions: usize,
    /// Which sources must be signed, and operating-address bindings.
    pub signatures: Signatures,
    /// How far back in event time (from a partition's newest event) repeated
    /// event ids are recognised; never less than `allowed_lateness`.
    pub dedup_horizon: Duration,
    /// How often closed hours are compacted (one file per table, hour,
    /// partition and source); `None`: never.
    pub compact_every: Option<Duration>,
    /// How long files removed from a table (compacted, or replaced by late
    /// windows) stay in the store, so queries planned at an older version
    /// still find them: vacuum's retention. Longer than the server's query
    /// time limit.
    pub compaction_grace: Duration,
    /// The rule versions scored: those built in, and any loaded from a file.
    pub rules: naap_sql::RuleSet,
}

impl PipelineConfig {
    pub fn new(lake: naap_sql::Lake) -> Self {
        Self {
            lake,
            allowed_lateness: Duration::from_secs(30),
            max_future_skew: Duration::from_secs(600),
            commit_interval: Duration::from_secs(1),
            max_messages_per_commit: 20_000,
            max_events_per_commit: 200_000,
            stop_after_idle: None,
            finalize_at_end: false,
            format: InputFormat::default(),
            session_settle: Duration::from_secs(300),
            session_lookback: Duration::from_secs(24 * 3600),
            seal_group_sessions: 2_500,
            signatures: Signatures::default(),
            dedup_horizon: Duration::from_secs(600),
            compact_every: Some(Duration::from_secs(600)),
            compaction_grace: Duration::from_secs(300),
            rules: naap_sql::RuleSet::embedded(),
        }
    }

    /// How this run reads its messages.
    pub(crate) fn decoder(&self) -> decode::Decoder {
        decode::Decoder {
            format: self.format,
            signatures: self.signatures.clone(),
            max_future_skew: self.max_future_skew,
        }
    }
}

/// What a finished run did (the same numbers as the commit record's totals).
pub type Report = Totals;

/// A pipeline instance: configuration, live metrics and a stop signal.
#[derive(Debug)]
pub struct Pipeline {
    config: PipelineConfig,
    metrics: Arc<Metrics>,
    stop: watch::Sender<bool>,
}

impl Pipeline {
    pub fn new(config: PipelineConfig) -> Self {
        let (stop, _) = watch::channel(false);
        Self {
            config,
            metrics: Arc::new(Metrics::default()),
            stop,
        }
    }

    /// This pipeline reporting into `metrics` (which a supervisor keeps
    /// across restarts) instead of counters of its own.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Live counters, updated after every commit.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// A handle that stops the run after its next commit.
    pub fn stopper(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }

    /// Compacts the closed hours of a lake no pipeline is writing now (one
    /// commit), then vacuums every table after the grace period.
    pub async fn compact(self) -> Result<Compacted> {
        commit::compact_once(self.config).await
    }

    /// Rebuilds the sealed hours `spec` names from the raw tables the lake
    /// keeps, each hour one commit replacing its files (a lake no pipeline
    /// is writing; readers go on).
    pub async fn reseal(self, spec: &ResealSpec) -> Result<Resealed> {
        commit::reseal::reseal(self.config, spec).await
    }

    /// Runs until the source ends, the idle limit passes, or a stop is
    /// signalled. An error ends it at once and stays in its [`Health`];
    /// the caller reports it (the CLI exits with it, `naap demo` logs it
    /// and restarts the pipeline).
    pub async fn run(self, source: SourceSpec) -> Result<Report> {
        let metrics = Arc::clone(&self.metrics);
        let ran = commit::run(self.config, source, self.metrics, self.stop.subscribe()).await;
        if let Err(e) = &ran {
            metrics.stopped(e);
        }
        ran
    }
}
