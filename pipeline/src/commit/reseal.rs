//! Rebuilding sealed hours in place from the raw tables the lake keeps
//! (`naap reseal`): after a release that changes what an hourly table
//! means, or to fill a column a previous release did not write.
//!
//! Every hourly table is recomputable from the gateway tables, which the
//! lake keeps. Hour by hour, oldest first, the hour is sealed again exactly
//! as the pipeline seals it (so each hour's rules see the 7 days before it
//! as already rebuilt), and one commit replaces the hour's files of each
//! chosen table: per table one Delta version removing the old files and
//! adding the new one, so a reader sees the old hour or the new one, never
//! a mix and never both. Like `naap compact`, it is for a lake no pipeline
//! is writing while it runs; `naap serve` may go on answering.

use std::collections::BTreeSet;
use std::time::Instant;

use naap_events::gateway_tables;
use naap_sql::hourly::HOURLY_AGGREGATES;
use tokio::sync::watch;
use tracing::info;

use super::files::{Rewrite, SEALED_GROUP, Staged};
use super::seal::{SealSpan, Sealer};
use super::{Run, rewrite};
use crate::manifest::{Manifest, RemovedFile};
use crate::metrics::Metrics;
use crate::{Error, PipelineConfig, Result};

/// Which hours and tables `naap reseal` rebuilds.
#[derive(Debug, Clone, Default)]
pub struct ResealSpec {
    /// Only these hourly tables (else every one).
    pub tables: Option<Vec<String>>,
    /// Hours from this time on (else from the oldest raw row).
    pub since_ms: Option<i64>,
    /// Hours before this time (else every sealed hour).
    pub until_ms: Option<i64>,
}

/// What one reseal did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Hours rebuilt (one commit each).
    pub hours: usize,
    /// Files written.
    pub written: usize,
    /// Files they replaced.
    pub replaced: usize,
}

/// Every table sealing writes: the hourly aggregates and the rules' outputs.
pub(crate) fn sealed_tables(rules: &naap_sql::RuleSet) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = HOURLY_AGGREGATES.iter().map(|t| (*t).to_owned()).collect();
    let scored = rules.over(naap_sql::hourly::SLA_INPUTS);
    let jobs = rules.over(naap_events::tables::REQUESTS_HOURLY.name);
    out.extend(scored.into_iter().chain(jobs).map(|r| r.header.output.clone()));
    out
}

pub(crate) async fn reseal(mut config: PipelineConfig, spec: &ResealSpec) -> Result<Resealed> {
    config.compact_every = None;
    if Manifest::load_latest(&config.lake).await?.is_none() {
        naap_sql::delta::refuse_old_layout(&config.lake).await?;
        return Err(Error::Manifest {
            path: config.lake.internal("commits").to_string(),
            detail: "no commit record: not a naap lake, or nothing committed yet; nothing to reseal".into(),
        });
    }
    let known = sealed_tables(&config.rules);
    let chosen: BTreeSet<String> = match &spec.tables {
        None => known.clone(),
        Some(tables) => {
            if let Some(unknown) = tables.iter().find(|t| !known.contains(*t)) {
                return Err(Error::Request {
                    what: format!("--tables {unknown}"),
                    detail: format!(
                        "not a table sealing writes; one of: {}",
                        known.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                });
            }
            tables.iter().cloned().collect()
        }
    };
    let mut run = Run::recover(config, &[], false, None).await?;
    let Some(sealed_before) = run.base.sealed_before_ms else {
        info!("no hour is sealed yet; nothing to reseal");
        return Ok(Resealed::default());
    };
    let until = spec.until_ms.map_or(sealed_before, |u| u.min(sealed_before));
    let since = spec.since_ms.map_or(i64::MIN, super::seal::hour_of);
    let hours = raw_hours(&run.config.lake, since, until).await?;
    let whole = spec.since_ms.is_none() && spec.until_ms.is_none();
    let (_stop, mut stopped) = watch::channel(false);
    let mut done = Resealed::default();
    let started = Instant::now();
    for (i, hour) in hours.iter().copied().enumerate() {
        let mut sealer = Sealer {
            queries: &mut run.sealing.queries,
            tables: &mut run.tables,
            sessions: &mut run.sealing.sessions,
            rules: &run.config.rules,
            span: SealSpan::of(&run.config),
            pending: Default::default(),
            sealed_hourly: Vec::new(),
        };
        let sealed = sealer.seal(hour).await?;
        let mut change = Rewrite::default();
        for table in &chosen {
            // The tables stay open across hours: no log is loaded afresh.
            let old = run
                .tables
                .hour_files(table, &[hour])
                .await?
                .remove(&hour)
                .unwrap_or_default();
            let replaces_rows = run
                .tables
                .read_files(table, &old, None)
                .await?
                .iter()
                .map(|b| b.num_rows() as u64)
                .sum();
            if let Some((_, rows)) = sealed.iter().find(|(t, _)| t == table) {
                change.files.push(Staged {
                    replaces_rows,
                    ..Staged::new(table.clone(), hour, SEALED_GROUP.to_owned(), rows.clone())
                });
            }
            change.removed.extend(old.into_iter().map(|f| {
                let file = RemovedFile {
                    path: f.path,
                    size: f.size,
                    hour_ms: hour,
                    data_change: true,
                };
                (table.clone(), file)
            }));
        }
        done.hours += 1;
        done.written += change.files.len();
        done.replaced += change.removed.len();
        run.injected = change;
        if whole && i + 1 == hours.len() {
            // Every sealed hour of these tables is this release's now.
            let versions = super::seal::aggregate_versions();
            run.sealing.resealed = chosen
                .iter()
                .filter_map(|t| versions.get(t).map(|v| (t.clone(), *v)))
                .collect();
        }
        run.commit(&Metrics::default(), &mut stopped).await?;
        info!(
            hour = %naap_sql::lake::hour_partition(hour),
            done = i + 1,
            of = hours.len(),
            elapsed_s = started.elapsed().as_secs(),
            "resealed hour"
        );
    }
    Ok(done)
}

/// The UTC hours in [since, until) holding rows of some gateway table.
async fn raw_hours(lake: &naap_sql::Lake, since: i64, until: i64) -> Result<Vec<i64>> {
    let mut hours = BTreeSet::new();
    for (table, _) in gateway_tables::schemas() {
        for file in rewrite::active(lake, table).await? {
            if let Some(hour) = rewrite::file_hour(&file)
                && (since..until).contains(&hour)
            {
                hours.insert(hour);
            }
        }
    }
    Ok(hours.into_iter().collect())
}
