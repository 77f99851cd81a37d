//! The leaderboard's rows from the lake: what each orchestrator offered
//! for a model over the newest hour of `network_capabilities` snapshots,
//! and the discovery latency gateways measured over the last day (the
//! windows of livepeer/naap's ClickHouse query, anchored on the lake's
//! newest snapshot and hour rather than the wall clock, so a replayed lake
//! answers as it did live).

use std::collections::BTreeMap;

use datafusion::scalar::ScalarValue;
use naap_events::capabilities::{Capability, Hardware};
use naap_events::offers::{ModelOffer, model_offers};
use naap_sql::{serving, tables};
use serde::Deserialize;
use serde_json::Value;

use super::{Evidence, Row};
use crate::perf_stats::Regions;
use crate::{Catalog, Result, cells};

const SNAPSHOT_HOUR_MS: i64 = 3_600_000;
const LATENCY_DAY_MS: i64 = 24 * 3_600_000;
const GIB: f64 = (1u64 << 30) as f64;

/// One orchestrator's offers of the model over the hour.
#[derive(Default)]
struct Seen {
    address: String,
    newest_ms: i64,
    newest: Option<ModelOffer>,
    gpu: Option<(String, Option<u64>)>,
    free_slots: Vec<f64>,
}

/// Every orchestrator offering `capability` warm with a free slot in the
/// newest snapshot that names it, with its figures; its latency as the
/// gateways of `region` measured it (by the server's region map), or all
/// gateways.
pub(super) async fn offering(
    catalog: &Catalog,
    capability: &str,
    region: Option<(&Regions, &str)>,
) -> Result<Vec<Row>> {
    let names = catalog.table_names().await?;
    if !names.iter().any(|t| t == tables::GATEWAY_EVENTS.name) {
        return Ok(Vec::new());
    }
    // `pipeline/model` names the model, as python-gateway's `caps` do.
    let model = capability.rsplit('/').next().unwrap_or(capability);
    let snapshots = catalog
        .serve(
            serving::LEADERBOARD_SNAPSHOTS,
            vec![ScalarValue::Int64(Some(SNAPSHOT_HOUR_MS))],
        )
        .await?;
    let mut by_uri: BTreeMap<String, Seen> = BTreeMap::new();
    for b in &snapshots {
        for row in 0..b.num_rows() {
            let (Some(at_ms), Some(data)) = (cells::number(b, "at_ms", row), cells::text(b, "data", row)) else {
                continue;
            };
            let Ok(Value::Array(entries)) = serde_json::from_str::<Value>(&data) else {
                continue;
            };
            for entry in &entries {
                observe(&mut by_uri, entry, model, at_ms as i64);
            }
        }
    }
    let latency = if names.iter().any(|t| t == tables::DISCOVERY_LATENCY.name) {
        catalog
            .serve(
                serving::LEADERBOARD_LATENCY,
                vec![ScalarValue::Int64(Some(LATENCY_DAY_MS))],
            )
            .await?
    } else {
        Vec::new()
    };
    // (lowest, sum, round trips) per URL, over the gateways asked about.
    let mut sums: BTreeMap<String, (Option<f64>, f64, f64)> = BTreeMap::new();
    for b in &latency {
        for row in 0..b.num_rows() {
            let gateway = cells::text(b, "gateway", row).unwrap_or_default();
            let in_region = region.is_none_or(|(regions, wanted)| {
                regions.by_gateway.get(&gateway).unwrap_or(&regions.default_region) == wanted
            });
            let Some(uri) = cells::text(b, "orchestrator_url", row).filter(|_| in_region) else {
                continue;
            };
            let e = sums.entry(uri).or_insert((None, 0.0, 0.0));
            if let Some(best) = cells::number(b, "best_lat_ms", row) {
                e.0 = Some(e.0.map_or(best, |b: f64| b.min(best)));
            }
            e.1 += cells::number(b, "latency_sum_ms", row).unwrap_or(0.0);
            e.2 += cells::number(b, "samples", row).unwrap_or(0.0);
        }
    }
    let latency_by_uri: BTreeMap<String, (Option<f64>, Option<f64>, u64)> = sums
        .into_iter()
        .map(|(uri, (best, sum, n))| {
            let mean = (n > 0.0).then(|| tenths(sum / n));
            (uri, (best.map(tenths), mean, n as u64))
        })
        .collect();
    Ok(by_uri
        .into_iter()
        .filter_map(|(uri, seen)| row(uri, seen, &latency_by_uri))
        .collect())
}

/// Notes what one orchestrator entry of a snapshot at `at_ms` offers of
/// `model`, if it offers it warm.
fn observe(by_uri: &mut BTreeMap<String, Seen>, entry: &Value, model: &str, at_ms: i64) {
    let Some(offer) = model_offers(entry).into_iter().find(|o| o.model == model && o.warm) else {
        return;
    };
    let Ok(identity) = Capability::deserialize(entry) else {
        return;
    };
    if identity.orch_uri.is_empty() {
        return;
    }
    let seen = by_uri.entry(identity.orch_uri.clone()).or_default();
    if let Some(free) = offer.available() {
        seen.free_slots.push(free);
    }
    if at_ms >= seen.newest_ms {
        seen.newest_ms = at_ms;
        seen.address = identity.address.to_lowercase();
        seen.gpu = gpu(&identity.hardware, model).or(seen.gpu.take());
        seen.newest = Some(offer);
    }
}

/// The first GPU serving `model`: its name and memory.
fn gpu(hardware: &[Hardware], model: &str) -> Option<(String, Option<u64>)> {
    let g = hardware.iter().find(|h| h.model_id == model)?.gpu_info.first()?;
    Some((g.name.clone(), g.memory_total))
}

fn row(uri: String, seen: Seen, latency: &BTreeMap<String, (Option<f64>, Option<f64>, u64)>) -> Option<Row> {
    let newest = seen.newest?;
    let avail = newest.available().filter(|a| *a > 0.0)?;
    let total = newest.capacity.unwrap_or(avail);
    let (min, max) = seen
        .free_slots
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    let snapshots = seen.free_slots.len();
    let (best, mean, samples) = latency.get(&uri).copied().unwrap_or((None, None, 0));
    let (gpu_name, memory) = seen.gpu.unwrap_or_default();
    Some(Row {
        gpu_name,
        gpu_gb: memory.map_or(0.0, |m| tenths(m as f64 / GIB)),
        avail,
        total_cap: total,
        price_per_unit: newest.price_per_unit.unwrap_or(0.0),
        best_lat_ms: best,
        avg_lat_ms: mean,
        swap_ratio: (snapshots > 0).then(|| hundredths((max - min) / total.max(1.0))),
        avg_avail: (snapshots > 0).then(|| tenths(seen.free_slots.iter().sum::<f64>() / snapshots as f64)),
        sla_score: None,
        naap: Evidence {
            address: seen.address,
            snapshots: snapshots as u64,
            latency_samples: samples,
            seen_at: crate::requests::rfc3339(seen.newest_ms),
            ..Evidence::default()
        },
        orch_uri: uri,
    })
}

fn tenths(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn hundredths(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
