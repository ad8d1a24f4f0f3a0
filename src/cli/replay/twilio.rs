//! Twilio Media Streams frames (`connected`, `start`, `media`, `stop`) and the
//! `X-Twilio-Signature` of the upgrade.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use tokio_tungstenite::tungstenite::Message;

use super::script::FRAME;

/// The stream id every frame carries. Media frames are encoded once for all calls, so
/// the calls of one run share it; tonegate names calls by `callSid`.
const STREAM_SID: &str = "MZ00000000000000000000000000replay";
/// The account id in `start` and `stop`.
const ACCOUNT_SID: &str = "AC00000000000000000000000000replay";

/// The header Twilio signs upgrades with.
pub(crate) const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// `base64(HMAC-SHA1(auth token, url))`, as Twilio signs a GET to `url`.
pub(crate) fn signature(auth_token: &str, url: &str) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(url.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// `connected` and `start` for call `call_sid`.
pub(crate) fn start(call_sid: &str) -> [Message; 2] {
    let connected = r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#;
    let start = serde_json::json!({
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": ACCOUNT_SID,
            "streamSid": STREAM_SID,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "customParameters": {},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
        "streamSid": STREAM_SID,
    });
    [Message::text(connected), Message::text(start.to_string())]
}

/// Media frame `index` (from 0).
pub(crate) fn media(index: usize, payload: &[u8]) -> Message {
    let media = serde_json::json!({
        "event": "media",
        "sequenceNumber": (index + 2).to_string(),
        "media": {
            "track": "inbound",
            "chunk": (index + 1).to_string(),
            "timestamp": (FRAME.as_millis() as usize * index).to_string(),
            "payload": STANDARD.encode(payload),
        },
        "streamSid": STREAM_SID,
    });
    Message::text(media.to_string())
}

/// `stop` after `frames` media frames.
pub(crate) fn stop(call_sid: &str, frames: usize) -> Message {
    let stop = serde_json::json!({
        "event": "stop",
        "sequenceNumber": (frames + 2).to_string(),
        "streamSid": STREAM_SID,
        "stop": {"accountSid": ACCOUNT_SID, "callSid": call_sid},
    });
    Message::text(stop.to_string())
}
