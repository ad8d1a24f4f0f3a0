//! CloudEvent webhook delivery end to end, against a real receiver (an axum server in the
//! test) fed by raw-dialect calls whose continuous DTMF recognition makes events:
//! retries on 5xx, 429 and a timed-out POST with growing gaps and the same event `id`,
//! every attempt signed; events of a call queued behind a failing one and delivered in
//! order; a 503's `Retry-After` honoured; other 4xx not retried; giving up after
//! `webhook_retry_ms` with later events still flowing; and a failing receiver of one call
//! not delaying another call.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use common::http_peer::{Peer, Seen, open_call};
use common::*;
use serde_json::Value;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::server::Config;

const KEY: &[u8] = b"webhook delivery test key 32 b..";
const LIMIT: Duration = Duration::from_secs(30);
const RATE: SampleRate = SampleRate::HZ_8000;

/// How the receiver answers one POST.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    /// 503 with this `Retry-After` value.
    Busy(&'static str),
    /// Never answers in time (longer than any test's `webhook_timeout_ms`).
    Hang,
}

/// Decides the reply from the hook name (`/hook/{name}`), the event, and which attempt
/// at this event `id` this is (from 1).
type Policy = dyn Fn(&str, &Value, usize) -> Reply + Send + Sync;

struct Receiver {
    attempts: Mutex<HashMap<String, usize>>,
    policy: Box<Policy>,
}

async fn hook(
    State(receiver): State<Arc<Receiver>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let batch: Vec<Value> = serde_json::from_slice(&body).unwrap_or_default();
    let event = batch.first().cloned().unwrap_or(Value::Null);
    let attempt = {
        let mut attempts = receiver.attempts.lock().unwrap();
        let n = attempts
            .entry(event["id"].as_str().unwrap_or("").to_owned())
            .or_default();
        *n += 1;
        *n
    };
    match (receiver.policy)(&name, &event, attempt) {
        Reply::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Reply::Busy(retry_after) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(RETRY_AFTER, retry_after)],
        )
            .into_response(),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            StatusCode::OK.into_response()
        }
    }
}

async fn receiver(policy: impl Fn(&str, &Value, usize) -> Reply + Send + Sync + 'static) -> Peer {
    let state = Arc::new(Receiver {
        attempts: Mutex::new(HashMap::new()),
        policy: Box::new(policy),
    });
    Peer::serve(
        Router::new()
            .route("/hook/{name}", axum::routing::post(hook))
            .with_state(state),
    )
    .await
}

/// A server whose audio sockets may send their events to `peer`.
async fn server(peer: &Peer, config: Config) -> TestServer {
    let config = Config {
        access_key: Some(base64::engine::general_purpose::STANDARD.encode(KEY)),
        ..config
    };
    start(with_callbacks(config, &[&peer.url("/")])).await
}

/// The continuous-DTMF sequence id of a CloudEvent (0 for events without one).
fn seq(event: &Value) -> u64 {
    event["data"]["sequenceId"].as_u64().unwrap_or(0)
}

/// The one CloudEvent of a webhook POST.
fn event(post: &Seen) -> Value {
    let batch = post.json();
    assert_eq!(batch.as_array().map(Vec::len), Some(1), "{batch}");
    batch[0].clone()
}

/// The POSTs to `/hook/{name}`.
fn posts(peer: &Peer, name: &str) -> Vec<Seen> {
    let path = format!("/hook/{name}");
    peer.requests()
        .into_iter()
        .filter(|s| s.path == path)
        .collect()
}

/// The events `/hook/{name}` accepted (2xx), in arrival order.
fn accepted(posts: &[Seen]) -> Vec<(String, u64)> {
    posts
        .iter()
        .filter(|p| p.status.is_some_and(|s| (200..300).contains(&s)))
        .map(|p| {
            let e = event(p);
            (e["type"].as_str().unwrap().to_owned(), seq(&e))
        })
        .collect()
}

/// Waits until `/hook/{name}` has accepted `n` events.
async fn wait_accepted(peer: &Peer, name: &str, n: usize) {
    let path = format!("/hook/{name}");
    peer.wait_for(&format!("{n} events accepted at {path}"), LIMIT, |log| {
        let ok = log
            .iter()
            .filter(|s| s.path == path && s.status.is_some_and(|s| (200..300).contains(&s)))
            .count();
        (ok >= n).then_some(())
    })
    .await;
}

fn assert_signed(posts: &[Seen]) {
    for post in posts {
        webhook::assert_signed(KEY, &post.headers, &post.body);
        assert_eq!(post.headers["content-type"], "application/json");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_with_backoff_keep_id_order_and_signature() {
    // The timed-out attempt comes last: its 300 ms only add to the gap after it.
    let script = [
        Reply::Status(503),
        Reply::Status(500),
        Reply::Status(429),
        Reply::Status(408),
        Reply::Hang,
    ];
    let peer = receiver(move |_, event, attempt| match script.get(attempt - 1) {
        Some(&reply) if seq(event) == 1 => reply,
        _ => Reply::Status(200),
    })
    .await;
    let server = server(
        &peer,
        Config {
            webhook_timeout_ms: 300,
            webhook_retry_ms: 60_000,
            ..Config::default()
        },
    )
    .await;
    let mut ws = open_call(
        &server,
        "retry-1",
        Encoding::Ulaw,
        RATE,
        Some(&peer.url("/hook/a")),
    )
    .await;
    let reported = webhook::press_continuous(&mut ws, "1234").await;
    wait_accepted(&peer, "a", reported.len()).await;

    let posts = posts(&peer, "a");
    assert_signed(&posts);
    // Every event accepted once, in the order the call reported them.
    assert_eq!(accepted(&posts), reported);
    // The first event: five refused or timed-out attempts, then accepted; the same
    // CloudEvent (same id, same bytes) every time.
    let first: Vec<&Seen> = posts.iter().filter(|p| seq(&event(p)) == 1).collect();
    assert_eq!(first.len(), script.len() + 1, "{first:#?}");
    let statuses: Vec<Option<u16>> = first.iter().map(|p| p.status).collect();
    assert_eq!(
        statuses,
        [Some(503), Some(500), Some(429), Some(408), None, Some(200)]
    );
    assert!(first.iter().all(|p| p.body == first[0].body));
    assert!(
        event(first[0])["id"]
            .as_str()
            .is_some_and(|id| id.len() == 36)
    );
    // Exponential backoff: each gap at least the documented wait (250 ms doubling; the
    // jitter only adds to it, so the bound holds whatever the draw).
    let gaps: Vec<Duration> = first.windows(2).map(|w| w[1].at - w[0].at).collect();
    for (i, gap) in gaps.iter().enumerate() {
        assert!(
            *gap >= Duration::from_millis(250 << i),
            "gap {i} is {gap:?}; all {gaps:?}"
        );
    }
    // The events behind the first waited for it: none was posted before it got through.
    let through = posts.iter().position(|p| p.status == Some(200)).unwrap();
    assert!(posts[..through].iter().all(|p| seq(&event(p)) == 1));
    assert_eq!(posts.len(), first.len() + reported.len() - 1);
    server.handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_receivers_retry_after_is_honoured() {
    // The first event is answered 503 with `Retry-After: 1` once, then accepted.
    let peer = receiver(|_, event, attempt| match (seq(event), attempt) {
        (1, 1) => Reply::Busy("1"),
        _ => Reply::Status(200),
    })
    .await;
    let server = server(
        &peer,
        Config {
            webhook_retry_ms: 60_000,
            ..Config::default()
        },
    )
    .await;
    let mut ws = open_call(
        &server,
        "busy-1",
        Encoding::Ulaw,
        RATE,
        Some(&peer.url("/hook/busy")),
    )
    .await;
    let reported = webhook::press_continuous(&mut ws, "1").await;
    wait_accepted(&peer, "busy", reported.len()).await;

    let posts = posts(&peer, "busy");
    assert_eq!(accepted(&posts), reported);
    let first: Vec<&Seen> = posts.iter().filter(|p| seq(&event(p)) == 1).collect();
    let statuses: Vec<Option<u16>> = first.iter().map(|p| p.status).collect();
    assert_eq!(statuses, [Some(503), Some(200)]);
    // The retry waited the second asked for, not the 250 ms first backoff wait.
    let gap = first[1].at - first[0].at;
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}");
    server.handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_final_and_retries_give_up() {
    // 1: 404 and 3: 410 are not retried; 2 is refused with 503 until delivery gives up.
    let peer = receiver(|_, event, _| match seq(event) {
        1 => Reply::Status(404),
        2 => Reply::Status(503),
        3 => Reply::Status(410),
        _ => Reply::Status(204),
    })
    .await;
    let server = server(
        &peer,
        Config {
            webhook_retry_ms: 1_200,
            ..Config::default()
        },
    )
    .await;
    let mut ws = open_call(
        &server,
        "give-up-1",
        Encoding::Ulaw,
        RATE,
        Some(&peer.url("/hook/b")),
    )
    .await;
    let reported = webhook::press_continuous(&mut ws, "1234").await;
    // Tone 4 and the Stopped event still arrive.
    wait_accepted(&peer, "b", 2).await;

    let posts = posts(&peer, "b");
    assert_signed(&posts);
    assert_eq!(accepted(&posts), reported[3..]);
    let attempts = |n: u64| -> Vec<Option<u16>> {
        posts
            .iter()
            .filter(|p| seq(&event(p)) == n)
            .map(|p| p.status)
            .collect()
    };
    assert_eq!(attempts(1), [Some(404)]);
    assert_eq!(attempts(3), [Some(410)]);
    // 503 is retried (250 ms, then 500 ms) until the next wait would pass 1.2 s.
    let retried = attempts(2);
    assert!(
        (2..=3).contains(&retried.len()) && retried.iter().all(|s| *s == Some(503)),
        "{retried:?}"
    );
    // In order: each event's attempts all come before the next event's.
    let order: Vec<u64> = posts.iter().map(|p| seq(&event(p))).collect();
    assert!(
        order.windows(2).all(|w| w[0] <= w[1] || w[1] == 0),
        "{order:?}"
    );
    let dropped = server
        .handle
        .metrics()
        .webhook_dropped
        .with_label_values(&["undeliverable"])
        .get();
    assert_eq!(dropped, 3);
    server.handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_does_not_delay_other_calls() {
    let released = Arc::new(AtomicBool::new(false));
    let gate = released.clone();
    let peer = receiver(move |name, _, _| {
        if name == "stuck" && !gate.load(Ordering::SeqCst) {
            Reply::Status(503)
        } else {
            Reply::Status(200)
        }
    })
    .await;
    let server = server(
        &peer,
        Config {
            webhook_retry_ms: 60_000,
            ..Config::default()
        },
    )
    .await;
    let mut stuck = open_call(
        &server,
        "stuck-1",
        Encoding::Ulaw,
        RATE,
        Some(&peer.url("/hook/stuck")),
    )
    .await;
    let mut free = open_call(
        &server,
        "free-1",
        Encoding::Ulaw,
        RATE,
        Some(&peer.url("/hook/free")),
    )
    .await;

    let stuck_events = webhook::press_continuous(&mut stuck, "12").await;
    peer.wait_for("a refused POST to /hook/stuck", LIMIT, |log| {
        log.iter()
            .any(|s| s.path == "/hook/stuck" && s.status == Some(503))
            .then_some(())
    })
    .await;
    // The other call's events all arrive while the first call's are still refused.
    let free_events = webhook::press_continuous(&mut free, "345").await;
    wait_accepted(&peer, "free", free_events.len()).await;
    assert_eq!(accepted(&posts(&peer, "free")), free_events);
    assert!(accepted(&posts(&peer, "stuck")).is_empty());

    // Once the receiver recovers, the stuck call's events follow, in order.
    released.store(true, Ordering::SeqCst);
    wait_accepted(&peer, "stuck", stuck_events.len()).await;
    let stuck_posts = posts(&peer, "stuck");
    assert_eq!(accepted(&stuck_posts), stuck_events);
    assert_signed(&stuck_posts);
    server.handle.shutdown();
}
