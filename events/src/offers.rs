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

/// A price as advertised in `capabilities_prices`.
#[derive(Debug, Clone, PartialEq)]
pub struct AdvertisedPrice {
    pub capability_id: String,
    /// The model it is for (`constraint`); "" for the whole capability.
    pub model: String,
    /// Wei per `pixels_per_unit` units.
    pub price_per_unit: i64,
    pub pixels_per_unit: i64,
}

/// The prices `entry` advertises with a positive price and unit, in its
/// order; a malformed one is left out.
pub fn advertised_prices(entry: &Value) -> Vec<AdvertisedPrice> {
    let Some(prices) = entry.get("capabilities_prices").and_then(Value::as_array) else {
        return Vec::new();
    };
    prices
        .iter()
        .filter_map(|p| {
            let whole = |v: Option<&Value>| number(v).filter(|n| *n >= 1.0 && *n < 9.2e18).map(|n| n as i64);
            Some(AdvertisedPrice {
                capability_id: p.get("capability")?.to_string().trim_matches('"').to_owned(),
                model: p
                    .get("constraint")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                price_per_unit: whole(p.get("pricePerUnit"))?,
                pixels_per_unit: whole(p.get("pixelsPerUnit"))?,
            })
        })
        .collect()
}

/// go-livepeer's name of an AI capability id (its `core/capabilities.go`).
pub fn pipeline_of_capability(id: &str) -> Option<&'static str> {
    Some(match id {
        "27" => "text-to-image",
        "28" => "image-to-image",
        "29" => "image-to-video",
        "30" => "upscale",
        "31" => "audio-to-text",
        "32" => "segment-anything-2",
        "33" => "llm",
        "34" => "image-to-text",
        "35" => "live-video-to-video",
        "36" => "text-to-speech",
        _ => return None,
    })
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

    #[test]
    fn advertised_prices_keep_the_raw_units_and_skip_what_is_not_a_price() {
        let entry = serde_json::json!({"capabilities_prices": [
            {"pricePerUnit": 2500, "pixelsPerUnit": 1, "capability": 35, "constraint": "streamdiffusion"},
            {"pricePerUnit": 1.2e6, "pixelsPerUnit": 3, "capability": "27", "constraint": "sdxl"},
            {"pricePerUnit": 0, "pixelsPerUnit": 1, "capability": 27, "constraint": "free"},
            {"pricePerUnit": "x", "pixelsPerUnit": 1, "capability": 27},
            {"pricePerUnit": 5, "pixelsPerUnit": 1e300, "capability": 27}
        ]});
        let prices = advertised_prices(&entry);
        assert_eq!(prices.len(), 2, "{prices:?}");
        assert_eq!(
            (prices[0].capability_id.as_str(), prices[0].price_per_unit),
            ("35", 2500)
        );
        assert_eq!(
            (
                prices[1].model.as_str(),
                prices[1].price_per_unit,
                prices[1].pixels_per_unit
            ),
            ("sdxl", 1_200_000, 3)
        );
        assert_eq!(pipeline_of_capability("35"), Some("live-video-to-video"));
        assert_eq!(pipeline_of_capability("99"), None);
    }
}
