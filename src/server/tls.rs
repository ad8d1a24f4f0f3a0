//! HTTPS and WSS on the server's one port: the certificate and key are read once at
//! start-up, and a listener hands axum only connections whose TLS handshake finished.
//!
//! Handshakes run as their own tasks, at most `max_tls_handshakes` at a time and each for
//! at most `tls_handshake_timeout_ms`, so a slow or broken client (a port scanner, plain
//! HTTP sent to the TLS port, a stalled ClientHello) holds up no one else: it is logged
//! at debug level, counted in `tonegate_tls_handshake_failures_total` and dropped.
//!
//! The crypto provider is *ring*, chosen explicitly rather than through the process-wide
//! default: it builds with only a C compiler (aws-lc-rs needs a much longer C build and,
//! on some targets, cmake), and naming it keeps start-up independent of which rustls
//! features other crates in the build happen to switch on.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;

use super::Error;
use super::metrics::Metrics;

/// Reads the PEM certificate chain and private key and builds the TLS settings
/// (TLS 1.2 and 1.3, ALPN `http/1.1`). Every error names the file at fault.
pub(crate) fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<ServerConfig>, Error> {
    let cert_error = |reason: String| Error::TlsFile {
        what: "certificate",
        path: cert_path.to_owned(),
        reason,
    };
    let key_error = |reason: String| Error::TlsFile {
        what: "key",
        path: key_path.to_owned(),
        reason,
    };

    let cert_pem = std::fs::read(cert_path).map_err(|e| cert_error(format!("cannot read: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(pem_reason(e, "CERTIFICATE")))?;
    if certs.is_empty() {
        return Err(cert_error(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned(),
        ));
    }

    let key_pem = std::fs::read(key_path).map_err(|e| key_error(format!("cannot read: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| key_error(pem_reason(e, "PRIVATE KEY")))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => key_error(format!(
                "does not match the certificate in {}",
                cert_path.display()
            )),
            other => key_error(format!("cannot be used with the certificate: {other}")),
        })?;
    // axum serves HTTP/1.1 (WebSocket upgrades need it); say so to clients that ask.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// One line on why a PEM file could not be used.
fn pem_reason(e: pem::Error, kind: &str) -> String {
    match e {
        pem::Error::NoItemsFound => {
            format!(
                "holds no PEM {} (-----BEGIN {kind}-----)",
                kind.to_lowercase()
            )
        }
        other => format!("is not valid PEM: {other}"),
    }
}

/// Result of one handshake task.
type Handshake = (SocketAddr, Result<TlsStream<TcpStream>, Failure>);

enum Failure {
    Timeout,
    Tls(std::io::Error),
}

/// An [`axum::serve::Listener`] that accepts TCP connections, sets `TCP_NODELAY`, and
/// yields them once their TLS handshake has finished.
pub(crate) struct Listener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    timeout: Duration,
    max_handshakes: usize,
    handshakes: JoinSet<Handshake>,
    metrics: Metrics,
}

impl Listener {
    pub(crate) fn new(
        tcp: TcpListener,
        config: Arc<ServerConfig>,
        timeout: Duration,
        max_handshakes: usize,
        metrics: Metrics,
    ) -> Listener {
        Listener {
            tcp,
            acceptor: TlsAcceptor::from(config),
            timeout,
            max_handshakes: max_handshakes.max(1),
            handshakes: JoinSet::new(),
            metrics,
        }
    }

    fn start_handshake(&mut self, tcp: TcpStream, addr: SocketAddr) {
        super::set_nodelay(&tcp);
        let accept = self.acceptor.accept(tcp);
        let timeout = self.timeout;
        self.handshakes.spawn(async move {
            let result = match tokio::time::timeout(timeout, accept).await {
                Ok(Ok(stream)) => Ok(stream),
                Ok(Err(e)) => Err(Failure::Tls(e)),
                Err(_) => Err(Failure::Timeout),
            };
            (addr, result)
        });
    }

    fn handshake_failed(&self, addr: SocketAddr, failure: Failure) {
        match failure {
            Failure::Timeout => {
                self.metrics
                    .tls_handshake_failures
                    .with_label_values(&["timeout"])
                    .inc();
                tracing::debug!(peer = %addr, "TLS handshake timed out");
            }
            Failure::Tls(e) => {
                self.metrics
                    .tls_handshake_failures
                    .with_label_values(&["error"])
                    .inc();
                tracing::debug!(peer = %addr, "TLS handshake failed: {e}");
            }
        }
    }
}

impl axum::serve::Listener for Listener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    // Cancel-safe, as axum needs when shutdown interrupts an accept: `TcpListener::accept`
    // and `JoinSet::join_next` are, and the handshakes live in `self`.
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let room = self.handshakes.len() < self.max_handshakes;
            tokio::select! {
                Some(done) = self.handshakes.join_next() => match done {
                    Ok((addr, Ok(stream))) => return (stream, addr),
                    Ok((addr, Err(failure))) => self.handshake_failed(addr, failure),
                    Err(e) => tracing::warn!("TLS handshake task failed: {e}"),
                },
                accepted = self.tcp.accept(), if room => match accepted {
                    Ok((tcp, addr)) => self.start_handshake(tcp, addr),
                    Err(e) => accept_error(e).await,
                },
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// As axum's own TCP listener does: a connection that died in the backlog is skipped;
/// anything else (out of file descriptors) is logged and retried after a second.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!("accept error: {e}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
