//! `job_payment`: how the gateway and the orchestrator keep the BYOC
//! balance of a (sender, capability). Price is wei per second of compute.
//! The orchestrator's two subtypes arrive relayed, without `data.type`.

use serde::Deserialize;
use serde_json::Value;

use super::{Subtype, blank_as_none, decode_subtype, milli_wei};
use crate::livepeer::{LivepeerError, OrchestratorInfo};

/// One `job_payment` event; wei amounts in thousandths of a wei where the
/// gateway writes them as `"x.xxx"` strings.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPayment {
    /// `payment_balance_sync`, `payment_created`, `payment_stream_cycle`,
    /// `payment_compute_charged` or `payment_insufficient_balance`.
    pub subtype: String,
    pub request_id: Option<String>,
    pub capability: Option<String>,
    /// The paying gateway's address.
    pub sender: Option<String>,
    pub orchestrator_info: OrchestratorInfo,
    /// The gateway's balance after a sync (and as `created` repeats it),
    /// or the orchestrator's view in `insufficient_balance`, milli-wei.
    pub balance_milli_wei: Option<i128>,
    /// The correction a sync applied (signed), milli-wei.
    pub diff_milli_wei: Option<i128>,
    pub min_balance_milli_wei: Option<i128>,
    pub reset_to_zero: Option<bool>,
    pub with_tickets: Option<bool>,
    pub elapsed_seconds: Option<i64>,
    pub price_per_unit: Option<i64>,
    pub total_charged_wei: Option<i64>,
    pub balance_after_wei: Option<i64>,
    pub on_error: Option<bool>,
    pub stream_id: Option<String>,
    pub success: Option<bool>,
    pub error: Option<String>,
}

impl JobPayment {
    /// The subtype's name (relayed ones inferred).
    pub fn subtype_name(&self) -> &'static str {
        PAYMENT_SUBTYPES
            .into_iter()
            .find(|s| *s == self.subtype)
            .unwrap_or("payment")
    }
}

/// The `job_payment` subtypes.
pub const PAYMENT_SUBTYPES: [&str; 5] = [
    "payment_balance_sync",
    "payment_created",
    "payment_stream_cycle",
    "payment_compute_charged",
    "payment_insufficient_balance",
];

pub(super) fn job_payment(data: Value) -> Result<JobPayment, LivepeerError> {
    const FAMILY: &str = "job_payment";
    let subtype = Subtype::of_relayed(
        FAMILY,
        &data,
        &[
            ("total_charged", "payment_compute_charged"),
            ("min_balance", "payment_insufficient_balance"),
        ],
    )?;
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default, deserialize_with = "blank_as_none")]
        request_id: Option<String>,
        #[serde(default, deserialize_with = "blank_as_none")]
        capability: Option<String>,
        #[serde(default, deserialize_with = "blank_as_none")]
        sender: Option<String>,
        #[serde(default, deserialize_with = "blank_as_none")]
        sender_address: Option<String>,
        #[serde(default)]
        orchestrator_info: OrchestratorInfo,
        /// A `"x.xxx"` wei string (sync, created) or whole wei (insufficient).
        #[serde(default)]
        balance: Option<Value>,
        #[serde(default)]
        diff: Option<String>,
        #[serde(default)]
        min_balance: Option<String>,
        #[serde(default)]
        reset_to_zero: Option<bool>,
        #[serde(default)]
        with_tickets: Option<bool>,
        #[serde(default)]
        elapsed_seconds: Option<i64>,
        #[serde(default)]
        price_per_unit: Option<i64>,
        #[serde(default)]
        total_charged: Option<i64>,
        #[serde(default)]
        balance_after: Option<i64>,
        #[serde(default)]
        on_error: Option<bool>,
        #[serde(default, deserialize_with = "blank_as_none")]
        stream_id: Option<String>,
        #[serde(default)]
        success: Option<bool>,
        #[serde(default, deserialize_with = "blank_as_none")]
        error: Option<String>,
    }
    if !PAYMENT_SUBTYPES.contains(&subtype.as_str()) {
        return Err(LivepeerError::UnknownSubtype {
            subtype: format!("{FAMILY}/{subtype}"),
        });
    }
    let raw: Raw = decode_subtype(FAMILY, data)?;
    let balance = match &raw.balance {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(milli_wei(FAMILY, "balance", text)?),
        Some(Value::Number(n)) => Some(milli_wei(FAMILY, "balance", &n.to_string())?),
        Some(other) => {
            return Err(LivepeerError::WrongType {
                family: FAMILY.into(),
                detail: format!("balance is {other}, not wei"),
            });
        }
    };
    Ok(JobPayment {
        subtype,
        request_id: raw.request_id,
        capability: raw.capability,
        sender: raw.sender.or(raw.sender_address),
        orchestrator_info: raw.orchestrator_info,
        balance_milli_wei: balance,
        diff_milli_wei: raw.diff.as_deref().map(|d| milli_wei(FAMILY, "diff", d)).transpose()?,
        min_balance_milli_wei: raw
            .min_balance
            .as_deref()
            .map(|d| milli_wei(FAMILY, "min_balance", d))
            .transpose()?,
        reset_to_zero: raw.reset_to_zero,
        with_tickets: raw.with_tickets,
        elapsed_seconds: raw.elapsed_seconds,
        price_per_unit: raw.price_per_unit,
        total_charged_wei: raw.total_charged,
        balance_after_wei: raw.balance_after,
        on_error: raw.on_error,
        stream_id: raw.stream_id,
        success: raw.success,
        error: raw.error,
    })
}
