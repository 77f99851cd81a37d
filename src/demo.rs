//! `naap demo`: the whole system in one process with embedded defaults.

use std::time::Duration;

use anyhow::{Context, bail};
use naap_emitter::Sink;
use naap_emitter::heartbeat::{self, EmitStats};
use naap_emitter::simulate::{Simulation, SimulationConfig};
use naap_pipeline::{KafkaOptions, Pipeline, PipelineConfig, SourceSpec};
use naap_sql::{Lake, StoreOptions};
use rdkafka::mocking::MockCluster;
use tracing::{info, warn};

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::Path;

use clap::Parser;

use crate::cli::{Cli, Command, DEFAULT_TOPIC, DemoArgs, EmitArgs};
use naap_sql::tables;

/// Marks a lake directory as the demo's, so a rerun may clear it.
const DEMO_MARKER: &str = "_naap/DEMO";

fn prepare_lake_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    let marker = dir.join(DEMO_MARKER);
    let non_empty = dir.read_dir().map(|mut d| d.next().is_some()).unwrap_or(false);
    if non_empty {
        if !marker.exists() {
            bail!(
                "{} holds files that an earlier demo did not write; pass --lake with an empty or new directory",
                dir.display()
            );
        }
        for sub in ["lake", "_naap", "agent"] {
            let path = dir.join(sub);
            if path.exists() {
                std::fs::remove_dir_all(&path).with_context(|| format!("clearing {}", path.display()))?;
            }
        }
        println!("cleared the lake of the previous demo run in {}", dir.display());
    }
    std::fs::create_dir_all(dir.join("_naap"))?;
    std::fs::write(
        &marker,
        "written by naap demo; the next demo run clears this directory\n",
    )?;
    Ok(())
}

/// 65 events a go-livepeer gateway published on 2026-01-08 (one live AI stream).
const RECORDED_GATEWAY_EVENTS: &str = include_str!("../data/livepeer/gateway-events-sample.ndjson");

/// Replays go-livepeer gateway events (NDJSON) into the lake, sealing
/// their hours, and says what it wrote.
async fn replay_gateway_events(lake: &Lake, what: &str, ndjson: &str, tables_shown: &[&str]) -> anyhow::Result<()> {
    // Each input its own file name: the lake's commit record tracks what
    // it read by source.
    let slug: String = what.split_whitespace().collect::<Vec<_>>().join("-");
    let path = std::env::temp_dir().join(format!("naap-demo-{slug}-{}.ndjson", std::process::id()));
    std::fs::write(&path, ndjson).with_context(|| format!("writing {}", path.display()))?;
    let mut config = PipelineConfig::new(lake.clone());
    config.format = naap_pipeline::InputFormat::LivepeerJson;
    config.finalize_at_end = true;
    let report = Pipeline::new(config)
        .run(SourceSpec::File {
            path: path.clone(),
            rate: None,
        })
        .await;
    let _ = std::fs::remove_file(&path);
    let report = report.with_context(|| format!("replaying the {what}"))?;
    let written: Vec<String> = tables_shown
        .iter()
        .map(|t| format!("{t} {}", report.rows_written.get(*t).copied().unwrap_or_default()))
        .collect();
    println!(
        "[naap demo] replayed {} {what}: {}",
        report.events_in,
        written.join(", ")
    );
    Ok(())
}

/// The recorded live session first, so that the SLA tables and the
/// perf-stats feed have a real session to show; then the simulated
/// network's history up to now: live video, AI batch, LLM and BYOC work of
/// the same orchestrators, whose persistent differences the leaderboards,
/// the SLA's quality half (it compares with the previous days) and the
/// backtest page can show. The two simulations are merged in time order
/// into one replay: a replay seals every hour it reads, so a second input's
/// events in those hours would be late.
async fn replay_gateway_history(lake: &Lake, orchestrators: usize) -> anyhow::Result<()> {
    replay_gateway_events(
        lake,
        "recorded go-livepeer gateway events",
        RECORDED_GATEWAY_EVENTS,
        &["sessions", tables::SLA_HOURLY.name],
    )
    .await?;
    let now = heartbeat::now_ms().div_euclid(60_000) * 60_000;
    let span = DEMO_HISTORY_HOURS * 3_600_000;
    let from = now - span;
    let mut lines = naap_emitter::simulate_live::events(&naap_emitter::simulate_live::LiveConfig {
        orchestrators,
        from_ms: from,
        // Sessions run on past the span: ending an hour early keeps their
        // events out of the future.
        span_ms: span - 3_600_000,
        sessions_per_hour: 4.0,
        seed: 42,
    });
    lines.extend(naap_emitter::simulate_jobs::events(orchestrators, from, span, 42));
    lines.sort_by_cached_key(|line| event_time(line));
    let ndjson: String = lines.iter().map(|l| format!("{l}\n")).collect();
    drop(lines);
    replay_gateway_events(
        lake,
        "simulated gateway events (live video, AI batch, LLM, BYOC)",
        &ndjson,
        &[
            "sessions",
            tables::SLA_HOURLY.name,
            tables::AI_REQUESTS.name,
            tables::BYOC_JOBS.name,
            tables::JOBS_HOURLY.name,
        ],
    )
    .await?;
    // The backtest page is a view of the demo, not the demo: say why it is
    // empty rather than stop everything else.
    if let Err(e) = backtest(lake).await {
        eprintln!("[naap demo] backtest skipped: {e:#}");
    }
    Ok(())
}

/// A go-livepeer event's `timestamp` (Unix ms, as text).
fn event_time(line: &str) -> i64 {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("timestamp")?.as_str()?.parse().ok())
        .unwrap_or(i64::MAX)
}

/// Hours of simulated gateway history the demo replays (and backtests):
/// three days, so that at least two full UTC days are scored against the
/// day before them (the SLA's quality half compares each hour with the
/// previous days of the same pipeline and model).
const DEMO_HISTORY_HOURS: i64 = 72;

/// Backtests the served SLA version over the simulated hours, so the
/// dashboard's backtest page has a run to show.
async fn backtest(lake: &Lake) -> anyhow::Result<()> {
    let rules = naap_sql::RuleSet::embedded();
    let version = naap_sql::Served::default().version("sla").unwrap_or(1);
    let sla = rules.find("sla", version).context("the built-in SLA rule")?.clone();
    let config = naap_backtest::Config {
        lake: lake.clone(),
        from_ms: None,
        to_ms: None,
        horizon_hours: 1,
        top_k: 3,
        resamples: 1000,
        seed: 42,
        router_rule: sla.clone(),
        policy: None,
    };
    let report = naap_backtest::run(&config, &[naap_backtest::Candidate::new(sla)?], &mut |_| {}).await?;
    naap_backtest::write(lake, &report).await?;
    for warning in report.warnings() {
        println!("[naap demo] backtest warning: {warning}");
    }
    let rho = report.rules[0]
        .groups
        .iter()
        .filter_map(|g| g.metric("spearman_startup_success").and_then(|m| m.value))
        .map(|v| format!("{v:+.2}"))
        .collect::<Vec<_>>();
    println!(
        "[naap demo] backtested sla v{version} over {} simulated hours (ρ with next-hour startup success per model: {}); see the dashboard's Backtests page",
        report.hours_scored,
        rho.join(", ")
    );
    Ok(())
}

/// The node agent's sample configuration, as an operator would start from.
const SAMPLE_EMITTER_CONFIG: &str = include_str!("../data/emitter.toml");
/// The sample BYOC event schemas.
const SAMPLE_BYOC_SCHEMAS: &str = include_str!("../data/byoc-events.toml");

/// `naap emit --config data/emitter.toml`, pointed at the demo's Kafka, with
/// its spool in the demo directory and the BYOC endpoint on.
fn node_agent_args(dir: &Path, brokers: &str, byoc: SocketAddr) -> anyhow::Result<EmitArgs> {
    let agent = dir.join("agent");
    std::fs::create_dir_all(&agent).with_context(|| format!("creating {}", agent.display()))?;
    let schemas = agent.join("byoc-events.toml");
    std::fs::write(&schemas, SAMPLE_BYOC_SCHEMAS).with_context(|| format!("writing {}", schemas.display()))?;
    let mut argv: Vec<OsString> = vec!["naap".into(), "emit".into()];
    argv.extend(naap_emitter::config_file::flags(
        SAMPLE_EMITTER_CONFIG,
        "data/emitter.toml",
    )?);
    argv.extend([
        "--brokers".into(),
        brokers.into(),
        "--spool-dir".into(),
        agent.join("spool").into_os_string(),
        "--byoc-listen".into(),
        byoc.to_string().into(),
        "--byoc-schemas".into(),
        schemas.into_os_string(),
        // The demo made the topic; its mock cluster never answers a second CreateTopics.
        "--no-create-topic".into(),
    ]);
    match Cli::try_parse_from(argv)?.command {
        Command::Emit(args) => Ok(*args),
        other => bail!("the sample configuration parsed as {other:?}"),
    }
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    prepare_lake_dir(&args.lake)?;
    let lake = Lake::open(&args.lake.to_string_lossy(), &StoreOptions::default())?;
    let cluster = MockCluster::new(1).context("starting the in-process Kafka (librdkafka mock cluster)")?;
    cluster
        .create_topic(DEFAULT_TOPIC, args.partitions, 1)
        .context("creating the demo topic")?;
    let brokers = cluster.bootstrap_servers();
    // Shared by every run of the pipeline and reported by the server.
    let metrics = std::sync::Arc::new(naap_pipeline::Metrics::default());

    let server = naap_flight_server::Server::bind(naap_flight_server::ServerConfig {
        lake: lake.clone(),
        flight_addr: args.flight_addr,
        http_addr: args.http_addr,
        regions: Default::default(),
        limits: args.limits.query_limits(),
        connections: args.limits.conn_limits(),
        auth: Default::default(),
        tls: None,
        rules: Default::default(),
        served: Default::default(),
        companion: Some(std::sync::Arc::new(crate::watch::PipelineView(std::sync::Arc::clone(
            &metrics,
        )))),
    })
    .await?;
    let (flight, http) = (server.flight_addr(), server.http_addr());
    let lake_dir = args.lake.display().to_string();
    println!(
        "naap demo: {n} simulated orchestrators -> in-process Kafka ({brokers}, topic {DEFAULT_TOPIC}, {p} partitions) -> pipeline -> lake {lake_dir}/lake -> Flight SQL grpc://{flight}, HTTP http://{http}",
        n = args.orchestrators,
        p = args.partitions,
    );
    println!("Try, while it runs:");
    println!(
        "  python3 -c \"import adbc_driver_flightsql.dbapi as f; c = f.connect('grpc://{flight}').cursor(); c.execute('SELECT orchestrator, score FROM scores ORDER BY score'); print(c.fetch_arrow_table())\""
    );
    println!(
        "  python3 -c \"import pyarrow.flight as fl; print(fl.connect('grpc://{flight}').do_get(fl.Ticket(b'scores')).read_all())\""
    );
    // A Delta reader, not a Parquet glob: the folder also holds files a
    // newer version replaced (until vacuum) and the log's checkpoints.
    println!(
        "  python3 -c \"import polars as pl; print(pl.scan_delta('{lake_dir}/lake/telemetry_1m').group_by('orchestrator').agg(pl.col('heartbeats').sum()).collect())\"   # any Delta reader: README, Query the lake"
    );
    println!("  open http://{http}/   # the dashboard (and http://{http}/#/backtests)");
    println!("  naap backtest --lake {lake_dir}/lake --rule sla=1   # does the score predict the next hour?");
    println!("  curl -s http://{http}/v1/scores");
    println!(
        "  curl -s 'http://{http}/v1/select?pipeline=live-video-to-video&model=streamdiffusion-sdxl-faceid'   # the reference router"
    );
    println!("  curl -s 'http://{http}/orch-perf-stats?rule=sla&version=1'   # go-livepeer's -orchPerfStatsUrl feed");
    println!(
        "  curl -s http://{http}/v1/requests/ai-batch/llm-summary   # AI batch, LLM and BYOC requests (NaaP's API)"
    );

    let (stop_server_tx, stop_server_rx) = tokio::sync::oneshot::channel::<()>();
    let server_task = tokio::spawn(server.run(async {
        let _ = stop_server_rx.await;
    }));

    replay_gateway_history(&lake, args.orchestrators).await?;

    let mut config = PipelineConfig::new(lake);
    config.commit_interval = Duration::from_secs(1);
    let (stop_pipeline, stop_rx) = tokio::sync::watch::channel(false);
    let pipeline_task = tokio::spawn(crate::watch::supervise(
        config,
        SourceSpec::Kafka {
            streamr: None,
            brokers: brokers.clone(),
            topics: vec![DEFAULT_TOPIC.to_owned()],
            options: KafkaOptions::default(),
        },
        std::sync::Arc::clone(&metrics),
        stop_rx,
    ));

    let sim = Simulation::new(SimulationConfig {
        orchestrators: args.orchestrators,
        ..Default::default()
    });
    // The mock cluster already holds the topic.
    let mut sink = Sink::kafka(&brokers, &Default::default(), DEFAULT_TOPIC, None).await?;
    // The node agent publishes in real time; started before the backfill is
    // in Kafka, it would move its partition's watermark past the backfill
    // and make the rest of that history late.
    let (backfilled_tx, backfilled_rx) = tokio::sync::oneshot::channel::<()>();
    let emitter = async move {
        let mut stats = EmitStats::default();
        let span = 5_000;
        let now = heartbeat::now_ms().div_euclid(span) * span;
        let from = now - args.backfill.as_millis() as i64;
        heartbeat::run_simulation(&sim, &mut sink, from, now, span, false, &mut stats).await?;
        info!(
            messages = stats.messages,
            events = stats.events,
            "simulated history published"
        );
        let _ = backfilled_tx.send(());
        heartbeat::run_simulation(&sim, &mut sink, now, i64::MAX, span, true, &mut stats).await?;
        Ok::<_, anyhow::Error>(stats)
    };

    let node_agent = async {
        if args.no_node_agent || backfilled_rx.await.is_err() {
            return std::future::pending().await;
        }
        let agent = node_agent_args(&args.lake, &brokers, args.byoc_addr)?;
        println!(
            "[naap demo] this machine's node agent (data/emitter.toml) reports as {}; BYOC events: curl -X POST http://{}/v1/events/inference_done -d '{{\"pipeline\":\"live-video-to-video\",\"model\":\"streamdiffusion\",\"latency_ms\":41.5}}'",
            agent.orchestrator.as_deref().unwrap_or("?"),
            args.byoc_addr,
        );
        naap_emitter::agent::emit_node(&agent, &brokers, None).await
    };

    let progress = async {
        let mut tick = tokio::time::interval(args.progress_every);
        tick.tick().await;
        loop {
            tick.tick().await;
            println!("[naap demo] {}", metrics.snapshot().progress_line());
        }
    };
    let until = async {
        match args.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };

    tokio::select! {
        r = emitter => { if let Err(e) = r { warn!(error = %e, "emitter stopped"); } }
        r = node_agent => { if let Err(e) = r { warn!(error = format!("{e:#}"), "the node agent stopped"); } }
        _ = progress => {}
        _ = until => println!("[naap demo] duration reached; stopping"),
        _ = tokio::signal::ctrl_c() => println!("[naap demo] interrupted; stopping"),
    }
    let _ = stop_pipeline.send(true);
    let report = pipeline_task.await.context("pipeline task")??;
    let _ = stop_server_tx.send(());
    server_task.await.context("server task")??;
    drop(cluster);
    let rows: u64 = report.rows_written.values().sum();
    println!(
        "[naap demo] final: {}",
        naap_pipeline::Snapshot {
            totals: report.clone(),
            ..Default::default()
        }
        .progress_line()
    );
    for (table, n) in &report.rows_written {
        println!("[naap demo] rows written to {table}: {n}");
    }
    println!("[naap demo] rows written in all: {rows}");
    Ok(())
}
