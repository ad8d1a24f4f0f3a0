//! Live transcription end to end, with real engines (espeak-ng speaks the caller,
//! pocketsphinx transcribes; `scripts/test` installs both) and a real WebSocket server
//! in the test (tokio-tungstenite) as the app's transcription endpoint:
//!
//! - `startTranscription` connects to `transcription_url`, sends `TranscriptionMetadata`
//!   (the call's id, the locale) and TranscriptionStarted comes as an event; each
//!   utterance of the caller becomes a `TranscriptionData` frame (the words, `display`,
//!   `Final`, offsets and durations in 100 ns ticks placed where the speech was streamed);
//!   `updateTranscription` and `stopTranscription` answer with their events, and the
//!   WebSocket closes after the stop;
//! - the official JS SDK's `StreamingData.parse` (`tests/sdk/js/streaming.mjs`) reads
//!   the frames as sent: TranscriptionMetadata, then TranscriptionData with the text;
//! - a `transcription_url` nobody listens on gives TranscriptionFailed
//!   (`streamConnectionUnsuccessful`), and the call carries on;
//! - a server without `transcription_url` answers `startTranscription` with 400.

mod common;

use std::time::Duration;

use common::http_peer::{ApiClient, open_call};
use common::sdk::{run, sdk_js};
use common::transcripts::{self, Frames};
use common::*;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::server::Config;

const KEY: &[u8] = b"transcription test key, 32 bytes";
// ACS streams 16 kHz PCM; the small pocketsphinx model does best on wideband audio.
const RATE: SampleRate = SampleRate::HZ_16000;
const ENCODING: Encoding = Encoding::S16le;
/// What the caller says.
const SENTENCE: &str = "i want to talk to somebody about my order";
const LIMIT: Duration = Duration::from_secs(60);
/// 100 ns ticks per millisecond.
const TICKS_PER_MS: f64 = 10_000.0;

/// The next frame, parsed (`None`: the connection closed); every frame received is
/// kept in `kept` as it came.
async fn next_frame(frames: &mut Frames, kept: &mut Vec<String>) -> Option<Value> {
    let frame = transcripts::next_frame(frames).await?;
    kept.push(frame.clone());
    Some(serde_json::from_str(&frame).unwrap())
}

async fn server(transcription_url: Option<String>) -> TestServer {
    start(Config {
        access_key: Some(b64(KEY)),
        transcription_url,
        ..Config::default()
    })
    .await
}

/// Streams `audio` as the caller, in 20 ms frames.
async fn stream(ws: &mut Ws, audio: &[f32]) {
    for frame in audio.chunks(RATE.ms_to_samples(20.0)) {
        send_binary(ws, encode(frame, ENCODING)).await;
    }
}

fn silence(ms: f64) -> Vec<f32> {
    vec![0.0; RATE.ms_to_samples(ms)]
}

/// Reads the call's socket until the operation event `name`; returns it.
async fn event(ws: &mut Ws, name: &str) -> Value {
    let got = read_until_operation(ws, name, LIMIT).await;
    got.events
        .into_iter()
        .rfind(|e| e["event"] == name)
        .expect("the event")
}

#[tokio::test]
async fn a_callers_speech_reaches_the_transcription_socket_as_acs_frames() {
    speech::require(&["espeak-ng", "pocketsphinx_continuous"]);
    let (endpoint, mut frames) = transcripts::endpoint().await;
    let mut sent = Vec::new();
    let server = server(Some(format!("ws://{endpoint}/transcripts"))).await;
    let api = ApiClient::new(server.addr, KEY);
    let call = "transcribed-call";
    let mut ws = open_call(&server, call, ENCODING, RATE, None).await;
    // open_call streamed one 20 ms frame.
    let mut streamed_ms = 20.0;

    let start = json!({"locale": "en-US", "operationContext": "t1"});
    let (status, reply) = api.operation(call, "startTranscription", &start).await;
    assert_eq!(status, 202, "{reply}");
    let metadata = next_frame(&mut frames, &mut sent)
        .await
        .expect("the metadata frame");
    assert_eq!(metadata["kind"], "TranscriptionMetadata", "{metadata}");
    let m = &metadata["transcriptionMetadata"];
    assert_eq!(m["callConnectionId"], call);
    assert_eq!(m["locale"], "en-US");
    assert!(m["subscriptionId"].as_str().is_some_and(|s| s.len() == 36));
    let started = event(&mut ws, "TranscriptionStarted").await;
    assert_eq!(started["operationContext"], "t1");
    assert_eq!(started["resultInformation"]["code"], 200);
    assert_eq!(
        started["transcriptionUpdate"],
        json!({"transcriptionStatus": "transcriptionStarted", "transcriptionStatusDetails": "subscriptionStarted"})
    );

    // The caller speaks after a second of silence.
    let speech = speech::speak("en-us", SENTENCE, RATE);
    let speech_ms = speech.len() as f64 * 1000.0 / f64::from(RATE.hz());
    stream(&mut ws, &silence(1_000.0)).await;
    streamed_ms += 1_000.0;
    let onset_ms = streamed_ms;
    stream(&mut ws, &[speech, silence(1_500.0)].concat()).await;

    let data = next_frame(&mut frames, &mut sent)
        .await
        .expect("a transcript");
    assert_eq!(data["kind"], "TranscriptionData", "{data}");
    let d = &data["transcriptionData"];
    assert_eq!(d["format"], "display");
    assert_eq!(d["resultStatus"], "Final");
    assert_eq!(d["participantRawID"], "");
    let text = d["text"].as_str().unwrap();
    eprintln!("transcript: {text:?}");
    let heard: Vec<&str> = text.split_whitespace().collect();
    // The small 2015 model transcribes espeak-ng's voice roughly (the README's word
    // error rate): ask for three of the sentence's words ("i was told somebody ah
    // order" has "i", "somebody", "order").
    let said: std::collections::HashSet<&str> = SENTENCE.split_whitespace().collect();
    let right = said.iter().filter(|w| heard.contains(w)).count();
    assert!(right >= 3, "{text:?} for {SENTENCE:?}");
    let confidence = d["confidence"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&confidence));
    // The words lie inside the utterance, in order, and the utterance where the speech
    // was streamed (espeak-ng leaves some silence at both ends).
    let offset_ms = d["offset"].as_f64().unwrap() / TICKS_PER_MS;
    let duration_ms = d["duration"].as_f64().unwrap() / TICKS_PER_MS;
    assert!(
        (onset_ms - 100.0..onset_ms + 600.0).contains(&offset_ms),
        "offset {offset_ms} ms, speech from {onset_ms} ms"
    );
    assert!(
        (speech_ms * 0.5..speech_ms + 200.0).contains(&duration_ms),
        "duration {duration_ms} ms of {speech_ms} ms"
    );
    let words = d["words"].as_array().unwrap();
    assert_eq!(words.len(), heard.len());
    let mut last_end = 0.0;
    for (w, said) in words.iter().zip(&heard) {
        assert_eq!(w["text"], *said);
        let (at, len) = (
            w["offset"].as_f64().unwrap() / TICKS_PER_MS,
            w["duration"].as_f64().unwrap() / TICKS_PER_MS,
        );
        assert!(at >= last_end && len > 0.0, "{words:?}");
        assert!(at >= offset_ms && at + len <= offset_ms + duration_ms + 1.0);
        last_end = at + len;
    }

    let (status, _) = api
        .operation(call, "updateTranscription", &json!({"locale": "en-GB"}))
        .await;
    assert_eq!(status, 202);
    let updated = event(&mut ws, "TranscriptionUpdated").await;
    assert_eq!(
        updated["transcriptionUpdate"]["transcriptionStatusDetails"],
        "transcriptionLocaleUpdated"
    );
    let (status, _) = api
        .operation(
            call,
            "stopTranscription",
            &json!({"operationContext": "t2"}),
        )
        .await;
    assert_eq!(status, 202);
    let stopped = event(&mut ws, "TranscriptionStopped").await;
    assert_eq!(stopped["operationContext"], "t2");
    assert_eq!(
        stopped["transcriptionUpdate"]["transcriptionStatus"],
        "transcriptionStopped"
    );
    assert_eq!(
        next_frame(&mut frames, &mut sent).await,
        None,
        "closed after the stop"
    );
    // A second stop has nothing to stop.
    let (status, reply) = api.operation(call, "stopTranscription", &json!({})).await;
    assert_eq!(status, 400, "{reply}");

    // The official JS SDK's own parser reads the frames as sent.
    let parsed = js_sdk_parse(&sent).await;
    assert_eq!(parsed.len(), 2, "{parsed:#?}");
    assert_eq!(parsed[0]["kind"], "TranscriptionMetadata", "{parsed:#?}");
    assert_eq!(parsed[0]["parsed"]["callConnectionId"], call);
    assert_eq!(parsed[0]["parsed"]["locale"], "en-US");
    let p = &parsed[1]["parsed"];
    assert_eq!(parsed[1]["kind"], "TranscriptionData", "{parsed:#?}");
    assert_eq!(p["text"], text);
    assert_eq!(p["format"], "display");
    assert_eq!(p["resultState"], "Final");
    assert_eq!(p["offsetInTicks"], d["offset"]);
    assert_eq!(p["durationInTicks"], d["duration"]);
    assert_eq!(p["words"].as_array().unwrap().len(), words.len());
    assert_eq!(p["words"][0]["offsetInTicks"], words[0]["offset"]);
    assert_eq!(p["participant"]["kind"], "unknown", "{p:#}");
}

/// Each frame through the JS SDK's `StreamingData.parse` (`tests/sdk/js/streaming.mjs`).
async fn js_sdk_parse(frames: &[String]) -> Vec<Value> {
    let sdk = tokio::task::spawn_blocking(sdk_js).await.unwrap();
    let file = std::env::temp_dir().join(format!("tonegate-frames-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_vec(frames).unwrap()).unwrap();
    let out = run(
        &sdk,
        "node",
        &["streaming.mjs", file.to_str().unwrap()],
        "streaming.mjs",
    );
    let _ = std::fs::remove_file(&file);
    serde_json::from_slice(&out).unwrap()
}

#[tokio::test]
async fn an_endpoint_that_cannot_be_reached_fails_the_transcription_not_the_call() {
    speech::require(&["pocketsphinx_continuous"]);
    // A port that was just free: nobody listens there.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let server = server(Some(format!("ws://{closed}/"))).await;
    let api = ApiClient::new(server.addr, KEY);
    let call = "unreachable-transcripts";
    let mut ws = open_call(&server, call, ENCODING, RATE, None).await;
    let (status, _) = api
        .operation(
            call,
            "startTranscription",
            &json!({"operationContext": "t1"}),
        )
        .await;
    assert_eq!(status, 202);
    let failed = event(&mut ws, "TranscriptionFailed").await;
    assert_eq!(failed["operationContext"], "t1");
    assert_eq!(failed["resultInformation"]["code"], 500);
    assert_eq!(
        failed["transcriptionUpdate"],
        json!({"transcriptionStatus": "transcriptionFailed", "transcriptionStatusDetails": "streamConnectionUnsuccessful"})
    );
    // The call carries on: a play still plays, and transcription can be asked again.
    let body = json!({"playSources": [{"kind": "text", "text": {"text": "still here"}}]});
    assert_eq!(api.play(call, &body).await, 202);
    let (status, _) = api.operation(call, "startTranscription", &json!({})).await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn without_a_transcription_url_start_transcription_is_refused() {
    let server = server(None).await;
    let api = ApiClient::new(server.addr, KEY);
    let call = "no-transcripts";
    let _ws = open_call(&server, call, ENCODING, RATE, None).await;
    let (status, reply) = api.operation(call, "startTranscription", &json!({})).await;
    assert_eq!(status, 400);
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("transcription_url"), "{message}");
}
