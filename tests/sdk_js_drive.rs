//! The official JS SDK (`CallAutomationClient` of `@azure/communication-call-automation`,
//! pinned in `tests/sdk/js/package.json` and its lock file) drives every media operation
//! tonegate serves, over TLS, against an ACS-dialect call streaming in real time over
//! WSS: `tests/sdk/js/drive.mjs` gets the call's properties, plays a text source and an
//! SSML source (spoken by espeak-ng; the test hears them in the outbound audio), plays
//! to everyone (two sources) and to the caller, recognizes DTMF (an interrupted prompt and a stop tone,
//! max tones, the inter-tone timeout) under continuous recognition, sends DTMF, holds,
//! unholds and cancels a looping play, and hits the error paths (an unknown call: 404; a
//! second send while one runs: 412). The events of an operation
//! given an `operationCallbackUrl` go there. Each request is HMAC-signed
//! by the SDK and reports its HTTP status; the test presses digits in the audio where
//! the script waits, and checks the CloudEvents posted to the `callbackUri` of the
//! socket's URL.
//!
//! Needs `node` and `npm` and network access to npm the first time (see
//! `tests/sdk_js.rs`); the SDK trusts the test CA through `NODE_EXTRA_CA_CERTS`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::sdk::{self as sdk, Script, sdk_js};
use common::webhook::{self, Events};
use common::*;
use serde_json::{Value, json};
use tokio::time::Instant;
use tonegate::SampleRate;
use tonegate::server::Config;

const KEY: &[u8] = b"tonegate js drive test key, 32 b";
const CALL_ID: &str = "js-acs-1";

/// Presses `keys` in the call's 16 kHz inbound audio.
fn press(call: &LiveCall, keys: &str) {
    call.press(keys, SampleRate::HZ_16000);
}

/// Checks `e`'s result code and sub-code.
fn assert_result(e: &Value, code: u64, sub_code: u64) {
    let info = &e["data"]["resultInformation"];
    assert_eq!(
        (info["code"].as_u64(), info["subCode"].as_u64()),
        (Some(code), Some(sub_code)),
        "{e:#}"
    );
}

/// Checks that step `name` answered `status` to a request on this call's API.
fn assert_status(script: &Script, name: &str, status: u16) -> Value {
    let step = script.step(name).clone();
    assert_eq!(step["status"], status, "{step:#}");
    step
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_sdk_drives_media_operations_on_an_acs_call() {
    let sdk = tokio::task::spawn_blocking(sdk_js).await.unwrap();
    let dir = std::env::temp_dir().join(format!("tonegate-js-drive-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prompt = write_prompt(&dir);
    // Six seconds: long enough to be interrupted.
    let long_prompt = dir.join("long.wav");
    std::fs::write(
        &long_prompt,
        http_peer::wav(16_000, &http_peer::sine(440.0, 6_000, 16_000)),
    )
    .unwrap();

    let (callback, posts) = webhook::start_listener().await;
    let (operation_callback, operation_posts) = webhook::start_listener().await;
    let key_b64 = b64(KEY);
    let config = Config {
        access_key: Some(key_b64.clone()),
        prompt_dir: dir.clone(),
        ..Config::default()
    };
    let (server, pki) = common::tls::start_tls(with_callbacks(config, &[&callback])).await;
    let mut call = common::tls::live_acs_call(&server, &pki, CALL_ID, &callback).await;

    let mut command = Command::new("node");
    command
        .arg(sdk.join("drive.mjs"))
        .current_dir(&sdk)
        .env("TONEGATE_ENDPOINT", format!("https://{}/", server.addr))
        .env("NODE_EXTRA_CA_CERTS", &pki.cert)
        .env("TONEGATE_ACCESS_KEY", &key_b64)
        .env("TONEGATE_CALL_ID", CALL_ID)
        .env(
            "TONEGATE_PROMPT_URI",
            format!("file://{}", prompt.display()),
        )
        .env(
            "TONEGATE_LONG_PROMPT_URI",
            format!("file://{}", long_prompt.display()),
        )
        .env("TONEGATE_OPERATION_CALLBACK", &operation_callback);
    let mut script = Script::spawn(command);
    let mut events = Events::new(posts, KEY);
    let mut operation_events = Events::new(operation_posts, KEY);

    // Properties; a text and an SSML source heard in the call's audio.
    script.until_wait("speech-heard").await;
    let props = assert_status(&script, "properties", 200);
    assert_eq!(props["method"], "GET");
    assert!(
        props["path"]
            .as_str()
            .unwrap()
            .starts_with(&format!("/calling/callConnections/{CALL_ID}?api-version=")),
        "{props:#}"
    );
    assert_eq!(props["callConnectionId"], CALL_ID);
    assert_eq!(props["callConnectionState"], "connected");
    assert_status(&script, "text_play", 202);
    assert_status(&script, "ssml_play", 202);
    assert_result(&events.until("PlayCompleted", "text-1").await, 200, 0);
    assert_result(&events.until("PlayCompleted", "ssml-1").await, 200, 0);
    let heard = sdk::drain_heard(&mut call.received, tonegate::codec::Encoding::S16le);
    // "Press one for sales" and "Press two, one second, for support", at 16 kHz.
    let spoken = heard.len() as f64 / 16_000.0;
    assert!((3.0..8.0).contains(&spoken), "{spoken} s of speech");
    assert!(sdk::rms(&heard) > 0.02, "speech RMS {}", sdk::rms(&heard));

    // The refusals, a play to everyone of two sources.
    script.resume();
    script.until_wait("play-all-done").await;
    assert_status(&script, "unknown_call_media", 404);
    assert_status(&script, "unknown_call_properties", 404);
    let asked = assert_status(&script, "play_to_all", 202)["receivedMs"]
        .as_u64()
        .unwrap();
    assert_result(&events.until("PlayStarted", "play-all").await, 200, 0);
    assert_result(&events.until("PlayCompleted", "play-all").await, 200, 0);
    // Both 400 ms sources played.
    let played = script.now_ms() - asked;
    assert!(played >= 700, "two prompts in {played} ms");

    // A play to the caller alone.
    script.resume();
    script.until_wait("play-caller-done").await;
    assert_status(&script, "play_to_caller", 202);
    events.until("PlayStarted", "play-caller").await;
    assert_result(&events.until("PlayCompleted", "play-caller").await, 200, 0);

    // The caller interrupts a long prompt; the stop tone ends the recognize.
    script.resume();
    script.until_wait("rec-stop").await;
    assert_status(&script, "start_continuous", 200);
    assert_status(&script, "recognize_stop_tone", 202);
    events.until("PlayStarted", "rec-stop").await;
    while call.received.try_recv().is_ok() {}
    let pressed = script.now_ms();
    press(&call, "12#");
    let done = events.until("RecognizeCompleted", "rec-stop").await;
    assert_result(&done, 200, 8514);
    assert_eq!(done["data"]["recognitionType"], "dtmf");
    assert_eq!(done["data"]["dtmfResult"]["tones"], json!(["one", "two"]));
    let waited = script.now_ms() - pressed;
    assert!(
        waited < 5_000,
        "the 6 s prompt was not interrupted: {waited} ms"
    );
    // Barge-in: the socket was told to stop the prompt's audio.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let message = tokio::time::timeout_at(deadline, call.received.recv())
            .await
            .expect("StopAudio within 10 s")
            .expect("socket open");
        let frame: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        if frame["Kind"] == "StopAudio" {
            break;
        }
    }

    // Max tones after a prompt given in playPrompts.
    script.resume();
    script.until_wait("rec-max").await;
    assert_status(&script, "recognize_max_tones", 202);
    events.until("PlayStarted", "rec-max").await;
    events.until("PlayCompleted", "rec-max").await;
    press(&call, "345");
    let done = events.until("RecognizeCompleted", "rec-max").await;
    assert_result(&done, 200, 8531);
    assert_eq!(
        done["data"]["dtmfResult"]["tones"],
        json!(["three", "four", "five"])
    );

    // One key, then a real second of silence.
    script.resume();
    script.until_wait("rec-inter").await;
    assert_status(&script, "recognize_inter_tone", 202);
    let pressed = script.now_ms();
    press(&call, "7");
    let done = events.until("RecognizeCompleted", "rec-inter").await;
    assert_result(&done, 400, 8532);
    assert_eq!(done["data"]["dtmfResult"]["tones"], json!(["seven"]));
    let waited = script.now_ms() - pressed;
    assert!(waited >= 1_000, "8532 after {waited} ms");

    // Continuous recognition heard every key, in order.
    let keys = ["one", "two", "pound", "three", "four", "five", "seven"];
    for (sequence, tone) in (1..).zip(keys) {
        let e = events
            .until_where(&format!("ToneReceived {sequence}"), |e| {
                e["type"] == "Microsoft.Communication.ContinuousDtmfRecognitionToneReceived"
                    && e["data"]["sequenceId"] == sequence
            })
            .await;
        assert_eq!(e["data"]["tone"], tone, "{e:#}");
        assert_eq!(e["data"]["operationContext"], "cont-1");
    }

    // Stop continuous recognition; send DTMF, and again while it runs.
    script.resume();
    script.until_wait("send-dtmf-done").await;
    assert_status(&script, "stop_continuous", 200);
    events
        .until("ContinuousDtmfRecognitionStopped", "cont-1")
        .await;
    let sent = assert_status(&script, "send_dtmf", 202);
    assert_eq!(sent["result"]["operationContext"], "send-1", "{sent:#}");
    assert_status(&script, "send_dtmf_conflict", 412);
    // Its events went to its operationCallbackUrl.
    assert_result(
        &operation_events
            .until("SendDtmfTonesCompleted", "send-1")
            .await,
        200,
        0,
    );

    // Hold and unhold; a looping play, canceled.
    script.resume();
    script.until_wait("loop-started").await;
    assert_status(&script, "hold", 200);
    assert_status(&script, "unhold", 200);
    assert_status(&script, "play_loop", 202);
    events.until("PlayStarted", "loop-1").await;
    script.resume();
    assert_result(&events.until("PlayCanceled", "loop-1").await, 400, 8508);
    let steps = script.finish().await;
    assert!(
        steps
            .iter()
            .any(|s| s["step"] == "cancel_all" && s["status"] == 202),
        "{steps:#?}"
    );

    assert!(
        !events
            .all
            .iter()
            .any(|e| e["data"]["operationContext"] == "send-1"),
        "send-1's events went to the call's callback"
    );
    // Every request carried an api-version; every event was for this call.
    for s in steps.iter().filter(|s| s.get("path").is_some()) {
        assert!(s["path"].as_str().unwrap().contains("api-version="), "{s}");
    }
    assert!(
        events
            .all
            .iter()
            .all(|e| e["data"]["callConnectionId"] == CALL_ID),
        "{:#?}",
        events.all
    );
    let _ = std::fs::remove_dir_all(&dir);
}
