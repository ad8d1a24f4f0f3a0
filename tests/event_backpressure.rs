//! SSE memory is bounded in bytes, on a real server: a subscriber that never reads
//! while many large events are produced (media-operation API requests with a large
//! `operationContext`) holds at most `event_subscriber_bytes` queued, and misses the rest
//! (counted); a subscriber that reads still gets every event; subscribers over
//! `max_event_subscribers` get 503.

mod common;

use std::time::Duration;

use base64::Engine;
use common::http_peer::{ApiClient, open_call};
use common::*;
use futures_util::StreamExt;
use serde_json::json;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::server::Config;

const KEY: &[u8] = b"backpressure test key, 32 bytes.";
const EVENT_TOKEN: &str = "backpressure-token";
/// `event_subscriber_bytes` of the test server.
const BOUND: usize = 256 << 10;
/// Size of each request's `operationContext` (within the 4096-character limit).
const CONTEXT_BYTES: usize = 4_000;
/// Requests made; their events (about 5 MB) far exceed the bound and the socket
/// buffers between the server and the stalled subscriber.
const REQUESTS: usize = 1_200;

/// A gauge or counter of the server's `/metrics` text.
async fn metric(server: &TestServer, name: &str) -> u64 {
    let (_, text) = http_get(server.addr, "/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[tokio::test]
async fn a_subscriber_that_never_reads_holds_a_bounded_number_of_bytes() {
    let server = start(Config {
        access_key: Some(base64::engine::general_purpose::STANDARD.encode(KEY)),
        event_token: Some(EVENT_TOKEN.to_owned()),
        event_subscriber_bytes: BOUND,
        max_event_subscribers: 2,
        ..Config::default()
    })
    .await;
    let bearer = format!("Bearer {EVENT_TOKEN}");
    let auth = [("authorization", bearer.as_str())];
    let path = "/v1/calls/big/events";
    let mut reader = Sse::connect_with(server.addr, path, &auth).await;
    // The stalled subscriber reads its response head, then nothing; a small receive
    // buffer makes the server feel it soon.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4_096).unwrap();
    let stalled_stream = socket.connect(server.addr).await.unwrap();
    let stalled = Sse::try_connect_on(stalled_stream, server.addr, path, &auth)
        .await
        .unwrap();
    // A third subscriber is over max_event_subscribers.
    let third = Sse::try_connect(server.addr, "/v1/events", &auth).await;
    let Err(head) = third else {
        panic!("a third subscriber was accepted")
    };
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");

    let mut call = open_call(&server, "big", Encoding::Ulaw, SampleRate::HZ_8000, None).await;
    // The raw client gets its events on its socket too: read them, so its session never
    // waits on it.
    tokio::spawn(async move { while let Some(Ok(_)) = call.next().await {} });
    let client = ApiClient::new(server.addr, KEY);
    let filler = "x".repeat(CONTEXT_BYTES);
    for i in 0..REQUESTS {
        let context = format!("{i}-{filler}");
        let body = json!({
            "playSources": [{"kind": "file", "file": {"uri": "file:///nonexistent/x.wav"}}],
            "operationContext": context,
        });
        let (status, reply) = client.operation("big", "play", &body).await;
        assert_eq!(status, 202, "{reply}");
        // The reading subscriber gets every event, in order.
        loop {
            let e = tokio::time::timeout(Duration::from_secs(20), reader.next())
                .await
                .expect("event in time");
            if e["type"] == "Microsoft.Communication.PlayFailed" {
                assert_eq!(e["data"]["operationContext"], context.as_str());
                break;
            }
        }
        if i % 50 != 0 {
            continue;
        }
        let buffered = metric(&server, "tonegate_sse_buffered_bytes").await as usize;
        assert!(
            buffered <= 2 * BOUND,
            "{buffered} bytes buffered for two subscribers of at most {BOUND} each"
        );
    }
    let missed = metric(&server, "tonegate_sse_missed_events_total").await;
    assert!(missed > 0, "the stalled subscriber never reached its bound");

    // Once the stalled subscriber goes, what it held is released.
    drop(stalled);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if metric(&server, "tonegate_sse_subscribers").await == 1
            && metric(&server, "tonegate_sse_buffered_bytes").await == 0
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stalled subscriber's bytes were never released"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A subscriber that falls behind is not left to lose events silently: it is cut off. It
/// still gets every event queued for it, in order and gapless (only one call makes events
/// here), then a last event `lagged` naming the id to resume from, and its stream ends.
#[tokio::test]
async fn a_subscriber_that_falls_behind_is_cut_off_with_the_id_to_resume_from() {
    let server = start(Config {
        access_key: Some(base64::engine::general_purpose::STANDARD.encode(KEY)),
        event_token: Some(EVENT_TOKEN.to_owned()),
        event_subscriber_bytes: BOUND,
        ..Config::default()
    })
    .await;
    let bearer = format!("Bearer {EVENT_TOKEN}");
    let auth = [("authorization", bearer.as_str())];
    let path = "/v1/calls/big/events";
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4_096).unwrap();
    let slow_stream = socket.connect(server.addr).await.unwrap();
    let mut slow = Sse::try_connect_on(slow_stream, server.addr, path, &auth)
        .await
        .unwrap();

    let mut call = open_call(&server, "big", Encoding::Ulaw, SampleRate::HZ_8000, None).await;
    tokio::spawn(async move { while let Some(Ok(_)) = call.next().await {} });
    let client = ApiClient::new(server.addr, KEY);
    let filler = "x".repeat(CONTEXT_BYTES);
    let mut requests = 0;
    while metric(&server, "tonegate_sse_cut_off_total").await == 0 {
        assert!(
            requests < 3 * REQUESTS,
            "the slow subscriber was never cut off"
        );
        let body = json!({
            "playSources": [{"kind": "file", "file": {"uri": "file:///nonexistent/x.wav"}}],
            "operationContext": format!("{requests}-{filler}"),
        });
        let (status, reply) = client.operation("big", "play", &body).await;
        assert_eq!(status, 202, "{reply}");
        requests += 1;
    }

    // Now it reads: everything queued, then the cut-off notice, then the end.
    let mut last_id: Option<u64> = None;
    let mut contexts = 0;
    let lagged = loop {
        let (id, event) = tokio::time::timeout(Duration::from_secs(20), slow.next_with_id())
            .await
            .expect("event in time");
        if event["type"] == "lagged" {
            // No id of its own: a reconnecting client's last id is the last event it got.
            assert_eq!(id, None, "{event}");
            break event;
        }
        let id = id.expect("every event has an id");
        if let Some(last) = last_id {
            assert_eq!(id, last + 1, "a gap before {event}");
        }
        last_id = Some(id);
        if let Some(context) = event["data"]["operationContext"].as_str() {
            assert!(context.starts_with(&format!("{contexts}-")), "out of order");
            contexts += 1;
        }
    };
    let resume = last_id.expect("events before the cut-off") + 1;
    assert_eq!(lagged["resumeFrom"], resume, "{lagged}");
    let message = lagged["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("resume from id {resume}")),
        "{message}"
    );
    assert!(
        contexts > 0 && contexts < requests,
        "{contexts} of {requests}"
    );
    let end = tokio::time::timeout(Duration::from_secs(20), slow.next_or_end())
        .await
        .expect("the stream ends in time");
    assert!(end.is_none(), "an event after the cut-off: {end:?}");
    assert!(metric(&server, "tonegate_sse_missed_events_total").await > 0);
}
