//! What the media operations report.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{OperationMeta, ResultInformation, Tone, TranscriptionUpdate};

/// The Call Automation event type (CloudEvents `type` is
/// `Microsoft.Communication.<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum OperationEventType {
    PlayStarted,
    PlayCompleted,
    PlayFailed,
    PlayCanceled,
    RecognizeCompleted,
    RecognizeFailed,
    RecognizeCanceled,
    ContinuousDtmfRecognitionToneReceived,
    ContinuousDtmfRecognitionToneFailed,
    ContinuousDtmfRecognitionStopped,
    SendDtmfTonesCompleted,
    SendDtmfTonesFailed,
    HoldFailed,
    TranscriptionStarted,
    TranscriptionStopped,
    TranscriptionUpdated,
    TranscriptionFailed,
}

impl OperationEventType {
    /// Every event type, in declaration order.
    pub const ALL: [OperationEventType; 17] = [
        OperationEventType::PlayStarted,
        OperationEventType::PlayCompleted,
        OperationEventType::PlayFailed,
        OperationEventType::PlayCanceled,
        OperationEventType::RecognizeCompleted,
        OperationEventType::RecognizeFailed,
        OperationEventType::RecognizeCanceled,
        OperationEventType::ContinuousDtmfRecognitionToneReceived,
        OperationEventType::ContinuousDtmfRecognitionToneFailed,
        OperationEventType::ContinuousDtmfRecognitionStopped,
        OperationEventType::SendDtmfTonesCompleted,
        OperationEventType::SendDtmfTonesFailed,
        OperationEventType::HoldFailed,
        OperationEventType::TranscriptionStarted,
        OperationEventType::TranscriptionStopped,
        OperationEventType::TranscriptionUpdated,
        OperationEventType::TranscriptionFailed,
    ];

    /// The name (`RecognizeCompleted`).
    pub fn name(self) -> &'static str {
        match self {
            OperationEventType::PlayStarted => "PlayStarted",
            OperationEventType::PlayCompleted => "PlayCompleted",
            OperationEventType::PlayFailed => "PlayFailed",
            OperationEventType::PlayCanceled => "PlayCanceled",
            OperationEventType::RecognizeCompleted => "RecognizeCompleted",
            OperationEventType::RecognizeFailed => "RecognizeFailed",
            OperationEventType::RecognizeCanceled => "RecognizeCanceled",
            OperationEventType::ContinuousDtmfRecognitionToneReceived => {
                "ContinuousDtmfRecognitionToneReceived"
            }
            OperationEventType::ContinuousDtmfRecognitionToneFailed => {
                "ContinuousDtmfRecognitionToneFailed"
            }
            OperationEventType::ContinuousDtmfRecognitionStopped => {
                "ContinuousDtmfRecognitionStopped"
            }
            OperationEventType::SendDtmfTonesCompleted => "SendDtmfTonesCompleted",
            OperationEventType::SendDtmfTonesFailed => "SendDtmfTonesFailed",
            OperationEventType::HoldFailed => "HoldFailed",
            OperationEventType::TranscriptionStarted => "TranscriptionStarted",
            OperationEventType::TranscriptionStopped => "TranscriptionStopped",
            OperationEventType::TranscriptionUpdated => "TranscriptionUpdated",
            OperationEventType::TranscriptionFailed => "TranscriptionFailed",
        }
    }
}

/// `dtmfResult` of RecognizeCompleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DtmfResult {
    /// The tones, in order, by name (a stop tone is not included).
    pub tones: Vec<Tone>,
}

/// `recognitionType` of RecognizeCompleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecognitionType {
    /// Keys (`dtmfResult`).
    Dtmf,
    /// Free speech (`speechResult`).
    Speech,
    /// A choice, said or keyed (`choiceResult`).
    Choices,
}

/// `choiceResult` of RecognizeCompleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChoiceResult {
    /// The choice's `label`.
    pub label: String,
    /// The phrase heard (absent when the choice's tone selected it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognized_phrase: Option<String>,
    /// The recogniser's confidence, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

/// `speechResult` of RecognizeCompleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpeechResult {
    /// What was said.
    pub speech: String,
    /// The recogniser's confidence, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

/// The per-event fields of a media-operation event, each present on the events it
/// belongs to. Declared in the order of their wire names, which is the order they are
/// written in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationDetails {
    /// RecognizeCompleted of a choice (boxed: most events have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice_result: Option<Box<ChoiceResult>>,
    /// RecognizeCompleted: the tones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtmf_result: Option<DtmfResult>,
    /// PlayFailed / RecognizeFailed / HoldFailed: index of the source that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_play_source_index: Option<usize>,
    /// ContinuousDtmfRecognitionToneReceived: who pressed it (unmixed streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<Arc<str>>,
    /// RecognizeCompleted: which result it carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognition_type: Option<RecognitionType>,
    /// ContinuousDtmfRecognitionToneReceived: per call, gapless from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_id: Option<u64>,
    /// RecognizeCompleted of free speech (boxed: most events have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speech_result: Option<Box<SpeechResult>>,
    /// ContinuousDtmfRecognitionToneReceived: the tone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tone: Option<Tone>,
    /// Transcription*: the transcription's state (boxed: most events have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcription_update: Option<Box<TranscriptionUpdate>>,
}

/// A media-operation event. Serialises to the fields of the CloudEvent's `data` (plus
/// `event`, the type name, and `operationCallbackUri`); the API layer adds
/// `callConnectionId`, `serverCallId` and `correlationId`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationEvent {
    /// Which event.
    pub event: OperationEventType,
    /// The operation's context and callback URI.
    #[serde(flatten)]
    pub meta: OperationMeta,
    /// Result.
    pub result_information: ResultInformation,
    /// The fields particular to this event.
    #[serde(flatten)]
    pub details: OperationDetails,
}

impl OperationEvent {
    /// An event of `event` for the operation of `meta`, without details.
    pub fn new(
        event: OperationEventType,
        meta: &OperationMeta,
        result_information: ResultInformation,
    ) -> OperationEvent {
        OperationEvent {
            event,
            meta: meta.clone(),
            result_information,
            details: OperationDetails::default(),
        }
    }

    /// ContinuousDtmfRecognitionToneFailed (500/9999) for the continuous recognition
    /// of `meta`: its audio stream was lost, so no more tones will come.
    pub fn continuous_lost(meta: &OperationMeta) -> OperationEvent {
        OperationEvent::new(
            OperationEventType::ContinuousDtmfRecognitionToneFailed,
            meta,
            ResultInformation::new(
                500,
                9999,
                "The audio stream was lost; continuous DTMF recognition stopped.",
            ),
        )
    }
}
