//! NaaP's dashboard API, `/v1/dashboard/*`: KPIs and pipelines (live
//! video and requests), orchestrators, GPU capacity, the pipeline
//! catalog, prices and the feed of open streams, in NaaP's shapes. The
//! live-video figures come from [`crate::streaming`]'s statements, the
//! request figures from [`crate::requests`].
//!
//! Windows end now (or at `end`, naap's): `window` is NaaP's trailing
//! span (at most 168 hours), and the snapshot answers look back 24 hours.

pub(crate) mod handlers;
mod inventory;
mod rows;

use std::collections::{BTreeMap, BTreeSet};

pub use inventory::{gpu_capacity, job_feed, pipeline_catalog, pricing};
pub use rows::*;

use crate::requests::{self, CapabilitySummary, Family, Window};
use crate::streaming::{self, DemandCells, LIVE_VIDEO, hour_text, ratio};
use crate::{Catalog, Result};

const HOUR_MS: i64 = 3_600_000;

/// A live-video figure per hour of the window, oldest first.
#[derive(Default, Clone, Copy)]
struct Hour {
    requested: f64,
    success: f64,
    minutes: f64,
}

/// Rates split in two halves of the hours that have any (NaaP's delta):
/// the second half's rate less the first's.
fn rate_delta(hours: &[Hour]) -> f64 {
    if hours.len() < 2 {
        return 0.0;
    }
    let (first, second) = hours.split_at(hours.len() / 2);
    let rate = |h: &[Hour]| 100.0 * ratio(h.iter().map(|x| x.success).sum(), h.iter().map(|x| x.requested).sum());
    rate(second) - rate(first)
}

/// A count's change in percent from the first half of the hours to the second.
fn count_delta(hours: &[Hour], of: impl Fn(&Hour) -> f64) -> f64 {
    if hours.len() < 2 {
        return 0.0;
    }
    let (first, second) = hours.split_at(hours.len() / 2);
    let first: f64 = first.iter().map(&of).sum();
    let second: f64 = second.iter().map(&of).sum();
    if first > 0.0 {
        (second - first) / first * 100.0
    } else {
        0.0
    }
}

/// Orchestrators that advertised live video (the pipeline and model
/// asked for, if any) in `[start_ms, end_ms)`.
async fn observed(
    catalog: &Catalog,
    start_ms: i64,
    end_ms: i64,
    pipeline: Option<&str>,
    model: Option<&str>,
) -> Result<usize> {
    let offers = streaming::offers_in(catalog, start_ms, end_ms).await?;
    Ok(offers
        .iter()
        .filter(|o| o.pipeline == pipeline.unwrap_or(LIVE_VIDEO))
        .filter(|o| model.is_none_or(|m| o.model_id == m))
        .map(|o| &o.address)
        .collect::<BTreeSet<_>>()
        .len())
}

/// `/v1/dashboard/kpi`: live video over `window` (only `pipeline` and
/// `model`, when given), and AI batch and BYOC requests.
pub async fn kpi(
    catalog: &Catalog,
    window: Window,
    label: String,
    pipeline: Option<&str>,
    model: Option<&str>,
) -> Result<DashboardKpi> {
    let mut by_hour: BTreeMap<i64, Hour> = BTreeMap::new();
    for d in streaming::demand(catalog, window).await? {
        if pipeline.is_some_and(|p| p != d.pipeline_id) || model.is_some_and(|m| m != d.model_id) {
            continue;
        }
        if d.started_sessions == 0 {
            continue;
        }
        let h = by_hour.entry(d.window_ms).or_default();
        h.requested += d.requested_sessions as f64;
        h.success += d.startup_success_sessions as f64;
        h.minutes += d.total_minutes;
    }
    let hours: Vec<Hour> = by_hour.values().copied().collect();
    let total = |of: fn(&Hour) -> f64| hours.iter().map(of).sum::<f64>();
    let span = window.end_ms - window.start_ms;
    let now = observed(catalog, window.start_ms, window.end_ms, pipeline, model).await? as f64;
    let before = observed(catalog, window.start_ms - span, window.start_ms, pipeline, model).await? as f64;
    let series = |of: fn(&Hour) -> f64| {
        by_hour
            .iter()
            .map(|(ms, h)| HourValue {
                hour: hour_text(*ms),
                value: of(h),
            })
            .collect()
    };
    let streaming = StreamingKpi {
        success_rate: Figure {
            value: 100.0 * ratio(total(|h| h.success), total(|h| h.requested)),
            delta: rate_delta(&hours),
        },
        orchestrators_observed: Figure {
            value: now,
            delta: if before > 0.0 {
                (now - before) / before * 100.0
            } else {
                0.0
            },
        },
        daily_usage_mins: Figure {
            value: total(|h| h.minutes),
            delta: count_delta(&hours, |h| h.minutes),
        },
        daily_session_count: Figure {
            value: total(|h| h.requested),
            delta: count_delta(&hours, |h| h.requested),
        },
        daily_network_fees_eth: Figure::default(),
        timeframe_hours: (span + HOUR_MS - 1) / HOUR_MS,
        hourly_sessions: series(|h| h.requested),
        hourly_usage: series(|h| h.minutes),
    };
    Ok(DashboardKpi {
        window: label,
        start: requests::rfc3339(window.start_ms),
        end: requests::rfc3339(window.end_ms),
        streaming,
        requests: requests::kpi(catalog, window).await?,
    })
}

/// Live pipelines over `window`, most sessions first, at most `limit`.
fn live_pipelines(demand: Vec<DemandCells>, limit: usize) -> Vec<PipelineUsage> {
    let mut by_model: BTreeMap<(String, String), (f64, i64, f64, i64)> = BTreeMap::new();
    for d in demand {
        let e = by_model.entry((d.pipeline_id, d.model_id)).or_default();
        e.0 += d.total_minutes;
        e.1 += d.requested_sessions;
        e.2 += d.output_fps_sum;
        e.3 += d.status_samples;
    }
    let mut pipelines: BTreeMap<String, (PipelineUsage, f64, i64)> = BTreeMap::new();
    for ((pipeline, model), (mins, sessions, fps_sum, samples)) in by_model {
        let (usage, all_fps, all_samples) = pipelines.entry(pipeline.clone()).or_insert_with(|| {
            (
                PipelineUsage {
                    name: pipeline,
                    mins: 0.0,
                    sessions: 0,
                    avg_fps: 0.0,
                    model_mins: Vec::new(),
                },
                0.0,
                0,
            )
        });
        usage.mins += mins;
        usage.sessions += sessions;
        *all_fps += fps_sum;
        *all_samples += samples;
        usage.model_mins.push(ModelUsage {
            model,
            mins,
            sessions,
            avg_fps: ratio(fps_sum, samples as f64),
        });
    }
    let mut out: Vec<PipelineUsage> = pipelines
        .into_values()
        .map(|(mut usage, fps, samples)| {
            usage.avg_fps = ratio(fps, samples as f64);
            usage
                .model_mins
                .sort_by(|a, b| b.sessions.cmp(&a.sessions).then(a.model.cmp(&b.model)));
            usage
        })
        .collect();
    out.sort_by(|a, b| b.sessions.cmp(&a.sessions).then(a.name.cmp(&b.name)));
    out.truncate(limit);
    out
}

/// `/v1/dashboard/pipelines`: live pipelines (at most `limit`), AI batch
/// pipelines and BYOC capabilities over `window`.
pub async fn pipelines(catalog: &Catalog, window: Window, label: String, limit: usize) -> Result<DashboardPipelines> {
    let streaming = live_pipelines(streaming::demand(catalog, window).await?, limit);
    let by_pipeline = requests::summary(catalog, window, Family::AiBatch).await?;
    let by_capability = requests::summary(catalog, window, Family::Byoc).await?;
    Ok(DashboardPipelines {
        window: label,
        streaming,
        requests: RequestPipelines {
            by_pipeline,
            by_capability: by_capability.into_iter().map(CapabilitySummary::from).collect(),
        },
    })
}

/// `/v1/dashboard/orchestrators`: every orchestrator that advertised in
/// the 24 hours before the window's end or served live video in it, most
/// requested sessions first.
pub async fn orchestrators(catalog: &Catalog, window: Window) -> Result<Vec<DashboardOrchestrator>> {
    #[derive(Default)]
    struct Offered {
        uri: String,
        models: BTreeMap<String, BTreeSet<String>>,
        gpus: BTreeSet<String>,
    }
    let mut offered: BTreeMap<String, Offered> = BTreeMap::new();
    for o in streaming::offers(catalog, window.end_ms).await? {
        let e = offered.entry(o.address).or_default();
        if e.uri.is_empty() {
            e.uri = o.uri;
        }
        if !o.pipeline.is_empty() {
            let models = e.models.entry(o.pipeline).or_default();
            if !o.model_id.is_empty() {
                models.insert(o.model_id);
            }
        }
        if !o.gpu_id.is_empty() {
            e.gpus.insert(o.gpu_id);
        }
    }
    let mut service: BTreeMap<String, streaming::ServiceCells> = streaming::service(catalog, window)
        .await?
        .into_iter()
        .map(|s| (s.address.clone(), s))
        .collect();
    let addresses: BTreeSet<String> = offered.keys().chain(service.keys()).cloned().collect();
    let mut out: Vec<DashboardOrchestrator> = addresses
        .into_iter()
        .map(|address| {
            let o = offered.remove(&address).unwrap_or_default();
            let s = service.remove(&address);
            let s = s.as_ref();
            let effective = s.and_then(|s| s.effective_success_rate);
            DashboardOrchestrator {
                service_uri: o.uri,
                known_sessions: s.map_or(0, |s| s.known_sessions),
                success_sessions: s.map_or(0, |s| s.success_sessions),
                success_ratio: effective.map_or(0.0, |e| e * 100.0),
                effective_success_rate: effective,
                no_swap_ratio: s.and_then(|s| s.no_swap_ratio),
                sla_score: s.and_then(|s| s.sla_score),
                sla_window_start: s.and_then(|s| s.sla_window_ms).map(hour_text),
                pipelines: o.models.keys().cloned().collect(),
                pipeline_models: o
                    .models
                    .into_iter()
                    .map(|(pipeline_id, models)| PipelineModels {
                        pipeline_id,
                        model_ids: models.into_iter().collect(),
                    })
                    .collect(),
                gpu_count: o.gpus.len() as i64,
                address,
            }
        })
        .collect();
    out.sort_by(|a, b| b.known_sessions.cmp(&a.known_sessions).then(a.address.cmp(&b.address)));
    Ok(out)
}
