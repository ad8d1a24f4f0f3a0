//! HTTPS and WSS on the server's one port: the certificate and key are read once at
//! start-up, and each accepted connection (see `listener.rs`) runs its own handshake
//! before HTTP is served on it.
//!
//! A handshake takes at most `tls_handshake_timeout_ms`, first bytes included, so a slow
//! or broken client (a port scanner, plain HTTP sent to the TLS port, a stalled
//! ClientHello) holds up no one else: it is logged at debug level, counted in
//! `tonegate_tls_handshake_failures_total` and dropped. At most `max_tls_handshakes` are
//! worked on at once; a connection takes a turn only once its client has sent something,
//! so silent connections take none, and accepting never waits for a turn.
//!
//! The crypto provider is *ring*, chosen explicitly rather than through the process-wide
//! default: it builds with only a C compiler (aws-lc-rs needs a much longer C build and,
//! on some targets, cmake), and naming it keeps start-up independent of which rustls
//! features other crates in the build happen to switch on.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::Semaphore;
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
    // The server speaks HTTP/1.1 (WebSocket upgrades need it); say so to clients that ask.
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

enum Failure {
    Timeout,
    Tls(std::io::Error),
}

/// Runs the TLS handshakes of accepted connections.
pub(crate) struct Handshaker {
    acceptor: TlsAcceptor,
    timeout: Duration,
    /// Turns of handshakes worked on at once (`max_tls_handshakes`).
    turns: Semaphore,
    metrics: Metrics,
}

impl Handshaker {
    pub(crate) fn new(
        config: Arc<ServerConfig>,
        timeout: Duration,
        max_handshakes: usize,
        metrics: Metrics,
    ) -> Handshaker {
        Handshaker {
            acceptor: TlsAcceptor::from(config),
            timeout,
            turns: Semaphore::new(max_handshakes.clamp(1, Semaphore::MAX_PERMITS)),
            metrics,
        }
    }

    /// Waits for the client's first bytes, then for a turn, then runs the handshake, all
    /// within the timeout. `None` when it failed (logged and counted).
    pub(crate) async fn handshake(
        &self,
        tcp: TcpStream,
        peer: SocketAddr,
    ) -> Option<TlsStream<TcpStream>> {
        let handshake = async {
            // Until the client's first bytes (or its EOF): `readable` alone may wake early.
            tcp.peek(&mut [0u8; 1]).await?;
            let _turn = self
                .turns
                .acquire()
                .await
                .map_err(|_| std::io::Error::other("handshake turns closed"))?;
            self.acceptor.accept(tcp).await
        };
        let failure = match tokio::time::timeout(self.timeout, handshake).await {
            Ok(Ok(stream)) => return Some(stream),
            Ok(Err(e)) => Failure::Tls(e),
            Err(_) => Failure::Timeout,
        };
        self.handshake_failed(peer, failure);
        None
    }

    fn handshake_failed(&self, peer: SocketAddr, failure: Failure) {
        match failure {
            Failure::Timeout => {
                self.metrics
                    .tls_handshake_failures
                    .with_label_values(&["timeout"])
                    .inc();
                tracing::debug!(%peer, "TLS handshake timed out");
            }
            Failure::Tls(e) => {
                self.metrics
                    .tls_handshake_failures
                    .with_label_values(&["error"])
                    .inc();
                tracing::debug!(%peer, "TLS handshake failed: {e}");
            }
        }
    }
}
