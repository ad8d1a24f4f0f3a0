//! Text to speech end to end, with the real espeak-ng (installed by `scripts/test`): a
//! `TextSource` play is heard in a raw call's outbound audio (length fit for the text,
//! level well above silence), SSML's `<break time="1s"/>` makes it a second longer, a
//! prompt said again comes from the cache (espeak-ng is not run again: the synthesis
//! counter of `/metrics` stays put), a raw `play` with `text`, a recognize prompt and hold
//! music speak too, and a missing engine fails the play with 400/8565 and a clear
//! message while the server and the call carry on.
//!
//! The HTTP engine is tested against a real local HTTP server (an OpenAI-compatible
//! `/v1/audio/speech` in the test) answering a WAV written as a streamed one: the
//! request carries model, voice, input and the bearer key, the audio is heard, and a
//! service slower than `tts_timeout_ms` fails the play with 408/8565.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use common::http_peer::{ApiClient, open_call, sine, wav};
use common::*;
use serde_json::{Value, json};
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::server::{Config, TtsEngine};

const KEY: &[u8] = b"tts play test key, 32 bytes long";
const LIMIT: Duration = Duration::from_secs(60);
const RATE: SampleRate = SampleRate::HZ_8000;
const ENCODING: Encoding = Encoding::S16le;
const PROMPT: &str = "Thank you for calling. Press one for sales or two for support.";

async fn start_server(config: Config) -> TestServer {
    start(Config {
        access_key: Some(b64(KEY)),
        ..config
    })
    .await
}

fn text(text: &str) -> Value {
    json!({"kind": "text", "text": {"text": text, "voiceName": "en-US-JennyNeural"}})
}

fn ssml(ssml: &str) -> Value {
    json!({"kind": "ssml", "ssml": {"ssmlText": ssml}})
}

/// Plays `sources` and reads until `outcome`; the play's operation events and the
/// samples heard.
async fn play(
    api: &ApiClient,
    ws: &mut Ws,
    call_id: &str,
    sources: Vec<Value>,
    outcome: &str,
) -> (Vec<Value>, Vec<f32>) {
    api.play_and_hear(ws, call_id, sources, outcome, ENCODING, LIMIT)
        .await
}

/// Seconds of audio in `samples` at the call's rate.
fn seconds(samples: &[f32]) -> f64 {
    samples.len() as f64 / f64::from(RATE.hz())
}

fn rms(samples: &[f32]) -> f32 {
    (samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32).sqrt()
}

/// The value of the `/metrics` sample `line` (name and labels as rendered).
async fn metric(server: &TestServer, line: &str) -> f64 {
    let (_, body) = http_get(server.addr, "/metrics").await;
    body.lines()
        .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{line} not in /metrics"))
}

const SYNTHESES: &str = r#"tonegate_tts_syntheses_total{engine="espeak",outcome="ok"}"#;
const CACHE_HITS: &str = "tonegate_tts_cache_hits_total";

/// The (code, subCode, message) of a PlayFailed, the last of `events`.
fn failure(events: &[Value]) -> (u64, u64, String) {
    let failed = events.last().unwrap();
    assert_eq!(failed["event"], "PlayFailed", "{events:?}");
    let info = &failed["resultInformation"];
    (
        info["code"].as_u64().unwrap(),
        info["subCode"].as_u64().unwrap(),
        info["message"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_and_ssml_are_heard_and_said_again_from_the_cache() {
    let server = start_server(Config::default()).await;
    let api = ApiClient::new(server.addr, KEY);
    let mut ws = open_call(&server, "tts-1", ENCODING, RATE, None).await;

    let (events, heard) = play(&api, &mut ws, "tts-1", vec![text(PROMPT)], "PlayCompleted").await;
    let names: Vec<_> = events.iter().map(|e| e["event"].clone()).collect();
    assert_eq!(names, ["PlayStarted", "PlayCompleted"], "{events:?}");
    // Eleven words: espeak-ng's 175 words a minute, with the pauses of the punctuation.
    let spoken = seconds(&heard);
    assert!((2.5..8.0).contains(&spoken), "{spoken} s of speech");
    let level = rms(&heard);
    assert!(level > 0.02, "speech RMS {level} (silence is 0)");
    assert_eq!(metric(&server, SYNTHESES).await, 1.0);

    // The same text again: the same audio, from the cache.
    let (_, again) = play(&api, &mut ws, "tts-1", vec![text(PROMPT)], "PlayCompleted").await;
    assert_eq!(again, heard);
    assert_eq!(metric(&server, SYNTHESES).await, 1.0, "espeak-ng ran again");
    assert_eq!(metric(&server, CACHE_HITS).await, 1.0);

    // SSML: a one-second break makes the same words a second longer.
    let plain = "<speak>Press one then press two</speak>";
    let paused = r#"<speak>Press one <break time="1s"/> then press two</speak>"#;
    let (_, without) = play(&api, &mut ws, "tts-1", vec![ssml(plain)], "PlayCompleted").await;
    let (_, with) = play(&api, &mut ws, "tts-1", vec![ssml(paused)], "PlayCompleted").await;
    let longer = seconds(&with) - seconds(&without);
    assert!((0.8..1.3).contains(&longer), "the break added {longer} s");
    assert_eq!(metric(&server, SYNTHESES).await, 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_plays_recognize_prompts_and_hold_music_speak() {
    let server = start_server(Config::default()).await;
    let api = ApiClient::new(server.addr, KEY);
    let mut ws = open_call(&server, "tts-raw", ENCODING, RATE, None).await;

    // The raw dialect's play with text, and with SSML.
    send_text(
        &mut ws,
        r#"{"type":"play","id":"hello","text":"Hello there","voice":"en-gb"}"#,
    )
    .await;
    let got = read_until(&mut ws, "playCompleted", LIMIT).await;
    assert!(got.of_type("error").is_empty(), "{:?}", got.events);
    let heard = decode(&got.binary.concat(), ENCODING);
    assert!(seconds(&heard) > 0.5 && rms(&heard) > 0.02);
    send_text(
        &mut ws,
        r#"{"type":"play","ssml":"<speak>one <break time=\"200ms\"/> two</speak>"}"#,
    )
    .await;
    let got = read_until(&mut ws, "playCompleted", LIMIT).await;
    assert!(got.of_type("error").is_empty(), "{:?}", got.events);

    // A recognize whose prompt is text: the prompt plays, then the recognize waits.
    let recognize = json!({
        "recognizeInputType": "dtmf",
        "playPrompt": text("Enter your account number"),
        "recognizeOptions": {"targetParticipant": {"rawId": "4:+1"}, "initialSilenceTimeoutInSeconds": 1},
        "operationContext": "rec",
    });
    let (status, reply) = api.operation("tts-raw", "recognize", &recognize).await;
    assert_eq!(status, 202, "{reply}");
    let got = read_until_operation(&mut ws, "RecognizeFailed", LIMIT).await;
    let ops: Vec<_> = got
        .of_type("operation")
        .iter()
        .map(|e| e["event"].clone())
        .collect();
    assert_eq!(ops, ["PlayStarted", "PlayCompleted", "RecognizeFailed"]);
    assert!(rms(&decode(&got.binary.concat(), ENCODING)) > 0.02);

    // Hold music given as text: it sounds until unhold.
    let hold =
        json!({"targetParticipant": {"rawId": "4:+1"}, "playSourceInfo": text("Please hold")});
    assert_eq!(api.operation("tts-raw", "hold", &hold).await.0, 200);
    let mut music = Vec::new();
    while rms(&music) < 0.02 || music.len() < RATE.ms_to_samples(500.0) {
        let got = read_all(&mut ws, Duration::from_millis(200)).await;
        music.extend(decode(&got.binary.concat(), ENCODING));
        assert!(music.len() < RATE.ms_to_samples(30_000.0), "no hold music");
    }
    let unhold = json!({"targetParticipant": {"rawId": "4:+1"}});
    assert_eq!(api.operation("tts-raw", "unhold", &unhold).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_espeak_ng_a_text_play_fails_clearly_and_nothing_else_does() {
    let dir = std::env::temp_dir().join(format!("tonegate-tts-missing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prompt = write_prompt(&dir);
    let server = start_server(Config {
        tts_espeak_program: "/nonexistent/espeak-ng".into(),
        prompt_dir: dir.clone(),
        ..Config::default()
    })
    .await;
    let api = ApiClient::new(server.addr, KEY);
    let mut ws = open_call(&server, "tts-none", ENCODING, RATE, None).await;

    let file = json!({"kind": "file", "file": {"uri": format!("file://{}", prompt.display())}});
    let (events, heard) = play(
        &api,
        &mut ws,
        "tts-none",
        vec![file.clone(), text(PROMPT)],
        "PlayFailed",
    )
    .await;
    let (code, sub_code, message) = failure(&events);
    assert_eq!((code, sub_code), (400, 8565));
    assert!(message.contains("espeak-ng is not installed"), "{message}");
    assert!(
        !message.contains("Press one"),
        "the text is not echoed: {message}"
    );
    assert_eq!(events.last().unwrap()["failedPlaySourceIndex"], 1);
    assert!(heard.is_empty(), "nothing plays when a source fails");

    // The raw dialect's play says so in an error event; the socket stays open.
    send_text(&mut ws, r#"{"type":"play","id":"t","text":"hi"}"#).await;
    let got = read_until(&mut ws, "error", LIMIT).await;
    let error = got.of_type("error")[0];
    assert_eq!(error["code"], "speechRefused", "{error}");
    assert!(error["message"].as_str().unwrap().contains("not installed"));

    // The call and the server carry on: a file plays.
    let (events, _) = play(&api, &mut ws, "tts-none", vec![file], "PlayCompleted").await;
    assert_eq!(events.last().unwrap()["event"], "PlayCompleted");
    assert_eq!(http_get(server.addr, "/healthz").await.0, 200);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What the speech service in the test got.
type Requests = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// A WAV of `samples` at 16 kHz whose header announces the sizes of a streamed file.
fn streamed_wav(samples: &[f32]) -> Vec<u8> {
    let mut file = wav(16_000, samples);
    file[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    file[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    file
}

/// An OpenAI-compatible speech service: `POST /v1/audio/speech` answers a 600 ms tone,
/// after `delay`.
async fn speech_service(delay: Duration) -> (common::http_peer::Peer, Requests) {
    let requests = Requests::default();
    let seen = requests.clone();
    let routes = Router::new().route(
        "/v1/audio/speech",
        post(move |headers: HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push((headers, serde_json::from_str(&body).unwrap()));
                tokio::time::sleep(delay).await;
                streamed_wav(&sine(440.0, 600, 16_000))
            }
        }),
    );
    (common::http_peer::Peer::serve(routes).await, requests)
}

fn http_engine(url: String, timeout_ms: u64) -> Config {
    Config {
        tts_engine: TtsEngine::Http,
        tts_http_url: Some(url),
        tts_http_api_key: Some("sk-test".to_owned()),
        tts_http_voices: vec!["nova".to_owned()],
        tts_timeout_ms: timeout_ms,
        ..Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_engine_speaks_through_an_openai_compatible_service() {
    let (service, requests) = speech_service(Duration::ZERO).await;
    let server = start_server(http_engine(service.url(""), 10_000)).await;
    let api = ApiClient::new(server.addr, KEY);
    let mut ws = open_call(&server, "tts-http", ENCODING, RATE, None).await;

    let source =
        json!({"kind": "text", "text": {"text": "Your code is 1234", "voiceName": "nova"}});
    let (events, heard) = play(&api, &mut ws, "tts-http", vec![source], "PlayCompleted").await;
    assert_eq!(events.last().unwrap()["event"], "PlayCompleted");
    // The 600 ms tone, converted to the call's 8 kHz.
    assert_eq!(heard.len(), RATE.ms_to_samples(600.0));
    assert!(
        (rms(&heard) - 0.25 / 2f32.sqrt()).abs() < 0.02,
        "{}",
        rms(&heard)
    );
    let (headers, body) = requests.lock().unwrap()[0].clone();
    assert_eq!(
        body,
        json!({"model": "tts-1", "voice": "nova", "input": "Your code is 1234", "response_format": "wav"})
    );
    assert_eq!(headers["authorization"], "Bearer sk-test");

    // SSML is sent as its text; a voice not listed speaks the default.
    let source = ssml(
        r#"<speak><voice name="en-US-JennyNeural">Hello <break time="1s"/> world</voice></speak>"#,
    );
    play(&api, &mut ws, "tts-http", vec![source], "PlayCompleted").await;
    let (_, body) = requests.lock().unwrap()[1].clone();
    assert_eq!(
        (body["input"].as_str(), body["voice"].as_str()),
        (Some("Hello world"), Some("alloy"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_speech_service_slower_than_the_timeout_fails_the_play_with_408() {
    let (service, _) = speech_service(Duration::from_secs(30)).await;
    let server = start_server(http_engine(service.url(""), 300)).await;
    let api = ApiClient::new(server.addr, KEY);
    let mut ws = open_call(&server, "tts-slow", ENCODING, RATE, None).await;
    let (events, _) = play(&api, &mut ws, "tts-slow", vec![text("hi")], "PlayFailed").await;
    let (code, sub_code, message) = failure(&events);
    assert_eq!((code, sub_code), (408, 8565), "{message}");
    assert!(message.contains("tts_timeout_ms"), "{message}");
}
