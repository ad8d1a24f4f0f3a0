//! The media-operation API's HMAC authentication and validation, with a Rust signer
//! made like the SDK's: bad signature, bad body hash, stale date and no configured key
//! are 401; unknown calls 404 with an ACS error body; bad bodies 400 naming the field;
//! a failing file source becomes PlayFailed 8536 with failedPlaySourceIndex.

mod common;

use std::time::{Duration, SystemTime};

use base64::Engine;
use common::http_peer::{ApiClient, open_call};
use common::*;
use tonegate::SampleRate;
use tonegate::auth::request_signature as auth;
use tonegate::codec::Encoding;
use tonegate::server::Config;

const KEY: &[u8] = b"another test key for the api....";

const PLAY: &str = "/calling/callConnections/auth-1:play?api-version=2026-03-12";

#[tokio::test]
async fn hmac_auth_validation_and_errors() {
    let key = base64::engine::general_purpose::STANDARD.encode(KEY);
    let server = start(Config {
        access_key: Some(key),
        ..Config::default()
    })
    .await;
    let _call = open_call(&server, "auth-1", Encoding::Ulaw, SampleRate::HZ_8000, None).await;
    let client = ApiClient::new(server.addr, KEY);
    let body = r#"{"playSources":[{"kind":"file","file":{"uri":"file:///nonexistent/x.wav"}}],"operationContext":"p"}"#;

    // Signed correctly: accepted; the missing file fails asynchronously.
    let mut events = server.handle.cloud_events();
    let (status, _) = client.send("POST", PLAY, body, |_, _, _| {}).await;
    assert_eq!(status, 202);
    let failed = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.kind, "Microsoft.Communication.PlayFailed");
    let info = failed.data.result_information.as_ref().unwrap();
    assert_eq!((info.code, info.sub_code), (400, 8536));
    assert_eq!(failed.data.details.failed_play_source_index, Some(0));

    // Wrong signature, wrong body hash, stale date: 401.
    let (status, err) = client.send("POST", PLAY, body, |_, _, a| a.push('x')).await;
    assert_eq!(status, 401, "{err}");
    assert_eq!(err["error"]["code"], "Unauthorized");
    let (status, _) = client
        .send("POST", PLAY, body, |_, h, _| {
            *h = auth::content_hash(b"something else")
        })
        .await;
    assert_eq!(status, 401);
    let (status, err) = client
        .send("POST", PLAY, body, |d, _, _| {
            #[allow(clippy::disallowed_methods)]
            let then = SystemTime::now() - Duration::from_secs(400);
            *d = httpdate::fmt_http_date(then);
        })
        .await;
    assert_eq!(status, 401);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("5 minutes")
    );

    // Unknown call: 404 with an ACS error body.
    let (status, err) = client
        .send(
            "POST",
            "/calling/callConnections/nope:cancelAllMediaOperations?api-version=x",
            "",
            |_, _, _| {},
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], "NotFound");

    // Validation names the field.
    let bad = [
        (
            r#"{"recognizeInputType":"choices","recognizeOptions":{"targetParticipant":{"rawId":"4:+1"}}}"#,
            "recognize",
            "recognizeOptions.choices",
        ),
        (
            r#"{"recognizeInputType":"dtmf","recognizeOptions":{"targetParticipant":{"rawId":"4:+1"},"initialSilenceTimeoutInSeconds":301}}"#,
            "recognize",
            "initialSilenceTimeoutInSeconds",
        ),
        (r#"{"tones":["one"]}"#, "sendDtmfTones", "targetParticipant"),
        (
            r#"{"tones":["eleven"],"targetParticipant":{"rawId":"4:+1"}}"#,
            "sendDtmfTones",
            "tones[0]",
        ),
        (
            r#"{"playSources":[{"kind":"file","file":{"uri":"file:///a/../../etc/passwd"}}]}"#,
            "play",
            "playSources[0].file.uri",
        ),
        (
            r#"{"targetParticipant":{"rawId":"4:+1"},"operationCallbackUri":"javascript:alert(1)"}"#,
            "startContinuousDtmfRecognition",
            "operationCallbackUri",
        ),
    ];
    for (body, op, field) in bad {
        let path = format!("/calling/callConnections/auth-1:{op}?api-version=x");
        let (status, err) = client.send("POST", &path, body, |_, _, _| {}).await;
        assert_eq!(status, 400, "{op} {body}: {err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{message} should name {field}");
    }

    // Call properties.
    let (status, props) = client
        .send(
            "GET",
            "/calling/callConnections/auth-1?api-version=x",
            "",
            |_, _, _| {},
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(props["callConnectionId"], "auth-1");
    assert_eq!(props["callConnectionState"], "connected");
    assert_eq!(props["mediaStreamingSubscription"]["sampleRate"], 8000);
    assert_eq!(props["mediaStreamingSubscription"]["encoding"], "ulaw");
}

#[tokio::test]
async fn api_refused_without_access_key() {
    let server = start(Config::default()).await;
    let client = ApiClient::new(server.addr, KEY);
    let (status, err) = client.send("POST", PLAY, "{}", |_, _, _| {}).await;
    assert_eq!(status, 401);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("access_key")
    );
}
