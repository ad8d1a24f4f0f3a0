//! SSE resume, on a real server with a real SSE client (reqwest): a client that
//! reconnects with `Last-Event-ID` (or `?lastEventId=` when it cannot set headers) gets
//! exactly the events it missed, as its stream shows them (one call's, or every call's),
//! then the live ones, with no gap and no duplicate, also while events keep coming
//! during the replay. An id no longer retained is told first (`missed`).

mod common;

use std::time::Duration;

use common::event_stream::{EventStream, Message};
use common::marks::MarkingCall;
use common::*;
use tonegate::server::Config;

/// Starts call `call_id` on `server` (see [`MarkingCall`]) and waits until the server
/// has registered it.
async fn open_call(server: &TestServer, call_id: &str) -> MarkingCall {
    let call = MarkingCall::open(server.addr, call_id).await;
    let handle = server.handle.clone();
    let id = call_id.to_owned();
    wait_until("the call registered", Duration::from_secs(10), || {
        handle.registry().calls().iter().any(|c| c == id.as_str())
    })
    .await;
    call
}

/// Whether `m` is the mark event `name`.
fn is_mark(m: &Message, name: &str) -> bool {
    m.data["type"] == "mark" && m.data["name"] == name
}

fn url(server: &TestServer, path: &str) -> String {
    format!("http://{}{path}", server.addr)
}

/// The ids of `messages`.
fn ids(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.id.expect("an id")).collect()
}

#[tokio::test]
async fn a_resumed_stream_gets_exactly_the_missed_events_of_its_call_then_the_live_ones() {
    let server = start(Config::default()).await;
    let path = "/v1/calls/a/events";
    let mut reference = EventStream::open(&url(&server, path), &[]).await;
    let mut first = EventStream::open(&url(&server, path), &[]).await;
    let mut a = open_call(&server, "a").await;
    let mut b = open_call(&server, "b").await;

    a.mark("a1").await;
    let got = first.until(|m| is_mark(m, "a1")).await;
    let last = got.last().unwrap().id.expect("an id");
    drop(first);
    // Missed while disconnected: call a's and call b's events.
    a.mark("a2").await;
    b.mark("b1").await;
    a.mark("a3").await;
    b.mark("b2").await;
    let all = reference.until(|m| is_mark(m, "a3")).await;

    let last_header = last.to_string();
    let mut resumed =
        EventStream::open(&url(&server, path), &[("last-event-id", &last_header)]).await;
    a.mark("a4").await;
    let all: Vec<Message> = all
        .into_iter()
        .chain(reference.until(|m| is_mark(m, "a4")).await)
        .collect();
    let expected: Vec<Message> = all.into_iter().filter(|m| m.id.unwrap() > last).collect();
    assert!(
        expected.iter().any(|m| is_mark(m, "a2"))
            && expected.iter().all(|m| m.data["callId"] == "a"),
        "{expected:#?}"
    );
    let got = resumed.until(|m| is_mark(m, "a4")).await;
    assert_eq!(
        got, expected,
        "the resumed stream differs from the reference"
    );
}

#[tokio::test]
async fn the_last_event_id_parameter_resumes_a_client_that_cannot_set_headers() {
    let server = start(Config::default()).await;
    let mut reference = EventStream::open(&url(&server, "/v1/events"), &[]).await;
    let mut a = open_call(&server, "a").await;
    let mut b = open_call(&server, "b").await;
    a.mark("a1").await;
    b.mark("b1").await;
    let before = reference.until(|m| is_mark(m, "b1")).await;
    let last = before[before.len() / 2].id.unwrap();

    let resumed_url = url(&server, &format!("/v1/events?lastEventId={last}"));
    let mut resumed = EventStream::open(&resumed_url, &[]).await;
    a.mark("a2").await;
    let after = reference.until(|m| is_mark(m, "a2")).await;
    let got = resumed.until(|m| is_mark(m, "a2")).await;
    // Every call's events, numbered without a gap from the one after `last`.
    let expected: Vec<u64> = (last + 1..=after.last().unwrap().id.unwrap()).collect();
    assert_eq!(ids(&got), expected);
    let reference_tail: Vec<Message> = before
        .into_iter()
        .chain(after)
        .filter(|m| m.id.unwrap() > last)
        .collect();
    assert_eq!(got, reference_tail);
}

#[tokio::test]
async fn an_id_no_longer_retained_is_told_as_missed_before_the_replay() {
    const KEPT: usize = 4;
    let server = start(Config {
        event_log_max_events: KEPT,
        ..Config::default()
    })
    .await;
    let mut reference = EventStream::open(&url(&server, "/v1/events"), &[]).await;
    let mut a = open_call(&server, "a").await;
    for i in 0..10 {
        a.mark(&format!("m{i}")).await;
    }
    let all = reference.until(|m| is_mark(m, "m9")).await;
    let last = all[0].id.unwrap();
    let retained = &all[all.len() - KEPT..];
    let first_retained = retained[0].id.unwrap();

    let last_header = last.to_string();
    let mut resumed = EventStream::open(
        &url(&server, "/v1/events"),
        &[("last-event-id", &last_header)],
    )
    .await;
    let missed = resumed.next().await;
    assert_eq!(missed.event, "missed", "{missed:?}");
    assert_eq!(missed.id, None, "a notice has no id of its own");
    assert_eq!(
        missed.data["count"],
        first_retained - last - 1,
        "{missed:?}"
    );
    assert_eq!(missed.data["resumeFrom"], first_retained, "{missed:?}");
    let got = resumed.until(|m| is_mark(m, "m9")).await;
    assert_eq!(got, retained);
    // Then live.
    a.mark("m10").await;
    let live = resumed.next().await;
    assert!(is_mark(&live, "m10"), "{live:?}");
    assert_eq!(live.id, Some(retained[KEPT - 1].id.unwrap() + 1));
}

#[tokio::test]
async fn events_appended_while_the_replay_is_sent_are_neither_lost_nor_repeated() {
    const BEFORE: usize = 300;
    const DURING: usize = 600;
    let server = start(Config::default()).await;
    let mut reference = EventStream::open(&url(&server, "/v1/events"), &[]).await;
    let mut a = open_call(&server, "a").await;
    for i in 0..BEFORE {
        a.mark(&format!("m{i}")).await;
    }
    let before = reference
        .until(|m| is_mark(m, &format!("m{}", BEFORE - 1)))
        .await;
    let last = before
        .iter()
        .find(|m| is_mark(m, "m0"))
        .and_then(|m| m.id)
        .unwrap();

    // Marks keep coming while the resumed stream is opened and its replay is sent.
    let producer = tokio::spawn(async move {
        for i in BEFORE..BEFORE + DURING {
            a.mark(&format!("m{i}")).await;
            if i % 20 == 0 {
                tokio::task::yield_now().await;
            }
        }
        a
    });
    let last_header = last.to_string();
    let mut resumed = EventStream::open(
        &url(&server, "/v1/events"),
        &[("last-event-id", &last_header)],
    )
    .await;
    let final_mark = format!("m{}", BEFORE + DURING - 1);
    let got = resumed.until(|m| is_mark(m, &final_mark)).await;
    let _call = producer.await.unwrap();
    let after = reference.until(|m| is_mark(m, &final_mark)).await;

    let expected: Vec<Message> = before
        .into_iter()
        .chain(after)
        .filter(|m| m.id.unwrap() > last)
        .collect();
    let first = got[0].id.unwrap();
    assert_eq!(first, last + 1, "the replay does not start after {last}");
    let got_ids = ids(&got);
    let consecutive: Vec<u64> = (first..first + got.len() as u64).collect();
    assert_eq!(got_ids, consecutive, "a gap or a duplicate");
    assert_eq!(got, expected);
}

#[tokio::test]
async fn a_last_event_id_that_is_no_id_is_refused() {
    let server = start(Config::default()).await;
    for (path, headers) in [
        ("/v1/events", vec![("last-event-id", "abc")]),
        ("/v1/calls/a/events?lastEventId=-3", vec![]),
    ] {
        let refused = EventStream::try_open(&url(&server, path), &headers).await;
        let Err((status, body)) = refused else {
            panic!("{path} accepted")
        };
        assert_eq!(status, 400);
        assert!(body.contains("Last-Event-ID"), "{body}");
    }
}
