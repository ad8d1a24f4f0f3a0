//! The fixed JWT verifier, keys and token that `jwks_parse` and `jwt_verify` check
//! against.

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::DecodingKey;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::json;
use tonegate_core::auth::Refusal;
use tonegate_core::auth::jwt::{ACS_ISSUER, Jwt, header_kid, parse_jwks};

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

/// The fixed verifier, the test JWKS's keys and a token they accept.
pub(super) struct Fixed {
    /// The checks of the fixed issuer and audience.
    pub(super) jwt: Jwt,
    /// The test JWKS's keys, by kid.
    keys: HashMap<String, DecodingKey>,
    /// A token signed with the test key, valid at the fixed time.
    pub(super) token: String,
}

/// Built once: signing with RSA takes milliseconds.
pub(super) fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| {
        let claims = json!({"iss": ACS_ISSUER, "aud": AUDIENCE, "nbf": NOW_SECS - 60, "exp": NOW_SECS + 3_600});
        let fixed = Fixed {
            jwt: Jwt::new(ACS_ISSUER, AUDIENCE),
            keys: parse_jwks(JWKS.as_bytes()).expect("test JWKS"),
            token: rs256(&claims),
        };
        assert_eq!(
            fixed.check(&fixed.token),
            Ok(()),
            "the fixed token is accepted"
        );
        fixed
    })
}

/// `claims` as an RS256 token signed with the test key, naming its `kid`.
fn rs256(claims: &serde_json::Value) -> String {
    let der: String = PRIVATE_KEY
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let key = RsaKeyPair::from_pkcs8(&STANDARD.decode(der).expect("PEM base64")).expect("test key");
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": KID});
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signed.as_bytes(),
        &mut signature,
    )
    .expect("signs");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

impl Fixed {
    /// A token's verdict as the audio-socket upgrade reaches it once the keys are
    /// loaded: `kid` from the header, its key, signature and claims, then the times.
    pub(super) fn check(&self, token: &str) -> Result<(), Refusal> {
        let kid = header_kid(token)?;
        let key = self.keys.get(&kid).ok_or(Refusal::UnknownKey)?;
        self.jwt.verify(token, key)?.check(NOW_SECS)
    }
}
