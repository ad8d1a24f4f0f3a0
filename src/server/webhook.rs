//! CloudEvent delivery: every event goes to the SSE streams and, if a callback URI is
//! known, is POSTed as a one-element JSON array. Delivery is in order per call (one task
//! per call works through its queue), retried with exponential backoff on a transport
//! error, a 5xx, 408 or 429 for [`Config::webhook_retry_ms`](super::Config), and
//! signed: `x-tonegate-signature: sha256=<hex HMAC-SHA256 of the body with the access
//! key>`. An event keeps its `id` across retries, so receivers can drop duplicates.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::State;
use super::auth;
use super::log_text::{Escaped, Secret};
use crate::api::CloudEvent;

/// Header carrying the body signature.
pub const SIGNATURE_HEADER: &str = "x-tonegate-signature";

struct Delivery {
    url: String,
    event: Arc<CloudEvent>,
}

/// Per-call delivery queues.
pub(crate) struct Webhook {
    client: reqwest::Client,
    queues: Mutex<HashMap<Arc<str>, mpsc::Sender<Delivery>>>,
}

impl Webhook {
    /// The HTTP client (webhook POSTs and play-source downloads) and no queues yet. Fails
    /// if [`Config::http_ca_certs`](super::Config) cannot be used.
    pub(crate) fn new(config: &super::Config) -> Result<Webhook, String> {
        // reqwest is built without a default crypto provider; use ring, as the server
        // does (a no-op if the process already chose one).
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let mut builder =
            reqwest::Client::builder().timeout(Duration::from_millis(config.webhook_timeout_ms));
        if let Some(path) = &config.http_ca_certs {
            builder = builder.tls_certs_merge(read_ca_certs(path)?);
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Webhook {
            client,
            queues: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Ends a call's queue once it has drained.
    pub(crate) fn close(&self, call_id: &str) {
        self.queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(call_id);
    }
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

/// Publishes an event: SSE at once, then the webhook (if `url`) in call order.
pub(crate) fn publish(state: &Arc<State>, url: Option<String>, event: CloudEvent) {
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
    let _ = state.cloud_events.send(event.clone());
    let Some(url) = url else {
        return;
    };
    let call_id: Arc<str> = Arc::from(event.data.call_connection_id.as_str());
    let sender = {
        let mut queues = state
            .webhook
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        queues
            .entry(call_id.clone())
            .or_insert_with(|| {
                let (tx, rx) = mpsc::channel(state.config.webhook_queue.max(1));
                tokio::spawn(run(state.clone(), call_id.clone(), rx));
                tx
            })
            .clone()
    };
    if sender.try_send(Delivery { url, event }).is_err() {
        state
            .metrics
            .errors
            .with_label_values(&["webhookQueueFull"])
            .inc();
        tracing::warn!(call_id = %Escaped(&call_id), "webhook queue full; event dropped");
    }
}

async fn run(state: Arc<State>, call_id: Arc<str>, mut rx: mpsc::Receiver<Delivery>) {
    while let Some(d) = rx.recv().await {
        deliver(&state, &call_id, d).await;
    }
}

async fn deliver(state: &Arc<State>, call_id: &str, d: Delivery) {
    let body = serde_json::to_vec(&[&*d.event]).unwrap_or_default();
    let signature = state
        .api
        .key()
        .map(|k| format!("sha256={}", auth::body_signature(k, &body)));
    let give_up = state.now() + Duration::from_millis(state.config.webhook_retry_ms);
    let mut backoff = Duration::from_millis(250);
    let mut attempt = 1u32;
    loop {
        let mut request = state
            .webhook
            .client
            .post(&d.url)
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(s) = &signature {
            request = request.header(SIGNATURE_HEADER, s);
        }
        let retry = match request.send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => {
                let status = r.status().as_u16();
                let retry = status >= 500 || status == 408 || status == 429;
                tracing::warn!(call_id = %Escaped(call_id), url = %Escaped(&d.url), status, attempt, event = d.event.name(), "webhook refused");
                retry
            }
            Err(e) => {
                tracing::warn!(call_id = %Escaped(call_id), url = %Escaped(&d.url), attempt, event = d.event.name(), "webhook failed: {}", Escaped(&e.to_string()));
                true
            }
        };
        if !retry || state.now() + backoff > give_up {
            state
                .metrics
                .errors
                .with_label_values(&["webhookDropped"])
                .inc();
            tracing::error!(call_id = %Escaped(call_id), url = %Escaped(&d.url), event = d.event.name(), id = %d.event.id, "webhook delivery given up");
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
        attempt += 1;
    }
}
