//! The Call Automation media-operation API: the typed [`model`] of operations and
//! events, the HTTP bodies and their validation, call properties, ACS-style errors and
//! CloudEvents 1.0. Serde types and pure functions only; no IO and no clock (times are
//! passed in).
//!
//! Field names are exactly those of the ACS REST API (camelCase), so the official SDKs
//! can drive tonegate. Every body type (`*Body`) deserialises leniently (unknown fields
//! are ignored, required fields are `Option`s) and is then checked by its `validate`
//! method into a [`model`] request, whose errors name the offending field
//! (`recognizeOptions.dtmfOptions.stopTones[1]`). [`read_operation`] does both for an
//! operation by name.

mod event;
pub mod model;
mod wire;

pub use event::{CallIds, CloudEvent, EventData, EventName, format_time};
pub use model::{MAX_SEND_TONES, ResultInformation};
pub use wire::{
    ChoiceBody, ContinuousDtmfBody, DtmfOptions, FileRef, FileSource, HoldBody, Identifier,
    PlayBody, PlayOptions, PlaySource, PlaySourceRef, RecognizeBody, RecognizeOptionsBody,
    SendDtmfTonesBody, SpeechOptionsBody, SsmlSourceBody, TextSourceBody, UnholdBody, parse_body,
    read_operation,
};
pub(crate) use wire::{MAX_END_SILENCE_MS, validate_choices};

use serde::{Deserialize, Serialize};

/// A refused request: HTTP status, ACS error code and a message naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// ACS error code (`BadRequest`, `Unauthorized`, `NotFound`, ...).
    pub code: &'static str,
    /// Human-readable detail.
    pub message: String,
    /// ACS sub-code (8583 for a conflicting operation), if any.
    pub sub_code: Option<u32>,
}

impl ApiError {
    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            code: "BadRequest",
            message: message.into(),
            sub_code: None,
        }
    }

    /// 401 Unauthorized.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 401,
            code: "Unauthorized",
            message: message.into(),
            sub_code: None,
        }
    }

    /// 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 404,
            code: "NotFound",
            message: message.into(),
            sub_code: None,
        }
    }

    /// 412 with sub-code 8583: the operation conflicts with one already running.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 412,
            code: "PreconditionFailed",
            message: message.into(),
            sub_code: Some(8583),
        }
    }

    /// 501 Not Implemented.
    pub fn not_implemented(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 501,
            code: "NotImplemented",
            message: message.into(),
            sub_code: None,
        }
    }

    /// The JSON body ACS sends with an error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
                sub_code: self.sub_code,
            },
        }
    }
}

/// `{"error": {"code": ..., "message": ...}}`, as ACS answers a refused request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// ACS error code.
    pub code: String,
    /// Human-readable detail.
    pub message: String,
    /// ACS sub-code, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_code: Option<u32>,
}

/// The reply to `GET /calling/callConnections/{callConnectionId}`: the ACS call
/// properties tonegate knows, plus the stream format and participants seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallProperties {
    /// The call id.
    pub call_connection_id: String,
    /// Server call id (tonegate: the stream id if the platform gave one, else the call id).
    pub server_call_id: String,
    /// Always `connected` while the audio socket is open.
    pub call_connection_state: String,
    /// Where events without an `operationCallbackUri` go, if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_uri: Option<String>,
    /// Correlation id (the socket's `x-ms-call-correlation-id`, else the call id).
    pub correlation_id: String,
    /// Participants whose audio has been seen (unmixed ACS streams, Twilio tracks).
    pub targets: Vec<Identifier>,
    /// The audio stream.
    pub media_streaming_subscription: MediaStreaming,
}

/// The audio stream of a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaStreaming {
    /// Stream id (ACS `subscriptionId`, Twilio `streamSid`), else the call id.
    pub id: String,
    /// `active`.
    pub state: String,
    /// `["audio"]`.
    pub subscribed_content_types: Vec<String>,
    /// Dialect of the socket: `acs`, `twilio` or `raw`.
    pub dialect: String,
    /// Wire encoding: `s16le`, `ulaw` or `alaw`.
    pub encoding: String,
    /// Stream rate, Hz.
    pub sample_rate: u32,
}

/// Accepts an absolute `http` or `https` URL with a host; returns it parsed, or says
/// what is wrong.
pub fn check_http_url(uri: &str) -> Result<url::Url, &'static str> {
    let url = url::Url::parse(uri).map_err(|_| "is not a URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host");
    }
    Ok(url)
}
