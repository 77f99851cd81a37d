//! Flags of every subcommand.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use naap_emitter::Sink;
use naap_emitter::heartbeat::{self, EmitStats};
use naap_emitter::simulate::{Simulation, SimulationConfig};
use naap_pipeline::{KafkaOptions, Pipeline, PipelineConfig, SourceSpec};
use naap_sql::{Lake, StoreOptions};
use tracing::info;

/// Default topic of node telemetry.
pub const DEFAULT_TOPIC: &str = "naap.telemetry.v1";

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
    Serve(ServeArgs),
    /// Run the pipeline over a message file to completion, closing every window.
    Replay(ReplayArgs),
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
    fn open(&self, location: &str) -> anyhow::Result<Lake> {
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
    /// Longest time between two commits.
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
}

#[derive(Debug, Args)]
pub struct EmitArgs {
    /// Read flags from a TOML file whose keys are these flags' names
    /// (`data/emitter.toml` is a sample); flags given here win.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Kafka bootstrap servers (not needed with --output).
    #[arg(long, env = "NAAP_BROKERS")]
    pub brokers: Option<String>,
    #[arg(long, default_value = DEFAULT_TOPIC)]
    pub topic: String,
    /// Partitions to create the topic with when it does not exist.
    #[arg(long, default_value_t = 8)]
    pub partitions: i32,
    /// Write messages to this file instead of Kafka (input for `naap replay`).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Play N simulated orchestrators across regions, with outages.
    #[arg(long, value_name = "N")]
    pub simulate: Option<usize>,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Print the simulated network (addresses, regions, outage profiles) as JSON and exit.
    #[arg(long, requires = "simulate")]
    pub describe: bool,
    /// Simulated history to publish first, as fast as possible.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub backfill: Duration,
    /// Stop after this much wall time (after the backfill). Runs until Ctrl-C when absent
    /// (simulation without --from).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Simulate a fixed span starting here (RFC 3339 or epoch ms) as fast as possible, then exit.
    #[arg(long)]
    pub from: Option<String>,
    /// Length of the fixed span started by --from.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub span: Duration,
    /// Event-time length of one message per orchestrator.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub batch_span: Duration,
    /// This node's orchestrator address (heartbeat mode).
    #[arg(long)]
    pub orchestrator: Option<String>,
    /// This node's id (heartbeat mode).
    #[arg(long, default_value = "node-1")]
    pub node_id: String,
    /// Declared region, a coarse code such as eu-west (never coordinates).
    #[arg(long, default_value = "unknown")]
    pub region: String,
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub heartbeat_interval: Duration,
    /// Do not read GPUs (NVML); heartbeats then say gpu_available=false.
    #[arg(long)]
    pub no_gpu: bool,
    /// Report N fake GPUs instead of NVML's (tests and footprint benchmarks).
    #[arg(long, value_name = "N", conflicts_with = "no_gpu")]
    pub fake_gpus: Option<u32>,
    /// Do not read the host's CPU, memory, load and network (/proc).
    #[arg(long)]
    pub no_host: bool,
    /// Probe this target: tcp://HOST:PORT (connect time), http(s)://… (connect,
    /// TLS handshake, status, time to first byte). Repeatable.
    #[arg(long = "probe", value_name = "URL")]
    pub probes: Vec<String>,
    /// Download this URL at every probe round and report the throughput.
    #[arg(long, value_name = "URL")]
    pub bandwidth_url: Option<String>,
    /// Time between probe rounds.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub probe_interval: Duration,
    /// Limit of one probe (and of one scrape).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub probe_timeout: Duration,
    /// Extra CA certificates (PEM) trusted by probes and scrapes, beside the webpki roots.
    #[arg(long, value_name = "FILE")]
    pub probe_ca_file: Option<PathBuf>,
    /// The go-livepeer node's Prometheus page (e.g. http://127.0.0.1:7935/metrics):
    /// current/max sessions become the heartbeat's capacity.
    #[arg(long, value_name = "URL")]
    pub scrape_url: Option<String>,
    /// Time between scrapes.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub scrape_interval: Duration,
    /// Forward this series of the scraped page as metric_sample rows (name,
    /// matched with or without the exporter's prefix). Repeatable.
    #[arg(long = "scrape-allow", value_name = "METRIC")]
    pub scrape_allow: Vec<String>,
    /// Heartbeat mode: bootstrap servers of the backup cluster, used while
    /// the primary does not acknowledge.
    #[arg(long, env = "NAAP_BACKUP_BROKERS")]
    pub backup_brokers: Option<String>,
    /// Heartbeat mode: directory of the durable spool every message passes
    /// through before Kafka (kept across restarts).
    #[arg(long, default_value = "naap-spool")]
    pub spool_dir: PathBuf,
    /// Bound of the spool; when full, the oldest messages are dropped and counted.
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    pub spool_max_bytes: u64,
    /// A message not acknowledged within this is retried later (it stays spooled).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub delivery_timeout: Duration,
    /// On exit, keep delivering the spool for at most this long.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub flush_timeout: Duration,
    /// Sign every message with the Ethereum private key (hex) in this
    /// environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "keystore")]
    pub signing_key_env: Option<String>,
    /// Sign every message with the key in this Ethereum keystore (JSON,
    /// scrypt or pbkdf2), unlocked with the password in --keystore-password-env.
    #[arg(long, value_name = "FILE", requires = "keystore_password_env")]
    pub keystore: Option<PathBuf>,
    /// Environment variable holding the keystore's password.
    #[arg(long, value_name = "VAR")]
    pub keystore_password_env: Option<String>,
    /// Heartbeat mode: accept BYOC custom events from containers on this
    /// host at `http://ADDR/v1/events/<name>` (loopback only; off by default).
    #[arg(long, value_name = "ADDR", requires = "byoc_schemas")]
    pub byoc_listen: Option<SocketAddr>,
    /// The event names the BYOC endpoint accepts and their fields (TOML;
    /// `data/byoc-events.toml` is a sample).
    #[arg(long, value_name = "FILE")]
    pub byoc_schemas: Option<PathBuf>,
    /// BYOC events are published at most this long after they were posted…
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub byoc_batch_window: Duration,
    /// …or as soon as this many are waiting (also the most one request may carry).
    #[arg(long, default_value_t = 1000)]
    pub byoc_max_batch: usize,
}

/// Where `naap pipeline` reads (files go through `naap replay`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Source {
    Kafka,
}

#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// The message source.
    #[arg(long, value_enum, default_value = "kafka")]
    pub source: Source,
    #[arg(long, env = "NAAP_BROKERS")]
    pub brokers: String,
    /// Topics to consume (comma-separated or repeated), e.g. every topic
    /// go-livepeer gateways publish to.
    #[arg(long = "topic", visible_alias = "topics", default_value = DEFAULT_TOPIC, value_delimiter = ',')]
    pub topics: Vec<String>,
    /// Lake location: a directory or s3://bucket/prefix.
    #[arg(long, default_value = "./naap-data")]
    pub lake: String,
    /// Consumer group (lag monitoring only; offsets of record are in the lake's manifest).
    #[arg(long, default_value = "naap-pipeline")]
    pub group_id: String,
    /// Extra librdkafka consumer property, KEY=VALUE (repeatable).
    #[arg(long = "kafka-property", value_name = "KEY=VALUE")]
    pub kafka_properties: Vec<String>,
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
pub struct ServeArgs {
    /// Lake location: a directory or s3://bucket/prefix.
    #[arg(long, default_value = "./naap-data")]
    pub lake: String,
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub flight_addr: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Perf-score feed: the region label of a gateway's sessions,
    /// GATEWAY=REGION (repeatable; the gateway id as in its events).
    #[arg(long = "region-map", value_name = "GATEWAY=REGION")]
    pub region_map: Vec<String>,
    /// Perf-score feed: the label of unmapped gateways and of network-wide scores.
    #[arg(long, default_value = "GLOBAL")]
    pub default_region: String,
    #[command(flatten)]
    pub store: StoreArgs,
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
        Command::Emit(args) => emit(*args).await,
        Command::Pipeline(args) => pipeline(args).await,
        Command::Serve(args) => serve(args).await,
        Command::Replay(args) => replay(args).await,
    }
}

fn parse_time(s: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let t =
        humantime::parse_rfc3339_weak(s).with_context(|| format!("--from {s:?} is neither epoch ms nor RFC 3339"))?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64)
}

fn describe(sim: &Simulation) -> serde_json::Value {
    let orchestrators: Vec<_> = sim
        .orchestrators()
        .iter()
        .map(|o| {
            serde_json::json!({
                "address": o.address.as_str(),
                "region": o.region,
                "nodes": o.nodes,
                "outage_secs_per_minute": o.outage_secs_per_minute,
                "outage_offset_secs": o.outage_offset_secs,
                "latency_median_ms": o.latency_median_ms,
            })
        })
        .collect();
    serde_json::json!({ "seed": sim.config().seed, "orchestrators": orchestrators })
}

/// Binds the BYOC endpoint when configured and serves it in the background.
async fn byoc_inbox(args: &EmitArgs) -> anyhow::Result<Option<naap_emitter::byoc::Inbox>> {
    let (Some(addr), Some(schemas)) = (args.byoc_listen, &args.byoc_schemas) else {
        return Ok(None);
    };
    let registry = naap_emitter::byoc::Registry::load(schemas)?;
    let (endpoint, inbox) =
        naap_emitter::byoc::Endpoint::bind(addr, registry, args.byoc_batch_window, args.byoc_max_batch).await?;
    let bound = endpoint.local_addr()?;
    info!(%bound, "BYOC endpoint: POST http://{bound}/v1/events/<name>");
    tokio::spawn(async move {
        if let Err(e) = endpoint.serve().await {
            tracing::error!(error = %e, "the BYOC endpoint stopped");
        }
    });
    Ok(Some(inbox))
}

async fn collectors(args: &EmitArgs) -> anyhow::Result<heartbeat::Collectors> {
    let prober = || naap_emitter::probe::Prober::new(args.probe_ca_file.as_deref(), args.probe_timeout);
    let probes = if args.probes.is_empty() && args.bandwidth_url.is_none() {
        None
    } else {
        Some(heartbeat::Probes {
            prober: prober()?,
            targets: args.probes.clone(),
            bandwidth_url: args.bandwidth_url.clone(),
            schedule: heartbeat::Every::new(args.probe_interval),
        })
    };
    let scrape = match &args.scrape_url {
        Some(url) => Some(heartbeat::Scrape {
            prober: prober()?,
            url: url.clone(),
            allow: args.scrape_allow.clone(),
            schedule: heartbeat::Every::new(args.scrape_interval),
        }),
        None => None,
    };
    let host: Option<Box<dyn naap_emitter::host::HostSource>> = if args.no_host {
        None
    } else {
        Some(Box::new(naap_emitter::host::ProcHost::default()))
    };
    let gpus: Option<Box<dyn naap_emitter::gpu::GpuSource>> = match args.fake_gpus {
        Some(n) => Some(Box::new(naap_emitter::gpu::FakeGpus {
            devices: (0..n).map(naap_emitter::gpu::GpuReading::fake).collect(),
        })),
        None => open_gpus(args.no_gpu),
    };
    Ok(heartbeat::Collectors {
        gpus,
        host,
        probes,
        scrape,
        byoc: byoc_inbox(args).await?,
    })
}

fn open_gpus(no_gpu: bool) -> Option<Box<dyn naap_emitter::gpu::GpuSource>> {
    if no_gpu {
        return None;
    }
    match naap_emitter::gpu::open() {
        Ok(g) => Some(g),
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
    }
}

fn node(args: &EmitArgs) -> anyhow::Result<heartbeat::Node> {
    let Some(orchestrator) = &args.orchestrator else {
        bail!("give --simulate N, or --orchestrator 0x… for this node's heartbeat");
    };
    Ok(heartbeat::Node {
        orchestrator: orchestrator.parse().context("--orchestrator")?,
        node_id: args.node_id.clone(),
        region: args.region.clone(),
    })
}

/// A node's own heartbeat (and GPUs), through the durable spool to Kafka.
pub(crate) async fn emit_node(
    args: &EmitArgs,
    brokers: &str,
    signer: Option<naap_events::signing::Signer>,
) -> anyhow::Result<()> {
    let node = node(args)?;
    let spool = naap_emitter::spool::Spool::open(&args.spool_dir, args.spool_max_bytes)
        .with_context(|| format!("opening the spool in {}", args.spool_dir.display()))?;
    if !spool.is_empty() {
        info!(
            pending = spool.len(),
            bytes = spool.bytes(),
            "spool holds messages of an earlier run; delivering them first"
        );
    }
    let spool = std::sync::Arc::new(std::sync::Mutex::new(spool));
    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    let delivery = naap_emitter::publish::Delivery::new(
        brokers,
        args.backup_brokers.as_deref(),
        &args.topic,
        args.delivery_timeout,
        Some(args.partitions),
    )?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let drain = tokio::spawn(naap_emitter::publish::drain(
        std::sync::Arc::clone(&spool),
        std::sync::Arc::clone(&wake),
        delivery,
        stop_rx,
        args.flush_timeout,
    ));
    let mut sink = Sink::spooled(spool, wake);
    if let Some(signer) = signer {
        sink = sink.signed_by(signer);
    }
    let until = args.duration.map(|d| heartbeat::now_ms() + d.as_millis() as i64);
    let collectors = collectors(args).await?;
    let mut stats = EmitStats::default();
    let result = tokio::select! {
        r = heartbeat::run_heartbeat(&mut sink, &node, args.heartbeat_interval, until, collectors, &mut stats) => r,
        _ = tokio::signal::ctrl_c() => { info!("interrupted"); Ok(()) }
    };
    let _ = stop_tx.send(true);
    let spooled = drain.await.context("delivery task")??;
    result?;
    println!(
        "emitted {} messages, {} events; spool: spooled {}, delivered {}, dropped {}, corrupt {}",
        stats.messages, stats.events, spooled.spooled, spooled.sent, spooled.dropped, spooled.corrupt
    );
    Ok(())
}

/// The operator's key, from a hex variable or an Ethereum keystore.
fn signer(args: &EmitArgs) -> anyhow::Result<Option<naap_events::signing::Signer>> {
    use naap_events::signing::Signer;
    let signer = match (&args.signing_key_env, &args.keystore) {
        (Some(var), _) => {
            let hex =
                std::env::var(var).with_context(|| format!("--signing-key-env {var}: the variable is not set"))?;
            Signer::from_hex(&hex).with_context(|| format!("the key in {var}"))?
        }
        (None, Some(path)) => {
            let var = args
                .keystore_password_env
                .as_deref()
                .context("--keystore needs --keystore-password-env")?;
            let password = std::env::var(var)
                .with_context(|| format!("--keystore-password-env {var}: the variable is not set"))?;
            naap_emitter::keystore::open(path, &password).context("unlocking the keystore")?
        }
        (None, None) => return Ok(None),
    };
    info!(signer = signer.address(), "signing every message");
    Ok(Some(signer))
}

async fn emit(args: EmitArgs) -> anyhow::Result<()> {
    if let (true, Some(n)) = (args.describe, args.simulate) {
        let sim = Simulation::new(SimulationConfig {
            orchestrators: n,
            seed: args.seed,
            ..Default::default()
        });
        println!("{}", serde_json::to_string_pretty(&describe(&sim))?);
        return Ok(());
    }
    let signer = signer(&args)?;
    if args.simulate.is_none() && args.output.is_none() {
        let Some(brokers) = &args.brokers else {
            bail!("give --brokers (or NAAP_BROKERS) to publish to Kafka, or --output FILE");
        };
        return emit_node(&args, brokers, signer).await;
    }
    let mut sink = match (&args.output, &args.brokers) {
        (Some(path), _) => Sink::file(path)?,
        (None, Some(brokers)) => Sink::kafka(brokers, &args.topic, Some(args.partitions)).await?,
        (None, None) => bail!("give --brokers (or NAAP_BROKERS) to publish to Kafka, or --output FILE"),
    };
    if let Some(signer) = signer.clone() {
        sink = sink.signed_by(signer);
    }
    let mut stats = EmitStats::default();
    let span_ms = args.batch_span.as_millis().max(1) as i64;
    if let Some(n) = args.simulate {
        let sim = Simulation::new(SimulationConfig {
            orchestrators: n,
            seed: args.seed,
            ..Default::default()
        });
        if let Some(from) = &args.from {
            let from = parse_time(from)?;
            let to = from + args.span.as_millis() as i64;
            info!(orchestrators = n, from, to, "emitting a fixed simulated span");
            heartbeat::run_simulation(&sim, &mut sink, from, to, span_ms, false, &mut stats).await?;
        } else {
            let now = heartbeat::now_ms().div_euclid(span_ms) * span_ms;
            let from = now - args.backfill.as_millis() as i64;
            heartbeat::run_simulation(&sim, &mut sink, from, now, span_ms, false, &mut stats).await?;
            info!(messages = stats.messages, events = stats.events, "backfill published");
            let until = args.duration.map_or(i64::MAX, |d| now + d.as_millis() as i64);
            tokio::select! {
                r = heartbeat::run_simulation(&sim, &mut sink, now, until, span_ms, true, &mut stats) => r?,
                _ = tokio::signal::ctrl_c() => info!("interrupted"),
            }
        }
    } else {
        let node = node(&args)?;
        let until = args.duration.map(|d| heartbeat::now_ms() + d.as_millis() as i64);
        let collectors = collectors(&args).await?;
        tokio::select! {
            r = heartbeat::run_heartbeat(&mut sink, &node, args.heartbeat_interval, until, collectors, &mut stats) => r?,
            _ = tokio::signal::ctrl_c() => info!("interrupted"),
        }
    }
    sink.flush()?;
    println!("emitted {} messages, {} events", stats.messages, stats.events);
    Ok(())
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
    config.commit_interval = window.commit_interval;
    config.format = window.format.into();
    config.session_settle = window.session_settle;
    config.session_lookback = window.session_lookback;
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
    let mut properties = std::collections::BTreeMap::new();
    for kv in &args.kafka_properties {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--kafka-property {kv:?} is not KEY=VALUE"))?;
        properties.insert(k.to_owned(), v.to_owned());
    }
    let Source::Kafka = args.source;
    let source = SourceSpec::Kafka {
        brokers: args.brokers,
        topics: args.topics,
        options: KafkaOptions {
            group_id: args.group_id,
            properties,
        },
    };
    let pipeline = Pipeline::new(config);
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

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let lake = args.store.open(&args.lake)?;
    let mut regions = naap_flight_server::Regions {
        default_region: args.default_region,
        ..Default::default()
    };
    for kv in &args.region_map {
        let (gateway, region) = kv
            .split_once('=')
            .with_context(|| format!("--region-map {kv:?} is not GATEWAY=REGION"))?;
        regions.by_gateway.insert(gateway.to_owned(), region.to_owned());
    }
    let server = naap_flight_server::Server::bind(naap_flight_server::ServerConfig {
        lake,
        flight_addr: args.flight_addr,
        http_addr: args.http_addr,
        regions,
    })
    .await?;
    println!(
        "flight grpc://{} http http://{}",
        server.flight_addr(),
        server.http_addr()
    );
    server
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
