//! A held connection: closed once silent too long, or when its listener
//! needs its place for a client that speaks.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use tracing::info;

use crate::ConnLimits;
use crate::share::Place;

/// A connection that holds a place of its listener and fails its reads and
/// writes once it has been silent too long: [`ConnLimits::header_read_timeout`]
/// before its first byte, [`ConnLimits::idle_timeout`] after; or, before its
/// first byte, once its listener closes it to make room for a client that
/// speaks.
#[derive(Debug)]
pub struct Guarded<IO> {
    io: IO,
    peer: SocketAddr,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    heard_from: bool,
    place: Place,
}

impl<IO> Guarded<IO> {
    pub(crate) fn new(io: IO, peer: SocketAddr, limits: ConnLimits, place: Place) -> Self {
        Self {
            io,
            peer,
            idle: limits.idle_timeout,
            deadline: Box::pin(tokio::time::sleep(limits.header_read_timeout)),
            heard_from: false,
            place,
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
        if read && !self.heard_from {
            self.heard_from = true;
            self.place.state.spoke();
        }
        if !self.heard_from {
            return;
        }
        let next = Instant::now() + self.idle;
        // Resetting the timer on every read is wasted work within a millisecond.
        if next.saturating_duration_since(self.deadline.deadline()) > Duration::from_millis(100) {
            self.deadline.as_mut().reset(next);
        }
    }

    /// While the inner IO waits: an error once the deadline has passed, or
    /// once the listener evicted this connection.
    fn expired<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if self.place.state.is_evicted() {
            info!(peer = %self.peer, "closing a silent connection to make room for one that speaks");
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed while silent, to make room",
            )));
        }
        self.place.state.wake_on_eviction(cx.waker());
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
