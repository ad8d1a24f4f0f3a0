//! HMAC-SHA256 request authentication, exactly as the ACS SDKs sign with an access key.
//!
//! The SDK sends `x-ms-date` (RFC 1123), `x-ms-content-sha256` (base64 SHA-256 of the
//! body), `host`, and `Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;
//! x-ms-content-sha256&Signature=<sig>` with
//! `sig = base64(HMAC-SHA256(key, VERB "\n" path_and_query "\n" date ";" host ";" hash))`.
//! SDKs differ in the host they sign: a host signed with the default port (443, 80)
//! matches a `host` header without it, and a bare host name one with any port.

use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac;
use sha2::{Digest, Sha256};

use super::hmac_sha256;

/// Largest allowed difference between `x-ms-date` and the server's clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// The headers of a request that matter to its signature.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// Path and query exactly as sent.
    pub path_and_query: &'a str,
    /// `host` header (or the URI authority).
    pub host: Option<&'a str>,
    /// `x-ms-date`.
    pub date: Option<&'a str>,
    /// `x-ms-content-sha256`.
    pub content_sha256: Option<&'a str>,
    /// `Authorization`.
    pub authorization: Option<&'a str>,
}

/// base64 of the body's SHA-256.
pub fn content_hash(body: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(body))
}

/// The string the SDK signs.
pub fn string_to_sign(
    method: &str,
    path_and_query: &str,
    date: &str,
    host: &str,
    hash: &str,
) -> String {
    format!(
        "{}\n{path_and_query}\n{date};{host};{hash}",
        method.to_ascii_uppercase()
    )
}

/// Signs a request as the SDK does; returns the `Authorization` header value.
pub fn sign(
    key: &[u8],
    method: &str,
    path_and_query: &str,
    date: &str,
    host: &str,
    body: &[u8],
) -> String {
    let hash = content_hash(body);
    let mut m = hmac_sha256(key);
    m.update(string_to_sign(method, path_and_query, date, host, &hash).as_bytes());
    let sig = STANDARD.encode(m.finalize().into_bytes());
    format!("HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={sig}")
}

/// A request whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signature's bytes: the same request sent again carries the same ones.
    pub signature: Vec<u8>,
    /// When the request's date falls out of [`MAX_CLOCK_SKEW`], so it can no longer
    /// verify.
    pub expires: SystemTime,
}

/// Checks a request's signature, body hash and date. The error says what was wrong.
pub fn verify(
    key: &[u8],
    req: Signed<'_>,
    body: &[u8],
    now: SystemTime,
) -> Result<Verified, &'static str> {
    let authorization = req.authorization.ok_or("missing Authorization header")?;
    let rest = authorization
        .strip_prefix("HMAC-SHA256 ")
        .ok_or("Authorization scheme must be HMAC-SHA256")?;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.trim().split('&') {
        if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    if !signed_headers.is_some_and(|h| h.eq_ignore_ascii_case("x-ms-date;host;x-ms-content-sha256"))
    {
        return Err("SignedHeaders must be x-ms-date;host;x-ms-content-sha256");
    }
    let signature = STANDARD
        .decode(signature.ok_or("missing Signature")?)
        .map_err(|_| "Signature is not base64")?;
    let date = req.date.ok_or("missing x-ms-date header")?;
    let when = httpdate::parse_http_date(date).map_err(|_| "x-ms-date is not an RFC 1123 date")?;
    let skew = match now.duration_since(when) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if skew > MAX_CLOCK_SKEW {
        return Err("x-ms-date is more than 5 minutes from the server's time");
    }
    let claimed = req
        .content_sha256
        .ok_or("missing x-ms-content-sha256 header")?;
    if claimed != content_hash(body) {
        return Err("x-ms-content-sha256 does not match the body");
    }
    let host = req.host.ok_or("missing host header")?;
    let signed_with = |host: &str| {
        let mut m = hmac_sha256(key);
        m.update(string_to_sign(req.method, req.path_and_query, date, host, claimed).as_bytes());
        m.verify_slice(&signature).is_ok()
    };
    if signed_with(host) || other_host_forms(host).iter().any(|h| signed_with(h)) {
        Ok(Verified {
            signature,
            expires: when + MAX_CLOCK_SKEW,
        })
    } else {
        Err("signature does not match")
    }
}

/// The other forms of the `host` header an SDK may have signed. Without a port: with the
/// default port (443, or 80) added, as the Python SDK signs the endpoint's authority as
/// written in the connection string (`https://example.com:443/` signs `example.com:443`)
/// while its HTTP client leaves the default port out of `Host`. With a port: the bare
/// name, as the Java SDK signs the URL's host without its port while an HTTP client that
/// sets `Host` itself sends it with one. The JS and .NET SDKs sign what they send.
fn other_host_forms(host: &str) -> Vec<String> {
    // The port follows the last colon after an IPv6 literal's closing bracket, if any.
    let name_end = host.rfind(']').map_or(0, |i| i + 1);
    match host[name_end..].rfind(':') {
        Some(i) => vec![host[..name_end + i].to_owned()],
        None => vec![format!("{host}:443"), format!("{host}:80")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn request<'a>(date: &'a str, hash: &'a str, auth: &'a str) -> Signed<'a> {
        Signed {
            method: "POST",
            path_and_query: "/calling/callConnections/c1:play?api-version=2026-03-12",
            host: Some("127.0.0.1:8443"),
            date: Some(date),
            content_sha256: Some(hash),
            authorization: Some(auth),
        }
    }

    #[test]
    fn accepts_own_signature_and_refuses_tampering() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let date = httpdate::fmt_http_date(now);
        let body = br#"{"playSources":[]}"#;
        let hash = content_hash(body);
        let path = "/calling/callConnections/c1:play?api-version=2026-03-12";
        let auth = sign(KEY, "POST", path, &date, "127.0.0.1:8443", body);
        let verified = verify(KEY, request(&date, &hash, &auth), body, now).unwrap();
        assert_eq!(verified.expires, now + MAX_CLOCK_SKEW);
        assert_eq!(verified.signature.len(), 32);
        // Another body with the original hash header.
        assert!(verify(KEY, request(&date, &hash, &auth), b"{}", now).is_err());
        // Another key.
        assert!(verify(b"other", request(&date, &hash, &auth), body, now).is_err());
        // Stale date.
        let late = now + Duration::from_secs(301);
        assert!(verify(KEY, request(&date, &hash, &auth), body, late).is_err());
        let early = now - Duration::from_secs(301);
        assert!(verify(KEY, request(&date, &hash, &auth), body, early).is_err());
        // Another path.
        let mut r = request(&date, &hash, &auth);
        r.path_and_query = "/calling/callConnections/c2:play?api-version=2026-03-12";
        assert!(verify(KEY, r, body, now).is_err());
    }

    /// An SDK that signed the host with the default port while `Host` leaves it out (the
    /// Python SDK with `endpoint=https://host:443/`), or signed the bare name while `Host`
    /// has a port (the Java SDK), is accepted; another host or port is not.
    #[test]
    fn accepts_the_host_forms_sdks_sign() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let date = httpdate::fmt_http_date(now);
        let body = b"{}";
        let hash = content_hash(body);
        let path = "/calling/callConnections/c1:play?api-version=2026-03-12";
        let check = |signed: &str, sent: &'static str| {
            let auth = sign(KEY, "POST", path, &date, signed, body);
            let mut r = request(&date, &hash, &auth);
            r.host = Some(sent);
            verify(KEY, r, body, now).map(|_| ())
        };
        for (signed, sent) in [
            ("tonegate.example:443", "tonegate.example"),
            ("tonegate.example:80", "tonegate.example"),
            ("tonegate.example", "tonegate.example:443"),
            ("tonegate.example", "tonegate.example:8443"),
            ("[::1]:443", "[::1]"),
            ("[::1]", "[::1]:8443"),
        ] {
            assert_eq!(check(signed, sent), Ok(()), "signed {signed}, sent {sent}");
        }
        for (signed, sent) in [
            ("tonegate.example:8443", "tonegate.example"),
            ("tonegate.example:8443", "tonegate.example:9443"),
            ("other.example", "tonegate.example:8443"),
            ("other.example:443", "tonegate.example"),
            ("[::1]:443", "[::2]"),
        ] {
            assert_eq!(
                check(signed, sent),
                Err("signature does not match"),
                "signed {signed}, sent {sent}"
            );
        }
    }

    /// A signature computed by the Python SDK's `HMACCredentialsPolicy` (same inputs).
    #[test]
    fn matches_python_sdk_vector() {
        let key = STANDARD
            .decode("aGVsbG8gd29ybGQgdGhpcyBpcyBhIGtleQ==")
            .unwrap();
        let string = string_to_sign(
            "POST",
            "/calling/callConnections/abc:play?api-version=2026-03-12",
            "Mon, 01 Jan 2024 00:00:00 GMT",
            "127.0.0.1:8443",
            &content_hash(b"{}"),
        );
        let mut m = hmac_sha256(&key);
        m.update(string.as_bytes());
        assert_eq!(STANDARD.encode(m.finalize().into_bytes()), PYTHON_SIGNATURE);
    }

    const PYTHON_SIGNATURE: &str = "clWeSa77YnklsoeOeq4rMFqCpdU2VurL//+2EkFLJNE=";
}
