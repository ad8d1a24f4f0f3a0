//! HMAC-SHA256 request authentication of the Call Automation API: reads the signed
//! headers of an HTTP request and hands them to
//! [`tonegate_core::auth::request_signature`], which holds the scheme and its tests.

use std::time::SystemTime;

use tonegate_core::auth::request_signature::{Signed, Verified, verify};

/// [`verify`] of an HTTP request given by its method, URI (path and query as sent) and
/// headers (`host`, else the URI's authority).
pub fn verify_http(
    key: &[u8],
    method: &str,
    uri: &axum::http::Uri,
    headers: &axum::http::HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<Verified, &'static str> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = header("host").or_else(|| uri.authority().map(|a| a.as_str()));
    let signed = Signed {
        method,
        path_and_query: uri.path_and_query().map_or(uri.path(), |p| p.as_str()),
        host,
        date: header("x-ms-date"),
        content_sha256: header("x-ms-content-sha256"),
        authorization: header("authorization"),
    };
    verify(key, signed, body, now)
}
