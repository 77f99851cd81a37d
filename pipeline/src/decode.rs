//! From a source message to an accepted batch or a quarantine reason.

use arrow::record_batch::RecordBatch;
use naap_events::{DecodeError, Family, HEADER_SCHEMA, HEADER_SCHEMA_VERSION, ipc};

use crate::source::SourceMessage;
use crate::verify::Signatures;

/// A message checked and decoded: its signer, family and rows; or the
/// quarantine reason and detail.
pub(crate) type Checked = Result<(Option<String>, Family, RecordBatch), (&'static str, String)>;

/// Checks the signature (over the raw bytes, so a tampered message reads as
/// tampered, not as unreadable), then decodes. Runs on the source's thread,
/// beside the pipeline's own.
pub(crate) fn check_and_decode(signatures: &Signatures, msg: &SourceMessage) -> Checked {
    let signer = signatures.check(msg).map_err(|e| (e.reason(), e.to_string()))?;
    let (family, batch) = decode(msg).map_err(|e| (e.reason(), e.to_string()))?;
    Ok((signer, family, batch))
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
