//! The node agent and the network simulator, behind both `naap emit` (the
//! all-in-one binary) and `naap-emit` (this crate's binary, which links
//! none of the pipeline's or the server's code: no DataFusion).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::Sink;
use crate::heartbeat::{self, EmitStats};
use crate::simulate::{Simulation, SimulationConfig};
use anyhow::{Context, bail};
use clap::Args;
use tracing::info;

/// Default topic of node telemetry.
pub const DEFAULT_TOPIC: &str = "naap.telemetry.v1";

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
    /// Never create the topic: it exists, or the broker's ACLs forbid
    /// creating it (what a secured broker's operator usually wants).
    #[arg(long)]
    pub no_create_topic: bool,
    /// Write messages to this file instead of Kafka (input for `naap replay`).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Play N simulated orchestrators across regions, with outages.
    #[arg(long, value_name = "N")]
    pub simulate: Option<usize>,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// With --simulate, --from and --output: write the go-livepeer gateway
    /// events of AI batch, LLM and BYOC work of the simulated orchestrators
    /// (NDJSON, for `naap replay --format livepeer-json`) instead of telemetry.
    #[arg(long, requires_all = ["simulate", "from", "output"])]
    pub gateway_jobs: bool,
    /// With --simulate, --from and --output: write the go-livepeer gateway
    /// events of live-video sessions (NDJSON) from orchestrators whose
    /// latent reliability and speed persist from hour to hour, drift and
    /// fail in outages: data with a known truth for `naap backtest`.
    #[arg(long, requires_all = ["simulate", "from", "output"], conflicts_with = "gateway_jobs")]
    pub gateway_live: bool,
    /// With --gateway-live: sessions per orchestrator and hour, on average.
    #[arg(long, default_value_t = 4.0, requires = "gateway_live")]
    pub sessions_per_hour: f64,
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
    /// Where messages go: kafka, streamr (a Streamr stream, through naap's
    /// Node sidecar in `streamr/`), or both (a message leaves the spool once
    /// each acknowledged it).
    #[arg(long, value_enum, default_value = "kafka", env = "NAAP_TRANSPORT")]
    pub transport: crate::streamr::Transport,
    #[command(flatten)]
    pub streamr: crate::streamr::StreamrArgs,
    /// Heartbeat mode: bootstrap servers of the backup cluster, used while
    /// the primary does not acknowledge.
    #[arg(long, env = "NAAP_BACKUP_BROKERS")]
    pub backup_brokers: Option<String>,
    /// A librdkafka property for the producers, KEY=VALUE (repeatable), e.g.
    /// security.protocol=SASL_SSL, sasl.mechanism=SCRAM-SHA-512,
    /// sasl.username=…, ssl.ca.location=/etc/naap-emit/ca.pem. Secrets come
    /// from NAAP_KAFKA_SASL_PASSWORD and NAAP_KAFKA_SSL_KEY_PASSWORD.
    #[arg(long = "kafka-property", value_name = "KEY=VALUE")]
    pub kafka_properties: Vec<String>,
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

pub(crate) fn parse_time(s: &str) -> anyhow::Result<i64> {
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
async fn byoc_inbox(args: &EmitArgs) -> anyhow::Result<Option<crate::byoc::Inbox>> {
    let (Some(addr), Some(schemas)) = (args.byoc_listen, &args.byoc_schemas) else {
        return Ok(None);
    };
    let registry = crate::byoc::Registry::load(schemas)?;
    let (endpoint, inbox) =
        crate::byoc::Endpoint::bind(addr, registry, args.byoc_batch_window, args.byoc_max_batch).await?;
    let bound = endpoint.local_addr()?;
    info!(%bound, "BYOC endpoint: POST http://{bound}/v1/events/<name>");
    tokio::spawn(async move {
        if let Err(e) = endpoint.serve().await {
            tracing::error!(error = %e, "the BYOC endpoint stopped");
        }
    });
    Ok(Some(inbox))
}

pub(crate) async fn collectors(args: &EmitArgs) -> anyhow::Result<heartbeat::Collectors> {
    let prober = || crate::probe::Prober::new(args.probe_ca_file.as_deref(), args.probe_timeout);
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
    let host: Option<Box<dyn crate::host::HostSource>> = if args.no_host {
        None
    } else {
        Some(Box::new(crate::host::ProcHost::default()))
    };
    let gpus: Option<Box<dyn crate::gpu::GpuSource>> = match args.fake_gpus {
        Some(n) => Some(Box::new(crate::gpu::FakeGpus {
            devices: (0..n).map(crate::gpu::GpuReading::fake).collect(),
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

fn open_gpus(no_gpu: bool) -> Option<Box<dyn crate::gpu::GpuSource>> {
    if no_gpu {
        return None;
    }
    match crate::gpu::open() {
        Ok(g) => Some(g),
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
    }
}

pub(crate) fn node(args: &EmitArgs) -> anyhow::Result<heartbeat::Node> {
    let Some(orchestrator) = &args.orchestrator else {
        bail!("give --simulate N, or --orchestrator 0x… for this node's heartbeat");
    };
    Ok(heartbeat::Node {
        orchestrator: orchestrator.parse().context("--orchestrator")?,
        node_id: args.node_id.clone(),
        region: args.region.clone(),
    })
}

/// A node's own heartbeat (and GPUs), through the durable spool to Kafka
/// (and Streamr, as `--transport` says).
pub async fn emit_node(
    args: &EmitArgs,
    brokers: &str,
    signer: Option<naap_events::signing::Signer>,
) -> anyhow::Result<()> {
    crate::spooled::run(
        args,
        Some(brokers),
        signer,
        crate::spooled::Work::Heartbeat(node(args)?),
    )
    .await
}

/// Resolves on SIGTERM (systemd's stop), never where there is none.
pub(crate) async fn terminated() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        term.recv().await;
        return;
    }
    std::future::pending::<()>().await
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
            crate::keystore::open(path, &password).context("unlocking the keystore")?
        }
        (None, None) => return Ok(None),
    };
    info!(signer = signer.address(), "signing every message");
    Ok(Some(signer))
}

/// `naap emit --simulate N --gateway-live`: live-video gateway events to a file.
fn write_live(orchestrators: usize, from_ms: i64, args: &EmitArgs, path: &std::path::Path) -> anyhow::Result<()> {
    if !(args.sessions_per_hour.is_finite() && args.sessions_per_hour > 0.0) {
        bail!("--sessions-per-hour must be a positive number");
    }
    let config = crate::simulate_live::LiveConfig {
        orchestrators,
        from_ms,
        span_ms: args.span.as_millis() as i64,
        sessions_per_hour: args.sessions_per_hour,
        seed: args.seed,
    };
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let lines = crate::simulate_live::write(&config, &mut out)
        .and_then(|n| std::io::Write::flush(&mut out).map(|()| n))
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "wrote {lines} go-livepeer live-video gateway events of {orchestrators} orchestrators to {}",
        path.display()
    );
    Ok(())
}

/// `naap emit` / `naap-emit`.
pub async fn run(args: EmitArgs) -> anyhow::Result<()> {
    if let (true, Some(n)) = (args.describe, args.simulate) {
        let sim = Simulation::new(SimulationConfig {
            orchestrators: n,
            seed: args.seed,
            ..Default::default()
        });
        println!("{}", serde_json::to_string_pretty(&describe(&sim))?);
        return Ok(());
    }
    if let (true, Some(n), Some(from), Some(path)) = (args.gateway_jobs, args.simulate, &args.from, &args.output) {
        let lines = crate::simulate_jobs::events(n, parse_time(from)?, args.span.as_millis() as i64, args.seed);
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {} go-livepeer gateway events to {}", lines.len(), path.display());
        return Ok(());
    }
    if let (true, Some(n), Some(from), Some(path)) = (args.gateway_live, args.simulate, &args.from, &args.output) {
        return write_live(n, parse_time(from)?, &args, path);
    }
    let signer = signer(&args)?;
    if args.output.is_none() && (args.simulate.is_none() || args.transport.streamr()) {
        // Through the spool: a node's agent, or a simulation sent to Streamr.
        let work = match args.simulate {
            Some(_) => crate::spooled::Work::Simulation,
            None => crate::spooled::Work::Heartbeat(node(&args)?),
        };
        return crate::spooled::run(&args, args.brokers.as_deref(), signer, work).await;
    }
    let mut sink = match (&args.output, &args.brokers) {
        (Some(path), _) => Sink::file(path)?,
        (None, Some(brokers)) => {
            let properties = crate::kafka::Properties::from_env(&args.kafka_properties)?;
            let create = (!args.no_create_topic).then_some(args.partitions);
            Sink::kafka(brokers, &properties, &args.topic, create).await?
        }
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
