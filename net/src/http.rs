//! Serving an axum router over guarded connections, HTTP/1 and HTTP/2.

use std::future::Future;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::debug;

use crate::ConnLimits;

/// How long open connections may finish their requests after shutdown.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `app` on every connection `connections` yields until `shutdown`
/// completes, then lets open requests finish (for a while).
pub async fn serve_http<IO>(
    mut connections: mpsc::Receiver<IO>,
    app: axum::Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new()).max_concurrent_streams(64);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut open = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let io = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = open.join_next(), if !open.is_empty() => continue,
            io = connections.recv() => match io {
                Some(io) => io,
                None => break,
            },
        };
        let (builder, mut stop, service) = (builder.clone(), stop_rx.clone(), TowerToHyperService::new(app.clone()));
        open.spawn(async move {
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            tokio::pin!(conn);
            loop {
                tokio::select! {
                    done = conn.as_mut() => {
                        if let Err(e) = done {
                            debug!(error = %e, "connection ended");
                        }
                        return;
                    }
                    _ = stop.changed() => conn.as_mut().graceful_shutdown(),
                }
            }
        });
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(DRAIN, async { while open.join_next().await.is_some() {} }).await;
    open.abort_all();
}
