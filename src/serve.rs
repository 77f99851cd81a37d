//! `naap serve`: its flags, and the server they configure.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::cli::{LimitArgs, RuleFiles, StoreArgs};

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
