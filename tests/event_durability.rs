//! With `state_dir`, webhooks survive restarts, on the real binary: ten CloudEvents are
//! queued against a receiver that is down (it answers 503), the server is stopped
//! (SIGTERM: it tries for `shutdown_grace_ms`, then keeps the rest; SIGKILL: no chance to
//! do anything), started again, and the receiver comes up. Every event arrives, with
//! the CloudEvent id and `webhook-id` it had, in the call's order; a repeat is only ever
//! the same id. An SSE client resumes across the restart with `Last-Event-ID`.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use common::event_stream::{EventStream, Message};
use common::logged::LoggedServe;
use common::*;
use serde_json::Value;
use tonegate::SampleRate;
use tonegate::codec::Encoding;

const KEY: &[u8] = b"durability test key, 32 bytes..";
const EVENT_TOKEN: &str = "durability-event-token";
/// CloudEvents queued while the receiver is down.
const EVENTS: usize = 10;

/// A webhook receiver that outlives the servers: down (503) or up (200), keeping every
/// POST's `webhook-id` and its CloudEvent's `id`.
#[derive(Clone, Default)]
struct Receiver {
    up: Arc<AtomicBool>,
    /// (`webhook-id`, the event's `id`, answered 200).
    posts: Arc<Mutex<Vec<(String, String, bool)>>>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let seen = receiver.clone();
        let app = axum::Router::new().route(
            "/events",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let seen = seen.clone();
                async move {
                    let batch: Value = serde_json::from_slice(&body).expect("a JSON body");
                    let id = batch[0]["id"].as_str().expect("an event id").to_owned();
                    let header = headers
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .expect("a webhook-id header")
                        .to_owned();
                    let up = seen.up.load(Ordering::SeqCst);
                    seen.posts.lock().unwrap().push((header, id, up));
                    if up {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    fn posts(&self) -> Vec<(String, String, bool)> {
        self.posts.lock().unwrap().clone()
    }

    /// The ids delivered (answered 200), first arrival each, in order.
    fn delivered(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, id, ok) in self.posts() {
            if ok && !out.contains(&id) {
                out.push(id);
            }
        }
        out
    }
}

/// A fresh state directory for one test, removed when dropped.
struct StateDir(PathBuf);

impl StateDir {
    fn new(name: &str) -> StateDir {
        let dir = std::env::temp_dir().join(format!("tonegate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        StateDir(dir)
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts the binary with `state_dir`, the receiver as `callback_uri` and a long retry
/// window; returns it with its address.
async fn serve(state: &StateDir, callback: &str) -> (LoggedServe, std::net::SocketAddr) {
    let key = base64::engine::general_purpose::STANDARD.encode(KEY);
    let config = state.0.with_extension("toml");
    std::fs::write(
        &config,
        format!(
            "access_key = \"{key}\"\nevent_token = \"{EVENT_TOKEN}\"\n\
             callback_uri = \"{callback}\"\nwebhook_retry_ms = 600000\n\
             shutdown_grace_ms = 1000\nstate_dir = {:?}\n",
            state.0.display().to_string()
        ),
    )
    .unwrap();
    let served = LoggedServe::start(&[], |command| {
        command.arg("--config").arg(&config);
    });
    let addr = served.addr().await;
    (served, addr)
}

fn events_url(addr: std::net::SocketAddr) -> String {
    format!("http://{addr}/v1/events")
}

const BEARER: (&str, &str) = ("authorization", "Bearer durability-event-token");

/// Runs a raw call making [`EVENTS`] CloudEvents (continuous recognition started and
/// stopped); returns its socket and the SSE messages up to the last of them, once seen
/// (seen on SSE: in the event log, and the webhook delivery on disk).
async fn queue_events(addr: std::net::SocketAddr, sse: &mut EventStream) -> (Ws, Vec<Message>) {
    let mut ws = connect(addr, "/media/raw").await;
    start_raw(&mut ws, "durable", SampleRate::HZ_8000, Encoding::Ulaw).await;
    send_binary(&mut ws, encode(&[0.0; 160], Encoding::Ulaw)).await;
    for i in 0..EVENTS {
        send_text(
            &mut ws,
            format!(r#"{{"type":"startContinuousDtmf","context":"c{i}"}}"#),
        )
        .await;
        send_text(
            &mut ws,
            format!(r#"{{"type":"stopContinuousDtmf","context":"c{i}"}}"#),
        )
        .await;
    }
    let last = format!("c{}", EVENTS - 1);
    let messages = sse
        .until(|m| {
            m.event == "Microsoft.Communication.ContinuousDtmfRecognitionStopped"
                && m.data["data"]["operationContext"] == last.as_str()
        })
        .await;
    (ws, messages)
}

/// The CloudEvent ids among `messages`, in order.
fn cloud_ids(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m.event.starts_with("Microsoft.Communication."))
        .map(|m| m.data["id"].as_str().unwrap().to_owned())
        .collect()
}

/// After the restart: every queued id arrives, in order, and nothing under another id.
async fn assert_all_arrive(receiver: &Receiver, queued: &[String]) {
    receiver.up.store(true, Ordering::SeqCst);
    wait_until(
        "every queued webhook delivered",
        Duration::from_secs(60),
        || queued.iter().all(|id| receiver.delivered().contains(id)),
    )
    .await;
    let delivered = receiver.delivered();
    assert_eq!(&delivered[..queued.len()], queued, "out of order");
    // A repeat is the same event under the same id: every id POSTed (also those tried
    // while the receiver was down) is one that got delivered, and each POST's
    // `webhook-id` is its event's id.
    let delivered: HashSet<String> = delivered.into_iter().collect();
    for (header, id, _) in receiver.posts() {
        assert_eq!(header, id, "webhook-id is not the event id");
        assert!(delivered.contains(&id), "{id} was tried, never delivered");
    }
}

/// The webhook deliveries a restarted server found kept (its start line says).
async fn kept_at_start(served: &LoggedServe) -> usize {
    let line = served.line_with("event log opened").await;
    let n = line
        .split("pending_webhooks=")
        .nth(1)
        .expect("pending_webhooks in the line");
    n.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// The SSE stream of the restarted server, resumed from the `at`th message seen before.
async fn assert_resumes(addr: std::net::SocketAddr, before: &[Message], at: usize) {
    let last = before[at].id.unwrap().to_string();
    let mut resumed =
        EventStream::open(&events_url(addr), &[BEARER, ("last-event-id", &last)]).await;
    for expected in &before[at + 1..] {
        assert_eq!(&resumed.next().await, expected, "resumed after a restart");
    }
}

#[tokio::test]
async fn webhooks_queued_at_sigterm_are_sent_after_the_restart_with_their_ids() {
    let (receiver, callback) = Receiver::start().await;
    let state = StateDir::new("sigterm");
    let (first, addr) = serve(&state, &callback).await;
    let mut sse = EventStream::open(&events_url(addr), &[BEARER]).await;
    // The call stays open: it is live when the server goes.
    let (_call, before) = queue_events(addr, &mut sse).await;
    let queued = cloud_ids(&before);
    assert!(queued.len() >= EVENTS, "{queued:?}");
    wait_until("a delivery tried", Duration::from_secs(30), || {
        !receiver.posts().is_empty()
    })
    .await;

    let lines = first.terminate().await;
    assert!(
        lines.iter().any(|l| l.contains("kept for the next start")),
        "{lines:#?}"
    );
    assert!(receiver.delivered().is_empty());
    // The call's end (at shutdown) made more events: they are queued too.
    let (second, addr) = serve(&state, &callback).await;
    assert!(kept_at_start(&second).await >= queued.len());
    assert_resumes(addr, &before, EVENTS / 2).await;
    assert_all_arrive(&receiver, &queued).await;
}

#[tokio::test]
async fn webhooks_queued_at_sigkill_are_sent_after_the_restart_with_their_ids() {
    let (receiver, callback) = Receiver::start().await;
    let state = StateDir::new("sigkill");
    let (first, addr) = serve(&state, &callback).await;
    let mut sse = EventStream::open(&events_url(addr), &[BEARER]).await;
    // The call stays open: it is live when the server goes.
    let (_call, before) = queue_events(addr, &mut sse).await;
    let queued = cloud_ids(&before);
    assert!(queued.len() >= EVENTS, "{queued:?}");
    // SIGKILL.
    drop(first);
    assert!(receiver.delivered().is_empty());
    let (second, addr) = serve(&state, &callback).await;
    assert_eq!(kept_at_start(&second).await, queued.len());
    assert_resumes(addr, &before, EVENTS / 2).await;
    assert_all_arrive(&receiver, &queued).await;
}
