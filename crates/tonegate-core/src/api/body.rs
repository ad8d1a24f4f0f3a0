//! Reading a request body before its `validate` step.

use super::ApiError;

/// Reads a request body as JSON into `T`; an empty or all-whitespace body is `T`'s
/// default (every field absent), as the SDKs send for operations without options. A
/// body that does not read is a 400 saying why.
pub fn parse_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PlayRequest;

    #[test]
    fn blank_bodies_read_as_defaults_and_bad_json_is_a_400() {
        for blank in [&b""[..], b" \r\n\t"] {
            assert_eq!(parse_body::<PlayRequest>(blank), Ok(PlayRequest::default()));
        }
        let error = parse_body::<PlayRequest>(b"{").unwrap_err();
        assert_eq!((error.status, error.code), (400, "BadRequest"));
        assert!(
            error.message.starts_with("request body is not valid"),
            "{error}"
        );
    }
}
