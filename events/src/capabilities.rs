//! go-livepeer's `network_capabilities` event: one entry per orchestrator,
//! decoded entry by entry.
//!
//! Gateways publish the hardware list in two shapes, and production NaaP
//! (Cloud-SPE/livepeer-naap-analytics, `resolver/capabilities.go`
//! `capabilityGPUInfoList`, and the ClickHouse views over `gpu_info`) takes
//! both: `gpu_info` is an array of GPUs, or an object of GPUs keyed by slot
//! (read in key order; keys are otherwise ignored); `null` means none. A GPU
//! with an empty `id` is skipped (NaaP's hardware inventory filters
//! `gpu_id != ''`). Integer fields accept a JSON number written with an
//! exponent (`2.4e10`) when it is whole. One malformed orchestrator entry is
//! refused on its own, with its reason; the other entries of the event stand.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// One orchestrator of a `network_capabilities` snapshot.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Capability {
    /// On-chain address.
    pub address: String,
    /// Operating address it signs with, if different.
    #[serde(default)]
    pub local_address: String,
    #[serde(default)]
    pub orch_uri: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub hardware: Vec<Hardware>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Hardware {
    #[serde(default)]
    pub pipeline: String,
    #[serde(default)]
    pub model_id: String,
    /// The GPUs serving this pipeline and model, empty ids left out.
    #[serde(default, deserialize_with = "gpu_list")]
    pub gpu_info: Vec<GpuInfo>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GpuInfo {
    /// The NVML UUID.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "whole_u64")]
    pub memory_total: Option<u64>,
    #[serde(default, deserialize_with = "whole_u64")]
    pub memory_free: Option<u64>,
}

/// An orchestrator entry refused on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct RefusedEntry {
    /// Its position in the event's list.
    pub index: usize,
    /// `missing_field` or `wrong_type`.
    pub reason: &'static str,
    pub detail: String,
}

/// The entries of a `network_capabilities` event's `data` (which must be
/// an array): those that decode, and those refused with their reasons.
pub fn decode_entries(data: &Value) -> Option<(Vec<Capability>, Vec<RefusedEntry>)> {
    let entries = data.as_array()?;
    let (mut good, mut refused) = (Vec::with_capacity(entries.len()), Vec::new());
    for (index, entry) in entries.iter().enumerate() {
        match Capability::deserialize(entry) {
            Ok(c) => good.push(c),
            Err(e) => {
                let text = e.to_string();
                let reason = if text.starts_with("missing field") {
                    "missing_field"
                } else {
                    "wrong_type"
                };
                let address = entry.get("address").and_then(Value::as_str).unwrap_or("?");
                refused.push(RefusedEntry {
                    index,
                    reason,
                    detail: format!("network_capabilities entry {index} (address {address}): {text}"),
                });
            }
        }
    }
    Some((good, refused))
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

fn gpu_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<GpuInfo>, D::Error> {
    let gpus: Vec<GpuInfo> = match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Vec::new(),
        Some(list @ Value::Array(_)) => Vec::<GpuInfo>::deserialize(list).map_err(serde::de::Error::custom)?,
        // Keyed by slot ("0", "1", …): read in key order, keys dropped.
        Some(keyed @ Value::Object(_)) => BTreeMap::<String, GpuInfo>::deserialize(keyed)
            .map_err(serde::de::Error::custom)?
            .into_values()
            .collect(),
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "gpu_info is neither a list nor an object of GPUs: {other}"
            )));
        }
    };
    Ok(gpus.into_iter().filter(|g| !g.id.is_empty()).collect())
}

/// A non-negative integer, also when written `2.4e10`; a fraction, a
/// negative or a too large value is an error.
fn whole_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(n) = number.as_u64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&f) => Ok(Some(f as u64)),
        _ => Err(serde::de::Error::custom(format!(
            "{number} is not a whole non-negative number of bytes"
        ))),
    }
}
