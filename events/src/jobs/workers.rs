//! `worker_lifecycle`: the BYOC runners attached to an orchestrator, as
//! its queue recorded them and every gateway drained them (so the same
//! event arrives once per gateway, with one id). Drained events carry no
//! `data.type`: the event is inferred from its keys.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{Subtype, blank_as_none, decode_subtype};
use crate::livepeer::{LivepeerError, OrchestratorInfo};

/// The runner inventory event an orchestrator recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerChange {
    Registered {
        worker_url: String,
        /// Price numerator, wei per second of compute.
        price_per_unit: i64,
        /// Price denominator (≥ 1).
        price_scaling: i64,
        /// The `model` of each worker option that names one.
        models: Vec<String>,
        options_count: i64,
    },
    Unregistered {
        /// `None` when deregistered by name only.
        worker_url: Option<String>,
        reason: String,
    },
    CapacityExhausted,
}

/// One `worker_lifecycle` event, drained from an orchestrator's queue.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerLifecycle {
    /// The orchestrator's id of the event: the same event drained by
    /// several gateways has one.
    pub event_id: String,
    pub capability: String,
    pub orchestrator_info: OrchestratorInfo,
    pub change: WorkerChange,
}

impl WorkerLifecycle {
    /// The event's name in the orchestrator's queue (inferred: drained
    /// events carry none).
    pub fn subtype(&self) -> &'static str {
        match self.change {
            WorkerChange::Registered { .. } => "worker_registered",
            WorkerChange::Unregistered { .. } => "worker_unregistered",
            WorkerChange::CapacityExhausted => "worker_capacity_exhausted",
        }
    }
}

pub(super) fn worker_lifecycle(data: Value) -> Result<WorkerLifecycle, LivepeerError> {
    const FAMILY: &str = "worker_lifecycle";
    let subtype = Subtype::of_relayed(
        FAMILY,
        &data,
        &[
            ("price_scaling", "worker_registered"),
            ("worker_options_count", "worker_registered"),
            ("reason", "worker_unregistered"),
            ("options_filter", "worker_capacity_exhausted"),
        ],
    )?;
    #[derive(Deserialize)]
    struct Raw {
        id: String,
        capability: String,
        #[serde(default)]
        orchestrator_info: OrchestratorInfo,
        #[serde(default, deserialize_with = "blank_as_none")]
        worker_url: Option<String>,
        #[serde(default)]
        price_per_unit: i64,
        #[serde(default)]
        price_scaling: Option<i64>,
        #[serde(default)]
        worker_options_count: Option<i64>,
        #[serde(default)]
        worker_options: Option<Vec<BTreeMap<String, Value>>>,
        #[serde(default)]
        reason: Option<String>,
    }
    let raw: Raw = decode_subtype(FAMILY, data)?;
    let change = match subtype.as_str() {
        "worker_registered" => {
            let options = raw.worker_options.unwrap_or_default();
            WorkerChange::Registered {
                worker_url: raw.worker_url.unwrap_or_default(),
                price_per_unit: raw.price_per_unit,
                price_scaling: raw.price_scaling.unwrap_or(1).max(1),
                models: options
                    .iter()
                    .filter_map(|o| o.get("model").and_then(Value::as_str))
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect(),
                options_count: raw.worker_options_count.unwrap_or(options.len() as i64),
            }
        }
        "worker_unregistered" => WorkerChange::Unregistered {
            worker_url: raw.worker_url,
            reason: raw.reason.unwrap_or_default(),
        },
        // `options_filter` without a runner: a job found no free runner.
        "worker_capacity_exhausted" if raw.worker_url.is_none() => WorkerChange::CapacityExhausted,
        other => {
            return Err(LivepeerError::UnknownSubtype {
                subtype: format!("{FAMILY}/{other}"),
            });
        }
    };
    Ok(WorkerLifecycle {
        event_id: raw.id,
        capability: raw.capability,
        orchestrator_info: raw.orchestrator_info,
        change,
    })
}
