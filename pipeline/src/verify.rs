//! Who may publish as an orchestrator: signature checks and event dedup.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
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

/// Event ids of the most recent messages of one partition: a message
/// delivered twice (an emitter's spool resending after a crash, a backup
/// cluster) adds its events once. Remembered for the last
/// [`Dedup::HORIZON`] offsets, so decisions depend on the input only.
#[derive(Debug, Default, Clone)]
pub(crate) struct Dedup {
    ids: HashSet<String>,
    log: VecDeque<(i64, Vec<String>)>,
}

impl Dedup {
    pub(crate) const HORIZON: i64 = 100_000;

    /// Drops rows whose `event_id` was seen; returns the rest and how many went.
    pub(crate) fn filter(&mut self, batch: RecordBatch, offset: i64) -> arrow::error::Result<(RecordBatch, u64)> {
        while self.log.front().is_some_and(|(o, _)| *o < offset - Self::HORIZON) {
            if let Some((_, ids)) = self.log.pop_front() {
                for id in ids {
                    self.ids.remove(&id);
                }
            }
        }
        let Some(col) = batch.column_by_name("event_id") else {
            return Ok((batch, 0));
        };
        let col = arrow::compute::cast(col, &DataType::Utf8)?;
        let ids = col.as_string::<i32>();
        let mut fresh = Vec::new();
        let keep: BooleanArray = (0..ids.len())
            .map(|i| {
                let id = ids.value(i);
                let new = ids.is_valid(i) && self.ids.insert(id.to_owned());
                if new {
                    fresh.push(id.to_owned());
                }
                Some(new || ids.is_null(i))
            })
            .collect();
        let dropped = (batch.num_rows() - fresh.len()) as u64;
        if !fresh.is_empty() {
            self.log.push_back((offset, fresh));
        }
        if dropped == 0 {
            return Ok((batch, 0));
        }
        Ok((filter_record_batch(&batch, &keep)?, dropped))
    }

    /// (offset, event_id) pairs to persist.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (i64, &str)> {
        self.log
            .iter()
            .flat_map(|(o, ids)| ids.iter().map(move |id| (*o, id.as_str())))
    }

    pub(crate) fn restore(&mut self, offset: i64, id: &str) {
        self.ids.insert(id.to_owned());
        match self.log.back_mut() {
            Some((o, ids)) if *o == offset => ids.push(id.to_owned()),
            _ => self.log.push_back((offset, vec![id.to_owned()])),
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

    fn batch(ids: &[&str]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("event_id", DataType::Utf8, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(ids.to_vec()))]).unwrap()
    }

    #[test]
    fn repeats_are_dropped_within_the_horizon_only() {
        let mut d = Dedup::default();
        let (b, n) = d.filter(batch(&["a", "b"]), 0).unwrap();
        assert_eq!((ids(&b), n), (vec!["a".to_owned(), "b".to_owned()], 0));
        let (b, n) = d.filter(batch(&["b", "c", "c"]), 1).unwrap();
        assert_eq!((ids(&b), n), (vec!["c".to_owned()], 2));
        // Far beyond the horizon, "a" is forgotten.
        let (b, n) = d.filter(batch(&["a"]), Dedup::HORIZON + 5).unwrap();
        assert_eq!((ids(&b), n), (vec!["a".to_owned()], 0));
        let mut restored = Dedup::default();
        for (o, id) in d.entries() {
            restored.restore(o, id);
        }
        assert_eq!(restored.filter(batch(&["a"]), Dedup::HORIZON + 6).unwrap().1, 1);
    }
}
