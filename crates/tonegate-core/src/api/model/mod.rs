//! The Call Automation vocabulary, typed once for every layer: the media operations
//! ([`Operation`] and its requests), the events they raise ([`OperationEvent`]) and the
//! parts both share ([`Tone`], [`OperationMeta`], [`ResultInformation`]).
//!
//! The HTTP bodies ([`super::wire`]) validate into these types with their play sources
//! still as references ([`PlaySourceRef`](super::PlaySourceRef)); the server loads each
//! source ([`Operation::map_sources`]) and hands the [`Operation`] with
//! [`LoadedSource`]s to the session. The session's engine
//! ([`crate::session::operations`]) reports [`OperationEvent`]s, which become
//! CloudEvents ([`super::CloudEvent::from_operation`]) without any other representation
//! in between.

mod event;
mod operation;
mod speech;
mod tone;
mod transcription;

pub use event::{
    ChoiceResult, DtmfResult, OperationDetails, OperationEvent, OperationEventType,
    RecognitionType, SpeechResult,
};
pub use operation::{
    Choice, ContinuousDtmfRequest, HoldRequest, MAX_SEND_TONES, MAX_TONES, Operation, PlayRequest,
    RecognizeInput, RecognizeOptions, RecognizeRequest, SendDtmfTonesRequest, UnholdRequest,
};
pub use speech::{Speech, SpeechFailure, SpeechInput};
pub use tone::{NotATone, Tone};
pub use transcription::{
    TranscriptionAction, TranscriptionData, TranscriptionMetadata, TranscriptionRequest,
    TranscriptionUpdate, TranscriptionWord, data_frame, metadata_frame, ticks,
};

use serde::{Deserialize, Serialize};

use crate::player::Prompt;

/// `resultInformation` of an event (and of a refusal, e.g. 412/8583).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultInformation {
    /// HTTP-like status (200, 400, 412, 500).
    pub code: u16,
    /// Call Automation sub-code (0, 8508, 8510, 8514, 8531, 8532, 8535, 8536, 8565,
    /// 8583...).
    pub sub_code: u32,
    /// Human-readable message.
    pub message: String,
}

impl ResultInformation {
    /// A result from its parts.
    pub fn new(code: u16, sub_code: u32, message: impl Into<String>) -> ResultInformation {
        ResultInformation {
            code,
            sub_code,
            message: message.into(),
        }
    }

    /// Success (200/0) with `message`.
    pub(crate) fn success(message: &str) -> ResultInformation {
        ResultInformation::new(200, 0, message)
    }

    /// Canceled (400/8508).
    pub(crate) fn canceled() -> ResultInformation {
        ResultInformation::new(400, 8508, "Action failed, the operation was canceled.")
    }
}

/// What every operation carries and gets back on its events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationMeta {
    /// `operationContext`, echoed on every event of the operation.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operation_context: Option<String>,
    /// `operationCallbackUri`: where the API layer delivers this operation's events
    /// (else the call's callback URI).
    #[serde(
        rename = "operationCallbackUri",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub callback_uri: Option<String>,
}

/// Why one play source could not be turned into a [`Prompt`] (decided by the API layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceFailure {
    /// The file is not audio tonegate can read (PlayFailed 400/8535).
    InvalidFormat(String),
    /// The file could not be read or downloaded (PlayFailed 400/8536).
    DownloadFailed(String),
    /// Text or SSML could not be synthesised (PlayFailed 8565, status by class).
    Speech(SpeechFailure),
}

impl SourceFailure {
    /// The `resultInformation` of the PlayFailed (or HoldFailed) it causes.
    pub fn result(&self) -> ResultInformation {
        match self {
            SourceFailure::InvalidFormat(m) => ResultInformation::new(
                400,
                8535,
                format!("Action failed, file format is invalid: {m}"),
            ),
            SourceFailure::DownloadFailed(m) => ResultInformation::new(
                400,
                8536,
                format!("Action failed, file could not be downloaded: {m}"),
            ),
            SourceFailure::Speech(failure) => failure.result(),
        }
    }
}

/// One play source as the session gets it: the decoded prompt (any rate; the session
/// converts it) or why it could not be had.
pub type LoadedSource = Result<Prompt, SourceFailure>;
