//! Accepting connections under a cap, and closing the silent ones.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::{Instant, Sleep};
use tracing::{info, warn};

use crate::ConnLimits;

/// Accepted connections, each holding one of its listener's slots.
pub type Incoming = mpsc::Receiver<Guarded<TcpStream>>;

/// Times each listener was full and left new connections waiting, by listener.
static FULL: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

/// How often each listener was found full so far, by listener name.
pub fn full_listeners() -> Vec<(&'static str, u64)> {
    let full = FULL.lock().unwrap_or_else(|e| e.into_inner());
    full.iter().map(|(k, v)| (*k, *v)).collect()
}

/// Accepts on `listener` in a task of its own and hands out connections
/// within `limits`; `name` labels its logs and counters. While the
/// listener holds its most connections it accepts none: new ones wait in
/// the kernel's queue, holding no descriptor of this process, until one
/// ends (the timeouts see that one does). The task ends when the receiver
/// is dropped.
pub fn accept(listener: TcpListener, limits: ConnLimits, name: &'static str) -> Incoming {
    let (tx, rx) = mpsc::channel(64);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    tokio::spawn(async move {
        let mut last_warning: Option<Instant> = None;
        loop {
            if slots.available_permits() == 0 {
                *FULL.lock().unwrap_or_else(|e| e.into_inner()).entry(name).or_default() += 1;
                if last_warning.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                    warn!(
                        listener = name,
                        max = limits.max_connections,
                        "connection cap reached; new connections wait until some end"
                    );
                    last_warning = Some(Instant::now());
                }
            }
            let slot = tokio::select! {
                _ = tx.closed() => return,
                slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            };
            let accepted = tokio::select! {
                _ = tx.closed() => return,
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors, usually: wait for some to close.
                    if last_warning.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                        warn!(listener = name, error = %e, "accept failed");
                        last_warning = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            if tx.send(Guarded::new(tcp, peer, limits, slot)).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// A connection that holds a slot of its listener and fails its reads and
/// writes once it has been silent too long: [`ConnLimits::header_read_timeout`]
/// before its first byte, [`ConnLimits::idle_timeout`] after.
#[derive(Debug)]
pub struct Guarded<IO> {
    io: IO,
    peer: SocketAddr,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    heard_from: bool,
    _slot: OwnedSemaphorePermit,
}

impl<IO> Guarded<IO> {
    fn new(io: IO, peer: SocketAddr, limits: ConnLimits, slot: OwnedSemaphorePermit) -> Self {
        Self {
            io,
            peer,
            idle: limits.idle_timeout,
            deadline: Box::pin(tokio::time::sleep(limits.header_read_timeout)),
            heard_from: false,
            _slot: slot,
        }
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// Bytes moved: the idle timer starts over, once the peer has spoken
    /// (what the server writes first, such as HTTP/2 settings, does not
    /// count as hearing from it).
    fn progressed(&mut self, read: bool) {
        self.heard_from |= read;
        if !self.heard_from {
            return;
        }
        let next = Instant::now() + self.idle;
        // Resetting the timer on every read is wasted work within a millisecond.
        if next.saturating_duration_since(self.deadline.deadline()) > Duration::from_millis(100) {
            self.deadline.as_mut().reset(next);
        }
    }

    /// While the inner IO waits: an error once the deadline has passed.
    fn expired<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                let what = if self.heard_from {
                    "connection idle past --idle-timeout"
                } else {
                    "nothing received within --header-read-timeout"
                };
                info!(peer = %self.peer, what, "closing connection");
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.progressed(true);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.expired(cx),
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.progressed(false);
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.expired(cx),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Pending => this.expired(cx),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn limits(max: usize) -> ConnLimits {
        ConnLimits {
            max_connections: max,
            header_read_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(600),
        }
    }

    #[tokio::test]
    async fn silent_connections_are_closed_and_the_cap_makes_one_more_wait() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let mut incoming = accept(listener, limits(2), "test");
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(TcpStream::connect(addr).await.expect("connect"));
        }
        let mut a = incoming.recv().await.expect("first");
        let mut b = incoming.recv().await.expect("second");
        // The third waits while both slots are held.
        let third = tokio::time::timeout(Duration::from_millis(200), incoming.recv()).await;
        assert!(third.is_err(), "a third connection was accepted past the cap");
        assert!(full_listeners().iter().any(|(l, n)| *l == "test" && *n >= 1));

        // A silent connection fails its read after the header deadline,
        // and its slot goes to the waiting one.
        let started = Instant::now();
        let mut byte = [0u8; 1];
        let err = a.read(&mut byte).await.expect_err("silent past the deadline");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(a);
        let _c = tokio::time::timeout(Duration::from_secs(2), incoming.recv())
            .await
            .expect("the waiting connection is accepted once a slot frees");

        // One that talks stays open while it keeps talking, then idles out.
        let client_b = &mut clients[1];
        for _ in 0..3 {
            client_b.write_all(b"x").await.expect("write");
            assert_eq!(b.read(&mut byte).await.expect("read"), 1);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let err = b.read(&mut byte).await.expect_err("idle past the idle timeout");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
