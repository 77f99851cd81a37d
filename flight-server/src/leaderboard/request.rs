//! The rank request, checked in livepeer/naap's order and words: JSON,
//! then `capability`, its characters, then `topN`. naap also refuses what
//! the plugin lets through unchecked: a capability longer than 128
//! characters (its ClickHouse path's limit) and filters or weights that are
//! not numbers.

use serde_json::{Map, Value};

use super::{Filters, Given, GivenWeights};

/// A checked request.
#[derive(Debug, Clone, PartialEq)]
pub struct RankRequest {
    pub capability: String,
    pub top_n: usize,
    pub filters: Filters,
    /// `slaWeights` when given (even `{}`): rank by them.
    pub weights: Option<GivenWeights>,
    /// naap's: latency as this region's gateways measured it.
    pub region: Option<String>,
}

/// Why a request is refused: the plugin's `VALIDATION_ERROR` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

const MAX_CAPABILITY_CHARS: usize = 128;
const MAX_TOP_N: u64 = 1000;
const DEFAULT_TOP_N: usize = 10;

impl RankRequest {
    pub fn parse(body: &[u8]) -> Result<RankRequest, Refusal> {
        let refuse = |m: &str| Refusal(m.to_owned());
        let value: Value = serde_json::from_slice(body).map_err(|_| refuse("Invalid JSON body"))?;
        let body = value
            .as_object()
            .ok_or_else(|| refuse("capability is required and must be a string"))?;
        let capability = body
            .get("capability")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| refuse("capability is required and must be a string"))?;
        if !capability
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b))
        {
            return Err(refuse("capability contains invalid characters"));
        }
        if capability.chars().count() > MAX_CAPABILITY_CHARS {
            return Err(refuse("capability must be 128 characters or fewer"));
        }
        let top_n = match body.get("topN") {
            None | Some(Value::Null) => DEFAULT_TOP_N,
            Some(n) => whole(n)
                .filter(|n| (1..=MAX_TOP_N).contains(n))
                .ok_or_else(|| refuse("topN must be an integer between 1 and 1000"))? as usize,
        };
        let filters = match body.get("filters") {
            None | Some(Value::Null) => Filters::default(),
            Some(Value::Object(f)) => Filters {
                gpu_ram_gb_min: number(f, "filters", "gpuRamGbMin")?,
                gpu_ram_gb_max: number(f, "filters", "gpuRamGbMax")?,
                price_max: number(f, "filters", "priceMax")?,
                max_avg_latency_ms: number(f, "filters", "maxAvgLatencyMs")?,
                max_swap_ratio: number(f, "filters", "maxSwapRatio")?,
            },
            Some(_) => return Err(refuse("filters must be an object")),
        };
        let weights = match body.get("slaWeights") {
            None | Some(Value::Null) => None,
            Some(Value::Object(w)) => Some(GivenWeights {
                latency: given(w, "latency")?,
                swap_rate: given(w, "swapRate")?,
                price: given(w, "price")?,
                sla: given(w, "sla")?,
                jobs: given(w, "jobs")?,
            }),
            Some(_) => return Err(refuse("slaWeights must be an object")),
        };
        let region = match body.get("region") {
            None | Some(Value::Null) => None,
            Some(Value::String(r))
                if (1..=64).contains(&r.len())
                    && r.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) =>
            {
                Some(r.clone())
            }
            Some(_) => {
                return Err(refuse(
                    "region must be a region label of letters, digits and ._- (at most 64)",
                ));
            }
        };
        Ok(RankRequest {
            region,
            capability: capability.to_owned(),
            top_n,
            filters,
            weights,
        })
    }
}

/// A JSON number with no fractional part (`5.0` counts), as a count.
fn whole(n: &Value) -> Option<u64> {
    let f = n.as_f64()?;
    (f.fract() == 0.0 && f >= 0.0 && f <= u64::MAX as f64).then_some(f as u64)
}

fn number(object: &Map<String, Value>, within: &str, key: &str) -> Result<Option<f64>, Refusal> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| Refusal(format!("{within}.{key} must be a number"))),
    }
}

fn given(object: &Map<String, Value>, key: &str) -> Result<Given, Refusal> {
    match object.get(key) {
        None => Ok(Given::Absent),
        Some(Value::Null) => Ok(Given::Null),
        Some(_) => Ok(Given::Value(number(object, "slaWeights", key)?.unwrap_or(0.0))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: &str) -> String {
        RankRequest::parse(body.as_bytes()).expect_err(body).0
    }

    #[test]
    fn requests_are_checked_in_order_with_the_plugins_messages() {
        for (body, message) in [
            ("", "Invalid JSON body"),
            ("{", "Invalid JSON body"),
            ("null", "capability is required and must be a string"),
            ("[]", "capability is required and must be a string"),
            (r#"{"topN":5}"#, "capability is required and must be a string"),
            (r#"{"capability":""}"#, "capability is required and must be a string"),
            (r#"{"capability":7}"#, "capability is required and must be a string"),
            (
                r#"{"capability":"'; DROP TABLE --"}"#,
                "capability contains invalid characters",
            ),
            (r#"{"capability":" noop"}"#, "capability contains invalid characters"),
            (
                r#"{"capability":"noop","topN":0}"#,
                "topN must be an integer between 1 and 1000",
            ),
            (
                r#"{"capability":"noop","topN":1001}"#,
                "topN must be an integer between 1 and 1000",
            ),
            (
                r#"{"capability":"noop","topN":1.5}"#,
                "topN must be an integer between 1 and 1000",
            ),
            (
                r#"{"capability":"noop","topN":"5"}"#,
                "topN must be an integer between 1 and 1000",
            ),
            (
                r#"{"capability":"noop","topN":-1}"#,
                "topN must be an integer between 1 and 1000",
            ),
            (
                r#"{"capability":"noop","filters":{"priceMax":"x"}}"#,
                "filters.priceMax must be a number",
            ),
            (
                r#"{"capability":"noop","slaWeights":[1]}"#,
                "slaWeights must be an object",
            ),
        ] {
            assert_eq!(refused(body), message, "{body}");
        }
        let long = format!(r#"{{"capability":"{}"}}"#, "a".repeat(129));
        assert_eq!(refused(&long), "capability must be 128 characters or fewer");
    }

    #[test]
    fn defaults_and_accepted_shapes() {
        let plain = RankRequest::parse(br#"{"capability":"streamdiffusion-sdxl"}"#).unwrap();
        assert_eq!(
            (plain.top_n, plain.weights, plain.filters),
            (10, None, Filters::default())
        );
        let full = RankRequest::parse(
            br#"{"capability":"gemma3:4b","topN":5.0,"filters":{"gpuRamGbMin":48,"maxSwapRatio":null},"slaWeights":{"latency":0.5,"price":null}}"#,
        )
        .unwrap();
        assert_eq!(full.top_n, 5);
        assert_eq!(full.filters.gpu_ram_gb_min, Some(48.0));
        assert_eq!(
            full.weights,
            Some(GivenWeights {
                latency: Given::Value(0.5),
                swap_rate: Given::Absent,
                price: Given::Null,
                ..GivenWeights::default()
            })
        );
        assert!(
            RankRequest::parse(br#"{"capability":"noop","slaWeights":{}}"#)
                .unwrap()
                .weights
                .is_some()
        );
        assert!(RankRequest::parse(br#"{"capability":"live-video-to-video/streamdiffusion"}"#).is_ok());
    }
}
