//! Where transcripts go: the operator's `transcription_url`, checked once at start, and
//! the TLS settings for `wss://` (the system's roots plus `http_ca_certs`, with rustls
//! and the *ring* provider the server uses elsewhere).

use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use url::Url;

use crate::Config;

/// The transcription WebSocket's address and TLS settings.
pub(crate) struct Target {
    url: Url,
    connector: Option<Connector>,
}

impl Target {
    /// The target of [`Config::transcription_url`], `None` if unset; the error names
    /// what is wrong with the setting.
    pub(crate) fn from_config(config: &Config) -> Result<Option<Arc<Target>>, String> {
        let Some(text) = config.transcription_url.as_deref() else {
            return Ok(None);
        };
        let url = Url::parse(text).map_err(|e| format!("transcription_url is not a URL: {e}"))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err("transcription_url has no host".to_owned());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("transcription_url may not carry credentials".to_owned());
        }
        let connector = match url.scheme() {
            "ws" => None,
            "wss" => Some(connector(config)?),
            other => {
                return Err(format!(
                    "transcription_url must be ws:// or wss://, not {other}://"
                ));
            }
        };
        Ok(Some(Arc::new(Target { url, connector })))
    }

    /// Opens a WebSocket to the target.
    pub(crate) async fn connect(
        &self,
    ) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, tokio_tungstenite::tungstenite::Error>
    {
        let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(
            self.url.as_str(),
            None,
            false,
            self.connector.clone(),
        )
        .await?;
        Ok(ws)
    }
}

/// TLS trusting the system's roots and `http_ca_certs`.
fn connector(config: &Config) -> Result<Connector, String> {
    let mut roots = RootCertStore::empty();
    // Unreadable system certificates are skipped: http_ca_certs may be all there is.
    let (added, _) =
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    let mut extra = 0;
    if let Some(path) = &config.http_ca_certs {
        let name = path.display();
        let pem = std::fs::read(path).map_err(|e| format!("http_ca_certs {name}: {e}"))?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("http_ca_certs {name}: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("http_ca_certs {name}: {e}"))?;
            extra += 1;
        }
    }
    if added + extra == 0 {
        return Err(
            "transcription_url is wss:// but no CA certificate is trusted: set http_ca_certs"
                .to_owned(),
        );
    }
    let tls = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Connector::Rustls(Arc::new(tls)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str) -> Result<bool, String> {
        let config = Config {
            transcription_url: Some(url.to_owned()),
            ..Config::default()
        };
        Target::from_config(&config).map(|t| t.is_some())
    }

    #[test]
    fn only_a_ws_or_wss_url_without_credentials_is_taken() {
        assert_eq!(
            Target::from_config(&Config::default()).map(|t| t.is_none()),
            Ok(true)
        );
        assert_eq!(check("ws://127.0.0.1:9000/transcripts"), Ok(true));
        for (url, why) in [
            ("https://app.example.com/t", "ws:// or wss://"),
            ("ws://user:secret@app.example.com/t", "credentials"),
            ("not a url", "not a URL"),
        ] {
            let err = check(url).unwrap_err();
            assert!(err.contains(why), "{url}: {err}");
        }
    }
}
