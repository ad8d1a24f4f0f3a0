//! `jwt_verify`: the bearer JWT of an audio socket upgrade.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tonegate_core::auth::Refusal;
use tonegate_core::auth::jwt::header_kid;

use super::Input;
use super::jwt_fixture::fixed;

/// Bearer-token checks with the fixed test key, issuer, audience and clock. The first
/// input byte (mod 3) picks the token: 0, the fixed valid token edited by the rest (up
/// to 8 edits of 4 bytes: operation mod 3 (flip a byte's bits, insert a byte, remove
/// one), position (2 bytes, mod the length), byte); 1, the rest as the token text; 2,
/// header JSON, claims JSON and signature bytes, split at `\n` bytes and each base64url
/// encoded. Properties:
/// - never panics; reading the header is deterministic; the fixed token is accepted;
/// - a token whose `kid` is read has an RS256 header naming that `kid` (`alg: none`,
///   HMAC and other algorithms never reach a key);
/// - a token whose signature, issuer and audience check out is the fixed token, byte
///   for byte: nothing but the key's holder can make one.
pub fn jwt_verify(data: &[u8]) {
    let fixed = fixed();
    let mut input = Input::new(data);
    let token = match input.u8() % 3 {
        0 => edited(&fixed.token, &mut input),
        1 => String::from_utf8_lossy(input.bytes(usize::MAX)).into_owned(),
        _ => assembled(input.bytes(usize::MAX)),
    };
    // One RSA check per input: it dominates the time, and is deterministic by itself.
    let verdict = fixed.check(&token);
    let kid = header_kid(&token);
    assert_eq!(kid, header_kid(&token), "deterministic");
    if let Ok(kid) = kid {
        let header = token
            .split('.')
            .next()
            .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok());
        let header: Value = serde_json::from_slice(&header.expect("a read header is base64url"))
            .expect("a read header is JSON");
        assert_eq!(
            (&header["alg"], &header["kid"]),
            (&json!("RS256"), &json!(kid))
        );
    }
    // Only the test key is known, so a verified signature means the test key's.
    let verified = matches!(
        verdict,
        Ok(()) | Err(Refusal::Expired | Refusal::NotYetValid)
    );
    if verified {
        assert_eq!(
            token, fixed.token,
            "a token other than the signed one verifies"
        );
    }
}

/// `token` after up to 8 edits the input describes.
fn edited(token: &str, input: &mut Input) -> String {
    let mut bytes = token.as_bytes().to_vec();
    for _ in 0..8 {
        if input.is_empty() {
            break;
        }
        let op = input.u8() % 3;
        let at = usize::from(input.u16());
        let byte = input.u8();
        match op {
            0 if !bytes.is_empty() => {
                let i = at % bytes.len();
                bytes[i] ^= byte.max(1);
            }
            2 if !bytes.is_empty() => {
                bytes.remove(at % bytes.len());
            }
            _ => bytes.insert(at % (bytes.len() + 1), byte),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A token from `header\nclaims\nsignature`, each part base64url encoded.
fn assembled(data: &[u8]) -> String {
    data.splitn(3, |&b| b == b'\n')
        .map(|part| URL_SAFE_NO_PAD.encode(part))
        .collect::<Vec<_>>()
        .join(".")
}
