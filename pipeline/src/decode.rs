//! From a source message to an accepted batch or a quarantine reason.

use arrow::record_batch::RecordBatch;
use naap_events::{DecodeError, Family, HEADER_SCHEMA, HEADER_SCHEMA_VERSION, ipc, lake_types};

use crate::source::SourceMessage;
use crate::verify::Signatures;

/// A message checked and decoded: its signer, family and rows (and why
/// some of its rows were refused); or the quarantine reason and detail.
pub(crate) type Checked = Result<Decoded, (&'static str, String)>;

/// The accepted rows of a message.
#[derive(Debug, Clone)]
pub(crate) struct Decoded {
    pub(crate) signer: Option<String>,
    pub(crate) family: Family,
    pub(crate) batch: RecordBatch,
    /// Rows left out, with the reason and a detail naming the first.
    pub(crate) refused: Option<(&'static str, String)>,
}

/// Checks the signature (over the raw bytes, so a tampered message reads as
/// tampered, not as unreadable), decodes, and leaves out the rows holding a
/// value the lake cannot hold or a time after `latest_ms`. Runs on the
/// source's thread, beside the pipeline's own.
pub(crate) fn check_and_decode(signatures: &Signatures, msg: &SourceMessage, latest_ms: i64) -> Checked {
    let signer = signatures.check(msg).map_err(|e| (e.reason(), e.to_string()))?;
    let (family, batch) = decode(msg).map_err(|e| (e.reason(), e.to_string()))?;
    let unfit = lake_types::unfit_rows(&batch, latest_ms, family.non_finite_columns());
    let Some(first) = unfit.first else {
        return Ok(Decoded {
            signer,
            family,
            batch,
            refused: None,
        });
    };
    let detail = format!(
        "{} of {} events refused; the first, row {}: {}: {}",
        unfit.refused,
        batch.num_rows(),
        first.row,
        first.column,
        first.detail
    );
    let batch = arrow::compute::filter_record_batch(&batch, &unfit.keep)
        .map_err(|e| ("invalid_value", format!("leaving out refused rows: {e}")))?;
    Ok(Decoded {
        signer,
        family,
        batch,
        refused: Some((first.reason, detail)),
    })
}

/// Decodes a message by its schema headers.
pub(crate) fn decode(msg: &SourceMessage) -> Result<(Family, RecordBatch), DecodeError> {
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
