//! RS256 signature checks for jsonwebtoken, done by *ring* (the crypto library rustls
//! already brings) rather than jsonwebtoken's RustCrypto backend, whose `rsa` crate has an
//! open timing advisory (RUSTSEC-2023-0071). jsonwebtoken still parses the token and
//! validates the claims; this provider only answers "does this RSA public key sign this
//! message". It signs nothing: the server never issues JWTs.

use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature;
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};

/// RS256 verification only; every other algorithm and all signing are refused.
static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: no_signer,
    verifier_factory: verifier,
    jwk_utils: JwkUtils::new_unimplemented(),
};

/// Makes [`PROVIDER`] jsonwebtoken's provider for this process, unless one is already
/// installed (a program embedding tonegate may have chosen its own). Cheap to repeat.
pub(super) fn install() {
    let _ = PROVIDER.install_default();
}

fn no_signer(_: &Algorithm, _: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    Err(ErrorKind::InvalidAlgorithm.into())
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    match (algorithm, key.kind()) {
        (Algorithm::RS256, DecodingKeyKind::RsaModulusExponent { n, e }) => Ok(Box::new(Rs256 {
            key: RsaPublicKeyComponents {
                n: n.clone(),
                e: e.clone(),
            },
        })),
        (Algorithm::RS256, _) => Err(ErrorKind::InvalidKeyFormat.into()),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

/// An RSA public key checking PKCS#1 v1.5 SHA-256 signatures (2048 to 8192 bits).
struct Rs256 {
    key: RsaPublicKeyComponents<Vec<u8>>,
}

impl signature::Verifier<Vec<u8>> for Rs256 {
    fn verify(
        &self,
        message: &[u8],
        signature: &Vec<u8>,
    ) -> std::result::Result<(), signature::Error> {
        self.key
            .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Rs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use jsonwebtoken::jwk::Jwk;
    use ring::rand::SystemRandom;
    use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

    const JWKS: &str = include_str!("../../../../testdata/stream_auth/jwks.json");
    const PRIVATE_KEY: &str = include_str!("../../../../testdata/stream_auth/key_a.pem");

    fn sign(message: &[u8]) -> Vec<u8> {
        let base64: String = PRIVATE_KEY
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let key = RsaKeyPair::from_pkcs8(&STANDARD.decode(base64).unwrap()).unwrap();
        let mut signature = vec![0; key.public().modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            message,
            &mut signature,
        )
        .unwrap();
        signature
    }

    fn public_key() -> DecodingKey {
        let document: serde_json::Value = serde_json::from_str(JWKS).unwrap();
        let jwk: Jwk = serde_json::from_value(document["keys"][0].clone()).unwrap();
        DecodingKey::from_jwk(&jwk).unwrap()
    }

    #[test]
    fn rs256_signatures_verify_and_nothing_else_does() {
        let key = public_key();
        let message = b"header.claims";
        let signature = sign(message);
        let rs256 = verifier(&Algorithm::RS256, &key).unwrap();
        assert!(rs256.verify(message, &signature).is_ok());
        assert!(rs256.verify(b"header.claimz", &signature).is_err());
        let mut flipped = signature.clone();
        flipped[10] ^= 1;
        assert!(rs256.verify(message, &flipped).is_err());
        assert!(rs256.verify(message, &Vec::new()).is_err());
        // Other algorithms and key kinds are refused before any check.
        assert!(verifier(&Algorithm::HS256, &key).is_err());
        assert!(verifier(&Algorithm::RS384, &key).is_err());
        assert!(verifier(&Algorithm::RS256, &DecodingKey::from_secret(b"k")).is_err());
        // jsonwebtoken's own verification reaches this provider once installed.
        install();
        let encoded = URL_SAFE_NO_PAD.encode(&signature);
        let check = |message: &[u8]| {
            jsonwebtoken::crypto::verify(&encoded, message, &key, Algorithm::RS256).unwrap()
        };
        assert!(check(message));
        assert!(!check(b"header.claimz"));
    }
}
