//! The official JS SDK's event parser reads every CloudEvent tonegate emits: a live
//! raw-dialect call, signed media-operation requests and digits pressed in the audio
//! make tonegate emit each event type it can (PlayStarted, PlayCompleted, PlayFailed
//! 8535 / 8536, PlayCanceled, RecognizeCompleted 8531 / 8514 / 8532, RecognizeFailed
//! 8510 / 8511, RecognizeCanceled, ContinuousDtmfRecognitionToneReceived,
//! ContinuousDtmfRecognitionStopped, SendDtmfTonesCompleted, SendDtmfTonesFailed,
//! HoldFailed, TranscriptionStarted, TranscriptionUpdated, TranscriptionStopped,
//! TranscriptionFailed); a real HTTP listener receives the webhooks; each body, exactly as posted,
//! goes through `parseCallAutomationEvent` of `@azure/communication-call-automation`
//! (`tests/sdk/js/parse.mjs`, version pinned in `tests/sdk/js/package.json` and
//! `package-lock.json`), and what the SDK made of each event must be what tonegate sent.
//!
//! ContinuousDtmfRecognitionToneFailed comes last: continuous recognition is running
//! when the connection drops. The test fails if another type is added and not covered.
//!
//! Needs `node` and `npm` and Debian's `pocketsphinx` (transcription needs a recogniser;
//! scripts/test installs them) and network access to npm the
//! first time: `npm ci` installs the SDK into `target/sdk-js`, again only when the
//! committed lock file changes. If that fails the test fails, saying why.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use common::http_peer::ApiClient;
use common::sdk::{run, sdk_js};
use common::transcripts;
use common::webhook::{self, Events};
use common::*;
use serde_json::{Value, json};
use tonegate::SampleRate;
use tonegate::api::EventName;
use tonegate::server::Config;

const KEY: &[u8] = b"tonegate js sdk test key, 32 b..";
const CALL_ID: &str = "js-call-1";

fn target() -> Value {
    json!({"rawId": "4:+15551234567", "phoneNumber": {"value": "+15551234567"}})
}

fn file(path: &Path) -> Value {
    json!({"kind": "file", "file": {"uri": format!("file://{}", path.display())}})
}

/// A DTMF recognize body: `options` are merged into `recognizeOptions`, `dtmf` is its
/// `dtmfOptions`.
fn recognize(context: &str, options: Value, dtmf: Value, prompts: &[Value]) -> Value {
    let mut recognize_options = json!({"targetParticipant": target(), "dtmfOptions": dtmf});
    for (k, v) in options.as_object().unwrap() {
        recognize_options[k] = v.clone();
    }
    json!({
        "recognizeInputType": "dtmf",
        "playPrompts": prompts,
        "recognizeOptions": recognize_options,
        "operationContext": context,
    })
}

/// The live call under test.
struct Call {
    api: ApiClient,
    events: Events,
    live: LiveCall,
}

impl Call {
    /// Sends `op` and checks the reply's status.
    async fn op(&self, op: &str, body: Value, status: u16) {
        let (got, reply) = self.api.operation(CALL_ID, op, &body).await;
        assert_eq!(got, status, "{op} {body}: {reply}");
    }

    /// Presses `keys` in the inbound audio.
    fn press(&self, keys: &str) {
        self.live.press(keys, SampleRate::HZ_8000);
    }

    /// Waits for `kind` with `context` and checks its result code and sub-code.
    async fn expect(&mut self, kind: &str, context: &str, code: u16, sub_code: u32) -> Value {
        let e = self.events.until(kind, context).await;
        let info = &e["data"]["resultInformation"];
        assert_eq!(
            (info["code"].as_u64(), info["subCode"].as_u64()),
            (Some(u64::from(code)), Some(u64::from(sub_code))),
            "{e:#}"
        );
        assert!(!info["message"].as_str().unwrap().is_empty(), "{e:#}");
        e
    }
}

/// Makes tonegate emit every event type it can on `call`.
async fn drive(call: &mut Call, prompt: &Path, not_audio: &Path, missing: &Path) {
    // Play: started and completed; a bad second source (8535) and a missing one (8536).
    call.op(
        "play",
        json!({"playSources": [file(prompt)], "operationContext": "play-ok"}),
        202,
    )
    .await;
    call.expect("PlayStarted", "play-ok", 200, 0).await;
    call.expect("PlayCompleted", "play-ok", 200, 0).await;
    call.op(
        "play",
        json!({"playSources": [file(prompt), file(not_audio)], "operationContext": "play-bad"}),
        202,
    )
    .await;
    let e = call.expect("PlayFailed", "play-bad", 400, 8535).await;
    assert_eq!(e["data"]["failedPlaySourceIndex"], 1);
    call.op(
        "play",
        json!({"playSources": [file(missing)], "operationContext": "play-missing"}),
        202,
    )
    .await;
    let e = call.expect("PlayFailed", "play-missing", 400, 8536).await;
    assert_eq!(e["data"]["failedPlaySourceIndex"], 0);

    // Hold with music that cannot be read.
    call.op(
        "hold",
        json!({"targetParticipant": target(), "playSourceInfo": file(missing), "operationContext": "hold-bad"}),
        200,
    )
    .await;
    call.expect("HoldFailed", "hold-bad", 400, 8536).await;

    // Continuous recognition: two tones, then stopped.
    let continuous = json!({"targetParticipant": target(), "operationContext": "cont"});
    call.op("startContinuousDtmfRecognition", continuous.clone(), 200)
        .await;
    call.press("5#");
    for (sequence, tone) in [(1, "five"), (2, "pound")] {
        let e = call
            .events
            .until_where(&format!("ToneReceived {sequence}"), |e| {
                e["type"] == "Microsoft.Communication.ContinuousDtmfRecognitionToneReceived"
                    && e["data"]["sequenceId"] == sequence
            })
            .await;
        assert_eq!(e["data"]["tone"], tone, "{e:#}");
        assert_eq!(e["data"]["operationContext"], "cont");
    }
    call.op("stopContinuousDtmfRecognition", continuous, 200)
        .await;
    call.expect("ContinuousDtmfRecognitionStopped", "cont", 200, 0)
        .await;

    // Recognize: max tones (after its prompt), stop tone, inter-tone timeout with a
    // tone, initial silence, a prompt that cannot be played.
    let patient = json!({"initialSilenceTimeoutInSeconds": 20});
    call.op(
        "recognize",
        recognize(
            "rec-max",
            patient.clone(),
            json!({"maxTonesToCollect": 3, "interToneTimeoutInSeconds": 10}),
            &[file(prompt)],
        ),
        202,
    )
    .await;
    call.expect("PlayStarted", "rec-max", 200, 0).await;
    call.expect("PlayCompleted", "rec-max", 200, 0).await;
    call.press("1A*");
    let e = call
        .expect("RecognizeCompleted", "rec-max", 200, 8531)
        .await;
    assert_eq!(
        e["data"]["dtmfResult"]["tones"],
        json!(["one", "a", "asterisk"])
    );
    assert_eq!(e["data"]["recognitionType"], "dtmf");

    call.op(
        "recognize",
        recognize(
            "rec-stop",
            patient.clone(),
            json!({"stopTones": ["pound"], "interToneTimeoutInSeconds": 10}),
            &[],
        ),
        202,
    )
    .await;
    call.press("90#");
    let e = call
        .expect("RecognizeCompleted", "rec-stop", 200, 8514)
        .await;
    assert_eq!(e["data"]["dtmfResult"]["tones"], json!(["nine", "zero"]));

    call.op(
        "recognize",
        recognize(
            "rec-inter",
            patient.clone(),
            json!({"interToneTimeoutInSeconds": 1}),
            &[],
        ),
        202,
    )
    .await;
    call.press("7");
    let e = call
        .expect("RecognizeCompleted", "rec-inter", 400, 8532)
        .await;
    assert_eq!(e["data"]["dtmfResult"]["tones"], json!(["seven"]));

    call.op(
        "recognize",
        recognize(
            "rec-silence",
            json!({"initialSilenceTimeoutInSeconds": 1}),
            json!({}),
            &[],
        ),
        202,
    )
    .await;
    call.expect("RecognizeFailed", "rec-silence", 400, 8510)
        .await;

    call.op(
        "recognize",
        recognize(
            "rec-prompt-bad",
            patient.clone(),
            json!({}),
            &[file(prompt), file(missing)],
        ),
        202,
    )
    .await;
    let e = call
        .expect("RecognizeFailed", "rec-prompt-bad", 500, 8511)
        .await;
    assert_eq!(e["data"]["failedPlaySourceIndex"], 1);

    // Send DTMF.
    call.op(
        "sendDtmfTones",
        json!({"tones": ["one", "pound"], "targetParticipant": target(), "operationContext": "send-ok"}),
        202,
    )
    .await;
    call.expect("SendDtmfTonesCompleted", "send-ok", 200, 0)
        .await;

    // A looping play with a recognize and a send queued behind it, all canceled.
    call.op(
        "play",
        json!({"playSources": [file(prompt)], "playOptions": {"loop": true}, "operationContext": "loop"}),
        202,
    )
    .await;
    call.expect("PlayStarted", "loop", 200, 0).await;
    call.op(
        "recognize",
        recognize("rec-cancel", patient, json!({}), &[]),
        202,
    )
    .await;
    call.op(
        "sendDtmfTones",
        json!({"tones": ["two"], "targetParticipant": target(), "operationContext": "send-cancel"}),
        202,
    )
    .await;
    call.op("cancelAllMediaOperations", json!({}), 202).await;
    call.expect("PlayCanceled", "loop", 400, 8508).await;
    call.expect("RecognizeCanceled", "rec-cancel", 400, 8508)
        .await;
    call.expect("SendDtmfTonesFailed", "send-cancel", 400, 8508)
        .await;

    // Live transcription: started, updated and stopped over the endpoint's one
    // connection; a second start finds nobody listening there: failed.
    call.op("startTranscription", json!({"operationContext": "tr"}), 202)
        .await;
    call.expect("TranscriptionStarted", "tr", 200, 0).await;
    let update = json!({"locale": "en-GB", "operationContext": "tr-update"});
    call.op("updateTranscription", update, 202).await;
    call.expect("TranscriptionUpdated", "tr-update", 200, 0)
        .await;
    let stop = json!({"operationContext": "tr-stop"});
    call.op("stopTranscription", stop, 202).await;
    call.expect("TranscriptionStopped", "tr-stop", 200, 0).await;
    let start = json!({"operationContext": "tr-failed"});
    call.op("startTranscription", start, 202).await;
    call.expect("TranscriptionFailed", "tr-failed", 500, 9999)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_sdk_parses_every_event() {
    let sdk = tokio::task::spawn_blocking(sdk_js).await.unwrap();
    let dir = std::env::temp_dir().join(format!("tonegate-sdk-js-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prompt = write_prompt(&dir);
    let not_audio = dir.join("not-audio.wav");
    std::fs::write(&not_audio, b"this is not a WAV file").unwrap();
    let missing = dir.join("missing.wav");

    let (callback, posts) = webhook::start_listener().await;
    let (transcripts, _frames) = transcripts::endpoint().await;
    let config = Config {
        access_key: Some(b64(KEY)),
        prompt_dir: dir.clone(),
        transcription_url: Some(format!("ws://{transcripts}/")),
        ..Config::default()
    };
    let server = start(with_callbacks(config, &[&callback])).await;
    let mut published = server.handle.cloud_events();
    let ws = connect_authenticated(server.addr, "/media/raw").await;
    let live = LiveCall::raw(ws, &server.handle, CALL_ID, &callback).await;
    let mut call = Call {
        api: ApiClient::new(server.addr, KEY),
        events: Events::new(posts, KEY),
        live,
    };
    drive(&mut call, &prompt, &not_audio, &missing).await;
    // Continuous recognition running when the connection drops: ToneFailed.
    let continuous = json!({"targetParticipant": target(), "operationContext": "cont-lost"});
    call.op("startContinuousDtmfRecognition", continuous, 200)
        .await;
    let Call {
        mut events, live, ..
    } = call;
    live.lose();
    events
        .until("ContinuousDtmfRecognitionToneFailed", "cont-lost")
        .await;

    // What tonegate published, by id: each webhook event is exactly one of them.
    let mut sent = HashMap::new();
    while let Ok(e) = published.try_recv() {
        sent.insert(e.id.clone(), serde_json::to_value(&*e).unwrap());
    }
    for e in &events.all {
        assert_eq!(
            Some(e),
            sent.get(e["id"].as_str().unwrap()),
            "not as published"
        );
    }

    // The SDK parses each body as posted (each a one-element array: the parser reads
    // only the first element of an array).
    let mut bodies = Vec::new();
    for body in &events.bodies {
        let batch: Vec<Value> = serde_json::from_slice(body).unwrap();
        assert_eq!(batch.len(), 1, "one event per POST");
        bodies.push(String::from_utf8(body.to_vec()).expect("UTF-8 body"));
    }
    let file = dir.join("bodies.json");
    std::fs::write(&file, serde_json::to_vec(&bodies).unwrap()).unwrap();
    let out = run(
        &sdk,
        "node",
        &["parse.mjs", file.to_str().unwrap()],
        "parse.mjs",
    );
    let parsed: Vec<Value> = serde_json::from_slice(&out).unwrap();
    assert_eq!(parsed.len(), events.all.len());
    for (p, e) in parsed.iter().zip(&events.all) {
        assert_eq!(p["id"], e["id"]);
        assert_eq!(p.get("error"), None, "the SDK refused {e:#}");
        // Recognised: a typed event whose kind is the type's name.
        let name = e["type"]
            .as_str()
            .unwrap()
            .strip_prefix("Microsoft.Communication.")
            .unwrap();
        assert_eq!(p["kind"], name, "{p:#}");
        let data = &e["data"];
        for key in [
            "callConnectionId",
            "serverCallId",
            "correlationId",
            "operationContext",
            "resultInformation",
            "recognitionType",
            "tone",
            "sequenceId",
            "failedPlaySourceIndex",
            "transcriptionUpdate",
        ] {
            assert_eq!(p[key], data[key], "{key} of {p:#} vs {e:#}");
        }
        assert_eq!(p["tones"], data["dtmfResult"]["tones"], "{p:#}");
        assert_eq!(p["callConnectionId"], CALL_ID);
        assert_eq!(p["unknownTones"], json!([]), "{p:#}");
        assert_eq!(p["timeValid"], true, "{e:#}");
    }

    // Every type tonegate can emit was seen and parsed.
    let seen: BTreeSet<&str> = parsed.iter().map(|p| p["kind"].as_str().unwrap()).collect();
    let expected: BTreeSet<&str> = EventName::ALL.iter().map(|e| e.name()).collect();
    assert_eq!(seen, expected);
    let _ = std::fs::remove_dir_all(&dir);
}
