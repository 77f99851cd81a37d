//! Active probes and the go-livepeer `/metrics` scrape.
//!
//! A probe target is `tcp://host:port` (connect time), `http://…` or
//! `https://…` (connect, TLS handshake, HTTP status and time to first byte
//! of a GET). A bandwidth probe downloads a URL and reports its throughput.
//! HTTP goes through hyper over the stream the probe timed itself, so each
//! phase is measured separately; TLS is rustls with the webpki roots plus an
//! optional extra CA file (a private or self-signed certificate).
//!
//! The scrape reads Prometheus text exposition (parsed by the
//! `prometheus-parse` crate): go-livepeer's `current_sessions_total` and
//! `max_sessions_total` (whatever namespace prefix the exporter adds) become
//! the heartbeat's capacity, and series on an allow-list are forwarded as
//! `metric_sample` rows.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use naap_events::samples::ProbeFields;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Why a probe or scrape could not be set up (a failed probe is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("CA file {path}: {detail}")]
    Ca { path: String, detail: String },
    #[error("{url}: {detail}")]
    Fetch { url: String, detail: String },
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Target {
    scheme: String,
    host: String,
    port: u16,
    path: String,
}

fn parse_target(url: &str) -> Result<Target, String> {
    let (scheme, rest) = url.split_once("://").ok_or("no scheme (tcp://, http://, https://)")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let default_port = match scheme {
        "http" => 80,
        "https" => 443,
        "tcp" => 0,
        other => return Err(format!("unsupported scheme {other}")),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().map_err(|_| format!("bad port {p:?}"))?),
        None if default_port > 0 => (authority, default_port),
        None => return Err("tcp:// needs a port".into()),
    };
    Ok(Target {
        scheme: scheme.to_owned(),
        host: host.trim_matches(['[', ']']).to_owned(),
        port,
        path: path.to_owned(),
    })
}

/// Runs probes with one TLS configuration and one timeout.
#[derive(Clone)]
pub struct Prober {
    tls: tokio_rustls::TlsConnector,
    timeout: Duration,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober").field("timeout", &self.timeout).finish()
    }
}

/// What an HTTP exchange measured.
struct Exchange {
    status: u16,
    /// From sending the request to the response headers.
    ttfb: Duration,
    /// Body bytes received.
    len: u64,
    /// From sending the request to the end of the body.
    total: Duration,
    /// The body, when asked for.
    body: Vec<u8>,
}

async fn http_get<S>(stream: S, host: &str, path: &str, keep_body: bool) -> Result<Exchange, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, host)
        .header(hyper::header::USER_AGENT, "naap-probe")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let sent = Instant::now();
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let ttfb = sent.elapsed();
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut kept = Vec::new();
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Some(data) = frame.data_ref() {
            len += data.len() as u64;
            if keep_body {
                kept.extend_from_slice(data);
            }
        }
    }
    Ok(Exchange {
        status,
        ttfb,
        len,
        total: sent.elapsed(),
        body: kept,
    })
}

impl Prober {
    /// Trusts the webpki roots plus, if given, the certificates in `extra_ca` (PEM).
    pub fn new(extra_ca: Option<&Path>, timeout: Duration) -> Result<Prober, ProbeError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = extra_ca {
            let err = |detail: String| ProbeError::Ca {
                path: path.display().to_string(),
                detail,
            };
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| err(e.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|e| err(e.to_string()))?;
            if certs.is_empty() {
                return Err(err("no certificate in the file".into()));
            }
            for c in certs {
                roots.add(c).map_err(|e| err(e.to_string()))?;
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| ProbeError::Ca {
                path: "-".into(),
                detail: e.to_string(),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Prober {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            timeout,
        })
    }

    /// Probes one target; every failure is reported in the result.
    pub async fn probe(&self, url: &str) -> ProbeFields {
        self.run(url, false).await
    }

    /// Downloads `url` and reports the throughput.
    pub async fn bandwidth(&self, url: &str) -> ProbeFields {
        self.run(url, true).await
    }

    async fn run(&self, url: &str, bandwidth: bool) -> ProbeFields {
        let mut out = ProbeFields {
            target: url.to_owned(),
            ..Default::default()
        };
        let target = match parse_target(url) {
            Ok(t) => t,
            Err(e) => {
                out.probe = "invalid".into();
                out.error = Some(e);
                return out;
            }
        };
        out.probe = if bandwidth {
            "bandwidth".into()
        } else {
            target.scheme.clone()
        };
        match tokio::time::timeout(self.timeout, self.phases(&target, bandwidth, &mut out)).await {
            Ok(Ok(())) => out.ok = out.http_status.is_none_or(|s| s < 400),
            Ok(Err(e)) => out.error = Some(e),
            Err(_) => out.error = Some(format!("timed out after {:?}", self.timeout)),
        }
        out
    }

    async fn phases(&self, t: &Target, bandwidth: bool, out: &mut ProbeFields) -> Result<(), String> {
        let start = Instant::now();
        let tcp = TcpStream::connect((t.host.as_str(), t.port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        out.tcp_connect_ms = Some(ms(start.elapsed()));
        let exchange = match t.scheme.as_str() {
            "tcp" => return Ok(()),
            "http" => http_get(tcp, &t.host, &t.path, false).await,
            _ => {
                let name = ServerName::try_from(t.host.clone()).map_err(|e| format!("server name: {e}"))?;
                let started = Instant::now();
                let tls = self.tls.connect(name, tcp).await.map_err(|e| format!("tls: {e}"))?;
                out.tls_handshake_ms = Some(ms(started.elapsed()));
                http_get(tls, &t.host, &t.path, false).await
            }
        }
        .map_err(|e| format!("http: {e}"))?;
        out.http_status = Some(u32::from(exchange.status));
        out.time_to_first_byte_ms = Some(ms(exchange.ttfb));
        if bandwidth {
            out.bytes = Some(exchange.len);
            let secs = exchange.total.as_secs_f64();
            out.throughput_bytes_per_second = (secs > 0.0).then(|| exchange.len as f64 / secs);
        }
        Ok(())
    }

    /// GETs a text page (a `/metrics` endpoint) over http or https.
    pub async fn fetch_text(&self, url: &str) -> Result<String, ProbeError> {
        let fail = |detail: String| ProbeError::Fetch {
            url: url.to_owned(),
            detail,
        };
        let t = parse_target(url).map_err(fail)?;
        let get = async {
            let tcp = TcpStream::connect((t.host.as_str(), t.port))
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let exchange = if t.scheme == "https" {
                let name = ServerName::try_from(t.host.clone()).map_err(|e| e.to_string())?;
                let tls = self.tls.connect(name, tcp).await.map_err(|e| format!("tls: {e}"))?;
                http_get(tls, &t.host, &t.path, true).await?
            } else {
                http_get(tcp, &t.host, &t.path, true).await?
            };
            if exchange.status >= 400 {
                return Err(format!("HTTP {}", exchange.status));
            }
            String::from_utf8(exchange.body).map_err(|e| e.to_string())
        };
        tokio::time::timeout(self.timeout, get)
            .await
            .map_err(|_| fail(format!("timed out after {:?}", self.timeout)))?
            .map_err(fail)
    }
}

/// Figures read from a go-livepeer node's Prometheus page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scraped {
    pub sessions_in_use: Option<u32>,
    pub sessions_max: Option<u32>,
    /// (metric, labels as sorted JSON, value) of the allow-listed series.
    pub forwarded: Vec<(String, String, f64)>,
}

fn value_of(v: &prometheus_parse::Value) -> Option<f64> {
    match v {
        prometheus_parse::Value::Counter(x)
        | prometheus_parse::Value::Gauge(x)
        | prometheus_parse::Value::Untyped(x) => Some(*x),
        _ => None,
    }
}

/// Parses a text exposition page. A metric matches a wanted name when it is
/// that name or ends with `_<name>` (exporters add a namespace prefix).
pub fn parse_metrics(text: &str, allow: &[String]) -> Scraped {
    let lines = text.lines().map(|l| Ok::<_, std::io::Error>(l.to_owned()));
    let Ok(scrape) = prometheus_parse::Scrape::parse(lines) else {
        return Scraped::default();
    };
    let matches = |metric: &str, name: &str| metric == name || metric.ends_with(&format!("_{name}"));
    let sum = |name: &str| -> Option<u32> {
        let values: Vec<f64> = scrape
            .samples
            .iter()
            .filter(|s| matches(&s.metric, name))
            .filter_map(|s| value_of(&s.value))
            .collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>().max(0.0) as u32)
    };
    let mut forwarded = Vec::new();
    for s in &scrape.samples {
        if !allow.iter().any(|a| matches(&s.metric, a)) {
            continue;
        }
        let Some(value) = value_of(&s.value) else { continue };
        let labels: std::collections::BTreeMap<&str, &str> =
            s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let labels = serde_json::to_string(&labels).unwrap_or_else(|_| "{}".into());
        forwarded.push((s.metric.clone(), labels, value));
    }
    Scraped {
        sessions_in_use: sum("current_sessions_total"),
        sessions_max: sum("max_sessions_total"),
        forwarded,
    }
}
