//! Call-scoped tokens: credentials for one call, derived from the access key, so an app
//! can mint one at run time (no configuration change) and hand it to a browser or a
//! media client that must see or stream that call only.
//!
//! `tgc1.<b64url call id>.<expiry, unix s>.<b64url HMAC-SHA256(access key, message)>`,
//! base64url without padding, where the message is [`DOMAIN`], the scope, the call id
//! and the expiry, each ended by a newline. The scope ([`Scope::Events`] or
//! [`Scope::Stream`]) is signed but not written: a token of one scope never verifies as
//! the other. Checked with the MAC's constant-time comparison.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac;

use super::{HmacSha256, hmac_sha256};

/// Prefix of every call token (its format version).
pub const PREFIX: &str = "tgc1.";

/// Domain separation: these MACs can never be mistaken for another use of the key.
const DOMAIN: &str = "tonegate call token v1";

/// Longest call id a token may carry, bytes (as the audio socket headers allow).
const MAX_CALL_ID_BYTES: usize = 256;

/// What a call token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Reading the call's event stream (`GET /v1/calls/{id}/events`).
    Events,
    /// Opening the call's audio socket (with `stream_auth = "token"`).
    Stream,
}

impl Scope {
    /// The name signed into the token, and accepted on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Events => "events",
            Scope::Stream => "stream",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Scope, String> {
        match s {
            "events" => Ok(Scope::Events),
            "stream" => Ok(Scope::Stream),
            _ => Err(format!("unknown scope `{s}`: expected events or stream")),
        }
    }
}

/// Why a call token was refused. Never holds the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not `tgc1.<id>.<expiry>.<mac>`, or a part does not decode.
    #[error("malformed call token")]
    Malformed,
    /// The expiry has passed.
    #[error("call token expired")]
    Expired,
    /// The MAC does not verify (other key, other scope, or altered).
    #[error("call token signature does not match")]
    Signature,
}

fn mac(key: &[u8], scope: Scope, call_id: &str, expires: u64) -> HmacSha256 {
    let mut m = hmac_sha256(key);
    for part in [DOMAIN, scope.as_str(), call_id] {
        m.update(part.as_bytes());
        m.update(b"\n");
    }
    m.update(expires.to_string().as_bytes());
    m.update(b"\n");
    m
}

/// A token for `call_id` and `scope`, valid until `expires` (unix seconds).
pub fn mint(key: &[u8], scope: Scope, call_id: &str, expires: u64) -> String {
    let tag = mac(key, scope, call_id, expires).finalize().into_bytes();
    format!(
        "{PREFIX}{}.{expires}.{}",
        URL_SAFE_NO_PAD.encode(call_id),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// Whether `token` looks like a call token (rather than a static one).
pub fn is_call_token(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// Checks `token` for `scope` at `now` (unix seconds); returns the call it is for.
pub fn verify(key: &[u8], token: &str, scope: Scope, now: u64) -> Result<String, TokenError> {
    let rest = token.strip_prefix(PREFIX).ok_or(TokenError::Malformed)?;
    let mut parts = rest.split('.');
    let (Some(id), Some(expires), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    if id.len() > MAX_CALL_ID_BYTES * 2 {
        return Err(TokenError::Malformed);
    }
    let id = URL_SAFE_NO_PAD
        .decode(id)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|id| !id.is_empty() && id.len() <= MAX_CALL_ID_BYTES)
        .ok_or(TokenError::Malformed)?;
    let expires: u64 = expires.parse().map_err(|_| TokenError::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| TokenError::Malformed)?;
    mac(key, scope, &id, expires)
        .verify_slice(&tag)
        .map_err(|_| TokenError::Signature)?;
    if now > expires {
        return Err(TokenError::Expired);
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"a test access key, 32 bytes long";

    #[test]
    fn round_trip_and_refusals() {
        let token = mint(KEY, Scope::Events, "call-1", 1_000);
        assert!(token.starts_with("tgc1.Y2FsbC0x.1000."), "{token}");
        assert_eq!(verify(KEY, &token, Scope::Events, 1_000).unwrap(), "call-1");
        assert_eq!(
            verify(KEY, &token, Scope::Events, 1_001),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(KEY, &token, Scope::Stream, 10),
            Err(TokenError::Signature)
        );
        assert_eq!(
            verify(b"another key", &token, Scope::Events, 10),
            Err(TokenError::Signature)
        );
        // Another call id or a later expiry under the same MAC.
        let other = mint(KEY, Scope::Events, "call-2", 1_000);
        let forged = format!(
            "{}{}",
            &other[..other.rfind('.').unwrap()],
            &token[token.rfind('.').unwrap()..]
        );
        assert_eq!(
            verify(KEY, &forged, Scope::Events, 10),
            Err(TokenError::Signature)
        );
        let later = token.replace(".1000.", ".9999.");
        assert_eq!(
            verify(KEY, &later, Scope::Events, 10),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn malformed_tokens() {
        for bad in [
            "",
            "tgc1.",
            "tgc1.a.b",
            "tgc1.Y2FsbC0x.x.AAAA",
            "tgc1.Y2FsbC0x.1.AAAA.extra",
            "tgc1.!!!.1.AAAA",
            "tgc1..1.AAAA",
            "tgc2.Y2FsbC0x.1.AAAA",
        ] {
            assert_eq!(
                verify(KEY, bad, Scope::Events, 0),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
    }
}
