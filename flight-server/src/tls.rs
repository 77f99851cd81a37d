//! Optional TLS for both listeners, from PEM certificate and key files.
//!
//! Handshakes run in their own tasks, so a slow or silent client never holds
//! up the next connection; finished connections are handed to the Flight
//! (gRPC, ALPN `h2`) and HTTP (ALPN `h2`, `http/1.1`) servers as streams.
//! Every connection is first counted and timed by [`naap_net`].

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::info;

/// The certificate chain and key a server presents.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading the certificate chain {path}: {detail}")]
    Certs { path: String, detail: String },
    #[error("reading the private key {path}: {detail}")]
    Key { path: String, detail: String },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn shown(p: &Path) -> String {
    p.display().to_string()
}

/// A rustls server configuration offering `alpn`.
pub fn server_config(files: &TlsFiles, alpn: &[&[u8]]) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Certs {
            path: shown(&files.cert),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Certs {
            path: shown(&files.cert),
            detail: "no certificate in the file".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::Key {
        path: shown(&files.key),
        detail: e.to_string(),
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// An accepted connection, plain or TLS, as both servers take it; it holds
/// a slot of its listener (see [`naap_net`]).
#[derive(Debug)]
pub enum Conn {
    Plain(naap_net::Guarded<TcpStream>),
    Tls(Box<tokio_rustls::server::TlsStream<naap_net::Guarded<TcpStream>>>),
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(c) => Pin::new(c).poll_read(cx, buf),
            Conn::Tls(c) => Pin::new(c.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(c) => Pin::new(c).poll_write(cx, buf),
            Conn::Tls(c) => Pin::new(c.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(c) => Pin::new(c).poll_flush(cx),
            Conn::Tls(c) => Pin::new(c.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(c) => Pin::new(c).poll_shutdown(cx),
            Conn::Tls(c) => Pin::new(c.as_mut()).poll_shutdown(cx),
        }
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

/// Accepts on `incoming` within `limits` and hands out connections, after
/// their TLS handshake where the listener has a certificate. Handshakes run
/// in tasks of their own, so a slow client never holds up the next one.
pub fn connections(incoming: Incoming, limits: naap_net::ConnLimits, name: &'static str) -> mpsc::Receiver<Conn> {
    let (tx, rx) = mpsc::channel(64);
    let (listener, config) = match incoming {
        Incoming::Plain(l) => (l, None),
        Incoming::Tls(l, config) => (l, Some(config)),
    };
    let mut accepted = naap_net::accept(listener, limits, name);
    tokio::spawn(async move {
        let acceptor = config.map(tokio_rustls::TlsAcceptor::from);
        while let Some(conn) = accepted.recv().await {
            let Some(acceptor) = acceptor.clone() else {
                if tx.send(Conn::Plain(conn)).await.is_err() {
                    return;
                }
                continue;
            };
            let sender = tx.clone();
            tokio::spawn(async move {
                let peer = conn.peer();
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(conn)).await {
                    Ok(Ok(tls)) => {
                        let _ = sender.send(Conn::Tls(Box::new(tls))).await;
                    }
                    Ok(Err(e)) => info!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => info!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    rx
}

/// A bound listener, plain or TLS.
#[derive(Debug)]
pub enum Incoming {
    Plain(TcpListener),
    Tls(TcpListener, Arc<rustls::ServerConfig>),
}

impl Incoming {
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        match self {
            Incoming::Plain(l) | Incoming::Tls(l, _) => l.local_addr(),
        }
    }
}
