//! Who holds a listener's connections: a share per client address, and
//! which connections have not said anything yet.
//!
//! One [`Ledger`] per listener counts the connections it holds, in all and
//! per address (an IPv4 address, or an IPv6 /64: one host's whole prefix).
//! A connection that has not sent a byte since it was accepted is *silent*;
//! when a listener or an address is at its limit, the oldest silent
//! connection is the one closed to make room, so connections opened and
//! left idle can never keep out a client that speaks.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// A silent connection younger than this is never closed to make room: its
/// client may be about to speak.
pub(crate) const EVICTABLE_AFTER: Duration = Duration::from_millis(500);

/// The unit a share is counted by: an IPv4 address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct AddrKey(IpAddr);

impl AddrKey {
    pub(crate) fn of(peer: SocketAddr) -> AddrKey {
        match peer.ip() {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddrKey(IpAddr::V4(v4)),
                None => {
                    let mut octets = v6.octets();
                    octets[8..].fill(0);
                    AddrKey(IpAddr::from(octets))
                }
            },
            v4 => AddrKey(v4),
        }
    }
}

/// What a held connection and its ledger share: whether it has spoken, and
/// whether the ledger closed it to make room.
#[derive(Debug, Default)]
pub(crate) struct ConnState {
    spoke: AtomicBool,
    evicted: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl ConnState {
    pub(crate) fn spoke(&self) {
        self.spoke.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    /// Whoever waits on the connection is woken when it is evicted.
    pub(crate) fn wake_on_eviction(&self, waker: &Waker) {
        let mut slot = self.waker.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_none_or(|w| !w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }

    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        if let Some(w) = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            w.wake();
        }
    }
}

#[derive(Debug, Default)]
struct Holder {
    held: usize,
    /// Its held connections in the order they were accepted.
    conns: VecDeque<(u64, Instant, Arc<ConnState>)>,
}

#[derive(Debug, Default)]
struct Book {
    held: usize,
    next_id: u64,
    by_addr: HashMap<AddrKey, Holder>,
}

/// The connections one listener holds.
#[derive(Debug)]
pub(crate) struct Ledger {
    max: usize,
    per_address: usize,
    book: Mutex<Book>,
    /// Signalled whenever a held connection ends.
    pub(crate) freed: Notify,
}

/// A held connection's place in its ledger; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Place {
    ledger: Arc<Ledger>,
    key: AddrKey,
    id: u64,
    pub(crate) state: Arc<ConnState>,
}

impl Drop for Place {
    fn drop(&mut self) {
        {
            let mut book = self.ledger.lock();
            book.held = book.held.saturating_sub(1);
            if let Some(h) = book.by_addr.get_mut(&self.key) {
                h.held = h.held.saturating_sub(1);
                h.conns.retain(|(id, _, _)| *id != self.id);
                if h.held == 0 {
                    book.by_addr.remove(&self.key);
                }
            }
        }
        self.ledger.freed.notify_one();
    }
}

impl Ledger {
    pub(crate) fn new(max: usize, per_address: usize) -> Arc<Ledger> {
        Arc::new(Ledger {
            max: max.max(1),
            per_address: per_address.clamp(1, max.max(1)),
            book: Mutex::new(Book::default()),
            freed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connections held now, in all.
    pub(crate) fn held(&self) -> usize {
        self.lock().held
    }

    /// A place for a connection from `key`, if the listener and the
    /// address both have room.
    pub(crate) fn admit(self: &Arc<Self>, key: AddrKey) -> Option<Place> {
        let mut book = self.lock();
        let holder_held = book.by_addr.get(&key).map_or(0, |h| h.held);
        if book.held >= self.max || holder_held >= self.per_address {
            return None;
        }
        book.held += 1;
        book.next_id += 1;
        let id = book.next_id;
        let state = Arc::new(ConnState::default());
        let holder = book.by_addr.entry(key).or_default();
        holder.held += 1;
        holder.conns.push_back((id, Instant::now(), Arc::clone(&state)));
        Some(Place {
            ledger: Arc::clone(self),
            key,
            id,
            state,
        })
    }

    /// Makes room for a connection from `key` that [`Ledger::admit`]
    /// refused: closes the oldest silent connection of `key` if the address
    /// is at its share, else of the address holding the most. Whether one
    /// was closed (its place frees once its server notices).
    pub(crate) fn evict_for(&self, key: AddrKey) -> bool {
        let mut book = self.lock();
        let own = book.by_addr.get(&key).map_or(0, |h| h.held);
        let from = if own >= self.per_address {
            Some(key)
        } else {
            book.by_addr
                .iter()
                .filter(|(_, h)| h.conns.iter().any(evictable))
                .max_by_key(|(_, h)| h.held)
                .map(|(k, _)| *k)
        };
        let Some(holder) = from.and_then(|k| book.by_addr.get_mut(&k)) else {
            return false;
        };
        let Some(at) = holder.conns.iter().position(evictable) else {
            return false;
        };
        let (_, _, state) = holder.conns.remove(at).expect("position found above");
        state.evict();
        true
    }
}

/// Whether a held connection may be closed to make room: silent, and not
/// just accepted.
fn evictable((_, since, state): &(u64, Instant, Arc<ConnState>)) -> bool {
    !state.spoke.load(Ordering::Relaxed) && !state.is_evicted() && since.elapsed() >= EVICTABLE_AFTER
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> AddrKey {
        AddrKey::of(s.parse().expect("a socket address"))
    }

    #[test]
    fn addresses_count_by_host_and_ipv6_by_prefix() {
        assert_eq!(key("127.0.0.1:1"), key("127.0.0.1:2"));
        assert_ne!(key("127.0.0.1:1"), key("127.0.0.2:1"));
        assert_eq!(key("[2001:db8::1]:1"), key("[2001:db8::ffff:2]:9"));
        assert_ne!(key("[2001:db8::1]:1"), key("[2001:db8:0:1::1]:1"));
        assert_eq!(key("[::ffff:10.0.0.1]:1"), key("10.0.0.1:7"));
    }

    #[test]
    fn one_address_holds_its_share_and_the_rest_stays_for_others() {
        let ledger = Ledger::new(8, 2);
        let (a, b) = (key("10.0.0.1:1"), key("10.0.0.2:1"));
        let held_a: Vec<Place> = (0..2).filter_map(|_| ledger.admit(a)).collect();
        assert_eq!(held_a.len(), 2);
        assert!(ledger.admit(a).is_none(), "past the share");
        let held_b: Vec<Place> = (0..2).filter_map(|_| ledger.admit(b)).collect();
        assert_eq!(held_b.len(), 2);
        assert_eq!(ledger.held(), 4);
        drop(held_a);
        assert_eq!(ledger.held(), 2);
        assert!(ledger.admit(a).is_some(), "a place freed");
    }

    #[test]
    fn only_silent_connections_past_their_grace_are_evicted() {
        let ledger = Ledger::new(8, 2);
        let a = key("10.0.0.1:1");
        let first = ledger.admit(a).expect("room");
        let second = ledger.admit(a).expect("room");
        assert!(!ledger.evict_for(a), "nobody is past the grace yet");
        std::thread::sleep(EVICTABLE_AFTER);
        first.state.spoke();
        assert!(ledger.evict_for(a));
        assert!(second.state.is_evicted() && !first.state.is_evicted());
        assert!(!ledger.evict_for(a), "the one left has spoken");
    }
}
