//! `Authorization: Bearer <token>` headers and static tokens compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Refusal;

/// The token of an `Authorization: Bearer <token>` header value (scheme
/// case-insensitive, surrounding spaces ignored).
pub fn bearer(value: Option<&str>) -> Result<&str, Refusal> {
    let value = value.ok_or(Refusal::Missing)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(Refusal::Scheme)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Refusal::Scheme);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(Refusal::Invalid);
    }
    Ok(token)
}

/// SHA-256 of a token: tokens are kept and compared as digests, so the comparison is
/// over equal lengths.
pub fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header() {
        assert_eq!(bearer(None), Err(Refusal::Missing));
        assert_eq!(bearer(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Ok("abc"));
        assert_eq!(bearer(Some("Basic abc")), Err(Refusal::Scheme));
        assert_eq!(bearer(Some("abc")), Err(Refusal::Scheme));
        assert_eq!(bearer(Some("Bearer  ")), Err(Refusal::Scheme));
    }

    #[test]
    fn token_compare() {
        assert!(constant_time_eq(&digest("s3cret"), &digest("s3cret")));
        assert!(!constant_time_eq(&digest("s3cret"), &digest("s3cres")));
        assert!(!constant_time_eq(&digest("s3cret"), &digest("")));
    }
}
