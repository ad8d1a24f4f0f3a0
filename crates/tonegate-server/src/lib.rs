//! The tokio shell: the only code here that does IO or reads the clock.
//!
//! One port serves:
//! - `GET /media/acs`, `/media/twilio`, `/media/raw`: audio WebSockets of each dialect;
//!   `GET /media` detects the dialect from the first frame;
//! - `POST /calling/callConnections/{callConnectionId}:{op}` and
//!   `GET /calling/callConnections/{callConnectionId}`: the Call Automation
//!   media-operation API (HMAC-SHA256 with [`Config::access_key`]; see `api.rs`), whose
//!   results are CloudEvents POSTed to callback URIs ([`webhook`]) and sent on the SSE
//!   streams;
//! - `GET /healthz`: `ok`;
//! - `GET /metrics`: Prometheus text;
//! - `GET /v1/calls/{callId}/events` and `GET /v1/events`: server-sent events (every
//!   session event as JSON; the SSE event name is the event's `type`), with credentials
//!   once any are configured (see `events.rs`).
//!
//! [`Server::bind`] then [`Server::run`]; [`Handle::shutdown`] (or SIGINT/SIGTERM via
//! [`run_until_signal`]) stops accepting, flushes every session's pending events and
//! closes the sockets with 1001.
//!
//! Audio socket upgrades are authenticated per [`Config::stream_auth`] (the ACS bearer
//! JWT, a static token or a call token, or nothing; see `stream_auth.rs`) and, with
//! [`Config::twilio_auth_token`], Twilio's `X-Twilio-Signature` (see
//! `twilio_signature.rs` and `authenticate`): a refused upgrade gets 401. A call id
//! belongs to the first socket that streams it (and, with a call token, only to the
//! token's call). [`Server::bind`] refuses a non-loopback listener without credentials
//! unless [`Config::insecure_allow_unauthenticated`].
//!
//! With [`Config::tls_cert`] and [`Config::tls_key`] the same port speaks only TLS
//! (HTTPS and WSS, rustls with the *ring* provider; see `tls.rs`): same routes, limits
//! and shutdown.

pub mod api;
pub mod auth;
mod budget;
mod callback_policy;
mod config;
mod events;
mod listener;
mod log_text;
mod metrics;
mod prompts;
mod replay;
mod socket;
pub mod stream_auth;
mod tls;
mod twilio_signature;
pub mod webhook;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{OriginalUri, Path as UrlPath, State as AxumState, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use config::{Config, LogFormat};
pub use metrics::Metrics;

use tonegate_core::proto::Dialect;
use tonegate_core::proto::stream_params::StreamParams;
use tonegate_core::session::{self, Command, Event};
use tonegate_dsp::SampleRate;

/// Audio sockets' read and write buffers, bytes: room for several 20 ms frames (1-2 KiB
/// each); a larger message grows the read buffer to its size, up to
/// [`Config::max_frame_bytes`].
const WS_BUFFER_BYTES: usize = 8 << 10;

/// Why a command could not be delivered to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No socket is streaming this call.
    #[error("no such call")]
    NoSuchCall,
    /// The call's socket is closing.
    #[error("call is closing")]
    Closed,
}

/// A message for a session's socket task.
#[derive(Debug)]
pub(crate) enum Control {
    /// A command from the registry (the media-operation API).
    Command(Command),
    /// A command whose outcome the sender waits for ([`Registry::request`]).
    Request(Command, oneshot::Sender<Result<(), session::Error>>),
    /// A raw client's prompt finished loading.
    Loaded(Command),
    /// A raw client's prompt (request `id`) could not be loaded.
    LoadFailed {
        id: String,
        failure: prompts::Failure,
    },
}

struct Entry {
    id: u64,
    dialect: Dialect,
    control: mpsc::Sender<Control>,
    info: Arc<CallInfo>,
}

/// What the media-operation API knows of a live call.
pub(crate) struct CallInfo {
    dialect: Dialect,
    call_id: Arc<str>,
    stream_id: Option<String>,
    /// `serverCallId` from the socket URL, if the app gave it.
    server_call_id: Option<String>,
    encoding: &'static str,
    rate: SampleRate,
    correlation_id: Option<String>,
    callback_uri: Option<String>,
    /// Participants whose audio has been seen (raw ids / track names).
    participants: Mutex<Vec<Arc<str>>>,
}

/// The live calls, by call id. The media-operation API looks sessions up here.
#[derive(Default)]
pub struct Registry {
    calls: Mutex<HashMap<Arc<str>, Entry>>,
}

impl Registry {
    /// Ids of the calls streaming now.
    pub fn calls(&self) -> Vec<String> {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.keys().map(|k| k.to_string()).collect()
    }

    /// The dialect a call streams in.
    pub fn dialect(&self, call_id: &str) -> Option<Dialect> {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.get(call_id).map(|e| e.dialect)
    }

    fn info(&self, call_id: &str) -> Option<Arc<CallInfo>> {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.get(call_id).map(|e| e.info.clone())
    }

    /// The channel into a call's session.
    fn control(&self, call_id: &str) -> Result<mpsc::Sender<Control>, RegistryError> {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls
            .get(call_id)
            .map(|e| e.control.clone())
            .ok_or(RegistryError::NoSuchCall)
    }

    /// Hands a command to a call's session; results come back as its events.
    pub async fn send(&self, call_id: &str, command: Command) -> Result<(), RegistryError> {
        self.control(call_id)?
            .send(Control::Command(command))
            .await
            .map_err(|_| RegistryError::Closed)
    }

    /// Hands a command to a call's session and waits until the session has taken it:
    /// `Ok(Err(_))` is the session's refusal (e.g. [`session::Error::Conflict`], which
    /// the API answers with 412/8583); results after that come back as events.
    pub async fn request(
        &self,
        call_id: &str,
        command: Command,
    ) -> Result<Result<(), session::Error>, RegistryError> {
        let sender = self.control(call_id)?;
        let (tx, rx) = oneshot::channel();
        sender
            .send(Control::Request(command, tx))
            .await
            .map_err(|_| RegistryError::Closed)?;
        rx.await.map_err(|_| RegistryError::Closed)
    }

    fn insert(&self, call_id: Arc<str>, entry: Entry) -> bool {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        if calls.contains_key(&call_id) {
            return false;
        }
        calls.insert(call_id, entry);
        true
    }

    fn remove(&self, call_id: &str, id: u64) {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        if calls.get(call_id).is_some_and(|e| e.id == id) {
            calls.remove(call_id);
        }
    }
}

pub(crate) struct State {
    config: Config,
    session_config: session::Config,
    metrics: Metrics,
    registry: Registry,
    events: broadcast::Sender<Arc<Event>>,
    shutdown: watch::Receiver<bool>,
    /// Set once every session has closed during shutdown; ends the SSE streams.
    closed: watch::Sender<bool>,
    active: AtomicUsize,
    next_socket: AtomicUsize,
    epoch: tokio::time::Instant,
    prompts: prompts::Prompts,
    /// Wall-clock time at `epoch`.
    wall_epoch: std::time::SystemTime,
    api: api::Api,
    /// Checks audio socket upgrades' bearer tokens.
    stream_auth: stream_auth::Verifier,
    /// Checks Twilio's signature, with [`Config::twilio_auth_token`].
    twilio_signature: Option<twilio_signature::Verifier>,
    webhook: webhook::Webhook,
    /// CloudEvents of the media-operation API, for the SSE streams.
    cloud_events: broadcast::Sender<Arc<tonegate_core::api::CloudEvent>>,
    /// The SSE subscribers' queues.
    event_hub: Arc<events::Hub>,
    /// [`Config::event_token`].
    event_token: events::EventToken,
    /// Signatures of signed requests already used.
    replay: replay::ReplayCache,
    /// Every audio socket must authenticate, also where `stream_auth` is `none` (a
    /// non-loopback listener relying on Twilio signatures).
    require_audio_auth: bool,
}

impl State {
    /// The one place the server reads the clock: time since the server started.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(self.epoch)
    }

    /// Wall-clock time, derived from [`State::now`] (so tests' paused clocks apply).
    fn wall_now(&self) -> std::time::SystemTime {
        self.wall_epoch + self.now()
    }

    fn instant(&self, at: Duration) -> tokio::time::Instant {
        self.epoch + at
    }
}

/// A running server's controls.
#[derive(Clone)]
pub struct Handle {
    state: Arc<State>,
    shutdown: Arc<watch::Sender<bool>>,
}

impl Handle {
    /// Starts graceful shutdown.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// The call registry.
    pub fn registry(&self) -> &Registry {
        &self.state.registry
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.state.metrics
    }

    /// Every event of every call, from now on.
    pub fn events(&self) -> broadcast::Receiver<Arc<Event>> {
        self.state.events.subscribe()
    }

    /// Every CloudEvent of the media-operation API, from now on.
    pub fn cloud_events(&self) -> broadcast::Receiver<Arc<tonegate_core::api::CloudEvent>> {
        self.state.cloud_events.subscribe()
    }

    /// Open audio sockets.
    pub fn active_sessions(&self) -> usize {
        self.state.active.load(Ordering::SeqCst)
    }
}

/// A bound, not yet running server.
pub struct Server {
    listener: tokio::net::TcpListener,
    /// TLS settings when serving HTTPS/WSS.
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    handle: Handle,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Binding or serving failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A setting is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The TLS certificate or key file cannot be used.
    #[error("TLS {what} {}: {reason}", path.display())]
    TlsFile {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it (one line).
        reason: String,
    },
}

impl Server {
    /// Validates `config` and binds its listen address.
    pub async fn bind(config: Config) -> Result<Server, Error> {
        if config.max_frame_bytes == 0 || config.max_sessions == 0 {
            return Err(Error::Config(
                "max_frame_bytes and max_sessions must be at least 1".to_owned(),
            ));
        }
        config.check_connection_limits().map_err(Error::Config)?;
        let session_config = config.session().map_err(Error::Config)?;
        tonegate_dsp::dsp::dtmf::Detector::new(session_config.dtmf.clone())
            .map_err(|e| Error::Config(e.to_string()))?;
        let tls = match (&config.tls_cert, &config.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                if config.tls_handshake_timeout_ms == 0 || config.max_tls_handshakes == 0 {
                    return Err(Error::Config(
                        "tls_handshake_timeout_ms and max_tls_handshakes must be at least 1"
                            .to_owned(),
                    ));
                }
                Some(tls::load(cert, key)?)
            }
            (Some(_), None) => {
                return Err(Error::Config(
                    "tls_cert is set but tls_key is not; TLS needs both".to_owned(),
                ));
            }
            (None, Some(_)) => {
                return Err(Error::Config(
                    "tls_key is set but tls_cert is not; TLS needs both".to_owned(),
                ));
            }
        };
        // After the TLS files, so a bad certificate is the only thing start-up reports.
        let api = api::Api::new(&config).map_err(Error::Config)?;
        let stream_auth = stream_auth::Verifier::new(&config, api.key()).map_err(Error::Config)?;
        let event_token = events::EventToken::new(&config).map_err(Error::Config)?;
        let require_audio_auth = check_exposure(&config)?;
        if config.max_event_subscribers == 0
            || config.event_subscriber_bytes == 0
            || config.replay_cache_entries == 0
        {
            return Err(Error::Config(
                "max_event_subscribers, event_subscriber_bytes and replay_cache_entries must be at least 1"
                    .to_owned(),
            ));
        }
        let twilio_signature =
            twilio_signature::Verifier::new(&config, tls.is_some()).map_err(Error::Config)?;
        let metrics = Metrics::new();
        let webhook = webhook::Webhook::new(&config, &metrics).map_err(Error::Config)?;
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let (events, _) = broadcast::channel(config.event_buffer.max(16));
        let (cloud_events, _) = broadcast::channel(config.event_buffer.max(16));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let event_hub = Arc::new(events::Hub::new(&config, metrics.clone()));
        tokio::spawn(events::forward(
            event_hub.clone(),
            events.subscribe(),
            cloud_events.subscribe(),
        ));
        let state = Arc::new(State {
            session_config,
            metrics,
            registry: Registry::default(),
            events,
            shutdown: shutdown_rx,
            closed: watch::channel(false).0,
            active: AtomicUsize::new(0),
            next_socket: AtomicUsize::new(1),
            #[allow(clippy::disallowed_methods)]
            epoch: tokio::time::Instant::now(),
            prompts: prompts::Prompts::new(&config),
            #[allow(clippy::disallowed_methods)]
            wall_epoch: std::time::SystemTime::now(),
            api,
            stream_auth,
            twilio_signature,
            webhook,
            cloud_events,
            event_hub,
            event_token,
            replay: replay::ReplayCache::new(config.replay_cache_entries),
            require_audio_auth,
            config,
        });
        Ok(Server {
            listener,
            tls,
            handle: Handle {
                state,
                shutdown: Arc::new(shutdown_tx),
            },
        })
    }

    /// The address bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether the port speaks TLS (HTTPS and WSS) rather than plain HTTP and WS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Controls for the running server.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Serves until [`Handle::shutdown`], then waits (up to the grace period) for every
    /// session to flush and close.
    pub async fn run(self) -> Result<(), Error> {
        let state = self.handle.state.clone();
        let app = router(state.clone());
        let mut shutdown = state.shutdown.clone();
        let listener = listener::Listener::new(self.listener, self.tls, state.clone());
        let serve = tokio::spawn(listener.run(app));
        shutting_down(&mut shutdown).await;
        // Sessions flush their events and close; then the SSE streams end.
        let grace = state.now() + Duration::from_millis(state.config.shutdown_grace_ms);
        while state.active.load(Ordering::SeqCst) > 0 && state.now() < grace {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = state.closed.send(true);
        serve.await.map_err(|e| Error::Io(std::io::Error::other(e)))
    }
}

/// Events are small writes that must not wait for Nagle's algorithm.
fn set_nodelay(tcp: &tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!("cannot set TCP_NODELAY: {e}");
    }
}

/// Binds, serves, and shuts down gracefully on SIGINT or SIGTERM.
pub async fn run_until_signal(config: Config) -> Result<(), Error> {
    let server = Server::bind(config).await?;
    let scheme = if server.is_tls() { "https" } else { "http" };
    tracing::info!(addr = %server.local_addr()?, scheme, "tonegate listening");
    let handle = server.handle();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        handle.shutdown();
    });
    server.run().await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Resolves once shutdown has been asked for.
async fn shutting_down(receiver: &mut watch::Receiver<bool>) {
    let _ = receiver.wait_for(|s| *s).await;
}

fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/media", get(media_auto))
        .route("/media/{dialect}", get(media_dialect))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/calling/callConnections/{segment}",
            post(api::operation).get(api::properties),
        )
        .route("/metrics", get(metrics_text))
        .route("/v1/events", get(events::all))
        .route("/v1/calls/{call_id}/events", get(events::call))
        .with_state(state)
}

async fn metrics_text(AxumState(state): AxumState<Arc<State>>) -> Response {
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn media_auto(
    AxumState(state): AxumState<Arc<State>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    accept(state, None, uri, headers, upgrade).await
}

async fn media_dialect(
    AxumState(state): AxumState<Arc<State>>,
    UrlPath(dialect): UrlPath<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    match dialect.parse::<Dialect>() {
        Ok(d) => accept(state, Some(d), uri, headers, upgrade).await,
        Err(()) => (StatusCode::NOT_FOUND, "unknown dialect").into_response(),
    }
}

/// Authenticates an audio socket upgrade to `uri` (`dialect` from its path); returns
/// the call the credential is limited to, if it is (a call token). Without
/// [`Config::twilio_auth_token`], only [`Config::stream_auth`] applies. With it,
/// `/media/twilio` needs a valid `X-Twilio-Signature` and no bearer token; on the other
/// paths the bearer check applies and, if the header is present, the signature must
/// verify as well. `Ok(true)` when a credential was checked (a bearer token or a Twilio
/// signature), `Ok(false)` when none was asked for (`stream_auth = none`).
/// Where every socket must authenticate but `stream_auth` is `none`
/// (a non-loopback listener relying on Twilio signatures), the other paths need a
/// valid signature too.
async fn authenticate(
    state: &State,
    dialect: Option<Dialect>,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Credentials, stream_auth::Refusal> {
    let twilio_path = dialect == Some(Dialect::Twilio);
    let mut signed = false;
    if let Some(twilio) = &state.twilio_signature {
        let signature = headers.get(twilio_signature::HEADER);
        if twilio_path || signature.is_some() {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .or(uri.authority().map(|a| a.as_str()));
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            twilio.check(signature, host, path)?;
            signed = true;
        }
        if twilio_path {
            return Ok(Credentials {
                authenticated: true,
                bound_call: None,
            });
        }
    }
    if state.require_audio_auth && state.config.stream_auth == stream_auth::Mode::None && !signed {
        return Err(stream_auth::Refusal::TwilioMissing);
    }
    let authorization = headers.get(axum::http::header::AUTHORIZATION);
    let client = state.webhook.client();
    let bound_call = state
        .stream_auth
        .check(authorization, client, state.now(), state.wall_now())
        .await?;
    Ok(Credentials {
        authenticated: signed || state.config.stream_auth != stream_auth::Mode::None,
        bound_call,
    })
}

/// What an audio socket's upgrade credentials established.
struct Credentials {
    /// A credential was checked (a bearer token or a Twilio signature); `false` when
    /// none was asked for (`stream_auth = none`).
    authenticated: bool,
    /// The call a call-scoped token limits the socket to.
    bound_call: Option<String>,
}

/// Checks a callback URI an audio socket named against [`Config::callback_allow`]
/// (`authenticated`: whether the socket's upgrade was); a refusal is logged and counted.
/// Returns the URI normalised.
fn socket_callback(
    state: &State,
    uri: &str,
    authenticated: bool,
) -> Result<String, callback_policy::Refusal> {
    match state.webhook.policy().check(uri, authenticated) {
        Ok(url) => Ok(url.into()),
        Err(refusal) => {
            state
                .metrics
                .callback_refused
                .with_label_values(&[refusal.code()])
                .inc();
            tracing::warn!(
                reason = refusal.code(),
                "refusing a socket's callbackUri: {refusal}"
            );
            Err(refusal)
        }
    }
}

/// Refuses to serve a listener other hosts can reach without credentials for the audio
/// sockets and the event streams, unless [`Config::insecure_allow_unauthenticated`].
/// Returns whether every audio socket must authenticate.
fn check_exposure(config: &Config) -> Result<bool, Error> {
    if config.listen.ip().is_loopback() {
        return Ok(false);
    }
    let audio = config.stream_auth != stream_auth::Mode::None || config.twilio_auth_token.is_some();
    let events = config.access_key.is_some() || config.event_token.is_some();
    if audio && events {
        return Ok(true);
    }
    if config.insecure_allow_unauthenticated {
        tracing::warn!(
            listen = %config.listen,
            "INSECURE: serving without authentication on a non-loopback address \
             (insecure_allow_unauthenticated = true): anyone who reaches this port can \
             stream as any call and read every caller's digits"
        );
        return Ok(false);
    }
    let mut missing = Vec::new();
    if !audio {
        missing.push("for the audio sockets set stream_auth = \"jwt\" or \"token\" (with its settings) or twilio_auth_token");
    }
    if !events {
        missing.push("for the event streams set access_key or event_token");
    }
    Err(Error::Config(format!(
        "listen = {} is not a loopback address, so authentication is required: {}; \
         or set insecure_allow_unauthenticated = true to serve without it",
        config.listen,
        missing.join("; ")
    )))
}

async fn accept(
    state: Arc<State>,
    dialect: Option<Dialect>,
    uri: Uri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if *state.shutdown.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let credentials = match authenticate(&state, dialect, &uri, &headers).await {
        Ok(credentials) => credentials,
        Err(refusal) => return refused(&state, refusal),
    };
    let (authenticated, bound_call) = (credentials.authenticated, credentials.bound_call);
    let call_id = id_header(&headers, "x-ms-call-connection-id");
    if let (Some(bound), Some(header)) = (&bound_call, &call_id)
        && bound != header
    {
        return refused(&state, stream_auth::Refusal::OtherCall);
    }
    if call_id
        .as_deref()
        .is_some_and(|id| state.registry.dialect(id).is_some())
    {
        state
            .metrics
            .errors
            .with_label_values(&["duplicateCallId"])
            .inc();
        tracing::warn!("refusing audio socket: its call is already streaming");
        return (StatusCode::CONFLICT, "this call is already streaming").into_response();
    }
    let mut params = match StreamParams::parse(uri.query()) {
        Ok(p) => p,
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    if let Some(named) = params.callback_uri.take() {
        match socket_callback(&state, &named, authenticated) {
            Ok(checked) => params.callback_uri = Some(checked),
            Err(refusal) => return (StatusCode::BAD_REQUEST, refusal.to_string()).into_response(),
        }
    }
    // Reserve a slot before the upgrade so the cap is exact.
    let reserved = state
        .active
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < state.config.max_sessions).then_some(n + 1)
        });
    if reserved.is_err() {
        state.metrics.sessions_rejected.inc();
        tracing::warn!("refusing audio socket: max_sessions reached");
        return (StatusCode::SERVICE_UNAVAILABLE, "too many sessions").into_response();
    }
    state.metrics.sessions.inc();
    let slot = Slot(state.clone());
    let correlation_id = id_header(&headers, "x-ms-call-correlation-id");
    // Larger messages are refused from their frame header, before the payload is read.
    upgrade
        .max_message_size(state.config.max_frame_bytes)
        .max_frame_size(state.config.max_frame_bytes)
        .read_buffer_size(WS_BUFFER_BYTES)
        .write_buffer_size(WS_BUFFER_BYTES)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            let ids = (call_id, correlation_id, bound_call.map(Arc::from));
            socket::run(state, socket, dialect, ids, params, authenticated).await;
        })
}

/// The 401 of an upgrade that did not authenticate (logged and counted).
fn refused(state: &State, refusal: stream_auth::Refusal) -> Response {
    state
        .metrics
        .stream_auth_failures
        .with_label_values(&[refusal.code()])
        .inc();
    tracing::info!(reason = %refusal, "refusing audio socket: not authenticated");
    let challenge = (axum::http::header::WWW_AUTHENTICATE, refusal.challenge());
    (StatusCode::UNAUTHORIZED, [challenge], refusal.to_string()).into_response()
}

/// An id header ACS sends on the upgrade (1 to 256 bytes of visible text), if present.
fn id_header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .map(str::to_owned)
}

/// An occupied session slot, released on drop (also if the upgrade fails).
struct Slot(Arc<State>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
        self.0.metrics.sessions.dec();
    }
}
