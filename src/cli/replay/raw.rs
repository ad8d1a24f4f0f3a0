//! The raw dialect's frames: a JSON `start`, binary audio, a JSON `end`.

use tokio_tungstenite::tungstenite::Message;

use super::script::Format;

/// The `start` frame of call `call_id`.
pub(crate) fn start(call_id: &str, format: Format) -> Message {
    let start = serde_json::json!({
        "type": "start",
        "callId": call_id,
        "encoding": format.encoding.to_string(),
        "sampleRate": format.rate.hz(),
    });
    Message::text(start.to_string())
}

/// One frame of encoded audio.
pub(crate) fn media(payload: &[u8]) -> Message {
    Message::binary(payload.to_vec())
}

/// The end of the stream: tonegate flushes the call's events, then closes with 1000.
pub(crate) fn end() -> Message {
    Message::text(r#"{"type":"end"}"#)
}
