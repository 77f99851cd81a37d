//! `naap backtest`: scores every hour of a lake with rule versions and
//! compares the scores with what happened next.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use naap_backtest::{Candidate, Config, Progress};

use crate::cli::{RuleFiles, StoreArgs};

#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// Lake location: a directory or s3://bucket/prefix (its `lake/` folder
    /// is accepted too).
    #[arg(long, default_value = "./naap-data")]
    pub lake: String,
    /// A built-in rule version to test, RULE=VERSION, e.g. sla=1 (repeatable).
    /// Without --rule or --rule-file: every built-in version over
    /// sla_inputs_hourly.
    #[arg(long = "rule", value_name = "RULE=VERSION")]
    pub rules: Vec<String>,
    #[command(flatten)]
    pub files: RuleFiles,
    /// First hour to score (RFC 3339 or epoch ms); default: the lake's first.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the hours to score (exclusive); default: the last hour whose
    /// outcome hour the lake holds.
    #[arg(long)]
    pub to: Option<String>,
    /// Compare the score at hour h with the outcomes of hour h + this.
    #[arg(long, default_value = "1h", value_parser = hours)]
    pub horizon: u32,
    /// How many orchestrators the top-k policy sends sessions to.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub top_k: u16,
    /// Bootstrap resamples for the confidence intervals.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(10..=100_000))]
    pub bootstrap: u32,
    /// Evaluate a weight choice as a selection policy: the reference
    /// router's weights, e.g. score=0.6,price=0.2,latency=0.2 (those not
    /// named are 0; normalised). Its top k, seeing each orchestrator's price
    /// and discovery latency of hour h, against random at h + horizon.
    #[arg(long, value_name = "score=W,price=W,latency=W", value_parser = weights)]
    pub weights: Option<naap_flight_server::router::Weights>,
    /// Seed of the bootstrap and of the router's exploration draws.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Do not append the report to the lake's `backtests` table.
    #[arg(long)]
    pub no_write: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

fn hours(text: &str) -> Result<u32, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))?;
    let secs = d.as_secs();
    if secs == 0 || secs % 3600 != 0 || secs / 3600 > 24 * 30 {
        return Err(format!("{text:?}: a whole number of hours, 1h to 720h"));
    }
    Ok((secs / 3600) as u32)
}

/// The largest weight `--weights` takes (weights are relative; a bound
/// keeps their sum finite).
const MAX_WEIGHT: f64 = 1000.0;

/// `score=0.6,price=0.2,latency=0.2`: the router's weights, those not
/// named 0, normalised to sum 1.
fn weights(text: &str) -> Result<naap_flight_server::router::Weights, String> {
    let mut w = naap_flight_server::router::Weights {
        score: 0.0,
        price: 0.0,
        latency: 0.0,
    };
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?}: expected NAME=WEIGHT, e.g. price=0.2"))?;
        let value: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| (0.0..=MAX_WEIGHT).contains(v))
            .ok_or_else(|| format!("{part:?}: a weight is a number from 0 to {MAX_WEIGHT}"))?;
        match name.trim() {
            "score" => w.score = value,
            "price" => w.price = value,
            "latency" => w.latency = value,
            other => return Err(format!("{other:?} is not a weight: score, price or latency")),
        }
    }
    let sum = w.score + w.price + w.latency;
    if sum <= 0.0 {
        return Err("the weights sum to 0: give at least one above 0".into());
    }
    Ok(naap_flight_server::router::Weights {
        score: w.score / sum,
        price: w.price / sum,
        latency: w.latency / sum,
    })
}

fn instant(flag: &str, text: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let t = chrono::DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("--{flag} {text:?} is neither epoch ms nor RFC 3339"))?;
    Ok(t.timestamp_millis())
}

/// The rule versions asked for.
fn candidates(args: &BacktestArgs) -> anyhow::Result<Vec<Candidate>> {
    let mut set = naap_sql::RuleSet::embedded();
    let mut out = Vec::new();
    for spec in &args.rules {
        let (name, version) = spec
            .split_once('=')
            .with_context(|| format!("--rule {spec:?}: expected <rule>=<version>, e.g. sla=1"))?;
        let version: u32 = version
            .trim()
            .parse()
            .with_context(|| format!("--rule {spec:?}: the version is not a number"))?;
        let rule = set.find(name.trim(), version).with_context(|| {
            format!("--rule {spec:?}: no such built-in rule version (a candidate file goes in --rule-file)")
        })?;
        out.push(Candidate::new(rule.clone())?);
    }
    for file in &args.files.files {
        let rule = set.load(file)?.clone();
        out.push(Candidate::new(rule)?);
    }
    if out.is_empty() {
        for rule in set.over(naap_sql::hourly::SLA_INPUTS) {
            out.push(Candidate::new(rule)?);
        }
    }
    Ok(out)
}

/// The lake at `location`, or at its parent when `location` is the lake's
/// `lake/` folder of tables.
async fn open_lake(store: &StoreArgs, location: &str) -> anyhow::Result<naap_sql::Lake> {
    let lake = store.open(location)?;
    if !naap_sql::delta::table_names(&lake).await?.is_empty() {
        return Ok(lake);
    }
    let trimmed = location.trim_end_matches('/');
    if let Some(parent) = trimmed.strip_suffix("/lake").or((trimmed == "lake").then_some(".")) {
        let above = store.open(parent)?;
        if !naap_sql::delta::table_names(&above).await?.is_empty() {
            return Ok(above);
        }
    }
    bail!("{location} holds no lake tables: give the directory (or s3:// prefix) the pipeline writes to")
}

pub async fn run(args: BacktestArgs) -> anyhow::Result<()> {
    let candidates = candidates(&args)?;
    let lake = open_lake(&args.store, &args.lake).await?;
    let served = naap_sql::RuleSet::embedded();
    let sla = naap_sql::Served::default().version("sla").unwrap_or(1);
    let router_rule = served.find("sla", sla).context("the built-in SLA rule")?.clone();
    let config = Config {
        lake: lake.clone(),
        from_ms: args.from.as_deref().map(|t| instant("from", t)).transpose()?,
        to_ms: args.to.as_deref().map(|t| instant("to", t)).transpose()?,
        horizon_hours: args.horizon,
        top_k: usize::from(args.top_k),
        resamples: args.bootstrap as usize,
        seed: args.seed,
        router_rule,
        policy: args.weights,
    };
    let names: Vec<String> = candidates.iter().map(|c| c.source.clone()).collect();
    eprintln!("[naap backtest] scoring every hour over {lake}: {}", names.join(", "));
    let tty = std::io::stderr().is_terminal();
    let mut last = Instant::now();
    let mut progress = |p: Progress| {
        let finished = p.done == p.total;
        if !(finished || last.elapsed() >= Duration::from_secs(if tty { 0 } else { 5 })) {
            return;
        }
        last = Instant::now();
        let per_hour = p.started.elapsed().as_secs_f64() / p.done as f64;
        let left = per_hour * (p.total - p.done) as f64;
        let line = format!(
            "[naap backtest] scored {}/{} hours (up to {}), {:.0} ms per hour, about {:.0} s left",
            p.done,
            p.total,
            naap_sql::lake::hour_partition(p.hour_ms),
            per_hour * 1000.0,
            left
        );
        if tty {
            eprint!("\r{line}   ");
            if finished {
                eprintln!();
            }
        } else {
            eprintln!("{line}");
        }
        let _ = std::io::stderr().flush();
    };
    let report = naap_backtest::run(&config, &candidates, &mut progress).await?;
    for warning in report.warnings() {
        eprintln!("[naap backtest] warning: {warning}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    if args.no_write {
        eprintln!(
            "[naap backtest] {} hours in {:.1} s; not written (--no-write)",
            report.hours_scored, report.elapsed_s
        );
    } else {
        let rows = naap_backtest::write(&lake, &report).await?;
        eprintln!(
            "[naap backtest] {} hours in {:.1} s; run {} appended to the backtests table ({rows} rows)",
            report.hours_scored, report.elapsed_s, report.run_id
        );
    }
    Ok(())
}
