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
//!   once any are configured (see `events.rs`), read from one event log that numbers
//!   every event, so a client resumes with `Last-Event-ID` (see `event_log/`; on disk,
//!   with the webhook outbox, under [`Config::state_dir`]).
//! - `GET /monitor`: the live monitor page, and its data under `/v1/monitor/` (with the
//!   event streams' credentials; see `monitor/`), unless [`Config::monitor`] is off.
//!
//! [`Server::bind`] then [`Server::run`]; [`Handle::shutdown`] (or SIGINT/SIGTERM via
//! [`run_until_signal`]) stops accepting, flushes every session's pending events and
//! closes the sockets with 1001.
//!
//! Audio socket upgrades are authenticated per [`Config::stream_auth`] (the ACS bearer
//! JWT, a static token or a call token, or nothing; see `stream_auth.rs`) and, with
//! [`Config::twilio_auth_token`], Twilio's `X-Twilio-Signature` (see
//! `twilio_signature.rs` and `upgrade.rs`): a refused upgrade gets 401. A call id
//! belongs to the first socket that streams it (and, with a call token, only to the
//! token's call). [`Server::bind`] refuses a non-loopback listener without credentials
//! unless [`Config::insecure_allow_unauthenticated`].
//!
//! With [`Config::tls_cert`] and [`Config::tls_key`] the same port speaks only TLS
//! (HTTPS and WSS, rustls with the *ring* provider; see `tls.rs`): same routes, limits
//! and shutdown.

mod admission;
pub mod api;
pub mod asr;
pub mod auth;

mod callback_policy;
mod cluster;
mod config;
mod event_log;
mod events;
mod http;
mod listener;
mod log_text;
mod metrics;
mod monitor;
mod prompts;
mod registry;
mod replay;
mod runtime;
mod shutdown;
mod socket;
pub mod stream_auth;
mod tls;
mod transcription;
mod tts;
mod twilio_signature;
mod upgrade;
pub mod webhook;
mod webhook_retry;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State as AxumState;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{broadcast, watch};

pub use config::{Config, LogFormat, TtsEngine};
pub use metrics::Metrics;
pub use registry::{Registry, RegistryError};
pub use runtime::runtime;

use registry::CallInfo;
use shutdown::{shutting_down, wait_for_signal};
use tonegate_core::connection;
use tonegate_core::proto::stream_params::StreamParams;
use tonegate_core::session::Event;

pub(crate) struct State {
    config: Config,
    /// Every audio socket's settings (its session's among them).
    connection_config: Arc<connection::Config>,
    metrics: Metrics,
    registry: Registry,
    events: broadcast::Sender<Arc<Event>>,
    shutdown: watch::Receiver<bool>,
    /// Set once every session has closed during shutdown; ends the SSE streams.
    closed: watch::Sender<bool>,
    /// Open audio sockets (and upgrades under way), against [`Config::max_sessions`].
    active: AtomicUsize,
    /// Audio sockets open when shutdown was asked for (sessions may end before
    /// [`Server::run`] looks).
    open_at_shutdown: AtomicUsize,
    /// The session tasks shutdown waits for.
    sessions: shutdown::Sessions,
    next_socket: AtomicUsize,
    epoch: tokio::time::Instant,
    prompts: prompts::Prompts,
    /// The speech engine of text and SSML play sources.
    tts: tts::Tts,
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
    /// Every event of every call, in order, with ids: what the SSE streams read.
    event_log: event_log::EventLog,
    /// [`Config::event_token`].
    event_token: events::EventToken,
    /// Signatures of signed requests already used.
    replay: replay::ReplayCache,
    /// Every audio socket must authenticate, also where `stream_auth` is `none` (a
    /// non-loopback listener relying on Twilio signatures).
    require_audio_auth: bool,
    /// Whether measured load admits new audio sockets.
    admission: admission::Gate,
    /// This node's place in a cluster (`cluster_nats_url`), or a single node.
    cluster: cluster::Cluster,
    /// The speech recogniser, or why there is none (speech recognizes are refused
    /// with it).
    recognizer: Result<Arc<asr::Recognizer>, String>,
    /// The live calls' feature streams for the monitor.
    monitor: monitor::Taps,
    /// Where live transcripts go ([`Config::transcription_url`]), if anywhere.
    transcription: Option<Arc<transcription::Target>>,
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

    /// Where webhook deliveries are kept until settled: a cluster node's JetStream
    /// partition, else the event log's (with `state_dir`).
    fn outbox(&self) -> Option<&dyn event_log::Outbox> {
        self.cluster.outbox().or_else(|| self.event_log.outbox())
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
        if !*self.shutdown.borrow() {
            let open = self.state.active.load(Ordering::SeqCst);
            self.state.open_at_shutdown.store(open, Ordering::SeqCst);
        }
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

    /// In a cluster, stops taking audio sockets (`/healthz` answers 503, the node's
    /// record says `draining`) and waits up to `shutdown_grace_ms` for the calls to end
    /// on their own; on a single node, returns at once.
    pub async fn drain(&self) {
        if !self.state.cluster.is_clustered() {
            return;
        }
        self.state.cluster.drain().await;
        let grace = Duration::from_millis(self.state.config.shutdown_grace_ms);
        let _ = tokio::time::timeout(grace, async {
            while self.active_sessions() > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
    }
}

/// How a graceful shutdown went ([`Server::run`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Audio sockets open when shutdown began.
    pub sessions: usize,
    /// Of those, still open when `shutdown_grace_ms` ran out.
    pub abandoned: usize,
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
        let connection_config = config.connection().map_err(Error::Config)?;
        tonegate_dsp::dsp::dtmf::Detector::new(connection_config.session.dtmf.clone())
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
        let recognizer = asr::Recognizer::from_config(&config).map(Arc::new);
        if let Err(reason) = &recognizer {
            tracing::info!("speech recognition off: {reason}");
        }
        let transcription = transcription::Target::from_config(&config).map_err(Error::Config)?;
        let webhook = webhook::Webhook::new(&config, &metrics).map_err(Error::Config)?;
        let tts =
            tts::Tts::new(&config, webhook.client().clone(), &metrics).map_err(Error::Config)?;
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let cluster = cluster::Cluster::join(&config)
            .await
            .map_err(Error::Config)?;
        let (events, _) = broadcast::channel(config.event_buffer.max(16));
        let (cloud_events, _) = broadcast::channel(config.event_buffer.max(16));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let event_log = event_log::open(&config, &metrics, &cluster)
            .await
            .map_err(Error::Config)?;
        tokio::spawn(event_log::append_all(
            event_log.clone(),
            events.subscribe(),
            cloud_events.subscribe(),
        ));
        let state = Arc::new(State {
            connection_config: Arc::new(connection_config),
            metrics,
            registry: Registry::default(),
            events,
            shutdown: shutdown_rx,
            closed: watch::channel(false).0,
            active: AtomicUsize::new(0),
            open_at_shutdown: AtomicUsize::new(0),
            sessions: shutdown::Sessions::new(),
            next_socket: AtomicUsize::new(1),
            #[allow(clippy::disallowed_methods)]
            epoch: tokio::time::Instant::now(),
            prompts: prompts::Prompts::new(&config),
            tts,
            #[allow(clippy::disallowed_methods)]
            wall_epoch: std::time::SystemTime::now(),
            api,
            stream_auth,
            twilio_signature,
            webhook,
            cloud_events,
            event_log,
            event_token,
            replay: replay::ReplayCache::new(config.replay_cache_entries),
            require_audio_auth,
            admission: admission::Gate::default(),
            cluster,
            recognizer,
            monitor: monitor::Taps::new(&config),
            transcription,
            config,
        });
        webhook::resume_kept(&state);
        state.cluster.start_adopting(&state);
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
    pub async fn run(self) -> Result<Drained, Error> {
        let state = self.handle.state.clone();
        let app = router(state.clone());
        let mut shutdown = state.shutdown.clone();
        let listener = listener::Listener::new(self.listener, self.tls, state.clone());
        let serve = tokio::spawn(listener.run(app));
        let sampler = {
            let state = state.clone();
            let limits = admission::Limits::new(&state.config);
            tokio::spawn(async move {
                admission::sample(&state.admission, limits, &state.metrics, || state.now()).await
            })
        };
        shutting_down(&mut shutdown).await;
        let sessions = state.open_at_shutdown.load(Ordering::SeqCst);
        sampler.abort();
        // Sessions flush their events and close; then the SSE streams end. Webhooks get
        // what is left of the grace period.
        let grace = Duration::from_millis(state.config.shutdown_grace_ms);
        let deadline = state.now() + grace;
        state.sessions.wait_all(grace).await;
        let abandoned = state.active.load(Ordering::SeqCst);
        webhook::drain(&state, deadline).await;
        // The last events reach the cluster's event stream (at once without a cluster).
        let flush = deadline.saturating_sub(state.now());
        let flush = flush.max(Duration::from_millis(
            state.config.cluster_request_timeout_ms,
        ));
        state.event_log.flush(flush).await;
        let _ = state.closed.send(true);
        serve
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))?;
        state.cluster.leave().await;
        Ok(Drained {
            sessions,
            abandoned,
        })
    }
}

/// Events are small writes that must not wait for Nagle's algorithm.
fn set_nodelay(tcp: &tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!("cannot set TCP_NODELAY: {e}");
    }
}

/// Binds, serves, and shuts down gracefully on SIGINT or SIGTERM. Logs a start line
/// (version, address, scheme and `source`: where the settings came from) and, once
/// stopped, a line with the signal and how many sessions were drained.
pub async fn run_until_signal(config: Config, source: &str) -> Result<(), Error> {
    let server = Server::bind(config).await?;
    let scheme = if server.is_tls() { "https" } else { "http" };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        addr = %server.local_addr()?,
        scheme,
        config = source,
        "tonegate listening"
    );
    let handle = server.handle();
    let signal = tokio::spawn(async move {
        let reason = wait_for_signal().await;
        tracing::info!(reason, sessions = handle.active_sessions(), "shutting down");
        handle.drain().await;
        handle.shutdown();
        reason
    });
    let drained = server.run().await?;
    let reason = signal.await.unwrap_or("unknown");
    tracing::info!(
        reason,
        sessions = drained.sessions,
        drained = drained.sessions.saturating_sub(drained.abandoned),
        abandoned = drained.abandoned,
        "tonegate stopped"
    );
    Ok(())
}

fn router(state: Arc<State>) -> Router {
    let monitor = if state.config.monitor {
        monitor::router()
    } else {
        Router::new()
    };
    Router::new()
        .merge(monitor)
        .route("/media", get(upgrade::media_auto))
        .route("/media/{dialect}", get(upgrade::media_dialect))
        .route("/healthz", get(healthz))
        .route(
            "/calling/callConnections/{segment}",
            post(api::operation).get(api::properties),
        )
        .route("/metrics", get(metrics_text))
        .route("/v1/events", get(events::all))
        .route("/v1/calls/{call_id}/events", get(events::call))
        .with_state(state)
}

/// `ok`; 503 `draining` once a cluster node stops taking calls.
async fn healthz(AxumState(state): AxumState<Arc<State>>) -> Response {
    if state.cluster.is_draining() {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "draining").into_response();
    }
    "ok".into_response()
}

async fn metrics_text(AxumState(state): AxumState<Arc<State>>) -> Response {
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
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
