//! Per-call settings carried in the audio WebSocket's URL query, for platforms whose
//! stream has no place for them in-band (ACS: `transportUrl` is set by the app per call,
//! e.g. `wss://host/media/acs?callbackUri=https%3A%2F%2Fapp.example%2Fevents&serverCallId=...`).

use serde::Deserialize;

/// What the query of an audio socket URL may set. Unknown keys are ignored.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamParams {
    /// Where the call's media-operation events go unless an operation names its own.
    /// An in-band value (raw `start` frame, Twilio custom parameter) takes precedence.
    /// Honoured only if the callback policy (`callback_allow`) accepts it.
    pub callback_uri: Option<String>,
    /// The call's `serverCallId` as ACS knows it (the app has it from the incoming-call
    /// event); echoed in events and call properties instead of the stream's id.
    pub server_call_id: Option<String>,
}

impl StreamParams {
    /// Reads the query string (without the `?`); the error is a message for the client.
    pub fn parse(query: Option<&str>) -> Result<StreamParams, String> {
        let params: StreamParams = serde_urlencoded::from_str(query.unwrap_or(""))
            .map_err(|e| format!("bad query string: {e}"))?;
        if params
            .server_call_id
            .as_ref()
            .is_some_and(|id| id.is_empty() || id.len() > 512)
        {
            return Err("serverCallId must be 1 to 512 characters".to_owned());
        }
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
    fn server_call_id_is_taken_and_bounded() {
        let p = StreamParams::parse(Some("serverCallId=aHR0cHM6Ly9jb252%3D")).unwrap();
        assert_eq!(p.server_call_id.as_deref(), Some("aHR0cHM6Ly9jb252="));
        assert!(StreamParams::parse(Some("serverCallId=")).is_err());
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
