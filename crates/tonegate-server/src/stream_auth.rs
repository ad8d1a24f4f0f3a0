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
//!   checked against the server's clock with [`LEEWAY`].
//! - `token`: `Authorization: Bearer <token>`, compared in constant time; or a call
//!   token of scope `stream` (see `call_token.rs`), which limits the socket to its call.
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
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Config;
use super::call_token::{self, Scope, TokenError};

/// Issuer of the tokens ACS sends with its audio WebSocket.
pub const ACS_ISSUER: &str = "https://acscallautomation.communication.azure.com";

/// Clock difference allowed when checking `exp` and `nbf`.
pub const LEEWAY: Duration = Duration::from_secs(60);

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

/// Why an upgrade was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `Authorization` header.
    #[error("missing Authorization header")]
    Missing,
    /// Not `Bearer <token>`.
    #[error("Authorization scheme must be Bearer")]
    Scheme,
    /// Wrong static token, or a JWT that cannot be read.
    #[error("invalid token")]
    Invalid,
    /// A JWT signed with anything but RS256.
    #[error("only RS256 tokens are accepted")]
    Algorithm,
    /// A JWT whose `kid` is missing or not in the JWKS.
    #[error("unknown signing key")]
    UnknownKey,
    /// A JWT whose signature does not verify.
    #[error("bad signature")]
    Signature,
    /// `iss` missing or not the configured issuer.
    #[error("wrong issuer")]
    Issuer,
    /// `aud` missing or not the configured audience.
    #[error("wrong audience")]
    Audience,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` is still ahead.
    #[error("token not yet valid")]
    NotYetValid,
    /// No signing keys could be loaded.
    #[error("signing keys unavailable")]
    KeysUnavailable,
    /// No `X-Twilio-Signature` header where one is required.
    #[error("missing X-Twilio-Signature header")]
    TwilioMissing,
    /// An `X-Twilio-Signature` that does not verify.
    #[error("invalid X-Twilio-Signature")]
    TwilioSignature,
    /// A call token for another call than the socket names.
    #[error("the token is for another call")]
    OtherCall,
}

impl Refusal {
    /// Every refusal, for metric labels.
    pub const ALL: [Refusal; 14] = [
        Refusal::Missing,
        Refusal::Scheme,
        Refusal::Invalid,
        Refusal::Algorithm,
        Refusal::UnknownKey,
        Refusal::Signature,
        Refusal::Issuer,
        Refusal::Audience,
        Refusal::Expired,
        Refusal::NotYetValid,
        Refusal::KeysUnavailable,
        Refusal::TwilioMissing,
        Refusal::TwilioSignature,
        Refusal::OtherCall,
    ];

    /// Short label for metrics.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Scheme => "scheme",
            Refusal::Invalid => "invalid",
            Refusal::Algorithm => "algorithm",
            Refusal::UnknownKey => "unknown_key",
            Refusal::Signature => "signature",
            Refusal::Issuer => "issuer",
            Refusal::Audience => "audience",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::KeysUnavailable => "keys_unavailable",
            Refusal::TwilioMissing => "twilio_missing",
            Refusal::TwilioSignature => "twilio_signature",
            Refusal::OtherCall => "other_call",
        }
    }

    /// The `WWW-Authenticate` challenge of the 401: the scheme the refused check wanted.
    pub fn challenge(self) -> &'static str {
        match self {
            Refusal::TwilioMissing | Refusal::TwilioSignature => "X-Twilio-Signature",
            _ => "Bearer",
        }
    }
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
    Jwt(Box<Jwt>),
}

/// The JWT checks of `stream_auth = "jwt"`: RS256, issuer and audience from the
/// configuration, `exp` required.
pub struct Jwt {
    validation: Validation,
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
            Mode::Jwt => Kind::Jwt(Box::new(Jwt::new(config)?)),
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
                let token = bearer(authorization)?;
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
                let token = bearer(authorization)?;
                let kid = header_kid(token)?;
                let key = jwt.keys.key(&kid, client, now).await?;
                let times = jwt.verify(token, &key)?;
                // ACS's token names no call (its documented claims are iss, aud, exp,
                // nbf): an ACS call is bound to the first socket that claims it.
                times.check(unix_seconds(wall)).map(|()| None)
            }
        }
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
pub(crate) fn bearer(value: Option<&HeaderValue>) -> Result<&str, Refusal> {
    let value = value.ok_or(Refusal::Missing)?;
    let value = value.to_str().map_err(|_| Refusal::Invalid)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(Refusal::Scheme)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Refusal::Scheme);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(Refusal::Invalid);
    }
    Ok(token)
}

pub(crate) fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Equality that takes the same time wherever the inputs differ.
pub(crate) fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Seconds since the Unix epoch (0 before it).
pub(crate) fn unix_seconds(wall: SystemTime) -> u64 {
    wall.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `kid` of an RS256 token's header.
pub fn header_kid(token: &str) -> Result<String, Refusal> {
    // `alg: none` and unknown algorithms fail here: `Algorithm` has no such variant.
    let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Invalid)?;
    if header.alg != Algorithm::RS256 {
        return Err(Refusal::Algorithm);
    }
    header.kid.ok_or(Refusal::UnknownKey)
}

/// The time claims of a verified token, seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Times {
    exp: f64,
    nbf: Option<f64>,
}

impl Times {
    /// Whether the token is valid at `now`, with [`LEEWAY`].
    pub fn check(self, now: u64) -> Result<(), Refusal> {
        let leeway = LEEWAY.as_secs_f64();
        let now = now as f64;
        if self.exp.is_nan() || self.exp + leeway < now {
            return Err(Refusal::Expired);
        }
        if self
            .nbf
            .is_some_and(|nbf| nbf.is_nan() || nbf - leeway > now)
        {
            return Err(Refusal::NotYetValid);
        }
        Ok(())
    }
}

impl Jwt {
    /// The checks `config` asks for; the error names the setting at fault.
    pub fn new(config: &Config) -> Result<Jwt, String> {
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
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&config.stream_auth_issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        // Checked against the server's clock in `Times::check`.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Ok(Jwt {
            validation,
            keys: KeyCache {
                source: Source::parse(jwks)?,
                refresh: Duration::from_millis(config.stream_auth_jwks_refresh_ms),
                min_interval: Duration::from_millis(config.stream_auth_jwks_min_interval_ms),
                timeout: Duration::from_millis(config.stream_auth_jwks_timeout_ms),
                keys: RwLock::new(Arc::new(Keys::default())),
                last_attempt: tokio::sync::Mutex::new(None),
            },
        })
    }

    /// Checks signature, algorithm, issuer and audience; returns the time claims.
    pub fn verify(&self, token: &str, key: &DecodingKey) -> Result<Times, Refusal> {
        jsonwebtoken::decode::<Times>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => Refusal::Signature,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => Refusal::Algorithm,
                ErrorKind::InvalidIssuer => Refusal::Issuer,
                ErrorKind::InvalidAudience => Refusal::Audience,
                ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
                    "iss" => Refusal::Issuer,
                    "aud" => Refusal::Audience,
                    _ => Refusal::Invalid,
                },
                _ => Refusal::Invalid,
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

/// Parses a JWKS document into its usable keys: RSA keys with a `kid` whose `alg` (if
/// given) is RS256 and whose `use` (if given) is `sig`. Other keys are skipped; a
/// document with no usable key is an error.
pub fn parse_jwks(bytes: &[u8]) -> Result<HashMap<String, DecodingKey>, String> {
    #[derive(Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let document: Document =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JWKS document: {e}"))?;
    let by_kid: HashMap<String, DecodingKey> = document
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter(|jwk| {
            matches!(jwk.algorithm, AlgorithmParameters::RSA(_))
                && jwk
                    .common
                    .key_algorithm
                    .is_none_or(|a| a == KeyAlgorithm::RS256)
                && jwk
                    .common
                    .public_key_use
                    .as_ref()
                    .is_none_or(|u| *u == PublicKeyUse::Signature)
        })
        .filter_map(|jwk| {
            let key = DecodingKey::from_jwk(&jwk).ok()?;
            Some((jwk.common.key_id?, key))
        })
        .collect();
    if by_kid.is_empty() {
        return Err("no RS256 signing key with a kid".to_owned());
    }
    Ok(by_kid)
}

/// Whether to fetch the JWKS: the keys are stale or lack the `kid`, and the last
/// attempt is at least `min_interval` old.
fn should_fetch(
    keys: &Keys,
    has_kid: bool,
    last_attempt: Option<Duration>,
    now: Duration,
    refresh: Duration,
    min_interval: Duration,
) -> bool {
    let stale = keys
        .fetched
        .is_none_or(|t| now.saturating_sub(t) >= refresh);
    (stale || !has_kid) && last_attempt.is_none_or(|t| now.saturating_sub(t) >= min_interval)
}

/// The cached signing keys and their refreshing.
struct KeyCache {
    source: Source,
    refresh: Duration,
    min_interval: Duration,
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
        let fresh = keys
            .fetched
            .is_some_and(|t| now.saturating_sub(t) < self.refresh);
        if let Some(key) = keys.by_kid.get(kid).filter(|_| fresh) {
            return Ok(key.clone());
        }
        let mut last_attempt = self.last_attempt.lock().await;
        // Another request may have fetched while this one waited.
        let keys = self.snapshot();
        let has_kid = keys.by_kid.contains_key(kid);
        if should_fetch(
            &keys,
            has_kid,
            *last_attempt,
            now,
            self.refresh,
            self.min_interval,
        ) {
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

    const JWKS: &str = include_str!("../../../testdata/stream_auth/jwks.json");

    fn header(value: &str) -> HeaderValue {
        HeaderValue::from_str(value).unwrap()
    }

    #[test]
    fn bearer_header() {
        assert_eq!(bearer(None), Err(Refusal::Missing));
        assert_eq!(bearer(Some(&header("Bearer abc"))), Ok("abc"));
        assert_eq!(bearer(Some(&header("bearer  abc "))), Ok("abc"));
        assert_eq!(bearer(Some(&header("Basic abc"))), Err(Refusal::Scheme));
        assert_eq!(bearer(Some(&header("abc"))), Err(Refusal::Scheme));
        assert_eq!(bearer(Some(&header("Bearer  "))), Err(Refusal::Scheme));
        let binary = HeaderValue::from_bytes(b"Bearer \xff").unwrap();
        assert_eq!(bearer(Some(&binary)), Err(Refusal::Invalid));
    }

    #[test]
    fn token_compare() {
        assert!(constant_time_eq(&digest("s3cret"), &digest("s3cret")));
        assert!(!constant_time_eq(&digest("s3cret"), &digest("s3cres")));
        assert!(!constant_time_eq(&digest("s3cret"), &digest("")));
    }

    #[test]
    fn time_claims_with_leeway() {
        let t = |exp, nbf| Times { exp, nbf };
        assert_eq!(t(1_000.0, None).check(1_000), Ok(()));
        assert_eq!(t(1_000.0, None).check(1_060), Ok(()));
        assert_eq!(t(1_000.0, None).check(1_061), Err(Refusal::Expired));
        assert_eq!(t(f64::NAN, None).check(0), Err(Refusal::Expired));
        assert_eq!(t(9_000.0, Some(1_060.0)).check(1_000), Ok(()));
        assert_eq!(
            t(9_000.0, Some(1_061.0)).check(1_000),
            Err(Refusal::NotYetValid)
        );
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

    #[test]
    fn jwks_keeps_only_rs256_signing_keys() {
        let keys = parse_jwks(JWKS.as_bytes()).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["test-key-a"]);
        let mut doc: serde_json::Value = serde_json::from_str(JWKS).unwrap();
        let rsa = doc["keys"][0].clone();
        let mut others = Vec::new();
        for (field, value) in [("kid", None), ("alg", Some("RS384")), ("use", Some("enc"))] {
            let mut k = rsa.clone();
            match value {
                Some(v) => k[field] = v.into(),
                None => {
                    k.as_object_mut().unwrap().remove(field);
                }
            }
            others.push(k);
        }
        others.push(serde_json::json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}));
        others.push(serde_json::json!({"kty": "weird", "kid": "x"}));
        doc["keys"] = others.clone().into();
        assert!(parse_jwks(doc.to_string().as_bytes()).is_err());
        others.push(rsa);
        doc["keys"] = others.into();
        let keys = parse_jwks(doc.to_string().as_bytes()).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["test-key-a"]);
        assert!(parse_jwks(b"not json").is_err());
        assert!(parse_jwks(br#"{"keys":[]}"#).is_err());
    }

    #[test]
    fn fetch_schedule() {
        let s = Duration::from_secs;
        let refresh = s(3_600);
        let min = s(10);
        let none = Keys::default();
        let loaded = Keys {
            by_kid: HashMap::new(),
            fetched: Some(s(100)),
        };
        // Nothing loaded yet: fetch, unless an attempt was just made.
        assert!(should_fetch(&none, false, None, s(0), refresh, min));
        assert!(!should_fetch(&none, false, Some(s(5)), s(10), refresh, min));
        assert!(should_fetch(&none, false, Some(s(5)), s(15), refresh, min));
        // Fresh keys holding the kid: no fetch.
        assert!(!should_fetch(
            &loaded,
            true,
            Some(s(100)),
            s(200),
            refresh,
            min
        ));
        // Unknown kid: fetch, at most once per min_interval.
        assert!(should_fetch(
            &loaded,
            false,
            Some(s(100)),
            s(200),
            refresh,
            min
        ));
        assert!(!should_fetch(
            &loaded,
            false,
            Some(s(195)),
            s(200),
            refresh,
            min
        ));
        // Stale keys: fetch even for a known kid.
        assert!(should_fetch(
            &loaded,
            true,
            Some(s(100)),
            s(3_700),
            refresh,
            min
        ));
    }
}
