//! The agent's spooled run: whatever it collects (a node's heartbeat, or a
//! simulated network sent to Streamr) goes through the durable spool, from
//! which the chosen transports deliver it.

use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use tokio::sync::{Notify, watch};
use tracing::info;

use crate::Sink;
use crate::agent::EmitArgs;
use crate::heartbeat::{self, EmitStats};
use crate::simulate::{Simulation, SimulationConfig};
use crate::spool::Spool;
use crate::transports::Transports;

/// What the agent collects.
#[derive(Debug)]
pub enum Work {
    /// This node's heartbeat and its collectors.
    Heartbeat(heartbeat::Node),
    /// `--simulate N`: a fixed span (`--from`), or backfill then real time.
    Simulation,
}

/// Runs `work` until it ends (a fixed span, `--duration`) or the process is
/// asked to stop, then delivers what the spool holds for `--flush-timeout`.
pub async fn run(
    args: &EmitArgs,
    brokers: Option<&str>,
    signer: Option<naap_events::signing::Signer>,
    work: Work,
) -> anyhow::Result<()> {
    let spool = Spool::open(&args.spool_dir, args.spool_max_bytes)
        .with_context(|| format!("opening the spool in {}", args.spool_dir.display()))?;
    if !spool.is_empty() {
        info!(
            pending = spool.len(),
            bytes = spool.bytes(),
            "spool holds messages of an earlier run; delivering them first"
        );
    }
    let spool = Arc::new(Mutex::new(spool));
    let wake = Arc::new(Notify::new());
    let properties = crate::kafka::Properties::from_env(&args.kafka_properties)?;
    let kafka = match (args.transport.kafka(), brokers) {
        (false, _) => None,
        (true, Some(brokers)) => Some(crate::publish::Delivery::new(
            brokers,
            args.backup_brokers.as_deref(),
            &properties,
            &args.topic,
            args.delivery_timeout,
            (!args.no_create_topic).then_some(args.partitions),
        )?),
        (true, None) => bail!("give --brokers (or NAAP_BROKERS) to publish to Kafka, or --transport streamr"),
    };
    let streamr = if args.transport.streamr() {
        Some(crate::streamr::StreamrDelivery::new(&args.streamr, &args.spool_dir)?)
    } else {
        None
    };
    let transports = Transports::new(kafka, streamr, args.delivery_timeout);
    let (stop_tx, stop_rx) = watch::channel(false);
    let drain = tokio::spawn(crate::publish::drain(
        Arc::clone(&spool),
        Arc::clone(&wake),
        transports,
        stop_rx,
        args.flush_timeout,
    ));
    let (orchestrator, node_id, region) = match &work {
        Work::Heartbeat(node) => (
            node.orchestrator.to_string(),
            node.node_id.as_str(),
            node.region.as_str(),
        ),
        Work::Simulation => ("simulated".to_owned(), "simulated", "simulated"),
    };
    info!(
        orchestrator = %orchestrator,
        node = %node_id,
        region = %region,
        transport = ?args.transport,
        brokers = brokers.unwrap_or("none"),
        backup = args.backup_brokers.as_deref().unwrap_or("none"),
        topic = %args.topic,
        streamr = args.streamr.streamr_network.as_ref().map_or("none".into(), |p| p.display().to_string()),
        security = %properties.describe(),
        spool = %args.spool_dir.display(),
        signer = signer.as_ref().map_or("none (unsigned)", |s| s.address()),
        "node agent started"
    );
    let mut sink = Sink::spooled(spool, wake);
    if let Some(signer) = signer {
        sink = sink.signed_by(signer);
    }
    let mut stats = EmitStats::default();
    let result = tokio::select! {
        r = collect(args, work, &mut sink, &mut stats) => r,
        _ = tokio::signal::ctrl_c() => { info!("interrupted; flushing the spool"); Ok(()) }
        _ = crate::agent::terminated() => { info!("SIGTERM; flushing the spool"); Ok(()) }
    };
    let _ = stop_tx.send(true);
    let spooled = drain.await.context("delivery task")??;
    info!(
        delivered = spooled.sent,
        dropped = spooled.dropped,
        "stopped; what was not delivered stays in the spool for the next start"
    );
    result?;
    println!(
        "emitted {} messages, {} events; spool: spooled {}, delivered {}, dropped {}, corrupt {}",
        stats.messages, stats.events, spooled.spooled, spooled.sent, spooled.dropped, spooled.corrupt
    );
    Ok(())
}

async fn collect(args: &EmitArgs, work: Work, sink: &mut Sink, stats: &mut EmitStats) -> anyhow::Result<()> {
    match work {
        Work::Heartbeat(node) => {
            let until = args.duration.map(|d| heartbeat::now_ms() + d.as_millis() as i64);
            let collectors = crate::agent::collectors(args).await?;
            heartbeat::run_heartbeat(sink, &node, args.heartbeat_interval, until, collectors, stats).await?;
        }
        Work::Simulation => {
            let sim = Simulation::new(SimulationConfig {
                orchestrators: args.simulate.unwrap_or(1),
                seed: args.seed,
                ..Default::default()
            });
            let span_ms = args.batch_span.as_millis().max(1) as i64;
            let (from, to, realtime_until) = match &args.from {
                Some(from) => {
                    let from = crate::agent::parse_time(from)?;
                    (from, from + args.span.as_millis() as i64, None)
                }
                None => {
                    let now = heartbeat::now_ms().div_euclid(span_ms) * span_ms;
                    let until = args.duration.map_or(i64::MAX, |d| now + d.as_millis() as i64);
                    (now - args.backfill.as_millis() as i64, now, Some(until))
                }
            };
            heartbeat::run_simulation(&sim, sink, from, to, span_ms, false, stats).await?;
            info!(
                messages = stats.messages,
                events = stats.events,
                "simulated span spooled"
            );
            if let Some(until) = realtime_until {
                heartbeat::run_simulation(&sim, sink, to, until, span_ms, true, stats).await?;
            }
        }
    }
    Ok(())
}
