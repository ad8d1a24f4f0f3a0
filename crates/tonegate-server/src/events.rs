//! The server-sent event streams: `GET /v1/events` (every call) and
//! `GET /v1/calls/{callId}/events` (one call). Each session event is sent as JSON with
//! the SSE event name of its `type`; each CloudEvent of the media-operation API with
//! its `type` (`Microsoft.Communication.*`).
//!
//! Credentials ([`authenticate`]): once [`Config::access_key`](super::Config::access_key)
//! or [`Config::event_token`](super::Config::event_token) is set, a stream needs one of
//! - an HMAC-SHA256 signature of the `GET` (empty body) made with the access key, as
//!   the SDKs sign the media-operation API (and, as there, never used twice);
//! - `Authorization: Bearer <event_token>`, for every call;
//! - `Authorization: Bearer <call token>` of scope `events` ([`super::call_token`]),
//!   for its own call's stream only.
//!
//! Browsers' `EventSource` cannot set headers, so a bearer token may also come as the
//! `access_token` query parameter. With no credential configured, the streams are open.
//!
//! Each stream reads the server's event log (`event_log`): every event has an `id:`
//! that counts the server's events (gaps on a one-call stream are other calls' events).
//! A client that reconnects with `Last-Event-ID: N` (or `?lastEventId=N`) first gets
//! the retained events after `N` that its stream shows, then the live ones, with no gap
//! and no duplicate; if events after `N` are no longer retained it is told first, with
//! an event `missed` (how many ids were skipped, and `resumeFrom`, the first id sent).
//! Memory is bounded in bytes: a subscriber holds at most
//! [`Config::event_subscriber_bytes`](super::Config::event_subscriber_bytes) (and
//! [`Config::event_buffer`](super::Config::event_buffer) events) not yet written. One
//! that falls further behind is cut off rather than left to lose events silently: it
//! gets what was queued, then a last event `lagged` naming the first id it did not get
//! (`resumeFrom`), and the stream ends.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Path as UrlPath, State as AxumState};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::{FutureExt, Stream, StreamExt};

use super::api::{SignatureRefusal, check_signature};
use super::event_log::{CallFilter, Entry, EventId, Item};
use super::replay::ReplayError;
use super::stream_auth::bearer_header;
use super::{Config, State, shutting_down};
use tonegate_core::auth::bearer::{constant_time_eq, digest};
use tonegate_core::auth::call_token::{self, Scope, TokenError};
use tonegate_core::auth::unix_seconds;

/// A comment sent on an idle stream this often, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /v1/events`.
pub(super) async fn all(
    AxumState(state): AxumState<Arc<State>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    respond(state, None, &uri, &headers)
}

/// `GET /v1/calls/{callId}/events`.
pub(super) async fn call(
    AxumState(state): AxumState<Arc<State>>,
    UrlPath(call_id): UrlPath<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    respond(state, Some(call_id), &uri, &headers)
}

fn respond(state: Arc<State>, call_id: Option<String>, uri: &Uri, headers: &HeaderMap) -> Response {
    if let Some(refusal) = refusal(&state, call_id.as_deref(), uri, headers) {
        return refusal;
    }
    let from = match resume_from(uri, headers) {
        Ok(from) => from,
        Err(bad) => {
            tracing::info!(path = %uri.path(), "refusing event stream: {bad}");
            return (StatusCode::BAD_REQUEST, bad.to_string()).into_response();
        }
    };
    let filter = call_id.map_or(CallFilter::All, |c| CallFilter::Call(Arc::from(c)));
    let items = match state.event_log.subscribe(from, filter) {
        Ok(items) => items,
        Err(e) => {
            tracing::warn!("refusing event stream: {e}");
            return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response();
        }
    };
    let closed = state.closed.subscribe();
    // One keep-alive timer for the stream's life, moved later after each write: while it
    // has not fired, that takes no lock on the timer wheel, where a new timer per write
    // took two (one to insert it, one to remove it).
    let keep_alive = Box::pin(tokio::time::sleep(KEEP_ALIVE));
    // Fused: a chunk may have read the end of the items, and the next step reads it again.
    let stream = futures_util::stream::unfold(
        (items.fuse(), closed, keep_alive),
        |(mut items, mut closed, mut keep_alive)| async move {
            let chunk = tokio::select! {
                item = items.next() => with_queued(item_frame(&item?), &mut items),
                _ = keep_alive.as_mut() => Bytes::from_static(b":\n\n"),
                _ = shutting_down(&mut closed) => return None,
            };
            keep_alive
                .as_mut()
                .reset(tokio::time::Instant::now() + KEEP_ALIVE);
            Some((Ok::<_, Infallible>(chunk), (items, closed, keep_alive)))
        },
    );
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Checks the credentials of a request for event data (the event streams, the
/// monitor's data) about `call_id`, or every call: `Some` is the refusal to send (401,
/// or 503 while the replay cache is full), already counted and logged.
pub(crate) fn refusal(
    state: &State,
    call_id: Option<&str>,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<Response> {
    let Err(denied) = authenticate(state, call_id, uri, headers) else {
        return None;
    };
    state
        .metrics
        .errors
        .with_label_values(&["eventsUnauthorized"])
        .inc();
    tracing::info!(path = %uri.path(), reason = %denied, "refusing event stream");
    let status = match denied {
        Denied::Signature(SignatureRefusal::Replay(ReplayError::Full)) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::UNAUTHORIZED,
    };
    let challenge = (header::WWW_AUTHENTICATE, "Bearer, HMAC-SHA256");
    Some((status, [challenge], denied.to_string()).into_response())
}

/// Why an event stream was refused. Never holds a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Denied {
    /// No `Authorization` header and no `access_token` parameter.
    #[error("credentials required: an HMAC-SHA256 signature, or a bearer token")]
    Missing,
    /// A bearer token that is neither `event_token` nor a call token.
    #[error("invalid token")]
    Invalid,
    /// A refused HMAC signature.
    #[error("{0}")]
    Signature(SignatureRefusal),
    /// A refused call token.
    #[error("{0}")]
    Token(TokenError),
    /// A call token (or an HMAC signature) where the server has no access key.
    #[error("the server has no access_key to check this credential")]
    NoKey,
    /// A call token of another call.
    #[error("this token is for another call")]
    OtherCall,
    /// A call token on the all-calls stream.
    #[error("a call token reads only /v1/calls/{{its call}}/events")]
    AllCalls,
}

/// The configured event-stream bearer token, kept as its SHA-256 (for the
/// constant-time compare).
pub(crate) struct EventToken(Option<[u8; 32]>);

impl EventToken {
    /// [`Config::event_token`], checked; the error names the setting.
    pub(crate) fn new(config: &Config) -> Result<EventToken, String> {
        match config.event_token.as_deref() {
            None => Ok(EventToken(None)),
            Some(t) if t.trim().is_empty() || t.chars().any(|c| c.is_ascii_whitespace()) => {
                Err("event_token may not be empty or contain whitespace".to_owned())
            }
            Some(t) if call_token::is_call_token(t) => Err(format!(
                "event_token may not start with {}",
                call_token::PREFIX
            )),
            Some(t) => Ok(EventToken(Some(digest(t)))),
        }
    }

    /// Whether an event token is configured.
    pub(crate) fn is_set(&self) -> bool {
        self.0.is_some()
    }
}

/// Checks an event stream request's credentials; `call_id` is the one call asked for.
fn authenticate(
    state: &State,
    call_id: Option<&str>,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), Denied> {
    let key = state.api.key();
    if key.is_none() && !state.event_token.is_set() {
        return Ok(());
    }
    let authorization = headers.get(header::AUTHORIZATION);
    if let Some(value) = authorization
        && value.as_bytes().starts_with(b"HMAC-SHA256 ")
    {
        let key = key.ok_or(Denied::NoKey)?;
        return check_signature(state, key, "GET", uri, headers, b"").map_err(Denied::Signature);
    }
    let query_token = access_token(uri.query());
    let token = match authorization {
        Some(_) => bearer_header(authorization).map_err(|_| Denied::Invalid)?,
        None => query_token.as_deref().ok_or(Denied::Missing)?,
    };
    if call_token::is_call_token(token) {
        let key = key.ok_or(Denied::NoKey)?;
        let now = unix_seconds(state.wall_now());
        let id = call_token::verify(key, token, Scope::Events, now).map_err(Denied::Token)?;
        return match call_id {
            None => Err(Denied::AllCalls),
            Some(c) if c == id => Ok(()),
            Some(_) => Err(Denied::OtherCall),
        };
    }
    match &state.event_token.0 {
        Some(expected) if constant_time_eq(&digest(token), expected) => Ok(()),
        _ => Err(Denied::Invalid),
    }
}

/// The `access_token` query parameter, if any.
fn access_token(query: Option<&str>) -> Option<String> {
    query_parameter(query, "access_token")
}

/// The query parameter `name`, if any.
fn query_parameter(query: Option<&str>, name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query?).ok()?;
    pairs
        .into_iter()
        .find_map(|(n, value)| (n == name).then_some(value))
}

/// The query parameter naming the last event a client got, for clients that cannot
/// set the `Last-Event-ID` header.
const LAST_EVENT_ID_PARAMETER: &str = "lastEventId";

/// A `Last-Event-ID` that is not one of this server's event ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Last-Event-ID (or lastEventId) must be an event id: a whole number from an id: line")]
pub(crate) struct BadResume;

/// The id a reconnecting client got last: the `Last-Event-ID` header, else the
/// `lastEventId` query parameter; `None` (live events only) when neither is given or
/// the value is empty (a client that has had no event yet).
fn resume_from(uri: &Uri, headers: &HeaderMap) -> Result<Option<EventId>, BadResume> {
    let value = match headers.get("last-event-id") {
        Some(value) => value.to_str().map_err(|_| BadResume)?.to_owned(),
        None => query_parameter(uri.query(), LAST_EVENT_ID_PARAMETER).unwrap_or_default(),
    };
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    value.parse().map(Some).map_err(|_| BadResume)
}

/// The last event of a stream cut off at `id`.
fn lagged_frame(id: u64) -> Bytes {
    let message = format!(
        "this stream fell too far behind and is closed; events from id {id} on were not \
         sent: resume from id {id}"
    );
    let data = serde_json::json!({
        "type": "lagged",
        "resumeFrom": id,
        "message": message,
    });
    frame("lagged", &data)
}

/// The notice a stream starts with when events after the id it resumes from are no
/// longer retained: how many ids were skipped (if known) and the first id it gets.
fn missed_frame(count: Option<u64>, resume_from: EventId) -> Bytes {
    let message = match count {
        Some(n) => format!(
            "{n} events after the id resumed from are no longer retained; the stream \
             goes on from id {resume_from}"
        ),
        None => format!(
            "the id resumed from is not in this server's event log (it was started \
             anew); the stream goes on from id {resume_from}"
        ),
    };
    let data = serde_json::json!({
        "type": "missed",
        "count": count,
        "resumeFrom": resume_from,
        "message": message,
    });
    frame("missed", &data)
}

/// Most bytes of events sent in one write.
const MAX_CHUNK: usize = 64 << 10;

/// `first`, followed by the frames of the items already waiting in `items` (up to
/// [`MAX_CHUNK`] bytes): events that queued while the stream was busy go out in one
/// write, not one each. Waits for nothing, so no event is held back.
fn with_queued(first: Bytes, items: &mut (impl Stream<Item = Item> + Unpin)) -> Bytes {
    let mut chunk: Option<Vec<u8>> = None;
    while chunk.as_ref().map_or(first.len(), Vec::len) < MAX_CHUNK {
        let Some(Some(item)) = items.next().now_or_never() else {
            break;
        };
        let chunk = chunk.get_or_insert_with(|| first.to_vec());
        chunk.extend_from_slice(&item_frame(&item));
    }
    chunk.map_or(first, Bytes::from)
}

/// The SSE bytes of a log item.
fn item_frame(item: &Item) -> Bytes {
    match item {
        Item::Event(entry) => event_frame(entry),
        Item::Missed { count, resume_from } => missed_frame(*count, *resume_from),
        Item::CutOff { resume_from } => {
            tracing::warn!(
                resume_from,
                "an event subscriber fell behind; its stream is closed"
            );
            lagged_frame(*resume_from)
        }
    }
}

/// An event's frame: `id: <id>`, `event: <name>`, `data: <json>`, blank line.
fn event_frame(entry: &Entry) -> Bytes {
    let record = &entry.record;
    let mut out = Vec::with_capacity(record.size());
    out.extend_from_slice(b"id: ");
    out.extend_from_slice(entry.id.to_string().as_bytes());
    out.extend_from_slice(b"\nevent: ");
    out.extend_from_slice(record.name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(&record.data);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// One SSE frame of a notice: `event: <name>`, `data: <json>`, blank line. No `id:`:
/// a client's last id stays the last event it got (what `Last-Event-ID` carries on
/// reconnection).
fn frame(name: &str, data: &serde_json::Value) -> Bytes {
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_from_the_header_or_the_parameter() {
        let uri = |q: &str| format!("/v1/events{q}").parse::<Uri>().unwrap();
        let header = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert("last-event-id", header::HeaderValue::from_static(v));
            h
        };
        let none = HeaderMap::new();
        assert_eq!(resume_from(&uri(""), &none), Ok(None));
        assert_eq!(resume_from(&uri(""), &header("42")), Ok(Some(42)));
        assert_eq!(resume_from(&uri("?lastEventId=7"), &none), Ok(Some(7)));
        // The header wins; an empty one means no event yet.
        assert_eq!(
            resume_from(&uri("?lastEventId=7"), &header("9")),
            Ok(Some(9))
        );
        assert_eq!(resume_from(&uri(""), &header("")), Ok(None));
        assert_eq!(resume_from(&uri(""), &header("x1")), Err(BadResume));
        assert_eq!(resume_from(&uri("?lastEventId=-1"), &none), Err(BadResume));
    }

    fn entry(id: u64) -> Arc<Entry> {
        Arc::new(Entry {
            id,
            record: super::super::event_log::Record {
                call_id: Arc::from("c"),
                name: "dtmf".into(),
                data: format!("{{\"n\":{id}}}").into(),
            },
        })
    }

    /// The frames of events `ids`, one after the other.
    fn frames(ids: std::ops::RangeInclusive<u64>) -> Vec<u8> {
        ids.flat_map(|id| event_frame(&entry(id))).collect()
    }

    #[test]
    fn events_already_queued_go_out_with_the_first_and_nothing_waits() {
        let first = || event_frame(&entry(1));
        // Three queued behind the first: one chunk of the four frames, in order.
        let mut queued = futures_util::stream::iter((2..=4).map(|id| Item::Event(entry(id))));
        assert_eq!(with_queued(first(), &mut queued), frames(1..=4));
        // Nothing ready: the first alone, at once (a pending stream is not waited for).
        let mut pending = futures_util::stream::pending::<Item>();
        assert_eq!(with_queued(first(), &mut pending), frames(1..=1));
        // A cut-off in the queue ends the chunk with its notice.
        let cut_off = Item::CutOff { resume_from: 3 };
        let mut cut = futures_util::stream::iter([Item::Event(entry(2)), cut_off]);
        let expected = [frames(1..=2), lagged_frame(3).to_vec()].concat();
        assert_eq!(with_queued(first(), &mut cut), expected);
    }

    #[test]
    fn access_token_parameter() {
        assert_eq!(
            access_token(Some("a=1&access_token=t%2Bx")).as_deref(),
            Some("t+x")
        );
        assert_eq!(access_token(Some("a=1")), None);
        assert_eq!(access_token(None), None);
    }
}
