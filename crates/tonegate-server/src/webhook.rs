//! CloudEvent delivery: every event goes to the SSE streams and, if a callback URI is
//! known, is POSTed as a one-element JSON array. Delivery is in order per call (one task
//! per call works through its queue), retried with exponential backoff and jitter on a
//! transport error, a 5xx, 408 or 429 for [`Config::webhook_retry_ms`](super::Config),
//! waiting longer when a 429 or 503 asks to with `Retry-After`. Redirects are never
//! followed (a 3xx is a final refusal).
//!
//! Signed as Standard Webhooks: `webhook-id` (the CloudEvent `id`, the same on every
//! retry, so receivers can drop duplicates), `webhook-timestamp` (unix seconds of the
//! attempt) and `webhook-signature` ([`webhook_signature`] with the access key),
//! so a receiver refuses a replayed or stale delivery.
//!
//! With [`Config::state_dir`](super::Config) every delivery is kept in the event log's
//! outbox (on disk before its first POST) until it is settled: delivered, refused for
//! good, or given up. After a restart (also after a crash) the deliveries kept are sent
//! again, in order per call, with the same CloudEvent id. Shutdown ([`drain`]) gives the
//! queues what is left of `shutdown_grace_ms`; what is still queued then stays kept.
//!
//! Memory is bounded: all queues together hold at most
//! [`Config::webhook_queue_bytes`](super::Config) of serialized events; once a call has
//! ended its queue gets `webhook_retry_ms` more, then what is left is dropped and the
//! queue and its task are gone. Every drop is logged and counted.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::State;
use super::callback_policy::{self, Policy, ResolvedPrivate};
use super::event_log::{self, StoredDelivery};
use super::log_text::{Escaped, Secret};
use super::webhook_retry;
use tonegate_core::api::CloudEvent;
use tonegate_core::auth::webhook_signature;

/// Header carrying the event id (the CloudEvent `id`).
pub const ID_HEADER: &str = "webhook-id";
/// Header carrying the attempt's time, unix seconds.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Header carrying `v1,<base64 HMAC-SHA256>` ([`webhook_signature`]).
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// Why a webhook event was given up (counted in `tonegate_webhook_dropped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// The queues of all calls held `webhook_queue_bytes` already.
    QueueBytes,
    /// The call's queue held `webhook_queue` events already.
    QueueFull,
    /// The receiver refused it for good, or retries ran out (`webhook_retry_ms`).
    Undeliverable,
    /// Still queued `webhook_retry_ms` after its call ended.
    CallEnded,
}

impl Dropped {
    /// Every reason.
    pub const ALL: [Dropped; 4] = [
        Dropped::QueueBytes,
        Dropped::QueueFull,
        Dropped::Undeliverable,
        Dropped::CallEnded,
    ];

    /// The metric label and log code.
    pub fn code(self) -> &'static str {
        match self {
            Dropped::QueueBytes => "queueBytes",
            Dropped::QueueFull => "queueFull",
            Dropped::Undeliverable => "undeliverable",
            Dropped::CallEnded => "callEnded",
        }
    }
}

/// Where a call's events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Callback {
    /// The URL POSTed to.
    pub(crate) url: String,
    /// Who named it.
    pub(crate) origin: Origin,
}

impl Callback {
    /// `url`, named by `origin`.
    pub(crate) fn new(url: &str, origin: Origin) -> Callback {
        Callback {
            url: url.to_owned(),
            origin,
        }
    }
}

/// Who named a callback URL, which decides how far it is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The operator (`callback_uri`) or an API client holding the access key
    /// (`operationCallbackUri`): delivered as is.
    Operator,
    /// An audio socket, checked by [`Policy`]: its host's addresses are screened too.
    Socket,
}

/// One event waiting for delivery; its bytes count against the budget until dropped.
struct Delivery {
    callback: Callback,
    body: Bytes,
    id: String,
    name: String,
    /// Its key in the outbox, if kept there.
    key: Option<u64>,
    /// Resolves once the outbox has it on disk; waited for before the first POST.
    durable: Option<event_log::Durable>,
    _reserved: Reserved,
}

/// A call's queue; dropping it ends the call's deliveries (the task drains what is left
/// for at most `webhook_retry_ms`).
struct Queue {
    sender: mpsc::Sender<Delivery>,
    _ended: oneshot::Sender<()>,
}

/// The byte budget of all queues.
struct Budget {
    limit: u64,
    used: AtomicU64,
    gauge: prometheus::IntGauge,
}

/// Bytes taken from the budget, given back on drop.
struct Reserved {
    budget: Arc<Budget>,
    bytes: u64,
}

impl Budget {
    fn reserve(self: &Arc<Budget>, bytes: u64) -> Option<Reserved> {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                (used + bytes <= self.limit).then_some(used + bytes)
            })
            .ok()?;
        Some(self.taken(bytes))
    }

    /// Takes `bytes` even past the limit: for deliveries kept from before a restart,
    /// which the limit held when they were queued.
    fn reserve_anyway(self: &Arc<Budget>, bytes: u64) -> Reserved {
        self.used.fetch_add(bytes, Ordering::SeqCst);
        self.taken(bytes)
    }

    fn taken(self: &Arc<Budget>, bytes: u64) -> Reserved {
        self.gauge.add(bytes as i64);
        Reserved {
            budget: self.clone(),
            bytes,
        }
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::SeqCst);
        self.budget.gauge.sub(self.bytes as i64);
    }
}

/// Per-call delivery queues and the HTTP clients.
pub(crate) struct Webhook {
    /// For URLs the operator or an access-key holder named, and play-source downloads.
    client: reqwest::Client,
    /// For URLs audio sockets named: resolves through [`callback_policy::Resolver`].
    screened: reqwest::Client,
    policy: Arc<Policy>,
    queues: Mutex<HashMap<Arc<str>, Queue>>,
    budget: Arc<Budget>,
}

impl Webhook {
    /// The HTTP clients (no redirects followed) and no queues yet. Fails if
    /// [`Config::http_ca_certs`](super::Config) cannot be used or `callback_allow` has
    /// a bad entry.
    pub(crate) fn new(config: &super::Config, metrics: &super::Metrics) -> Result<Webhook, String> {
        // reqwest is built without a default crypto provider; use ring, as the server
        // does (a no-op if the process already chose one).
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let policy = Arc::new(Policy::new(config)?);
        let client = client_builder(config)?
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let screened = client_builder(config)?
            .no_proxy()
            .dns_resolver(callback_policy::Resolver::new(policy.clone()))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Webhook {
            client,
            screened,
            policy,
            queues: Mutex::new(HashMap::new()),
            budget: Arc::new(Budget {
                limit: config.webhook_queue_bytes,
                used: AtomicU64::new(0),
                gauge: metrics.webhook_queued_bytes.clone(),
            }),
        })
    }

    /// The HTTP client for URLs the operator or an access-key holder named.
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Which callback URIs audio sockets may name.
    pub(crate) fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Ends a call's queue: what is queued gets `webhook_retry_ms` more.
    pub(crate) fn close(&self, call_id: &str) {
        self.queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(call_id);
    }
}

/// The settings both clients share: timeout, extra CAs, no redirects.
fn client_builder(config: &super::Config) -> Result<reqwest::ClientBuilder, String> {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_millis(config.webhook_timeout_ms))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &config.http_ca_certs {
        builder = builder.tls_certs_merge(read_ca_certs(path)?);
    }
    Ok(builder)
}

/// The certificates of a PEM file of CA certificates (at least one).
fn read_ca_certs(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("http_ca_certs {}: {e}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("http_ca_certs {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "http_ca_certs {}: no PEM certificate in the file",
            path.display()
        ));
    }
    Ok(certs)
}

/// Publishes an event: to the event log (SSE) at once and, with a `callback`, to the
/// call's webhook queue (and the outbox, with `state_dir`).
pub(crate) fn publish(state: &Arc<State>, callback: Option<Callback>, event: CloudEvent) {
    let event = Arc::new(event);
    tracing::info!(
        call_id = %Escaped(&event.data.call_connection_id),
        event = event.name(),
        operation_context = %Secret {
            value: event.data.operation_context.as_deref().unwrap_or(""),
            reveal: state.config.log_digits,
        },
        "event"
    );
    // The delivery is in the outbox's queue before the event can reach the event log,
    // so an event an SSE client has seen has its delivery on disk (with `state_dir`).
    let delivery = callback.and_then(|callback| delivery(state, callback, &event));
    let _ = state.cloud_events.send(event.clone());
    let Some(delivery) = delivery else {
        return;
    };
    let call_id: Arc<str> = Arc::from(event.data.call_connection_id.as_str());
    if let Some(delivery) = enqueue(state, &call_id, delivery) {
        settle(state, delivery.key);
        drop_event(state, &call_id, &event, Dropped::QueueFull);
    }
}

/// The delivery of `event` to `callback`, its bytes taken from the budget and (with an
/// outbox) on its way to disk; `None` (dropped, counted) when the budget is spent.
fn delivery(state: &State, callback: Callback, event: &CloudEvent) -> Option<Delivery> {
    let call_id = event.data.call_connection_id.as_str();
    let body = Bytes::from(serde_json::to_vec(&[event]).unwrap_or_default());
    let Some(reserved) = state.webhook.budget.reserve(body.len() as u64) else {
        drop_event(state, call_id, event, Dropped::QueueBytes);
        return None;
    };
    let (key, durable) = match state.outbox() {
        Some(outbox) => {
            let stored = StoredDelivery {
                call_id: call_id.to_owned(),
                url: callback.url.clone(),
                socket_origin: callback.origin == Origin::Socket,
                id: event.id.clone(),
                name: event.name().to_owned(),
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            let (key, durable) = outbox.put(&stored);
            (Some(key), Some(durable))
        }
        None => (None, None),
    };
    Some(Delivery {
        callback,
        body,
        id: event.id.clone(),
        name: event.name().to_owned(),
        key,
        durable,
        _reserved: reserved,
    })
}

/// Queues `delivery` on its call's queue (made, with its task, if the call has none);
/// gives it back if the queue is full.
fn enqueue(state: &Arc<State>, call_id: &Arc<str>, delivery: Delivery) -> Option<Delivery> {
    let sender = {
        let mut queues = state
            .webhook
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        queues
            .entry(call_id.clone())
            .or_insert_with(|| {
                let (sender, rx) = mpsc::channel(state.config.webhook_queue.max(1));
                let (ended_tx, ended) = oneshot::channel();
                tokio::spawn(run(state.clone(), call_id.clone(), rx, ended));
                Queue {
                    sender,
                    _ended: ended_tx,
                }
            })
            .sender
            .clone()
    };
    sender.try_send(delivery).err().map(|e| e.into_inner())
}

/// Queues the deliveries the outbox kept from before the server started, each call's in
/// the order they were queued; their calls are over, so each queue gets
/// `webhook_retry_ms` (as any ended call's) and is then gone.
pub(crate) fn resume_kept(state: &Arc<State>) {
    let Some(outbox) = state.outbox() else {
        return;
    };
    let kept = outbox.take_pending();
    if kept.is_empty() {
        return;
    }
    tracing::info!(
        deliveries = kept.len(),
        "sending the webhook deliveries kept from before the restart"
    );
    for call_id in queue_kept(state, kept) {
        state.webhook.close(&call_id);
    }
}

/// Queues deliveries an outbox kept (`(key, delivery)`, each call's in order) on their
/// calls' queues, past the byte budget (it held them when they were first queued);
/// returns their calls. A delivery a full queue refuses stays kept.
pub(crate) fn queue_kept(state: &Arc<State>, kept: Vec<(u64, StoredDelivery)>) -> Vec<Arc<str>> {
    let mut calls = Vec::new();
    for (key, stored) in kept {
        let call_id: Arc<str> = Arc::from(stored.call_id.as_str());
        let body = Bytes::from(stored.body);
        let origin = if stored.socket_origin {
            Origin::Socket
        } else {
            Origin::Operator
        };
        let delivery = Delivery {
            callback: Callback::new(&stored.url, origin),
            _reserved: state.webhook.budget.reserve_anyway(body.len() as u64),
            body,
            id: stored.id,
            name: stored.name,
            key: Some(key),
            durable: None,
        };
        if let Some(delivery) = enqueue(state, &call_id, delivery) {
            tracing::error!(
                call_id = %Escaped(&call_id),
                id = %delivery.id,
                "webhook queue full (webhook_queue); a kept delivery stays kept"
            );
        }
        if !calls.contains(&call_id) {
            calls.push(call_id);
        }
    }
    calls
}

/// Forgets a settled delivery in the outbox.
fn settle(state: &State, key: Option<u64>) {
    if let (Some(outbox), Some(key)) = (state.outbox(), key) {
        outbox.settle(key);
    }
}

/// At shutdown: lets the queues work until they are empty or `deadline` (server time),
/// then makes sure the outbox has on disk what is left (sent after the next start).
pub(crate) async fn drain(state: &State, deadline: Duration) {
    /// How often the queues are looked at.
    const LOOK: Duration = Duration::from_millis(20);
    let budget = &state.webhook.budget;
    let mut queued = budget.used.load(Ordering::SeqCst);
    if queued > 0 {
        tracing::info!(bytes = queued, "delivering the webhooks still queued");
    }
    while queued > 0 && state.now() < deadline {
        tokio::time::sleep(LOOK).await;
        queued = budget.used.load(Ordering::SeqCst);
    }
    if let Some(outbox) = state.outbox() {
        outbox.flush().await;
        if queued > 0 {
            tracing::info!(
                bytes = queued,
                "webhooks not delivered by the end of shutdown_grace_ms are kept for the next start"
            );
        }
    } else if queued > 0 {
        tracing::warn!(
            bytes = queued,
            "webhooks not delivered by the end of shutdown_grace_ms are lost (no state_dir)"
        );
    }
}

/// Logs and counts an event that will not be delivered.
fn drop_event(state: &State, call_id: &str, event: &CloudEvent, reason: Dropped) {
    count_dropped(state, reason, 1);
    tracing::error!(
        call_id = %Escaped(call_id),
        event = event.name(),
        id = %event.id,
        reason = reason.code(),
        "webhook queue full (webhook_queue or webhook_queue_bytes); event dropped"
    );
}

/// Adds `n` to `tonegate_webhook_dropped_total{reason}`.
fn count_dropped(state: &State, reason: Dropped, n: u64) {
    state
        .metrics
        .webhook_dropped
        .with_label_values(&[reason.code()])
        .inc_by(n);
}

/// Counts a live queue task in `tonegate_webhook_queues` while it exists.
struct Alive(prometheus::IntGauge);

impl Alive {
    fn new(gauge: &prometheus::IntGauge) -> Alive {
        gauge.inc();
        Alive(gauge.clone())
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Works through a call's queue in order; once `ended` fires (the call ended), allows
/// `webhook_retry_ms` more, then drops and counts what is left.
async fn run(
    state: Arc<State>,
    call_id: Arc<str>,
    mut rx: mpsc::Receiver<Delivery>,
    ended: oneshot::Receiver<()>,
) {
    let _alive = Alive::new(&state.metrics.webhook_queues);
    let in_flight = AtomicBool::new(false);
    let in_flight_key = Mutex::new(None);
    let drained = {
        let drain = async {
            while let Some(mut d) = rx.recv().await {
                in_flight.store(true, Ordering::SeqCst);
                *in_flight_key.lock().unwrap_or_else(|e| e.into_inner()) = d.key;
                if let Some(durable) = d.durable.take() {
                    let kept = durable.await.unwrap_or_else(|_| {
                        Err(event_log::Error::Backend(
                            "the event log's writer has stopped".into(),
                        ))
                    });
                    if let Err(e) = kept {
                        tracing::error!(call_id = %Escaped(&call_id), id = %d.id, "webhook delivery not kept on disk (sent all the same): {e}");
                    }
                }
                deliver(&state, &call_id, &d).await;
                settle(&state, d.key);
                in_flight.store(false, Ordering::SeqCst);
            }
        };
        let cutoff = async {
            let _ = ended.await;
            tokio::time::sleep(Duration::from_millis(state.config.webhook_retry_ms)).await;
        };
        tokio::select! {
            _ = drain => true,
            _ = cutoff => false,
        }
    };
    if drained {
        return;
    }
    rx.close();
    let mut left = u64::from(in_flight.load(Ordering::SeqCst));
    if left > 0 {
        settle(
            &state,
            *in_flight_key.lock().unwrap_or_else(|e| e.into_inner()),
        );
    }
    while let Ok(d) = rx.try_recv() {
        settle(&state, d.key);
        left += 1;
    }
    if left > 0 {
        count_dropped(&state, Dropped::CallEnded, left);
        tracing::error!(
            call_id = %Escaped(&call_id),
            dropped = left,
            "call ended and webhook_retry_ms passed; undelivered webhook events dropped"
        );
    }
}

/// Unix seconds of the server's wall clock.
fn unix_seconds(state: &State) -> u64 {
    state
        .wall_now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether a request failed because the screening resolver refused the host.
fn resolved_private(error: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.downcast_ref::<ResolvedPrivate>().is_some() {
            return true;
        }
        source = cause.source();
    }
    false
}

async fn deliver(state: &Arc<State>, call_id: &str, d: &Delivery) {
    let client = match d.callback.origin {
        Origin::Operator => &state.webhook.client,
        Origin::Socket => &state.webhook.screened,
    };
    let url = &d.callback.url;
    let give_up = state.now() + Duration::from_millis(state.config.webhook_retry_ms);
    let mut backoff = webhook_retry::backoff();
    let mut attempt = 1u32;
    loop {
        let mut request = client
            .post(url)
            .header("content-type", "application/json")
            .body(d.body.clone());
        if let Some(key) = state.api.key() {
            let timestamp = unix_seconds(state);
            request = request
                .header(ID_HEADER, &d.id)
                .header(TIMESTAMP_HEADER, timestamp.to_string())
                .header(
                    SIGNATURE_HEADER,
                    webhook_signature(key, &d.id, timestamp, &d.body),
                );
        }
        let mut asked = None;
        let retry = match request.send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => {
                asked = webhook_retry::retry_after(
                    r.status(),
                    r.headers().get(reqwest::header::RETRY_AFTER),
                    state.wall_now(),
                );
                let status = r.status().as_u16();
                let retry = status >= 500 || status == 408 || status == 429;
                tracing::warn!(call_id = %Escaped(call_id), url = %Escaped(url), status, attempt, event = d.name, "webhook refused");
                retry
            }
            Err(e) if resolved_private(&e) => {
                state
                    .metrics
                    .callback_refused
                    .with_label_values(&[callback_policy::RESOLVED_PRIVATE])
                    .inc();
                tracing::warn!(call_id = %Escaped(call_id), url = %Escaped(url), event = d.name, "webhook not sent: {ResolvedPrivate}");
                false
            }
            Err(e) => {
                tracing::warn!(call_id = %Escaped(call_id), url = %Escaped(url), attempt, event = d.name, "webhook failed: {}", Escaped(&e.to_string()));
                true
            }
        };
        // The receiver's `Retry-After` is honoured when longer than the backoff wait, but
        // never past the give-up deadline (then delivery gives up now).
        let wait = backoff
            .next()
            .unwrap_or(Duration::MAX)
            .max(asked.unwrap_or_default());
        if !retry || state.now().checked_add(wait).is_none_or(|at| at > give_up) {
            count_dropped(state, Dropped::Undeliverable, 1);
            tracing::error!(call_id = %Escaped(call_id), url = %Escaped(url), event = d.name, id = %d.id, "webhook delivery given up");
            return;
        }
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}
