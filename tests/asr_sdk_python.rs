//! The official Python SDK (azure-communication-callautomation 1.6.0) asks for speech
//! recognizes on an ACS call (16 kHz PCM over WSS): `RecognizeInputType.CHOICES` said
//! and not matched, `SPEECH`, `SPEECH_OR_DTMF` answered with a key, and `SPEECH` that
//! hears nothing, then starts, updates and stops live transcription (the flow and its
//! checks: `tests/common/sdk_speech.rs`); the test speaks with espeak-ng into the call's
//! audio, the CloudEvents arrive signed at a local HTTP listener with Call Automation's
//! bodies and codes, and the transcript at a local WebSocket.
//!
//! Needs what `tests/sdk_python.rs` needs (python3 with venv, PyPI the first time) and
//! Debian's `pocketsphinx`, `pocketsphinx-en-us` and `espeak-ng`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::sdk::{Script, manifest_dir, python_with};
use common::*;
use tonegate::server::Config;

const KEY: &[u8] = b"tonegate sdk test key, 32 bytes!";
const CALL: &str = "sdk-speech-1";

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
    let (transcripts, mut frames) = transcripts::endpoint().await;
    let key_b64 = b64(KEY);
    let config = Config {
        access_key: Some(key_b64.clone()),
        transcription_url: Some(format!("ws://{transcripts}/")),
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
    let script = Script::spawn(command);
    let mut events = webhook::Events::new(posts, KEY);
    sdk_speech::follow(script, &call, &mut events, &mut frames, CALL).await;
}
