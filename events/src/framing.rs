//! A file of Kafka messages, for `naap emit --output` and `naap replay`.
//!
//! ```text
//! "NAAPMSG1"                                   magic, once
//! repeated: u32 LE n, n bytes of JSON meta     {"key": .., "headers": [[k, v]..], "timestamp_ms": ..}
//!           u32 LE m, m bytes of value         the Kafka message value, as sent
//! ```
//!
//! The record's position in the file plays the role of its Kafka offset, so a
//! replay resumes exactly like a consumer does.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// The first bytes of every message file.
pub const MAGIC: &[u8; 8] = b"NAAPMSG1";
/// A record larger than this is refused (Kafka's own default limit is 1 MiB).
pub const MAX_RECORD_BYTES: u32 = 64 << 20;

/// Everything about a message except its value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<i64>,
}

/// Why a message file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    #[error("not a naap message file (bad magic)")]
    Magic,
    #[error("record {index}: {what} of {len} bytes exceeds the {MAX_RECORD_BYTES}-byte limit")]
    TooLarge { index: u64, what: &'static str, len: u32 },
    #[error("record {index}: file ends inside the record")]
    Truncated { index: u64 },
    #[error("{bytes} bytes follow the message's record")]
    Trailing { bytes: usize },
    #[error("record {index}: metadata is not valid JSON: {source}")]
    Meta { index: u64, source: serde_json::Error },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Writes the magic.
pub fn write_magic(out: &mut impl Write) -> io::Result<()> {
    out.write_all(MAGIC)
}

/// Appends one record.
pub fn write_record(out: &mut impl Write, meta: &MessageMeta, value: &[u8]) -> io::Result<()> {
    let meta = serde_json::to_vec(meta).map_err(io::Error::other)?;
    for part in [meta.as_slice(), value] {
        let len = u32::try_from(part.len()).map_err(|_| io::Error::other("record larger than 4 GiB"))?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(part)?;
    }
    Ok(())
}

/// One message as a payload of its own (a Streamr message carries one):
/// the magic, then its record.
pub fn encode_message(meta: &MessageMeta, value: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(value.len() + 256);
    write_magic(&mut out)?;
    write_record(&mut out, meta, value)?;
    Ok(out)
}

/// Reads a payload [`encode_message`] wrote. It comes from the network:
/// every length is checked against the bytes present before anything is
/// taken, and bytes after the record are refused.
pub fn decode_message(bytes: &[u8]) -> Result<(MessageMeta, Vec<u8>), FramingError> {
    let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(FramingError::Magic)?;
    let (meta, rest) = split_part(rest)?;
    let meta: MessageMeta = serde_json::from_slice(meta).map_err(|source| FramingError::Meta { index: 0, source })?;
    let (value, rest) = split_part(rest)?;
    if !rest.is_empty() {
        return Err(FramingError::Trailing { bytes: rest.len() });
    }
    Ok((meta, value.to_vec()))
}

/// One length-prefixed part of `bytes` and what follows it.
fn split_part(bytes: &[u8]) -> Result<(&[u8], &[u8]), FramingError> {
    let truncated = FramingError::Truncated { index: 0 };
    let (len, rest) = bytes.split_first_chunk::<4>().ok_or(truncated)?;
    let len = u32::from_le_bytes(*len) as usize;
    if rest.len() < len {
        return Err(FramingError::Truncated { index: 0 });
    }
    Ok(rest.split_at(len))
}

/// Reads records one by one.
#[derive(Debug)]
pub struct RecordReader<R> {
    input: R,
    index: u64,
}

impl<R: Read> RecordReader<R> {
    /// Checks the magic and positions at the first record.
    pub fn new(mut input: R) -> Result<Self, FramingError> {
        let mut magic = [0u8; 8];
        input.read_exact(&mut magic).map_err(|_| FramingError::Magic)?;
        if &magic != MAGIC {
            return Err(FramingError::Magic);
        }
        Ok(Self { input, index: 0 })
    }

    /// Index of the next record (its offset).
    pub fn position(&self) -> u64 {
        self.index
    }

    fn read_part(&mut self, what: &'static str, first: bool) -> Result<Option<Vec<u8>>, FramingError> {
        let mut len = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            let n = self.input.read(&mut len[got..])?;
            if n == 0 {
                return if got == 0 && first {
                    Ok(None)
                } else {
                    Err(FramingError::Truncated { index: self.index })
                };
            }
            got += n;
        }
        let len = u32::from_le_bytes(len);
        if len > MAX_RECORD_BYTES {
            return Err(FramingError::TooLarge {
                index: self.index,
                what,
                len,
            });
        }
        let mut buf = vec![0u8; len as usize];
        self.input
            .read_exact(&mut buf)
            .map_err(|_| FramingError::Truncated { index: self.index })?;
        Ok(Some(buf))
    }

    /// The next record, or `None` at a clean end of file.
    pub fn next_record(&mut self) -> Result<Option<(MessageMeta, Vec<u8>)>, FramingError> {
        let Some(meta) = self.read_part("metadata", true)? else {
            return Ok(None);
        };
        let meta: MessageMeta = serde_json::from_slice(&meta).map_err(|source| FramingError::Meta {
            index: self.index,
            source,
        })?;
        let value = self.read_part("value", false)?.unwrap_or_default();
        self.index += 1;
        Ok(Some((meta, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let mut buf = Vec::new();
        write_magic(&mut buf).unwrap();
        let meta = MessageMeta {
            key: Some("k".into()),
            headers: vec![("a".into(), "b".into())],
            timestamp_ms: Some(5),
        };
        write_record(&mut buf, &meta, b"hello").unwrap();
        write_record(&mut buf, &MessageMeta::default(), b"").unwrap();
        let mut r = RecordReader::new(buf.as_slice()).unwrap();
        assert_eq!(r.next_record().unwrap().unwrap(), (meta, b"hello".to_vec()));
        assert_eq!(r.next_record().unwrap().unwrap().1, b"");
        assert!(r.next_record().unwrap().is_none());
        assert_eq!(r.position(), 2);

        let cut = &buf[..buf.len() - 3];
        let mut r = RecordReader::new(cut).unwrap();
        r.next_record().unwrap();
        assert!(matches!(r.next_record(), Err(FramingError::Truncated { index: 1 })));
        assert!(matches!(RecordReader::new(&b"NOPE...."[..]), Err(FramingError::Magic)));
    }

    #[test]
    fn one_message_payloads_round_trip_and_refuse_what_does_not_add_up() {
        let meta = MessageMeta {
            key: Some("0xab".into()),
            headers: vec![("naap-schema".into(), "node_telemetry".into())],
            timestamp_ms: Some(7),
        };
        let bytes = encode_message(&meta, b"value").unwrap();
        assert_eq!(decode_message(&bytes).unwrap(), (meta, b"value".to_vec()));
        for cut in 0..bytes.len() {
            assert!(decode_message(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode_message(&longer),
            Err(FramingError::Trailing { bytes: 1 })
        ));
        // A length claiming 4 GiB is refused without allocating it.
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode_message(&huge), Err(FramingError::Truncated { .. })));
        assert!(matches!(decode_message(b"{\"json\": 1}"), Err(FramingError::Magic)));
    }
}
