//! `play` with `http(s)://` sources end to end: a real prompt host (an axum server in the
//! test) serves the files, a raw-dialect call hears the audio, and the API is called with
//! signed requests. Covers caching by URI and by `playSourceCacheId` (the id names the
//! content), PlayFailed 8536 / 8535 with `failedPlaySourceIndex`, `max_download_bytes`
//! (declared and streamed), `download_timeout_ms`, HTTPS with an extra trusted CA
//! (`http_ca_certs`), a stalled download not disturbing another call, and redirects not
//! followed.

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use common::http_peer::{ApiClient, Peer, open_call, sine, wav};
use common::tls::Pki;
use common::*;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::media::player::Prompt;
use tonegate::server::{Config, Server};

const KEY: &[u8] = b"play download test key, 32 byte.";
const LIMIT: Duration = Duration::from_secs(30);
const RATE: SampleRate = SampleRate::HZ_8000;
/// Streams are s16le, so the played samples can be compared with the prompt's.
const ENCODING: Encoding = Encoding::S16le;

/// What the prompt host serves beside its files.
#[derive(Default)]
struct Host {
    /// Bytes of the endless chunked body sent so far.
    streamed: AtomicU64,
    /// Releases `/gated.wav` (which then answers 404).
    gate: Notify,
}

fn tone_wav() -> Vec<u8> {
    wav(8_000, &sine(1_000.0, 400, 8_000))
}

fn other_wav() -> Vec<u8> {
    wav(8_000, &sine(500.0, 400, 8_000))
}

async fn endless(State(host): State<Arc<Host>>) -> Response {
    let chunks = futures_util::stream::repeat_with(move || {
        host.streamed.fetch_add(65_536, Ordering::SeqCst);
        Ok::<_, Infallible>(Bytes::from(vec![0u8; 65_536]))
    });
    Body::from_stream(chunks).into_response()
}

/// Declares 10 MB, then sends nothing.
async fn declared_huge() -> Response {
    let body = Body::from_stream(futures_util::stream::pending::<Result<Bytes, Infallible>>());
    ([(header::CONTENT_LENGTH, "10000000")], body).into_response()
}

async fn delayed(delay: Duration) -> Vec<u8> {
    tokio::time::sleep(delay).await;
    tone_wav()
}

async fn gated(State(host): State<Arc<Host>>) -> StatusCode {
    host.gate.notified().await;
    StatusCode::NOT_FOUND
}

/// The prompt host's routes; anything else is 404.
fn routes(host: Arc<Host>) -> Router {
    Router::new()
        .route("/tone.wav", get(|| async { tone_wav() }))
        .route("/other.wav", get(|| async { other_wav() }))
        .route("/junk.wav", get(|| async { "this is not a WAV file" }))
        .route(
            "/moved.wav",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/tone.wav")]) }),
        )
        .route("/endless.wav", get(endless))
        .route("/declared-huge.wav", get(declared_huge))
        .route("/late.wav", get(|| delayed(Duration::from_millis(800))))
        .route("/slow.wav", get(|| delayed(Duration::from_secs(120))))
        .route("/gated.wav", get(gated))
        .route("/events", post(|| async { StatusCode::OK }))
        .with_state(host)
}

async fn start_server(config: Config) -> TestServer {
    start(Config {
        access_key: Some(base64::engine::general_purpose::STANDARD.encode(KEY)),
        ..config
    })
    .await
}

fn source(uri: &str) -> Value {
    json!({"kind": "file", "file": {"uri": uri}})
}

fn cached_source(uri: &str, cache_id: &str) -> Value {
    json!({"kind": "file", "file": {"uri": uri}, "playSourceCacheId": cache_id})
}

/// Plays `sources` on `call_id` and reads the socket until `outcome` (`PlayCompleted`,
/// `PlayFailed`); returns the operation events and the samples played.
async fn play(
    api: &ApiClient,
    ws: &mut Ws,
    call_id: &str,
    sources: Vec<Value>,
    outcome: &str,
) -> (Vec<Value>, Vec<f32>) {
    api.play_and_hear(ws, call_id, sources, outcome, ENCODING, LIMIT)
        .await
}

fn names(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect()
}

/// Asserts `played` is the prompt in `wav` (at the stream's rate).
fn assert_heard(played: &[f32], wav: &[u8]) {
    let expected = Prompt::from_wav(wav, RATE).unwrap();
    assert_eq!(played.len(), expected.len_samples());
    for (n, (a, b)) in played.iter().zip(expected.samples()).enumerate() {
        assert!((a - b).abs() <= 1.0 / 32_768.0, "sample {n}: {a} vs {b}");
    }
}

/// The `resultInformation` (code, subCode) and `failedPlaySourceIndex` of a PlayFailed.
fn failure(events: &[Value]) -> (u64, u64, u64) {
    let failed = events.last().unwrap();
    assert_eq!(failed["event"], "PlayFailed", "{events:?}");
    let info = &failed["resultInformation"];
    (
        info["code"].as_u64().unwrap(),
        info["subCode"].as_u64().unwrap(),
        failed["failedPlaySourceIndex"].as_u64().unwrap(),
    )
}

fn message(events: &[Value]) -> String {
    events.last().unwrap()["resultInformation"]["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloaded_prompts_play_and_are_cached_by_uri_or_cache_id() {
    let host = Peer::serve(routes(Arc::default())).await;
    let server = start_server(Config::default()).await;
    let api = ApiClient::new(server.addr, KEY);
    let mut ws = open_call(&server, "dl-1", ENCODING, RATE, None).await;

    let (events, played) = play(
        &api,
        &mut ws,
        "dl-1",
        vec![source(&host.url("/tone.wav"))],
        "PlayCompleted",
    )
    .await;
    assert_eq!(names(&events), ["PlayStarted", "PlayCompleted"]);
    assert_eq!(events[1]["resultInformation"]["code"], 200);
    assert_heard(&played, &tone_wav());

    // The same URI again: played from the cache, not fetched.
    let (_, played) = play(
        &api,
        &mut ws,
        "dl-1",
        vec![source(&host.url("/tone.wav"))],
        "PlayCompleted",
    )
    .await;
    assert_heard(&played, &tone_wav());
    assert_eq!(host.count("/tone.wav"), 1);

    // A cache id names the content: a second URI under the same id plays what the first
    // fetched, without a request; without the id that URI is its own content.
    play(
        &api,
        &mut ws,
        "dl-1",
        vec![cached_source(&host.url("/tone.wav?v=2"), "greeting")],
        "PlayCompleted",
    )
    .await;
    let (_, played) = play(
        &api,
        &mut ws,
        "dl-1",
        vec![cached_source(&host.url("/other.wav"), "greeting")],
        "PlayCompleted",
    )
    .await;
    assert_heard(&played, &tone_wav());
    assert_eq!(host.count("/other.wav"), 0);
    let (_, played) = play(
        &api,
        &mut ws,
        "dl-1",
        vec![source(&host.url("/other.wav"))],
        "PlayCompleted",
    )
    .await;
    assert_heard(&played, &other_wav());
    assert_eq!(host.count("/other.wav"), 1);
    assert_eq!(host.count("/tone.wav"), 2);

    // Content that is not a WAV: 8535, and it is not cached (fetched again next time).
    for _ in 0..2 {
        let (events, played) = play(
            &api,
            &mut ws,
            "dl-1",
            vec![source(&host.url("/junk.wav"))],
            "PlayFailed",
        )
        .await;
        assert_eq!(failure(&events), (400, 8535, 0));
        assert!(played.is_empty());
    }
    assert_eq!(host.count("/junk.wav"), 2);
    server.handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_downloads_name_the_failed_source() {
    let host = Peer::serve(routes(Arc::default())).await;
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let server = start_server(with_callbacks(Config::default(), &[&host.url("/")])).await;
    let api = ApiClient::new(server.addr, KEY);
    let mut ws = open_call(&server, "dl-2", ENCODING, RATE, Some(&host.url("/events"))).await;

    let tone = source(&host.url("/tone.wav"));
    let (events, played) = play(
        &api,
        &mut ws,
        "dl-2",
        vec![
            tone.clone(),
            tone.clone(),
            source(&host.url("/missing.wav")),
        ],
        "PlayFailed",
    )
    .await;
    assert_eq!(names(&events), ["PlayFailed"]);
    assert_eq!(failure(&events), (400, 8536, 2));
    assert!(
        message(&events).ends_with(": play source not available"),
        "{events:?}"
    );
    assert!(played.is_empty());

    let refused = format!("http://{closed}/tone.wav");
    let (events, _) = play(
        &api,
        &mut ws,
        "dl-2",
        vec![tone.clone(), source(&refused), tone.clone()],
        "PlayFailed",
    )
    .await;
    assert_eq!(failure(&events), (400, 8536, 1));
    assert!(
        message(&events).ends_with(": play source not available"),
        "{events:?}"
    );

    let (events, _) = play(
        &api,
        &mut ws,
        "dl-2",
        vec![tone, source(&host.url("/junk.wav"))],
        "PlayFailed",
    )
    .await;
    assert_eq!(failure(&events), (400, 8535, 1));

    // The same failures reach the callback as CloudEvents.
    let indexes = host
        .wait_for("three PlayFailed CloudEvents", LIMIT, |log| {
            let failed: Vec<u64> = log
                .iter()
                .filter(|s| s.path == "/events")
                .map(|s| s.json()[0].clone())
                .filter(|e| e["type"] == "Microsoft.Communication.PlayFailed")
                .map(|e| e["data"]["failedPlaySourceIndex"].as_u64().unwrap())
                .collect();
            (failed.len() == 3).then_some(failed)
        })
        .await;
    assert_eq!(indexes, [2, 1, 1]);
    server.handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_slow_downloads_fail() {
    let state = Arc::new(Host::default());
    let host = Peer::serve(routes(state.clone())).await;
    let server = start_server(Config {
        max_download_bytes: 100_000,
        download_timeout_ms: 3_000,
        // Shorter than a download may take: downloads have their own timeout.
        webhook_timeout_ms: 300,
        ..Config::default()
    })
    .await;
    let api = ApiClient::new(server.addr, KEY);
    let mut ws = open_call(&server, "dl-3", ENCODING, RATE, None).await;

    // Declared too large: refused on the headers (the body never comes).
    let (events, _) = play(
        &api,
        &mut ws,
        "dl-3",
        vec![source(&host.url("/declared-huge.wav"))],
        "PlayFailed",
    )
    .await;
    assert_eq!(failure(&events), (400, 8536, 0));
    assert!(
        message(&events).ends_with(": play source not available"),
        "{events:?}"
    );

    // Chunked without end: reading stops past the limit.
    let (events, _) = play(
        &api,
        &mut ws,
        "dl-3",
        vec![source(&host.url("/endless.wav"))],
        "PlayFailed",
    )
    .await;
    assert_eq!(failure(&events), (400, 8536, 0));
    assert!(
        message(&events).ends_with(": play source not available"),
        "{events:?}"
    );
    let streamed = state.streamed.load(Ordering::SeqCst);
    assert!(streamed >= 100_000, "{streamed}");

    // Slower than download_timeout_ms: 8536.
    let (events, _) = play(
        &api,
        &mut ws,
        "dl-3",
        vec![source(&host.url("/slow.wav"))],
        "PlayFailed",
    )
    .await;
    assert_eq!(failure(&events), (400, 8536, 0));
    assert!(
        message(&events).ends_with(": play source not available"),
        "{events:?}"
    );

    // Slower than webhook_timeout_ms but within download_timeout_ms: plays.
    let (_, played) = play(
        &api,
        &mut ws,
        "dl-3",
        vec![source(&host.url("/late.wav"))],
        "PlayCompleted",
    )
    .await;
    assert_heard(&played, &tone_wav());
    server.handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_download_does_not_disturb_another_call() {
    let state = Arc::new(Host::default());
    let host = Peer::serve(routes(state.clone())).await;
    let server = start_server(Config::default()).await;
    let api = Arc::new(ApiClient::new(server.addr, KEY));
    let mut stalled = open_call(&server, "dl-4a", ENCODING, RATE, None).await;
    let mut other = open_call(&server, "dl-4b", ENCODING, RATE, None).await;

    let request = {
        let api = api.clone();
        let body = json!({"playSources": [source(&host.url("/gated.wav"))]});
        tokio::spawn(async move { api.play("dl-4a", &body).await })
    };
    host.wait_for("the gated download", LIMIT, |log| {
        log.iter().any(|s| s.path == "/gated.wav").then_some(())
    })
    .await;
    // The other call plays while the first call's download hangs.
    let (events, played) = play(
        &api,
        &mut other,
        "dl-4b",
        vec![source(&host.url("/tone.wav"))],
        "PlayCompleted",
    )
    .await;
    assert_eq!(names(&events), ["PlayStarted", "PlayCompleted"]);
    assert_heard(&played, &tone_wav());
    assert!(!request.is_finished());

    // The download then fails (404): the first call gets its PlayFailed.
    state.gate.notify_one();
    assert_eq!(request.await.unwrap(), 202);
    let got = read_until_operation(&mut stalled, "PlayFailed", LIMIT).await;
    assert_eq!(failure(&got.events), (400, 8536, 0));
    server.handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_sources_need_a_trusted_ca() {
    let pki = Pki::new();
    let host = Peer::serve_tls(routes(Arc::default()), &pki).await;
    let tone = source(&host.url("/tone.wav"));

    // Not trusted by default.
    let server = start_server(Config::default()).await;
    let api = ApiClient::new(server.addr, KEY);
    let mut ws = open_call(&server, "dl-5", ENCODING, RATE, None).await;
    let (events, _) = play(&api, &mut ws, "dl-5", vec![tone.clone()], "PlayFailed").await;
    assert_eq!(failure(&events), (400, 8536, 0));
    server.handle.shutdown();

    // Trusted through http_ca_certs.
    let server = start_server(Config {
        http_ca_certs: Some(pki.ca_file.clone()),
        ..Config::default()
    })
    .await;
    let api = ApiClient::new(server.addr, KEY);
    let mut ws = open_call(&server, "dl-5", ENCODING, RATE, None).await;
    let (events, played) = play(&api, &mut ws, "dl-5", vec![tone], "PlayCompleted").await;
    assert_eq!(names(&events), ["PlayStarted", "PlayCompleted"]);
    assert_heard(&played, &tone_wav());
    assert_eq!(host.count("/tone.wav"), 1);
    server.handle.shutdown();

    // A CA file that cannot be used stops the server from starting.
    for bad in [pki.dir.join("missing.pem"), pki.key.clone()] {
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            http_ca_certs: Some(bad.clone()),
            ..Config::default()
        };
        let error = Server::bind(config)
            .await
            .err()
            .expect("bad CA file refused");
        assert!(error.to_string().contains("http_ca_certs"), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_redirects_are_not_followed() {
    let host = Peer::serve(routes(Arc::default())).await;
    let server = start_server(Config::default()).await;
    let api = ApiClient::new(server.addr, KEY);
    let mut ws = open_call(&server, "dl-moved", ENCODING, RATE, None).await;
    let (events, played) = play(
        &api,
        &mut ws,
        "dl-moved",
        vec![source(&host.url("/moved.wav"))],
        "PlayFailed",
    )
    .await;
    assert_eq!(failure(&events), (400, 8536, 0));
    assert!(played.is_empty());
    assert_eq!(host.count("/moved.wav"), 1);
    assert_eq!(host.count("/tone.wav"), 0, "the redirect was followed");
    server.handle.shutdown();
}
