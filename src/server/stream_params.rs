//! Per-call settings carried in the audio WebSocket's URL query, for platforms whose
//! stream has no place for them in-band (ACS: `transportUrl` is set by the app per call,
//! e.g. `wss://host/media/acs?callbackUri=https%3A%2F%2Fapp.example%2Fevents`).

use serde::Deserialize;

/// What the query of an audio socket URL may set. Unknown keys are ignored.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StreamParams {
    /// Where the call's media-operation events go unless an operation names its own.
    /// An in-band value (raw `start` frame, Twilio custom parameter) takes precedence.
    pub callback_uri: Option<String>,
}

impl StreamParams {
    /// Reads the query string (without the `?`); the error is a message for the client.
    pub(crate) fn parse(query: Option<&str>) -> Result<StreamParams, String> {
        let params: StreamParams = serde_urlencoded::from_str(query.unwrap_or(""))
            .map_err(|e| format!("bad query string: {e}"))?;
        if let Some(uri) = &params.callback_uri {
            crate::api::check_http_url(uri).map_err(|why| format!("callbackUri {why}"))?;
        }
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_unknown_keys_give_defaults() {
        assert_eq!(StreamParams::parse(None), Ok(StreamParams::default()));
        assert_eq!(
            StreamParams::parse(Some("foo=1&bar")),
            Ok(StreamParams::default())
        );
    }

    #[test]
    fn callback_uri_is_percent_decoded() {
        let p = StreamParams::parse(Some("callbackUri=https%3A%2F%2Fapp.example%2Fev%3Fa%3D1"))
            .unwrap();
        assert_eq!(
            p.callback_uri.as_deref(),
            Some("https://app.example/ev?a=1")
        );
    }

    #[test]
    fn callback_uri_must_be_http() {
        for bad in [
            "ftp%3A%2F%2Fx%2F",
            "not-a-url",
            "file%3A%2F%2F%2Fetc%2Fpasswd",
        ] {
            let err = StreamParams::parse(Some(&format!("callbackUri={bad}"))).unwrap_err();
            assert!(err.starts_with("callbackUri "), "{err}");
        }
    }
}
