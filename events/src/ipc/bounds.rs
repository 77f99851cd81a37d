//! What an untrusted Arrow IPC stream may make a reader allocate, checked
//! before the reader sees it.
//!
//! Arrow's IPC reader trusts the sizes a message declares: a body length,
//! a row count, and, for a buffer compressed with zstd or lz4, the 8-byte
//! uncompressed length in front of it, which it allocates before
//! decompressing. From untrusted bytes that is an allocation of whatever
//! the sender wrote (2^40 bytes, say), and an allocation failure aborts the
//! process: no `catch_unwind` sees it. Every reader of client or producer
//! bytes in naap (the pipeline's message decoder, the server's
//! prepared-statement handles and DoPut parameter streams) walks the
//! messages through [`IpcCheck`] first, against one [`IpcBudget`].

use arrow::ipc::{Message, MessageHeader};

/// Bytes in front of every compressed IPC buffer: its uncompressed length
/// (little-endian i64; -1 means "stored uncompressed").
const LENGTH_PREFIX: i64 = 8;
const STORED_UNCOMPRESSED: i64 = -1;

/// The most one IPC stream may declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpcBudget {
    /// Messages (schema, dictionaries, batches).
    pub max_messages: usize,
    /// Rows of one batch, and elements of one of its columns.
    pub max_rows: i64,
    /// Bytes of all buffers together once decompressed.
    pub max_decoded_bytes: i64,
}

/// Why a stream was refused before reading it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BoundsError(pub String);

fn refuse(detail: impl Into<String>) -> BoundsError {
    BoundsError(detail.into())
}

/// A walk over the messages of one stream, adding up what they declare.
#[derive(Debug)]
pub struct IpcCheck {
    budget: IpcBudget,
    messages: usize,
    decoded: i64,
}

impl IpcCheck {
    pub fn new(budget: IpcBudget) -> Self {
        Self {
            budget,
            messages: 0,
            decoded: 0,
        }
    }

    /// A whole encapsulated stream: `[0xFFFFFFFF] <i32 metadata length>
    /// <metadata> <body>`, repeated, ending at its end or at a zero length.
    pub fn stream(budget: IpcBudget, bytes: &[u8]) -> Result<(), BoundsError> {
        let mut check = IpcCheck::new(budget);
        let mut rest = bytes;
        while !rest.is_empty() {
            let at = bytes.len() - rest.len();
            let (word, after) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| refuse(format!("truncated message length at byte {at}")))?;
            let (len, after) = if *word == [0xff; 4] {
                let (len, after) = after
                    .split_first_chunk::<4>()
                    .ok_or_else(|| refuse(format!("truncated message length at byte {at}")))?;
                (i32::from_le_bytes(*len), after)
            } else {
                (i32::from_le_bytes(*word), after)
            };
            if len == 0 {
                return Ok(());
            }
            let len = usize::try_from(len).map_err(|_| refuse(format!("negative metadata length at byte {at}")))?;
            if len > after.len() {
                return Err(refuse(format!(
                    "metadata of {len} bytes at byte {at} runs past the stream ({} bytes follow)",
                    after.len()
                )));
            }
            let (metadata, after) = after.split_at(len);
            let body_len = check.message(metadata, after)?;
            rest = &after[body_len..];
        }
        Ok(())
    }

    /// One message: its flatbuffer `metadata`, and the bytes its body is
    /// read from (the body comes first in them). Returns the body's length.
    pub fn message(&mut self, metadata: &[u8], body: &[u8]) -> Result<usize, BoundsError> {
        self.messages += 1;
        if self.messages > self.budget.max_messages {
            return Err(refuse(format!(
                "more than {} IPC messages in one stream",
                self.budget.max_messages
            )));
        }
        // Verified flatbuffer: offsets inside the bytes, nesting and table
        // counts bounded (a schema's field nesting included).
        let message =
            arrow::ipc::root_as_message(metadata).map_err(|e| refuse(format!("unreadable IPC metadata: {e}")))?;
        let body_len = usize::try_from(message.bodyLength())
            .ok()
            .filter(|n| *n <= body.len())
            .ok_or_else(|| {
                refuse(format!(
                    "a body of {} bytes is declared, {} are present",
                    message.bodyLength(),
                    body.len()
                ))
            })?;
        self.body(&message, &body[..body_len])?;
        Ok(body_len)
    }

    fn body(&mut self, message: &Message<'_>, body: &[u8]) -> Result<(), BoundsError> {
        let batch = match message.header_type() {
            MessageHeader::RecordBatch => message.header_as_record_batch(),
            MessageHeader::DictionaryBatch => message.header_as_dictionary_batch().and_then(|d| d.data()),
            MessageHeader::Schema => {
                // Arrow panics on a type it cannot read (an integer 13 bits
                // wide, a union with bad ids): read it here, where a panic
                // is a refusal, before a reader without that net does.
                let schema = message
                    .header_as_schema()
                    .ok_or_else(|| refuse("a schema message without its schema"))?;
                return quietly_caught(|| arrow::ipc::convert::fb_to_schema(schema))
                    .map(|_| ())
                    .ok_or_else(|| refuse("a schema of types Arrow cannot read"));
            }
            MessageHeader::NONE => return Ok(()),
            other => return Err(refuse(format!("IPC message type {other:?} is not read here"))),
        };
        let Some(batch) = batch else {
            return Err(refuse("a batch message without its batch"));
        };
        let max_rows = self.budget.max_rows;
        if !(0..=max_rows).contains(&batch.length()) {
            return Err(refuse(format!(
                "a batch of {} rows; at most {max_rows} are read",
                batch.length()
            )));
        }
        for node in batch.nodes().into_iter().flatten() {
            if !(0..=max_rows).contains(&node.length()) || !(0..=node.length()).contains(&node.null_count()) {
                return Err(refuse(format!(
                    "a column of {} values ({} null); at most {max_rows} are read",
                    node.length(),
                    node.null_count()
                )));
            }
        }
        let compressed = batch.compression().is_some();
        for buffer in batch.buffers().into_iter().flatten() {
            let (offset, length) = (buffer.offset(), buffer.length());
            let inside = offset >= 0
                && length >= 0
                && offset
                    .checked_add(length)
                    .is_some_and(|end| end as u64 <= body.len() as u64);
            if !inside {
                return Err(refuse(format!(
                    "buffer {offset}+{length} lies outside the {}-byte body",
                    body.len()
                )));
            }
            let decoded = if compressed && length > 0 {
                if length < LENGTH_PREFIX {
                    return Err(refuse(format!(
                        "a compressed buffer of {length} bytes has no length prefix"
                    )));
                }
                let at = offset as usize;
                let prefix: [u8; 8] = body[at..at + 8]
                    .try_into()
                    .expect("the buffer holds 8 bytes, checked above");
                match i64::from_le_bytes(prefix) {
                    STORED_UNCOMPRESSED => length - LENGTH_PREFIX,
                    n if n >= 0 => n,
                    n => return Err(refuse(format!("a compressed buffer declares {n} bytes"))),
                }
            } else {
                length
            };
            self.decoded = self.decoded.saturating_add(decoded);
            if self.decoded > self.budget.max_decoded_bytes {
                return Err(refuse(format!(
                    "its buffers decode to more than {} bytes, the most read from one stream",
                    self.budget.max_decoded_bytes
                )));
            }
        }
        Ok(())
    }
}

thread_local! {
    static EXPECTING_PANIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `read`, turning a panic into `None` without printing it: Arrow's
/// IPC reader panics on some forged metadata (types it does not know), and a sender that
/// forges them must not be able to fill the log with panic messages and
/// backtraces. Panics elsewhere, on any thread, still reach the hook that
/// was installed before.
pub fn quietly_caught<T>(read: impl FnOnce() -> T) -> Option<T> {
    static WRAP_HOOK: std::sync::Once = std::sync::Once::new();
    WRAP_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !EXPECTING_PANIC.with(|expecting| expecting.get()) {
                previous(info);
            }
        }));
    });
    let outer = EXPECTING_PANIC.with(|expecting| expecting.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read));
    EXPECTING_PANIC.with(|expecting| expecting.set(outer));
    result.ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array};
    use arrow::ipc::CompressionType;
    use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
    use arrow::record_batch::RecordBatch;
    use std::sync::Arc;

    const BUDGET: IpcBudget = IpcBudget {
        max_messages: 4,
        max_rows: 1000,
        max_decoded_bytes: 1 << 20,
    };

    fn stream(compression: Option<CompressionType>, rows: i64) -> Vec<u8> {
        let column: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows));
        let batch = RecordBatch::try_from_iter([("x", column)]).expect("batch");
        let options = IpcWriteOptions::default()
            .try_with_compression(compression)
            .expect("options");
        let mut w = StreamWriter::try_new_with_options(Vec::new(), &batch.schema(), options).expect("writer");
        w.write(&batch).expect("write");
        w.into_inner().expect("finish")
    }

    /// The byte offset of the first compressed buffer's length prefix: the
    /// prefix is the only place the uncompressed length (8 × rows) appears
    /// after the batch's metadata.
    fn patch_prefix(bytes: &mut [u8], rows: i64, to: i64) {
        let wanted = (rows * 8).to_le_bytes();
        let at = bytes
            .windows(8)
            .rposition(|w| w == wanted)
            .expect("the uncompressed length is in the stream");
        bytes[at..at + 8].copy_from_slice(&to.to_le_bytes());
    }

    #[test]
    fn honest_streams_pass_compressed_or_not() {
        for compression in [None, Some(CompressionType::ZSTD), Some(CompressionType::LZ4_FRAME)] {
            IpcCheck::stream(BUDGET, &stream(compression, 100)).expect("an honest stream");
        }
    }

    #[test]
    fn a_forged_uncompressed_length_is_refused_before_decompressing() {
        for compression in [CompressionType::ZSTD, CompressionType::LZ4_FRAME] {
            for forged in [1i64 << 40, i64::MAX, -2] {
                let mut bytes = stream(Some(compression), 100);
                patch_prefix(&mut bytes, 100, forged);
                let err = IpcCheck::stream(BUDGET, &bytes).expect_err("forged prefix");
                assert!(
                    err.0.contains("decode to more than") || err.0.contains("declares"),
                    "{compression:?} {forged}: {err}"
                );
            }
        }
    }

    #[test]
    fn too_many_rows_or_messages_are_refused() {
        let err = IpcCheck::stream(BUDGET, &stream(None, 1001)).expect_err("rows");
        assert!(err.0.contains("1001 rows"), "{err}");
        let one = stream(None, 1);
        let mut many = Vec::new();
        for _ in 0..5 {
            many.extend_from_slice(&one[..one.len() - 8]);
        }
        let err = IpcCheck::stream(BUDGET, &many).expect_err("messages");
        assert!(err.0.contains("IPC messages"), "{err}");
    }

    #[test]
    fn a_schema_of_unknown_types_is_refused_not_panicked_on() {
        use arrow::array::Int16Array;
        let column: ArrayRef = Arc::new(Int16Array::from_iter_values(0..4));
        let batch = RecordBatch::try_from_iter([("x", column)]).expect("batch");
        let mut w = StreamWriter::try_new(Vec::new(), &batch.schema()).expect("writer");
        w.write(&batch).expect("write");
        let bytes = w.into_inner().expect("finish");
        // The schema message comes first; its Int type's bit width (16, an
        // aligned i32 somewhere in it) becomes 17, which Arrow's conversion
        // panics on. Every aligned 16 is tried: none may panic here.
        let schema_end = 8 + i32::from_le_bytes(bytes[4..8].try_into().expect("length")) as usize;
        let refusals: Vec<String> = (8..schema_end - 4)
            .step_by(4)
            .filter(|&at| bytes[at..at + 4] == 16i32.to_le_bytes())
            .filter_map(|at| {
                let mut forged = bytes.clone();
                forged[at..at + 4].copy_from_slice(&17i32.to_le_bytes());
                IpcCheck::stream(BUDGET, &forged).err().map(|e| e.0)
            })
            .collect();
        assert!(
            refusals.iter().any(|e| e.contains("types Arrow cannot read")),
            "{refusals:?}"
        );
    }
}
