//! `stream_query`: the URL query of an audio socket upgrade.

use tonegate_core::api::check_http_url;
use tonegate_core::proto::stream_params::StreamParams;

/// Longest `serverCallId` the query may set, bytes.
const MAX_SERVER_CALL_ID: usize = 512;

/// The input as an audio socket's URL query (`StreamParams::parse`; invalid UTF-8
/// replaced, as a URI cannot hold it):
/// - never panics; the result is deterministic; an error is a message;
/// - an accepted `callbackUri` passes `check_http_url`, so a query cannot point the
///   call's webhooks at another scheme; an accepted `serverCallId` holds 1 to 512 bytes;
/// - the accepted values, encoded again as a query, read back the same;
/// - no query reads as no parameters.
pub fn stream_query(data: &[u8]) {
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
