//! Credentials of peers and API clients, checked without IO: every function takes the
//! text a request carried and the time as a value, and says yes or no.
//!
//! - [`request_signature`]: HMAC-SHA256 signatures of Call Automation API requests, as
//!   the ACS SDKs sign with an access key.
//! - [`call_token`]: tokens for one call, minted from the access key.
//! - [`bearer`]: `Authorization: Bearer` headers and static tokens.
//! - [`jwt`]: the RS256 JWT ACS sends with its audio socket, and JWKS documents.
//! - [`twilio_signature`]: Twilio's `X-Twilio-Signature` on audio socket upgrades.
//! - [`webhook_signature`]: the Standard Webhooks signature of outgoing events.
//!
//! Fetching a JWKS, reading headers and the clock stay in the server.

pub mod bearer;
pub mod call_token;
pub mod jwt;
mod refusal;
pub mod request_signature;
mod rs256;
pub mod twilio_signature;

pub use refusal::Refusal;

use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// HMAC-SHA256, the MAC of request signatures, call tokens and webhook signatures.
type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 keyed with `key`.
fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length")
}

/// Seconds since the Unix epoch (0 before it).
pub fn unix_seconds(wall: SystemTime) -> u64 {
    wall.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The Standard Webhooks `webhook-signature` of one delivery attempt:
/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, `timestamp` in unix
/// seconds. Receivers verify it with the secret `whsec_<access key, base64>`.
pub fn webhook_signature(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    let mut m = hmac_sha256(key);
    m.update(format!("{id}.{timestamp}.").as_bytes());
    m.update(body);
    format!("v1,{}", STANDARD.encode(m.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_signature_matches_the_standard_webhooks_vector() {
        // The example of the Standard Webhooks libraries (secret
        // `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`).
        let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let s = webhook_signature(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(s, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn unix_seconds_before_and_after_the_epoch() {
        use std::time::Duration;
        let epoch = SystemTime::UNIX_EPOCH;
        assert_eq!(unix_seconds(epoch + Duration::from_millis(1_999)), 1);
        assert_eq!(unix_seconds(epoch - Duration::from_secs(5)), 0);
    }
}
