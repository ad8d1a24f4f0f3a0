//! Audio socket upgrades (`GET /media`, `/media/{dialect}`): authentication, the
//! callback URI the URL names, admission against
//! [`Config::max_sessions`](crate::Config::max_sessions), then the socket task
//! ([`socket::run`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{OriginalUri, Path as UrlPath, State as AxumState, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::{
    State, StreamParams, admission, callback_policy, shutdown, socket, stream_auth,
    twilio_signature,
};
use tonegate_core::proto::Dialect;

pub(super) async fn media_auto(
    AxumState(state): AxumState<Arc<State>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    accept(state, None, uri, headers, upgrade).await
}

pub(super) async fn media_dialect(
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
/// [`Config::twilio_auth_token`](crate::Config::twilio_auth_token), only
/// [`Config::stream_auth`](crate::Config::stream_auth) applies. With it,
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

/// Checks a callback URI an audio socket named against
/// [`Config::callback_allow`](crate::Config::callback_allow) (`authenticated`: whether the socket's upgrade was); a refusal is logged and counted.
/// Returns the URI normalised.
pub(super) fn socket_callback(
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
    if let Some(reason) = state.cluster.refusal() {
        let retry = (axum::http::header::RETRY_AFTER, "1");
        return (StatusCode::SERVICE_UNAVAILABLE, [retry], reason).into_response();
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
    if let Err(refusal) = state.admission.check() {
        return overloaded(&state, refusal);
    }
    let Some(token) = state.sessions.token() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    };
    // Reserve a slot before the upgrade so the cap is exact.
    let reserved = state
        .active
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < state.config.max_sessions).then_some(n + 1)
        });
    if reserved.is_err() {
        state.metrics.sessions_rejected.inc();
        return overloaded(&state, admission::Refusal::MaxSessions);
    }
    state.metrics.active_sessions.inc();
    let slot = Slot {
        state: state.clone(),
        _token: token,
    };
    let peer = socket::Peer {
        call_id,
        correlation_id: id_header(&headers, "x-ms-call-correlation-id"),
        bound_call: bound_call.map(Arc::from),
        params,
        authenticated,
    };
    socket::configure(upgrade, &state.config).on_upgrade(move |socket| async move {
        let _slot = slot;
        socket::run(state, socket, dialect, peer).await;
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

/// An occupied session slot, released on drop (also if the upgrade fails); shutdown
/// waits for its token.
struct Slot {
    state: Arc<State>,
    _token: shutdown::Token,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.state.active.fetch_sub(1, Ordering::SeqCst);
        self.state.metrics.active_sessions.dec();
    }
}

/// The 503 of an upgrade refused for load (logged and counted): the calls already
/// streaming keep the server's time.
fn overloaded(state: &State, refusal: admission::Refusal) -> Response {
    state
        .metrics
        .admission_refused
        .with_label_values(&[refusal.code()])
        .inc();
    tracing::warn!(
        reason = refusal.code(),
        "refusing audio socket: {}",
        refusal.message()
    );
    let retry = (
        axum::http::header::RETRY_AFTER,
        admission::RETRY_AFTER_SECONDS.to_string(),
    );
    (StatusCode::SERVICE_UNAVAILABLE, [retry], refusal.message()).into_response()
}
