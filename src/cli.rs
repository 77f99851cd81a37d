//! Flags of every subcommand.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use naap_pipeline::{Pipeline, PipelineConfig, SourceSpec};
use naap_sql::{Lake, StoreOptions};
use tracing::info;

use crate::serve::LimitArgs;

pub use naap_emitter::agent::{DEFAULT_TOPIC, EmitArgs};

/// naap: network analytics and SLA scores for the Livepeer network.
#[derive(Debug, Parser)]
#[command(name = "naap", version, about, long_about = None, args_override_self = true)]
pub struct Cli {
    /// Log debug detail (or set NAAP_LOG, e.g. NAAP_LOG=naap_pipeline=debug).
    #[arg(long, short, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything in one process, no configuration: simulated emitters, an
    /// in-process Kafka, the pipeline, a local lake and the server.
    Demo(DemoArgs),
    /// Publish telemetry: a node's heartbeat, or a simulated network.
    Emit(Box<EmitArgs>),
    /// Consume Kafka, window events and commit the lake exactly once.
    Pipeline(PipelineArgs),
    /// Serve the lake over Arrow Flight SQL and HTTP.
    Serve(crate::serve::ServeArgs),
    /// Run the pipeline over a message file to completion, closing every window.
    Replay(ReplayArgs),
    /// Compact the closed hours of a lake no pipeline is writing, then vacuum
    /// every table (a running pipeline compacts and vacuums on its own,
    /// every --compact-every).
    Compact(CompactArgs),
    /// Rebuild sealed hours of the hourly tables in place from the raw
    /// gateway tables the lake keeps (after an upgrade that changes what a
    /// table means, or adds a column to it): hour by hour, oldest first,
    /// each hour one Delta version per table replacing its files. For a
    /// lake no pipeline is writing; `naap serve` may go on answering.
    Reseal(ResealArgs),
    /// Score every hour of a lake with rule versions (built in or from a
    /// file) and measure how well each score predicts the next hour's
    /// session outcomes.
    Backtest(crate::backtest::BacktestArgs),
    /// Print the HTTP API's OpenAPI 3.1 document (what `naap serve`
    /// answers at /openapi.json), e.g. to generate a client.
    Openapi,
}

/// Rule versions from files, beside the built-in ones.
#[derive(Debug, Clone, Default, Args)]
pub struct RuleFiles {
    /// Also score (or serve) the rule version in this SQL file, e.g. a
    /// candidate `sla` v2 not yet under sql/rules/ (repeatable). Its header
    /// names a version no built-in file has.
    #[arg(long = "rule-file", value_name = "FILE.sql")]
    pub files: Vec<PathBuf>,
}

impl RuleFiles {
    /// The built-in rule versions plus the files'.
    pub fn load(&self) -> anyhow::Result<naap_sql::RuleSet> {
        let mut rules = naap_sql::RuleSet::embedded();
        for file in &self.files {
            let rule = rules.load(file)?;
            info!(file = %file.display(), rule = %rule.header.name, version = rule.header.version, "rule version from a file");
        }
        Ok(rules)
    }
}

/// Object store flags; credentials come from the usual AWS_* variables.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// S3-compatible endpoint for s3:// lakes (MinIO, R2, moto, …).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, env = "AWS_REGION")]
    pub s3_region: Option<String>,
    /// Allow plain http:// endpoints.
    #[arg(long)]
    pub s3_allow_http: bool,
}

impl StoreArgs {
    pub fn open(&self, location: &str) -> anyhow::Result<Lake> {
        let options = StoreOptions {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            access_key_id: None,
            secret_access_key: None,
            allow_http: self.s3_allow_http,
        };
        Lake::open(location, &options).with_context(|| format!("opening lake {location}"))
    }
}

/// Encoding of the input messages.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// naap Arrow IPC batches (`naap emit`); replay files are message files.
    NaapIpc,
    /// go-livepeer gateway JSON events as gateways publish them; replay files are NDJSON.
    LivepeerJson,
}

impl From<Format> for naap_pipeline::InputFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::NaapIpc => naap_pipeline::InputFormat::NaapIpc,
            Format::LivepeerJson => naap_pipeline::InputFormat::LivepeerJson,
        }
    }
}

/// Windowing flags shared by `pipeline` and `replay`.
#[derive(Debug, Clone, Args)]
pub struct WindowArgs {
    /// How long after a window ends its late events are still accepted.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub allowed_lateness: Duration,
    /// Events dated more than this after this machine's clock are
    /// quarantined (`time_in_future`) instead of moving the watermark.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub max_future_skew: Duration,
    /// Longest time between two commits (a pause of 100 ms in the input
    /// commits sooner).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub commit_interval: Duration,
    /// Encoding of the input messages.
    #[arg(long, value_enum, default_value = "naap-ipc")]
    pub format: Format,
    /// livepeer-json: how long after an hour its sessions' later events still
    /// count before the hour is sealed into the hourly tables.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub session_settle: Duration,
    /// livepeer-json: how far back before an hour its sessions' events are read.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    pub session_lookback: Duration,
    /// livepeer-json: sessions sealed per run of sessions.sql. An hour's
    /// sessions are sealed in groups this size: smaller holds less memory
    /// while sealing (about 14 events per session and hour at network
    /// density), but each run has a fixed cost of its own (at 50, a replay
    /// took 2.7 times as long and no less memory); the rows are the same.
    #[arg(long, default_value_t = 2_500, value_parser = clap::value_parser!(u32).range(1..))]
    pub seal_group_sessions: u32,
    /// How far back in event time repeated event ids are recognised (from
    /// each partition's newest event; at least --allowed-lateness).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub dedup_horizon: Duration,
    /// How often closed hours are compacted into one file per table, hour,
    /// partition and source (0s: never).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub compact_every: Duration,
    /// How long files removed from a table (compacted, or replaced by late
    /// windows) stay in the store before vacuum deletes them, so queries at
    /// an older table version still read them; keep it above the server's
    /// --query-timeout.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub compaction_grace: Duration,
    /// Quarantine unsigned messages of this source (topic, or `file.<name>`
    /// for a replay), instead of accepting them with verified=false
    /// (repeatable; `all` for every source). Signed messages are always
    /// checked.
    #[arg(long = "require-signatures", value_name = "SOURCE")]
    pub require_signatures: Vec<String>,
    /// Let an operating key sign for an orchestrator:
    /// OPERATING_ADDRESS=ORCHESTRATOR_ADDRESS (repeatable).
    #[arg(long = "signer-binding", value_name = "OPERATING=ORCHESTRATOR")]
    pub signer_bindings: Vec<String>,
    #[command(flatten)]
    pub rules: RuleFiles,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Simulated orchestrators.
    #[arg(long, default_value_t = 50)]
    pub orchestrators: usize,
    /// Stop cleanly after this long (e.g. 90s); runs until Ctrl-C when absent.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Lake directory. The demo's Kafka is new every run, so a lake left by an
    /// earlier demo here is cleared first.
    #[arg(long, default_value = "./naap-data")]
    pub lake: PathBuf,
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub flight_addr: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Simulated history published at start, so scores exist at once.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub backfill: Duration,
    /// Partitions of the demo topic.
    #[arg(long, default_value_t = 8)]
    pub partitions: i32,
    /// Seconds between progress lines.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub progress_every: Duration,
    /// Address of the BYOC endpoint of this machine's node agent (configured
    /// by `data/emitter.toml`).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub byoc_addr: SocketAddr,
    /// Do not run this machine's node agent beside the simulated network.
    #[arg(long)]
    pub no_node_agent: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// The message source: kafka (the topics of --brokers),
    /// `streamr://<stream id>` (every publisher's messages on a Streamr
    /// stream, through naap's sidecar; needs --streamr-network), or both,
    /// comma-separated: each Streamr message then joins the Kafka partition
    /// of the first topic its key maps to, and whichever copy arrives first
    /// counts (the other is dropped by event id).
    #[arg(long, default_value = "kafka", value_parser = crate::sources::parse_source, value_delimiter = ',')]
    pub source: Vec<crate::sources::Source>,
    #[arg(long, env = "NAAP_BROKERS")]
    pub brokers: Option<String>,
    /// The Streamr network (JSON: `contracts`, `entryPoints`), as
    /// `streamr/src/env.mjs` writes it.
    #[arg(long, value_name = "FILE", env = "NAAP_STREAMR_NETWORK")]
    pub streamr_network: Option<std::path::PathBuf>,
    /// Refuse every Streamr connection beyond loopback (offline tests).
    #[arg(long)]
    pub streamr_loopback_only: bool,
    /// Topics to consume (comma-separated or repeated), e.g. every topic
    /// go-livepeer gateways publish to.
    #[arg(long = "topic", visible_alias = "topics", default_value = DEFAULT_TOPIC, value_delimiter = ',')]
    pub topics: Vec<String>,
    /// Lake location: a directory or s3://bucket/prefix.
    #[arg(long, default_value = "./naap-data")]
    pub lake: String,
    /// Consumer group. Offsets of record are in the lake's commit records
    /// either way; with --scale-out the group also splits the partitions.
    #[arg(long, default_value = "naap-pipeline")]
    pub group_id: String,
    /// Share the topics with the other `naap pipeline` processes of the same
    /// --group-id and lake: Kafka's group assigns each process some
    /// partitions, and a rebalance hands them over through the commit records.
    /// Without it, this process reads every partition (and stops if another
    /// takes them over).
    #[arg(long)]
    pub scale_out: bool,
    /// A librdkafka property for the consumer, KEY=VALUE (repeatable), e.g.
    /// security.protocol=SASL_SSL, sasl.mechanism=SCRAM-SHA-512,
    /// sasl.username=…, ssl.ca.location=ca.pem. Secrets come from
    /// NAAP_KAFKA_SASL_PASSWORD and NAAP_KAFKA_SSL_KEY_PASSWORD.
    #[arg(long = "kafka-property", value_name = "KEY=VALUE")]
    pub kafka_properties: Vec<String>,
    /// Serve the pipeline's own counters (Prometheus text) at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Exit after this long without a message.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub stop_after_idle: Option<Duration>,
    /// When stopping for idleness, close every open window and seal every
    /// hour first, as a replay does at its end (backfills, tests).
    #[arg(long, requires = "stop_after_idle")]
    pub finalize_at_idle: bool,
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Lake location: a directory or s3://bucket/prefix.
    #[arg(long)]
    pub lake: String,
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct ResealArgs {
    /// Lake location: a directory or s3://bucket/prefix.
    #[arg(long)]
    pub lake: String,
    /// Only these hourly tables (comma-separated; default: every table sealing writes).
    #[arg(long, value_delimiter = ',')]
    pub tables: Option<Vec<String>>,
    /// Hours from this time on (RFC 3339 or epoch ms; default: the oldest raw row).
    #[arg(long, value_parser = instant)]
    pub since: Option<i64>,
    /// Hours before this time (default: every sealed hour).
    #[arg(long, value_parser = instant)]
    pub until: Option<i64>,
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// A point in time: RFC 3339, or Unix epoch milliseconds, from 1970 to
/// the end of year 9999 (the times a lake's hours can have).
fn instant(s: &str) -> Result<i64, String> {
    const LAST_MS: i64 = 253_402_300_799_999;
    let ms = match s.parse::<i64>() {
        Ok(ms) => ms,
        Err(_) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|e| format!("{s:?} is neither RFC 3339 nor epoch milliseconds: {e}"))?,
    };
    if (0..=LAST_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(format!("{s:?} is outside 1970-01-01 .. 9999-12-31"))
    }
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A message file written by `naap emit --output`, or NDJSON with --format livepeer-json.
    #[arg(long)]
    pub input: PathBuf,
    /// Lake location: a directory or s3://bucket/prefix.
    #[arg(long)]
    pub lake: String,
    /// Read at most this many messages per second (tests that interrupt a replay).
    #[arg(long)]
    pub rate: Option<u32>,
    #[command(flatten)]
    pub window: WindowArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => crate::demo::run(args).await,
        Command::Emit(args) => naap_emitter::agent::run(*args).await,
        Command::Pipeline(args) => pipeline(args).await,
        Command::Serve(args) => crate::serve::run(args).await,
        Command::Replay(args) => replay(args).await,
        Command::Compact(args) => compact(args).await,
        Command::Reseal(args) => reseal(args).await,
        Command::Backtest(args) => crate::backtest::run(args).await,
        Command::Openapi => {
            println!("{}", naap_flight_server::openapi()?);
            Ok(())
        }
    }
}

fn signatures(window: &WindowArgs) -> anyhow::Result<naap_pipeline::Signatures> {
    use naap_pipeline::SignaturePolicy;
    let mut s = naap_pipeline::Signatures::default();
    for source in &window.require_signatures {
        if source == "all" {
            s.default_policy = SignaturePolicy::Require;
        } else {
            s.per_source.insert(source.clone(), SignaturePolicy::Require);
        }
    }
    for kv in &window.signer_bindings {
        let (op, orch) = kv
            .split_once('=')
            .with_context(|| format!("--signer-binding {kv:?} is not OPERATING=ORCHESTRATOR"))?;
        let op: naap_events::OrchestratorAddress = op.parse().with_context(|| format!("--signer-binding {kv:?}"))?;
        let orch: naap_events::OrchestratorAddress =
            orch.parse().with_context(|| format!("--signer-binding {kv:?}"))?;
        s.bindings
            .entry(op.as_str().to_owned())
            .or_default()
            .insert(orch.as_str().to_owned());
    }
    Ok(s)
}

fn pipeline_config(lake: Lake, window: &WindowArgs) -> anyhow::Result<PipelineConfig> {
    let mut config = PipelineConfig::new(lake);
    config.signatures = signatures(window)?;
    config.allowed_lateness = window.allowed_lateness;
    config.max_future_skew = window.max_future_skew;
    config.commit_interval = window.commit_interval;
    config.format = window.format.into();
    config.session_settle = window.session_settle;
    config.session_lookback = window.session_lookback;
    config.seal_group_sessions = window.seal_group_sessions as usize;
    config.compact_every = (!window.compact_every.is_zero()).then_some(window.compact_every);
    config.compaction_grace = window.compaction_grace;
    config.dedup_horizon = window.dedup_horizon;
    config.rules = window.rules.load()?;
    Ok(config)
}

async fn run_pipeline(pipeline: Pipeline, source: SourceSpec) -> anyhow::Result<naap_pipeline::Report> {
    let stop = pipeline.stopper();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            info!("interrupted; committing and stopping");
            let _ = stop.send(true);
        }
    });
    Ok(pipeline.run(source).await?)
}

fn print_report(report: &naap_pipeline::Report) {
    println!("{}", naap_pipeline::totals_line(report));
}

async fn pipeline(args: PipelineArgs) -> anyhow::Result<()> {
    let lake = args.store.open(&args.lake)?;
    let mut config = pipeline_config(lake, &args.window)?;
    config.stop_after_idle = args.stop_after_idle;
    config.finalize_at_end = args.finalize_at_idle;
    let properties = naap_emitter::kafka::Properties::from_env(&args.kafka_properties)?.into_map();
    let source = crate::sources::source_spec(&args, properties, &mut config)?;
    let pipeline = Pipeline::new(config);
    if let Some(addr) = args.metrics_addr {
        serve_metrics(addr, pipeline.metrics()).await?;
    }
    let metrics = pipeline.metrics();
    let progress = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        tick.tick().await;
        loop {
            tick.tick().await;
            info!("{}", metrics.snapshot().progress_line());
        }
    });
    let report = run_pipeline(pipeline, source).await;
    progress.abort();
    print_report(&report?);
    Ok(())
}

async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let lake = args.store.open(&args.lake)?;
    let mut config = pipeline_config(lake, &args.window)?;
    config.finalize_at_end = true;
    let source = SourceSpec::File {
        path: args.input,
        rate: args.rate,
    };
    let report = run_pipeline(Pipeline::new(config), source).await?;
    print_report(&report);
    Ok(())
}

/// `GET /metrics` on `addr`: the pipeline's counters as Prometheus text.
async fn serve_metrics(addr: SocketAddr, metrics: std::sync::Arc<naap_pipeline::Metrics>) -> anyhow::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = std::sync::Arc::clone(&metrics);
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    metrics.snapshot().prometheus(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("--metrics-addr {addr}: cannot listen"))?;
    info!(%addr, "pipeline metrics at http://{addr}/metrics");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "metrics endpoint stopped");
        }
    });
    Ok(())
}

async fn compact(args: CompactArgs) -> anyhow::Result<()> {
    let lake = args.store.open(&args.lake)?;
    let config = pipeline_config(lake, &args.window)?;
    let done = Pipeline::new(config).compact().await?;
    println!(
        "compaction: {} files written in place of {}; vacuum deleted {} files",
        done.written, done.replaced, done.deleted
    );
    Ok(())
}

async fn reseal(args: ResealArgs) -> anyhow::Result<()> {
    let lake = args.store.open(&args.lake)?;
    let config = pipeline_config(lake, &args.window)?;
    let spec = naap_pipeline::ResealSpec {
        tables: args.tables,
        since_ms: args.since,
        until_ms: args.until,
    };
    let done = Pipeline::new(config).reseal(&spec).await?;
    println!(
        "reseal: {} hours rebuilt; {} files written in place of {}",
        done.hours, done.written, done.replaced
    );
    Ok(())
}
