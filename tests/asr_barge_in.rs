//! Voice barge-in through the official Python SDK: a `SPEECH` recognize with a long
//! `TextSource` prompt (spoken by espeak-ng) and `interruptPrompt` on an ACS call
//! (16 kHz PCM over WSS, streamed in real time, one 20 ms frame per 20 ms). The caller
//! starts talking while the prompt plays; tonegate must stop the prompt (`StopAudio`,
//! and no prompt audio after it) within 300 ms of the speech onset, measured on the
//! inbound audio timeline: the inbound frames streamed up to when `StopAudio` arrived,
//! against the sample where the caller's speech begins.
//!
//! Needs what `tests/asr_sdk_python.rs` needs.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::sdk::{Script, manifest_dir, python_with};
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::server::Config;

const KEY: &[u8] = b"tonegate barge-in key, 32 bytes!";
const CALL: &str = "sdk-barge-in-1";
const RATE: SampleRate = SampleRate::HZ_16000;
const FRAME: usize = 320;

fn sdk_python() -> PathBuf {
    python_with(
        "azure.communication.callautomation",
        "azure-communication-callautomation==1.6.0",
    )
}

fn audio_frame(samples: &[f32]) -> Message {
    Message::text(format!(
        r#"{{"kind":"AudioData","audioData":{{"participantRawID":"4:+15551234567","data":"{}"}}}}"#,
        b64(&encode(samples, Encoding::S16le))
    ))
}

/// Whether an outbound ACS frame carries audio with sound in it.
fn is_prompt_audio(frame: &Value) -> bool {
    frame["Kind"] == "AudioData"
        && decode(
            &unb64(frame["AudioData"]["Data"].as_str().unwrap()),
            Encoding::S16le,
        )
        .iter()
        .any(|s| s.abs() > 0.01)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_talking_over_a_spoken_prompt_stops_it_within_300_ms() {
    speech::require(&["espeak-ng", "pocketsphinx_continuous"]);
    let python = tokio::task::spawn_blocking(sdk_python).await.unwrap();
    let (callback, posts) = webhook::start_listener().await;
    let config = Config {
        access_key: Some(b64(KEY)),
        ..Config::default()
    };
    let (server, pki) = common::tls::start_tls(with_callbacks(config, &[&callback])).await;
    let query = serde_urlencoded::to_string([("callbackUri", callback.as_str())]).unwrap();
    let ws = common::tls::try_connect_wss_with_headers(
        server.addr,
        &format!("/media/acs?{query}"),
        &pki,
        &[("x-ms-call-connection-id", CALL), STREAM_AUTH],
    )
    .await
    .unwrap();
    let (mut sink, mut stream) = ws.split();
    sink.send(Message::text(
        r#"{"kind":"AudioMetadata","audioMetadata":{"subscriptionId":"b","encoding":"PCM","sampleRate":16000,"channels":1,"length":640}}"#,
    ))
    .await
    .unwrap();
    let (received_tx, mut received) = tokio::sync::mpsc::unbounded_channel::<Value>();
    tokio::spawn(async move {
        while let Some(Ok(Message::Text(t))) = stream.next().await {
            let _ = received_tx.send(serde_json::from_str(&t).unwrap());
        }
    });

    // The caller's speech: its onset is the first sample above -40 dBFS.
    let speech = speech::speak("en-us", "i would like to talk to an agent please", RATE);
    let onset_in_speech = speech.iter().position(|s| s.abs() > 0.01).unwrap();

    // Stream silence in real time until the prompt is heard, then the speech; note the
    // inbound position when StopAudio arrives.
    let silence = vec![0.0f32; FRAME];
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut sent: usize = 0;
    let mut script: Option<Script> = None;
    let mut prompt_frames = 0;
    let mut speech_from: Option<usize> = None;
    let mut stopped_at: Option<usize> = None;
    let mut after_stop = Vec::new();
    // At most a minute of audio.
    let deadline = 60 * 50 * FRAME;
    while sent < deadline {
        tick.tick().await;
        let samples = match speech_from {
            Some(start) => {
                let i = sent - start;
                speech.get(i..i + FRAME).unwrap_or(&silence)
            }
            None => &silence[..],
        };
        sink.send(audio_frame(samples)).await.unwrap();
        sent += FRAME;
        if sent == 10 * FRAME {
            // The call is streaming: the SDK asks for the recognize.
            let mut command = Command::new(&python);
            command
                .arg(manifest_dir().join("tests/sdk/drive.py"))
                .arg("barge-in")
                .env("TONEGATE_ENDPOINT", format!("https://{}/", server.addr))
                .env("REQUESTS_CA_BUNDLE", pki.cert.display().to_string())
                .env("TONEGATE_ACCESS_KEY", b64(KEY))
                .env("TONEGATE_CALL_ID", CALL);
            script = Some(Script::spawn(command));
        }
        while let Ok(frame) = received.try_recv() {
            if stopped_at.is_some() {
                after_stop.push(frame);
            } else if frame["Kind"] == "StopAudio" {
                stopped_at = Some(sent);
            } else if is_prompt_audio(&frame) {
                prompt_frames += 1;
            }
        }
        // A second of the prompt heard: the caller talks over it.
        if speech_from.is_none() && prompt_frames >= 50 {
            speech_from = Some(sent);
        }
        // The speech and 1.5 s of silence after it are in: the utterance has ended.
        if speech_from.is_some_and(|from| sent >= from + speech.len() + RATE.ms_to_samples(1_500.0))
        {
            break;
        }
    }
    script.expect("the SDK ran").finish().await;
    let speech_from = speech_from.expect("the prompt was heard");
    let stopped_at = stopped_at.expect("StopAudio came");
    let onset = speech_from + onset_in_speech;
    let delay_ms = RATE.samples_to_ms(stopped_at.saturating_sub(onset) as f64);
    println!("prompt stopped {delay_ms:.0} ms after the speech onset (audio timeline)");
    assert!(stopped_at > onset, "stopped before the caller spoke");
    assert!(
        delay_ms <= 300.0,
        "prompt stopped {delay_ms} ms after the onset"
    );
    assert!(
        !after_stop.iter().any(is_prompt_audio),
        "prompt audio after StopAudio"
    );

    // The recognize goes on listening and answers from the speech (not a timeout).
    let mut events = webhook::Events::new(posts, KEY);
    let started = events.until("PlayStarted", "barge-in").await;
    assert_eq!(started["data"]["resultInformation"]["code"], 200);
    let result = events
        .until_where("the recognize's result", |e| {
            e["data"]["operationContext"] == "barge-in"
                && matches!(
                    e["type"].as_str(),
                    Some(
                        "Microsoft.Communication.RecognizeCompleted"
                            | "Microsoft.Communication.RecognizeFailed"
                    )
                )
        })
        .await;
    let code = &result["data"]["resultInformation"];
    assert_ne!(code["subCode"], 8510, "{result:#}");
    assert!(
        matches!(code["subCode"].as_u64(), Some(8545 | 8563)),
        "{result:#}"
    );
}
