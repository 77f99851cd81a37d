//! A message file (`naap emit --output`) or an NDJSON file of gateway
//! events, replayed: the record's (line's) position is its offset.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{
    CHUNK, CHUNK_BYTES, Check, InputFormat, Reader, SourceEvent, SourceMessage, decode_into, file_source_name,
};
use crate::{Error, Result};

/// Opens `path` (its magic checked here, so a wrong file fails the command
/// instead of replaying nothing) and returns its reading loop.
pub(super) fn reader(
    path: PathBuf,
    rate: Option<u32>,
    start: &BTreeMap<String, BTreeMap<i32, i64>>,
    format: InputFormat,
    check: Check,
    tx: mpsc::Sender<SourceEvent>,
) -> Result<Reader> {
    let file = std::fs::File::open(&path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let input = std::io::BufReader::new(file);
    let name = file_source_name(&path);
    let from = start.get(&name).and_then(|p| p.get(&0)).copied().unwrap_or(0);
    let input = match format {
        InputFormat::LivepeerJson => FileInput::Lines(input),
        InputFormat::NaapIpc => FileInput::Records(naap_events::framing::RecordReader::new(input).map_err(
            |source| Error::Input {
                path: path.display().to_string(),
                source,
            },
        )?),
    };
    Ok(Box::new(move || match input {
        FileInput::Records(reader) => read_file(reader, name, from, path, FileFeed::new(tx, rate, check)),
        FileInput::Lines(lines) => read_lines(lines, name, from, path, FileFeed::new(tx, rate, check)),
    }))
}

/// A replay file, opened for its format.
enum FileInput {
    Records(naap_events::framing::RecordReader<std::io::BufReader<std::fs::File>>),
    Lines(std::io::BufReader<std::fs::File>),
}

/// Hands a file's messages to the pipeline in chunks, at most `rate` per second.
struct FileFeed {
    tx: mpsc::Sender<SourceEvent>,
    chunk: Vec<SourceMessage>,
    chunk_bytes: usize,
    rate: Option<u32>,
    check: Check,
    started: Instant,
    sent: u64,
}

impl FileFeed {
    fn new(tx: mpsc::Sender<SourceEvent>, rate: Option<u32>, check: Check) -> Self {
        Self {
            tx,
            chunk: Vec::with_capacity(CHUNK),
            chunk_bytes: 0,
            rate,
            check,
            started: Instant::now(),
            sent: 0,
        }
    }

    /// False once the pipeline stopped listening.
    fn push(&mut self, mut message: SourceMessage) -> bool {
        self.chunk_bytes += message.payload.as_ref().map_or(0, Vec::len);
        self.chunk_bytes += decode_into(&self.check, &mut message);
        self.chunk.push(message);
        self.sent += 1;
        let chunk_size = if self.rate.is_some() { 1 } else { CHUNK };
        let full = self.chunk.len() >= chunk_size || self.chunk_bytes >= CHUNK_BYTES;
        if full {
            self.chunk_bytes = 0;
        }
        if full
            && self
                .tx
                .blocking_send(SourceEvent::Messages(std::mem::take(&mut self.chunk)))
                .is_err()
        {
            return false;
        }
        if let Some(rate) = self.rate {
            let due = Duration::from_secs_f64(self.sent as f64 / f64::from(rate.max(1)));
            if let Some(wait) = due.checked_sub(self.started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        true
    }

    fn finish(self, path: &std::path::Path) {
        if !self.chunk.is_empty() {
            let _ = self.tx.blocking_send(SourceEvent::Messages(self.chunk));
        }
        info!(path = %path.display(), messages = self.sent, "replay input read to the end");
    }
}

fn read_file(
    mut reader: naap_events::framing::RecordReader<std::io::BufReader<std::fs::File>>,
    name: String,
    from: i64,
    path: PathBuf,
    mut feed: FileFeed,
) {
    loop {
        let offset = reader.position() as i64;
        let record = match reader.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                // The rest of the file cannot be framed; say so loudly and stop
                // here, keeping everything before.
                warn!(path = %path.display(), offset, error = %e, "replay input is corrupt; stopping at this record");
                break;
            }
        };
        if offset < from {
            continue;
        }
        let (meta, value) = record;
        let message = SourceMessage {
            source: name.clone(),
            partition: 0,
            offset,
            key: meta.key.map(String::into_bytes),
            headers: meta.headers,
            payload: Some(value),
            timestamp_ms: meta.timestamp_ms,
            decoded: None,
            chain: None,
            routed: false,
        };
        if !feed.push(message) {
            return;
        }
    }
    feed.finish(&path);
}

/// One message per line (NDJSON); the line number is the offset.
fn read_lines(input: impl std::io::BufRead, name: String, from: i64, path: PathBuf, mut feed: FileFeed) {
    for (offset, line) in input.split(b'\n').enumerate() {
        let offset = offset as i64;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                warn!(path = %path.display(), offset, error = %e, "replay input unreadable; stopping at this line");
                break;
            }
        };
        if offset < from {
            continue;
        }
        let message = SourceMessage {
            source: name.clone(),
            partition: 0,
            offset,
            key: None,
            headers: Vec::new(),
            payload: Some(line),
            timestamp_ms: None,
            decoded: None,
            chain: None,
            routed: false,
        };
        if !feed.push(message) {
            return;
        }
    }
    feed.finish(&path);
}
