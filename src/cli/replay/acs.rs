//! The ACS media-streaming frames: `AudioMetadata`, then `AudioData` (base64 PCM); the
//! call id travels in the upgrade's `x-ms-call-connection-id` header.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio_tungstenite::tungstenite::Message;

use super::script::{FRAME, Format};

/// The participant every `AudioData` frame names (an ACS phone-number raw id).
const PARTICIPANT: &str = "4:+15550100000";

/// The upgrade headers naming call `call_id`.
pub(crate) fn headers(call_id: &str) -> [(&'static str, String); 2] {
    [
        ("x-ms-call-connection-id", call_id.to_owned()),
        ("x-ms-call-correlation-id", format!("{call_id}-correlation")),
    ]
}

/// The `AudioMetadata` frame that opens the stream.
pub(crate) fn start(call_id: &str, format: Format) -> Message {
    let frame_bytes = format.rate.ms_to_samples(FRAME.as_secs_f64() * 1000.0) * 2;
    let metadata = serde_json::json!({
        "kind": "AudioMetadata",
        "audioMetadata": {
            "subscriptionId": format!("{call_id}-subscription"),
            "encoding": "PCM",
            "sampleRate": format.rate.hz(),
            "channels": 1,
            "length": frame_bytes,
        },
    });
    Message::text(metadata.to_string())
}

/// One `AudioData` frame. It carries no timestamp, so one encoding serves every call.
pub(crate) fn media(payload: &[u8]) -> Message {
    let data = serde_json::json!({
        "kind": "AudioData",
        "audioData": {
            "data": STANDARD.encode(payload),
            "participantRawID": PARTICIPANT,
            "silent": payload.iter().all(|&b| b == 0),
        },
    });
    Message::text(data.to_string())
}
