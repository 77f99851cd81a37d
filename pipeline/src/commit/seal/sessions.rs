//! The `gateway_events` rows sealing one hour gives `sessions.sql`: every
//! event of each live-video session that has an event in the hour, from the
//! lookback's start to the settle horizon, and nothing else.
//!
//! `sessions.sql` (the only aggregate reading `gateway_events`) writes one
//! row per session with an event in the hour and reads only the session
//! families. Reading the whole lookback (24 h by default) for every hour
//! made each seal slower than the last and held a day of events in memory;
//! so the sealer keeps, per earlier hour of the lookback, the set of
//! session keys that hour's lake files hold, checked against the hour's
//! current files, and reads an earlier hour only when one of the sealed
//! hour's sessions has events in it — keeping those sessions' rows alone.
//!
//! The rows come in groups of whole sessions (by session key), about
//! `--seal-group-sessions` (2,500) sessions each, and `sessions.sql` runs once per
//! group: its joins and window functions then hold one group's events, not
//! the hour's (every row it writes reads only its own session's events and
//! the capability snapshots).
//!
//! What this holds: one `u64` per session and earlier hour (about 12 k
//! sessions an hour at network density: 100 KB an hour, 2.4 MB for a day's
//! lookback), and while one hour is sealed, that hour's events and the
//! earlier events of its own sessions.

use std::collections::{HashMap, HashSet};
use std::hash::Hasher;

use arrow::array::{Array, AsArray, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{cast, take_record_batch};
use arrow::datatypes::{DataType, Int64Type, SchemaRef};
use naap_events::gateway_tables::GATEWAY_EVENTS_TABLE;
use naap_sql::hourly::HOUR_MS;

use super::sealer::{from_lake, hours, names};
use super::{SealSpan, hour_of};
use crate::Result;
use crate::commit::tables::Tables;

/// The event families `sessions.sql` reads.
const SESSION_FAMILIES: [&str; 3] = ["stream_trace", "ai_stream_status", "ai_stream_events"];

/// The session keys each earlier hour's lake files hold.
#[derive(Debug, Default)]
pub(crate) struct SessionIndex {
    hours: HashMap<i64, HourKeys>,
}

#[derive(Debug)]
struct HourKeys {
    /// The hour's files the keys were read from (sorted paths).
    files: Vec<String>,
    keys: HashSet<u64>,
}

/// A session's key: a hash of `sessions.sql`'s session id (a collision
/// only lets another session's rows through, which the SQL groups apart).
fn session_key(stream: &str, request: &str, event: &str) -> u64 {
    let mut h = twox_hash::XxHash64::with_seed(0x6e61_6170_7365_7373);
    match (stream.is_empty(), request.is_empty()) {
        (false, false) => {
            h.write(stream.as_bytes());
            h.write(b"|");
            h.write(request.as_bytes());
        }
        (false, true) => {
            h.write(stream.as_bytes());
            h.write(b"|_missing_request");
        }
        (true, false) => {
            h.write(b"_missing_stream|");
            h.write(request.as_bytes());
        }
        (true, true) => {
            h.write(b"_missing_stream|_missing_request|");
            h.write(event.as_bytes());
        }
    }
    h.finish()
}

/// Per row: its event time and session key, or `None` for a row of
/// another family.
fn keys_of(batch: &RecordBatch) -> Result<Vec<Option<(i64, u64)>>> {
    let text = |name: &str| -> Result<StringArray> {
        let column = batch
            .column_by_name(name)
            .ok_or_else(|| arrow::error::ArrowError::SchemaError(format!("gateway_events lacks {name}")))?;
        Ok(cast(column, &DataType::Utf8)?.as_string::<i32>().clone())
    };
    let time = batch
        .column_by_name("event_time")
        .ok_or_else(|| arrow::error::ArrowError::SchemaError("gateway_events lacks event_time".into()))?;
    let time = cast(time, &DataType::Int64)?;
    let time = time.as_primitive::<Int64Type>();
    let (family, stream, request, event) = (
        text("family")?,
        text("stream_id")?,
        text("request_id")?,
        text("event_id")?,
    );
    Ok((0..batch.num_rows())
        .map(|i| {
            let session = !family.is_null(i) && SESSION_FAMILIES.contains(&family.value(i));
            (session && !time.is_null(i)).then(|| {
                (
                    time.value(i),
                    session_key(value(&stream, i), value(&request, i), value(&event, i)),
                )
            })
        })
        .collect())
}

fn value(a: &StringArray, i: usize) -> &str {
    if a.is_null(i) { "" } else { a.value(i) }
}

/// A batch of gateway events with each row's time and session key.
struct Keyed {
    batch: RecordBatch,
    keys: Vec<Option<(i64, u64)>>,
}

impl Keyed {
    fn new(batch: RecordBatch) -> Result<Self> {
        let keys = keys_of(&batch)?;
        Ok(Self { batch, keys })
    }

    fn sessions(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.keys.iter().flatten().copied()
    }

    /// The rows whose session is one of `sessions`, in [from, to), added to
    /// their session's group of `groups`.
    fn keep(&self, sessions: &HashSet<u64>, (from, to): (i64, i64), groups: &mut [Vec<RecordBatch>]) -> Result<()> {
        // One pass over the rows whatever the number of groups (a mask per
        // group made small groups cost rows × groups).
        let n = groups.len() as u64;
        let mut picks: Vec<Vec<u32>> = vec![Vec::new(); groups.len()];
        for (row, key) in self.keys.iter().enumerate() {
            if let Some((t, key)) = *key
                && t >= from
                && t < to
                && sessions.contains(&key)
            {
                picks[(key % n) as usize].push(row as u32);
            }
        }
        for (rows, pick) in groups.iter_mut().zip(picks) {
            if !pick.is_empty() {
                rows.push(take_record_batch(&self.batch, &UInt32Array::from(pick))?);
            }
        }
        Ok(())
    }
}

impl SessionIndex {
    /// The `gateway_events` rows for sealing the hour starting at `hour`:
    /// the lake's and `pending`'s, as `schema`, in groups of whole sessions.
    pub(crate) async fn rows(
        &mut self,
        tables: &mut Tables,
        pending: &[RecordBatch],
        schema: &SchemaRef,
        hour: i64,
        span: SealSpan,
    ) -> Result<Vec<Vec<RecordBatch>>> {
        let table = GATEWAY_EVENTS_TABLE;
        let (from, to) = (hour - span.lookback_ms, hour + HOUR_MS + span.settle_ms + 1);
        let (earlier, later) = (hours(from, hour), hours(hour, to));
        let mut files = tables
            .hour_files(table, &[earlier.clone(), later.clone()].concat())
            .await?;
        let columns = names(schema);
        // The hour and its settle time: its sessions are those with an event in the hour.
        let mut near = Vec::new();
        for h in &later {
            near.extend(from_lake(
                &tables.read_files(table, &files[h], Some(&columns)).await?,
                schema,
            )?);
        }
        near.extend(from_lake(pending, schema)?);
        let near = near.into_iter().map(Keyed::new).collect::<Result<Vec<_>>>()?;
        let in_hour = |(t, _): &(i64, u64)| *t >= hour && *t < hour + HOUR_MS;
        let sessions: HashSet<u64> = near
            .iter()
            .flat_map(|b| b.sessions().filter(in_hour).map(|(_, k)| k))
            .collect();
        let mut groups = vec![Vec::new(); sessions.len().div_ceil(span.group_sessions.max(1)).max(1)];
        for batch in near {
            batch.keep(&sessions, (from, to), &mut groups)?;
        }
        self.hours.retain(|h, _| *h >= hour_of(from));
        for h in earlier {
            let hour_files = files.remove(&h).unwrap_or_default();
            let mut paths: Vec<String> = hour_files.iter().map(|f| f.path.clone()).collect();
            paths.sort();
            let known = self.hours.get(&h).filter(|k| k.files == paths);
            if known.is_some_and(|k| k.keys.is_disjoint(&sessions)) {
                continue;
            }
            let read = from_lake(&tables.read_files(table, &hour_files, Some(&columns)).await?, schema)?;
            let rows = read.into_iter().map(Keyed::new).collect::<Result<Vec<_>>>()?;
            if known.is_none() {
                let keys = rows.iter().flat_map(|b| b.sessions().map(|(_, k)| k)).collect();
                self.hours.insert(h, HourKeys { files: paths, keys });
            }
            for batch in &rows {
                batch.keep(&sessions, (from, to), &mut groups)?;
            }
        }
        Ok(groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_sql_session_id() {
        // The same id as sessions.sql builds, whichever parts are missing.
        assert_eq!(session_key("s", "r", "e1"), session_key("s", "r", "e2"));
        assert_eq!(session_key("s", "", "e1"), session_key("s", "", "e2"));
        assert_eq!(session_key("", "r", "e1"), session_key("", "r", "e2"));
        assert_ne!(session_key("", "", "e1"), session_key("", "", "e2"));
        assert_ne!(session_key("s", "", "e"), session_key("", "s", "e"));
        assert_ne!(session_key("s", "r", "e"), session_key("s", "", "e"));
    }
}
