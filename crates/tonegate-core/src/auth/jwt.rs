//! The RS256 JWT ACS sends with its audio socket (`Authorization: Bearer <JWT>`), the
//! JWKS document its keys come from, and when to fetch that document again.
//!
//! Only RS256 is accepted; the signature is checked against the key of the token's
//! `kid`. `iss` and `aud` must be the configured ones; `exp` (required) and `nbf` are
//! checked against the caller's clock with [`LEEWAY`]. Fetching the JWKS is the
//! server's job: this module parses what it fetched and says when to fetch.

use std::collections::HashMap;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::Refusal;

/// Issuer of the tokens ACS sends with its audio WebSocket.
pub const ACS_ISSUER: &str = "https://acscallautomation.communication.azure.com";

/// Clock difference allowed when checking `exp` and `nbf`.
pub const LEEWAY: Duration = Duration::from_secs(60);

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
    /// Whether the token is valid at `now` (unix seconds), with [`LEEWAY`].
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

/// The signature and claim checks of one issuer and audience: RS256, `iss`, `aud` and
/// `exp` required.
pub struct Jwt {
    validation: Validation,
}

impl Jwt {
    /// Checks for tokens of `issuer` meant for `audience`.
    pub fn new(issuer: &str, audience: &str) -> Jwt {
        super::rs256::install();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        // Checked against the caller's clock in `Times::check`.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Jwt { validation }
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

/// When cached JWKS keys are fresh and when to fetch the document again. Times are the
/// caller's monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchSchedule {
    /// Keys older than this are fetched again, even for a known `kid`.
    pub refresh: Duration,
    /// Fetch attempts are at least this far apart, whatever tokens arrive.
    pub min_interval: Duration,
}

impl FetchSchedule {
    /// Whether keys fetched at `fetched` (`None`: never) are still fresh at `now`.
    pub fn is_fresh(self, fetched: Option<Duration>, now: Duration) -> bool {
        fetched.is_some_and(|t| now.saturating_sub(t) < self.refresh)
    }

    /// Whether to fetch at `now`: the keys are stale or lack the token's `kid`
    /// (`has_kid`), and the last attempt is at least `min_interval` old.
    pub fn is_due(
        self,
        fetched: Option<Duration>,
        has_kid: bool,
        last_attempt: Option<Duration>,
        now: Duration,
    ) -> bool {
        let stale = !self.is_fresh(fetched, now);
        (stale || !has_kid)
            && last_attempt.is_none_or(|t| now.saturating_sub(t) >= self.min_interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWKS: &str = include_str!("../../../../testdata/stream_auth/jwks.json");

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
        let schedule = FetchSchedule {
            refresh: s(3_600),
            min_interval: s(10),
        };
        let none = None;
        let loaded = Some(s(100));
        // Nothing loaded yet: fetch, unless an attempt was just made.
        assert!(schedule.is_due(none, false, None, s(0)));
        assert!(!schedule.is_due(none, false, Some(s(5)), s(10)));
        assert!(schedule.is_due(none, false, Some(s(5)), s(15)));
        // Fresh keys holding the kid: no fetch.
        assert!(!schedule.is_due(loaded, true, Some(s(100)), s(200)));
        // Unknown kid: fetch, at most once per min_interval.
        assert!(schedule.is_due(loaded, false, Some(s(100)), s(200)));
        assert!(!schedule.is_due(loaded, false, Some(s(195)), s(200)));
        // Stale keys: fetch even for a known kid.
        assert!(schedule.is_due(loaded, true, Some(s(100)), s(3_700)));
        assert!(schedule.is_fresh(loaded, s(3_699)));
        assert!(!schedule.is_fresh(loaded, s(3_700)));
        assert!(!schedule.is_fresh(none, s(0)));
    }
}
