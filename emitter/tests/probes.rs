//! Probes and the metrics scrape against servers started here: plain HTTP,
//! TLS with a self-signed certificate, a text exposition page.

use std::sync::Arc;
use std::time::Duration;

use naap_emitter::probe::{Prober, parse_metrics};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

const METRICS: &str = "\
# TYPE livepeer_current_sessions_total gauge
livepeer_current_sessions_total 3
# TYPE livepeer_max_sessions_total gauge
livepeer_max_sessions_total 10
# TYPE livepeer_ai_request_errors counter
livepeer_ai_request_errors{error_code=\"timeout\",pipeline=\"live-video-to-video\"} 4
# TYPE livepeer_transcoders_number gauge
livepeer_transcoders_number 2
";

/// Answers one request per connection by path (a test server, HTTP/1.1).
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let request = String::from_utf8_lossy(&buf);
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let (status, body): (&str, Vec<u8>) = match path.as_str() {
        "/ok" => ("200 OK", b"ok".to_vec()),
        "/metrics" => ("200 OK", METRICS.as_bytes().to_vec()),
        "/blob" => ("200 OK", vec![7u8; 1_000_000]),
        _ => ("404 Not Found", b"no".to_vec()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(&body).await;
    let _ = s.shutdown().await;
}

async fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("test server setup");
    let port = listener.local_addr().expect("test server setup").port();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(answer(s));
        }
    });
    port
}

/// A TLS server for `localhost` with a fresh self-signed certificate; returns
/// its port and the certificate as PEM.
async fn tls_server() -> (u16, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("test server setup");
    let pem = cert.cert.pem();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("test server setup")
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("test server setup");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("test server setup");
    let port = listener.local_addr().expect("test server setup").port();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(s).await {
                    answer(tls).await;
                }
            });
        }
    });
    (port, pem)
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("test server setup")
        .local_addr()
        .expect("test server setup")
        .port()
}

#[tokio::test]
async fn tcp_http_tls_and_bandwidth_probes_measure_each_phase() {
    let http = http_server().await;
    let (tls, pem) = tls_server().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let prober = Prober::new(Some(&ca), Duration::from_secs(5)).unwrap();

    let tcp = prober.probe(&format!("tcp://127.0.0.1:{http}")).await;
    assert!(
        tcp.ok && tcp.tcp_connect_ms.is_some() && tcp.http_status.is_none(),
        "{tcp:?}"
    );

    let ok = prober.probe(&format!("http://127.0.0.1:{http}/ok")).await;
    assert!(ok.ok, "{ok:?}");
    assert_eq!(ok.http_status, Some(200));
    assert!(ok.time_to_first_byte_ms.is_some_and(|t| t >= 0.0) && ok.tls_handshake_ms.is_none());

    let missing = prober.probe(&format!("http://127.0.0.1:{http}/nothing")).await;
    assert_eq!((missing.ok, missing.http_status), (false, Some(404)));

    let secure = prober.probe(&format!("https://localhost:{tls}/ok")).await;
    assert!(secure.ok, "{secure:?}");
    assert_eq!(secure.probe, "https");
    assert!(secure.tls_handshake_ms.is_some_and(|t| t > 0.0), "{secure:?}");
    assert_eq!(secure.http_status, Some(200));

    // Without the CA the self-signed server is not trusted: a failed probe, with the reason.
    let untrusted = Prober::new(None, Duration::from_secs(5)).unwrap();
    let refused = untrusted.probe(&format!("https://localhost:{tls}/ok")).await;
    assert!(
        !refused.ok && refused.error.as_deref().is_some_and(|e| e.starts_with("tls")),
        "{refused:?}"
    );
    assert!(refused.tcp_connect_ms.is_some() && refused.tls_handshake_ms.is_none());

    let down = prober.probe(&format!("tcp://127.0.0.1:{}", closed_port())).await;
    assert!(
        !down.ok && down.error.as_deref().is_some_and(|e| e.starts_with("connect")),
        "{down:?}"
    );

    let bw = prober.bandwidth(&format!("http://127.0.0.1:{http}/blob")).await;
    assert!(bw.ok, "{bw:?}");
    assert_eq!((bw.probe.as_str(), bw.bytes), ("bandwidth", Some(1_000_000)));
    assert!(bw.throughput_bytes_per_second.is_some_and(|t| t > 0.0));

    let bad = prober.probe("gopher://x").await;
    assert!(!bad.ok && bad.error.is_some());
}

#[tokio::test]
async fn the_scrape_reads_capacity_and_forwards_the_allow_list() {
    let http = http_server().await;
    let prober = Prober::new(None, Duration::from_secs(5)).unwrap();
    let text = prober
        .fetch_text(&format!("http://127.0.0.1:{http}/metrics"))
        .await
        .unwrap();
    let s = parse_metrics(&text, &["ai_request_errors".to_owned()]);
    assert_eq!((s.sessions_in_use, s.sessions_max), (Some(3), Some(10)));
    assert_eq!(
        s.forwarded,
        vec![(
            "livepeer_ai_request_errors".to_owned(),
            r#"{"error_code":"timeout","pipeline":"live-video-to-video"}"#.to_owned(),
            4.0
        )]
    );
    assert!(
        prober
            .fetch_text(&format!("http://127.0.0.1:{http}/nope"))
            .await
            .is_err()
    );
}
