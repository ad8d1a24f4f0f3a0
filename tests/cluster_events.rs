//! Events across a cluster, end to end: one real `nats-server -js` and real
//! `tonegate serve` processes on loopback (tests/common/cluster.rs), real SSE clients.
//! Every node's `/v1/events` shows every call's events, whichever node streams them, in
//! one order with one id sequence; a call's own stream shows its events in order on any
//! node; a client resumes on another node with exactly what it missed; an id the
//! stream no longer holds is told as `missed`; a NATS crash and restart mid-call loses
//! no event and repeats none.
//!
//! Needs `nats-server` (scripts/test installs it); fails, saying so, without it.

mod common;

use std::time::Duration;

use common::cluster::{Nats, Node, start_nodes};
use common::event_stream::{EventStream, Message};
use common::marks::MarkingCall;
use common::*;

/// A node's memory keeps this few events, so a resume reaches back into the stream.
const NODE_MEMORY: &str = "4";

/// Whether `m` is the mark event `name`.
fn is_mark(m: &Message, name: &str) -> bool {
    m.data["type"] == "mark" && m.data["name"] == name
}

/// The names of the marks among `messages`, in order.
fn marks(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m.data["type"] == "mark")
        .map(|m| m.data["name"].as_str().unwrap().to_owned())
        .collect()
}

/// `<prefix>0` to `<prefix><n - 1>`.
fn names(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

/// The ids of `messages`.
fn ids(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.id.expect("an id")).collect()
}

/// An SSE stream of `path` on `node`, resuming after `last` if given.
async fn sse(node: &Node, path: &str, last: Option<u64>) -> EventStream {
    let url = format!("http://{}{path}", node.addr);
    match last {
        Some(last) => {
            let header = last.to_string();
            EventStream::open(&url, &[("last-event-id", &header)]).await
        }
        None => EventStream::open(&url, &[]).await,
    }
}

/// Messages of `stream` until it has shown every mark in `names`.
async fn until_marks(stream: &mut EventStream, names: &[String]) -> Vec<Message> {
    let mut out = Vec::new();
    let mut left: Vec<&String> = names.iter().collect();
    while !left.is_empty() {
        let message = stream.next().await;
        left.retain(|n| !is_mark(&message, n));
        out.push(message);
    }
    out
}

/// Whether `text` has the line `line`.
fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

/// Asserts that `ids` go up by one each: one order, no gap, no repeat.
fn assert_consecutive(ids: &[u64]) {
    let first = ids[0];
    let expected: Vec<u64> = (first..first + ids.len() as u64).collect();
    assert_eq!(ids, expected, "a gap or a repeat in the ids");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_streams_every_calls_events_in_one_order() {
    let nats = Nats::start().await;
    let mut nodes = start_nodes(&nats, &["n1", "n2"], &[]).await;
    // One node keeps its webhook deliveries under a state_dir: its events are the stream's.
    let dir = std::env::temp_dir().join(format!("tonegate-cluster-events-{}", std::process::id()));
    let state_dir = dir.to_str().unwrap();
    nodes.push(Node::start(&nats, "n3", &[("TONEGATE_STATE_DIR", state_dir)]).await);
    let mut on_n3 = sse(&nodes[2], "/v1/events", None).await;
    let mut on_n1 = sse(&nodes[0], "/v1/events", None).await;
    let mut b_on_n3 = sse(&nodes[2], "/v1/calls/b/events", None).await;

    let mut a = MarkingCall::open(nodes[0].addr, "a").await;
    let mut b = MarkingCall::open(nodes[1].addr, "b").await;
    for i in 0..20 {
        a.mark(&format!("a{i}")).await;
        b.mark(&format!("b{i}")).await;
    }
    let (a_names, b_names) = (names("a", 0..20), names("b", 0..20));
    let all: Vec<String> = a_names.iter().chain(&b_names).cloned().collect();
    let seen = until_marks(&mut on_n3, &all).await;

    // One order across both nodes' calls: ids one apart, every event once.
    assert_consecutive(&ids(&seen));
    // Each call's events in the order its session made them.
    let of = |call: &str| -> Vec<Message> {
        seen.iter()
            .filter(|m| m.data["callId"] == call)
            .cloned()
            .collect()
    };
    assert_eq!(marks(&of("a")), a_names);
    assert_eq!(marks(&of("b")), b_names);
    assert!(
        of("a").iter().any(|m| m.event == "started")
            && of("b").iter().any(|m| m.event == "started"),
        "{seen:#?}"
    );
    // The owner's node shows the same events with the same ids.
    let from_n1 = until_marks(&mut on_n1, &all).await;
    assert_eq!(from_n1, seen);
    // A call's own stream on a third node: its events only, same ids, in order.
    let b_only = until_marks(&mut b_on_n3, &b_names).await;
    assert_eq!(b_only, of("b"));
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_on_another_node_with_exactly_what_it_missed() {
    let nats = Nats::start().await;
    let env = [("TONEGATE_EVENT_LOG_MAX_EVENTS", NODE_MEMORY)];
    let nodes = start_nodes(&nats, &["n1", "n2"], &env).await;
    let path = "/v1/calls/r/events";
    let mut reference = sse(&nodes[1], path, None).await;
    let mut first = sse(&nodes[0], path, None).await;
    let mut r = MarkingCall::open(nodes[0].addr, "r").await;
    let mut other = MarkingCall::open(nodes[0].addr, "other").await;

    r.marks("r", 0..3).await;
    let got = until_marks(&mut first, &names("r", 2..3)).await;
    let last = got.last().unwrap().id.unwrap();
    drop(first);
    // Missed while away: more than a node's memory holds, with another call's between.
    for i in 3..15 {
        r.mark(&format!("r{i}")).await;
        other.mark(&format!("o{i}")).await;
    }
    let all = until_marks(&mut reference, &names("r", 0..15)).await;

    // The client comes back through the balancer, to the other node.
    let mut resumed = sse(&nodes[1], path, Some(last)).await;
    r.mark("r15").await;
    let all: Vec<Message> = all
        .into_iter()
        .chain(until_marks(&mut reference, &names("r", 15..16)).await)
        .collect();
    let expected: Vec<Message> = all.into_iter().filter(|m| m.id.unwrap() > last).collect();
    assert_eq!(marks(&expected), names("r", 3..16));
    let got = until_marks(&mut resumed, &names("r", 15..16)).await;
    assert_eq!(
        got, expected,
        "the resumed stream differs from the reference"
    );

    // Every call's stream, resumed with the query parameter on the first node.
    let mut everything = sse(&nodes[0], "/v1/events", Some(0)).await;
    let replayed = until_marks(&mut everything, &names("r", 15..16)).await;
    assert!(replayed[0].id.unwrap() <= last, "{replayed:#?}");
    assert_consecutive(&ids(&replayed));
    let url = format!("http://{}/v1/events?lastEventId={last}", nodes[0].addr);
    let mut by_parameter = EventStream::open(&url, &[]).await;
    let tail = until_marks(&mut by_parameter, &names("r", 15..16)).await;
    let expected_tail: Vec<Message> = replayed
        .into_iter()
        .filter(|m| m.id.unwrap() > last)
        .collect();
    assert_eq!(tail, expected_tail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_the_stream_no_longer_holds_is_told_as_missed() {
    let nats = Nats::start().await;
    let env = [("TONEGATE_EVENT_LOG_MAX_EVENTS", NODE_MEMORY)];
    let nodes = start_nodes(&nats, &["n1", "n2"], &env).await;
    let mut reference = sse(&nodes[1], "/v1/events", None).await;
    let mut a = MarkingCall::open(nodes[0].addr, "a").await;
    a.marks("m", 0..10).await;
    let all = until_marks(&mut reference, &names("m", 0..10)).await;
    let id_of = |name: &str| all.iter().find(|m| is_mark(m, name)).unwrap().id.unwrap();

    // The stream lets go of everything before m4 (as its retention would).
    let first_kept = id_of("m4");
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("tonegate_events").await.unwrap();
    stream.purge().sequence(first_kept).await.unwrap();
    assert_eq!(
        stream.info().await.unwrap().state.first_sequence,
        first_kept
    );

    let from = id_of("m1");
    let mut resumed = sse(&nodes[1], "/v1/events", Some(from)).await;
    let missed = resumed.next().await;
    assert_eq!(missed.event, "missed", "{missed:?}");
    assert_eq!(missed.id, None, "a notice has no id of its own");
    assert_eq!(missed.data["count"], first_kept - from - 1, "{missed:?}");
    assert_eq!(missed.data["resumeFrom"], first_kept, "{missed:?}");
    let got = until_marks(&mut resumed, &names("m", 9..10)).await;
    let kept: Vec<Message> = all
        .iter()
        .filter(|m| m.id.unwrap() >= first_kept)
        .cloned()
        .collect();
    assert_eq!(got, kept);
    // Then live.
    a.mark("m10").await;
    let live = resumed.next().await;
    assert!(is_mark(&live, "m10"), "{live:?}");
    assert_eq!(live.id, Some(kept.last().unwrap().id.unwrap() + 1));

    // An id beyond the stream's end (a stream made anew): missed, count unknown.
    let mut ahead = sse(&nodes[0], "/v1/events", Some(1_000_000)).await;
    let missed = ahead.next().await;
    assert_eq!(missed.event, "missed", "{missed:?}");
    assert_eq!(missed.data["count"], serde_json::Value::Null, "{missed:?}");
    a.mark("m11").await;
    let live = ahead.next().await;
    assert!(is_mark(&live, "m11"), "{live:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_crash_mid_call_loses_no_event_and_repeats_none() {
    let mut nats = Nats::start().await;
    // A node TTL far longer than the outage: the call is not fenced meanwhile.
    let env = [("TONEGATE_CLUSTER_NODE_TTL_MS", "120000")];
    let nodes = start_nodes(&nats, &["n1", "n2"], &env).await;
    let mut on_n2 = sse(&nodes[1], "/v1/events", None).await;
    let mut a = MarkingCall::open(nodes[0].addr, "a").await;
    a.marks("m", 0..5).await;
    until_marks(&mut on_n2, &names("m", 0..5)).await;

    // NATS dies (SIGKILL): the events made meanwhile wait in n1's outbox.
    nats.kill();
    a.marks("m", 5..15).await;
    nodes[0]
        .serve
        .line_with("storing an event in the cluster's event stream failed; retrying")
        .await;
    nats.restart().await;
    a.marks("m", 15..20).await;

    let got = until_marks(&mut on_n2, &names("m", 5..20)).await;
    assert_eq!(
        marks(&got),
        names("m", 5..20),
        "lost, repeated or reordered"
    );
    assert_consecutive(&ids(&got));
    // A client that connects now replays all of it from the stream, once each.
    let mut late = sse(&nodes[0], "/v1/calls/a/events", Some(0)).await;
    let replayed = until_marks(&mut late, &names("m", 0..20)).await;
    assert_eq!(marks(&replayed), names("m", 0..20));
    let metrics = http_get(nodes[0].addr, "/metrics").await.1;
    assert!(
        has_line(&metrics, "tonegate_cluster_events_dropped_total 0"),
        "{metrics}"
    );
    // Ensure no later duplicate arrives on the live stream either.
    a.mark("end").await;
    let tail = until_marks(&mut on_n2, &["end".to_owned()]).await;
    assert_eq!(marks(&tail), ["end"], "{tail:#?}");
    assert_eq!(
        tail.last().unwrap().id,
        Some(got.last().unwrap().id.unwrap() + tail.len() as u64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_beyond_a_full_outbox_are_dropped_and_counted_never_silently() {
    const OUTAGE: usize = 40;
    let mut nats = Nats::start().await;
    let env = [
        ("TONEGATE_CLUSTER_NODE_TTL_MS", "120000"),
        // Room for a handful of marks.
        ("TONEGATE_CLUSTER_EVENT_OUTBOX_BYTES", "2000"),
    ];
    let nodes = start_nodes(&nats, &["n1", "n2"], &env).await;
    let mut on_n2 = sse(&nodes[1], "/v1/events", None).await;
    let mut a = MarkingCall::open(nodes[0].addr, "a").await;
    a.mark("before").await;
    until_marks(&mut on_n2, &["before".to_owned()]).await;

    nats.kill();
    a.marks("m", 0..OUTAGE).await;
    nodes[0]
        .serve
        .line_with("the cluster event outbox is full")
        .await;
    nats.restart().await;
    // Once the outbox has emptied, events are kept again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !has_line(
        &http_get(nodes[0].addr, "/metrics").await.1,
        "tonegate_cluster_event_outbox_bytes 0",
    ) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outbox never emptied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.mark("after").await;

    let got = until_marks(&mut on_n2, &["after".to_owned()]).await;
    let kept = marks(&got);
    assert_eq!(kept.last().map(String::as_str), Some("after"));
    let kept = &kept[..kept.len() - 1];
    // What was kept arrives in order, once each.
    let order: Vec<usize> = kept.iter().map(|m| m[1..].parse().unwrap()).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{kept:?}");
    assert!(!kept.is_empty() && kept.len() < OUTAGE, "{kept:?}");
    // ... and every mark not kept is counted.
    let metrics = http_get(nodes[0].addr, "/metrics").await.1;
    let dropped = format!(
        "tonegate_cluster_events_dropped_total {}",
        OUTAGE - kept.len()
    );
    assert!(has_line(&metrics, &dropped), "{dropped} not in {metrics}");
    assert_consecutive(&ids(&got));
}
