//! Twilio's `X-Twilio-Signature` on audio socket upgrades ([`Config::twilio_auth_token`]):
//! reads the header and hands it to [`tonegate_core::auth::twilio_signature`], which
//! holds the scheme, the URL forms accepted and the tests.

use axum::http::HeaderValue;
use tonegate_core::auth::twilio_signature;

use super::Config;
use super::stream_auth::Refusal;

/// The header Twilio puts its signature in.
pub(crate) const HEADER: &str = "x-twilio-signature";

/// Checks `X-Twilio-Signature` against the account's auth token.
pub(crate) struct Verifier(twilio_signature::Verifier);

impl Verifier {
    /// The verifier `config` asks for (none without `twilio_auth_token`); `tls` is whether
    /// tonegate serves TLS itself. The error names the setting at fault.
    pub(crate) fn new(config: &Config, tls: bool) -> Result<Option<Verifier>, String> {
        let verifier = twilio_signature::Verifier::new(
            config.public_url.as_deref(),
            config.twilio_auth_token.as_deref(),
            tls,
        )?;
        Ok(verifier.map(Verifier))
    }

    /// Checks an upgrade's `X-Twilio-Signature` header over the URL made of the base,
    /// `host` (the request's `Host`, used when no `public_url` is set) and
    /// `path_and_query` (as the request line gave it).
    pub(crate) fn check(
        &self,
        signature: Option<&HeaderValue>,
        host: Option<&str>,
        path_and_query: &str,
    ) -> Result<(), Refusal> {
        self.0
            .check(signature.map(HeaderValue::as_bytes), host, path_and_query)
    }
}
