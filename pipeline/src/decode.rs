//! From a source message to what it holds: telemetry rows, sample rows, a
//! go-livepeer gateway event, or the reason it is refused. The one place a
//! message is read; it runs on the source's thread, beside the pipeline's own.

use std::time::Duration;

use arrow::record_batch::RecordBatch;
use naap_events::livepeer::{self, Envelope};
use naap_events::{DecodeError, Family, HEADER_SCHEMA, HEADER_SCHEMA_VERSION, ipc, lake_types};

use crate::source::{InputFormat, SourceMessage};
use crate::verify::Signatures;

/// What one message holds.
#[derive(Debug, Clone)]
pub(crate) enum Decoded {
    /// naap's node telemetry: rows to window.
    Telemetry(Rows),
    /// One of naap's sample families: rows kept as they are.
    Sample(Rows),
    /// A go-livepeer gateway event (its refused parts inside).
    Gateway(Box<Envelope>),
    /// Refused whole, with the quarantine reason and a detail.
    Refused { reason: &'static str, detail: String },
}

/// The accepted rows of one of naap's own messages.
#[derive(Debug, Clone)]
pub(crate) struct Rows {
    pub(crate) signer: Option<String>,
    pub(crate) family: Family,
    pub(crate) batch: RecordBatch,
    /// Rows left out, with the reason and a detail naming the first.
    pub(crate) refused: Option<(&'static str, String)>,
}

/// A parsed gateway event's memory, in multiples of its JSON text: an
/// estimate, not a measurement per message (the `data` tree keeps every
/// key and value in its own allocation, the typed event and the compact
/// `data` text copy some again), chosen high so read-ahead stays under its
/// bound rather than over it.
const GATEWAY_MEMORY_PER_BYTE: usize = 4;

impl Decoded {
    /// Memory it holds besides the message's payload (read-ahead counts it).
    pub(crate) fn memory(&self, payload_len: usize) -> usize {
        match self {
            Decoded::Telemetry(rows) | Decoded::Sample(rows) => rows.batch.get_array_memory_size(),
            Decoded::Gateway(_) => payload_len.saturating_mul(GATEWAY_MEMORY_PER_BYTE),
            Decoded::Refused { detail, .. } => detail.len(),
        }
    }

    fn refused(reason: &'static str, detail: String) -> Self {
        Decoded::Refused { reason, detail }
    }
}

/// How the messages of one run are read.
#[derive(Debug, Clone)]
pub(crate) struct Decoder {
    pub(crate) format: InputFormat,
    pub(crate) signatures: Signatures,
    /// How far ahead of this machine's clock an event's time may be.
    pub(crate) max_future_skew: Duration,
}

impl Decoder {
    /// Reads one message. Times at or after now + the allowed skew are refused.
    pub(crate) fn decode(&self, msg: &SourceMessage) -> Decoded {
        let now = crate::commit::now_ms();
        let skew = i64::try_from(self.max_future_skew.as_millis()).unwrap_or(i64::MAX);
        let latest_ms = now.saturating_add(skew);
        match self.format {
            InputFormat::NaapIpc => self.naap_message(msg, latest_ms),
            InputFormat::LivepeerJson => gateway_event(msg, latest_ms),
        }
    }

    /// Checks the signature (over the raw bytes, so a tampered message reads
    /// as tampered, not as unreadable), decodes, and leaves out the rows
    /// holding a value the lake cannot hold or a time at or after `latest_ms`.
    fn naap_message(&self, msg: &SourceMessage, latest_ms: i64) -> Decoded {
        let signer = match self.signatures.check(msg) {
            Ok(signer) => signer,
            Err(e) => return Decoded::refused(e.reason(), e.to_string()),
        };
        let (family, batch) = match framed(msg) {
            Ok(decoded) => decoded,
            Err(e) => return Decoded::refused(e.reason(), e.to_string()),
        };
        let unfit = lake_types::unfit_rows(&batch, latest_ms, family.non_finite_columns());
        let (batch, refused) = match unfit.first {
            None => (batch, None),
            Some(first) => {
                let detail = format!(
                    "{} of {} events refused; the first, row {}: {}: {}",
                    unfit.refused,
                    batch.num_rows(),
                    first.row,
                    first.column,
                    first.detail
                );
                match arrow::compute::filter_record_batch(&batch, &unfit.keep) {
                    Ok(kept) => (kept, Some((first.reason, detail))),
                    Err(e) => return Decoded::refused("invalid_value", format!("leaving out refused rows: {e}")),
                }
            }
        };
        let rows = Rows {
            signer,
            family,
            batch,
            refused,
        };
        if family == Family::NodeTelemetryV1 {
            Decoded::Telemetry(rows)
        } else {
            Decoded::Sample(rows)
        }
    }
}

/// A go-livepeer event as the gateway sent it (JSON), or why not.
fn gateway_event(msg: &SourceMessage, latest_ms: i64) -> Decoded {
    let envelope = match livepeer::decode(msg.payload.as_deref().unwrap_or_default()) {
        Ok(envelope) => envelope,
        Err(e) => return Decoded::refused(e.reason(), e.to_string()),
    };
    if envelope.timestamp_ms >= latest_ms {
        return Decoded::refused(
            "time_in_future",
            lake_types::future_detail(envelope.timestamp_ms, latest_ms),
        );
    }
    Decoded::Gateway(Box::new(envelope))
}

/// Decodes one of naap's messages by its schema headers.
fn framed(msg: &SourceMessage) -> Result<(Family, RecordBatch), DecodeError> {
    let name = msg
        .header(HEADER_SCHEMA)
        .ok_or(DecodeError::MissingHeader { header: HEADER_SCHEMA })?;
    let version = msg.header(HEADER_SCHEMA_VERSION).ok_or(DecodeError::MissingHeader {
        header: HEADER_SCHEMA_VERSION,
    })?;
    let family = Family::from_headers(name, version).ok_or_else(|| DecodeError::UnknownSchema {
        name: name.to_owned(),
        version: version.to_owned(),
    })?;
    ipc::decode(family, msg.payload.as_deref().unwrap_or_default()).map(|b| (family, b))
}
