//! One Arrow IPC stream (schema + one or more record batches, zstd-compressed
//! buffers) per Kafka message value.

use std::io::Cursor;

use arrow::compute::concat_batches;
use arrow::error::ArrowError;
use arrow::ipc::CompressionType;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow::record_batch::RecordBatch;

use crate::Family;

mod bounds;

pub use bounds::{BoundsError, IpcBudget, IpcCheck, quietly_caught};

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
    quietly_caught(|| decode_inner(family, bytes)).unwrap_or(Err(DecodeError::DecoderPanic))
}

/// What one message may declare: a schema and a few batches, at most
/// 4 Mi rows and 256 MiB of buffers once decompressed.
pub const MESSAGE_BUDGET: IpcBudget = IpcBudget {
    max_messages: 64,
    max_rows: 4 << 20,
    max_decoded_bytes: 256 << 20,
};

fn decode_inner(family: Family, bytes: &[u8]) -> Result<RecordBatch, DecodeError> {
    IpcCheck::stream(MESSAGE_BUDGET, bytes).map_err(|e| DecodeError::Framing { detail: e.0 })?;
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
