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
//! Memory is bounded in bytes: one task serialises each event once ([`forward`]) into a
//! shared frame, with an `id:` that counts the server's events (gaps on a one-call
//! stream are other calls' events), and hands it to every subscriber that wants it. A
//! subscriber holds at most
//! [`Config::event_subscriber_bytes`](super::Config::event_subscriber_bytes) (and
//! [`Config::event_buffer`](super::Config::event_buffer) events) not yet written. One
//! that falls further behind is cut off rather than left to lose events silently: it
//! gets what was queued, then a last event `lagged` naming the first id it did not get
//! (`resumeFrom`), and the stream ends.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Path as UrlPath, State as AxumState};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{Notify, broadcast};

use super::api::{SignatureRefusal, check_signature};
use super::replay::ReplayError;
use super::stream_auth::bearer_header;
use super::{Config, Metrics, State, shutting_down};
use tonegate_core::api::CloudEvent;
use tonegate_core::auth::bearer::{constant_time_eq, digest};
use tonegate_core::auth::call_token::{self, Scope, TokenError};
use tonegate_core::auth::unix_seconds;
use tonegate_core::session::Event;

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
    let Some(subscription) = state.event_hub.subscribe(call_id.map(Arc::from)) else {
        tracing::warn!("refusing event stream: max_event_subscribers reached");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many event subscribers",
        )
            .into_response();
    };
    let closed = state.closed.subscribe();
    let stream = futures_util::stream::unfold(
        (subscription, closed),
        |(mut subscription, mut closed)| async move {
            let chunk = tokio::select! {
                chunk = subscription.next() => chunk?,
                _ = shutting_down(&mut closed) => return None,
            };
            Some((Ok::<_, Infallible>(chunk), (subscription, closed)))
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
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query?).ok()?;
    pairs
        .into_iter()
        .find_map(|(name, value)| (name == "access_token").then_some(value))
}

/// Hands every serialised event to the subscribers that want it.
pub(crate) struct Hub {
    subscribers: Mutex<HashMap<u64, Arc<Subscriber>>>,
    next_id: AtomicU64,
    max_subscribers: usize,
    max_bytes: usize,
    max_events: usize,
    metrics: Metrics,
}

/// One stream's queue.
struct Subscriber {
    /// The call it wants; `None`: every call.
    call_id: Option<Arc<str>>,
    queue: Mutex<Queue>,
    wake: Notify,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Bytes>,
    /// Bytes of the frames in `items`.
    bytes: usize,
    /// Set when the subscriber fell behind: the id of the first event it did not get.
    /// Nothing is queued after that; the stream ends once `items` are written.
    cut_at: Option<u64>,
}

impl Hub {
    /// An empty hub with `config`'s limits, counting in `metrics`.
    pub(crate) fn new(config: &Config, metrics: Metrics) -> Hub {
        Hub {
            subscribers: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            max_subscribers: config.max_event_subscribers,
            max_bytes: config.event_subscriber_bytes,
            max_events: config.event_buffer.max(1),
            metrics,
        }
    }

    /// A new subscriber to `call_id`'s events (every call's with `None`); `None` when
    /// [`Config::max_event_subscribers`] are subscribed.
    fn subscribe(self: &Arc<Self>, call_id: Option<Arc<str>>) -> Option<Subscription> {
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        if subscribers.len() >= self.max_subscribers {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let subscriber = Arc::new(Subscriber {
            call_id,
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
        });
        subscribers.insert(id, subscriber.clone());
        self.metrics.sse_subscribers.set(subscribers.len() as i64);
        Some(Subscription {
            hub: self.clone(),
            id,
            subscriber,
            ended: false,
        })
    }

    /// Whether any subscriber wants events of `call_id`.
    fn wants(&self, call_id: &str) -> bool {
        let subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        subscribers
            .values()
            .any(|s| s.call_id.as_deref().is_none_or(|c| c == call_id))
    }

    /// Queues `frame` (event `id`) of `call_id` for every subscriber that wants it; one
    /// without room is cut off at `id`.
    fn publish(&self, call_id: &str, id: u64, frame: Bytes) {
        let subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        for s in subscribers.values() {
            if s.call_id.as_deref().is_some_and(|c| c != call_id) {
                continue;
            }
            let mut queue = s.queue.lock().unwrap_or_else(|e| e.into_inner());
            if queue.cut_at.is_some() {
                continue;
            }
            if queue.items.len() < self.max_events && queue.bytes + frame.len() <= self.max_bytes {
                queue.bytes += frame.len();
                queue.items.push_back(frame.clone());
                self.metrics.sse_buffered_bytes.add(frame.len() as i64);
            } else {
                queue.cut_at = Some(id);
                self.metrics.sse_missed_events.inc();
                self.metrics.sse_cut_off.inc();
            }
            drop(queue);
            s.wake.notify_one();
        }
    }

    /// Cuts off every subscriber at `id` after `n` events were lost before they had an id
    /// (the forwarder itself fell behind the sessions).
    fn cut_all(&self, id: u64, n: u64) {
        let subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        for s in subscribers.values() {
            let mut queue = s.queue.lock().unwrap_or_else(|e| e.into_inner());
            if queue.cut_at.is_none() {
                queue.cut_at = Some(id);
                self.metrics.sse_missed_events.inc_by(n);
                self.metrics.sse_cut_off.inc();
            }
            drop(queue);
            s.wake.notify_one();
        }
    }
}

/// A subscriber's end; unsubscribes (and releases what it buffered) on drop.
struct Subscription {
    hub: Arc<Hub>,
    id: u64,
    subscriber: Arc<Subscriber>,
    /// The last event (`lagged`) was written.
    ended: bool,
}

/// What a subscription has to write next.
enum Next {
    /// A queued event.
    Frame(Bytes),
    /// The subscriber fell behind: the last event, naming the first id it did not get.
    Cut(u64),
    /// Nothing yet.
    Wait,
}

impl Subscription {
    /// The next bytes to write: a frame, (after [`KEEP_ALIVE`] with nothing) a
    /// keep-alive comment, or, once cut off, the last event; then `None`.
    async fn next(&mut self) -> Option<Bytes> {
        if self.ended {
            return None;
        }
        loop {
            match self.pop() {
                Next::Frame(frame) => return Some(frame),
                Next::Cut(id) => {
                    self.ended = true;
                    tracing::warn!(
                        resume_from = id,
                        "an event subscriber fell behind; its stream is closed"
                    );
                    return Some(lagged_frame(id));
                }
                Next::Wait => {}
            }
            tokio::select! {
                _ = self.subscriber.wake.notified() => {}
                _ = tokio::time::sleep(KEEP_ALIVE) => return Some(Bytes::from_static(b":\n\n")),
            }
        }
    }

    fn pop(&self) -> Next {
        let mut queue = self
            .subscriber
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match queue.items.pop_front() {
            Some(frame) => {
                queue.bytes -= frame.len();
                self.hub.metrics.sse_buffered_bytes.sub(frame.len() as i64);
                Next::Frame(frame)
            }
            None => queue.cut_at.map_or(Next::Wait, Next::Cut),
        }
    }
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
    // No `id:`: a client's last id stays the last event it got (what `Last-Event-ID`
    // carries on reconnection), one before `resumeFrom`.
    frame(None, "lagged", &data)
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut subscribers = self
            .hub
            .subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        subscribers.remove(&self.id);
        self.hub
            .metrics
            .sse_subscribers
            .set(subscribers.len() as i64);
        drop(subscribers);
        let queue = self
            .subscriber
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.hub.metrics.sse_buffered_bytes.sub(queue.bytes as i64);
    }
}

/// Serialises each session event and CloudEvent once, as an SSE frame, for the
/// subscribers that want it. Ends when the server's event channels close.
pub(crate) async fn forward(
    hub: Arc<Hub>,
    mut events: broadcast::Receiver<Arc<Event>>,
    mut cloud: broadcast::Receiver<Arc<CloudEvent>>,
) {
    // The id of the next event published.
    let mut next_id: u64 = 1;
    loop {
        let id = next_id;
        let received = tokio::select! {
            biased;
            r = events.recv() => r.map(|e| {
                hub.wants(&e.call_id)
                    .then(|| (e.call_id.to_string(), frame(Some(id), e.kind.name(), &*e)))
            }),
            r = cloud.recv() => r.map(|e| {
                hub.wants(&e.data.call_connection_id)
                    .then(|| (e.data.call_connection_id.clone(), frame(Some(id), &e.kind, &*e)))
            }),
        };
        match received {
            Ok(Some((call_id, frame))) => {
                hub.publish(&call_id, id, frame);
                next_id += 1;
            }
            Ok(None) => {}
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "event streams fell behind; subscribers are cut off"
                );
                hub.cut_all(id, n);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// One SSE frame: `id: <id>` (if any), `event: <name>`, `data: <json>`, blank line.
fn frame(id: Option<u64>, name: &str, event: &impl serde::Serialize) -> Bytes {
    let mut out = Vec::with_capacity(96);
    if let Some(id) = id {
        out.extend_from_slice(b"id: ");
        out.extend_from_slice(id.to_string().as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Serialising these types cannot fail (string keys, no non-finite floats).
    if serde_json::to_writer(&mut out, event).is_err() {
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
