//! The fixed JWT verifier, keys and token that `jwks_parse` and `jwt_verify` check
//! against.

use std::collections::HashMap;
use std::sync::OnceLock;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
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
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KID.to_owned());
        let claims = json!({"iss": ACS_ISSUER, "aud": AUDIENCE, "nbf": NOW_SECS - 60, "exp": NOW_SECS + 3_600});
        let key = EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).expect("test key");
        let fixed = Fixed {
            jwt: Jwt::new(ACS_ISSUER, AUDIENCE),
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
    pub(super) fn check(&self, token: &str) -> Result<(), Refusal> {
        let kid = header_kid(token)?;
        let key = self.keys.get(&kid).ok_or(Refusal::UnknownKey)?;
        self.jwt.verify(token, key)?.check(NOW_SECS)
    }
}
