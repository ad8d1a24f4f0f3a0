//! The Call Automation media-operation API over HTTP:
//!
//! - `POST /calling/callConnections/{callConnectionId}:{op}?api-version=...` with `op`
//!   one of `play`, `recognize`, `startContinuousDtmfRecognition`,
//!   `stopContinuousDtmfRecognition`, `sendDtmfTones`, `cancelAllMediaOperations`,
//!   `hold`, `unhold`, `startTranscription`, `stopTranscription`,
//!   `updateTranscription`;
//! - `GET /calling/callConnections/{callConnectionId}`: call properties.
//!
//! Every request must carry an HMAC-SHA256 signature made with [`Config::access_key`]
//! (see [`super::auth`]); without a configured key the API answers 401. Errors are ACS
//! style (`{"error": {"code", "message"}}`). Results come back as CloudEvents
//! ([`super::webhook`]).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State as AxumState};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::cluster::Forwarded;
use super::log_text::Escaped;
use super::replay::ReplayError;
use super::{CallInfo, Config, RegistryError, State, auth, prompts, webhook};
use tonegate_core::api::model::TranscriptionAction;
use tonegate_core::api::{
    self, ApiError, CallIds, CallProperties, CloudEvent, Identifier, MediaStreaming, PlaySourceRef,
};
use tonegate_core::session::{self, Command, Event, EventKind, Operation};

/// The API's shared state.
pub(crate) struct Api {
    key: Option<Vec<u8>>,
}

impl Api {
    pub(crate) fn new(config: &Config) -> Result<Api, String> {
        let key = config.access_key_bytes()?;
        if key.is_none() {
            tracing::warn!(
                "the media-operation API is disabled: set access_key (base64) to enable it"
            );
        }
        Ok(Api { key })
    }

    pub(crate) fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }
}

/// Why a request to the media-operation API was refused. [`RequestError::to_api_error`]
/// is the one place each becomes an HTTP status and an ACS error body.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    /// No access key is configured (401).
    #[error("the media-operation API is disabled: the server has no access_key configured")]
    Disabled,
    /// The signature is wrong or replayed (401), or too many are remembered (503).
    #[error(transparent)]
    Signature(#[from] SignatureRefusal),
    /// A `GET` of something other than a call (404).
    #[error("no such resource: {0}")]
    NoSuchResource(String),
    /// A `POST` without `:{operation}` (404).
    #[error("no operation in {0}: expected {{callConnectionId}}:{{operation}}")]
    NoOperation(String),
    /// The body did not read or validate (400), or the operation is unknown (404).
    #[error(transparent)]
    Invalid(#[from] ApiError),
    /// A `file://` play source with `..` in its path (400).
    #[error("{field}: \"..\" is not allowed in file paths")]
    ClimbingPath {
        /// The play source's field (`playSources[0].file.uri`).
        field: String,
    },
    /// No audio socket streams this call (404).
    #[error("call connection {0} not found (no audio stream with this id)")]
    CallNotFound(String),
    /// The call's socket went away while the operation was handed over (404).
    #[error("call connection {call_id}: {error}")]
    CallGone {
        /// The call.
        call_id: String,
        /// What the registry said.
        error: RegistryError,
    },
    /// The node owning the call in the cluster is alive but did not answer (503, with
    /// `Retry-After`).
    #[error("call connection {0}: the node streaming it did not answer; retry")]
    OwnerUnreachable(String),
    /// The request is too large to forward to the node owning the call (413).
    #[error("the request body is too large to forward to the node streaming the call")]
    TooLargeToForward,
    /// A speech recognize while the server has no speech recogniser (400).
    #[error("recognizeInputType {input}: no speech recognizer: {reason}")]
    NoRecognizer {
        /// The input type asked for.
        input: &'static str,
        /// Why there is none.
        reason: String,
    },
    /// A `startTranscription` this server cannot carry out (400).
    #[error("startTranscription: {0}")]
    NoTranscription(String),
    /// The call's session refused the operation (status by the refusal).
    #[error("call connection {call_id}: {error}")]
    Refused {
        /// The call.
        call_id: String,
        /// The session's refusal.
        error: session::Error,
    },
}

impl RequestError {
    /// The HTTP status, ACS error code, message and sub-code of the refusal.
    pub(crate) fn to_api_error(&self) -> ApiError {
        let message = self.to_string();
        match self {
            RequestError::Disabled => ApiError::unauthorized(message),
            RequestError::Signature(SignatureRefusal::Replay(ReplayError::Full)) => ApiError {
                status: 503,
                code: "ServiceUnavailable",
                message,
                sub_code: None,
            },
            RequestError::Signature(_) => ApiError::unauthorized(message),
            RequestError::NoSuchResource(_)
            | RequestError::NoOperation(_)
            | RequestError::CallNotFound(_)
            | RequestError::CallGone { .. } => ApiError::not_found(message),
            RequestError::OwnerUnreachable(_) => ApiError {
                status: 503,
                code: "ServiceUnavailable",
                message,
                sub_code: None,
            },
            RequestError::TooLargeToForward => ApiError {
                status: 413,
                code: "PayloadTooLarge",
                message,
                sub_code: None,
            },
            RequestError::Invalid(e) => e.clone(),
            RequestError::ClimbingPath { .. }
            | RequestError::NoRecognizer { .. }
            | RequestError::NoTranscription(_) => ApiError::bad_request(message),
            RequestError::Refused { call_id, error } => match error {
                session::Error::Conflict => ApiError::conflict(
                    "the operation conflicts with a targeted play, sendDtmfTones or hold already running or queued",
                ),
                session::Error::InvalidArgument(field) => {
                    ApiError::bad_request(format!("{field}: invalid value"))
                }
                session::Error::QueueFull => ApiError {
                    status: 429,
                    code: "TooManyRequests",
                    message: "too many media operations queued for this call".to_owned(),
                    sub_code: None,
                },
                session::Error::NotStarted | session::Error::Ended => {
                    ApiError::not_found(format!("call connection {call_id} is not streaming"))
                }
                other => ApiError::bad_request(other.to_string()),
            },
        }
    }
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        let e = self.to_api_error();
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let RequestError::OwnerUnreachable(_) = self {
            // The Azure SDKs' default retry policy retries a 503 after this.
            let retry = (axum::http::header::RETRY_AFTER, "1");
            return (status, [retry], Json(e.body())).into_response();
        }
        (status, Json(e.body())).into_response()
    }
}

fn authenticate(
    state: &State,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), RequestError> {
    let Some(key) = state.api.key() else {
        tracing::warn!(
            "media-operation API request refused: no access_key configured (set access_key, base64, in the config or TONEGATE_ACCESS_KEY)"
        );
        return Err(RequestError::Disabled);
    };
    check_signature(state, key, method.as_str(), uri, headers, body).map_err(|refusal| {
        tracing::warn!(path = %Escaped(uri.path()), "media-operation API request refused: {refusal}");
        state
            .metrics
            .errors
            .with_label_values(&["apiUnauthorized"])
            .inc();
        RequestError::Signature(refusal)
    })
}

/// Why a signed request (the media-operation API's, or an event stream's) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SignatureRefusal {
    /// The signature, body hash or date is wrong (the reason says which).
    #[error("{0}")]
    Invalid(&'static str),
    /// The signature was used before, or too many are still remembered.
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

/// Checks an HMAC-SHA256 signed request (the SDKs' scheme, [`auth::verify_http`]) and
/// that its signature was not used before.
pub(crate) fn check_signature(
    state: &State,
    key: &[u8],
    method: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), SignatureRefusal> {
    let now = state.wall_now();
    let verified = auth::verify_http(key, method, uri, headers, body, now)
        .map_err(SignatureRefusal::Invalid)?;
    state
        .replay
        .check(&verified.signature, verified.expires, now)
        .map_err(|e| {
            state
                .metrics
                .errors
                .with_label_values(&[match e {
                    ReplayError::Replayed => "signatureReplayed",
                    ReplayError::Full => "replayCacheFull",
                }])
                .inc();
            SignatureRefusal::Replay(e)
        })
}

fn call_info(state: &State, call_id: &str) -> Result<Arc<CallInfo>, RequestError> {
    state
        .registry
        .info(call_id)
        .ok_or_else(|| RequestError::CallNotFound(call_id.to_owned()))
}

/// `GET /calling/callConnections/{callConnectionId}`.
pub(super) async fn properties(
    AxumState(state): AxumState<Arc<State>>,
    UrlPath(segment): UrlPath<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = authenticate(&state, &method, &uri, &headers, &body) {
        return e.into_response();
    }
    if segment.contains(':') {
        return RequestError::NoSuchResource(segment.clone()).into_response();
    }
    if let Some(reply) = forward(&state, &segment, GET_PROPERTIES, body).await {
        return reply;
    }
    local_properties(&state, &segment)
}

/// The operation name under which the call properties are forwarded to a call's owner.
const GET_PROPERTIES: &str = "get";

/// The properties of a call this node streams.
fn local_properties(state: &State, call_id: &str) -> Response {
    match call_info(state, call_id) {
        Ok(info) => (StatusCode::OK, Json(call_properties(state, &info))).into_response(),
        Err(e) => e.into_response(),
    }
}

/// In a cluster, sends a request for a call this node does not stream to the node that
/// does, and answers with that node's reply; `None` to answer here.
async fn forward(state: &State, call_id: &str, op: &str, body: Bytes) -> Option<Response> {
    if state.registry.info(call_id).is_some() {
        return None;
    }
    let reply = match state.cluster.forward(call_id, op, body).await? {
        Forwarded::Reply(reply) => reply,
        Forwarded::NoOwner => RequestError::CallNotFound(call_id.to_owned()).into_response(),
        Forwarded::Unreachable => {
            RequestError::OwnerUnreachable(call_id.to_owned()).into_response()
        }
        Forwarded::TooLarge => RequestError::TooLargeToForward.into_response(),
    };
    Some(reply)
}

/// Answers a request another node of the cluster forwarded for a call this node
/// streams (`op` is an operation name, or `get` for the properties). The other node
/// authenticated it.
#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
pub(crate) async fn answer_forwarded(
    state: &Arc<State>,
    call_id: &str,
    op: &str,
    body: &[u8],
) -> Response {
    if op == GET_PROPERTIES {
        return local_properties(state, call_id);
    }
    local_operation(state, call_id, op, body).await
}

fn call_properties(state: &State, info: &CallInfo) -> CallProperties {
    let participants = info
        .participants
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    CallProperties {
        call_connection_id: info.call_id.to_string(),
        server_call_id: server_call_id(info),
        call_connection_state: "connected".to_owned(),
        callback_uri: callback(state, info, None).map(|c| c.url),
        correlation_id: correlation_id(info),
        targets: participants
            .iter()
            .map(|p| Identifier::from_raw_id(p))
            .collect(),
        media_streaming_subscription: MediaStreaming {
            id: info
                .stream_id
                .clone()
                .unwrap_or_else(|| info.call_id.to_string()),
            state: "active".to_owned(),
            subscribed_content_types: vec!["audio".to_owned()],
            dialect: info.dialect.as_str().to_owned(),
            encoding: info.encoding.to_owned(),
            sample_rate: info.rate.hz(),
        },
    }
}

fn server_call_id(info: &CallInfo) -> String {
    info.server_call_id
        .clone()
        .or_else(|| info.stream_id.clone())
        .unwrap_or_else(|| info.call_id.to_string())
}

pub(crate) fn correlation_id(info: &CallInfo) -> String {
    info.correlation_id
        .clone()
        .unwrap_or_else(|| info.call_id.to_string())
}

/// Where an operation's events go: its own `operationCallbackUri`, else the one the
/// call's socket named, else [`Config::callback_uri`].
fn callback(state: &State, info: &CallInfo, operation: Option<&str>) -> Option<webhook::Callback> {
    use webhook::{Callback, Origin};
    operation
        .map(|u| Callback::new(u, Origin::Operator))
        .or_else(|| (info.callback_uri.as_deref()).map(|u| Callback::new(u, Origin::Socket)))
        .or_else(|| {
            (state.config.callback_uri.as_deref()).map(|u| Callback::new(u, Origin::Operator))
        })
        .filter(|c| !c.url.is_empty())
}

/// `POST /calling/callConnections/{callConnectionId}:{op}`.
pub(super) async fn operation(
    AxumState(state): AxumState<Arc<State>>,
    UrlPath(segment): UrlPath<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = authenticate(&state, &method, &uri, &headers, &body) {
        return e.into_response();
    }
    let Some((call_id, name)) = segment.rsplit_once(':') else {
        return RequestError::NoOperation(segment.clone()).into_response();
    };
    if let Some(reply) = forward(&state, call_id, name, body.clone()).await {
        return reply;
    }
    local_operation(&state, call_id, name, &body).await
}

/// Runs operation `name` on a call this node streams (404 if it streams none).
async fn local_operation(state: &Arc<State>, call_id: &str, name: &str, body: &[u8]) -> Response {
    match run(state, call_id, name, body).await {
        Ok(reply) => reply,
        Err(e) => {
            let refusal = e.to_api_error();
            if refusal.status != 404 {
                tracing::info!(call_id = %Escaped(call_id), op = %Escaped(name), status = refusal.status, "{}", Escaped(&refusal.message));
            }
            e.into_response()
        }
    }
}

/// Reads the operation `name` of the call `call_id`, loads its play sources at the
/// call's rate and hands it to the call's session; the reply for the accepted request.
async fn run(
    state: &Arc<State>,
    call_id: &str,
    name: &str,
    body: &[u8],
) -> Result<Response, RequestError> {
    let operation = api::read_operation(name, body)?;
    for (i, source) in operation.sources().iter().enumerate() {
        if source.uri().is_some_and(prompts::climbs_out) {
            let field = source_field(&operation, i);
            return Err(RequestError::ClimbingPath { field });
        }
    }
    if let (Operation::Recognize(r), Err(reason)) = (&operation, &state.recognizer)
        && r.options.input.listens()
    {
        return Err(RequestError::NoRecognizer {
            input: r.options.input.name(),
            reason: reason.clone(),
        });
    }
    if let Operation::Transcription(r) = &operation
        && r.action == TranscriptionAction::Start
    {
        check_transcription(state)?;
    }
    let info = call_info(state, call_id)?;
    let reply = accepted(&operation);
    let mut loaded = prompts::load_sources(state, operation.sources(), info.rate)
        .await
        .into_iter();
    let operation = operation.map_sources(|_| loaded.next().expect("one load per source"));
    match state
        .registry
        .request(call_id, Command::Operation(operation))
        .await
    {
        Ok(Ok(())) => Ok(reply),
        Ok(Err(error)) => Err(RequestError::Refused {
            call_id: call_id.to_owned(),
            error,
        }),
        Err(error) => Err(RequestError::CallGone {
            call_id: call_id.to_owned(),
            error,
        }),
    }
}

/// Why this server cannot transcribe, if it cannot: no `transcription_url`, or no
/// recogniser.
fn check_transcription(state: &State) -> Result<(), RequestError> {
    if state.transcription.is_none() {
        return Err(RequestError::NoTranscription(
            "transcription_url is not set".to_owned(),
        ));
    }
    match &state.recognizer {
        Ok(_) => Ok(()),
        Err(reason) => Err(RequestError::NoTranscription(format!(
            "no speech recognizer: {reason}"
        ))),
    }
}

/// The request field of an operation's `index`th play source.
fn source_field(operation: &Operation<PlaySourceRef>, index: usize) -> String {
    match operation {
        Operation::Hold(_) => "playSourceInfo.file.uri".to_owned(),
        Operation::Recognize(_) => format!("playPrompts[{index}].file.uri"),
        _ => format!("playSources[{index}].file.uri"),
    }
}

/// The reply to an accepted operation, as ACS gives it: 202 for those whose outcome
/// comes as events (`sendDtmfTones` echoing its `operationContext`), 200 for the rest.
fn accepted(operation: &Operation<PlaySourceRef>) -> Response {
    match operation {
        Operation::Play(_)
        | Operation::Recognize(_)
        | Operation::CancelAll
        | Operation::Transcription(_) => StatusCode::ACCEPTED.into_response(),
        Operation::SendDtmfTones(r) => {
            let reply = serde_json::json!({ "operationContext": r.meta.operation_context });
            (StatusCode::ACCEPTED, Json(reply)).into_response()
        }
        Operation::StartContinuousDtmf(_)
        | Operation::StopContinuousDtmf(_)
        | Operation::Hold(_)
        | Operation::Unhold(_) => StatusCode::OK.into_response(),
    }
}

/// A fresh CloudEvent id: a random version-4 UUID, hyphenated lower-case hex.
fn event_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Turns a session's media-operation event into a CloudEvent and publishes it.
pub(super) fn on_session_event(state: &Arc<State>, info: &CallInfo, event: &Event) {
    let op = match &event.kind {
        EventKind::Operation(op) => op,
        EventKind::Ended => {
            state.webhook.close(&info.call_id);
            return;
        }
        _ => return,
    };
    let call = CallIds {
        call_connection_id: info.call_id.to_string(),
        server_call_id: server_call_id(info),
        correlation_id: correlation_id(info),
    };
    let cloud = CloudEvent::from_operation(op, call, event_id(), state.wall_now());
    let callback = callback(state, info, op.meta.callback_uri.as_deref());
    webhook::publish(state, callback, cloud);
}

/// An event that another node publishes for a call if the node streaming it dies (a
/// running continuous recognition's ContinuousDtmfRecognitionToneFailed, a queued
/// operation's canceled event), with everything needed to send it as the owner would
/// have (kept in the call's cluster record).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Orphan {
    call_id: String,
    server_call_id: String,
    correlation_id: String,
    event: api::model::OperationEventType,
    meta: api::model::OperationMeta,
    result: api::ResultInformation,
    callback: Option<String>,
    socket_origin: bool,
}

/// [`Orphan`]s of `info`'s call for `events` (what losing its stream would produce now).
pub(super) fn orphans(
    state: &State,
    info: &CallInfo,
    events: Vec<api::model::OperationEvent>,
) -> Vec<Orphan> {
    events
        .into_iter()
        .map(|event| {
            let callback = callback(state, info, event.meta.callback_uri.as_deref());
            Orphan {
                call_id: info.call_id.to_string(),
                server_call_id: server_call_id(info),
                correlation_id: correlation_id(info),
                event: event.event,
                meta: event.meta,
                result: event.result_information,
                socket_origin: callback
                    .as_ref()
                    .is_some_and(|c| c.origin == webhook::Origin::Socket),
                callback: callback.map(|c| c.url),
            }
        })
        .collect()
}

#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
impl Orphan {
    /// The call it belongs to.
    pub(crate) fn call_id(&self) -> &str {
        &self.call_id
    }
}

/// Publishes an [`Orphan`] (to SSE and its webhook) with a fresh id, as its call's owner
/// would have when the stream was lost.
#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
pub(crate) fn publish_orphan(state: &Arc<State>, orphan: &Orphan) {
    let call = CallIds {
        call_connection_id: orphan.call_id.clone(),
        server_call_id: orphan.server_call_id.clone(),
        correlation_id: orphan.correlation_id.clone(),
    };
    let event = api::model::OperationEvent::new(orphan.event, &orphan.meta, orphan.result.clone());
    let cloud = CloudEvent::from_operation(&event, call, event_id(), state.wall_now());
    let origin = if orphan.socket_origin {
        webhook::Origin::Socket
    } else {
        webhook::Origin::Operator
    };
    let callback = (orphan.callback.as_deref()).map(|url| webhook::Callback::new(url, origin));
    webhook::publish(state, callback, cloud);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_refusals_map_to_acs_errors() {
        let refused = |error| {
            RequestError::Refused {
                call_id: "c1".to_owned(),
                error,
            }
            .to_api_error()
        };
        let conflict = refused(session::Error::Conflict);
        assert_eq!(
            (conflict.status, conflict.code, conflict.sub_code),
            (412, "PreconditionFailed", Some(8583))
        );
        let invalid = refused(session::Error::InvalidArgument("tones"));
        assert_eq!(
            (invalid.status, invalid.message.as_str()),
            (400, "tones: invalid value")
        );
        assert_eq!(refused(session::Error::QueueFull).status, 429);
        let ended = refused(session::Error::Ended);
        assert_eq!(
            (ended.status, ended.message.as_str()),
            (404, "call connection c1 is not streaming")
        );
        assert_eq!(refused(session::Error::NotStarted).status, 404);
    }

    #[test]
    fn event_ids_are_uuid_v4() {
        let id = event_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(id, event_id());
    }
}
