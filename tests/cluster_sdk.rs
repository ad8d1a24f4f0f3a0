//! The official Python SDK (azure-communication-callautomation 1.6.0, `tests/sdk/drive.py
//! run`) drives a call through a node that does not hold it: the call's audio socket is
//! on n1 of a two-node cluster (a real `nats-server -js`, the real binary), every REST
//! request of the SDK goes to n2, which forwards it to n1 and relays the answer; the
//! CloudEvents n1 posts arrive signed at a local listener.
//!
//! Needs `nats-server` (scripts/test installs it), and `python3` with `venv` and PyPI the
//! first time (the SDK goes into `target/sdk-venv`); fails, saying why, without them.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use common::cluster::{Nats, Node};
use common::http_peer::signed_headers;
use common::sdk::{Script, manifest_dir, python_with};
use common::tls::Pki;
use common::*;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tonegate::SampleRate;
use tonegate::codec::Encoding;

const KEY: &[u8] = b"tonegate cluster sdk key, 32 b!!";
const CALL_ID: &str = "cluster-sdk-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_drives_a_call_held_by_another_node() {
    let python = tokio::task::spawn_blocking(|| {
        python_with(
            "azure.communication.callautomation",
            "azure-communication-callautomation==1.6.0",
        )
    })
    .await
    .unwrap();
    let nats = Nats::start().await;
    let dir = std::env::temp_dir().join(format!("tonegate-cluster-sdk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prompt = write_prompt(&dir);
    let (callback, posts) = webhook::start_listener().await;
    let key = b64(KEY);
    let env = [
        ("TONEGATE_ACCESS_KEY", key.as_str()),
        ("TONEGATE_CALLBACK_URI", callback.as_str()),
        ("TONEGATE_PROMPT_DIR", dir.to_str().unwrap()),
    ];
    // n1 holds the call (plain WebSocket); n2, which the SDK talks to, serves HTTPS (the
    // SDK speaks nothing else) with a test CA's certificate.
    let pki = Pki::new();
    let tls = [
        ("TONEGATE_TLS_CERT", pki.cert.to_str().unwrap()),
        ("TONEGATE_TLS_KEY", pki.key.to_str().unwrap()),
    ];
    let n1 = Node::start(&nats, "n1", &env).await;
    let n2 = Node::start(&nats, "n2", &[&env[..], &tls[..]].concat()).await;

    let ws = connect(n1.addr, "/media/raw").await;
    let start = json!({"type": "start", "callId": CALL_ID, "encoding": "ulaw", "sampleRate": 8000});
    let call = LiveCall::stream(ws, start.to_string(), SampleRate::HZ_8000, |f| {
        Message::binary(encode(f, Encoding::Ulaw))
    })
    .await;
    until_known(&pki, n2.addr).await;

    let mut command = Command::new(&python);
    command
        .arg(manifest_dir().join("tests/sdk/drive.py"))
        .arg("run")
        .env("TONEGATE_ENDPOINT", format!("https://{}/", n2.addr))
        .env("REQUESTS_CA_BUNDLE", &pki.cert)
        .env("TONEGATE_ACCESS_KEY", &key)
        .env("TONEGATE_CALL_ID", CALL_ID)
        .env(
            "TONEGATE_PROMPT_URI",
            format!("file://{}", prompt.display()),
        );
    let mut script = Script::spawn(command);
    let mut events = webhook::Events::new(posts, KEY);

    // Text and SSML plays are spoken on n1 (its espeak-ng).
    script.until_wait("speech-heard").await;
    let props = script.step("properties");
    assert_eq!(props["call_connection_id"], CALL_ID);
    assert!(props["state"].as_str().unwrap().contains("connected"));
    assert_eq!(script.step("text_play")["status"], 202);
    assert_eq!(script.step("ssml_play")["status"], 202);
    events.until("PlayCompleted", "text-1").await;
    events.until("PlayCompleted", "ssml-1").await;
    script.resume();

    script.until_wait("digits").await;
    assert_eq!(script.step("unknown_call")["status"], 404);
    events.until("PlayCompleted", "play-1").await;
    call.press("12#", SampleRate::HZ_8000);
    let done = events.until("RecognizeCompleted", "rec-1").await;
    assert_eq!(done["data"]["dtmfResult"]["tones"], json!(["one", "two"]));
    let tone = events
        .until("ContinuousDtmfRecognitionToneReceived", "cont-1")
        .await;
    assert_eq!(tone["data"]["sequenceId"], 1);

    script.resume();
    script.until_wait("send-dtmf-done").await;
    assert_eq!(script.step("stop_continuous")["status"], 200);
    assert_eq!(script.step("send_dtmf")["status"], 202);
    assert_eq!(script.step("send_dtmf")["operation_context"], "send-1");
    assert_eq!(script.step("send_dtmf_conflict")["status"], 412);
    events.until("SendDtmfTonesCompleted", "send-1").await;

    script.resume();
    script.until_wait("loop-started").await;
    assert_eq!(script.step("hold")["status"], 200);
    assert_eq!(script.step("unhold")["status"], 200);
    events.until("PlayStarted", "loop-1").await;
    script.resume();
    let canceled = events.until("PlayCanceled", "loop-1").await;
    assert_eq!(canceled["data"]["resultInformation"]["subCode"], 8508);
    script.finish().await;
    assert_eq!(canceled["data"]["callConnectionId"], CALL_ID);
    call.lose();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits (up to 30 s) until the call's properties answer 200 through the node at `addr`
/// (which serves HTTPS with `pki`'s certificate).
async fn until_known(pki: &Pki, addr: SocketAddr) {
    let client = pki.https_client();
    // A query of its own: a signature never equals the SDK's own first GET in the same
    // second (which the server would refuse as a replay).
    let path = format!("/calling/callConnections/{CALL_ID}?api-version=2026-03-12&probe=1");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut request = client.get(format!("https://{addr}{path}"));
        for (name, value) in signed_headers(KEY, "GET", &path, addr, "") {
            request = request.header(name, value);
        }
        let status = request.send().await.unwrap().status().as_u16();
        if status == 200 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "n2 answers {status} for the call"
        );
        // A signature covers the date to the second: the next one is a new request.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
