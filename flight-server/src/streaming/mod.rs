//! NaaP's live-video API, `/v1/streaming/*`: SLA, demand and GPU figures
//! per hour as cursor pages, and the models and orchestrators live video
//! runs on. The statements (`sql/serving/streaming_*.sql`) also feed the
//! NaaP dashboard ([`crate::naap_dashboard`]).
//!
//! Where naap's lake differs from NaaP's warehouse: there is one network
//! (`org` is ""), and sessions are attributed to an orchestrator, pipeline
//! and model but not to one of several GPUs, so a row's GPU is the one the
//! orchestrator advertised for that model in the hour when it advertised
//! exactly one.

mod cursor;
pub(crate) mod handlers;
mod rows;

use std::collections::{BTreeMap, BTreeSet};

use datafusion::scalar::ScalarValue;
use naap_sql::serving::{self, Query};
use serde::de::DeserializeOwned;

pub use rows::*;

use crate::requests::{Page, Paging, Window};
use crate::{Catalog, Result, cells};

pub(crate) use cursor::After;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
/// How far back what is advertised counts (NaaP: 24 hours).
pub(crate) const OFFERS_MS: i64 = 24 * HOUR_MS;
/// How recently an open session must have been seen to count as active
/// (NaaP: 30 minutes).
pub(crate) const ACTIVE_MS: i64 = 30 * MINUTE_MS;
/// The pipeline of live video.
pub(crate) const LIVE_VIDEO: &str = "live-video-to-video";

fn ms(v: i64) -> ScalarValue {
    ScalarValue::Int64(Some(v))
}

async fn rows<T: DeserializeOwned>(catalog: &Catalog, statement: Query, params: Vec<ScalarValue>) -> Result<Vec<T>> {
    cells::typed(statement, &catalog.serve_present(statement, params).await?)
}

fn sla_version(catalog: &Catalog) -> ScalarValue {
    ScalarValue::Int32(Some(catalog.served().version("sla").map_or(0, |v| v as i32)))
}

/// Demand per (hour, gateway, pipeline, model) in `window`, newest first.
pub(crate) async fn demand(catalog: &Catalog, window: Window) -> Result<Vec<DemandCells>> {
    rows(
        catalog,
        serving::STREAMING_DEMAND,
        vec![ms(window.start_ms), ms(window.end_ms)],
    )
    .await
}

/// Each orchestrator's service and newest SLA score in `window`.
pub(crate) async fn service(catalog: &Catalog, window: Window) -> Result<Vec<ServiceCells>> {
    rows(
        catalog,
        serving::STREAMING_ORCHESTRATORS,
        vec![ms(window.start_ms), ms(window.end_ms), sla_version(catalog)],
    )
    .await
}

/// What was advertised in the 24 hours before `end_ms`.
pub(crate) async fn offers(catalog: &Catalog, end_ms: i64) -> Result<Vec<OfferCells>> {
    offers_in(catalog, end_ms - OFFERS_MS, end_ms).await
}

pub(crate) async fn offers_in(catalog: &Catalog, start_ms: i64, end_ms: i64) -> Result<Vec<OfferCells>> {
    rows(catalog, serving::STREAMING_OFFERS, vec![ms(start_ms), ms(end_ms)]).await
}

/// Open sessions last seen in `[since_ms, end_ms)`, newest first, at most `limit`.
pub(crate) async fn active(catalog: &Catalog, since_ms: i64, end_ms: i64, limit: i64) -> Result<Vec<ActiveCells>> {
    rows(
        catalog,
        serving::STREAMING_ACTIVE,
        vec![ms(since_ms), ms(end_ms), ms(limit)],
    )
    .await
}

/// Unix ms as RFC 3339 to the second, as NaaP writes hours.
pub(crate) fn hour_text(ms: i64) -> String {
    arrow::temporal_conversions::timestamp_ms_to_datetime(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// `part / whole`, 0 when `whole` is 0.
pub(crate) fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { 0.0 }
}

/// One page of `/v1/streaming/sla` or `/gpu-metrics` (the GPU rows only).
async fn hours(
    catalog: &Catalog,
    window: Window,
    with_gpu: bool,
    paging: &Paging,
    cursor: Option<&str>,
    now_ms: i64,
) -> Result<Page<HourCells>> {
    let after = cursor::decode(cursor, 4)?;
    let params = vec![
        ms(window.start_ms),
        ms(window.end_ms),
        sla_version(catalog),
        ScalarValue::Boolean(Some(with_gpu)),
        ScalarValue::Int64(after.as_ref().map(|a| a.window_ms)),
        ScalarValue::Utf8(after.as_ref().map(After::joined)),
        ms(paging.limit + 1),
    ];
    let found: Vec<HourCells> = rows(catalog, serving::STREAMING_HOURS, params).await?;
    Ok(Page::of(
        found,
        paging.limit,
        |h| cursor::encode(h.window_ms, &h.keys()),
        now_ms,
    ))
}

pub async fn sla(
    catalog: &Catalog,
    window: Window,
    paging: &Paging,
    cursor: Option<&str>,
    now_ms: i64,
) -> Result<Page<SlaRow>> {
    let page = hours(catalog, window, false, paging, cursor, now_ms).await?;
    Ok(page.map(|h| {
        let requested = h.requested_sessions as f64;
        SlaRow {
            window_start: hour_text(h.window_ms),
            org: String::new(),
            effective_success_rate: ratio(requested - h.effective_failed_sessions as f64, requested),
            no_swap_rate: ratio(requested - h.swapped_sessions as f64, requested),
            avg_output_fps: ratio(h.output_fps_sum, h.status_samples as f64),
            sla_score: if h.requested_sessions > 0 {
                h.sla_score.unwrap_or(0.0)
            } else {
                0.0
            },
            requested_sessions: h.requested_sessions,
            startup_success_sessions: h.startup_success_sessions,
            orchestrator_address: h.orchestrator_address,
            pipeline_id: h.pipeline_id,
            model_id: h.model_id,
            gpu_id: h.gpu_id,
        }
    }))
}

pub async fn gpu_metrics(
    catalog: &Catalog,
    window: Window,
    paging: &Paging,
    cursor: Option<&str>,
    now_ms: i64,
) -> Result<Page<GpuMetricsRow>> {
    let page = hours(catalog, window, true, paging, cursor, now_ms).await?;
    Ok(page.map(|h| GpuMetricsRow {
        window_start: hour_text(h.window_ms),
        org: String::new(),
        known_sessions_count: h.requested_sessions,
        startup_success_sessions: h.startup_success_sessions,
        avg_output_fps: ratio(h.output_fps_sum, h.status_samples as f64),
        avg_e2e_latency_ms: ratio(h.e2e_latency_sum_ms, h.e2e_latency_count as f64),
        swap_rate: ratio(h.swapped_sessions as f64, h.requested_sessions as f64),
        orchestrator_address: h.orchestrator_address,
        pipeline_id: h.pipeline_id,
        model_id: h.model_id,
        gpu_id: h.gpu_id,
        gpu_model_name: h.gpu_model_name,
    }))
}

/// One page of `/v1/streaming/demand`: the window's rows are few (hours ×
/// gateways × models), so they are paged here.
pub async fn demand_page(
    catalog: &Catalog,
    window: Window,
    paging: &Paging,
    cursor: Option<&str>,
    now_ms: i64,
) -> Result<Page<DemandRow>> {
    let after = cursor::decode(cursor, 3)?;
    // Newest hour first, then by key, as the cursor names a row.
    fn order(d: &DemandCells) -> (std::cmp::Reverse<i64>, [&str; 3]) {
        (
            std::cmp::Reverse(d.window_ms),
            [&d.gateway, &d.pipeline_id, &d.model_id],
        )
    }
    let mut found: Vec<DemandCells> = demand(catalog, window)
        .await?
        .into_iter()
        .filter(|d| d.started_sessions > 0)
        .filter(|d| {
            after
                .as_ref()
                .is_none_or(|a| order(d) > (std::cmp::Reverse(a.window_ms), [&*a.keys[0], &*a.keys[1], &*a.keys[2]]))
        })
        .collect();
    found.sort_by(|a, b| order(a).cmp(&order(b)));
    found.truncate(usize::try_from(paging.limit + 1).unwrap_or(usize::MAX));
    let page = Page::of(
        found,
        paging.limit,
        |d| cursor::encode(d.window_ms, &[&d.gateway, &d.pipeline_id, &d.model_id]),
        now_ms,
    );
    Ok(page.map(|d| {
        let requested = d.requested_sessions as f64;
        DemandRow {
            window_start: hour_text(d.window_ms),
            org: String::new(),
            requested_sessions: d.requested_sessions,
            startup_success_sessions: d.startup_success_sessions,
            effective_success_rate: ratio(requested - d.effective_failed_sessions as f64, requested),
            total_minutes: d.total_minutes,
            no_orch_sessions: d.no_orch_sessions,
            gateway: d.gateway,
            pipeline_id: d.pipeline_id,
            model_id: d.model_id,
        }
    }))
}

/// `/v1/streaming/models`: live-video models over the 24 hours before `end_ms`.
pub async fn models(catalog: &Catalog, end_ms: i64) -> Result<Vec<StreamingModel>> {
    let offers = offers(catalog, end_ms).await?;
    let active = active(catalog, end_ms - ACTIVE_MS, end_ms, i64::from(u32::MAX)).await?;
    let day = Window {
        start_ms: end_ms - OFFERS_MS,
        end_ms,
    };
    let mut fps: BTreeMap<(String, String), (f64, i64)> = BTreeMap::new();
    for d in demand(catalog, day).await? {
        let e = fps.entry((d.pipeline_id, d.model_id)).or_default();
        e.0 += d.output_fps_sum;
        e.1 += d.status_samples;
    }
    // (pipeline, model) -> (orchestrators, (orchestrator, GPU id)s)
    type Offered = (BTreeSet<String>, BTreeSet<(String, String)>);
    let mut by_model: BTreeMap<(String, String), Offered> = BTreeMap::new();
    for o in offers
        .into_iter()
        .filter(|o| o.pipeline == LIVE_VIDEO && !o.model_id.is_empty())
    {
        let e = by_model.entry((o.pipeline.clone(), o.model_id.clone())).or_default();
        e.0.insert(o.address.clone());
        if !o.gpu_id.is_empty() {
            e.1.insert((o.address, o.gpu_id));
        }
    }
    let mut out: Vec<StreamingModel> = by_model
        .into_iter()
        .map(|((pipeline, model), (orchs, gpus))| {
            let streams = active
                .iter()
                .filter(|a| a.pipeline == pipeline && a.model == model)
                .count() as i64;
            let (sum, samples) = fps.get(&(pipeline.clone(), model.clone())).copied().unwrap_or_default();
            StreamingModel {
                warm_orch_count: orchs.len() as i64,
                gpu_slots: gpus.len() as i64,
                active_streams: streams,
                available_capacity: gpus.len() as i64 - streams,
                avg_fps: (ratio(sum, samples as f64) * 10.0).round() / 10.0,
                pipeline,
                model,
            }
        })
        .collect();
    out.sort_by(|a, b| b.warm_orch_count.cmp(&a.warm_orch_count).then(a.model.cmp(&b.model)));
    Ok(out)
}

/// `/v1/streaming/orchestrators`: those that advertised live video in the
/// 24 hours before `end_ms`, most GPUs first.
pub async fn orchestrators(catalog: &Catalog, end_ms: i64) -> Result<Vec<StreamingOrchestrator>> {
    struct Seen {
        uri: String,
        models: BTreeSet<String>,
        gpus: BTreeSet<String>,
        last_seen_ms: i64,
    }
    let mut by_address: BTreeMap<String, Seen> = BTreeMap::new();
    for o in offers(catalog, end_ms).await? {
        let e = by_address.entry(o.address).or_insert_with(|| Seen {
            uri: o.uri.clone(),
            models: BTreeSet::new(),
            gpus: BTreeSet::new(),
            last_seen_ms: 0,
        });
        if o.pipeline == LIVE_VIDEO && !o.model_id.is_empty() {
            e.models.insert(o.model_id);
        }
        if !o.gpu_id.is_empty() {
            e.gpus.insert(o.gpu_id);
        }
        e.last_seen_ms = e.last_seen_ms.max(o.last_seen_ms);
    }
    let mut out: Vec<StreamingOrchestrator> = by_address
        .into_iter()
        .filter(|(_, s)| !s.models.is_empty())
        .map(|(address, s)| StreamingOrchestrator {
            address,
            uri: s.uri,
            models: s.models.into_iter().collect(),
            gpu_count: s.gpus.len() as i64,
            last_seen: crate::requests::rfc3339(s.last_seen_ms),
        })
        .collect();
    out.sort_by(|a, b| b.gpu_count.cmp(&a.gpu_count).then(a.address.cmp(&b.address)));
    Ok(out)
}
