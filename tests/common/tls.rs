//! TLS helpers: a throwaway CA and server certificate written as PEM files, a TLS server,
//! and HTTPS and WSS clients that trust only that CA.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tonegate::server::Config;

use super::{TestServer, Ws, start};

/// A test CA and a server certificate it signed (for `localhost` and `127.0.0.1`), as PEM
/// files in a temporary directory removed on drop.
pub(crate) struct Pki {
    pub dir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The CA certificate alone, PEM.
    pub ca_file: PathBuf,
    pub ca: CertificateDer<'static>,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tonegate-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();

        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "tonegate test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();

        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        // Leaf first, then the CA, as a real chain file would be.
        std::fs::write(&cert, format!("{}{}", leaf.pem(), ca.pem())).unwrap();
        std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        Pki {
            dir,
            cert,
            key,
            ca_file,
            ca: ca.der().clone(),
        }
    }

    /// `config` set to serve TLS with this certificate.
    pub(crate) fn config(&self, mut config: Config) -> Config {
        config.tls_cert = Some(self.cert.clone());
        config.tls_key = Some(self.key.clone());
        config
    }

    /// Client settings that trust only this CA (ring, as the server uses).
    pub(crate) fn client_config(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    /// Server settings presenting this PKI's certificate (ring), for test HTTPS peers.
    pub(crate) fn server_config(&self) -> Arc<ServerConfig> {
        let chain = std::fs::read(&self.cert).unwrap();
        let certs = CertificateDer::pem_slice_iter(&chain)
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(&std::fs::read(&self.key).unwrap()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        Arc::new(config)
    }

    /// An HTTPS client that trusts only this CA.
    pub(crate) fn https_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_backend_preconfigured((*self.client_config()).clone())
            .build()
            .unwrap()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A server on 127.0.0.1:0 serving TLS with a fresh certificate.
pub(crate) async fn start_tls(config: Config) -> (TestServer, Pki) {
    let pki = Pki::new();
    let server = start(pki.config(config)).await;
    (server, pki)
}

/// A `wss://` client connection to `path`, trusting only `pki`'s CA.
pub(crate) async fn connect_wss(addr: SocketAddr, path: &str, pki: &Pki) -> Ws {
    try_connect_wss(addr, path, pki).await.unwrap()
}

/// As [`connect_wss`], returning the error (TLS or HTTP) instead of panicking.
pub(crate) async fn try_connect_wss(
    addr: SocketAddr,
    path: &str,
    pki: &Pki,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    try_connect_wss_with_headers(addr, path, pki, &[]).await
}

/// As [`try_connect_wss`], with extra upgrade request headers.
pub(crate) async fn try_connect_wss_with_headers(
    addr: SocketAddr,
    path: &str,
    pki: &Pki,
    headers: &[(&str, &str)],
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let request = super::upgrade_request(&format!("wss://{addr}{path}"), headers);
    let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(
        request,
        None,
        true,
        Some(tokio_tungstenite::Connector::Rustls(pki.client_config())),
    )
    .await?;
    Ok(ws)
}

/// A live ACS call over WSS (header `x-ms-call-connection-id: call_id`, and
/// [`super::STREAM_AUTH`]) whose events go to `callback_uri` and carry `serverCallId` `srv-<call_id>`, both given in the socket
/// URL's query as an app puts them in the ACS transport URL.
pub(crate) async fn live_acs_call(
    server: &TestServer,
    pki: &Pki,
    call_id: &str,
    callback_uri: &str,
) -> super::LiveCall {
    let server_call_id = format!("srv-{call_id}");
    let query = serde_urlencoded::to_string([
        ("callbackUri", callback_uri),
        ("serverCallId", &server_call_id),
    ])
    .unwrap();
    let ws = try_connect_wss_with_headers(
        server.addr,
        &format!("/media/acs?{query}"),
        pki,
        &[("x-ms-call-connection-id", call_id), super::STREAM_AUTH],
    )
    .await
    .unwrap();
    super::LiveCall::acs(ws, &server.handle, call_id).await
}
