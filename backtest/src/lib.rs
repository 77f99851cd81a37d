//! Backtests of scoring rules: does a score at hour h predict what a
//! gateway gets at hour h + 1?
//!
//! For each rule version asked for (built in, or a candidate file), every
//! hour of a range is scored from the lake's `sla_inputs_hourly` exactly as
//! the pipeline's seal scores it (the same harness, the same input: the
//! hour and its 7-day benchmark history), and compared, per pipeline and
//! model, with what each orchestrator delivered `horizon` hours later (see
//! [`evaluate`] for the figures). The report prints as a table, serialises
//! as JSON and is appended to the lake's `backtests` table.

pub mod evaluate;
mod evidence;
mod inputs;
pub mod report;
mod scoring;
pub mod stats;

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use naap_sql::Rule;
use naap_sql::hourly::{HOUR_MS, SLA_INPUTS};
use sha2::Digest;

pub use report::{GroupReport, MetricValue, Report, RuleReport};
pub use scoring::BENCHMARK_MIN_ROWS;

/// Why a backtest could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Table(Box<naap_sql::TableError>),
    #[error("SQL: {0}")]
    Sql(Box<datafusion::error::DataFusionError>),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("rule {file}: {detail}")]
    Rule { file: String, detail: String },
    #[error("{0}")]
    NoData(String),
}

impl From<naap_sql::TableError> for Error {
    fn from(e: naap_sql::TableError) -> Self {
        Self::Table(Box::new(e))
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Self::Sql(Box::new(e))
    }
}

/// One rule version to test, and where it came from.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub rule: Rule,
    /// `sql/rules/<rule>/v<N>.sql` or the file's path.
    pub source: String,
}

impl Candidate {
    /// Refuses a rule whose scores cannot be compared with live-video
    /// session outcomes.
    pub fn new(rule: Rule) -> Result<Self, Error> {
        let input = rule.header.inputs.split([',', ' ']).next().unwrap_or_default();
        if input != SLA_INPUTS {
            return Err(Error::Rule {
                file: rule.file.to_owned(),
                detail: format!(
                    "{} v{} reads {input}; backtests compare scores with live-video session outcomes, so they take rules over {SLA_INPUTS}",
                    rule.header.name, rule.header.version
                ),
            });
        }
        let source = if rule.file.starts_with("rules/") {
            format!("sql/{}", rule.file)
        } else {
            rule.file.to_owned()
        };
        Ok(Self { rule, source })
    }

    fn digest(&self) -> String {
        hex::encode(&sha2::Sha256::digest(self.rule.sql.as_bytes())[..8])
    }
}

/// What to backtest and how.
#[derive(Debug, Clone)]
pub struct Config {
    pub lake: naap_sql::Lake,
    /// Hours to score, [from, to) in ms, hour-aligned; `None`: every hour
    /// of the lake whose outcome hour is in it too.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub horizon_hours: u32,
    pub top_k: usize,
    pub resamples: usize,
    pub seed: u64,
    /// The rule version the router serves by default (its baseline).
    pub router_rule: Rule,
    /// A weight choice (the router's: score, price, latency) to evaluate
    /// as a selection policy; `None`: none.
    pub policy: Option<naap_flight_server::router::Weights>,
}

/// Where a run is.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub hour_ms: i64,
    pub done: usize,
    pub total: usize,
    pub started: Instant,
}

/// The UTC hours `sla_inputs_hourly` holds rows of (from its partitions).
async fn hours_present(lake: &naap_sql::Lake) -> Result<BTreeSet<i64>, Error> {
    let Some(t) = naap_sql::delta::open(lake, SLA_INPUTS).await? else {
        return Ok(BTreeSet::new());
    };
    let mut hours = BTreeSet::new();
    for file in naap_sql::delta::active_files(&t, SLA_INPUTS)? {
        let part = |k: &str| file.partition.get(k).cloned().flatten().unwrap_or_default();
        let text = format!("{}T{}:00:00Z", part("date"), part("hour"));
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&text) {
            hours.insert(t.timestamp_millis());
        }
    }
    Ok(hours)
}

/// Runs the backtest of `candidates`, calling `progress` after each hour.
pub async fn run(
    config: &Config,
    candidates: &[Candidate],
    progress: &mut dyn FnMut(Progress),
) -> Result<Report, Error> {
    let started = Instant::now();
    let run_at_ms = chrono::Utc::now().timestamp_millis();
    let horizon_ms = i64::from(config.horizon_hours.max(1)) * HOUR_MS;
    let present = hours_present(&config.lake).await?;
    let (Some(first), Some(last)) = (present.first().copied(), present.last().copied()) else {
        return Err(Error::NoData(format!(
            "the lake {} has no {SLA_INPUTS} rows: replay or run the pipeline over go-livepeer gateway events first",
            config.lake
        )));
    };
    let floor = |t: i64| t.div_euclid(HOUR_MS) * HOUR_MS;
    let from = config.from_ms.map_or(first, floor);
    let to = config.to_ms.map_or(last + HOUR_MS - horizon_ms, floor);
    // A range that starts at or after its end (`--from` past the data, or
    // past `--to`) scores nothing; BTreeSet::range would panic on it.
    let hours: Vec<i64> = if from < to {
        present.range(from..to).copied().collect()
    } else {
        Vec::new()
    };
    if hours.is_empty() {
        return Err(Error::NoData(format!(
            "no hour of {SLA_INPUTS} to score in the range asked (the lake holds {} to {}, and each scored hour needs its outcome {} h later)",
            naap_sql::lake::hour_partition(first),
            naap_sql::lake::hour_partition(last),
            config.horizon_hours
        )));
    }
    let inputs = inputs::Inputs::read(&config.lake, inputs::history_start(from), to + horizon_ms).await?;
    let ctx = naap_sql::session::context();
    let outcomes = inputs::outcomes(&ctx, &inputs).await?;
    let evidence = match config.policy {
        Some(_) => evidence::read(&config.lake, &ctx, from.min(hours[0]), to).await?,
        None => evidence::Evidence::new(),
    };
    let mut scores: Vec<evaluate::Scores> = vec![HashMap::new(); candidates.len()];
    // Per candidate: rows with a score, and of them those whose benchmark
    // was too thin to compare with.
    let mut benchmarked = vec![(0u64, 0u64); candidates.len()];
    let mut baseline = evaluate::Scores::new();
    for (done, &hour) in hours.iter().enumerate() {
        inputs.register_for(&ctx, hour)?;
        for ((c, into), counts) in candidates.iter().zip(scores.iter_mut()).zip(benchmarked.iter_mut()) {
            let rows = scoring::hour(&ctx, &c.rule, hour).await?;
            for r in rows.iter().filter(|r| r.score.is_some()) {
                counts.0 += 1;
                counts.1 += u64::from(r.thin_benchmark);
            }
            collect(rows, hour, into);
        }
        let same = candidates.iter().position(|c| c.rule.sql == config.router_rule.sql);
        match same {
            Some(i) => baseline.extend(
                scores[i]
                    .iter()
                    .filter(|(k, _)| k.0 == hour)
                    .map(|(k, v)| (k.clone(), v.clone())),
            ),
            None => collect(
                scoring::hour(&ctx, &config.router_rule, hour).await?,
                hour,
                &mut baseline,
            ),
        }
        progress(Progress {
            hour_ms: hour,
            done: done + 1,
            total: hours.len(),
            started,
        });
    }
    let settings = evaluate::Settings {
        horizon_ms,
        top_k: config.top_k.max(1),
        resamples: config.resamples,
        seed: config.seed,
        policy: config.policy,
    };
    let groups = evaluate::groups(&hours, &outcomes, horizon_ms);
    let rules = candidates
        .iter()
        .zip(&scores)
        .zip(&benchmarked)
        .map(|((c, s), &(scored_rows, thin_benchmark_rows))| RuleReport {
            rule: c.rule.header.name.clone(),
            version: c.rule.header.version,
            digest: c.digest(),
            source: c.source.clone(),
            scored_rows,
            thin_benchmark_rows,
            groups: groups
                .iter()
                .map(|(p, m)| evaluate::group((p, m), &hours, s, &baseline, (&outcomes, &evidence), settings))
                .collect(),
        })
        .collect();
    Ok(Report {
        run_id: format!("bt-{run_at_ms}-{:08x}", rand::random::<u32>()),
        run_at_ms,
        from_ms: hours[0],
        to_ms: hours[hours.len() - 1] + HOUR_MS,
        horizon_hours: config.horizon_hours.max(1),
        top_k: settings.top_k,
        resamples: config.resamples,
        seed: config.seed,
        hours_scored: hours.len(),
        policy: config.policy,
        elapsed_s: started.elapsed().as_secs_f64(),
        rules,
    })
}

fn collect(rows: Vec<scoring::Scored>, hour: i64, into: &mut evaluate::Scores) {
    for r in rows {
        into.entry((hour, r.pipeline, r.model))
            .or_default()
            .insert(r.orchestrator, r.score);
    }
}

/// Appends `report` to the lake's `backtests` table; returns the rows written.
pub async fn write(lake: &naap_sql::Lake, report: &Report) -> Result<usize, Error> {
    let batch = report.batch()?;
    naap_sql::append::append(
        lake,
        naap_sql::tables::BACKTESTS.name,
        report.run_at_ms,
        &report.run_id,
        &batch,
    )
    .await?;
    Ok(batch.num_rows())
}
