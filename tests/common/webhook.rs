//! A real HTTP listener for tonegate's CloudEvents webhooks, and a collector that checks
//! each POST's signature and keeps the bodies exactly as posted.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::Value;
use tokio::sync::mpsc;
use tonegate::server::auth;

/// A webhook POST as received.
#[derive(Debug, Clone)]
pub struct Post {
    /// `x-tonegate-signature`, if sent.
    pub signature: Option<String>,
    /// The body, as posted.
    pub body: Bytes,
}

/// Listens on 127.0.0.1:0 for POSTs to `/events`; returns the callback URI and the
/// received POSTs.
pub async fn start_listener() -> (String, mpsc::UnboundedReceiver<Post>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let signature = headers
                    .get("x-tonegate-signature")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let _ = tx.send(Post { signature, body });
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
pub struct Events {
    rx: mpsc::UnboundedReceiver<Post>,
    key: Vec<u8>,
    /// Every event so far, in arrival order.
    pub all: Vec<Value>,
    /// Every POST body so far, exactly as posted, in arrival order.
    pub bodies: Vec<Bytes>,
}

impl Events {
    /// Events from `rx`, signed with `key`.
    pub fn new(rx: mpsc::UnboundedReceiver<Post>, key: &[u8]) -> Events {
        Events {
            rx,
            key: key.to_vec(),
            all: Vec::new(),
            bodies: Vec::new(),
        }
    }

    /// The first event of `Microsoft.Communication.{kind}` with `operationContext`
    /// `context`, waiting for it if it has not come yet.
    pub async fn until(&mut self, kind: &str, context: &str) -> Value {
        let wanted = format!("Microsoft.Communication.{kind}");
        self.until_where(&format!("{kind} ({context})"), |e| {
            e["type"] == wanted && e["data"]["operationContext"] == context
        })
        .await
    }

    /// The first event for which `matches` holds, waiting up to 30 s for it.
    pub async fn until_where(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
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
            let expected = format!("sha256={}", auth::body_signature(&self.key, &post.body));
            assert_eq!(
                post.signature.as_deref(),
                Some(expected.as_str()),
                "bad webhook signature"
            );
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
