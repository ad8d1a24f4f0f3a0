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
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State as AxumState};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value};

use super::{CallInfo, Config, RegistryError, State, auth, webhook};
use crate::api::{
    self, ApiError, CallProperties, CloudEvent, EventData, EventName, Identifier, MediaStreaming,
    PlaySourceRef, ResultInformation,
};
use crate::dsp::Digit;
use crate::media::player::Prompt;
use crate::session::{Command, Event, EventKind};

/// Operations in flight, by call, then by session item id.
type Ops = HashMap<Arc<str>, HashMap<Arc<str>, Op>>;

/// The API's shared state.
pub(crate) struct Api {
    key: Option<Vec<u8>>,
    calls: Mutex<Ops>,
    downloads: Mutex<Downloads>,
    next_op: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Play,
    SendDtmf,
}

#[derive(Debug, Clone)]
struct Op {
    kind: OpKind,
    context: Option<String>,
    callback: Option<String>,
    /// Only play-to-all and non-group recognize may run beside it.
    exclusive: bool,
    /// Canceled while its sources were still loading.
    canceled: bool,
}

#[derive(Default)]
struct Downloads {
    map: HashMap<String, Bytes>,
    order: VecDeque<String>,
    bytes: u64,
}

impl Api {
    pub(crate) fn new(config: &Config) -> Result<Api, String> {
        let key = match &config.access_key {
            None => None,
            Some(k) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(k.trim())
                    .map_err(|_| "access_key must be base64".to_owned())?;
                if bytes.is_empty() {
                    return Err("access_key is empty".to_owned());
                }
                Some(bytes)
            }
        };
        if key.is_none() {
            tracing::warn!(
                "the media-operation API is disabled: set access_key (base64) to enable it"
            );
        }
        Ok(Api {
            key,
            calls: Mutex::new(HashMap::new()),
            downloads: Mutex::new(Downloads::default()),
            next_op: AtomicU64::new(1),
        })
    }

    pub(crate) fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    fn ops(&self) -> std::sync::MutexGuard<'_, Ops> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
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
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = header("host")
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.as_str().to_owned()));
    let signed = auth::Signed {
        method: method.as_str(),
        path_and_query: uri.path_and_query().map_or(uri.path(), |p| p.as_str()),
        host: host.as_deref(),
        date: header("x-ms-date"),
        content_sha256: header("x-ms-content-sha256"),
        authorization: header("authorization"),
    };
    auth::verify(key, signed, body, state.wall_now()).map_err(|reason| {
        tracing::warn!(path = %uri.path(), "media-operation API request refused: {reason}");
        state
            .metrics
            .errors
            .with_label_values(&["apiUnauthorized"])
            .inc();
        ApiError::unauthorized(reason)
    })
}

fn parse_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid: {e}")))
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
        callback_uri: callback(state, info, None),
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
    info.stream_id
        .clone()
        .unwrap_or_else(|| info.call_id.to_string())
}

fn correlation_id(info: &CallInfo) -> String {
    info.correlation_id
        .clone()
        .unwrap_or_else(|| info.call_id.to_string())
}

fn callback(state: &State, info: &CallInfo, operation: Option<&str>) -> Option<String> {
    operation
        .map(str::to_owned)
        .or_else(|| info.callback_uri.clone())
        .or_else(|| state.config.callback_uri.clone())
        .filter(|u| !u.is_empty())
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
        "sendDtmfTones" => send_dtmf(&state, call_id, &body).await,
        "cancelAllMediaOperations" => cancel_all(&state, call_id).await,
        "recognize" => parse_body::<api::RecognizeRequest>(&body)
            .and_then(|r| r.validate())
            .and_then(|_| not_yet(&state, call_id, op)),
        "startContinuousDtmfRecognition" | "stopContinuousDtmfRecognition" => {
            parse_body::<api::ContinuousDtmfRequest>(&body)
                .and_then(|r| r.validate())
                .and_then(|_| not_yet(&state, call_id, op))
        }
        "hold" => parse_body::<api::HoldRequest>(&body)
            .and_then(|r| r.validate())
            .and_then(|_| not_yet(&state, call_id, op)),
        "unhold" => parse_body::<api::UnholdRequest>(&body)
            .and_then(|r| r.validate())
            .and_then(|_| not_yet(&state, call_id, op)),
        _ => Err(ApiError::not_found(format!("unknown operation {op}"))),
    };
    match result {
        Ok(r) => r,
        Err(e) => {
            if e.status != 404 {
                tracing::info!(call_id, op, status = e.status, "{}", e.message);
            }
            error_response(&e)
        }
    }
}

fn not_yet(state: &State, call_id: &str, op: &str) -> Result<Response, ApiError> {
    call_info(state, call_id)?;
    Err(ApiError::not_implemented(format!(
        "{op} is not implemented yet: the session does not support it"
    )))
}

fn conflict_check(state: &State, call_id: &str, exclusive: bool) -> Result<(), ApiError> {
    if !exclusive {
        return Ok(());
    }
    let ops = state.api.ops();
    if ops
        .get(call_id)
        .is_some_and(|m| m.values().any(|o| o.exclusive))
    {
        return Err(ApiError::conflict(
            "the operation conflicts with a targeted play or sendDtmfTones already running",
        ));
    }
    Ok(())
}

fn new_op(state: &State, call_id: &Arc<str>, op: Op) -> Arc<str> {
    let n = state.api.next_op.fetch_add(1, Ordering::SeqCst);
    let kind = match op.kind {
        OpKind::Play => "play",
        OpKind::SendDtmf => "sendDtmfTones",
    };
    let id: Arc<str> = Arc::from(format!("api-{kind}-{n}"));
    state
        .api
        .ops()
        .entry(call_id.clone())
        .or_default()
        .insert(id.clone(), op);
    id
}

fn take_op(state: &State, call_id: &str, id: &str) -> Option<Op> {
    state.api.ops().get_mut(call_id)?.remove(id)
}

fn check_file_uri(uri: &str, field: &str) -> Result<(), ApiError> {
    if let Some(path) = file_uri_path(uri) {
        if Path::new(&path)
            .components()
            .any(|c| matches!(c, Component::ParentDir))
        {
            return Err(ApiError::bad_request(format!(
                "{field}: \"..\" is not allowed in file paths"
            )));
        }
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

async fn play(state: &Arc<State>, call_id: &str, body: &[u8]) -> Result<Response, ApiError> {
    let play = parse_body::<api::PlayRequest>(body)?.validate()?;
    for (i, s) in play.sources.iter().enumerate() {
        check_file_uri(&s.uri, &format!("playSources[{i}].file.uri"))?;
    }
    let info = call_info(state, call_id)?;
    conflict_check(state, call_id, !play.play_to.is_empty())?;
    let op = Op {
        kind: OpKind::Play,
        context: play.operation_context.clone(),
        callback: play.operation_callback_uri.clone(),
        exclusive: !play.play_to.is_empty(),
        canceled: false,
    };
    let id = new_op(state, &info.call_id, op);
    let state = state.clone();
    tokio::spawn(async move {
        let loaded = load_sources(&state, &play.sources, info.rate).await;
        let canceled = state
            .api
            .ops()
            .get(&*info.call_id)
            .and_then(|m| m.get(&id))
            .is_none_or(|o| o.canceled);
        match loaded {
            _ if canceled => {
                if let Some(op) = take_op(&state, &info.call_id, &id) {
                    emit(
                        &state,
                        &info,
                        EventName::PlayCanceled,
                        &op,
                        ResultInformation::canceled(),
                        Map::new(),
                    );
                }
            }
            Err((index, sub_code, message)) => {
                if let Some(op) = take_op(&state, &info.call_id, &id) {
                    let mut extra = Map::new();
                    extra.insert("failedPlaySourceIndex".into(), Value::from(index));
                    emit(
                        &state,
                        &info,
                        EventName::PlayFailed,
                        &op,
                        ResultInformation::new(400, sub_code, message),
                        extra,
                    );
                }
            }
            Ok(prompt) => {
                if play.interrupt {
                    cancel_ops(&state, &info.call_id, Some(&id));
                    let _ = state.registry.send(&info.call_id, Command::Stop).await;
                }
                let command = Command::Play {
                    id: id.to_string(),
                    prompt,
                    looped: play.looped,
                };
                if let Err(e) = state.registry.send(&info.call_id, command).await {
                    if let Some(op) = take_op(&state, &info.call_id, &id) {
                        emit(
                            &state,
                            &info,
                            EventName::PlayFailed,
                            &op,
                            ResultInformation::new(500, 9999, format!("call ended: {e}")),
                            Map::new(),
                        );
                    }
                }
            }
        }
    });
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn send_dtmf(state: &Arc<State>, call_id: &str, body: &[u8]) -> Result<Response, ApiError> {
    let send = parse_body::<api::SendDtmfTonesRequest>(body)?.validate()?;
    let info = call_info(state, call_id)?;
    conflict_check(state, call_id, true)?;
    let op = Op {
        kind: OpKind::SendDtmf,
        context: send.operation_context.clone(),
        callback: send.operation_callback_uri.clone(),
        exclusive: true,
        canceled: false,
    };
    let id = new_op(state, &info.call_id, op);
    let digits: Vec<Digit> = send.tones.clone();
    let command = Command::SendDigits {
        id: id.to_string(),
        digits,
    };
    if let Err(e) = state.registry.send(&info.call_id, command).await {
        take_op(state, &info.call_id, &id);
        return Err(registry_error(call_id, e));
    }
    let reply = serde_json::json!({ "operationContext": send.operation_context });
    Ok((StatusCode::ACCEPTED, Json(reply)).into_response())
}

fn registry_error(call_id: &str, e: RegistryError) -> ApiError {
    ApiError::not_found(format!("call connection {call_id}: {e}"))
}

/// Marks the call's operations still loading as canceled (except `keep`).
fn cancel_ops(state: &State, call_id: &str, keep: Option<&Arc<str>>) {
    if let Some(m) = state.api.ops().get_mut(call_id) {
        for (id, op) in m.iter_mut() {
            if keep != Some(id) {
                op.canceled = true;
            }
        }
    }
}

async fn cancel_all(state: &Arc<State>, call_id: &str) -> Result<Response, ApiError> {
    let info = call_info(state, call_id)?;
    cancel_ops(state, &info.call_id, None);
    state
        .registry
        .send(&info.call_id, Command::Stop)
        .await
        .map_err(|e| registry_error(call_id, e))?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Loads every source and joins them; on failure (index, ACS sub-code, message).
async fn load_sources(
    state: &Arc<State>,
    sources: &[PlaySourceRef],
    rate: crate::SampleRate,
) -> Result<Prompt, (usize, u32, String)> {
    let mut samples: Vec<f32> = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let prompt = if let Some(path) = file_uri_path(&source.uri) {
            let state2 = state.clone();
            tokio::task::spawn_blocking(move || load_file(&state2, &path, rate))
                .await
                .map_err(|_| (i, 8536, "loader failed".to_owned()))?
                .map_err(|(sub, m)| (i, sub, m))?
        } else {
            let bytes = download(state, source).await.map_err(|m| {
                (
                    i,
                    8536,
                    format!("play source {} could not be downloaded: {m}", source.uri),
                )
            })?;
            tokio::task::spawn_blocking(move || Prompt::from_wav(&bytes, rate))
                .await
                .map_err(|_| (i, 8535, "decoder failed".to_owned()))?
                .map_err(|e| {
                    (
                        i,
                        8535,
                        format!(
                            "play source {} is not a supported WAV file: {e}",
                            source.uri
                        ),
                    )
                })?
        };
        if sources.len() == 1 {
            return Ok(prompt);
        }
        samples.extend_from_slice(prompt.samples());
    }
    Ok(Prompt::from_samples(samples, rate))
}

/// Reads a `file://` source; it must lie inside the prompt directory.
fn load_file(state: &State, path: &str, rate: crate::SampleRate) -> Result<Prompt, (u32, String)> {
    let root = &state.config.prompt_dir;
    let candidate = if Path::new(path).is_absolute() {
        PathBuf::from(path)
    } else {
        super::resolve_prompt(root, path).ok_or((8536, format!("bad prompt path {path}")))?
    };
    let root = root
        .canonicalize()
        .map_err(|e| (8536, format!("prompt_dir {}: {e}", root.display())))?;
    let full = candidate
        .canonicalize()
        .map_err(|e| (8536, format!("play source {path} could not be read: {e}")))?;
    if !full.starts_with(&root) {
        return Err((
            8536,
            format!("play source {path} is outside the prompt directory"),
        ));
    }
    super::load_prompt_path(state, &full, rate).map_err(|(code, m)| {
        let sub = if code == "badFormat" { 8535 } else { 8536 };
        (sub, format!("play source {path}: {m}"))
    })
}

async fn download(state: &Arc<State>, source: &PlaySourceRef) -> Result<Bytes, String> {
    if let Some(b) = state
        .api
        .downloads
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .map
        .get(&source.cache_key)
    {
        return Ok(b.clone());
    }
    let limit = state.config.max_download_bytes;
    let timeout = Duration::from_millis(state.config.download_timeout_ms);
    let fetch = async {
        let mut response = state
            .webhook
            .client()
            .get(&source.uri)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(format!("larger than max_download_bytes ({limit})"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(format!("larger than max_download_bytes ({limit})"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(body))
    };
    let bytes = tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| "download timed out".to_owned())??;
    let capacity = state.config.play_cache_bytes;
    if (bytes.len() as u64) <= capacity {
        let mut cache = state
            .api
            .downloads
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while cache.bytes + bytes.len() as u64 > capacity {
            let Some(old) = cache.order.pop_front() else {
                break;
            };
            if let Some(b) = cache.map.remove(&old) {
                cache.bytes -= b.len() as u64;
            }
        }
        if cache
            .map
            .insert(source.cache_key.clone(), bytes.clone())
            .is_none()
        {
            cache.order.push_back(source.cache_key.clone());
            cache.bytes += bytes.len() as u64;
        }
    }
    Ok(bytes)
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

fn emit(
    state: &Arc<State>,
    info: &CallInfo,
    name: EventName,
    op: &Op,
    result: ResultInformation,
    extra: Map<String, Value>,
) {
    let data = EventData {
        call_connection_id: info.call_id.to_string(),
        server_call_id: server_call_id(info),
        correlation_id: correlation_id(info),
        operation_context: op.context.clone(),
        result_information: Some(result),
        extra,
    };
    let event = CloudEvent::new(name, event_id(), state.wall_now(), data);
    webhook::publish(state, callback(state, info, op.callback.as_deref()), event);
}

/// Turns a session event into CloudEvents for the API operations it concerns.
pub(super) fn on_session_event(state: &Arc<State>, info: &CallInfo, event: &Event) {
    let (id, outcome) = match &event.kind {
        EventKind::PlayStarted { id } => (id, 0),
        EventKind::PlayCompleted { id } => (id, 1),
        EventKind::PlayCanceled { id } => (id, 2),
        EventKind::Ended => {
            state.api.ops().remove(&*info.call_id);
            state.webhook.close(&info.call_id);
            return;
        }
        _ => return,
    };
    let op = if outcome == 0 {
        let ops = state.api.ops();
        let Some(op) = ops.get(&*info.call_id).and_then(|m| m.get(&**id)) else {
            return;
        };
        op.clone()
    } else {
        let Some(op) = take_op(state, &info.call_id, id) else {
            return;
        };
        op
    };
    let (name, result) = match (op.kind, outcome) {
        (OpKind::Play, 0) => (
            EventName::PlayStarted,
            ResultInformation::success("Action started."),
        ),
        (OpKind::Play, 1) => (
            EventName::PlayCompleted,
            ResultInformation::success("Action completed successfully."),
        ),
        (OpKind::Play, _) => (EventName::PlayCanceled, ResultInformation::canceled()),
        (OpKind::SendDtmf, 0) => return,
        (OpKind::SendDtmf, 1) => (
            EventName::SendDtmfTonesCompleted,
            ResultInformation::success("Action completed successfully."),
        ),
        (OpKind::SendDtmf, _) => (
            EventName::SendDtmfTonesFailed,
            ResultInformation::canceled(),
        ),
    };
    emit(state, info, name, &op, result, Map::new());
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
