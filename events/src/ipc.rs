//! One Arrow IPC stream (schema + one or more record batches, zstd-compressed
//! buffers) per Kafka message value.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use arrow::compute::concat_batches;
use arrow::error::ArrowError;
use arrow::ipc::CompressionType;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow::record_batch::RecordBatch;

use crate::Family;

/// Why a message value could not be turned into a batch of its family.
///
/// Every variant is a property of the input, never of the process: the
/// pipeline turns each into a quarantine row with [`DecodeError::reason`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("missing header {header}")]
    MissingHeader { header: &'static str },
    #[error("unknown schema {name:?} version {version:?}")]
    UnknownSchema { name: String, version: String },
    #[error("not a readable Arrow IPC stream: {source}")]
    Ipc { source: ArrowError },
    #[error("Arrow IPC stream holds no record batch")]
    Empty,
    #[error("payload schema does not match {family}: {detail}")]
    SchemaMismatch { family: Family, detail: String },
    #[error("malformed Arrow IPC framing: {detail}")]
    Framing { detail: String },
    #[error("Arrow IPC decoder panicked on malformed input")]
    DecoderPanic,
    #[error("invalid value in column {column}: {detail}")]
    InvalidValue { column: &'static str, detail: String },
}

impl DecodeError {
    /// A short, stable reason code for counters and the quarantine table.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::MissingHeader { .. } => "missing_header",
            DecodeError::UnknownSchema { .. } => "unknown_schema",
            DecodeError::Ipc { .. } | DecodeError::Framing { .. } => "ipc_unreadable",
            DecodeError::Empty => "ipc_empty",
            DecodeError::SchemaMismatch { .. } => "schema_mismatch",
            DecodeError::DecoderPanic => "ipc_decoder_panic",
            DecodeError::InvalidValue { .. } => "invalid_value",
        }
    }
}

/// Encodes one batch as an Arrow IPC stream with zstd-compressed buffers.
pub fn encode(batch: &RecordBatch) -> Result<Vec<u8>, ArrowError> {
    let options = IpcWriteOptions::default().try_with_compression(Some(CompressionType::ZSTD))?;
    let mut out = Vec::with_capacity(1024 + batch.get_array_memory_size() / 4);
    let mut writer = StreamWriter::try_new_with_options(&mut out, batch.schema_ref(), options)?;
    writer.write(batch)?;
    writer.finish()?;
    drop(writer);
    Ok(out)
}

/// Decodes a message value as `family`, validating the schema and the data.
///
/// Several batches in one stream are concatenated. Input from the network
/// is untrusted: a panic inside the Arrow decoder is caught and reported as
/// [`DecodeError::DecoderPanic`] instead of taking the pipeline down.
pub fn decode(family: Family, bytes: &[u8]) -> Result<RecordBatch, DecodeError> {
    catch_unwind(AssertUnwindSafe(|| decode_inner(family, bytes))).unwrap_or(Err(DecodeError::DecoderPanic))
}

/// Largest decoded batch accepted from one message (buffers after decompression).
pub const MAX_DECODED_BYTES: i64 = 256 << 20;
/// Largest row count accepted in one message.
pub const MAX_ROWS: i64 = 4 << 20;

/// Walks the IPC stream's framing before the Arrow reader sees it.
///
/// The Arrow reader allocates whatever body length and decompressed buffer
/// length a message declares; from untrusted bytes that is an allocation
/// failure, which aborts the process and cannot be caught. Every declared
/// size is checked against the bytes actually present (and the limits above)
/// first.
fn check_framing(bytes: &[u8]) -> Result<(), DecodeError> {
    let bad = |detail: String| DecodeError::Framing { detail };
    let read_i32 = |at: usize| -> Option<i32> {
        bytes
            .get(at..at + 4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut pos = 0usize;
    let mut decoded_total: i64 = 0;
    while pos < bytes.len() {
        let mut len = read_i32(pos).ok_or_else(|| bad(format!("truncated length at byte {pos}")))?;
        pos += 4;
        if len == -1 {
            len = read_i32(pos).ok_or_else(|| bad(format!("truncated length at byte {pos}")))?;
            pos += 4;
        }
        if len == 0 {
            return Ok(());
        }
        let len = usize::try_from(len).map_err(|_| bad(format!("negative metadata length at byte {pos}")))?;
        let meta = bytes
            .get(pos..pos.saturating_add(len))
            .ok_or_else(|| bad(format!("metadata of {len} bytes at byte {pos} runs past the message")))?;
        let message = arrow::ipc::root_as_message(meta).map_err(|e| bad(format!("metadata at byte {pos}: {e}")))?;
        pos += len;
        let body_len = usize::try_from(message.bodyLength()).map_err(|_| bad("negative body length".into()))?;
        let body = bytes
            .get(pos..pos.saturating_add(body_len))
            .ok_or_else(|| bad(format!("body of {body_len} bytes at byte {pos} runs past the message")))?;
        pos += body_len;
        let batch = message
            .header_as_record_batch()
            .or_else(|| message.header_as_dictionary_batch().and_then(|d| d.data()));
        let Some(batch) = batch else { continue };
        if !(0..=MAX_ROWS).contains(&batch.length()) {
            return Err(bad(format!("{} rows exceed the limit of {MAX_ROWS}", batch.length())));
        }
        let compressed = batch.compression().is_some();
        for buffer in batch.buffers().into_iter().flatten() {
            let (offset, length) = (buffer.offset(), buffer.length());
            let end = offset
                .checked_add(length)
                .filter(|e| offset >= 0 && length >= 0 && *e as u64 <= body_len as u64);
            if end.is_none() {
                return Err(bad(format!(
                    "buffer {offset}+{length} lies outside the {body_len}-byte body"
                )));
            }
            let decoded = if compressed && length >= 8 {
                let at = offset as usize;
                let prefix: [u8; 8] = body[at..at + 8].try_into().expect("8 bytes checked above");
                i64::from_le_bytes(prefix).max(length)
            } else {
                length
            };
            decoded_total = decoded_total.saturating_add(decoded);
            if decoded_total > MAX_DECODED_BYTES {
                return Err(bad(format!(
                    "decoded size exceeds the limit of {MAX_DECODED_BYTES} bytes"
                )));
            }
        }
    }
    Ok(())
}

fn decode_inner(family: Family, bytes: &[u8]) -> Result<RecordBatch, DecodeError> {
    check_framing(bytes)?;
    let reader = StreamReader::try_new(Cursor::new(bytes), None).map_err(|source| DecodeError::Ipc { source })?;
    let expected = family.schema();
    let got = reader.schema();
    if got.fields() != expected.fields() {
        return Err(DecodeError::SchemaMismatch {
            family,
            detail: describe_mismatch(&expected, &got),
        });
    }
    let mut batches = Vec::new();
    for batch in reader {
        batches.push(batch.map_err(|source| DecodeError::Ipc { source })?);
    }
    if batches.is_empty() {
        return Err(DecodeError::Empty);
    }
    let batch = if batches.len() == 1 {
        batches.pop().expect("one batch present")
    } else {
        concat_batches(&expected, &batches).map_err(|source| DecodeError::Ipc { source })?
    };
    // Rebind to the canonical schema so that metadata differences from the
    // producer cannot leak into the lake.
    let batch =
        RecordBatch::try_new(expected, batch.columns().to_vec()).map_err(|source| DecodeError::Ipc { source })?;
    crate::telemetry::validate(&batch)?;
    Ok(batch)
}

fn describe_mismatch(expected: &arrow::datatypes::Schema, got: &arrow::datatypes::Schema) -> String {
    for (i, want) in expected.fields().iter().enumerate() {
        match got.fields().get(i) {
            None => return format!("missing column {}", want.name()),
            Some(have) if have.name() != want.name() => {
                return format!("column {i} is {:?}, expected {:?}", have.name(), want.name());
            }
            Some(have) if have.data_type() != want.data_type() || have.is_nullable() != want.is_nullable() => {
                return format!(
                    "column {} is {}{}, expected {}{}",
                    want.name(),
                    have.data_type(),
                    if have.is_nullable() { " null" } else { "" },
                    want.data_type(),
                    if want.is_nullable() { " null" } else { "" },
                );
            }
            Some(_) => {}
        }
    }
    format!(
        "{} extra columns",
        got.fields().len().saturating_sub(expected.fields().len())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{TelemetryBatchBuilder, TelemetryEvent};

    fn sample() -> RecordBatch {
        let mut b = TelemetryBatchBuilder::default();
        for i in 0..10 {
            b.push(&TelemetryEvent::probe(
                format!("e{i}").parse().unwrap(),
                1_000 + i,
                "0x00000000000000000000000000000000000000aa".parse().unwrap(),
                "n1",
                "us-east",
                Some(12.5 + i as f64),
            ));
        }
        b.finish()
    }

    #[test]
    fn round_trip() {
        let batch = sample();
        let bytes = encode(&batch).unwrap();
        let back = decode(Family::NodeTelemetryV1, &bytes).unwrap();
        assert_eq!(back, batch);
    }

    #[test]
    fn random_bytes_truncation_and_garbage_never_panic() {
        let bytes = encode(&sample()).unwrap();
        for cut in [0, 1, 7, 8, 16, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(Family::NodeTelemetryV1, &bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut state = 0x9e3779b97f4a7c15u64;
        for len in 0..200 {
            let garbage: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            assert!(decode(Family::NodeTelemetryV1, &garbage).is_err());
        }
        // Flip every byte of a valid message once: decode may succeed or fail, never panic.
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0xff;
            let _ = decode(Family::NodeTelemetryV1, &flipped);
        }
    }

    #[test]
    fn wrong_schema_is_reported() {
        use arrow::array::Int32Array;
        use arrow::datatypes::{DataType, Field, Schema};
        use std::sync::Arc;
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int32Array::from(vec![1]))]).unwrap();
        let err = decode(Family::NodeTelemetryV1, &encode(&batch).unwrap()).unwrap_err();
        assert_eq!(err.reason(), "schema_mismatch");
    }
}
