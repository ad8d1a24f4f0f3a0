//! Speech recognition end to end, in a loop through tonegate: tonegate's own text to
//! speech says each phrase (a `TextSource` play on a second call, in two voices,
//! `en-US-JennyNeural` and `en-GB-SoniaNeural`, whose outbound 8 kHz µ-law audio the
//! test captures), the test streams that audio into a raw call as the caller, and
//! tonegate's pocketsphinx engine must return the right `choices` label for at least 9
//! of 10; free-text transcripts' word error rate is measured and printed (the README's
//! figure).
//!
//! Needs Debian's `pocketsphinx`, `pocketsphinx-en-us` and `espeak-ng` (`scripts/test`
//! installs them); fails with that message where they are missing.

mod common;

use std::time::Duration;

use common::http_peer::{ApiClient, open_call};
use common::*;
use serde_json::{Value, json};
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::server::Config;

const RATE: SampleRate = SampleRate::HZ_8000;
const KEY: &[u8] = b"asr loop-back test key, 32 bytes";
/// The call whose outbound audio is the synthesised speech.
const VOICE_CALL: &str = "asr-loopback-voice";
/// The two Call Automation voices phrases alternate between.
const VOICES: [&str; 2] = ["en-US-JennyNeural", "en-GB-SoniaNeural"];

/// A server with the media-operation API on, and the call tonegate speaks on.
async fn server_and_voice() -> (TestServer, ApiClient, Ws) {
    let server = start(Config {
        access_key: Some(b64(KEY)),
        ..Config::default()
    })
    .await;
    let api = ApiClient::new(server.addr, KEY);
    let voice = open_call(&server, VOICE_CALL, Encoding::Ulaw, RATE, None).await;
    (server, api, voice)
}

/// `text` said by tonegate's text to speech in `voice`: a `TextSource` played on the
/// voice call, as its outbound audio.
async fn speak(api: &ApiClient, voice_call: &mut Ws, voice: &str, text: &str) -> Vec<f32> {
    let source = json!({"kind": "text", "text": {"text": text, "voiceName": voice}});
    let (events, audio) = api
        .play_and_hear(
            voice_call,
            VOICE_CALL,
            vec![source],
            "PlayCompleted",
            Encoding::Ulaw,
            Duration::from_secs(60),
        )
        .await;
    assert!(
        events.iter().any(|e| e["event"] == "PlayCompleted"),
        "{events:?}"
    );
    audio
}

/// Streams `speech` with 400 ms of silence before and 1.5 s after, in 20 ms µ-law frames.
async fn say(ws: &mut Ws, speech: &[f32]) {
    let silence = |ms: f64| vec![0.0f32; RATE.ms_to_samples(ms)];
    let audio = [silence(400.0), speech.to_vec(), silence(1_500.0)].concat();
    for frame in audio.chunks(RATE.ms_to_samples(20.0)) {
        send_binary(ws, encode(frame, Encoding::Ulaw)).await;
    }
}

/// Sends `request` and the speech; returns the recognize's final operation event.
async fn recognize(ws: &mut Ws, request: &Value, speech: &[f32]) -> Value {
    send_text(ws, request.to_string()).await;
    say(ws, speech).await;
    let got = read_until_where(ws, "the recognize's result", Duration::from_secs(60), |v| {
        v["type"] == "operation"
            && matches!(
                v["event"].as_str(),
                Some("RecognizeCompleted" | "RecognizeFailed")
            )
    })
    .await;
    got.events.last().cloned().expect("the result event")
}

async fn raw_call(server: &TestServer, call_id: &str) -> Ws {
    let mut ws = connect(server.addr, "/media/raw").await;
    start_raw(&mut ws, call_id, RATE, Encoding::Ulaw).await;
    ws
}

/// The menu: labels with their phrases (every phrase is said once below).
fn menu() -> Value {
    json!([
        {"label": "Sales", "phrases": ["sales", "buy something"]},
        {"label": "Support", "phrases": ["technical support", "it is broken"]},
        {"label": "Billing", "phrases": ["billing", "pay my bill"]},
        {"label": "Hours", "phrases": ["opening hours"]},
        {"label": "Agent", "phrases": ["speak to an agent", "operator"]},
        {"label": "Cancel", "phrases": ["cancel my order"]}
    ])
}

#[tokio::test]
async fn spoken_choices_come_back_as_their_labels() {
    speech::require(&["espeak-ng", "pocketsphinx_continuous"]);
    let (server, api, mut voice_call) = server_and_voice().await;
    let mut ws = raw_call(&server, "asr-choices").await;
    // tonegate says the menu prompt, as an IVR would before listening.
    let prompt = speak(
        &api,
        &mut voice_call,
        VOICES[0],
        "please say sales or support",
    )
    .await;
    assert!(
        prompt.len() > RATE.ms_to_samples(1_000.0),
        "a spoken prompt"
    );
    // Ten distinct phrases, alternating between two voices.
    let said = [
        ("sales", "Sales"),
        ("buy something", "Sales"),
        ("technical support", "Support"),
        ("it is broken", "Support"),
        ("billing", "Billing"),
        ("pay my bill", "Billing"),
        ("opening hours", "Hours"),
        ("speak to an agent", "Agent"),
        ("operator", "Agent"),
        ("cancel my order", "Cancel"),
    ];
    let mut right = 0;
    let mut report = Vec::new();
    for (i, (phrase, label)) in said.iter().enumerate() {
        let voice = VOICES[i % 2];
        let request = json!({"type": "recognize", "context": format!("q{i}"),
            "input": "choices", "endSilenceMs": 700, "choices": menu()});
        let speech = speak(&api, &mut voice_call, voice, phrase).await;
        let result = recognize(&mut ws, &request, &speech).await;
        assert_eq!(result["operationContext"], format!("q{i}"));
        let heard = result["choiceResult"]["label"].as_str().unwrap_or("-");
        if heard == *label {
            right += 1;
            assert_eq!(result["event"], "RecognizeCompleted");
            assert_eq!(result["recognitionType"], "choices");
            assert_eq!(result["resultInformation"]["subCode"], 8545);
            assert_eq!(result["choiceResult"]["recognizedPhrase"], *phrase);
        }
        report.push(format!(
            "{voice} {phrase:?} -> {heard} ({})",
            result["resultInformation"]["subCode"]
        ));
    }
    println!("choices: {right} of 10 right\n  {}", report.join("\n  "));
    assert!(right >= 9, "only {right} of 10: {report:#?}");
}

#[tokio::test]
async fn speech_outside_the_choices_is_no_match_and_silence_times_out() {
    speech::require(&["espeak-ng", "pocketsphinx_continuous"]);
    let (server, api, mut voice_call) = server_and_voice().await;
    let mut ws = raw_call(&server, "asr-nomatch").await;
    let request = json!({"type": "recognize", "context": "n", "input": "choices",
        "endSilenceMs": 700, "choices": menu()});
    let speech = speak(
        &api,
        &mut voice_call,
        VOICES[0],
        "the weather is very nice today in the garden",
    )
    .await;
    let result = recognize(&mut ws, &request, &speech).await;
    assert_eq!(result["event"], "RecognizeFailed", "{result}");
    assert_eq!(result["resultInformation"]["code"], 400);
    assert_eq!(result["resultInformation"]["subCode"], 8547);

    let request = json!({"type": "recognize", "context": "s", "input": "speech",
        "initialSilenceMs": 1000});
    let result = recognize(&mut ws, &request, &[]).await;
    assert_eq!(result["event"], "RecognizeFailed", "{result}");
    assert_eq!(result["resultInformation"]["subCode"], 8510);
}

/// Word error rate: (substitutions + deletions + insertions) / reference words.
fn word_error_rate(reference: &str, heard: &str) -> f64 {
    let r: Vec<&str> = reference.split_whitespace().collect();
    let h: Vec<&str> = heard.split_whitespace().collect();
    let mut row: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, hw) in h.iter().enumerate() {
            let substitute = previous + usize::from(rw != hw);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(previous + 1);
        }
    }
    row[h.len()] as f64 / r.len().max(1) as f64
}

#[test]
fn word_error_rate_counts_edits_per_reference_word() {
    assert_eq!(word_error_rate("a b c d", "a b c d"), 0.0);
    assert_eq!(word_error_rate("a b c d", "a x c"), 0.5);
    assert_eq!(word_error_rate("a b", "a b c d"), 1.0);
}

#[tokio::test]
async fn free_speech_transcripts_and_their_word_error_rate() {
    speech::require(&["espeak-ng", "pocketsphinx_continuous"]);
    let (server, api, mut voice_call) = server_and_voice().await;
    let mut ws = raw_call(&server, "asr-speech").await;
    let sentences = [
        "i would like to check my account balance",
        "please send me a new credit card",
        "i want to talk to somebody about my order",
        "what time does the store open tomorrow",
    ];
    let (mut errors, mut words) = (0.0, 0);
    for (i, sentence) in sentences.iter().enumerate() {
        let voice = VOICES[i % 2];
        let request = json!({"type": "recognize", "context": format!("t{i}"),
            "input": "speech", "endSilenceMs": 800});
        let speech = speak(&api, &mut voice_call, voice, sentence).await;
        let result = recognize(&mut ws, &request, &speech).await;
        let heard = result["speechResult"]["speech"].as_str().unwrap_or("");
        let wer = word_error_rate(sentence, heard);
        println!(
            "{voice} {sentence:?} -> {heard:?} (WER {wer:.2}, {})",
            result["resultInformation"]
        );
        errors += wer * sentence.split_whitespace().count() as f64;
        words += sentence.split_whitespace().count();
        assert_eq!(result["event"], "RecognizeCompleted", "{result}");
        assert_eq!(result["recognitionType"], "speech");
        assert_eq!(result["resultInformation"]["subCode"], 8545);
        let confidence = result["speechResult"]["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&confidence));
    }
    println!(
        "free speech: word error rate {:.2} over {words} words",
        errors / words as f64
    );
}
