//! `naap serve`: its flags, and the server they configure.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::cli::{RuleFiles, StoreArgs};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Lake location: a directory or s3://bucket/prefix.
    #[arg(long, default_value = "./naap-data")]
    pub lake: String,
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub flight_addr: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Perf-score feed: the region label of a gateway's sessions,
    /// GATEWAY=REGION (repeatable; the gateway id as in its events).
    #[arg(long = "region-map", value_name = "GATEWAY=REGION")]
    pub region_map: Vec<String>,
    /// Perf-score feed: the label of unmapped gateways and of network-wide scores.
    #[arg(long, default_value = "GLOBAL")]
    pub default_region: String,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Bearer tokens and their roles (TOML: `public_read`, `[[tokens]]` with
    /// name, sha256 of the token, role read|admin). Without it the server is
    /// public and read-only.
    #[arg(long, value_name = "FILE")]
    pub auth_file: Option<PathBuf>,
    /// Serve Flight (grpc+tls://) and HTTP (https://) with this PEM certificate chain…
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// …and this PEM private key.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve this version of a rule, RULE=VERSION (repeatable; default:
    /// the newest version of each rule). The router, the perf-stats feed,
    /// the Explorer API and the dashboard read it, and name it in their
    /// answers.
    #[arg(long = "rule", value_name = "RULE=VERSION")]
    pub rule: Vec<String>,
    #[command(flatten)]
    pub rule_files: RuleFiles,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let lake = args.store.open(&args.lake)?;
    naap_sql::delta::refuse_old_layout(&lake).await?;
    let mut regions = naap_flight_server::Regions {
        default_region: args.default_region,
        ..Default::default()
    };
    for kv in &args.region_map {
        let (gateway, region) = kv
            .split_once('=')
            .with_context(|| format!("--region-map {kv:?} is not GATEWAY=REGION"))?;
        regions.by_gateway.insert(gateway.to_owned(), region.to_owned());
    }
    let rules = args.rule_files.load()?;
    let mut served = rules.newest();
    for spec in &args.rule {
        served.choose(&rules, spec)?;
    }
    tracing::info!(rules = %served, "rule versions served");
    let server = naap_flight_server::Server::bind(naap_flight_server::ServerConfig {
        lake,
        flight_addr: args.flight_addr,
        http_addr: args.http_addr,
        regions,
        limits: args.limits.query_limits(),
        connections: args.limits.conn_limits(),
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(naap_flight_server::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        },
        auth: match &args.auth_file {
            Some(path) => naap_flight_server::auth::Auth::load(path)?,
            None => Default::default(),
        },
        rules,
        served,
        companion: None,
    })
    .await?;
    println!(
        "flight grpc://{} http http://{}",
        server.flight_addr(),
        server.http_addr()
    );
    server
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// What one client may take of a server (see SECURITY.md).
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Wall-time limit of one client query, from admission (planning
    /// included) to the last row.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub query_timeout: Duration,
    /// Memory limit of one client query, in MiB (no spilling to disk: a query
    /// that needs more fails with a clear error); one scalar function result
    /// may take a quarter of it.
    #[arg(long, default_value_t = 512)]
    pub query_memory_mb: usize,
    /// Client queries running at once.
    #[arg(long, default_value_t = 8)]
    pub max_concurrent_queries: usize,
    /// Client queries waiting for a running slot; one more is refused at
    /// once with "retry shortly".
    #[arg(long, default_value_t = 32)]
    pub max_queued_queries: usize,
    /// How long a query waits for a running slot before it is refused.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub query_queue_timeout: Duration,
    /// Threads that run client queries [default: all cores but one].
    #[arg(long)]
    pub query_threads: Option<usize>,
    /// Longest SQL text accepted, in bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_sql_bytes: usize,
    /// Deepest nesting of expressions, UNION chains and subqueries, and most
    /// tables, in one statement.
    #[arg(long, default_value_t = 256)]
    pub max_expr_depth: usize,
    /// Most bytes of bound parameters one Flight DoPut may send.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_put_bytes: usize,
    /// Connections each listener (Flight, HTTP) holds at once (at most an
    /// eighth of the open-files limit); more wait, parked, as many again.
    #[arg(long, default_value_t = 256)]
    pub max_connections: usize,
    /// Connections one client address (IPv4, or IPv6 /64) holds at once on
    /// each listener [default: a quarter of --max-connections].
    #[arg(long)]
    pub max_connections_per_address: Option<usize>,
    /// Time from a connection's start to its first byte, and (HTTP/1) to the
    /// end of each request's headers.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,
    /// A connection silent this long is closed (never below --query-timeout
    /// plus 5s).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
}

impl LimitArgs {
    pub fn query_limits(&self) -> naap_flight_server::QueryLimits {
        let defaults = naap_flight_server::QueryLimits::default();
        naap_flight_server::QueryLimits {
            timeout: self.query_timeout,
            memory_bytes: self.query_memory_mb.saturating_mul(1024 * 1024),
            max_concurrent: self.max_concurrent_queries,
            max_queued: self.max_queued_queries,
            queue_timeout: self.query_queue_timeout,
            threads: self.query_threads.unwrap_or(defaults.threads).max(1),
            max_sql_bytes: self.max_sql_bytes,
            max_expr_depth: self.max_expr_depth,
            max_put_bytes: self.max_put_bytes,
        }
    }

    pub fn conn_limits(&self) -> naap_flight_server::ConnLimits {
        naap_flight_server::ConnLimits {
            max_connections: self.max_connections,
            max_per_address: self.max_connections_per_address,
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
        }
    }
}
