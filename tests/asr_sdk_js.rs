//! The official JS SDK (`CallAutomationClient` of `@azure/communication-call-automation`,
//! pinned in `tests/sdk/js/package.json`) asks for speech recognizes on an ACS call
//! (16 kHz PCM over WSS): `CHOICES` said and not matched, `SPEECH`, `SPEECH_OR_DTMF`
//! answered with a key, and `SPEECH` that hears nothing, then starts, updates and stops
//! live transcription (`tests/sdk/js/speech.mjs`; the flow and its checks, shared with
//! the Python SDK's test: `tests/common/sdk_speech.rs`). The test speaks with espeak-ng
//! into the call's audio; the CloudEvents arrive signed at a local HTTP listener with
//! Call Automation's bodies and codes, and the transcript at a local WebSocket.
//!
//! Needs `node` and `npm` (see `tests/sdk_js.rs`) and Debian's `pocketsphinx`,
//! `pocketsphinx-en-us` and `espeak-ng`.

mod common;

use std::process::Command;

use common::sdk::{Script, sdk_js};
use common::*;
use tonegate::server::Config;

const KEY: &[u8] = b"tonegate js speech key, 32 bytes";
const CALL: &str = "js-speech-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_sdk_speech_recognizes_and_transcription_give_their_codes() {
    speech::require(&["espeak-ng", "pocketsphinx_continuous"]);
    let sdk = tokio::task::spawn_blocking(sdk_js).await.unwrap();
    let (callback, posts) = webhook::start_listener().await;
    let (transcripts, mut frames) = transcripts::endpoint().await;
    let config = Config {
        access_key: Some(b64(KEY)),
        transcription_url: Some(format!("ws://{transcripts}/")),
        ..Config::default()
    };
    let (server, pki) = common::tls::start_tls(with_callbacks(config, &[&callback])).await;
    let call = common::tls::live_acs_call(&server, &pki, CALL, &callback).await;
    let mut command = Command::new("node");
    command
        .arg("speech.mjs")
        .current_dir(&sdk)
        .env("TONEGATE_ENDPOINT", format!("https://{}/", server.addr))
        .env("NODE_EXTRA_CA_CERTS", &pki.cert)
        .env("TONEGATE_ACCESS_KEY", b64(KEY))
        .env("TONEGATE_CALL_ID", CALL);
    let script = Script::spawn(command);
    let mut events = webhook::Events::new(posts, KEY);
    sdk_speech::follow(script, &call, &mut events, &mut frames, CALL).await;
}
