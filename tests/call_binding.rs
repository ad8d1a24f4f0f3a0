//! Call ids are bound to the socket that streams them, on a real server with real
//! WebSocket, SSE and API clients: a second socket naming a live call is refused (ACS:
//! 409 before the upgrade; raw: close 1008 right after its start) and leaves the first
//! call alone (its events, digits and operations carry on); a `stream`-scoped call
//! token opens only its own call (raw `callId`, Twilio `callSid`, ACS header).

mod common;

use std::time::Duration;

use base64::Engine;
use common::http_peer::ApiClient;
use common::*;
use serde_json::{Value, json};
use tonegate::SampleRate;
use tonegate::auth::call_token::{self, Scope};
use tonegate::codec::Encoding;
use tonegate::server::Config;
use tonegate::server::stream_auth::Mode;

const KEY: &[u8] = b"call binding test key, 32 bytes.";
const EVENT_TOKEN: &str = "binding-event-token";
const STREAM_TOKEN: &str = "static-stream-token";

fn key_b64() -> String {
    base64::engine::general_purpose::STANDARD.encode(KEY)
}

/// SSE events of `call_id` (by `callId`, or a CloudEvent's `callConnectionId`) until one
/// for which `done` holds.
async fn events_until(sse: &mut Sse, call_id: &str, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(20), sse.next())
            .await
            .expect("SSE event in time");
        let of_call = e["callId"] == call_id || e["data"]["callConnectionId"] == call_id;
        if !of_call {
            continue;
        }
        let finished = done(&e);
        seen.push(e);
        if finished {
            return seen;
        }
    }
}

#[tokio::test]
async fn a_second_socket_for_a_live_call_is_refused_and_disturbs_nothing() {
    let (callback, _posts) = common::webhook::start_listener().await;
    let config = Config {
        access_key: Some(key_b64()),
        event_token: Some(EVENT_TOKEN.to_owned()),
        ..Config::default()
    };
    let server = start(with_callbacks(config, &[&callback])).await;
    let bearer = format!("Bearer {EVENT_TOKEN}");
    let auth = [("authorization", bearer.as_str())];
    let mut sse = Sse::connect_with(server.addr, "/v1/calls/bind-1/events", &auth).await;
    let first = LiveCall::raw(
        connect_authenticated(server.addr, "/media/raw").await,
        &server.handle,
        "bind-1",
        &callback,
    )
    .await;
    events_until(&mut sse, "bind-1", |e| e["type"] == "started").await;

    // A raw impostor (with the same credentials) naming the live call: closed 1008
    // right after its start.
    let mut impostor = connect_authenticated(server.addr, "/media/raw").await;
    start_raw(&mut impostor, "bind-1", SampleRate::HZ_8000, Encoding::Ulaw).await;
    let got = read_all(&mut impostor, Duration::from_secs(10)).await;
    assert_eq!(got.close.as_ref().map(|c| c.0), Some(1008), "{got:?}");
    assert!(
        got.of_type("error")
            .iter()
            .any(|e| e["code"] == "duplicateCallId"),
        "{got:?}"
    );

    // The first call carries on: its digits arrive, and nothing of the impostor (no
    // error, no end) reached its events.
    first.press("42", SampleRate::HZ_8000);
    let seen = events_until(&mut sse, "bind-1", |e| {
        e["type"] == "dtmf" && e["digit"] == "2"
    })
    .await;
    let types: Vec<&str> = seen.iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(
        !types.iter().any(|t| *t == "error" || *t == "ended"),
        "{seen:?}"
    );
    let presses: Vec<&Value> = seen.iter().filter(|e| e["type"] == "dtmf").collect();
    assert_eq!(keys(&presses), "42");

    // Its operations still work.
    let client = ApiClient::new(server.addr, KEY);
    let body = json!({
        "recognizeInputType": "dtmf",
        "recognizeOptions": {
            "targetParticipant": {"rawId": "4:+15551234567"},
            "dtmfOptions": {"maxTonesToCollect": 1},
        },
        "operationContext": "after-impostor",
    });
    let (status, reply) = client.operation("bind-1", "recognize", &body).await;
    assert_eq!(status, 202, "{reply}");
    first.press("7", SampleRate::HZ_8000);
    let done = events_until(&mut sse, "bind-1", |e| {
        e["type"] == "Microsoft.Communication.RecognizeCompleted"
    })
    .await;
    let completed = done.last().unwrap();
    assert_eq!(completed["data"]["operationContext"], "after-impostor");

    // An ACS socket naming a live call in its header is refused before the upgrade.
    let acs = try_connect_with_headers(
        server.addr,
        "/media/acs",
        &[("x-ms-call-connection-id", "bind-1"), STREAM_AUTH],
    )
    .await;
    match acs {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 409, "{response:?}");
        }
        other => panic!("expected 409, got {:?}", other.map(|_| ())),
    }
    assert_eq!(server.handle.registry().calls(), ["bind-1"]);
}

/// A call token of scope `stream` opens only its call; the static token any call.
#[tokio::test]
async fn a_stream_call_token_opens_only_its_call() {
    let (callback, _posts) = common::webhook::start_listener().await;
    let config = Config {
        access_key: Some(key_b64()),
        stream_auth: Mode::Token,
        stream_auth_token: Some(STREAM_TOKEN.to_owned()),
        ..Config::default()
    };
    let server = start(allow_callbacks(config, &[&callback])).await;
    #[allow(clippy::disallowed_methods)]
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 300;
    let token = |call: &str| {
        format!(
            "Bearer {}",
            call_token::mint(KEY, Scope::Stream, call, expires)
        )
    };

    // Raw: the token's call streams; another call id is closed 1008.
    let own = token("tok-raw");
    let ws = try_connect_with_headers(server.addr, "/media/raw", &[("authorization", &own)])
        .await
        .unwrap();
    let _raw = LiveCall::raw(ws, &server.handle, "tok-raw", &callback).await;
    let mut other = try_connect_with_headers(server.addr, "/media/raw", &[("authorization", &own)])
        .await
        .unwrap();
    start_raw(
        &mut other,
        "tok-elsewhere",
        SampleRate::HZ_8000,
        Encoding::Ulaw,
    )
    .await;
    let got = read_all(&mut other, Duration::from_secs(10)).await;
    assert_eq!(got.close.as_ref().map(|c| c.0), Some(1008), "{got:?}");
    assert!(
        got.close.as_ref().unwrap().1.contains("another call"),
        "{got:?}"
    );

    // Twilio: the token binds `callSid`.
    let twilio_token = token("CA-tok");
    let mut twilio = try_connect_with_headers(
        server.addr,
        "/media/twilio",
        &[("authorization", &twilio_token)],
    )
    .await
    .unwrap();
    send_text(
        &mut twilio,
        r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC1","streamSid":"MZ1","callSid":"CA-not-tok","tracks":["inbound"],"customParameters":{},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZ1"}"#,
    )
    .await;
    let got = read_all(&mut twilio, Duration::from_secs(10)).await;
    assert_eq!(got.close.as_ref().map(|c| c.0), Some(1008), "{got:?}");

    // ACS: the header is known before the upgrade, so a mismatch is a 401.
    let refused = unauthorized(
        try_connect_with_headers(
            server.addr,
            "/media/acs",
            &[
                ("authorization", &token("tok-acs")),
                ("x-ms-call-connection-id", "tok-not-acs"),
            ],
        )
        .await,
    );
    assert!(refused.unwrap_err().contains("another call"));
    let ws = try_connect_with_headers(
        server.addr,
        "/media/acs",
        &[
            ("authorization", &token("tok-acs")),
            ("x-ms-call-connection-id", "tok-acs"),
        ],
    )
    .await
    .unwrap();
    let _acs = LiveCall::acs(ws, &server.handle, "tok-acs").await;

    // An `events` token is no audio credential; the static token opens any call.
    let events_token = format!(
        "Bearer {}",
        call_token::mint(KEY, Scope::Events, "tok-ev", expires)
    );
    let refused = unauthorized(
        try_connect_with_headers(
            server.addr,
            "/media/raw",
            &[("authorization", &events_token)],
        )
        .await,
    );
    assert!(refused.is_err());
    let static_bearer = format!("Bearer {STREAM_TOKEN}");
    let ws = try_connect_with_headers(
        server.addr,
        "/media/raw",
        &[("authorization", &static_bearer)],
    )
    .await
    .unwrap();
    let _any = LiveCall::raw(ws, &server.handle, "tok-any", &callback).await;

    let mut calls = server.handle.registry().calls();
    calls.sort();
    assert_eq!(calls, ["tok-acs", "tok-any", "tok-raw"]);
}
