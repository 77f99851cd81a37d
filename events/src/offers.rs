//! What one `network_capabilities` entry offers per model: whether the
//! model is warm, its slots and how many are in use, and its price.
//!
//! go-livepeer writes them in three places of an orchestrator's entry:
//! `capabilities.capacities` (slots per capability id),
//! `capabilities.constraints.PerCapability.<id>.models.<model>` (`warm`,
//! `capacity` where the node sets one per model, `capacityInUse`), and
//! `capabilities_prices` (`pricePerUnit` / `pixelsPerUnit` per capability
//! id and model, the model under `constraint`). Read leniently: a field of
//! the wrong type counts as absent, never as a refusal of the entry (the
//! entry's identity and hardware are decoded by [`crate::capabilities`]).

use serde_json::Value;

/// One model an orchestrator offers.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOffer {
    /// go-livepeer's capability id (35: live-video-to-video).
    pub capability_id: String,
    pub model: String,
    pub warm: bool,
    /// Slots for the model: its own `capacity`, else its capability's.
    pub capacity: Option<f64>,
    pub in_use: f64,
    /// Wei per unit (pixel, token, …): `pricePerUnit / pixelsPerUnit`.
    pub price_per_unit: Option<f64>,
}

impl ModelOffer {
    /// Free slots: capacity less those in use, never below 0.
    pub fn available(&self) -> Option<f64> {
        self.capacity.map(|c| (c - self.in_use).max(0.0))
    }
}

/// The models `entry` (one orchestrator of a `network_capabilities`
/// event's `data`) offers, in capability-id then model order.
pub fn model_offers(entry: &Value) -> Vec<ModelOffer> {
    let capabilities = entry.get("capabilities");
    let capacities = capabilities.and_then(|c| c.get("capacities"));
    let Some(per_capability) = capabilities
        .and_then(|c| c.get("constraints"))
        .and_then(|c| c.get("PerCapability"))
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    let prices = entry.get("capabilities_prices").and_then(Value::as_array);
    let mut offers = Vec::new();
    for (id, constraint) in per_capability {
        let Some(models) = constraint.get("models").and_then(Value::as_object) else {
            continue;
        };
        for (model, detail) in models {
            let capacity = number(detail.get("capacity")).or_else(|| number(capacities.and_then(|c| c.get(id))));
            offers.push(ModelOffer {
                capability_id: id.clone(),
                model: model.clone(),
                warm: detail.get("warm").and_then(Value::as_bool).unwrap_or(false),
                capacity,
                in_use: number(detail.get("capacityInUse")).unwrap_or(0.0).max(0.0),
                price_per_unit: prices.and_then(|p| price(p, id, model)),
            });
        }
    }
    offers
}

/// The price of `model` under capability `id` in `capabilities_prices`.
fn price(prices: &[Value], id: &str, model: &str) -> Option<f64> {
    let entry = prices.iter().find(|p| {
        p.get("constraint").and_then(Value::as_str) == Some(model)
            && p.get("capability")
                .is_some_and(|c| c.to_string().trim_matches('"') == id)
    })?;
    let per_unit = number(entry.get("pricePerUnit"))?;
    let pixels = number(entry.get("pixelsPerUnit")).filter(|p| *p > 0.0).unwrap_or(1.0);
    Some(per_unit / pixels)
}

/// A finite, non-negative number, written as a JSON number or a numeric
/// string.
fn number(value: Option<&Value>) -> Option<f64> {
    let n = match value? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (n.is_finite() && n >= 0.0).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_read_capacity_use_and_price_per_model() {
        let entry = serde_json::json!({
            "address": "0xd003",
            "capabilities": {
                "capacities": {"35": 2, "27": 4},
                "constraints": {"PerCapability": {
                    "35": {"models": {"streamdiffusion": {"warm": true, "capacityInUse": 1}}},
                    "27": {"models": {"llama": {"warm": false, "capacity": 3, "capacityInUse": "5"}}}
                }}
            },
            "capabilities_prices": [
                {"pricePerUnit": 1618, "pixelsPerUnit": 2, "capability": 35, "constraint": "streamdiffusion"},
                {"pricePerUnit": "bad", "pixelsPerUnit": 1, "capability": 27, "constraint": "llama"}
            ]
        });
        let offers = model_offers(&entry);
        assert_eq!(offers.len(), 2);
        let (llama, live) = (&offers[0], &offers[1]);
        assert_eq!(
            (live.model.as_str(), live.warm, live.capacity, live.in_use),
            ("streamdiffusion", true, Some(2.0), 1.0)
        );
        assert_eq!((live.available(), live.price_per_unit), (Some(1.0), Some(809.0)));
        // Its own capacity wins; more in use than slots leaves none free.
        assert_eq!(
            (llama.capacity, llama.available(), llama.price_per_unit),
            (Some(3.0), Some(0.0), None)
        );
    }

    #[test]
    fn malformed_parts_are_absent_not_fatal() {
        for entry in [
            serde_json::json!({}),
            serde_json::json!({"capabilities": null}),
            serde_json::json!({"capabilities": {"constraints": {"PerCapability": []}}}),
            serde_json::json!({"capabilities": {"constraints": {"PerCapability": {"35": {"models": 7}}}}}),
        ] {
            assert!(model_offers(&entry).is_empty(), "{entry}");
        }
        let odd = serde_json::json!({"capabilities": {"capacities": {"35": -1},
            "constraints": {"PerCapability": {"35": {"models": {"m": {"warm": "yes", "capacityInUse": "1e400"}}}}}}});
        let [offer] = model_offers(&odd).try_into().expect("one offer");
        assert_eq!((offer.warm, offer.capacity, offer.in_use), (false, None, 0.0));
    }
}
