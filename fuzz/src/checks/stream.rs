//! `stream_query`, `jwks_parse` and `jwt_verify`: what an audio-socket upgrade carries
//! besides its frames (the URL query and the bearer JWT) and the JWKS its tokens are
//! checked against.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{Value, json};
use tonegate::api::check_http_url;
use tonegate::server::Config;
use tonegate::server::stream_auth::{ACS_ISSUER, Jwt, Mode, Refusal, header_kid, parse_jwks};
use tonegate::server::stream_params::StreamParams;

use super::Input;

/// Longest `serverCallId` the query may set, bytes.
const MAX_SERVER_CALL_ID: usize = 512;

/// The input as an audio socket's URL query (`StreamParams::parse`; invalid UTF-8
/// replaced, as a URI cannot hold it):
/// - never panics; the result is deterministic; an error is a message;
/// - an accepted `callbackUri` passes `check_http_url`, so a query cannot point the
///   call's webhooks at another scheme; an accepted `serverCallId` holds 1 to 512 bytes;
/// - the accepted values, encoded again as a query, read back the same;
/// - no query reads as no parameters.
pub(crate) fn stream_query(data: &[u8]) {
    let query = String::from_utf8_lossy(data);
    let read = StreamParams::parse(Some(&query));
    assert_eq!(read, StreamParams::parse(Some(&query)), "deterministic");
    assert_eq!(StreamParams::parse(None), Ok(StreamParams::default()));
    let params = match read {
        Ok(params) => params,
        Err(message) => {
            assert!(!message.is_empty());
            return;
        }
    };
    if let Some(uri) = &params.callback_uri {
        assert!(check_http_url(uri).is_ok(), "accepted callbackUri {uri:?}");
    }
    if let Some(id) = &params.server_call_id {
        assert!(
            (1..=MAX_SERVER_CALL_ID).contains(&id.len()),
            "serverCallId {id:?}"
        );
    }
    let pairs: Vec<(&str, &str)> = [
        ("callbackUri", params.callback_uri.as_deref()),
        ("serverCallId", params.server_call_id.as_deref()),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some((key, value?)))
    .collect();
    let encoded = serde_urlencoded::to_string(&pairs).expect("pairs encode");
    assert_eq!(
        StreamParams::parse(Some(&encoded)),
        Ok(params),
        "accepted values re-encoded as {encoded:?}"
    );
}

/// The JWKS document of the test signing key (`testdata/stream_auth`).
const JWKS: &str = include_str!("../../../testdata/stream_auth/jwks.json");
/// The private half of the JWKS's key, PEM.
const PRIVATE_KEY: &str = include_str!("../../../testdata/stream_auth/key_a.pem");
/// The `kid` of the JWKS's key.
const KID: &str = "test-key-a";
/// The audience the fixed verifier expects.
const AUDIENCE: &str = "fuzz-audience";
/// Seconds since the Unix epoch the fixed verifier checks times at.
const NOW_SECS: u64 = 1_700_000_000;

/// The input as a JWKS document (`parse_jwks`):
/// - never panics; the kids yielded are deterministic;
/// - an accepted document yields at least one key, and every key it yields is an RS256
///   signing key: its kid names an entry of the document whose `kty` is `RSA`, whose
///   `alg` (if any) is `RS256` and whose `use` (if any) is `sig`;
/// - every key yielded (up to 4) checks the fixed token without panicking: it accepts
///   it, or refuses it as a bad signature or an unreadable key.
pub(crate) fn jwks_parse(data: &[u8]) {
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

/// The fixed verifier, the test JWKS's keys and a token they accept.
struct Fixed {
    jwt: Jwt,
    keys: HashMap<String, DecodingKey>,
    token: String,
}

/// Built once: signing with RSA takes milliseconds.
fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| {
        let config = Config {
            stream_auth: Mode::Jwt,
            stream_auth_audience: Some(AUDIENCE.to_owned()),
            stream_auth_jwks: Some("jwks.json".to_owned()),
            ..Config::default()
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KID.to_owned());
        let claims = json!({"iss": ACS_ISSUER, "aud": AUDIENCE, "nbf": NOW_SECS - 60, "exp": NOW_SECS + 3_600});
        let key = EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).expect("test key");
        let fixed = Fixed {
            jwt: Jwt::new(&config).expect("valid JWT settings"),
            keys: parse_jwks(JWKS.as_bytes()).expect("test JWKS"),
            token: jsonwebtoken::encode(&header, &claims, &key).expect("signs"),
        };
        assert_eq!(
            fixed.check(&fixed.token),
            Ok(()),
            "the fixed token is accepted"
        );
        fixed
    })
}

impl Fixed {
    /// A token's verdict as the audio-socket upgrade reaches it once the keys are
    /// loaded: `kid` from the header, its key, signature and claims, then the times.
    fn check(&self, token: &str) -> Result<(), Refusal> {
        let kid = header_kid(token)?;
        let key = self.keys.get(&kid).ok_or(Refusal::UnknownKey)?;
        self.jwt.verify(token, key)?.check(NOW_SECS)
    }
}

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
pub(crate) fn jwt_verify(data: &[u8]) {
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
