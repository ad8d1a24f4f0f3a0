//! TLS for `wss://` and `https://`: the system's roots plus `--ca-cert`, with rustls and
//! the *ring* provider (as the server uses).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, ensure};
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_tungstenite::Connector;

/// The certificates of `--ca-cert`.
pub(crate) fn read_ca(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let name = path.display();
    let pem = std::fs::read(path).with_context(|| format!("--ca-cert {name}: cannot read"))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("--ca-cert {name}: not PEM certificates"))?;
    ensure!(
        !certs.is_empty(),
        "--ca-cert {name}: no certificate in the file"
    );
    Ok(certs)
}

/// The WebSocket TLS settings: the system's roots and `extra`.
pub(crate) fn connector(extra: &[CertificateDer<'static>]) -> anyhow::Result<Connector> {
    let mut roots = RootCertStore::empty();
    // Unreadable system certificates are skipped: --ca-cert may be all that is needed.
    let (added, _ignored) =
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    for cert in extra {
        roots
            .add(cert.clone())
            .context("--ca-cert: unusable certificate")?;
    }
    ensure!(
        added > 0 || !extra.is_empty(),
        "no trusted certificates: the system has none readable; give --ca-cert"
    );
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("TLS settings")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Connector::Rustls(Arc::new(config)))
}

/// The HTTP client of the event streams, trusting the system's roots and `extra`.
pub(crate) fn http_client(extra: &[CertificateDer<'static>]) -> anyhow::Result<reqwest::Client> {
    // reqwest is built without a default crypto provider; choose ring (a no-op if one
    // is already installed).
    let _ = ring::default_provider().install_default();
    let certs = extra
        .iter()
        .map(|c| reqwest::Certificate::from_der(c.as_ref()))
        .collect::<Result<Vec<_>, _>>()
        .context("--ca-cert")?;
    reqwest::Client::builder()
        .tls_certs_merge(certs)
        .build()
        .context("cannot build the HTTP client")
}
