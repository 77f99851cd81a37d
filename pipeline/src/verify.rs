//! Who may publish as an orchestrator: signature checks and event dedup.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use naap_events::signing::{self, HEADER_SIGNATURE, HEADER_SIGNER, SignatureError};
use naap_events::{HEADER_SCHEMA, HEADER_SCHEMA_VERSION};

use crate::source::SourceMessage;

/// What a source's messages must carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SignaturePolicy {
    /// Unsigned messages are accepted with `verified = false`; a signature
    /// that is present must be valid and from the orchestrator (or an
    /// operating address bound to it), or the message is quarantined.
    #[default]
    Verify,
    /// Every message must carry a valid signature.
    Require,
}

/// Signature policy per source (topic or file name) and address bindings.
#[derive(Debug, Clone, Default)]
pub struct Signatures {
    pub default_policy: SignaturePolicy,
    pub per_source: BTreeMap<String, SignaturePolicy>,
    /// Operating (signing) address → the orchestrators it may publish for.
    pub bindings: BTreeMap<String, BTreeSet<String>>,
}

impl Signatures {
    /// The verified signer of `msg`, `None` when unsigned and allowed.
    pub(crate) fn check(&self, msg: &SourceMessage) -> Result<Option<String>, SignatureError> {
        let policy = self.per_source.get(&msg.source).copied().unwrap_or(self.default_policy);
        let (signature, signer) = (msg.header(HEADER_SIGNATURE), msg.header(HEADER_SIGNER));
        if signature.is_none() && signer.is_none() && policy == SignaturePolicy::Verify {
            return Ok(None);
        }
        let key = msg.key.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
        signing::verify(
            signature,
            signer,
            msg.header(HEADER_SCHEMA).unwrap_or_default(),
            msg.header(HEADER_SCHEMA_VERSION).unwrap_or_default(),
            &key,
            msg.payload.as_deref().unwrap_or_default(),
            |signer, orchestrator| self.bindings.get(signer).is_some_and(|o| o.contains(orchestrator)),
        )
        .map(Some)
    }
}

/// The wire schema plus who signed each row.
pub(crate) fn with_signer_schema(wire: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = wire.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("signer", DataType::Utf8, true));
    fields.push(Field::new("verified", DataType::Boolean, false));
    Arc::new(Schema::new(fields))
}

/// Appends `signer` and `verified` to a decoded batch.
pub(crate) fn add_signer(
    batch: RecordBatch,
    schema: &SchemaRef,
    signer: Option<&str>,
) -> arrow::error::Result<RecordBatch> {
    let n = batch.num_rows();
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(StringArray::from(vec![signer; n])) as ArrayRef);
    columns.push(Arc::new(BooleanArray::from(vec![signer.is_some(); n])) as ArrayRef);
    RecordBatch::try_new(Arc::clone(schema), columns)
}

/// What the dedup set keeps of an event id: two seeded XXH64 hashes, 128
/// bits. A new event is mistaken for a repeat only if both collide with an
/// id remembered in its partition (~n²/2¹²⁹ for n ids in the horizon).
pub(crate) fn fingerprint(id: &str) -> u128 {
    let high = twox_hash::XxHash64::oneshot(0x6e61_6170_6964_0001, id.as_bytes());
    let low = twox_hash::XxHash64::oneshot(0x6e61_6170_6964_0002, id.as_bytes());
    (u128::from(high) << 64) | u128::from(low)
}

/// Start of the event-time second holding `t`: ids are grouped by second
/// (one map entry per second, not per event) and a second is forgotten
/// once all of it lies beyond the horizon.
fn second_of(t: i64) -> i64 {
    t.div_euclid(1_000) * 1_000
}

/// Hashes a fingerprint (already uniform) by taking its low bits.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LowBits(u64);

impl std::hash::Hasher for LowBits {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

/// Event ids of one partition's recent event time: an event delivered
/// twice (an emitter's spool resending after a crash, a backup cluster, a
/// replay) is added once. Ids are remembered while their event time is
/// within the horizon of the partition's newest event time, so the memory
/// follows the event rate per unit of event time, never the input's size,
/// and decisions depend on the input only.
#[derive(Debug, Default, Clone)]
pub(crate) struct Dedup {
    ids: HashSet<u128, std::hash::BuildHasherDefault<LowBits>>,
    /// Fingerprints by the event-time second they were accepted in.
    by_time: BTreeMap<i64, Vec<u128>>,
    newest: Option<i64>,
}

impl Dedup {
    /// Leaves out the rows older than `horizon_ms` before the newest event
    /// time (this batch's included): their ids may be forgotten already,
    /// so a repeat among them could not be told from a new event. Returns
    /// the rest and how many went.
    pub(crate) fn beyond_horizon(
        &self,
        batch: RecordBatch,
        horizon_ms: i64,
    ) -> arrow::error::Result<(RecordBatch, u64)> {
        let Some(t) = batch.column_by_name("event_time") else {
            return Ok((batch, 0));
        };
        let times = crate::window::epoch_ms(t).map_err(|e| arrow::error::ArrowError::ComputeError(e.to_string()))?;
        let newest = match (self.newest, arrow::compute::max(&times)) {
            (Some(a), Some(b)) => a.max(b),
            (a, b) => match a.or(b) {
                Some(n) => n,
                None => return Ok((batch, 0)),
            },
        };
        let cutoff = newest.saturating_sub(horizon_ms);
        let keep: BooleanArray = times.iter().map(|t| Some(t.is_none_or(|t| t >= cutoff))).collect();
        let gone = keep.false_count() as u64;
        if gone == 0 {
            return Ok((batch, 0));
        }
        Ok((filter_record_batch(&batch, &keep)?, gone))
    }

    /// Drops rows whose `event_id` was seen; returns the rest and how many went.
    pub(crate) fn filter(&mut self, batch: RecordBatch, horizon_ms: i64) -> arrow::error::Result<(RecordBatch, u64)> {
        let Some(col) = batch.column_by_name("event_id") else {
            return Ok((batch, 0));
        };
        let col = arrow::compute::cast(col, &DataType::Utf8)?;
        let ids = col.as_string::<i32>();
        let times = match batch.column_by_name("event_time") {
            Some(t) => {
                Some(crate::window::epoch_ms(t).map_err(|e| arrow::error::ArrowError::ComputeError(e.to_string()))?)
            }
            None => None,
        };
        // Move the horizon first: what falls out of it is forgotten before
        // this batch is checked.
        if let Some(max) = times.as_ref().and_then(arrow::compute::max) {
            self.newest = Some(self.newest.map_or(max, |n| n.max(max)));
        }
        self.forget_before(self.newest.map_or(i64::MIN, |n| n.saturating_sub(horizon_ms)));
        let mut fresh = 0usize;
        let keep: BooleanArray = (0..ids.len())
            .map(|i| {
                if ids.is_null(i) {
                    return Some(true);
                }
                let id = fingerprint(ids.value(i));
                let new = self.ids.insert(id);
                if new {
                    fresh += 1;
                    let t = times.as_ref().map_or(0, |t| t.value(i));
                    self.by_time.entry(second_of(t)).or_default().push(id);
                }
                Some(new)
            })
            .collect();
        let dropped = (batch.num_rows() - fresh - ids.null_count()) as u64;
        if dropped == 0 {
            return Ok((batch, 0));
        }
        Ok((filter_record_batch(&batch, &keep)?, dropped))
    }

    /// Forgets the ids of the whole seconds that end at or before `cutoff`.
    fn forget_before(&mut self, cutoff: i64) {
        while let Some(entry) = self.by_time.first_entry() {
            if entry.key().saturating_add(1_000) > cutoff {
                break;
            }
            for id in entry.remove() {
                self.ids.remove(&id);
            }
        }
    }

    /// (event time ms, fingerprint) pairs to persist.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (i64, u128)> {
        self.by_time
            .iter()
            .flat_map(|(t, ids)| ids.iter().map(move |id| (*t, *id)))
    }

    pub(crate) fn restore(&mut self, event_time_ms: i64, id: u128) {
        if self.ids.insert(id) {
            self.by_time.entry(second_of(event_time_ms)).or_default().push(id);
            self.newest = Some(self.newest.map_or(event_time_ms, |n| n.max(event_time_ms)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(batch: &RecordBatch) -> Vec<String> {
        batch
            .column_by_name("event_id")
            .unwrap()
            .as_string::<i32>()
            .iter()
            .map(|s| s.unwrap().to_owned())
            .collect()
    }

    /// Events `ids` at event time `t` seconds.
    fn batch(ids: &[&str], t: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("event_id", DataType::Utf8, false),
            Field::new("event_time", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(ids.to_vec())),
                Arc::new(arrow::array::Int64Array::from(vec![t * 1000; ids.len()])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn repeats_are_dropped_within_the_horizon_only() {
        let horizon = 60_000;
        let mut d = Dedup::default();
        let (b, n) = d.filter(batch(&["a", "b"], 0), horizon).unwrap();
        assert_eq!((ids(&b), n), (vec!["a".to_owned(), "b".to_owned()], 0));
        let (b, n) = d.filter(batch(&["b", "c", "c"], 30), horizon).unwrap();
        assert_eq!((ids(&b), n), (vec!["c".to_owned()], 2));
        // Once event time has moved past the horizon, "a" is forgotten; "c"
        // (30 s) is still remembered at 61 s.
        let (b, n) = d.filter(batch(&["a", "c"], 61), horizon).unwrap();
        assert_eq!((ids(&b), n), (vec!["a".to_owned()], 1));
        assert_eq!(d.ids.len(), 2, "b and c at 0 s are gone, c and a remain: {:?}", d.ids);
        let mut restored = Dedup::default();
        for (t, id) in d.entries() {
            restored.restore(t, id);
        }
        assert_eq!(restored.filter(batch(&["a", "c", "d"], 62), horizon).unwrap().1, 2);
    }

    #[test]
    fn what_lies_beyond_the_horizon_can_be_left_out() {
        let horizon = 60_000;
        let mut d = Dedup::default();
        d.filter(batch(&["a"], 100), horizon).unwrap();
        // "a" again at 30 s: forgotten already, so it cannot be checked.
        let (b, n) = d.beyond_horizon(batch(&["a"], 30), horizon).unwrap();
        assert_eq!((b.num_rows(), n), (0, 1));
        let (b, n) = d.beyond_horizon(batch(&["b"], 40), horizon).unwrap();
        assert_eq!((b.num_rows(), n), (1, 0));
        // The batch's own newest time counts too.
        let mut mixed = Dedup::default();
        let rows =
            arrow::compute::concat_batches(&batch(&[], 0).schema(), &[batch(&["x"], 0), batch(&["y"], 500)]).unwrap();
        assert_eq!(mixed.beyond_horizon(rows, horizon).unwrap().1, 1);
        assert_eq!(mixed.filter(batch(&["z"], 1), horizon).unwrap().1, 0);
    }
}
