//! Prepared statements the stateless way: the handle is the statement.
//!
//! A handle carries the SQL and, once bound, its parameters (one row, as
//! an Arrow IPC stream), so that any server instance can run it. Handles
//! come back from clients, so decoding one trusts nothing in it: every
//! length is checked against the bytes present before anything is
//! allocated for it, and a malformed handle is refused as such.

use arrow::record_batch::RecordBatch;
use datafusion::scalar::ScalarValue;
use tonic::Status;

use crate::QueryLimits;

const MAGIC: &[u8] = b"naap-ps1";

/// A prepared statement: its SQL and its bound parameters, if any.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) sql: String,
    params: Option<RecordBatch>,
}

fn bad(detail: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("not a prepared statement handle of this server: {detail}"))
}

impl Prepared {
    pub(crate) fn new(sql: String, params: Option<RecordBatch>) -> Self {
        Self { sql, params }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend((self.sql.len() as u64).to_be_bytes());
        out.extend(self.sql.as_bytes());
        if let Some(batch) = &self.params {
            let mut w = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &batch.schema())
                .expect("an in-memory IPC writer over a valid schema");
            w.write(batch).expect("writing a batch to memory");
            out.extend(w.into_inner().expect("finishing an in-memory IPC stream"));
        }
        out
    }

    /// Reads a handle a client sent back.
    pub(crate) fn decode(handle: &[u8], limits: &QueryLimits) -> Result<Prepared, Status> {
        let max = limits.max_sql_bytes + limits.max_put_bytes + MAGIC.len() + 8;
        if handle.len() > max {
            return Err(bad(format_args!("{} bytes, more than {max}", handle.len())));
        }
        let rest = handle.strip_prefix(MAGIC).ok_or_else(|| bad("no magic"))?;
        let (len, rest) = rest.split_first_chunk::<8>().ok_or_else(|| bad("truncated"))?;
        let len = u64::from_be_bytes(*len);
        if len > rest.len() as u64 {
            return Err(bad(format_args!("it claims {len} bytes of SQL, {} follow", rest.len())));
        }
        let (sql, ipc) = rest.split_at(len as usize);
        let sql = String::from_utf8(sql.to_vec()).map_err(|_| bad("the SQL is not UTF-8"))?;
        let params = if ipc.is_empty() {
            None
        } else {
            Some(parameters(ipc, limits)?)
        };
        Ok(Prepared { sql, params })
    }

    /// The bound values, `$1` first.
    pub(crate) fn params(&self) -> Result<Option<Vec<ScalarValue>>, Status> {
        let Some(batch) = &self.params else { return Ok(None) };
        batch
            .columns()
            .iter()
            .map(|c| ScalarValue::try_from_array(c, 0))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
            .map_err(|e| Status::invalid_argument(format!("bound parameter: {e}")))
    }
}

/// The one row of parameters in `ipc`, after what it declares checked out
/// (lengths inside the bytes present, decompressed sizes within the
/// parameter budget).
fn parameters(ipc: &[u8], limits: &QueryLimits) -> Result<RecordBatch, Status> {
    naap_events::ipc::IpcCheck::stream(limits.parameter_budget(), ipc).map_err(bad)?;
    // The framing holds; a reader that still trips on a forged flatbuffer
    // must fail this request, not the connection.
    let read = naap_events::ipc::quietly_caught(|| {
        let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc), None)?;
        reader.collect::<Result<Vec<RecordBatch>, _>>()
    });
    let batches = match read {
        Some(Ok(batches)) => batches,
        Some(Err(e)) => return Err(bad(e)),
        None => return Err(bad("unreadable parameters")),
    };
    match batches.as_slice() {
        [batch] if batch.num_rows() == 1 => Ok(batch.clone()),
        _ => Err(bad("the parameters are not one batch of one row")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn handle_with_param() -> Vec<u8> {
        let column: arrow::array::ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![7]));
        let batch = RecordBatch::try_from_iter([("$1", column)]).expect("batch");
        Prepared::new("SELECT $1".into(), Some(batch)).encode()
    }

    #[test]
    fn a_bound_handle_round_trips() {
        let decoded = Prepared::decode(&handle_with_param(), &QueryLimits::default()).expect("valid");
        assert_eq!(decoded.sql, "SELECT $1");
        assert_eq!(
            decoded.params().expect("params"),
            Some(vec![ScalarValue::Int64(Some(7))])
        );
    }

    #[test]
    fn a_compressed_parameter_declaring_a_terabyte_is_refused() {
        let column: arrow::array::ArrayRef = Arc::new(arrow::array::BinaryArray::from_vec(vec![&[7u8; 1000][..]]));
        let batch = RecordBatch::try_from_iter([("$1", column)]).expect("batch");
        for codec in [
            arrow::ipc::CompressionType::ZSTD,
            arrow::ipc::CompressionType::LZ4_FRAME,
        ] {
            let options = arrow::ipc::writer::IpcWriteOptions::default()
                .try_with_compression(Some(codec))
                .expect("options");
            let mut w = arrow::ipc::writer::StreamWriter::try_new_with_options(Vec::new(), &batch.schema(), options)
                .expect("writer");
            w.write(&batch).expect("write");
            let ipc = w.into_inner().expect("finish");
            let mut handle = MAGIC.to_vec();
            handle.extend(9u64.to_be_bytes());
            handle.extend(b"SELECT $1");
            // The values' uncompressed length, just before the frame's magic.
            let magic: &[u8] = match codec {
                arrow::ipc::CompressionType::ZSTD => b"\x28\xb5\x2f\xfd",
                _ => b"\x04\x22\x4d\x18",
            };
            let mut prefix = 1000i64.to_le_bytes().to_vec();
            prefix.extend(magic);
            let at = handle.len()
                + ipc
                    .windows(12)
                    .position(|w| w == prefix)
                    .expect("the values' uncompressed length");
            handle.extend(&ipc);
            let limits = QueryLimits::default();
            let honest = Prepared::decode(&handle, &limits).expect("honest compressed parameters");
            assert!(honest.params().expect("a value").is_some());
            handle[at..at + 8].copy_from_slice(&(1i64 << 40).to_le_bytes());
            let err = Prepared::decode(&handle, &limits).expect_err("a terabyte declared");
            assert_eq!(err.code(), tonic::Code::InvalidArgument);
            assert!(err.message().contains("decode to more than"), "{codec:?}: {err}");
        }
    }

    #[test]
    fn forged_lengths_are_refused_before_anything_is_allocated() {
        let limits = QueryLimits::default();
        let good = handle_with_param();
        let ipc_at = MAGIC.len() + 8 + "SELECT $1".len();
        // The schema message's metadata length claims 2^31 - 1 bytes.
        let mut huge_meta = good.clone();
        huge_meta[ipc_at + 4..ipc_at + 8].copy_from_slice(&i32::MAX.to_le_bytes());
        // The SQL length claims 2^64 - 1 bytes.
        let mut huge_sql = good.clone();
        huge_sql[MAGIC.len()..MAGIC.len() + 8].copy_from_slice(&u64::MAX.to_be_bytes());
        // The batch's body claims 1 TiB: its true length (8) patched where it
        // is stored in the batch message's metadata.
        let meta_len = i32::from_le_bytes(good[ipc_at + 4..ipc_at + 8].try_into().expect("4 bytes")) as usize;
        let batch_at = ipc_at + 8 + meta_len;
        let batch_meta_len = i32::from_le_bytes(good[batch_at + 4..batch_at + 8].try_into().expect("4 bytes")) as usize;
        let meta = batch_at + 8..batch_at + 8 + batch_meta_len;
        let body = (8i64).to_le_bytes();
        let at = good[meta.clone()]
            .windows(8)
            .position(|w| w == body)
            .expect("the body length is in the metadata");
        let mut huge_body = good.clone();
        huge_body[meta.start + at..meta.start + at + 8].copy_from_slice(&(1i64 << 40).to_le_bytes());
        for (name, forged) in [
            ("metadata", huge_meta),
            ("sql", huge_sql),
            ("body", huge_body),
            ("truncated", good[..good.len() - 3].to_vec()),
            (
                "noise",
                b"naap-ps1\0\0\0\0\0\0\0\0\xff\xff\xff\xff\x10\0\0\0garbage-garbage!".to_vec(),
            ),
        ] {
            let err = Prepared::decode(&forged, &limits).expect_err(name);
            assert_eq!(err.code(), tonic::Code::InvalidArgument, "{name}");
            assert!(err.message().contains("prepared statement handle"), "{name}: {err}");
        }
    }
}
