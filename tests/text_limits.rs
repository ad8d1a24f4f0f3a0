//! Free text has a length limit (`tonegate::limits`): the media-operation API answers 400
//! naming the field, the audio dialects send an `error` event (raw) and close 1008; the
//! call (REST) or the other calls (dialects) carry on.

mod common;

use std::time::Duration;

use base64::Engine;
use common::http_peer::{ApiClient, open_call};
use common::*;
use serde_json::json;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::limits::{MAX_CONTEXT_CHARS, MAX_ID_CHARS};
use tonegate::server::Config;

const KEY: &[u8] = b"a test key for the text limits..";

fn long(chars: usize) -> String {
    "x".repeat(chars)
}

#[tokio::test]
async fn api_refuses_long_free_text_with_400() {
    let server = start(Config {
        access_key: Some(base64::engine::general_purpose::STANDARD.encode(KEY)),
        ..Config::default()
    })
    .await;
    let _call = open_call(&server, "text-1", Encoding::Ulaw, SampleRate::HZ_8000, None).await;
    let client = ApiClient::new(server.addr, KEY);
    let target = json!({"rawId": "4:+15551234567"});
    let recognize = |context: String| {
        json!({
            "recognizeInputType": "dtmf",
            "recognizeOptions": {"targetParticipant": target, "dtmfOptions": {"maxTonesToCollect": 1}},
            "operationContext": context,
        })
    };
    let refused = [
        (
            "recognize",
            recognize(long(MAX_CONTEXT_CHARS + 1)),
            "operationContext is longer than 4096 characters",
        ),
        (
            "startContinuousDtmfRecognition",
            json!({"targetParticipant": {"rawId": long(MAX_ID_CHARS + 1)}}),
            "targetParticipant.rawId is longer than 256 characters",
        ),
        (
            "play",
            json!({"playSources": [{"kind": "file", "file": {"uri": "file://a.wav"}, "playSourceCacheId": long(MAX_ID_CHARS + 1)}]}),
            "playSources[0].playSourceCacheId is longer than 256 characters",
        ),
        (
            "sendDtmfTones",
            json!({"tones": ["one"], "targetParticipant": target, "operationContext": long(100_000)}),
            "operationContext is longer than 4096 characters",
        ),
    ];
    for (op, body, message) in refused {
        let (status, reply) = client.operation("text-1", op, &body).await;
        assert_eq!(status, 400, "{op}: {reply}");
        assert_eq!(reply["error"]["message"], message, "{op}");
    }
    // At the limit is fine, and the call is undisturbed.
    let (status, reply) = client
        .operation("text-1", "recognize", &recognize(long(MAX_CONTEXT_CHARS)))
        .await;
    assert_eq!(status, 202, "{reply}");
    server.handle.shutdown();
}

/// Opens a raw call `call_id`, sends `request`, and returns what the client saw until
/// the socket closed.
async fn raw_request(server: &TestServer, call_id: &str, request: serde_json::Value) -> Received {
    let mut ws = open_call(server, call_id, Encoding::Ulaw, SampleRate::HZ_8000, None).await;
    send_text(&mut ws, request.to_string()).await;
    read_all(&mut ws, Duration::from_secs(10)).await
}

#[tokio::test]
async fn raw_dialect_refuses_long_free_text_with_1008() {
    let server = start(Config::default()).await;
    let mut other = open_call(
        &server,
        "text-ok",
        Encoding::Ulaw,
        SampleRate::HZ_8000,
        None,
    )
    .await;
    let cases = [
        (
            json!({"type": "mark", "name": long(MAX_ID_CHARS + 1)}),
            "name is longer than 256 characters",
        ),
        (
            json!({"type": "recognize", "context": long(MAX_CONTEXT_CHARS + 1)}),
            "context is longer than 4096 characters",
        ),
        (
            json!({"type": "sendDigits", "id": long(MAX_ID_CHARS + 1), "digits": "1"}),
            "id is longer than 256 characters",
        ),
        (
            json!({"type": "startContinuousDtmf", "context": long(100_000)}),
            "context is longer than 4096 characters",
        ),
    ];
    for (i, (request, message)) in cases.into_iter().enumerate() {
        let got = raw_request(&server, &format!("text-{i}"), request).await;
        let error = got.of_type("error");
        assert_eq!(
            error.last().map(|e| &e["code"]),
            Some(&json!("textTooLong")),
            "{got:?}"
        );
        assert_eq!(error.last().unwrap()["message"], message);
        assert_eq!(got.close, Some((1008, message.to_owned())));
    }
    // A long call id in the start frame is refused before the call exists.
    let mut ws = connect(server.addr, "/media/raw").await;
    let start = json!({"type": "start", "callId": long(MAX_ID_CHARS + 1), "encoding": "ulaw", "sampleRate": 8_000});
    send_text(&mut ws, start.to_string()).await;
    let got = read_all(&mut ws, Duration::from_secs(10)).await;
    assert_eq!(got.close.map(|c| c.0), Some(1008));
    // The other call never noticed.
    send_text(&mut other, r#"{"type":"mark","name":"still-here"}"#).await;
    let got = read_until(&mut other, "mark", Duration::from_secs(10)).await;
    assert_eq!(got.events.last().unwrap()["name"], "still-here");
    server.handle.shutdown();
}

#[tokio::test]
async fn acs_refuses_a_long_participant_id_with_1008() {
    let server = start(Config::default()).await;
    let mut ws = connect_with_header(
        server.addr,
        "/media/acs",
        "x-ms-call-connection-id",
        "acs-long",
    )
    .await;
    let start = r#"{"kind":"AudioMetadata","audioMetadata":{"subscriptionId":"s","encoding":"PCM","sampleRate":16000,"channels":1,"length":640}}"#;
    send_text(&mut ws, start).await;
    let audio = json!({"kind": "AudioData", "audioData": {"participantRawID": long(MAX_ID_CHARS + 1), "data": b64(&[0; 640])}});
    send_text(&mut ws, audio.to_string()).await;
    let got = read_all(&mut ws, Duration::from_secs(10)).await;
    assert_eq!(
        got.close,
        Some((
            1008,
            "audioData.participantRawID is longer than 256 characters".to_owned()
        ))
    );
    server.handle.shutdown();
}
