//! naap serving: Arrow Flight SQL, Flight DoGet and an HTTP API over the lake.
//!
//! Every lake table is served by name (Delta tables, each read at the
//! version its log holds when a query starts, so new commits are visible at
//! once), plus
//! `scores`: the newest window per orchestrator and rule version
//! (`sql/views/scores_latest.sql`) over the lake table `scores`, which is
//! served as `scores_history`. All SQL runs read-only. The server never
//! writes the lake and never calls the pipeline. The statements the server
//! itself runs are the files of `sql/serving/` ([`naap_sql::serving`]); the
//! rule version each answer reads is chosen per server (`naap serve --rule
//! sla=1`, default the newest) and named in the answer.
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> Result<(), naap_flight_server::Error> {
//! let lake = naap_sql::Lake::open("./naap-data", &Default::default())?;
//! let config = naap_flight_server::ServerConfig {
//!     lake,
//!     flight_addr: "127.0.0.1:50051".parse().unwrap(),
//!     http_addr: "127.0.0.1:8080".parse().unwrap(),
//!     regions: Default::default(),
//!     limits: Default::default(),
//!     connections: Default::default(),
//!     auth: Default::default(),
//!     tls: None,
//!     rules: Default::default(),
//!     served: Default::default(),
//!     companion: None,
//! };
//! let server = naap_flight_server::Server::bind(config).await?;
//! server.run(std::future::pending()).await
//! # }
//! ```

mod admission;
pub mod auth;
mod backtests;
mod bounded;
mod catalog;
mod cells;
mod charts;
pub mod dashboard;
pub mod discover;
mod error;
pub mod explorer;
mod flight;
#[cfg(test)]
mod fuzz_tests;
mod guard;
mod health;
mod http;
mod lake_schema;
pub mod leaderboard;
mod limits;
pub mod metrics;
pub mod naap_dashboard;
mod operators;
pub mod perf_stats;
mod prepared;
pub mod requests;
pub mod router;
pub mod snapshot;
pub mod streaming;
pub mod tls;
mod within;

pub use catalog::Catalog;
pub use error::{Error, Reason, Result};
pub use health::Companion;
pub use http::openapi;
pub use limits::QueryLimits;
pub use naap_net::ConnLimits;
pub use perf_stats::Regions;
pub use within::Within;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tracing::info;

/// Where to serve what.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub lake: naap_sql::Lake,
    pub flight_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// Gateway → region labels of the perf-score feed.
    pub regions: Regions,
    /// Time, memory and concurrency of each client query.
    pub limits: QueryLimits,
    /// Connections each listener holds at once, and how long they may be silent.
    pub connections: ConnLimits,
    /// Tokens and roles; the default is public and read-only.
    pub auth: auth::Auth,
    /// Serve both listeners over TLS with this certificate and key.
    pub tls: Option<tls::TlsFiles>,
    /// The rule versions known (built in, and loaded from files)…
    pub rules: naap_sql::RuleSet,
    /// …and the one of each that the router, the perf-stats feed, the
    /// Explorer API and the dashboard serve.
    pub served: naap_sql::Served,
    /// A pipeline in the same process, whose health `/healthz` and
    /// `/metrics` report (`naap demo`).
    pub companion: Option<Arc<dyn Companion>>,
}

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    catalog: Arc<Catalog>,
    regions: Arc<Regions>,
    auth: Arc<auth::Auth>,
    connections: ConnLimits,
    flight: tls::Incoming,
    http: tls::Incoming,
    companion: Option<Arc<dyn Companion>>,
}

impl Server {
    /// Binds both listeners (port 0 picks a free port; see [`Server::flight_addr`]).
    pub async fn bind(config: ServerConfig) -> Result<Server> {
        // Checked before binding: a bad certificate fails the start, not the first client.
        let tls = match &config.tls {
            Some(files) => Some((
                tls::server_config(files, &[b"h2"])?,
                tls::server_config(files, &[b"h2", b"http/1.1"])?,
            )),
            None => None,
        };
        let flight = naap_net::bind(config.flight_addr).map_err(|source| Error::Bind {
            addr: config.flight_addr,
            source,
        })?;
        let http = naap_net::bind(config.http_addr).map_err(|source| Error::Bind {
            addr: config.http_addr,
            source,
        })?;
        let (flight, http) = match tls {
            Some((grpc, web)) => (tls::Incoming::Tls(flight, grpc), tls::Incoming::Tls(http, web)),
            None => (tls::Incoming::Plain(flight), tls::Incoming::Plain(http)),
        };
        Ok(Server {
            catalog: Arc::new(Catalog::new(config.lake, config.limits).with_rules(config.rules, config.served)),
            regions: Arc::new(config.regions),
            auth: Arc::new(config.auth),
            connections: connection_limits(config.connections, config.limits),
            flight,
            http,
            companion: config.companion,
        })
    }

    pub fn flight_addr(&self) -> SocketAddr {
        self.flight.local_addr().expect("a bound listener has an address")
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http.local_addr().expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let (flight_addr, http_addr) = (self.flight_addr(), self.http_addr());
        info!(%flight_addr, %http_addr, lake = %self.catalog.lake(), "serving");
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = tx.send(true);
        });
        let queries = admission::Queries::new(Arc::clone(&self.catalog))?;
        let snapshots = Arc::new(snapshot::Snapshots::default());
        let first = Arc::clone(&snapshots);
        let catalog = Arc::clone(&self.catalog);
        match queries.background(async move { first.refresh(&catalog).await }).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) | Err(e) => tracing::warn!(error = %e, "no scores snapshot yet"),
        }
        let refresher =
            tokio::spawn(Arc::clone(&snapshots).keep_fresh(queries.clone(), std::time::Duration::from_secs(1)));
        let flight = flight::serve(
            queries.clone(),
            Arc::clone(&self.regions),
            Arc::clone(&self.auth),
            Arc::clone(&snapshots),
            tls::connections(self.flight, self.connections, "flight"),
            wait_for(rx.clone()),
        );
        let http = http::serve(
            http::Sources {
                queries,
                regions: self.regions,
                auth: self.auth,
                snapshots,
                companion: self.companion,
            },
            tls::connections(self.http, self.connections, "http"),
            self.connections,
            wait_for(rx),
        );
        let (f, ()) = tokio::join!(flight, http);
        refresher.abort();
        f
    }
}

async fn wait_for(mut rx: tokio::sync::watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// `limits` within the descriptor limit, idle long enough for the longest
/// query: a connection waiting for its query's first row is silent, and
/// must not be closed before the query's own deadline.
fn connection_limits(limits: ConnLimits, queries: QueryLimits) -> ConnLimits {
    let mut limits = limits.within_descriptor_limit();
    let floor = queries.timeout + std::time::Duration::from_secs(5);
    if limits.idle_timeout < floor {
        tracing::info!(
            idle_timeout = ?limits.idle_timeout,
            raised_to = ?floor,
            "idle timeout raised above the query timeout"
        );
        limits.idle_timeout = floor;
    }
    limits
}

/// The time now, in Unix ms.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
