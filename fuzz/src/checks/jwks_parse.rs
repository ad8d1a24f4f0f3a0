//! `jwks_parse`: JWKS documents, as the audio socket's JWT keys are read.

use std::collections::{HashMap, HashSet};

use jsonwebtoken::DecodingKey;
use serde_json::Value;
use tonegate_core::auth::Refusal;
use tonegate_core::auth::jwt::parse_jwks;

use super::jwt_fixture::fixed;

/// The input as a JWKS document (`parse_jwks`):
/// - never panics; the kids yielded are deterministic;
/// - an accepted document yields at least one key, and every key it yields is an RS256
///   signing key: its kid names an entry of the document whose `kty` is `RSA`, whose
///   `alg` (if any) is `RS256` and whose `use` (if any) is `sig`;
/// - every key yielded (up to 4) checks the fixed token without panicking: it accepts
///   it, or refuses it as a bad signature or an unreadable key.
pub fn jwks_parse(data: &[u8]) {
    let parsed = parse_jwks(data);
    assert_eq!(
        parsed.as_ref().map(kids),
        parse_jwks(data).as_ref().map(kids),
        "deterministic"
    );
    let keys = match parsed {
        Ok(keys) => keys,
        Err(message) => {
            assert!(!message.is_empty());
            return;
        }
    };
    assert!(!keys.is_empty(), "an accepted JWKS has a key");
    // Read as the parser reads it: serde skips unknown fields without checking their
    // escapes, and reads the struct from a one-element array too (both found by this
    // target; neither lets a key through that is not in `keys`).
    #[derive(serde::Deserialize)]
    struct Document {
        keys: Vec<Value>,
    }
    let document: Document = serde_json::from_slice(data).expect("an accepted JWKS reads");
    for kid in keys.keys() {
        assert!(
            document
                .keys
                .iter()
                .any(|entry| is_rs256_signing_key(entry, kid)),
            "kid {kid:?} is not an RS256 signing key of {:?}",
            document.keys
        );
    }
    let fixed = fixed();
    for key in keys.values().take(4) {
        match fixed.jwt.verify(&fixed.token, key) {
            Ok(_) | Err(Refusal::Signature | Refusal::Invalid) => {}
            Err(other) => panic!("a JWKS key refuses the fixed token as {other:?}"),
        }
    }
}

fn kids(keys: &HashMap<String, DecodingKey>) -> HashSet<String> {
    keys.keys().cloned().collect()
}

fn is_rs256_signing_key(entry: &Value, kid: &str) -> bool {
    let absent_or = |field: &str, wanted: &str| entry[field].is_null() || entry[field] == wanted;
    entry["kid"] == kid
        && entry["kty"] == "RSA"
        && absent_or("alg", "RS256")
        && absent_or("use", "sig")
}
