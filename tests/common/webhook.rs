//! A real HTTP listener for tonegate's CloudEvents webhooks, a collector that checks
//! each POST's signature and keeps the bodies exactly as posted, and the signature check
//! (Standard Webhooks) itself.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::Value;
use tokio::sync::mpsc;
use tonegate::SampleRate;
use tonegate::auth::webhook_signature;
use tonegate::codec::Encoding;
use tonegate::server::webhook;

use super::{Ws, read_until_operation, send_audio, send_text, signal};

/// A webhook POST as received.
#[derive(Debug, Clone)]
pub(crate) struct Post {
    /// The request headers.
    pub headers: HeaderMap,
    /// The body, as posted.
    pub body: Bytes,
}

/// Asserts a POST carries a valid Standard Webhooks signature made with `key`, whose
/// `webhook-id` is the id of the one CloudEvent in the body.
pub(crate) fn assert_signed(key: &[u8], headers: &HeaderMap, body: &[u8]) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
    };
    let id = header(webhook::ID_HEADER);
    let timestamp: u64 = header(webhook::TIMESTAMP_HEADER).parse().unwrap();
    assert_eq!(
        header(webhook::SIGNATURE_HEADER),
        webhook_signature(key, id, timestamp, body),
        "bad webhook signature"
    );
    let batch: Value = serde_json::from_slice(body).expect("a JSON body");
    assert_eq!(batch[0]["id"], id, "webhook-id is not the event id");
}

/// Listens on 127.0.0.1:0 for POSTs to `/events`; returns the callback URI and the
/// received POSTs.
pub(crate) async fn start_listener() -> (String, mpsc::UnboundedReceiver<Post>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(Post { headers, body });
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}/events"), rx)
}

/// Collects the CloudEvents posted to a listener, checking each POST's signature.
pub(crate) struct Events {
    rx: mpsc::UnboundedReceiver<Post>,
    key: Vec<u8>,
    /// Every event so far, in arrival order.
    pub all: Vec<Value>,
    /// Every POST body so far, exactly as posted, in arrival order.
    pub bodies: Vec<Bytes>,
}

impl Events {
    /// Events from `rx`, signed with `key`.
    pub(crate) fn new(rx: mpsc::UnboundedReceiver<Post>, key: &[u8]) -> Events {
        Events {
            rx,
            key: key.to_vec(),
            all: Vec::new(),
            bodies: Vec::new(),
        }
    }

    /// The first event of `Microsoft.Communication.{kind}` with `operationContext`
    /// `context`, waiting for it if it has not come yet.
    pub(crate) async fn until(&mut self, kind: &str, context: &str) -> Value {
        let wanted = format!("Microsoft.Communication.{kind}");
        self.until_where(&format!("{kind} ({context})"), |e| {
            e["type"] == wanted && e["data"]["operationContext"] == context
        })
        .await
    }

    /// The first event for which `matches` holds, waiting up to 30 s for it.
    pub(crate) async fn until_where(
        &mut self,
        what: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(e) = self.all.iter().find(|e| matches(e)) {
            return e.clone();
        }
        let deadline = tokio::time::sleep(Duration::from_secs(30));
        tokio::pin!(deadline);
        loop {
            let post = tokio::select! {
                p = self.rx.recv() => p.expect("listener alive"),
                _ = &mut deadline => panic!("no {what}; got {:#?}", self.all),
            };
            assert_signed(&self.key, &post.headers, &post.body);
            let batch: Vec<Value> = serde_json::from_slice(&post.body).expect("a JSON array");
            self.bodies.push(post.body);
            let start = self.all.len();
            self.all.extend(batch);
            if let Some(e) = self.all[start..].iter().find(|e| matches(e)) {
                return e.clone();
            }
        }
    }
}

/// Presses `digits` (8 kHz µ-law) under continuous DTMF recognition on a raw call; returns the operation
/// events the socket reported, as (CloudEvent type, sequence id), in order.
pub(crate) async fn press_continuous(ws: &mut Ws, digits: &str) -> Vec<(String, u64)> {
    send_text(ws, r#"{"type":"startContinuousDtmf","context":"c"}"#).await;
    let (samples, _) = signal(digits, SampleRate::HZ_8000, 100.0, 300.0);
    send_audio(
        ws,
        &samples,
        SampleRate::HZ_8000,
        Encoding::Ulaw,
        20.0,
        false,
    )
    .await;
    send_text(ws, r#"{"type":"stopContinuousDtmf","context":"c"}"#).await;
    let got = read_until_operation(
        ws,
        "ContinuousDtmfRecognitionStopped",
        Duration::from_secs(30),
    )
    .await;
    let events: Vec<(String, u64)> = got
        .events
        .iter()
        .filter(|e| e["type"] == "operation")
        .map(|e| {
            (
                format!("Microsoft.Communication.{}", e["event"].as_str().unwrap()),
                e["sequenceId"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let tones = events.iter().filter(|e| e.1 > 0).count();
    assert_eq!(tones, digits.len(), "{events:?}");
    events
}

/// One POST as a [`SwitchedReceiver`] saw it.
#[derive(Debug, Clone)]
pub(crate) struct SeenPost {
    /// The `webhook-id` header.
    pub webhook_id: String,
    /// The CloudEvent.
    pub event: Value,
    /// Answered 200 (the receiver was up).
    pub delivered: bool,
}

/// A webhook receiver that outlives the servers posting to it and can be switched down
/// (it answers 503) and up (200); keeps every POST, each checked with
/// [`assert_signed`].
#[derive(Clone)]
pub(crate) struct SwitchedReceiver {
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    posts: std::sync::Arc<std::sync::Mutex<Vec<SeenPost>>>,
}

impl SwitchedReceiver {
    /// Listens on 127.0.0.1:0 for POSTs signed with `key`, up or down from the start;
    /// returns it with its callback URI.
    pub(crate) async fn start(key: &'static [u8], up: bool) -> (SwitchedReceiver, String) {
        let receiver = SwitchedReceiver {
            up: std::sync::Arc::new(up.into()),
            posts: Default::default(),
        };
        let seen = receiver.clone();
        let app = axum::Router::new().route(
            "/events",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let seen = seen.clone();
                async move {
                    assert_signed(key, &headers, &body);
                    let batch: Value = serde_json::from_slice(&body).expect("a JSON body");
                    let webhook_id = headers[webhook::ID_HEADER].to_str().unwrap().to_owned();
                    let delivered = seen.up.load(std::sync::atomic::Ordering::SeqCst);
                    seen.posts.lock().unwrap().push(SeenPost {
                        webhook_id,
                        event: batch[0].clone(),
                        delivered,
                    });
                    if delivered {
                        axum::http::StatusCode::OK
                    } else {
                        axum::http::StatusCode::SERVICE_UNAVAILABLE
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    /// Switches the receiver up (200) or down (503).
    pub(crate) fn set_up(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
    }

    /// Every POST so far, in arrival order.
    pub(crate) fn posts(&self) -> Vec<SeenPost> {
        self.posts.lock().unwrap().clone()
    }

    /// The events delivered (answered 200), the first arrival of each id, in order.
    pub(crate) fn delivered(&self) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        for post in self.posts() {
            if post.delivered && !out.iter().any(|e| e["id"] == post.event["id"]) {
                out.push(post.event);
            }
        }
        out
    }

    /// The ids of [`SwitchedReceiver::delivered`].
    pub(crate) fn delivered_ids(&self) -> Vec<String> {
        self.delivered()
            .iter()
            .map(|e| e["id"].as_str().expect("an event id").to_owned())
            .collect()
    }

    /// Waits (up to a minute: several processes may share a busy box) until a delivered
    /// event satisfies `matches`; returns it.
    pub(crate) async fn until(&self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let mut found = None;
        super::wait_until(what, Duration::from_secs(60), || {
            found = self.delivered().into_iter().find(|e| matches(e));
            found.is_some()
        })
        .await;
        found.unwrap()
    }
}
