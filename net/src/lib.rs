//! naap's listeners: no client can hold a public port by connecting and
//! waiting.
//!
//! Every TCP port naap opens (Flight, HTTP, the node agent's BYOC endpoint)
//! accepts through [`accept`]: at most [`ConnLimits::max_connections`]
//! connections are held at once, at most [`ConnLimits::per_address`] of
//! them from one client address (the rest wait, parked, or in the kernel's
//! queue), a silent connection gives up its place to one that speaks, a
//! connection that sends nothing is closed after
//! [`ConnLimits::header_read_timeout`], and one that goes quiet after
//! [`ConnLimits::idle_timeout`]. [`serve_http`] serves an axum router over
//! such connections with the same deadline for each request head.
//!
//! This crate must never look into what the connections carry: it bounds
//! their number and their silence, nothing else.
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let limits = naap_net::ConnLimits::default();
//! let connections = naap_net::accept(listener, limits, "http");
//! let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
//! naap_net::serve_http(connections, app, limits, std::future::pending()).await;
//! # Ok(())
//! # }
//! ```

mod accept;
mod guard;
mod http;
mod share;

pub use accept::{Incoming, ListenerEvents, accept, full_listeners, listener_events};
pub use guard::Guarded;

/// Connections the kernel holds for a listener while it accepts none (the
/// system's `somaxconn` may lower it).
const ACCEPT_QUEUE: u32 = 4096;

/// A listener on `addr` whose accept queue is long enough to hold clients
/// while the listener is at its connection cap.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_QUEUE)
}
pub use http::serve_http;

use std::time::Duration;

/// Bounds of one listener's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Connections held at once; more wait, parked (see [`accept`]).
    pub max_connections: usize,
    /// Connections one client address (an IPv4 address, an IPv6 /64) holds
    /// at once; `None`: a quarter of `max_connections`.
    pub max_per_address: Option<usize>,
    /// Time from accepting a connection to its first byte, and (HTTP/1) to
    /// the end of each request head.
    pub header_read_timeout: Duration,
    /// A connection on which nothing was read or written for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            max_per_address: None,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

impl ConnLimits {
    /// Connections one client address holds at once.
    pub fn per_address(&self) -> usize {
        self.max_per_address
            .unwrap_or(self.max_connections / 4)
            .clamp(1, self.max_connections.max(1))
    }

    /// These limits with at most an eighth of the process's descriptor
    /// limit per listener (held and as many parked: a quarter), so that
    /// connections can never take the descriptors the rest of the process
    /// needs (lake files, the broker).
    pub fn within_descriptor_limit(mut self) -> Self {
        if let Some(limit) = open_files_limit() {
            let share = (limit / 8).max(1);
            if self.max_connections > share {
                tracing::info!(
                    requested = self.max_connections,
                    allowed = share,
                    open_files_limit = limit,
                    "connection cap lowered to an eighth of the open-files limit"
                );
                self.max_connections = share;
            }
        }
        self
    }
}

/// The soft limit on open descriptors, where the platform tells it.
fn open_files_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descriptor_share_never_raises_the_cap() {
        let small = ConnLimits {
            max_connections: 1,
            ..Default::default()
        };
        assert_eq!(small.within_descriptor_limit().max_connections, 1);
        let huge = ConnLimits {
            max_connections: usize::MAX,
            ..Default::default()
        };
        let limit = open_files_limit().expect("Linux names its open-files limit");
        assert_eq!(huge.within_descriptor_limit().max_connections, (limit / 8).max(1));
    }
}
