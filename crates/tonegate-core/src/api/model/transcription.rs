//! Live transcription: the `startTranscription` / `stopTranscription` /
//! `updateTranscription` requests, the `transcriptionUpdate` their events carry, and the
//! frames sent to the transcription WebSocket (`TranscriptionMetadata` first, then one
//! `TranscriptionData` per utterance), spelled as Call Automation and its SDKs' own
//! parsers (`StreamingData.parse`) read them.

use serde::{Deserialize, Serialize};

use super::OperationMeta;

/// Which transcription request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptionAction {
    /// `startTranscription`: TranscriptionStarted once the WebSocket is connected, or
    /// TranscriptionFailed.
    Start,
    /// `stopTranscription`: TranscriptionStopped.
    Stop,
    /// `updateTranscription`: TranscriptionUpdated (the new `locale`).
    Update,
}

/// A transcription request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptionRequest {
    /// What to do.
    pub action: TranscriptionAction,
    /// `locale` (BCP 47), for start and update; `None`: unchanged (start: `en-US`).
    pub locale: Option<String>,
    /// `speechModelEndpointId`: accepted, echoed in the metadata frame, not used.
    pub speech_model_endpoint_id: Option<String>,
    /// Context and callback.
    pub meta: OperationMeta,
}

/// `transcriptionUpdate` of the Transcription* events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptionUpdate {
    /// `transcriptionStarted`, `transcriptionStopped`, `transcriptionUpdated`,
    /// `transcriptionFailed`.
    pub transcription_status: String,
    /// `subscriptionStarted`, `subscriptionStopped`, `transcriptionLocaleUpdated`,
    /// `streamConnectionUnsuccessful`, `streamConnectionInterrupted`,
    /// `speechServicesConnectionError`.
    pub transcription_status_details: String,
}

impl TranscriptionUpdate {
    /// An update of `status` with `details`.
    pub fn new(status: &str, details: &str) -> TranscriptionUpdate {
        TranscriptionUpdate {
            transcription_status: status.to_owned(),
            transcription_status_details: details.to_owned(),
        }
    }
}

/// The first frame on the transcription WebSocket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptionMetadata {
    /// Names this transcription (one per `startTranscription`).
    pub subscription_id: String,
    /// The locale transcribed.
    pub locale: String,
    /// The call.
    pub call_connection_id: String,
    /// The call's correlation id.
    pub correlation_id: String,
    /// `speechModelEndpointId` of the request, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_recognition_model_endpoint_id: Option<String>,
}

/// One recognised word of a [`TranscriptionData`] frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptionWord {
    /// The word.
    pub text: String,
    /// Its start, in 100 ns ticks of stream time.
    pub offset: u64,
    /// Its length, in 100 ns ticks.
    pub duration: u64,
}

/// One utterance's transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptionData {
    /// The words, as displayed.
    pub text: String,
    /// Always `display`.
    pub format: String,
    /// The recogniser's confidence, 0 to 1.
    pub confidence: f64,
    /// Start of the utterance, in 100 ns ticks of stream time (from the call's first
    /// audio).
    pub offset: u64,
    /// Its length, in 100 ns ticks.
    pub duration: u64,
    /// The words with their times.
    pub words: Vec<TranscriptionWord>,
    /// Who spoke (ACS raw id; empty where the stream names no participant).
    #[serde(rename = "participantRawID")]
    pub participant_raw_id: String,
    /// `Final` (tonegate's engines give no `Intermediate` results).
    pub result_status: String,
}

/// 100 ns ticks in a [`std::time::Duration`].
pub fn ticks(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos() / 100).unwrap_or(u64::MAX)
}

/// The `TranscriptionMetadata` frame, as sent.
pub fn metadata_frame(metadata: &TranscriptionMetadata) -> String {
    serde_json::json!({"kind": "TranscriptionMetadata", "transcriptionMetadata": metadata})
        .to_string()
}

/// The `TranscriptionData` frame, as sent.
pub fn data_frame(data: &TranscriptionData) -> String {
    serde_json::json!({"kind": "TranscriptionData", "transcriptionData": data}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn frames_carry_the_acs_field_names() {
        let data = TranscriptionData {
            text: "hello there".to_owned(),
            format: "display".to_owned(),
            confidence: 0.5,
            offset: ticks(Duration::from_millis(1_500)),
            duration: ticks(Duration::from_millis(700)),
            words: vec![TranscriptionWord {
                text: "hello".to_owned(),
                offset: 15_000_000,
                duration: 3_000_000,
            }],
            participant_raw_id: "4:+15551234567".to_owned(),
            result_status: "Final".to_owned(),
        };
        let frame: serde_json::Value = serde_json::from_str(&data_frame(&data)).unwrap();
        assert_eq!(frame["kind"], "TranscriptionData");
        let d = &frame["transcriptionData"];
        assert_eq!(d["offset"], 15_000_000);
        assert_eq!(d["duration"], 7_000_000);
        assert_eq!(d["participantRawID"], "4:+15551234567");
        assert_eq!(d["resultStatus"], "Final");
        assert_eq!(d["words"][0]["offset"], 15_000_000);
        let meta = TranscriptionMetadata {
            subscription_id: "s".to_owned(),
            locale: "en-US".to_owned(),
            call_connection_id: "c".to_owned(),
            correlation_id: "r".to_owned(),
            speech_recognition_model_endpoint_id: None,
        };
        let frame: serde_json::Value = serde_json::from_str(&metadata_frame(&meta)).unwrap();
        assert_eq!(frame["kind"], "TranscriptionMetadata");
        assert_eq!(frame["transcriptionMetadata"]["callConnectionId"], "c");
    }
}
