//! Webhooks across a cluster and a node's death, end to end: one real `nats-server -js`,
//! three real `tonegate serve` processes (tests/common/cluster.rs) and one webhook
//! receiver that counts by CloudEvent id.
//! - Calls on every node, the receiver down (503) for 10 s in the middle: every event
//!   arrives, each call's in order, a repeat only ever under the same id.
//! - A node SIGKILLed mid-call with continuous recognition running: one surviving node
//!   adopts it; the receiver gets the dead node's unfinished webhooks (same ids), then
//!   ContinuousDtmfRecognitionToneFailed and the queued recognize's RecognizeCanceled;
//!   REST for the call answers 404; the dead node's partition is empty afterwards.
//! - The call reconnecting on another node after its node's death is accepted and its
//!   continuous-DTMF `sequenceId`s carry on without a gap; a second socket for the call
//!   while its node lives is refused (1008 `duplicateCallId`).
//! - An owner alive in the cluster but not answering (SIGSTOP): REST for its call
//!   through another node answers 503 with `Retry-After: 1`, and the owner's answer
//!   again once it runs (SIGCONT).
//!
//! Needs `nats-server` (scripts/test installs it); fails, saying so, without it.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::cluster::{Nats, Node, closed, start_nodes};
use common::http_peer::ApiClient;
use common::webhook::SwitchedReceiver;
use common::*;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tonegate::SampleRate;
use tonegate::codec::Encoding;

const KEY: &[u8] = b"tonegate failover test key 32 b!";
/// Generous: several processes share a busy box.
const LIMIT: Duration = Duration::from_secs(60);
const API: &str = "api-version=2026-03-12";

/// The event's name without `Microsoft.Communication.`.
fn name(event: &Value) -> &str {
    event["type"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("Microsoft.Communication.")
}

fn key_b64() -> String {
    b64(KEY)
}

/// The nodes' settings: the receiver as the callback, a retry window longer than any
/// outage here.
fn env<'a>(key: &'a str, callback: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("TONEGATE_ACCESS_KEY", key),
        ("TONEGATE_CALLBACK_URI", callback),
        ("TONEGATE_WEBHOOK_RETRY_MS", "600000"),
    ]
}

/// A raw-dialect call (µ-law, 8 kHz) streaming in real time to `node`; returns once the
/// cluster lists it.
async fn open(node: &Node, call_id: &str) -> LiveCall {
    let ws = connect(node.addr, "/media/raw").await;
    let start = json!({"type": "start", "callId": call_id, "encoding": "ulaw", "sampleRate": 8000});
    let call = LiveCall::stream(ws, start.to_string(), SampleRate::HZ_8000, |f| {
        Message::binary(encode(f, Encoding::Ulaw))
    })
    .await;
    until_status(&ApiClient::new(node.addr, KEY), call_id, 200).await;
    call
}

/// Waits until `GET` of `call_id` through `api` answers `status`.
async fn until_status(api: &ApiClient, call_id: &str, status: u16) {
    let path = format!("/calling/callConnections/{call_id}?{API}");
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let (got, body) = api.send("GET", &path, "", |_, _, _| {}).await;
        if got == status {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "GET {call_id} still answers {got} ({body}), not {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts and stops continuous recognition on `call` with context `c<i>` for each `i`:
/// one ContinuousDtmfRecognitionStopped CloudEvent each.
fn make_events(call: &LiveCall, contexts: std::ops::Range<usize>) {
    for i in contexts {
        call.send(Message::text(format!(
            r#"{{"type":"startContinuousDtmf","context":"c{i}"}}"#
        )));
        call.send(Message::text(format!(
            r#"{{"type":"stopContinuousDtmf","context":"c{i}"}}"#
        )));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_webhook_arrives_in_order_across_nodes_and_a_receiver_outage() {
    /// Calls per node.
    const CALLS: usize = 2;
    /// Events per call in each of the four phases.
    const PER_PHASE: usize = 4;
    let nats = Nats::start().await;
    let (receiver, callback) = SwitchedReceiver::start(KEY, true).await;
    let key = key_b64();
    let nodes = start_nodes(&nats, &["n1", "n2", "n3"], &env(&key, &callback)).await;
    let mut calls = Vec::new();
    for node in &nodes {
        for k in 0..CALLS {
            let call_id = format!("hook-{}-{k}", node.id);
            calls.push((call_id.clone(), open(node, &call_id).await));
        }
    }

    // Up, then down for 10 s with events made at its start and in its middle, then up.
    let phase = |n: usize| {
        for (_, call) in &calls {
            make_events(call, n * PER_PHASE..(n + 1) * PER_PHASE);
        }
    };
    phase(0);
    receiver.set_up(false);
    phase(1);
    wait_until("a POST refused during the outage", LIMIT, || {
        receiver.posts().iter().any(|p| !p.delivered)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    phase(2);
    tokio::time::sleep(Duration::from_secs(5)).await;
    receiver.set_up(true);
    phase(3);

    let total = 4 * PER_PHASE;
    let expected: Vec<String> = (0..total).map(|i| format!("c{i}")).collect();
    let per_call = |call_id: &str| -> Vec<String> {
        receiver
            .delivered()
            .iter()
            .filter(|e| e["data"]["callConnectionId"] == call_id)
            .filter(|e| name(e) == "ContinuousDtmfRecognitionStopped")
            .map(|e| e["data"]["operationContext"].as_str().unwrap().to_owned())
            .collect()
    };
    wait_until("every event of every call delivered", LIMIT, || {
        calls
            .iter()
            .all(|(call_id, _)| per_call(call_id).len() >= total)
    })
    .await;
    // Each call's events arrived in the order they were made, each once by id.
    for (call_id, _) in &calls {
        assert_eq!(per_call(call_id), expected, "{call_id}: out of order");
    }
    // A repeat is the same event under the same id: no event arrived under two ids,
    // and every id tried was delivered.
    let mut ids: HashMap<(String, String), String> = HashMap::new();
    let delivered: Vec<Value> = receiver.delivered();
    for post in receiver.posts() {
        let event = &post.event;
        let what = (
            event["data"]["callConnectionId"].to_string(),
            format!("{}{}", name(event), event["data"]["operationContext"]),
        );
        let id = event["id"].as_str().unwrap().to_owned();
        let first = ids.entry(what.clone()).or_insert_with(|| id.clone());
        assert_eq!(*first, id, "{what:?} came under two ids");
        assert!(
            delivered.iter().any(|e| e["id"] == id.as_str()),
            "{id} was tried, never delivered"
        );
    }
    assert_eq!(delivered.len(), calls.len() * total, "{delivered:#?}");
    for (_, call) in calls {
        call.lose();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_webhooks_and_lost_streams_are_adopted_by_one_node() {
    let nats = Nats::start().await;
    let (receiver, callback) = SwitchedReceiver::start(KEY, true).await;
    let key = key_b64();
    let env = env(&key, &callback);
    let mut nodes = start_nodes(&nats, &["n1", "n2", "n3"], &env).await;
    let via_n2 = ApiClient::new(nodes[1].addr, KEY);

    // Continuous recognition on n1's call; a first tone arrives.
    let call = open(&nodes[0], "dead-1").await;
    call.send(Message::text(
        r#"{"type":"startContinuousDtmf","context":"cont"}"#,
    ));
    call.press("5", SampleRate::HZ_8000);
    let first = receiver
        .until("the first tone", |e| {
            name(e) == "ContinuousDtmfRecognitionToneReceived"
        })
        .await;
    assert_eq!(first["data"]["sequenceId"], 1, "{first}");

    // A recognize is queued (forwarded from n2); the receiver goes down; a second tone
    // is tried (503) and stays unfinished.
    let recognize = json!({
        "recognizeInputType": "dtmf",
        "playPrompts": [],
        "recognizeOptions": {
            "targetParticipant": {"rawId": "4:+15551234567", "phoneNumber": {"value": "+15551234567"}},
            "initialSilenceTimeoutInSeconds": 60,
            "dtmfOptions": {"maxTonesToCollect": 3},
        },
        "operationContext": "rec",
    });
    let (status, reply) = via_n2.operation("dead-1", "recognize", &recognize).await;
    assert_eq!(status, 202, "{reply}");
    receiver.set_up(false);
    call.press("6", SampleRate::HZ_8000);
    let mut unfinished = None;
    wait_until("the second tone tried", LIMIT, || {
        unfinished = receiver
            .posts()
            .into_iter()
            .find(|p| !p.delivered && p.event["data"]["sequenceId"] == 2);
        unfinished.is_some()
    })
    .await;
    let unfinished = unfinished.unwrap().event;

    // n1 dies (SIGKILL); its call answers 404 from the others.
    drop(nodes.remove(0));
    call.lose();
    until_status(&via_n2, "dead-1", 404).await;

    // The receiver comes back: the unfinished tone arrives under its id, then the
    // lost stream's ToneFailed and the queued recognize's RecognizeCanceled.
    receiver.set_up(true);
    let failed = receiver
        .until("ContinuousDtmfRecognitionToneFailed", |e| {
            name(e) == "ContinuousDtmfRecognitionToneFailed"
        })
        .await;
    assert_eq!(failed["data"]["callConnectionId"], "dead-1", "{failed}");
    assert_eq!(failed["data"]["operationContext"], "cont", "{failed}");
    assert_eq!(
        failed["data"]["resultInformation"],
        json!({"code": 500, "subCode": 9999, "message": "The audio stream was lost; continuous DTMF recognition stopped."}),
        "{failed}"
    );
    let canceled = receiver
        .until("RecognizeCanceled", |e| name(e) == "RecognizeCanceled")
        .await;
    assert_eq!(canceled["data"]["operationContext"], "rec", "{canceled}");
    assert_eq!(
        canceled["data"]["resultInformation"]["subCode"], 8508,
        "{canceled}"
    );
    let order: Vec<Value> = receiver
        .delivered()
        .into_iter()
        .filter(|e| e["data"]["callConnectionId"] == "dead-1")
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(
        order,
        vec![
            first["id"].clone(),
            unfinished["id"].clone(),
            failed["id"].clone(),
            canceled["id"].clone()
        ],
        "{:#?}",
        receiver.delivered()
    );

    // Exactly one node adopted n1, and n1's partition is empty: n1 started again under
    // its id finds nothing kept.
    let adopters = |nodes: &[Node]| {
        nodes
            .iter()
            .filter(|n| {
                n.serve
                    .lines()
                    .iter()
                    .any(|l| l.contains("adopted a dead node") && l.contains("dead=n1"))
            })
            .count()
    };
    wait_until("n1 adopted", LIMIT, || adopters(&nodes) >= 1).await;
    let n1 = Node::start(&nats, "n1", &env).await;
    let joined = n1.serve.line_with("joined the cluster").await;
    assert!(joined.contains("pending_webhooks=0"), "{joined}");
    assert_eq!(adopters(&nodes), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_reconnecting_after_its_nodes_death_carries_on_its_sequence_ids() {
    let nats = Nats::start().await;
    let (receiver, callback) = SwitchedReceiver::start(KEY, true).await;
    let key = key_b64();
    let mut nodes = start_nodes(&nats, &["n1", "n2"], &env(&key, &callback)).await;
    let tone = |context: &'static str, sequence: u64| {
        move |e: &Value| {
            name(e) == "ContinuousDtmfRecognitionToneReceived"
                && e["data"]["operationContext"] == context
                && e["data"]["sequenceId"] == sequence
        }
    };

    // Two tones on n1.
    let call = open(&nodes[0], "move-1").await;
    call.send(Message::text(
        r#"{"type":"startContinuousDtmf","context":"before"}"#,
    ));
    call.press("5", SampleRate::HZ_8000);
    receiver.until("tone 1", tone("before", 1)).await;
    call.press("6", SampleRate::HZ_8000);
    receiver.until("tone 2", tone("before", 2)).await;

    // A second socket for the call while n1 lives: refused.
    let ws = connect(nodes[1].addr, "/media/raw").await;
    let start =
        json!({"type": "start", "callId": "move-1", "encoding": "ulaw", "sampleRate": 8000});
    let mut duplicate = LiveCall::stream(ws, start.to_string(), SampleRate::HZ_8000, |f| {
        Message::binary(encode(f, Encoding::Ulaw))
    })
    .await;
    let (code, errors) = closed(&mut duplicate).await;
    assert_eq!(code, 1008, "{errors:?}");
    assert!(
        errors.iter().any(|e| e["code"] == "duplicateCallId"),
        "{errors:?}"
    );

    // n1 dies; once n2 has adopted it (ToneFailed sent), the call reconnects on n2 and
    // its next tone is number 3.
    drop(nodes.remove(0));
    call.lose();
    receiver
        .until("ToneFailed", |e| {
            name(e) == "ContinuousDtmfRecognitionToneFailed"
        })
        .await;
    let again = open(&nodes[0], "move-1").await;
    again.send(Message::text(
        r#"{"type":"startContinuousDtmf","context":"after"}"#,
    ));
    again.press("7", SampleRate::HZ_8000);
    let next = receiver
        .until("tone 3", |e| {
            name(e) == "ContinuousDtmfRecognitionToneReceived"
                && e["data"]["operationContext"] == "after"
        })
        .await;
    assert_eq!(next["data"]["sequenceId"], 3, "{next}");
    assert_eq!(next["data"]["tone"], "seven", "{next}");
    again.lose();
}

/// Sends `signal` (`STOP`, `CONT`) to process `pid`.
fn signal_process(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// A stopped process, continued when dropped (also if the test fails).
struct Stopped(u32);

impl Stopped {
    fn new(pid: u32) -> Stopped {
        signal_process(pid, "STOP");
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        signal_process(self.0, "CONT");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_that_does_not_answer_gets_503_with_retry_after() {
    let nats = Nats::start().await;
    let key = key_b64();
    // A short request timeout, and a TTL long enough that the stopped owner stays
    // alive in the cluster for the whole test.
    let env = [
        ("TONEGATE_ACCESS_KEY", key.as_str()),
        ("TONEGATE_CLUSTER_REQUEST_TIMEOUT_MS", "500"),
        ("TONEGATE_CLUSTER_NODE_TTL_MS", "60000"),
    ];
    let nodes = start_nodes(&nats, &["n1", "n2"], &env).await;
    let via_n2 = ApiClient::new(nodes[1].addr, KEY);
    let call = open(&nodes[0], "stop-1").await;
    until_status(&via_n2, "stop-1", 200).await;

    let stopped = Stopped::new(nodes[0].serve.pid());
    let path = format!("/calling/callConnections/stop-1?{API}");
    let (status, headers, body) = via_n2.exchange("GET", &path, "", |_, _, _| {}).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1"),
        "{headers:?}"
    );
    assert_eq!(body["error"]["code"], "ServiceUnavailable", "{body}");
    let play =
        json!({"playSources": [{"kind": "file", "file": {"uri": "file:///nonexistent.wav"}}]});
    let (status, body) = via_n2.operation("stop-1", "play", &play).await;
    assert_eq!(status, 503, "{body}");

    // The owner runs again: its answers come back.
    drop(stopped);
    until_status(&via_n2, "stop-1", 200).await;
    call.lose();
}
