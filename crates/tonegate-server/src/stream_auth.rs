//! Authentication of the audio WebSocket upgrade (`/media`, `/media/{dialect}`), per
//! [`Config::stream_auth`]:
//!
//! - `jwt`: `Authorization: Bearer <JWT>` as ACS sends it. Only RS256 is accepted; the
//!   signature is checked against the key of the token's `kid` in a JWKS document (a
//!   file or an http(s) URL), fetched on first use, again after
//!   [`Config::stream_auth_jwks_refresh_ms`] and when a token names an unknown `kid`,
//!   never more often than [`Config::stream_auth_jwks_min_interval_ms`]. A failed fetch
//!   keeps the keys already known (and is logged); with none, tokens are refused.
//!   `iss` and `aud` must match the configuration; `exp` (required) and `nbf` are
//!   checked against the server's clock with [`LEEWAY`](tonegate_core::auth::jwt::LEEWAY).
//!   The checks themselves are [`tonegate_core::auth::jwt`]'s; this module fetches and
//!   caches the keys.
//! - `token`: `Authorization: Bearer <token>`, compared in constant time; or a call
//!   token of scope `stream` ([`call_token`]), which limits the socket to its call.
//! - `none`: every upgrade is accepted.
//!
//! Twilio's `X-Twilio-Signature` is checked by `twilio_signature.rs`; its refusals are
//! [`Refusal`]s too. A refusal is a short reason for the 401 body that never holds the
//! token.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::http::HeaderValue;
use jsonwebtoken::DecodingKey;
use serde::{Deserialize, Serialize};
use tonegate_core::auth::bearer::{self, constant_time_eq, digest};
use tonegate_core::auth::call_token::{self, Scope, TokenError};
use tonegate_core::auth::jwt::{FetchSchedule, Jwt, header_kid, parse_jwks};
use tonegate_core::auth::unix_seconds;

pub(crate) use tonegate_core::auth::Refusal;

use super::Config;

/// Largest JWKS document read, bytes.
const MAX_JWKS_BYTES: u64 = 1 << 20;

/// How audio sockets authenticate ([`Config::stream_auth`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No authentication.
    #[default]
    None,
    /// The ACS RS256 bearer JWT.
    Jwt,
    /// A static bearer token.
    Token,
}

/// Checks the `Authorization` header of audio socket upgrades.
pub(crate) struct Verifier {
    kind: Kind,
}

enum Kind {
    None,
    /// SHA-256 of the expected token (equal lengths for the constant-time compare), and
    /// the access key call tokens are checked with (if one is configured).
    Token([u8; 32], Option<Vec<u8>>),
    Jwt(Box<JwtCheck>),
}

/// The JWT checks of `stream_auth = "jwt"`: RS256, issuer and audience from the
/// configuration, `exp` required, with the keys of the configured JWKS.
struct JwtCheck {
    jwt: Jwt,
    keys: KeyCache,
}

impl Verifier {
    /// The verifier `config` asks for, checking call tokens with `access_key` (the
    /// decoded [`Config::access_key`]); the error names the setting at fault.
    pub(crate) fn new(config: &Config, access_key: Option<&[u8]>) -> Result<Verifier, String> {
        let kind = match config.stream_auth {
            Mode::None => Kind::None,
            Mode::Token => {
                let token = config
                    .stream_auth_token
                    .as_deref()
                    .filter(|t| !t.trim().is_empty())
                    .ok_or("stream_auth = \"token\" needs stream_auth_token")?;
                if token.chars().any(|c| c.is_ascii_whitespace()) {
                    return Err("stream_auth_token may not contain whitespace".to_owned());
                }
                if call_token::is_call_token(token) {
                    return Err(format!(
                        "stream_auth_token may not start with {}",
                        call_token::PREFIX
                    ));
                }
                Kind::Token(digest(token), access_key.map(<[u8]>::to_vec))
            }
            Mode::Jwt => Kind::Jwt(Box::new(JwtCheck::new(config)?)),
        };
        Ok(Verifier { kind })
    }

    /// Checks an upgrade's `Authorization` header; returns the call the credential is
    /// limited to (a call token's), if any. `now` is the server's monotonic time (for
    /// the key cache), `wall` the wall-clock time (for `exp` and `nbf`, and call
    /// tokens' expiry); `client` fetches an http(s) JWKS.
    pub(crate) async fn check(
        &self,
        authorization: Option<&HeaderValue>,
        client: &reqwest::Client,
        now: Duration,
        wall: SystemTime,
    ) -> Result<Option<String>, Refusal> {
        match &self.kind {
            Kind::None => Ok(None),
            Kind::Token(expected, key) => {
                let token = bearer_header(authorization)?;
                if call_token::is_call_token(token) {
                    let key = key.as_deref().ok_or(Refusal::Invalid)?;
                    return call_token::verify(key, token, Scope::Stream, unix_seconds(wall))
                        .map(Some)
                        .map_err(|e| match e {
                            TokenError::Expired => Refusal::Expired,
                            TokenError::Malformed | TokenError::Signature => Refusal::Invalid,
                        });
                }
                if constant_time_eq(&digest(token), expected) {
                    Ok(None)
                } else {
                    Err(Refusal::Invalid)
                }
            }
            Kind::Jwt(jwt) => {
                let token = bearer_header(authorization)?;
                let kid = header_kid(token)?;
                let key = jwt.keys.key(&kid, client, now).await?;
                let times = jwt.jwt.verify(token, &key)?;
                // ACS's token names no call (its documented claims are iss, aud, exp,
                // nbf): an ACS call is bound to the first socket that claims it.
                times.check(unix_seconds(wall)).map(|()| None)
            }
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header ([`bearer::bearer`]); a
/// value that is not visible ASCII is [`Refusal::Invalid`].
pub(crate) fn bearer_header(value: Option<&HeaderValue>) -> Result<&str, Refusal> {
    let value = value
        .map(|v| v.to_str().map_err(|_| Refusal::Invalid))
        .transpose()?;
    bearer::bearer(value)
}

impl JwtCheck {
    /// The checks `config` asks for; the error names the setting at fault.
    fn new(config: &Config) -> Result<JwtCheck, String> {
        let audience = config
            .stream_auth_audience
            .as_deref()
            .filter(|a| !a.trim().is_empty())
            .ok_or("stream_auth = \"jwt\" needs stream_auth_audience (the ACS resource's immutable ID)")?;
        if config.stream_auth_issuer.trim().is_empty() {
            return Err("stream_auth_issuer may not be empty".to_owned());
        }
        let jwks = config
            .stream_auth_jwks
            .as_deref()
            .filter(|j| !j.trim().is_empty())
            .ok_or("stream_auth = \"jwt\" needs stream_auth_jwks (a JWKS URL or file)")?;
        if config.stream_auth_jwks_timeout_ms == 0 {
            return Err("stream_auth_jwks_timeout_ms must be at least 1".to_owned());
        }
        Ok(JwtCheck {
            jwt: Jwt::new(&config.stream_auth_issuer, audience),
            keys: KeyCache {
                source: Source::parse(jwks)?,
                schedule: FetchSchedule {
                    refresh: Duration::from_millis(config.stream_auth_jwks_refresh_ms),
                    min_interval: Duration::from_millis(config.stream_auth_jwks_min_interval_ms),
                },
                timeout: Duration::from_millis(config.stream_auth_jwks_timeout_ms),
                keys: RwLock::new(Arc::new(Keys::default())),
                last_attempt: tokio::sync::Mutex::new(None),
            },
        })
    }
}

/// Where the JWKS document is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Url(String),
    File(PathBuf),
}

impl Source {
    fn parse(text: &str) -> Result<Source, String> {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            reqwest::Url::parse(text)
                .map_err(|e| format!("stream_auth_jwks is not a valid URL: {e}"))?;
            Ok(Source::Url(text.to_owned()))
        } else if lower.contains("://") {
            Err("stream_auth_jwks must be an http(s) URL or a file path".to_owned())
        } else {
            Ok(Source::File(PathBuf::from(text)))
        }
    }

    /// The document's bytes. The error is one line.
    async fn read(&self, client: &reqwest::Client, timeout: Duration) -> Result<Vec<u8>, String> {
        match self {
            Source::Url(url) => {
                super::http::get_limited(client, url, (MAX_JWKS_BYTES, "1 MiB"), timeout)
                    .await
                    .map(Vec::from)
            }
            Source::File(path) => {
                let path = path.clone();
                let read = tokio::task::spawn_blocking(move || {
                    use std::io::Read;
                    let mut bytes = Vec::new();
                    std::fs::File::open(&path)?
                        .take(MAX_JWKS_BYTES + 1)
                        .read_to_end(&mut bytes)?;
                    Ok::<_, std::io::Error>(bytes)
                });
                let bytes = read
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                if bytes.len() as u64 > MAX_JWKS_BYTES {
                    return Err("larger than 1 MiB".to_owned());
                }
                Ok(bytes)
            }
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Url(url) => f.write_str(url),
            Source::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The RS256 signing keys of a JWKS document, by `kid`.
#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    /// Server time of the fetch these came from; `None` before the first success.
    fetched: Option<Duration>,
}

/// The cached signing keys and their refreshing.
struct KeyCache {
    source: Source,
    schedule: FetchSchedule,
    timeout: Duration,
    keys: RwLock<Arc<Keys>>,
    /// Server time of the last fetch attempt; held while fetching, so one fetch runs
    /// at a time and requests waiting for it then use its result.
    last_attempt: tokio::sync::Mutex<Option<Duration>>,
}

impl KeyCache {
    fn snapshot(&self) -> Arc<Keys> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The key of `kid`, fetching the JWKS first if it is due.
    async fn key(
        &self,
        kid: &str,
        client: &reqwest::Client,
        now: Duration,
    ) -> Result<DecodingKey, Refusal> {
        let keys = self.snapshot();
        let fresh = self.schedule.is_fresh(keys.fetched, now);
        if let Some(key) = keys.by_kid.get(kid).filter(|_| fresh) {
            return Ok(key.clone());
        }
        let mut last_attempt = self.last_attempt.lock().await;
        // Another request may have fetched while this one waited.
        let keys = self.snapshot();
        let has_kid = keys.by_kid.contains_key(kid);
        if self
            .schedule
            .is_due(keys.fetched, has_kid, *last_attempt, now)
        {
            *last_attempt = Some(now);
            match self.fetch(client).await {
                Ok(by_kid) => {
                    tracing::debug!(jwks = %self.source, keys = by_kid.len(), "loaded JWKS");
                    *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Keys {
                        by_kid,
                        fetched: Some(now),
                    });
                }
                Err(e) => tracing::warn!(jwks = %self.source, "cannot load JWKS: {e}"),
            }
        }
        drop(last_attempt);
        let keys = self.snapshot();
        match keys.by_kid.get(kid) {
            Some(key) => Ok(key.clone()),
            None if keys.fetched.is_none() => Err(Refusal::KeysUnavailable),
            None => Err(Refusal::UnknownKey),
        }
    }

    async fn fetch(
        &self,
        client: &reqwest::Client,
    ) -> Result<HashMap<String, DecodingKey>, String> {
        let bytes = self.source.read(client, self.timeout).await?;
        parse_jwks(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(value: &str) -> HeaderValue {
        HeaderValue::from_str(value).unwrap()
    }

    #[test]
    fn bearer_header_values() {
        assert_eq!(bearer_header(None), Err(Refusal::Missing));
        assert_eq!(bearer_header(Some(&header("bearer  abc "))), Ok("abc"));
        assert_eq!(
            bearer_header(Some(&header("Basic abc"))),
            Err(Refusal::Scheme)
        );
        let binary = HeaderValue::from_bytes(b"Bearer \xff").unwrap();
        assert_eq!(bearer_header(Some(&binary)), Err(Refusal::Invalid));
    }

    #[test]
    fn jwks_source() {
        assert_eq!(
            Source::parse("https://example.com/keys"),
            Ok(Source::Url("https://example.com/keys".to_owned()))
        );
        assert_eq!(
            Source::parse("keys/jwks.json"),
            Ok(Source::File(PathBuf::from("keys/jwks.json")))
        );
        assert!(Source::parse("ftp://example.com/keys").is_err());
        assert!(Source::parse("http://").is_err());
    }
}
