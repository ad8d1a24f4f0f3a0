//! The event streams' credentials, on a real server with real SSE clients: once an
//! access key or `event_token` is configured, a stream needs the token (header or
//! `access_token` parameter), a call token for its own call (minted by `tonegate
//! token`), or an HMAC-signed GET that is not a replay; anything else is 401 with
//! `WWW-Authenticate`. Signed media-operation API requests cannot be replayed either.

mod common;

use base64::Engine;
use common::http_peer::{ApiClient, open_call, signed_headers};
use common::*;
use tonegate::SampleRate;
use tonegate::auth::call_token::{self, Scope};
use tonegate::codec::Encoding;
use tonegate::server::Config;

const KEY: &[u8] = b"event stream test key, 32 bytes.";
const EVENT_TOKEN: &str = "all-calls-event-token";

fn config() -> Config {
    Config {
        access_key: Some(base64::engine::general_purpose::STANDARD.encode(KEY)),
        event_token: Some(EVENT_TOKEN.to_owned()),
        ..Config::default()
    }
}

/// A call token for `call_id` and `scope` valid for `ttl_s` seconds from now.
fn call_token(scope: Scope, call_id: &str, ttl_s: i64) -> String {
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    call_token::mint(KEY, scope, call_id, (now + ttl_s) as u64)
}

/// The refusal of `path` with `headers`: asserts a 401 with a challenge, returns the
/// response.
async fn refused(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> String {
    let Err(response) = Sse::try_connect(server.addr, path, headers).await else {
        panic!("{path} with {headers:?} was accepted");
    };
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{response}"
    );
    response
}

/// Waits for the `started` event of `call_id` on `sse`.
async fn started(sse: &mut Sse, call_id: &str) {
    sse.until(call_id, "started").await;
}

#[tokio::test]
async fn event_streams_need_credentials() {
    let server = start(config()).await;

    // No credentials, a wrong token, a wrong scheme: 401, on both streams.
    for path in ["/v1/events", "/v1/calls/ev-a/events"] {
        refused(&server, path, &[]).await;
        refused(&server, path, &[("authorization", "Bearer nope")]).await;
        refused(&server, path, &[("authorization", "Basic Zm9vOmJhcg==")]).await;
        refused(&server, &format!("{path}?access_token=nope"), &[]).await;
    }

    // The event token, as a header and as the query parameter, reads every call.
    let bearer = format!("Bearer {EVENT_TOKEN}");
    let mut all = Sse::connect_with(server.addr, "/v1/events", &[("authorization", &bearer)]).await;
    let query = format!("/v1/events?access_token={EVENT_TOKEN}");
    let mut all_by_query = Sse::connect_with(server.addr, &query, &[]).await;

    // A call token reads its own call only: not another call, not every call, and
    // not when expired or of the stream scope.
    let token_a = call_token(Scope::Events, "ev-a", 60);
    let own = format!("Bearer {token_a}");
    let mut call_a = Sse::connect_with(
        server.addr,
        "/v1/calls/ev-a/events",
        &[("authorization", &own)],
    )
    .await;
    let by_query = format!("/v1/calls/ev-a/events?access_token={token_a}");
    let mut call_a_by_query = Sse::connect_with(server.addr, &by_query, &[]).await;
    refused(&server, "/v1/calls/ev-b/events", &[("authorization", &own)]).await;
    let body = refused(&server, "/v1/events", &[("authorization", &own)]).await;
    assert!(body.contains("/v1/calls/"), "{body}");
    let expired = format!("Bearer {}", call_token(Scope::Events, "ev-a", -120));
    let body = refused(
        &server,
        "/v1/calls/ev-a/events",
        &[("authorization", &expired)],
    )
    .await;
    assert!(body.contains("expired"), "{body}");
    let stream_scope = format!("Bearer {}", call_token(Scope::Stream, "ev-a", 60));
    refused(
        &server,
        "/v1/calls/ev-a/events",
        &[("authorization", &stream_scope)],
    )
    .await;

    // Each reader sees the calls it may see.
    let _a = open_call(&server, "ev-a", Encoding::Ulaw, SampleRate::HZ_8000, None).await;
    let _b = open_call(&server, "ev-b", Encoding::Ulaw, SampleRate::HZ_8000, None).await;
    for sse in [&mut all, &mut all_by_query] {
        started(sse, "ev-a").await;
        started(sse, "ev-b").await;
    }
    for sse in [&mut call_a, &mut call_a_by_query] {
        let seen = sse.until("ev-a", "started").await;
        assert!(seen.iter().all(|e| e["callId"] == "ev-a"), "{seen:?}");
    }
}

/// An HMAC-signed GET (the SDKs' scheme, as the media-operation API checks it) opens a
/// stream once; the same signed request again is a replay: 401.
#[tokio::test]
async fn signed_event_stream_request_cannot_be_replayed() {
    let server = start(config()).await;
    let path = "/v1/calls/ev-signed/events";
    let signed = signed_headers(KEY, "GET", path, server.addr, "");
    let headers: Vec<(&str, &str)> = signed.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let mut sse = Sse::connect_with(server.addr, path, &headers).await;
    let replay = refused(&server, path, &headers).await;
    assert!(replay.contains("already used"), "{replay}");
    // A signature made with another key is refused too.
    let forged = signed_headers(b"not the key", "GET", path, server.addr, "");
    let forged: Vec<(&str, &str)> = forged.iter().map(|(n, v)| (*n, v.as_str())).collect();
    refused(&server, path, &forged).await;

    let _call = open_call(
        &server,
        "ev-signed",
        Encoding::Ulaw,
        SampleRate::HZ_8000,
        None,
    )
    .await;
    started(&mut sse, "ev-signed").await;
}

/// A media-operation API request signed once is accepted once: the same request sent
/// again (within the 5 minutes its date is valid) is refused with 401.
#[tokio::test]
async fn signed_api_request_cannot_be_replayed() {
    let server = start(config()).await;
    let _call = open_call(
        &server,
        "replay-1",
        Encoding::Ulaw,
        SampleRate::HZ_8000,
        None,
    )
    .await;
    let client = ApiClient::new(server.addr, KEY);
    let path = "/calling/callConnections/replay-1:cancelAllMediaOperations?api-version=x";
    let mut captured = None;
    let (status, reply) = client
        .send("POST", path, "", |d, h, a| {
            captured = Some((d.clone(), h.clone(), a.clone()))
        })
        .await;
    assert_eq!(status, 202, "{reply}");
    let (date, hash, authorization) = captured.unwrap();
    let (status, reply) = client
        .send("POST", path, "", |d, h, a| {
            (*d, *h, *a) = (date, hash, authorization);
        })
        .await;
    assert_eq!(status, 401, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{reply}"
    );
    let metrics = http_get(server.addr, "/metrics").await.1;
    assert!(
        metrics.contains(r#"tonegate_decode_errors_total{code="signatureReplayed"} 1"#),
        "{metrics}"
    );
}

/// `tonegate token` prints a call token made with `TONEGATE_ACCESS_KEY` that the
/// server accepts for that call's stream only.
#[tokio::test]
async fn token_command_mints_a_call_token() {
    let server = start(config()).await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tonegate"))
        .args([
            "token", "--call", "ev-cli", "--scope", "events", "--ttl-s", "120",
        ])
        .env_clear()
        .env(
            "TONEGATE_ACCESS_KEY",
            base64::engine::general_purpose::STANDARD.encode(KEY),
        )
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("tgc1."), "{token}");
    let bearer = format!("Bearer {token}");
    let mut sse = Sse::connect_with(
        server.addr,
        "/v1/calls/ev-cli/events",
        &[("authorization", &bearer)],
    )
    .await;
    refused(
        &server,
        "/v1/calls/ev-other/events",
        &[("authorization", &bearer)],
    )
    .await;
    let _call = open_call(&server, "ev-cli", Encoding::Ulaw, SampleRate::HZ_8000, None).await;
    started(&mut sse, "ev-cli").await;

    // Without a key it says which settings give one.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tonegate"))
        .args(["token", "--call", "ev-cli", "--scope", "stream"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("TONEGATE_ACCESS_KEY"),
        "{output:?}"
    );
}
