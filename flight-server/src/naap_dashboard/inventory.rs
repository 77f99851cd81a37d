//! The dashboard's snapshot answers: GPU capacity, the pipeline catalog,
//! prices (each over the 24 hours before `end`) and the feed of open
//! streams.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::scalar::ScalarValue;
use naap_events::capabilities::Capability;
use naap_events::offers::{advertised_prices, model_offers, pipeline_of_capability};
use naap_sql::serving;
use serde::Deserialize;
use serde_json::Value;

use super::{CatalogEntry, FeedRow, GpuCapacity, GpuModelCount, ModelGpus, PipelineGpus, PriceRow};
use crate::streaming::{self, ACTIVE_MS, OFFERS_MS, hour_text};
use crate::{Catalog, Result, cells};

/// A GPU: (orchestrator, GPU id).
type GpuKey<'a> = (&'a str, &'a str);

/// `/v1/dashboard/gpu-capacity` as of `end_ms`.
pub async fn gpu_capacity(catalog: &Catalog, end_ms: i64) -> Result<GpuCapacity> {
    let offers = streaming::offers(catalog, end_ms).await?;
    let served: Vec<_> = offers
        .iter()
        .filter(|o| !o.gpu_id.is_empty() && !o.pipeline.is_empty() && !o.model_id.is_empty())
        .collect();
    let mut names: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    let mut pipelines: BTreeMap<&str, BTreeMap<&str, BTreeSet<GpuKey>>> = BTreeMap::new();
    for o in &served {
        let name = names.entry((&o.address, &o.gpu_id)).or_insert("");
        if name.is_empty() {
            *name = &o.gpu_name;
        }
        pipelines
            .entry(&o.pipeline)
            .or_default()
            .entry(&o.model_id)
            .or_default()
            .insert((&o.address, &o.gpu_id));
    }
    let mut models: BTreeMap<&str, i64> = BTreeMap::new();
    for name in names.values() {
        *models
            .entry(if name.is_empty() { "Unknown" } else { name })
            .or_default() += 1;
    }
    let mut models: Vec<GpuModelCount> = models
        .into_iter()
        .map(|(model, count)| GpuModelCount {
            model: model.to_owned(),
            count,
        })
        .collect();
    models.sort_by(|a, b| b.count.cmp(&a.count).then(a.model.cmp(&b.model)));
    // Busy: per (orchestrator, pipeline, model), the fewer of its open
    // sessions and its GPUs.
    let mut open: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for a in streaming::active(catalog, end_ms - ACTIVE_MS, end_ms, i64::from(u32::MAX)).await? {
        if !a.orchestrator_address.is_empty() {
            *open.entry((a.orchestrator_address, a.pipeline, a.model)).or_default() += 1;
        }
    }
    let mut active = 0;
    for ((address, pipeline, model), sessions) in open {
        let gpus = pipelines
            .get(pipeline.as_str())
            .and_then(|m| m.get(model.as_str()))
            .map_or(0, |keys| keys.iter().filter(|(a, _)| *a == address).count() as i64);
        active += sessions.min(gpus);
    }
    let total = names.len() as i64;
    let mut pipeline_gpus: Vec<PipelineGpus> = pipelines
        .into_iter()
        .map(|(name, by_model)| {
            let all: BTreeSet<_> = by_model.values().flatten().collect();
            let mut models: Vec<ModelGpus> = by_model
                .iter()
                .map(|(model, keys)| ModelGpus {
                    model: (*model).to_owned(),
                    gpus: keys.len() as i64,
                })
                .collect();
            models.sort_by(|a, b| b.gpus.cmp(&a.gpus).then(a.model.cmp(&b.model)));
            PipelineGpus {
                name: name.to_owned(),
                gpus: all.len() as i64,
                models,
            }
        })
        .collect();
    pipeline_gpus.sort_by(|a, b| b.gpus.cmp(&a.gpus).then(a.name.cmp(&b.name)));
    Ok(GpuCapacity {
        totalGPUs: total,
        activeGPUs: active.min(total),
        availableCapacity: (total - active).max(0),
        models,
        pipelineGPUs: pipeline_gpus,
    })
}

/// `/v1/dashboard/pipeline-catalog`: each pipeline with the models
/// advertised for it on hardware in the 24 hours before `end_ms`.
pub async fn pipeline_catalog(catalog: &Catalog, end_ms: i64) -> Result<Vec<CatalogEntry>> {
    let mut by_pipeline: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for o in streaming::offers(catalog, end_ms).await? {
        if !o.pipeline.is_empty() && !o.model_id.is_empty() && !o.gpu_id.is_empty() {
            by_pipeline.entry(o.pipeline).or_default().insert(o.model_id);
        }
    }
    Ok(by_pipeline
        .into_iter()
        .map(|(pipeline, models)| CatalogEntry {
            id: pipeline.clone(),
            name: pipeline,
            models: models.into_iter().collect(),
            regions: Vec::new(),
        })
        .collect())
}

/// The host of a service URI: scheme, port and path left out.
fn host(uri: &str) -> String {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))
        .unwrap_or(uri);
    rest.split([':', '/']).next().unwrap_or_default().to_owned()
}

/// `/v1/dashboard/pricing`: each orchestrator's newest price per pipeline
/// and model in the snapshots of the 24 hours before `end_ms`.
pub async fn pricing(catalog: &Catalog, end_ms: i64) -> Result<Vec<PriceRow>> {
    let statement = serving::PRICING_SNAPSHOTS;
    let params = vec![
        ScalarValue::Int64(Some(end_ms - OFFERS_MS)),
        ScalarValue::Int64(Some(end_ms)),
    ];
    let snapshots = catalog.serve_present(statement, params).await?;
    // (address, pipeline, model) -> row; later snapshots replace earlier.
    let mut rows: BTreeMap<(String, String, String), PriceRow> = BTreeMap::new();
    // Offered warm, or on hardware, in any snapshot.
    let mut warm: BTreeSet<(String, String, String)> = BTreeSet::new();
    for b in &snapshots {
        for row in 0..b.num_rows() {
            let Some(Ok(Value::Array(entries))) = cells::text(b, "data", row).map(|d| serde_json::from_str(&d)) else {
                continue;
            };
            for entry in &entries {
                let Ok(who) = Capability::deserialize(entry) else {
                    continue;
                };
                let address = who.address.trim().to_lowercase();
                let pipeline_of = |id: &str, model: &str| {
                    who.hardware
                        .iter()
                        .find(|h| !model.is_empty() && h.model_id == model && !h.pipeline.is_empty())
                        .map(|h| h.pipeline.clone())
                        .or_else(|| pipeline_of_capability(id).map(str::to_owned))
                        .unwrap_or_else(|| format!("capability-{id}"))
                };
                for h in who.hardware.iter().filter(|h| !h.gpu_info.is_empty()) {
                    warm.insert((address.clone(), h.pipeline.clone(), h.model_id.clone()));
                }
                for offer in model_offers(entry).into_iter().filter(|o| o.warm) {
                    let pipeline = pipeline_of(&offer.capability_id, &offer.model);
                    warm.insert((address.clone(), pipeline, offer.model));
                }
                for price in advertised_prices(entry) {
                    let pipeline = pipeline_of(&price.capability_id, &price.model);
                    rows.insert(
                        (address.clone(), pipeline.clone(), price.model.clone()),
                        PriceRow {
                            orch_address: address.clone(),
                            orch_name: host(&who.orch_uri),
                            pipeline,
                            model: price.model,
                            price_wei_per_unit: price.price_per_unit,
                            pixels_per_unit: price.pixels_per_unit,
                            is_warm: false,
                        },
                    );
                }
            }
        }
    }
    Ok(rows
        .into_iter()
        .map(|(key, mut row)| {
            row.is_warm = warm.contains(&key);
            row
        })
        .collect())
}

/// The input fps of an `ai_stream_status` event (`input_status.fps`).
fn input_fps(event: Option<&str>) -> f64 {
    event
        .and_then(|e| serde_json::from_str::<Value>(e).ok())
        .and_then(|v| {
            let status = v.get("input_status").or_else(|| v.get("data")?.get("input_status"))?;
            status.get("fps")?.as_f64()
        })
        .filter(|f| f.is_finite() && *f >= 0.0)
        .unwrap_or(0.0)
}

/// `/v1/dashboard/job-feed`: open live-video streams seen in the 24 hours
/// before `end_ms`, most recently seen first, at most `limit`.
pub async fn job_feed(catalog: &Catalog, end_ms: i64, limit: i64) -> Result<Vec<FeedRow>> {
    let open = streaming::active(catalog, end_ms - OFFERS_MS, end_ms, limit).await?;
    Ok(open
        .into_iter()
        .map(|a| FeedRow {
            input_fps: input_fps(a.status_event.as_deref()),
            output_fps: a.output_fps,
            first_seen: hour_text(a.first_seen_ms),
            last_seen: hour_text(a.last_seen_ms),
            duration_seconds: (end_ms - a.first_seen_ms).max(0) as f64 / 1000.0,
            id: a.id,
            pipeline: a.pipeline,
            model: a.model,
            gateway: a.gateway,
            orchestrator_address: a.orchestrator_address,
            orchestrator_url: a.orchestrator_url,
            state: a.state,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_input_fps_read_leniently() {
        assert_eq!(host("https://orch.example.com:8935/x"), "orch.example.com");
        assert_eq!(host("10.0.0.1:8935"), "10.0.0.1");
        assert_eq!(host(""), "");
        assert_eq!(input_fps(Some(r#"{"input_status":{"fps":29.5}}"#)), 29.5);
        assert_eq!(input_fps(Some(r#"{"data":{"input_status":{"fps":12}}}"#)), 12.0);
        assert_eq!(input_fps(Some(r#"{"input_status":{"fps":"x"}}"#)), 0.0);
        assert_eq!(input_fps(Some("not json")), 0.0);
        assert_eq!(input_fps(None), 0.0);
    }
}
