//! Bounded HTTP GETs through the server's shared client (play-source downloads and the
//! JWKS of audio-socket token checks) and bounded reads of any response body (the HTTP
//! speech engine's).

use std::time::Duration;

use axum::body::Bytes;

/// GETs `url` within `timeout` (not the client's own); a body over `limit.0` bytes is
/// refused, naming the setting `limit.1`. The error is one line.
pub(crate) async fn get_limited(
    client: &reqwest::Client,
    url: &str,
    limit: (u64, &str),
    timeout: Duration,
) -> Result<Bytes, String> {
    let fetch = async {
        let response = client
            .get(url)
            .timeout(timeout)
            .send()
            .await
            .map_err(download_error)?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        read_limited(response, limit).await
    };
    tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| "download timed out".to_owned())?
}

/// Reads `response`'s body; one over `limit.0` bytes (declared or streamed) is refused,
/// naming the setting `limit.1`. The error is one line.
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    (limit, setting): (u64, &str),
) -> Result<Bytes, String> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(format!("larger than {setting} ({limit})"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(download_error)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(format!("larger than {setting} ({limit})"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// A request error as one line with its causes (`connection refused`, ...), without
/// the URL.
pub(crate) fn download_error(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return "download timed out".to_owned();
    }
    // The URL may carry a credential in its query (signed URLs); the log names the
    // source without it.
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
