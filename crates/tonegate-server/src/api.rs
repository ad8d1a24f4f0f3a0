//! The Call Automation media-operation API over HTTP:
//!
//! - `POST /calling/callConnections/{callConnectionId}:{op}?api-version=...` with `op`
//!   one of `play`, `recognize`, `startContinuousDtmfRecognition`,
//!   `stopContinuousDtmfRecognition`, `sendDtmfTones`, `cancelAllMediaOperations`,
//!   `hold`, `unhold`;
//! - `GET /calling/callConnections/{callConnectionId}`: call properties.
//!
//! Every request must carry an HMAC-SHA256 signature made with [`Config::access_key`]
//! (see [`super::auth`]); without a configured key the API answers 401. Errors are ACS
//! style (`{"error": {"code", "message"}}`). Results come back as CloudEvents
//! ([`super::webhook`]).

use std::collections::{HashMap, VecDeque};
use std::path::{Component, Path};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State as AxumState};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::log_text::Escaped;
use super::replay::ReplayError;
use super::{CallInfo, Config, State, auth, prompts, webhook};
use tonegate_core::api::{
    self, ApiError, CallProperties, CloudEvent, EventData, Identifier, MediaStreaming,
    PlaySourceRef, ResultInformation, parse_body,
};
use tonegate_core::player::Prompt;
use tonegate_core::session::{self, Command, Event, EventKind, Operation, SourceFailure, Tone};

/// The API's shared state.
pub(crate) struct Api {
    key: Option<Vec<u8>>,
    downloads: Mutex<Downloads>,
}

#[derive(Default)]
struct Downloads {
    map: HashMap<String, Bytes>,
    order: VecDeque<String>,
    bytes: u64,
}

impl Api {
    pub(crate) fn new(config: &Config) -> Result<Api, String> {
        let key = config.access_key_bytes()?;
        if key.is_none() {
            tracing::warn!(
                "the media-operation API is disabled: set access_key (base64) to enable it"
            );
        }
        Ok(Api {
            key,
            downloads: Mutex::new(Downloads::default()),
        })
    }

    pub(crate) fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }
}

fn error_response(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(e.body())).into_response()
}

fn authenticate(
    state: &State,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let Some(key) = state.api.key() else {
        tracing::warn!(
            "media-operation API request refused: no access_key configured (set access_key, base64, in the config or TONEGATE_ACCESS_KEY)"
        );
        return Err(ApiError::unauthorized(
            "the media-operation API is disabled: the server has no access_key configured",
        ));
    };
    check_signature(state, key, method.as_str(), uri, headers, body).map_err(|refusal| {
        tracing::warn!(path = %Escaped(uri.path()), "media-operation API request refused: {refusal}");
        state
            .metrics
            .errors
            .with_label_values(&["apiUnauthorized"])
            .inc();
        match refusal {
            SignatureRefusal::Replay(ReplayError::Full) => ApiError {
                status: 503,
                code: "ServiceUnavailable",
                message: refusal.to_string(),
                sub_code: None,
            },
            _ => ApiError::unauthorized(refusal.to_string()),
        }
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

fn call_info(state: &State, call_id: &str) -> Result<Arc<CallInfo>, ApiError> {
    state.registry.info(call_id).ok_or_else(|| {
        ApiError::not_found(format!(
            "call connection {call_id} not found (no audio stream with this id)"
        ))
    })
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
    let result = (|| {
        authenticate(&state, &method, &uri, &headers, &body)?;
        if segment.contains(':') {
            return Err(ApiError::not_found(format!("no such resource: {segment}")));
        }
        let info = call_info(&state, &segment)?;
        Ok(call_properties(&state, &info))
    })();
    match result {
        Ok(p) => (StatusCode::OK, Json(p)).into_response(),
        Err(e) => error_response(&e),
    }
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

fn correlation_id(info: &CallInfo) -> String {
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
        return error_response(&e);
    }
    let Some((call_id, op)) = segment.rsplit_once(':') else {
        return error_response(&ApiError::not_found(format!(
            "no operation in {segment}: expected {{callConnectionId}}:{{operation}}"
        )));
    };
    let result = match op {
        "play" => play(&state, call_id, &body).await,
        "recognize" => recognize(&state, call_id, &body).await,
        "startContinuousDtmfRecognition" => continuous(&state, call_id, &body, true).await,
        "stopContinuousDtmfRecognition" => continuous(&state, call_id, &body, false).await,
        "sendDtmfTones" => send_dtmf(&state, call_id, &body).await,
        "cancelAllMediaOperations" => cancel_all(&state, call_id).await,
        "hold" => hold(&state, call_id, &body).await,
        "unhold" => unhold(&state, call_id, &body).await,
        _ => Err(ApiError::not_found(format!("unknown operation {op}"))),
    };
    match result {
        Ok(r) => r,
        Err(e) => {
            if e.status != 404 {
                tracing::info!(call_id = %Escaped(call_id), op = %Escaped(op), status = e.status, "{}", Escaped(&e.message));
            }
            error_response(&e)
        }
    }
}

fn check_file_uri(uri: &str, field: &str) -> Result<(), ApiError> {
    if let Some(path) = file_uri_path(uri)
        && Path::new(&path)
            .components()
            .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(ApiError::bad_request(format!(
            "{field}: \"..\" is not allowed in file paths"
        )));
    }
    Ok(())
}

/// The path of a `file://` URI (`file:///abs`, `file://localhost/abs`, `file://rel`).
fn file_uri_path(uri: &str) -> Option<String> {
    if !uri.get(..7)?.eq_ignore_ascii_case("file://") {
        return None;
    }
    let rest = &uri[7..];
    let rest = rest
        .strip_prefix("localhost")
        .filter(|r| r.starts_with('/'))
        .unwrap_or(rest);
    Some(percent_decode(rest))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Hands an operation to the call's session; its refusal becomes the HTTP error.
async fn submit(state: &State, call_id: &str, operation: Operation) -> Result<(), ApiError> {
    match state
        .registry
        .request(call_id, Command::Operation(operation))
        .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(session_error(call_id, e)),
        Err(e) => Err(ApiError::not_found(format!(
            "call connection {call_id}: {e}"
        ))),
    }
}

fn session_error(call_id: &str, e: session::Error) -> ApiError {
    match e {
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
    }
}

async fn play(state: &Arc<State>, call_id: &str, body: &[u8]) -> Result<Response, ApiError> {
    let play = parse_body::<api::PlayRequest>(body)?.validate()?;
    let sources = checked_sources(state, call_id, &play.sources, "playSources").await?;
    let request = session::PlayRequest {
        sources,
        play_to: play.play_to,
        looped: play.looped,
        interrupt_call_media_operation: play.interrupt,
        meta: play.meta,
    };
    submit(state, call_id, Operation::Play(request)).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn recognize(state: &Arc<State>, call_id: &str, body: &[u8]) -> Result<Response, ApiError> {
    let r = parse_body::<api::RecognizeRequest>(body)?.validate()?;
    let prompts = checked_sources(state, call_id, &r.prompts, "playPrompts").await?;
    let request = session::RecognizeRequest {
        prompts,
        interrupt_call_media_operation: r.interrupt_call_media_operation,
        options: session::RecognizeOptions {
            interrupt_prompt: r.interrupt_prompt,
            initial_silence_timeout: r.initial_silence_timeout,
            target_participant: Some(r.target),
            inter_tone_timeout: r.inter_tone_timeout,
            max_tones_to_collect: r.max_tones,
            stop_tones: r.stop_tones.into_iter().map(Tone::from).collect(),
            dtmf_buffering: r.dtmf_buffering,
        },
        meta: r.meta,
    };
    submit(state, call_id, Operation::Recognize(request)).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn continuous(
    state: &Arc<State>,
    call_id: &str,
    body: &[u8],
    start: bool,
) -> Result<Response, ApiError> {
    let c = parse_body::<api::ContinuousDtmfRequest>(body)?.validate()?;
    call_info(state, call_id)?;
    let request = session::ContinuousDtmfRequest {
        target_participant: Some(c.target),
        meta: c.meta,
    };
    let operation = if start {
        Operation::StartContinuousDtmf(request)
    } else {
        Operation::StopContinuousDtmf(request)
    };
    submit(state, call_id, operation).await?;
    Ok(StatusCode::OK.into_response())
}

async fn send_dtmf(state: &Arc<State>, call_id: &str, body: &[u8]) -> Result<Response, ApiError> {
    let send = parse_body::<api::SendDtmfTonesRequest>(body)?.validate()?;
    call_info(state, call_id)?;
    let context = send.meta.operation_context.clone();
    let request = session::SendDtmfTonesRequest {
        tones: send.tones.into_iter().map(Tone::from).collect(),
        target_participant: Some(send.target),
        meta: send.meta,
    };
    submit(state, call_id, Operation::SendDtmfTones(request)).await?;
    let reply = serde_json::json!({ "operationContext": context });
    Ok((StatusCode::ACCEPTED, Json(reply)).into_response())
}

async fn hold(state: &Arc<State>, call_id: &str, body: &[u8]) -> Result<Response, ApiError> {
    let h = parse_body::<api::HoldRequest>(body)?.validate()?;
    if let Some(m) = &h.music {
        check_file_uri(&m.uri, "playSourceInfo.file.uri")?;
    }
    let info = call_info(state, call_id)?;
    let music = match &h.music {
        Some(m) => load_sources(state, std::slice::from_ref(m), info.rate)
            .await
            .pop(),
        None => None,
    };
    let request = session::HoldRequest {
        target_participant: Some(h.target),
        music,
        meta: h.meta,
    };
    submit(state, call_id, Operation::Hold(request)).await?;
    Ok(StatusCode::OK.into_response())
}

async fn unhold(state: &Arc<State>, call_id: &str, body: &[u8]) -> Result<Response, ApiError> {
    let u = parse_body::<api::UnholdRequest>(body)?.validate()?;
    call_info(state, call_id)?;
    let request = session::UnholdRequest {
        target_participant: Some(u.target),
        meta: u.meta,
    };
    submit(state, call_id, Operation::Unhold(request)).await?;
    Ok(StatusCode::OK.into_response())
}

async fn cancel_all(state: &Arc<State>, call_id: &str) -> Result<Response, ApiError> {
    call_info(state, call_id)?;
    submit(state, call_id, Operation::CancelAll).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Checks every source's URI (an error names `field[i].file.uri`), then loads them at
/// the call's rate.
async fn checked_sources(
    state: &Arc<State>,
    call_id: &str,
    sources: &[PlaySourceRef],
    field: &str,
) -> Result<Vec<Result<Prompt, SourceFailure>>, ApiError> {
    for (i, source) in sources.iter().enumerate() {
        check_file_uri(&source.uri, &format!("{field}[{i}].file.uri"))?;
    }
    let info = call_info(state, call_id)?;
    Ok(load_sources(state, sources, info.rate).await)
}

/// Loads every source: a prompt, or why it could not be had.
async fn load_sources(
    state: &Arc<State>,
    sources: &[PlaySourceRef],
    rate: tonegate_dsp::SampleRate,
) -> Vec<Result<Prompt, SourceFailure>> {
    let mut out = Vec::with_capacity(sources.len());
    for source in sources {
        out.push(load_source(state, source, rate).await);
    }
    out
}

/// Loads one source; a failure is logged in detail and told to the client by its class
/// only ([`prompts::Failure::public_message`]).
async fn load_source(
    state: &Arc<State>,
    source: &PlaySourceRef,
    rate: tonegate_dsp::SampleRate,
) -> Result<Prompt, SourceFailure> {
    let loaded = match file_uri_path(&source.uri) {
        Some(path) => prompts::load(state, path, rate).await,
        None => fetch_source(state, source, rate).await,
    };
    loaded.map_err(|failure| {
        let uri = source.uri.split(['?', '#']).next().unwrap_or_default();
        tracing::warn!(source = %Escaped(uri), "play source failed: {}", Escaped(&failure.to_string()));
        let message = failure.public_message().to_owned();
        match failure {
            prompts::Failure::BadFormat(_) => SourceFailure::InvalidFormat(message),
            _ => SourceFailure::DownloadFailed(message),
        }
    })
}

/// Downloads (or takes from the download cache) an http(s) source and decodes it.
async fn fetch_source(
    state: &Arc<State>,
    source: &PlaySourceRef,
    rate: tonegate_dsp::SampleRate,
) -> Result<Prompt, prompts::Failure> {
    let cached = state
        .api
        .downloads
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .map
        .get(&source.cache_key)
        .cloned();
    let fetched = cached.is_none();
    let bytes = match cached {
        Some(bytes) => bytes,
        None => download(state, &source.uri)
            .await
            .map_err(prompts::Failure::NotAvailable)?,
    };
    let wav = bytes.clone();
    let max_len = state.prompts.max_len();
    let prompt = tokio::task::spawn_blocking(move || {
        Prompt::from_wav_within(&wav, rate, max_len).map_err(prompts::Failure::from_decoding)
    })
    .await
    .unwrap_or_else(|e| Err(prompts::Failure::BadFormat(format!("decoder failed: {e}"))))?;
    // Only playable content is cached, so a fixed file is fetched again.
    if fetched {
        remember_download(state, &source.cache_key, bytes);
    }
    Ok(prompt)
}

/// Fetches an http(s) play source within `max_download_bytes` and `download_timeout_ms`.
async fn download(state: &Arc<State>, uri: &str) -> Result<Bytes, String> {
    get_limited(
        state.webhook.client(),
        uri,
        (state.config.max_download_bytes, "max_download_bytes"),
        Duration::from_millis(state.config.download_timeout_ms),
    )
    .await
}

/// GETs `url` within `timeout` (not the client's own); a body over `limit.0` bytes is
/// refused, naming the setting `limit.1`. The error is one line.
pub(crate) async fn get_limited(
    client: &reqwest::Client,
    url: &str,
    (limit, setting): (u64, &str),
    timeout: Duration,
) -> Result<Bytes, String> {
    let fetch = async {
        let mut response = client
            .get(url)
            .timeout(timeout)
            .send()
            .await
            .map_err(download_error)?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(format!("larger than {setting} ({limit})"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(download_error)? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(format!("larger than {setting} ({limit})"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(body))
    };
    tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| "download timed out".to_owned())?
}

/// A download error as one line with its causes (`connection refused`, ...).
fn download_error(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return "download timed out".to_owned();
    }
    // The URL may carry a credential in its query (signed URLs); the log names the
    // source without it.
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Keeps a downloaded source under `key`, dropping the oldest to stay within
/// `play_cache_bytes`.
fn remember_download(state: &State, key: &str, bytes: Bytes) {
    let capacity = state.config.play_cache_bytes;
    let size = bytes.len() as u64;
    if size > capacity {
        return;
    }
    let mut cache = state
        .api
        .downloads
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(old) = cache.map.remove(key) {
        cache.bytes -= old.len() as u64;
        cache.order.retain(|k| k != key);
    }
    while cache.bytes + size > capacity {
        let Some(old) = cache.order.pop_front() else {
            break;
        };
        if let Some(b) = cache.map.remove(&old) {
            cache.bytes -= b.len() as u64;
        }
    }
    cache.map.insert(key.to_owned(), bytes);
    cache.order.push_back(key.to_owned());
    cache.bytes += size;
}

fn event_id() -> String {
    let v: u128 = rand::random();
    let v = (v & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
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
    let mut extra = match serde_json::to_value(op) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for key in [
        "event",
        "operationContext",
        "operationCallbackUri",
        "resultInformation",
    ] {
        extra.remove(key);
    }
    let data = EventData {
        call_connection_id: info.call_id.to_string(),
        server_call_id: server_call_id(info),
        correlation_id: correlation_id(info),
        operation_context: op.meta.operation_context.clone(),
        result_information: Some(ResultInformation {
            code: op.result_information.code,
            sub_code: op.result_information.sub_code,
            message: op.result_information.message.clone(),
        }),
        extra,
    };
    let cloud = CloudEvent::new(op.event, event_id(), state.wall_now(), data);
    let callback = callback(state, info, op.meta.callback_uri.as_deref());
    webhook::publish(state, callback, cloud);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris() {
        assert_eq!(file_uri_path("file:///tmp/a.wav").unwrap(), "/tmp/a.wav");
        assert_eq!(
            file_uri_path("FILE://localhost/tmp/a b.wav").unwrap(),
            "/tmp/a b.wav"
        );
        assert_eq!(
            file_uri_path("file:///tmp/a%20b.wav").unwrap(),
            "/tmp/a b.wav"
        );
        assert_eq!(
            file_uri_path("file://greeting.wav").unwrap(),
            "greeting.wav"
        );
        assert!(file_uri_path("https://x/a.wav").is_none());
        assert!(check_file_uri("file:///p/../etc/passwd", "f").is_err());
        assert!(check_file_uri("file:///p/a.wav", "f").is_ok());
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
