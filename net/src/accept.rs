//! Accepting a listener's connections within its limits, fairly between
//! client addresses.
//!
//! The accept task takes every connection the kernel queues and decides:
//! - *held*: handed to the server, while the listener holds fewer than
//!   [`ConnLimits::max_connections`] and the client's address fewer than
//!   its share ([`ConnLimits::per_address`]);
//! - *parked*: kept, unread, until a place frees. Parked connections that
//!   have spoken go first; one that stays silent for the header timeout is
//!   closed. An address parks at most `max_connections` less its share, so
//!   the parking always has room for others;
//! - *closed at once*: an address already holding its share and parking
//!   all it may, with no silent connection of its own to give up.
//!
//! A parked connection that has spoken and waits for an address at its
//! share, or a full listener, makes the ledger close the oldest silent held
//! connection (see [`crate::share`]). So idle connections never keep out a
//! client that speaks, whatever address they come from. Only when every
//! held and parked connection has spoken does the kernel queue new ones.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::warn;

use crate::ConnLimits;
use crate::guard::Guarded;
use crate::share::{AddrKey, Ledger};

/// Accepted connections, each holding a place of its listener.
pub type Incoming = mpsc::Receiver<Guarded<TcpStream>>;

/// How often parked connections are looked at while nothing else happens.
const SWEEP: Duration = Duration::from_millis(200);

/// What each listener met so far, by listener: times it was full, parked
/// connections, connections closed at once for their address, silent
/// connections closed to make room.
static EVENTS: Mutex<BTreeMap<&'static str, ListenerEvents>> = Mutex::new(BTreeMap::new());

/// Counters of one listener (see [`listener_events`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenerEvents {
    /// A connection found the listener at its cap.
    pub full: u64,
    /// A connection waited for a place.
    pub parked: u64,
    /// A connection was closed at once: its address held all it may.
    pub refused: u64,
    /// A silent connection was closed to make room.
    pub evicted: u64,
}

fn note(name: &'static str, what: impl FnOnce(&mut ListenerEvents)) {
    what(
        EVENTS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name)
            .or_default(),
    );
}

/// What every listener met so far, by listener name.
pub fn listener_events() -> Vec<(&'static str, ListenerEvents)> {
    let events = EVENTS.lock().unwrap_or_else(|e| e.into_inner());
    events.iter().map(|(k, v)| (*k, *v)).collect()
}

/// How often each listener was found full so far, by listener name.
pub fn full_listeners() -> Vec<(&'static str, u64)> {
    listener_events().into_iter().map(|(k, v)| (k, v.full)).collect()
}

/// Accepts on `listener` in a task of its own and hands out connections
/// within `limits` (see the module docs); `name` labels its logs and
/// counters. The task ends when the receiver is dropped.
pub fn accept(listener: TcpListener, limits: ConnLimits, name: &'static str) -> Incoming {
    let (tx, rx) = mpsc::channel(64);
    let acceptor = Acceptor {
        ledger: Ledger::new(limits.max_connections, limits.per_address()),
        listener,
        limits,
        name,
        tx,
        parked: VecDeque::new(),
        last_warning: None,
    };
    tokio::spawn(acceptor.run());
    rx
}

struct Parked {
    tcp: TcpStream,
    peer: SocketAddr,
    key: AddrKey,
    since: Instant,
    /// A place was freed for it (a silent connection evicted): not again.
    made_room: bool,
}

impl Parked {
    /// Whether the client sent something (or hung up) while parked: a
    /// peek, so what it sent stays for the server to read.
    fn spoke(&self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        let mut byte = [0u8; 1];
        let mut buf = tokio::io::ReadBuf::new(&mut byte);
        matches!(self.tcp.poll_peek(&mut cx, &mut buf), Poll::Ready(_))
    }
}

/// The receiver is gone: the server stopped.
struct Stopped;

struct Acceptor {
    ledger: Arc<Ledger>,
    listener: TcpListener,
    limits: ConnLimits,
    name: &'static str,
    tx: mpsc::Sender<Guarded<TcpStream>>,
    parked: VecDeque<Parked>,
    last_warning: Option<Instant>,
}

impl Acceptor {
    async fn run(mut self) {
        loop {
            self.sweep();
            if self.admit_parked().await.is_err() {
                return;
            }
            let room = self.parked.len() < self.limits.max_connections || self.close_silent_parked(None);
            tokio::select! {
                _ = self.tx.closed() => return,
                _ = self.ledger.freed.notified() => {}
                _ = tokio::time::sleep(SWEEP), if !self.parked.is_empty() => {}
                accepted = self.listener.accept(), if room => match accepted {
                    Ok((tcp, peer)) => {
                        if self.arrived(tcp, peer).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        // Out of descriptors, usually: wait for some to close.
                        self.warn(|name| warn!(listener = name, error = %e, "accept failed"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
    }

    /// A new connection: held, parked or closed.
    async fn arrived(&mut self, tcp: TcpStream, peer: SocketAddr) -> Result<(), Stopped> {
        let _ = tcp.set_nodelay(true);
        let key = AddrKey::of(peer);
        // A newcomer never overtakes its own address's parked connections.
        if !self.parked.iter().any(|p| p.key == key)
            && let Some(place) = self.ledger.admit(key)
        {
            return self.hand_over(tcp, peer, place).await;
        }
        let parked_here = self.parked.iter().filter(|p| p.key == key).count();
        let (max, share) = (self.limits.max_connections, self.limits.per_address());
        // Room stays for others to park, unless one address is all there is.
        let may_park = if share >= max { max } else { max - share };
        if parked_here >= may_park && !self.close_silent_parked(Some(key)) {
            note(self.name, |e| e.refused += 1);
            self.warn(|name| {
                warn!(
                    listener = name,
                    %peer,
                    "an address holds and parks all the connections it may; closing its newest"
                )
            });
            return Ok(());
        }
        note(self.name, |e| e.parked += 1);
        if self.ledger.held() >= max {
            note(self.name, |e| e.full += 1);
            self.warn(|name| {
                warn!(
                    listener = name,
                    max, "connection cap reached; new connections wait until some end"
                )
            });
        }
        self.parked.push_back(Parked {
            tcp,
            peer,
            key,
            since: Instant::now(),
            made_room: false,
        });
        Ok(())
    }

    /// Hands parked connections that have a place now to the server: those
    /// that spoke first, each address in order; makes room for one that
    /// spoke and has none.
    async fn admit_parked(&mut self) -> Result<(), Stopped> {
        for speaking in [true, false] {
            let mut i = 0;
            while i < self.parked.len() {
                let p = &mut self.parked[i];
                if p.spoke() != speaking {
                    i += 1;
                    continue;
                }
                match self.ledger.admit(p.key) {
                    Some(place) => {
                        let p = self.parked.remove(i).expect("index checked by the loop");
                        self.hand_over(p.tcp, p.peer, place).await?;
                    }
                    None => {
                        if speaking && !p.made_room && self.ledger.evict_for(p.key) {
                            p.made_room = true;
                            note(self.name, |e| e.evicted += 1);
                        }
                        i += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// Closes parked connections silent since the header timeout.
    fn sweep(&mut self) {
        let limit = self.limits.header_read_timeout;
        self.parked.retain(|p| p.since.elapsed() < limit || p.spoke());
    }

    /// Closes the oldest silent parked connection (of `key`, or of anyone)
    /// past its grace; whether there was one.
    fn close_silent_parked(&mut self, key: Option<AddrKey>) -> bool {
        let found = self.parked.iter().position(|p| {
            key.is_none_or(|k| p.key == k) && p.since.elapsed() >= crate::share::EVICTABLE_AFTER && !p.spoke()
        });
        found.is_some_and(|at| self.parked.remove(at).is_some())
    }

    async fn hand_over(&mut self, tcp: TcpStream, peer: SocketAddr, place: crate::share::Place) -> Result<(), Stopped> {
        self.tx
            .send(Guarded::new(tcp, peer, self.limits, place))
            .await
            .map_err(|_| Stopped)
    }

    /// Logs at most one warning every 10 s per listener.
    fn warn(&mut self, log: impl FnOnce(&'static str)) {
        if self
            .last_warning
            .is_none_or(|at| at.elapsed() > Duration::from_secs(10))
        {
            log(self.name);
            self.last_warning = Some(Instant::now());
        }
    }
}

#[cfg(test)]
#[path = "accept_tests.rs"]
mod tests;
