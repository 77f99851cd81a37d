//! Score lookups under load: `naap serve`'s `/v1/scores` and Flight DoGet
//! `scores`, against the same HTTP stack (axum on hyper, started here)
//! serving a static body of the same bytes, in the same run.
//!
//! ```sh
//! cargo run --example score_lookup_bench -- HTTP_ADDR FLIGHT_ADDR [SECONDS] [CLIENTS]
//! ```
//!
//! Prints requests per second and p50/p99 latency per target, and the
//! ratio of the scores endpoint's rate to the static body's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_flight::{FlightClient, Ticket};
use futures::TryStreamExt;

#[derive(Debug)]
struct Run {
    requests: usize,
    errors: usize,
    seconds: f64,
    latencies_us: Vec<u64>,
}

impl Run {
    fn line(&self, name: &str) -> String {
        let mut l = self.latencies_us.clone();
        l.sort_unstable();
        let q = |p: f64| {
            l.get(((l.len() as f64 - 1.0) * p).round() as usize)
                .copied()
                .unwrap_or(0) as f64
                / 1000.0
        };
        format!(
            "{name:<28} {:>9.0} req/s   p50 {:>7.3} ms   p99 {:>7.3} ms   ({} requests, {} errors)",
            self.requests as f64 / self.seconds,
            q(0.5),
            q(0.99),
            self.requests,
            self.errors
        )
    }

    fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

/// `clients` tasks each looping `call` until `seconds` have passed.
async fn load<F, Fut>(clients: usize, seconds: u64, call: F) -> Run
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let call = Arc::clone(&call);
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                while Instant::now() < end {
                    let t = Instant::now();
                    if call().await {
                        lat.push(t.elapsed().as_micros() as u64);
                    } else {
                        errors += 1;
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let mut run = Run {
        requests: 0,
        errors: 0,
        seconds: 0.0,
        latencies_us: Vec::new(),
    };
    for t in tasks {
        let (lat, errors) = t.await.expect("load task");
        run.requests += lat.len();
        run.errors += errors;
        run.latencies_us.extend(lat);
    }
    run.seconds = started.elapsed().as_secs_f64();
    run
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(http), Some(flight)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: score_lookup_bench HTTP_ADDR FLIGHT_ADDR [SECONDS] [CLIENTS]");
        std::process::exit(2);
    };
    let seconds: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(10);
    let clients: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(64);
    let http_client = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
    let scores_url = format!("http://{http}/v1/scores");
    let body = http_client.get(&scores_url).send().await?.bytes().await?;

    // The baseline: the same stack serving the same bytes, no work per request.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let static_addr: SocketAddr = listener.local_addr()?;
    let static_body = body.clone();
    let app = axum::Router::new().route(
        "/static",
        axum::routing::get(move || {
            let b = static_body.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], b) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!(
        "{clients} concurrent clients, {seconds} s per target, body {} bytes, loopback",
        body.len()
    );

    let get = |url: String| {
        let client = http_client.clone();
        move || {
            let (client, url) = (client.clone(), url.clone());
            async move {
                match client.get(&url).send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                }
            }
        }
    };
    let baseline = load(clients, seconds, get(format!("http://{static_addr}/static"))).await;
    let scores = load(clients, seconds, get(scores_url.clone())).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{flight}"))?
        .connect()
        .await?;
    let doget = load(clients, seconds, move || {
        let mut client = FlightClient::new(channel.clone());
        async move {
            match client.do_get(Ticket::new("scores")).await {
                Ok(stream) => stream.try_collect::<Vec<_>>().await.is_ok(),
                Err(_) => false,
            }
        }
    })
    .await;
    println!("{}", baseline.line("static body (same stack)"));
    println!("{}", scores.line("GET /v1/scores"));
    println!("{}", doget.line("Flight DoGet scores"));
    println!(
        "GET /v1/scores at {:.0} % of the static body's rate",
        100.0 * scores.rate() / baseline.rate()
    );
    Ok(())
}
