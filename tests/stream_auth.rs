//! Authentication of the audio WebSocket upgrade: the ACS RS256 JWT against a JWKS file
//! or URL (cache, rotation, fetch failures), a static bearer token, and bad settings.
//! Keys are the test-only ones in `testdata/stream_auth/`.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;
use tonegate::SampleRate;
use tonegate::auth::jwt::ACS_ISSUER;
use tonegate::codec::Encoding;
use tonegate::server::stream_auth::Mode;
use tonegate::server::{Config, Server};

const KEY_A: &str = include_str!("../testdata/stream_auth/key_a.pem");
const KEY_B: &str = include_str!("../testdata/stream_auth/key_b.pem");
const PUBLIC_A: &str = include_str!("../testdata/stream_auth/public_a.pem");
const KID_A: &str = "test-key-a";
const KID_B: &str = "test-key-b";
const AUDIENCE: &str = "6f1c7a52-3b0d-4e8a-9c4f-2d5e8b7a1c90";
const METADATA: &str = r#"{"kind":"AudioMetadata","audioMetadata":{"subscriptionId":"s","encoding":"PCM","sampleRate":16000,"channels":1,"length":640}}"#;

fn unix_now() -> u64 {
    #[allow(clippy::disallowed_methods)]
    let now = SystemTime::now();
    now.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims as ACS sends them: valid for an hour from a minute ago.
fn claims() -> Value {
    let now = unix_now();
    json!({"iss": ACS_ISSUER, "aud": AUDIENCE, "nbf": now - 60, "iat": now - 60, "exp": now + 3_600})
}

/// The RSA key pair of a PKCS#8 PEM `key`.
fn key_pair(pem: &str) -> RsaKeyPair {
    let base64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    RsaKeyPair::from_pkcs8(&STANDARD.decode(base64).unwrap()).unwrap()
}

/// A JWT of `header` and `claims`, its signature made by `sign` from the signed part.
fn jwt(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = sign(signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// An RS256 token signed with the PEM `key`, naming `kid`.
fn rs256(key: &str, kid: Option<&str>, claims: &Value) -> String {
    let mut header = json!({"typ": "JWT", "alg": "RS256"});
    if let Some(kid) = kid {
        header["kid"] = kid.into();
    }
    let key = key_pair(key);
    jwt(&header, claims, |signed| {
        let mut signature = vec![0; key.public().modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            signed,
            &mut signature,
        )
        .unwrap();
        signature
    })
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn good_token() -> String {
    rs256(KEY_A, Some(KID_A), &claims())
}

/// `claims()` with `field` set to `value`.
fn with(field: &str, value: Value) -> Value {
    let mut c = claims();
    c[field] = value;
    c
}

/// The JWKS of the given PEM keys and kids.
fn jwks(keys: &[(&str, &str)]) -> String {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(pem, kid)| {
            let public: RsaPublicKeyComponents<Vec<u8>> = key_pair(pem).public().into();
            json!({
                "kty": "RSA",
                "alg": "RS256",
                "kid": kid,
                "n": URL_SAFE_NO_PAD.encode(public.n),
                "e": URL_SAFE_NO_PAD.encode(public.e),
            })
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

fn jwt_config(jwks: String) -> Config {
    Config {
        stream_auth: Mode::Jwt,
        stream_auth_jwks: Some(jwks),
        stream_auth_audience: Some(AUDIENCE.to_owned()),
        ..Config::default()
    }
}

fn jwks_file() -> String {
    format!(
        "{}/testdata/stream_auth/jwks.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Opens an ACS call `call_id` with `authorization`; on success sends AudioMetadata.
async fn open(addr: SocketAddr, call_id: &str, authorization: Option<&str>) -> Result<Ws, String> {
    let mut headers = vec![("x-ms-call-connection-id", call_id)];
    if let Some(a) = authorization {
        headers.push(("authorization", a));
    }
    let mut ws = unauthorized(try_connect_with_headers(addr, "/media/acs", &headers).await)?;
    send_text(&mut ws, METADATA).await;
    Ok(ws)
}

/// Opens a call that must be accepted and waits for its `started` event.
async fn open_ok(server: &TestServer, call_id: &str, authorization: Option<&str>) -> Ws {
    let mut sse = Sse::connect(server.addr, &format!("/v1/calls/{call_id}/events")).await;
    let ws = open(server.addr, call_id, authorization)
        .await
        .unwrap_or_else(|reason| panic!("{call_id} refused: {reason}"));
    sse.until(call_id, "started").await;
    ws
}

/// Asserts a call is refused with `reason` and no session exists for it.
async fn assert_refused(server: &TestServer, authorization: Option<&str>, reason: &str) {
    let result = open(server.addr, "refused-call", authorization).await;
    assert_eq!(result.err().as_deref(), Some(reason), "{authorization:?}");
    assert!(server.handle.registry().dialect("refused-call").is_none());
}

/// Streams the digit `5` on an open ACS call and waits for its `dtmf` event.
async fn dtmf_on(server: &TestServer, ws: &mut Ws, call_id: &str) {
    let mut sse = Sse::connect(server.addr, &format!("/v1/calls/{call_id}/events")).await;
    let (samples, _) = signal("5", SampleRate::HZ_16000, 100.0, 300.0);
    for frame in encode(&samples, Encoding::S16le).chunks(640) {
        let text = format!(
            r#"{{"kind":"AudioData","audioData":{{"timestamp":"2024-11-15T19:16:12.925Z","data":"{}","silent":false}}}}"#,
            b64(frame)
        );
        send_text(ws, text).await;
    }
    let events = sse.until(call_id, "dtmf").await;
    assert_eq!(events.last().unwrap()["digit"], "5");
}

#[tokio::test]
async fn jwt_from_a_file_accepts_good_tokens_and_refuses_the_rest() {
    let server = start(jwt_config(jwks_file())).await;
    let good = bearer(&good_token());
    let mut call = open_ok(&server, "good-call", Some(&good)).await;

    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"test-key-a"}"#),
        URL_SAFE_NO_PAD.encode(claims().to_string())
    );
    // The public key's PEM text as an HMAC secret: the algorithm-confusion attack.
    let hs256 = jwt(
        &json!({"typ": "JWT", "alg": "HS256", "kid": KID_A}),
        &claims(),
        |signed| {
            let secret = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, PUBLIC_A.as_bytes());
            ring::hmac::sign(&secret, signed).as_ref().to_vec()
        },
    );
    let now = unix_now();
    let signed = |claims: Value| bearer(&rs256(KEY_A, Some(KID_A), &claims));
    let cases = [
        (None, "missing Authorization header"),
        (
            Some("Basic dXNlcjpwYXNz".to_owned()),
            "Authorization scheme must be Bearer",
        ),
        (Some(good_token()), "Authorization scheme must be Bearer"),
        (Some(bearer("not-a-jwt")), "invalid token"),
        (Some(bearer("a.b.c")), "invalid token"),
        (
            Some(bearer(&rs256(KEY_B, Some(KID_A), &claims()))),
            "bad signature",
        ),
        (
            Some(bearer(&rs256(KEY_A, Some("other"), &claims()))),
            "unknown signing key",
        ),
        (
            Some(bearer(&rs256(KEY_A, None, &claims()))),
            "unknown signing key",
        ),
        (
            Some(signed(with("exp", json!(now - 3_600)))),
            "token expired",
        ),
        (
            Some(signed(with("nbf", json!(now + 3_600)))),
            "token not yet valid",
        ),
        (
            Some(signed(with("iss", json!("https://evil.example")))),
            "wrong issuer",
        ),
        (
            Some(signed(with("aud", json!("another-resource")))),
            "wrong audience",
        ),
        (Some(bearer(&hs256)), "only RS256 tokens are accepted"),
        (Some(bearer(&alg_none)), "invalid token"),
    ];
    for (header, reason) in &cases {
        assert_refused(&server, header.as_deref(), reason).await;
    }
    // The auto-detecting route is guarded too.
    let refused = try_connect_with_headers(server.addr, "/media", &[]).await;
    assert!(
        matches!(&refused, Err(tungstenite::Error::Http(r)) if r.status() == 401),
        "{refused:?}"
    );

    // Only the good call holds a session, and it still works.
    assert_eq!(server.handle.active_sessions(), 1);
    assert_eq!(server.handle.registry().calls(), ["good-call"]);
    dtmf_on(&server, &mut call, "good-call").await;

    let (_, text) = http_get(server.addr, "/metrics").await;
    for (reason, n) in [
        ("missing", 2),
        ("scheme", 2),
        ("invalid", 3),
        ("signature", 1),
        ("unknown_key", 2),
        ("expired", 1),
        ("not_yet_valid", 1),
        ("issuer", 1),
        ("audience", 1),
        ("algorithm", 1),
        ("keys_unavailable", 0),
    ] {
        assert_eq!(auth_failures(&text, reason), n, "{reason}");
    }
    server.handle.shutdown();
}

/// A JWKS document served over HTTP, counting its fetches.
struct JwksServer {
    url: String,
    body: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(body: String) -> JwksServer {
        let body = Arc::new(Mutex::new(body));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (b, f) = (body.clone(), fetches.clone());
        let app = axum::Router::new().route(
            "/calling/keys",
            axum::routing::get(move || async move {
                f.fetch_add(1, Ordering::SeqCst);
                b.lock().unwrap().clone()
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/calling/keys", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        JwksServer { url, body, fetches }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn jwks_over_http_is_cached_and_follows_key_rotation() {
    let jwks_server = JwksServer::start(jwks(&[(KEY_A, KID_A)])).await;
    let mut config = jwt_config(jwks_server.url.clone());
    config.stream_auth_jwks_min_interval_ms = 1_000;
    let server = start(config).await;
    assert_eq!(jwks_server.fetches(), 0, "keys are fetched on first use");

    // First use fetches; later tokens use the cache.
    let good = bearer(&good_token());
    let _a1 = open_ok(&server, "call-a1", Some(&good)).await;
    let _a2 = open_ok(&server, "call-a2", Some(&good)).await;
    assert_eq!(jwks_server.fetches(), 1);

    // A token of a key not published yet: one refetch (once the first fetch is
    // stream_auth_jwks_min_interval_ms old), refused; a second one within that interval
    // does not fetch again.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let token_b = bearer(&rs256(KEY_B, Some(KID_B), &claims()));
    assert_refused(&server, Some(&token_b), "unknown signing key").await;
    assert_eq!(jwks_server.fetches(), 2);
    assert_refused(&server, Some(&token_b), "unknown signing key").await;
    assert_eq!(jwks_server.fetches(), 2);

    // The issuer rotates to key B: the new kid triggers one refetch, then passes.
    *jwks_server.body.lock().unwrap() = jwks(&[(KEY_B, KID_B), (KEY_A, KID_A)]);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let _b1 = open_ok(&server, "call-b1", Some(&token_b)).await;
    assert_eq!(jwks_server.fetches(), 3);
    let _b2 = open_ok(&server, "call-b2", Some(&token_b)).await;
    let _a3 = open_ok(&server, "call-a3", Some(&good)).await;
    assert_eq!(jwks_server.fetches(), 3);
    assert_eq!(server.handle.active_sessions(), 5);
    server.handle.shutdown();
}

#[tokio::test]
async fn keys_are_refetched_once_stale_and_kept_if_that_fails() {
    let jwks_server = JwksServer::start(jwks(&[(KEY_A, KID_A)])).await;
    let mut config = jwt_config(jwks_server.url.clone());
    config.stream_auth_jwks_refresh_ms = 200;
    config.stream_auth_jwks_min_interval_ms = 0;
    let server = start(config).await;
    let good = bearer(&good_token());
    let _a1 = open_ok(&server, "call-1", Some(&good)).await;
    assert_eq!(jwks_server.fetches(), 1);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let _a2 = open_ok(&server, "call-2", Some(&good)).await;
    assert_eq!(jwks_server.fetches(), 2);
    // A refresh that fails keeps the keys already known.
    *jwks_server.body.lock().unwrap() = "not a JWKS".to_owned();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let _a3 = open_ok(&server, "call-3", Some(&good)).await;
    assert_eq!(jwks_server.fetches(), 3);
    server.handle.shutdown();
}

#[tokio::test]
async fn an_unreachable_jwks_refuses_upgrades_and_nothing_else() {
    // A port nobody listens on, and one that accepts but never answers.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    for jwks in [
        format!("http://{closed}/keys"),
        format!("http://{silent_addr}/keys"),
        "/nonexistent/jwks.json".to_owned(),
    ] {
        let mut config = jwt_config(jwks.clone());
        config.stream_auth_jwks_timeout_ms = 300;
        let server = start(config).await;
        let good = bearer(&good_token());
        assert_refused(&server, Some(&good), "signing keys unavailable").await;
        assert_eq!(
            read_auth_failures(&server, "keys_unavailable").await,
            1,
            "{jwks}"
        );
        assert_eq!(
            http_get(server.addr, "/healthz").await,
            (200, "ok".to_owned())
        );
        server.handle.shutdown();
    }
}

#[tokio::test]
async fn static_token() {
    let config = Config {
        stream_auth: Mode::Token,
        stream_auth_token: Some("s3cret-t0ken".to_owned()),
        ..Config::default()
    };
    let server = start(config).await;
    let mut call = open_ok(&server, "token-call", Some("Bearer s3cret-t0ken")).await;
    assert_refused(&server, Some("Bearer s3cret-t0kem"), "invalid token").await;
    assert_refused(&server, Some("Bearer s3cret"), "invalid token").await;
    assert_refused(
        &server,
        Some("s3cret-t0ken"),
        "Authorization scheme must be Bearer",
    )
    .await;
    assert_refused(&server, None, "missing Authorization header").await;
    assert_eq!(read_auth_failures(&server, "invalid").await, 2);
    dtmf_on(&server, &mut call, "token-call").await;
    server.handle.shutdown();
}

#[tokio::test]
async fn bad_settings_are_refused_at_bind() {
    let token_mode = Config {
        stream_auth: Mode::Token,
        ..Config::default()
    };
    let mut no_audience = jwt_config(jwks_file());
    no_audience.stream_auth_audience = None;
    let mut no_jwks = jwt_config(jwks_file());
    no_jwks.stream_auth_jwks = None;
    let cases = [
        (token_mode, "stream_auth_token"),
        (no_audience, "stream_auth_audience"),
        (no_jwks, "stream_auth_jwks"),
        (
            jwt_config("ftp://example.com/keys".to_owned()),
            "stream_auth_jwks",
        ),
        (jwt_config("https://".to_owned()), "stream_auth_jwks"),
    ];
    for (mut config, setting) in cases {
        config.listen = "127.0.0.1:0".parse().unwrap();
        let error = Server::bind(config).await.err().expect("bad settings bind");
        assert!(
            error.to_string().contains(setting),
            "{error} lacks {setting}"
        );
    }
}
