//! With `state_dir`, webhooks survive restarts, on the real binary: ten CloudEvents are
//! queued against a receiver that is down (it answers 503), the server is stopped
//! (SIGTERM: it tries for `shutdown_grace_ms`, then keeps the rest; SIGKILL: no chance to
//! do anything), started again, and the receiver comes up. Every event arrives, with
//! the CloudEvent id and `webhook-id` it had, in the call's order; a repeat is only ever
//! the same id. An SSE client resumes across the restart with `Last-Event-ID`.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use common::event_stream::{EventStream, Message};
use common::logged::LoggedServe;
use common::webhook::SwitchedReceiver;
use common::*;
use tonegate::SampleRate;
use tonegate::codec::Encoding;

const KEY: &[u8] = b"durability test key, 32 bytes..";
const EVENT_TOKEN: &str = "durability-event-token";
/// CloudEvents queued while the receiver is down.
const EVENTS: usize = 10;

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
async fn assert_all_arrive(receiver: &SwitchedReceiver, queued: &[String]) {
    receiver.set_up(true);
    wait_until(
        "every queued webhook delivered",
        Duration::from_secs(60),
        || {
            queued
                .iter()
                .all(|id| receiver.delivered_ids().contains(id))
        },
    )
    .await;
    let delivered = receiver.delivered_ids();
    assert_eq!(&delivered[..queued.len()], queued, "out of order");
    // A repeat is the same event under the same id: every id POSTed (also those tried
    // while the receiver was down) is one that got delivered, and each POST's
    // `webhook-id` is its event's id.
    let delivered: HashSet<String> = delivered.into_iter().collect();
    for post in receiver.posts() {
        let id = post.event["id"].as_str().expect("an event id");
        assert_eq!(post.webhook_id, id, "webhook-id is not the event id");
        assert!(delivered.contains(id), "{id} was tried, never delivered");
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
    let (receiver, callback) = SwitchedReceiver::start(KEY, false).await;
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
    let (receiver, callback) = SwitchedReceiver::start(KEY, false).await;
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
