//! The official Python SDK (azure-communication-callautomation 1.6.0) asks for speech
//! recognizes on an ACS call (16 kHz PCM over WSS): `RecognizeInputType.CHOICES` said
//! and not matched, `SPEECH`, `SPEECH_OR_DTMF` answered with a key, and `SPEECH` that
//! hears nothing; the test speaks with espeak-ng into the call's audio, and the
//! CloudEvents arrive signed at a local HTTP listener with Call Automation's bodies and
//! codes.
//!
//! Needs what `tests/sdk_python.rs` needs (python3 with venv, PyPI the first time) and
//! Debian's `pocketsphinx`, `pocketsphinx-en-us` and `espeak-ng`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::sdk::{Script, manifest_dir, python_with};
use common::*;
use tonegate::SampleRate;
use tonegate::server::Config;

const KEY: &[u8] = b"tonegate sdk test key, 32 bytes!";
const CALL: &str = "sdk-speech-1";
const RATE: SampleRate = SampleRate::HZ_16000;

fn sdk_python() -> PathBuf {
    python_with(
        "azure.communication.callautomation",
        "azure-communication-callautomation==1.6.0",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_speech_recognizes_complete_and_fail_with_their_codes() {
    speech::require(&["espeak-ng", "pocketsphinx_continuous"]);
    let python = tokio::task::spawn_blocking(sdk_python).await.unwrap();
    let (callback, posts) = webhook::start_listener().await;
    let key_b64 = b64(KEY);
    let config = Config {
        access_key: Some(key_b64.clone()),
        ..Config::default()
    };
    let (server, pki) = common::tls::start_tls(with_callbacks(config, &[&callback])).await;
    let call = common::tls::live_acs_call(&server, &pki, CALL, &callback).await;
    let mut command = Command::new(&python);
    command
        .arg(manifest_dir().join("tests/sdk/drive.py"))
        .arg("speech")
        .env("TONEGATE_ENDPOINT", format!("https://{}/", server.addr))
        .env("REQUESTS_CA_BUNDLE", pki.cert.display().to_string())
        .env("TONEGATE_ACCESS_KEY", key_b64)
        .env("TONEGATE_CALL_ID", CALL);
    let mut script = Script::spawn(command);
    let mut events = webhook::Events::new(posts, KEY);
    let say = |text: &str| {
        let silence = vec![0.0f32; RATE.ms_to_samples(300.0)];
        let speech = speech::speak("en-us", text, RATE);
        call.audio.send([silence, speech].concat()).unwrap();
    };
    let codes = |e: &serde_json::Value| {
        let info = &e["data"]["resultInformation"];
        (
            info["code"].as_u64().unwrap(),
            info["subCode"].as_u64().unwrap(),
        )
    };

    // CHOICES, said.
    script.until_wait("choices-said").await;
    say("technical support");
    let done = events.until("RecognizeCompleted", "choices-said").await;
    assert_eq!(codes(&done), (200, 8545), "{done:#}");
    assert_eq!(done["data"]["recognitionType"], "choices");
    assert_eq!(done["data"]["choiceResult"]["label"], "Support");
    assert_eq!(
        done["data"]["choiceResult"]["recognizedPhrase"],
        "technical support"
    );
    assert_eq!(done["data"]["callConnectionId"], CALL);

    // CHOICES, not matched.
    script.resume();
    script.until_wait("choices-unmatched").await;
    say("the weather is very nice today in the garden");
    let failed = events.until("RecognizeFailed", "choices-unmatched").await;
    assert_eq!(codes(&failed), (400, 8547), "{failed:#}");

    // SPEECH: free text.
    script.resume();
    script.until_wait("speech").await;
    say("i would like to check my account balance");
    let done = events.until("RecognizeCompleted", "speech").await;
    assert_eq!(codes(&done), (200, 8545), "{done:#}");
    assert_eq!(done["data"]["recognitionType"], "speech");
    let words = done["data"]["speechResult"]["speech"].as_str().unwrap();
    assert!(!words.trim().is_empty(), "{done:#}");

    // SPEECH_OR_DTMF: a key first completes as DTMF.
    script.resume();
    script.until_wait("speech-or-dtmf").await;
    call.press("5", RATE);
    let done = events.until("RecognizeCompleted", "speech-or-dtmf").await;
    assert_eq!(codes(&done), (200, 8531), "{done:#}");
    assert_eq!(done["data"]["recognitionType"], "dtmf");
    assert_eq!(
        done["data"]["dtmfResult"]["tones"],
        serde_json::json!(["five"])
    );

    // SPEECH with nothing said: initial silence. The key's audio (200 ms of tail after
    // the tone) must be over first: a tone is loud enough to count as voice.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    script.resume();
    let steps = script.finish().await;
    assert!(steps.iter().any(|s| s["step"] == "done"), "{steps:?}");
    let failed = events.until("RecognizeFailed", "speech-silence").await;
    assert_eq!(codes(&failed), (400, 8510), "{failed:#}");
}
