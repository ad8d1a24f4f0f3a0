//! The official Python SDK (azure-communication-callautomation 1.6.0) drives tonegate's
//! media-operation API end to end: a raw-dialect call streams audio over a real
//! WebSocket, `tests/sdk/drive.py` calls every media operation through the SDK (HMAC
//! signed), the test presses digits in the audio, and the CloudEvents arrive signed at
//! a real local HTTP listener, where they are checked (and parsed again with azure-core's
//! CloudEvent model). A `TextSource` and an `SsmlSource` are spoken by espeak-ng and
//! heard in the call's outbound audio (length and level checked).
//!
//! Needs `python3` with `venv` and network access to PyPI the first time: the SDK is
//! installed into `target/sdk-venv`. If that fails the test fails, saying why.
//!
//! Over TLS: the server serves HTTPS/WSS with a test CA's certificate, which the SDK
//! trusts through `REQUESTS_CA_BUNDLE`. A second test drives an ACS-dialect call (events
//! to the `callbackUri` of its transport URL) through timeouts that run out in real
//! time, the configured hold music and a dropped connection (`drive.py timeouts`).

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use common::sdk::{self as sdk, Script, manifest_dir, python_with};
use common::*;
use serde_json::Value;
use tokio::time::Instant;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::server::Config;

const KEY: &[u8] = b"tonegate sdk test key, 32 bytes!";
const CALL_ID: &str = "sdk-call-1";

/// `target/sdk-venv/bin/python` with the SDK installed.
fn sdk_python() -> PathBuf {
    python_with(
        "azure.communication.callautomation",
        "azure-communication-callautomation==1.6.0",
    )
}

/// `drive.py scenario` run by `python` with `env`.
fn drive(python: &Path, scenario: &str, env: &[(&str, String)]) -> Script {
    let mut command = Command::new(python);
    command
        .arg(manifest_dir().join("tests/sdk/drive.py"))
        .arg(scenario)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    Script::spawn(command)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_drives_media_operations() {
    let python = tokio::task::spawn_blocking(sdk_python).await.unwrap();
    let dir = std::env::temp_dir().join(format!("tonegate-sdk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prompt = write_prompt(&dir);
    let (callback, posts) = webhook::start_listener().await;
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(KEY);
    let config = Config {
        access_key: Some(key_b64.clone()),
        prompt_dir: dir.clone(),
        ..Config::default()
    };
    let (server, pki) = common::tls::start_tls(with_callbacks(config, &[&callback])).await;
    let mut cloud = server.handle.cloud_events();

    // The call: a raw-dialect stream whose start frame names its callback URI.
    let ws =
        common::tls::try_connect_wss_with_headers(server.addr, "/media/raw", &pki, &[STREAM_AUTH])
            .await
            .unwrap();
    let mut call = LiveCall::raw(ws, &server.handle, CALL_ID, &callback).await;

    let prompt_uri = format!("file://{}", prompt.display());
    let mut script = drive(
        &python,
        "run",
        &[
            ("TONEGATE_ENDPOINT", format!("https://{}/", server.addr)),
            ("REQUESTS_CA_BUNDLE", pki.cert.display().to_string()),
            ("TONEGATE_ACCESS_KEY", key_b64.clone()),
            ("TONEGATE_CALL_ID", CALL_ID.to_owned()),
            ("TONEGATE_PROMPT_URI", prompt_uri),
        ],
    );
    let mut events = webhook::Events::new(posts, KEY);

    // A TextSource and an SsmlSource, spoken by espeak-ng into the call's audio.
    script.until_wait("speech-heard").await;
    let props = script.step("properties");
    assert_eq!(props["call_connection_id"], CALL_ID);
    assert!(props["state"].as_str().unwrap().contains("connected"));
    assert_eq!(script.step("text_play")["status"], 202);
    assert_eq!(script.step("ssml_play")["status"], 202);
    events.until("PlayCompleted", "text-1").await;
    events.until("PlayCompleted", "ssml-1").await;
    let heard = sdk::drain_heard(&mut call.received, Encoding::Ulaw);
    // "Press one for sales" and "Press two, one second, for support".
    let spoken = heard.len() as f64 / 8_000.0;
    assert!((3.0..8.0).contains(&spoken), "{spoken} s of speech");
    assert!(sdk::rms(&heard) > 0.02, "speech RMS {}", sdk::rms(&heard));

    script.resume();
    script.until_wait("digits").await;
    assert_eq!(script.step("unknown_call")["status"], 404);

    // The prompt plays out, then the recognize waits for digits.
    events.until("PlayStarted", "play-1").await;
    events.until("PlayCompleted", "play-1").await;
    call.press("12#", SampleRate::HZ_8000);
    let done = events.until("RecognizeCompleted", "rec-1").await;
    assert_eq!(done["data"]["callConnectionId"], CALL_ID);
    assert_eq!(done["data"]["recognitionType"], "dtmf");
    assert_eq!(
        done["data"]["dtmfResult"]["tones"],
        serde_json::json!(["one", "two"])
    );
    assert_eq!(done["data"]["resultInformation"]["code"], 200);
    assert_eq!(done["data"]["resultInformation"]["subCode"], 8514);
    let tone = events
        .until("ContinuousDtmfRecognitionToneReceived", "cont-1")
        .await;
    assert_eq!(tone["data"]["sequenceId"], 1);
    assert_eq!(tone["data"]["tone"], "one");

    script.resume();
    script.until_wait("send-dtmf-done").await;
    assert_eq!(script.step("stop_continuous")["status"], 200);
    assert_eq!(script.step("send_dtmf")["status"], 202);
    let conflict = script.step("send_dtmf_conflict");
    assert_eq!(conflict["status"], 412, "{conflict}");
    events
        .until("ContinuousDtmfRecognitionStopped", "cont-1")
        .await;
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

    // Every event: CloudEvents 1.0 shape, unique ids, the same ones on the SSE bus.
    let mut ids = HashSet::new();
    for e in &events.all {
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["source"], format!("calling/callConnections/{CALL_ID}"));
        assert_eq!(e["subject"], e["source"]);
        assert_eq!(e["datacontenttype"], "application/json");
        assert!(e["time"].as_str().unwrap().ends_with("+00:00"));
        assert!(
            ids.insert(e["id"].as_str().unwrap().to_owned()),
            "duplicate id"
        );
    }
    let mut published = HashSet::new();
    while let Ok(e) = cloud.try_recv() {
        published.insert(e.id.clone());
    }
    assert!(ids.is_subset(&published), "webhook events missing from SSE");

    // azure-core's CloudEvent model reads them.
    let file = dir.join("events.json");
    std::fs::write(&file, serde_json::to_vec(&events.all).unwrap()).unwrap();
    let out = Command::new(&python)
        .arg(manifest_dir().join("tests/sdk/drive.py"))
        .arg("parse")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed.len(), events.all.len());
    for (p, e) in parsed.iter().zip(&events.all) {
        assert_eq!(p["type"], e["type"]);
        assert_eq!(p["id"], e["id"]);
        assert_eq!(p["has_time"], true);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// On an ACS call over WSS whose events go to the `callbackUri` of its transport URL:
/// recognize timeouts run out in real time (initial silence 8510, inter-tone 8532 with
/// the key pressed), a hold without a play source loops the configured hold music, and
/// continuous recognition still running when the connection drops ends with
/// ContinuousDtmfRecognitionToneFailed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_on_an_acs_call_real_timeouts_hold_music_and_a_lost_stream() {
    const CALL: &str = "sdk-acs-1";
    let python = tokio::task::spawn_blocking(sdk_python).await.unwrap();
    let dir = std::env::temp_dir().join(format!("tonegate-sdk-acs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let music = dir.join("music.wav");
    std::fs::write(
        &music,
        http_peer::wav(8_000, &http_peer::sine(600.0, 500, 8_000)),
    )
    .unwrap();
    let (callback, posts) = webhook::start_listener().await;
    let key_b64 = b64(KEY);
    let config = Config {
        access_key: Some(key_b64.clone()),
        hold_music: Some(music),
        ..Config::default()
    };
    let (server, pki) = common::tls::start_tls(with_callbacks(config, &[&callback])).await;
    let mut call = common::tls::live_acs_call(&server, &pki, CALL, &callback).await;
    let mut script = drive(
        &python,
        "timeouts",
        &[
            ("TONEGATE_ENDPOINT", format!("https://{}/", server.addr)),
            ("REQUESTS_CA_BUNDLE", pki.cert.display().to_string()),
            ("TONEGATE_ACCESS_KEY", key_b64),
            ("TONEGATE_CALL_ID", CALL.to_owned()),
        ],
    );
    let mut events = webhook::Events::new(posts, KEY);

    // Initial silence: the SDK's recognize returned, then one real second passes.
    script.until_wait("silence-failed").await;
    let asked = script.step("recognize_silence")["receivedMs"]
        .as_u64()
        .unwrap();
    let failed = events.until("RecognizeFailed", "silence").await;
    let waited = script.now_ms() - asked;
    assert!((800..5_000).contains(&waited), "8510 after {waited} ms");
    let info = &failed["data"]["resultInformation"];
    assert_eq!(
        (info["code"].as_u64(), info["subCode"].as_u64()),
        (Some(400), Some(8510))
    );
    assert_eq!(failed["data"]["callConnectionId"], CALL);

    // Inter-tone: one key, then a real second of nothing.
    script.resume();
    script.until_wait("inter-tone-done").await;
    let pressed = script.now_ms();
    call.press("7", SampleRate::HZ_16000);
    let done = events.until("RecognizeCompleted", "inter-tone").await;
    let waited = script.now_ms() - pressed;
    // The key starts 100 ms after it is queued; the timer runs from its detection.
    assert!((1_000..6_000).contains(&waited), "8532 after {waited} ms");
    let info = &done["data"]["resultInformation"];
    assert_eq!(info["subCode"], 8532, "{done:#}");
    assert_eq!(
        done["data"]["dtmfResult"]["tones"],
        serde_json::json!(["seven"])
    );
    let tone = events
        .until("ContinuousDtmfRecognitionToneReceived", "cont-t")
        .await;
    assert_eq!(tone["data"]["tone"], "seven");

    // Hold with no play source: the configured music goes out to the call.
    script.resume();
    script.until_wait("music-heard").await;
    assert_eq!(script.step("hold")["status"], 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut loudest = 0.0f32;
    while loudest < 0.1 {
        let message = tokio::time::timeout_at(deadline, call.received.recv())
            .await
            .expect("hold music within 10 s")
            .expect("socket open");
        let frame: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        if frame["Kind"] == "AudioData" {
            let pcm = unb64(frame["AudioData"]["Data"].as_str().unwrap());
            let samples = decode(&pcm, tonegate::codec::Encoding::S16le);
            loudest = samples.iter().fold(loudest, |m, s| m.max(s.abs()));
        }
    }
    script.resume();
    let steps = script.finish().await;
    assert!(
        steps
            .iter()
            .any(|s| s["step"] == "unhold" && s["status"] == 200)
    );

    // The network fails while continuous recognition runs.
    call.lose();
    let lost = events
        .until("ContinuousDtmfRecognitionToneFailed", "cont-t")
        .await;
    let info = &lost["data"]["resultInformation"];
    assert_eq!(
        (info["code"].as_u64(), info["subCode"].as_u64()),
        (Some(500), Some(9999))
    );
    // Every event went to the transport URL's callback URI, with its serverCallId.
    for e in &events.all {
        assert_eq!(e["data"]["callConnectionId"], CALL);
        assert_eq!(e["data"]["serverCallId"], format!("srv-{CALL}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
