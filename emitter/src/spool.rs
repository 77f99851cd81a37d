//! The emitter's durable spool: every message is on disk before it is sent.
//!
//! A message is written to its own file (`<seq>.msg`: a header with a
//! CRC-32 of the body, then key, timestamp, headers and value), fsync'd,
//! atomically renamed into place and the directory fsync'd, and only then
//! offered to Kafka. It is deleted once the broker acknowledged it. A crash
//! or SIGKILL at any point therefore loses nothing: on restart every file
//! still in the spool is sent again, oldest first. A message may thus arrive
//! twice (acknowledged, then killed before the delete); every event carries a
//! stable `event_id` and the pipeline drops repeats.
//!
//! The spool is bounded in bytes. When a new message would exceed the bound,
//! the oldest messages are deleted and counted in [`SpoolStats::dropped`],
//! with a warning: data is lost only visibly.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use tracing::warn;

use crate::sink::EncodedMessage;

const MAGIC: &[u8; 8] = b"NAAPSPL1";

/// Why the spool failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("a message of {size} bytes exceeds the whole spool bound of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
}

/// Counters of a spool (since the process started).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Messages written to the spool.
    pub spooled: u64,
    /// Messages acknowledged and removed.
    pub sent: u64,
    /// Oldest messages deleted unsent because the spool was full.
    pub dropped: u64,
    /// Files that failed their checksum on read (moved aside, counted).
    pub corrupt: u64,
}

/// A bounded, crash-safe queue of messages in a directory.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    /// Sequence → size of every message file present.
    files: BTreeMap<u64, u64>,
    bytes: u64,
    next_seq: u64,
    stats: SpoolStats,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn encode(m: &EncodedMessage) -> Vec<u8> {
    let mut body = Vec::with_capacity(m.value.len() + 256);
    put_str(&mut body, &m.key);
    body.extend_from_slice(&m.timestamp_ms.to_be_bytes());
    body.extend_from_slice(&(m.headers.len() as u32).to_be_bytes());
    for (k, v) in &m.headers {
        put_str(&mut body, k);
        put_str(&mut body, v);
    }
    body.extend_from_slice(&(m.value.len() as u64).to_be_bytes());
    body.extend_from_slice(&m.value);
    let mut out = Vec::with_capacity(body.len() + 20);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    out.extend_from_slice(&(body.len() as u64).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

fn decode(bytes: &[u8]) -> Option<EncodedMessage> {
    let mut c = Cursor(bytes);
    if c.take(8)? != MAGIC {
        return None;
    }
    let crc = c.u32()?;
    let len = c.u64()? as usize;
    let body = c.take(len)?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    let mut b = Cursor(body);
    let key = b.string()?;
    let timestamp_ms = b.u64()? as i64;
    let n = b.u32()? as usize;
    let mut headers = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        headers.push((b.string()?, b.string()?));
    }
    let len = b.u64()? as usize;
    let value = b.take(len)?.to_vec();
    Some(EncodedMessage {
        key,
        headers,
        value,
        timestamp_ms,
    })
}

/// The file holding the next sequence number while the spool is empty.
const SEQUENCE_FILE: &str = "sequence";

fn read_sequence(dir: &Path) -> u64 {
    fs::read_to_string(dir.join(SEQUENCE_FILE))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

impl Spool {
    /// Opens (creating) the spool in `dir`, bounded to `max_bytes`.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Spool, SpoolError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut files = BTreeMap::new();
        let mut bytes = 0;
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(seq) = name.strip_suffix(".msg").and_then(|s| s.parse::<u64>().ok()) {
                let size = entry.metadata().map_err(io(&entry.path()))?.len();
                files.insert(seq, size);
                bytes += size;
            } else if name.ends_with(".tmp") {
                // A write the crash interrupted before its rename: never offered.
                let _ = fs::remove_file(entry.path());
            }
        }
        // Sequence numbers never go back, even after the spool emptied: they
        // are the agent's chain positions on Streamr.
        let next_seq = files.keys().next_back().map_or(0, |s| s + 1).max(read_sequence(dir));
        Ok(Spool {
            dir: dir.to_owned(),
            max_bytes,
            files,
            bytes,
            next_seq,
            stats: SpoolStats::default(),
        })
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.msg"))
    }

    /// Writes a message durably (fsync'd file and directory); drops the
    /// oldest messages first if the bound would be exceeded.
    pub fn push(&mut self, m: &EncodedMessage) -> Result<(), SpoolError> {
        self.push_all(std::slice::from_ref(m))
    }

    /// Writes messages durably, each file fsync'd and renamed into place,
    /// then the directory fsync'd once for all of them (one heartbeat's
    /// messages cost one directory sync, not one each); returns once all
    /// are on disk.
    pub fn push_all(&mut self, messages: &[EncodedMessage]) -> Result<(), SpoolError> {
        for m in messages {
            self.write(m)?;
        }
        if !messages.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// One message's file, fsync'd and renamed into place (the directory
    /// is the caller's to sync).
    fn write(&mut self, m: &EncodedMessage) -> Result<(), SpoolError> {
        let bytes = encode(m);
        let size = bytes.len() as u64;
        if size > self.max_bytes {
            return Err(SpoolError::TooLarge {
                size,
                limit: self.max_bytes,
            });
        }
        while self.bytes + size > self.max_bytes {
            let Some((&oldest, _)) = self.files.iter().next() else {
                break;
            };
            self.remove(oldest)?;
            self.stats.dropped += 1;
            warn!(
                dropped_total = self.stats.dropped,
                max_bytes = self.max_bytes,
                "spool full: dropped its oldest message unsent"
            );
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let tmp = self.dir.join(format!("{seq:020}.tmp"));
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        let path = self.path(seq);
        fs::rename(&tmp, &path).map_err(io(&path))?;
        self.files.insert(seq, size);
        self.bytes += size;
        self.stats.spooled += 1;
        Ok(())
    }

    /// The oldest messages, up to `limit`, with their sequence numbers.
    /// Files that fail their checksum are moved aside and counted.
    pub fn peek(&mut self, limit: usize) -> Result<Vec<(u64, EncodedMessage)>, SpoolError> {
        let mut out = Vec::new();
        let seqs: Vec<u64> = self.files.keys().copied().take(limit).collect();
        for seq in seqs {
            let path = self.path(seq);
            let mut bytes = Vec::new();
            File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .map_err(io(&path))?;
            match decode(&bytes) {
                Some(m) => out.push((seq, m)),
                None => {
                    warn!(path = %path.display(), "spool file fails its checksum; moved aside");
                    let aside = path.with_extension("corrupt");
                    fs::rename(&path, &aside).map_err(io(&path))?;
                    if let Some(size) = self.files.remove(&seq) {
                        self.bytes -= size;
                    }
                    self.stats.corrupt += 1;
                }
            }
        }
        Ok(out)
    }

    fn remove(&mut self, seq: u64) -> Result<(), SpoolError> {
        let path = self.path(seq);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
        if let Some(size) = self.files.remove(&seq) {
            self.bytes -= size;
        }
        Ok(())
    }

    /// Forgets messages the broker acknowledged.
    pub fn ack(&mut self, seqs: &[u64]) -> Result<(), SpoolError> {
        for &seq in seqs {
            self.remove(seq)?;
            self.stats.sent += 1;
        }
        if !seqs.is_empty() && self.files.is_empty() {
            self.write_sequence()?;
        }
        Ok(())
    }

    /// Keeps the next sequence number where no message file shows it.
    fn write_sequence(&self) -> Result<(), SpoolError> {
        let path = self.dir.join(SEQUENCE_FILE);
        let tmp = self.dir.join("sequence.tmp");
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(self.next_seq.to_string().as_bytes()).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io(&path))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn stats(&self) -> SpoolStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(i: u8, size: usize) -> EncodedMessage {
        EncodedMessage {
            key: format!("0x{i:040x}"),
            headers: vec![("naap-schema".into(), "node_telemetry".into())],
            value: vec![i; size],
            timestamp_ms: 1_767_908_945_298 + i64::from(i),
        }
    }

    #[test]
    fn messages_survive_reopening_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        for i in 0..5 {
            s.push(&message(i, 100)).unwrap();
        }
        s.ack(&[0, 1]).unwrap();
        drop(s);
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        let pending = s.peek(10).unwrap();
        assert_eq!(pending.iter().map(|(q, _)| *q).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(pending[0].1.value, vec![2; 100]);
        assert_eq!(pending[0].1.headers, message(2, 1).headers);
        // New messages continue the sequence.
        s.push(&message(9, 10)).unwrap();
        assert_eq!(s.peek(10).unwrap().last().unwrap().0, 5);
        // Also once the spool emptied: the sequence never goes back.
        s.ack(&[2, 3, 4, 5]).unwrap();
        drop(s);
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert!(s.is_empty());
        s.push(&message(1, 10)).unwrap();
        assert_eq!(s.peek(10).unwrap()[0].0, 6);
    }

    #[test]
    fn a_full_spool_drops_the_oldest_and_counts_it() {
        let dir = tempfile::tempdir().unwrap();
        let one = encode(&message(0, 1000)).len() as u64;
        let mut s = Spool::open(dir.path(), one * 3).unwrap();
        for i in 0..5 {
            s.push(&message(i, 1000)).unwrap();
        }
        assert_eq!(s.stats().dropped, 2);
        assert_eq!(s.len(), 3);
        let kept: Vec<u8> = s.peek(10).unwrap().iter().map(|(_, m)| m.value[0]).collect();
        assert_eq!(kept, vec![2, 3, 4]);
        assert!(matches!(s.push(&message(7, 10_000)), Err(SpoolError::TooLarge { .. })));
    }

    #[test]
    fn corrupt_files_are_moved_aside_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        s.push(&message(1, 50)).unwrap();
        s.push(&message(2, 50)).unwrap();
        let first = dir.path().join(format!("{:020}.msg", 0));
        let mut bytes = std::fs::read(&first).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&first, bytes).unwrap();
        let pending = s.peek(10).unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].1.value[0], 2);
        assert_eq!(s.stats().corrupt, 1);
        assert!(dir.path().join(format!("{:020}.corrupt", 0)).exists());
        // A torn write (never renamed) is not offered.
        std::fs::write(dir.path().join("00000000000000000099.tmp"), b"partial").unwrap();
        let s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(s.len(), 1);
    }
}
