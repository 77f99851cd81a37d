//! The transports an agent delivers through (Kafka, Streamr or both): a
//! spooled message leaves the spool once every chosen transport
//! acknowledged it. One that only some took is sent again only to the
//! others (within a run; after a restart it goes to all again, and the
//! pipeline drops the repeats by event id).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::publish::Delivery;
use crate::sink::EncodedMessage;
use crate::streamr::StreamrDelivery;

const KAFKA: u8 = 1;
const STREAMR: u8 = 2;

/// Kafka's delivery, Streamr's, or both.
#[derive(Debug)]
pub struct Transports {
    kafka: Option<Delivery>,
    streamr: Option<StreamrDelivery>,
    /// Which transports took a message still spooled (bits).
    taken: BTreeMap<u64, u8>,
    /// How long Streamr's answers are waited for.
    timeout: Duration,
}

impl Transports {
    pub fn new(kafka: Option<Delivery>, streamr: Option<StreamrDelivery>, timeout: Duration) -> Self {
        assert!(kafka.is_some() || streamr.is_some(), "at least one transport");
        Transports {
            kafka,
            streamr,
            taken: BTreeMap::new(),
            timeout,
        }
    }

    fn all(&self) -> u8 {
        (if self.kafka.is_some() { KAFKA } else { 0 }) | (if self.streamr.is_some() { STREAMR } else { 0 })
    }

    /// Starts what takes a while to start (the Streamr sidecar).
    pub async fn start(&mut self) {
        if let Some(s) = &mut self.streamr {
            s.start().await;
        }
    }

    /// Sends `batch` through each transport that has not taken a message
    /// yet; returns the sequence numbers every transport has now taken.
    pub async fn send(&mut self, batch: &[(u64, EncodedMessage)]) -> Vec<u64> {
        if let Some((first, _)) = batch.first() {
            // Messages before the oldest spooled one are gone (dropped when full).
            self.taken = self.taken.split_off(first);
        }
        // The whole batch, unless a transport took some of it already (then
        // only what it lacks: a copy, in the rare round after a failure).
        let pending = |bit: u8, taken: &BTreeMap<u64, u8>| -> Cow<'_, [(u64, EncodedMessage)]> {
            if taken.is_empty() {
                return Cow::Borrowed(batch);
            }
            Cow::Owned(
                batch
                    .iter()
                    .filter(|(seq, _)| taken.get(seq).is_none_or(|t| t & bit == 0))
                    .cloned()
                    .collect(),
            )
        };
        let to_kafka = pending(KAFKA, &self.taken);
        let to_streamr = pending(STREAMR, &self.taken);
        let timeout = self.timeout;
        let kafka = async {
            match &mut self.kafka {
                Some(k) if !to_kafka.is_empty() => k.send(&to_kafka).await,
                _ => Vec::new(),
            }
        };
        let streamr = async {
            match &mut self.streamr {
                Some(s) if !to_streamr.is_empty() => s.send(&to_streamr, timeout).await,
                _ => Vec::new(),
            }
        };
        let (by_kafka, by_streamr) = tokio::join!(kafka, streamr);
        for seq in by_kafka {
            *self.taken.entry(seq).or_default() |= KAFKA;
        }
        for seq in by_streamr {
            *self.taken.entry(seq).or_default() |= STREAMR;
        }
        let all = self.all();
        let done: Vec<u64> = batch
            .iter()
            .map(|(seq, _)| *seq)
            .filter(|seq| self.taken.get(seq).is_some_and(|t| t & all == all))
            .collect();
        for seq in &done {
            self.taken.remove(seq);
        }
        done
    }

    /// The newest problem of a transport that has one.
    pub fn last_problem(&self) -> Option<String> {
        let kafka = self.kafka.as_ref().and_then(Delivery::last_problem);
        let streamr = self
            .streamr
            .as_ref()
            .and_then(StreamrDelivery::last_problem)
            .map(|p| format!("streamr: {p}"));
        kafka.or(streamr)
    }

    /// Stops what runs beside the agent (the sidecar).
    pub async fn stop(&mut self) {
        if let Some(s) = &mut self.streamr {
            s.stop().await;
        }
    }
}
