//! Which input partitions this process holds: claiming them in a commit
//! record of its own, letting them go, and noticing when another process
//! took them over.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::Run;
use crate::manifest::Manifest;
use crate::source::PartitionKey;
use crate::window::PartitionWindows;
use crate::{Error, Result};

/// This process as the commit records name partition owners.
pub(crate) struct Ownership {
    pub(crate) me: String,
    /// Partitions come and go with the consumer group's assignments.
    pub(crate) scale_out: bool,
    /// Whoever holds this partition seals hours and compacts sealed files
    /// (scale-out; without it this process does).
    pub(crate) leader_key: Option<PartitionKey>,
    /// Partitions this process holds (scale-out).
    pub(crate) owned: BTreeSet<PartitionKey>,
}

impl Ownership {
    pub(crate) fn new(scale_out: bool, leader_key: Option<PartitionKey>) -> Self {
        Self {
            me: writer_id(),
            scale_out,
            leader_key,
            owned: BTreeSet::new(),
        }
    }

    /// Whether this process seals hours (and compacts the sealed files).
    pub(crate) fn leads(&self) -> bool {
        self.leader_key.as_ref().is_none_or(|k| self.owned.contains(k))
    }

    /// Whether messages of `key` are this process's to take.
    pub(crate) fn accepts(&self, key: &PartitionKey) -> bool {
        !self.scale_out || self.owned.contains(key)
    }

    /// This process's partitions `base` gives to another process.
    pub(crate) fn lost(&self, parts: &BTreeMap<PartitionKey, PartitionWindows>, base: &Manifest) -> Vec<PartitionKey> {
        parts
            .keys()
            .filter(|(s, p)| owner_of(base, s, *p).is_some_and(|o| o != self.me))
            .cloned()
            .collect()
    }

    /// Fails with [`Error::Lost`] if another process has claimed one of this
    /// process's partitions since (it was cut off from the group for too long).
    pub(crate) fn check(&self, parts: &BTreeMap<PartitionKey, PartitionWindows>, base: &Manifest) -> Result<()> {
        match self.lost(parts, base).into_iter().next() {
            None => Ok(()),
            Some((source, partition)) => Err(Error::Lost {
                owner: owner_of(base, &source, partition).unwrap_or_default().to_owned(),
                source_name: source,
                partition,
            }),
        }
    }
}

fn owner_of<'a>(base: &'a Manifest, source: &str, partition: i32) -> Option<&'a str> {
    base.sources
        .get(source)
        .and_then(|ps| ps.get(&partition))
        .and_then(|e| e.owner.as_deref())
}

/// A name for this process, unique among the pipelines of one lake.
fn writer_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("w{}x{:x}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

impl Run {
    /// Takes `keys` over: records this process as their owner in a commit
    /// record of its own (from then on a previous holder's commits leave
    /// them alone), finishes whatever record the tables lack, loads their
    /// open windows and remembered ids, and returns where to read each.
    pub(super) async fn claim(
        &mut self,
        keys: &[PartitionKey],
        stop: &mut watch::Receiver<bool>,
    ) -> Result<BTreeMap<PartitionKey, i64>> {
        let fresh: Vec<PartitionKey> = keys
            .iter()
            .filter(|k| !self.owner.owned.contains(*k))
            .cloned()
            .collect();
        let lake = self.config.lake.clone();
        let me = self.owner.me.clone();
        let mut delay = Duration::from_millis(200);
        loop {
            let attempt = async {
                let latest = Manifest::load_latest(&lake).await?.unwrap_or_default();
                let mine = |(s, p): &PartitionKey| owner_of(&latest, s, *p) == Some(me.as_str());
                if fresh.iter().all(mine) || fresh.is_empty() {
                    return Ok(latest);
                }
                let mut claim = latest.clone();
                claim.format = crate::manifest::MANIFEST_FORMAT;
                claim.seq += 1;
                claim.committed_at_ms = super::now_ms();
                claim.writer = me.clone();
                claim.tables.clear();
                for (s, p) in &fresh {
                    let progress = claim.sources.entry(s.clone()).or_default().entry(*p).or_default();
                    progress.owner = Some(me.clone());
                    progress.generation = Some(claim.seq);
                }
                claim.write(&lake).await.map(|()| claim)
            };
            match attempt.await {
                Ok(record) => {
                    self.adopt(record);
                    break;
                }
                Err(Error::Fenced { seq }) => debug!(seq, "another process committed first; claiming again"),
                Err(e) => {
                    if *stop.borrow() {
                        return Err(e);
                    }
                    warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "cannot claim partitions yet; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
        // A previous holder may have crashed between its record and its tables.
        let base = self.base.clone();
        self.tables.roll_forward(&base).await?;
        self.load_state(&fresh).await?;
        if self.owner.scale_out {
            self.owner.owned.extend(fresh.iter().cloned());
            info!(claimed = fresh.len(), holding = self.owner.owned.len(), partitions = ?fresh, "claimed partitions");
        }
        Ok(keys
            .iter()
            .map(|k| (k.clone(), self.input.parts.get(k).map_or(0, |p| p.progress.next_offset)))
            .collect())
    }

    /// Lets partitions go (after committing them): the group hands them to
    /// another process, which resumes from the commit records.
    pub(super) fn release(&mut self, keys: &[PartitionKey]) {
        for key in keys {
            self.owner.owned.remove(key);
            self.input.forget(key);
        }
        info!(
            released = keys.len(),
            holding = self.owner.owned.len(),
            "released partitions"
        );
    }
}
