//! Cluster mode end to end: one real `nats-server -js` and real `tonegate serve`
//! processes on loopback (tests/common/cluster.rs). A call's socket on one node, its REST
//! requests on another: every operation is forwarded to the owner and its answer
//! relayed; unknown calls get 404 at once; a call id streams on one node at a time; a
//! killed owner's call answers 404 and can reconnect on another node; a node that loses
//! NATS fences itself and serves again once NATS is back; SIGTERM drains.
//!
//! Needs `nats-server` (scripts/test installs it); fails, saying so, without it.

mod common;

use std::time::Duration;

use common::cluster::{Nats, Node, closed, start_nodes};
use common::http_peer::ApiClient;
use common::logged::LoggedServe;
use common::*;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tonegate::SampleRate;
use tonegate::codec::Encoding;

const KEY: &[u8] = b"tonegate cluster test key 32 b!!";
/// Generous: several processes share a busy box.
const LIMIT: Duration = Duration::from_secs(30);
const API: &str = "api-version=2026-03-12";

fn key_b64() -> String {
    b64(KEY)
}

/// A raw-dialect call (µ-law, 8 kHz) streaming in real time to `node`.
async fn open(node: &Node, call_id: &str) -> LiveCall {
    let ws = connect(node.addr, "/media/raw").await;
    let start = json!({"type": "start", "callId": call_id, "encoding": "ulaw", "sampleRate": 8000});
    LiveCall::stream(ws, start.to_string(), SampleRate::HZ_8000, |f| {
        Message::binary(encode(f, Encoding::Ulaw))
    })
    .await
}

/// `GET` of a call's properties through `api`.
async fn properties(api: &ApiClient, call_id: &str) -> (u16, Value) {
    let path = format!("/calling/callConnections/{call_id}?{API}");
    api.send("GET", &path, "", |_, _, _| {}).await
}

/// Waits until `GET` of `call_id` through `api` answers `status`; returns the body.
async fn until_status(api: &ApiClient, call_id: &str, status: u16) -> Value {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let (got, body) = properties(api, call_id).await;
        if got == status {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "GET {call_id} still answers {got} ({body}), not {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn target() -> Value {
    json!({"rawId": "4:+15551234567", "phoneNumber": {"value": "+15551234567"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_is_forwarded_to_the_owner() {
    let nats = Nats::start().await;
    let (callback, posts) = webhook::start_listener().await;
    let dir = std::env::temp_dir().join(format!("tonegate-cluster-fwd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prompt = write_prompt(&dir);
    let key = key_b64();
    let env = [
        ("TONEGATE_ACCESS_KEY", key.as_str()),
        ("TONEGATE_CALLBACK_URI", callback.as_str()),
        ("TONEGATE_PROMPT_DIR", dir.to_str().unwrap()),
        // Long, so that a 404 for an unknown call shows it did not wait for a reply.
        ("TONEGATE_CLUSTER_REQUEST_TIMEOUT_MS", "30000"),
    ];
    let nodes = start_nodes(&nats, &["n1", "n2", "n3"], &env).await;
    let mut events = webhook::Events::new(posts, KEY);
    let via_n2 = ApiClient::new(nodes[1].addr, KEY);
    let via_n3 = ApiClient::new(nodes[2].addr, KEY);

    // The call streams to n1; n3 answers its properties from n1.
    let call = open(&nodes[0], "fwd-1").await;
    let props = until_status(&via_n3, "fwd-1", 200).await;
    assert_eq!(props["callConnectionId"], "fwd-1", "{props}");
    assert_eq!(
        props["mediaStreamingSubscription"]["dialect"], "raw",
        "{props}"
    );
    assert_eq!(
        props["mediaStreamingSubscription"]["sampleRate"], 8000,
        "{props}"
    );

    // Every operation through n2, each with the owner's answer and effect.
    let play = json!({"playSources": [{"kind": "file", "file": {"uri": format!("file://{}", prompt.display())}}], "operationContext": "play-1"});
    assert_eq!(via_n2.operation("fwd-1", "play", &play).await.0, 202);
    events.until("PlayCompleted", "play-1").await;

    let continuous = json!({"targetParticipant": target(), "operationContext": "cont-1"});
    let (status, _) = via_n2
        .operation("fwd-1", "startContinuousDtmfRecognition", &continuous)
        .await;
    assert_eq!(status, 200);
    call.press("5", SampleRate::HZ_8000);
    let tone = events
        .until("ContinuousDtmfRecognitionToneReceived", "cont-1")
        .await;
    assert_eq!(tone["data"]["tone"], "five");
    assert_eq!(tone["data"]["sequenceId"], 1);
    let (status, _) = via_n2
        .operation("fwd-1", "stopContinuousDtmfRecognition", &continuous)
        .await;
    assert_eq!(status, 200);
    events
        .until("ContinuousDtmfRecognitionStopped", "cont-1")
        .await;

    let recognize = json!({
        "recognizeInputType": "dtmf",
        "playPrompts": [],
        "recognizeOptions": {"targetParticipant": target(), "initialSilenceTimeoutInSeconds": 20, "dtmfOptions": {"maxTonesToCollect": 1}},
        "operationContext": "rec-1",
    });
    assert_eq!(
        via_n2.operation("fwd-1", "recognize", &recognize).await.0,
        202
    );
    call.press("7", SampleRate::HZ_8000);
    let done = events.until("RecognizeCompleted", "rec-1").await;
    assert_eq!(done["data"]["dtmfResult"]["tones"], json!(["seven"]));

    // sendDtmfTones: its reply body comes back as the owner wrote it; a second one while
    // the first sounds gets the owner's 412 with its sub-code.
    // (Eight tones: over a second of sound, so the second request comes while it plays.)
    let tones = [
        "one", "two", "three", "four", "five", "six", "seven", "pound",
    ];
    let send = json!({"tones": tones, "targetParticipant": target(), "operationContext": "send-1"});
    let (status, reply) = via_n2.operation("fwd-1", "sendDtmfTones", &send).await;
    assert_eq!(
        (status, &reply),
        (202, &json!({"operationContext": "send-1"}))
    );
    let again =
        json!({"tones": ["nine"], "targetParticipant": target(), "operationContext": "send-2"});
    let (status, conflict) = via_n2.operation("fwd-1", "sendDtmfTones", &again).await;
    assert_eq!(status, 412, "{conflict}");
    assert_eq!(
        conflict["error"]["code"], "PreconditionFailed",
        "{conflict}"
    );
    events.until("SendDtmfTonesCompleted", "send-1").await;

    let hold = json!({"targetParticipant": target(), "operationContext": "hold-1"});
    assert_eq!(via_n2.operation("fwd-1", "hold", &hold).await.0, 200);
    assert_eq!(via_n2.operation("fwd-1", "unhold", &hold).await.0, 200);

    let looping = json!({"playSources": [{"kind": "file", "file": {"uri": format!("file://{}", prompt.display())}}], "playOptions": {"loop": true}, "operationContext": "loop-1"});
    assert_eq!(via_n2.operation("fwd-1", "play", &looping).await.0, 202);
    events.until("PlayStarted", "loop-1").await;
    let (status, _) = via_n2
        .operation("fwd-1", "cancelAllMediaOperations", &json!({}))
        .await;
    assert_eq!(status, 202);
    events.until("PlayCanceled", "loop-1").await;

    // The owner's validation errors come back as they are.
    let (status, invalid) = via_n2
        .operation("fwd-1", "sendDtmfTones", &json!({"tones": []}))
        .await;
    assert_eq!(status, 400, "{invalid}");
    assert!(invalid["error"]["message"].is_string(), "{invalid}");

    // Unknown calls: 404 from every node, at once (nobody answers their subject), and a
    // signature that does not verify is refused by the receiving node itself.
    for node in &nodes {
        let api = ApiClient::new(node.addr, KEY);
        let asked = tokio::time::Instant::now();
        let (status, body) = properties(&api, "no-such-call").await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"]["code"], "NotFound", "{body}");
        let (status, _) = api.operation("no-such-call", "play", &play).await;
        assert_eq!(status, 404);
        assert!(
            asked.elapsed() < Duration::from_secs(15),
            "404 took {:?}: it waited for the 30 s request timeout",
            asked.elapsed()
        );
    }
    let path = format!("/calling/callConnections/fwd-1:cancelAllMediaOperations?{API}");
    let (status, _) = via_n2
        .send("POST", &path, "{}", |_, _, auth| auth.push('x'))
        .await;
    assert_eq!(status, 401);
    call.lose();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_has_one_owner_and_moves_when_it_dies() {
    let nats = Nats::start().await;
    let key = key_b64();
    let env = [("TONEGATE_ACCESS_KEY", key.as_str())];
    let mut nodes = start_nodes(&nats, &["n1", "n2"], &env).await;
    let via_n2 = ApiClient::new(nodes[1].addr, KEY);

    let first = open(&nodes[0], "own-1").await;
    until_status(&via_n2, "own-1", 200).await;

    // The same call id on n2 while n1 streams it: refused.
    let mut duplicate = open(&nodes[1], "own-1").await;
    let (code, errors) = closed(&mut duplicate).await;
    assert_eq!(code, 1008, "{errors:?}");
    assert!(
        errors.iter().any(|e| e["code"] == "duplicateCallId"),
        "{errors:?}"
    );
    // ... and the first call carries on.
    assert_eq!(properties(&via_n2, "own-1").await.0, 200);

    // n1 dies mid-call: its call is gone for the API at once (404, not 503).
    let n1 = nodes.remove(0);
    drop(n1);
    let gone = until_status(&via_n2, "own-1", 404).await;
    assert_eq!(gone["error"]["code"], "NotFound", "{gone}");
    first.lose();

    // The call reconnects on n2: taken over once n1's liveness key has lapsed.
    let deadline = tokio::time::Instant::now() + LIMIT;
    let again = loop {
        let mut call = open(&nodes[0], "own-1").await;
        let owned = tokio::select! {
            _ = until_status(&via_n2, "own-1", 200) => true,
            _ = closed(&mut call) => false,
        };
        if owned {
            break call;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the call never moved to n2"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let props = until_status(&via_n2, "own-1", 200).await;
    assert_eq!(props["callConnectionId"], "own-1");

    // Its socket goes: the call is released, and may stream again.
    again.lose();
    until_status(&via_n2, "own-1", 404).await;
    let third = open(&nodes[0], "own-1").await;
    until_status(&via_n2, "own-1", 200).await;
    third.lose();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_nats_fences_itself_and_serves_again_after() {
    let mut nats = Nats::start().await;
    let key = key_b64();
    let env = [("TONEGATE_ACCESS_KEY", key.as_str())];
    let nodes = start_nodes(&nats, &["n1", "n2"], &env).await;
    let n1 = &nodes[0];
    let api = ApiClient::new(n1.addr, KEY);
    let mut call = open(n1, "fence-1").await;
    // Asked through n2, so the answer comes once n1's claim is in the cluster (n1's own
    // registry knows the call before that).
    until_status(&ApiClient::new(nodes[1].addr, KEY), "fence-1", 200).await;

    // NATS goes away: within the TTL the node closes its call (1001) and refuses new
    // sockets, so no other node can be serving it at the same time.
    nats.kill();
    let (code, _) = closed(&mut call).await;
    assert_eq!(code, 1001);
    n1.serve.line_with("fenced").await;
    let refused = try_connect_with_headers(n1.addr, "/media/raw", &[]).await;
    assert!(refused.is_err(), "a fenced node took a socket");

    // NATS is back (same store): the node serves calls again.
    nats.restart().await;
    n1.serve.line_with("serving calls again").await;
    let again = open(n1, "fence-2").await;
    until_status(&api, "fence-2", 200).await;
    again.lose();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_a_node() {
    let nats = Nats::start().await;
    let key = key_b64();
    let env = [
        ("TONEGATE_ACCESS_KEY", key.as_str()),
        ("TONEGATE_SHUTDOWN_GRACE_MS", "60000"),
    ];
    let nodes = start_nodes(&nats, &["n1", "n2"], &env).await;
    let (n1, n2) = (&nodes[0], &nodes[1]);
    let via_n2 = ApiClient::new(n2.addr, KEY);
    let call = open(n1, "drain-1").await;
    until_status(&via_n2, "drain-1", 200).await;
    assert_eq!(http_get(n1.addr, "/healthz").await, (200, "ok".to_owned()));

    n1.terminate();
    let deadline = tokio::time::Instant::now() + LIMIT;
    while http_get(n1.addr, "/healthz").await.0 != 503 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "/healthz never said draining"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(http_get(n1.addr, "/healthz").await.1, "draining");
    // Draining: no new socket, but the call goes on, reachable from n2.
    assert!(
        try_connect_with_headers(n1.addr, "/media/raw", &[])
            .await
            .is_err()
    );
    assert_eq!(properties(&via_n2, "drain-1").await.0, 200);
    assert!(
        !n1.serve
            .lines()
            .iter()
            .any(|l| l.contains("tonegate stopped")),
        "stopped while a call was streaming"
    );

    // The call ends: the node stops, and its call is gone for the cluster.
    call.lose();
    n1.serve.line_with("tonegate stopped").await;
    until_status(&via_n2, "drain-1", 404).await;
}

/// JetStream reserves the event stream's whole size on disk: a node whose NATS has less
/// room than `cluster_event_max_bytes` (1 GiB by default) refuses to start and names the
/// setting; with a smaller stream it joins the same NATS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_names_the_setting_when_jetstream_lacks_room() {
    let nats = Nats::start_with_file_store(Some(256 << 20)).await;
    let url = nats.url();
    let mut refused = LoggedServe::start(
        &[
            ("TONEGATE_CLUSTER_NATS_URL", url.as_str()),
            ("TONEGATE_CLUSTER_NODE_ID", "big"),
        ],
        |_| {},
    );
    let line = refused.line_with("invalid configuration").await;
    assert!(
        line.contains("cluster_event_max_bytes (1073741824 bytes)")
            && line.contains("max_file_store"),
        "{line}"
    );
    let status = refused.wait().await;
    assert!(!status.success(), "exit status {status}");
    // tests/common/cluster.rs starts nodes with a 16 MiB stream.
    // Its start (up to the listening line) includes making the stream.
    Node::start(&nats, "small", &[]).await;
}
