//! Audio sockets may not steer the server's outgoing requests: a `callbackUri` named by
//! a socket (raw `start` frame, Twilio custom parameter, ACS URL query) is honoured only
//! from an authenticated socket and only where `callback_allow` permits; non-public
//! addresses in any spelling, and names resolving to them, are refused unless listed
//! exactly; webhooks do not follow redirects. Against a real server and real HTTP
//! receivers.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::post;
use common::http_peer::Peer;
use common::*;
use tokio_tungstenite::tungstenite;
use tonegate::server::Config;

const LIMIT: Duration = Duration::from_secs(30);

/// A receiver answering 200 at `/events` and a 307 to `/events` at `/moved`.
async fn receiver() -> Peer {
    Peer::serve(
        Router::new()
            .route("/events", post(|| async { StatusCode::OK }))
            .route(
                "/moved",
                post(|| async {
                    (
                        StatusCode::TEMPORARY_REDIRECT,
                        [(header::LOCATION, "/events")],
                    )
                }),
            ),
    )
    .await
}

fn raw_start(call_id: &str, callback_uri: &str) -> String {
    serde_json::json!({
        "type": "start",
        "callId": call_id,
        "encoding": "ulaw",
        "sampleRate": 8000,
        "callbackUri": callback_uri,
    })
    .to_string()
}

fn twilio_start(call_sid: &str, callback_uri: &str) -> String {
    serde_json::json!({
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": format!("MZ-{call_sid}"),
        "start": {
            "accountSid": "AC1",
            "streamSid": format!("MZ-{call_sid}"),
            "callSid": call_sid,
            "tracks": ["inbound"],
            "customParameters": {"callbackUri": callback_uri},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    })
    .to_string()
}

/// Sends `start` on a fresh socket to `path` (with `headers`); returns how the server
/// closed it.
async fn close_after_start(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    start: String,
) -> (u16, String) {
    let mut ws = try_connect_with_headers(addr, path, headers).await.unwrap();
    send_text(&mut ws, start).await;
    read_all(&mut ws, LIMIT)
        .await
        .close
        .expect("the server closes the socket")
}

/// The status and body of an ACS upgrade naming `callback_uri` in its query.
async fn acs_upgrade(
    addr: SocketAddr,
    headers: &[(&str, &str)],
    callback_uri: &str,
) -> (u16, String) {
    let query = serde_urlencoded::to_string([("callbackUri", callback_uri)]).unwrap();
    let path = format!("/media/acs?{query}");
    match try_connect_with_headers(addr, &path, headers).await {
        Err(tungstenite::Error::Http(response)) => (
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        ),
        Err(e) => panic!("{e}"),
        Ok(_) => (101, String::new()),
    }
}

/// `tonegate_callback_refused_total{reason}`.
fn refused(server: &TestServer, reason: &str) -> u64 {
    server
        .handle
        .metrics()
        .callback_refused
        .with_label_values(&[reason])
        .get()
}

/// Starts and stops continuous recognition on a raw call: one operation event
/// (ContinuousDtmfRecognitionStopped) for its callback.
async fn one_event(ws: &mut Ws) {
    send_text(ws, r#"{"type":"startContinuousDtmf","context":"c"}"#).await;
    send_text(ws, r#"{"type":"stopContinuousDtmf","context":"c"}"#).await;
    read_until_operation(ws, "ContinuousDtmfRecognitionStopped", LIMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_sockets_cannot_name_a_callback() {
    let peer = receiver().await;
    // The receiver is even listed: without authentication a socket names nothing.
    let server = start(Config {
        callback_allow: vec![peer.url("/")],
        ..Config::default()
    })
    .await;
    let hook = peer.url("/events");

    let (code, reason) =
        close_after_start(server.addr, "/media/raw", &[], raw_start("victim", &hook)).await;
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("authenticated"), "{reason}");
    let (code, reason) = close_after_start(
        server.addr,
        "/media/twilio",
        &[],
        twilio_start("CA1", &hook),
    )
    .await;
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("authenticated"), "{reason}");
    let (status, body) = acs_upgrade(server.addr, &[], &hook).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("authenticated"), "{body}");

    assert_eq!(refused(&server, "unauthenticated"), 3);
    assert!(server.handle.registry().calls().is_empty());
    assert_eq!(peer.count("/events"), 0);
    // A socket naming no callback still streams.
    let mut ws = connect(server.addr, "/media/raw").await;
    start_raw(
        &mut ws,
        "plain",
        tonegate::SampleRate::HZ_8000,
        tonegate::codec::Encoding::Ulaw,
    )
    .await;
    one_event(&mut ws).await;
    server.handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_public_addresses_in_every_spelling_and_credentials_are_refused() {
    let peer = receiver().await;
    let port = peer.addr.port();
    // Any host, but not a non-public one unless listed exactly.
    let server = start(with_callbacks(
        Config {
            callback_allow: vec!["*".to_owned()],
            ..Config::default()
        },
        &[],
    ))
    .await;
    let private = [
        format!("http://127.1:{port}/events"),
        format!("http://0x7f000001:{port}/events"),
        format!("http://2130706433:{port}/events"),
        format!("http://[::1]:{port}/events"),
        format!("http://[::ffff:127.0.0.1]:{port}/events"),
        format!("http://localhost:{port}/events"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/events".to_owned(),
        "http://100.64.0.1/events".to_owned(),
    ];
    for (i, uri) in private.iter().enumerate() {
        let start = raw_start(&format!("p-{i}"), uri);
        let (code, reason) =
            close_after_start(server.addr, "/media/raw", &[STREAM_AUTH], start).await;
        assert_eq!(
            (code, reason.contains("non-public")),
            (1008, true),
            "{uri}: {reason}"
        );
        let (status, body) = acs_upgrade(server.addr, &[STREAM_AUTH], uri).await;
        assert_eq!(status, 400, "{uri}: {body}");
    }
    let with_credentials = format!("http://user:pass@127.0.0.1:{port}/events");
    let start = raw_start("cred", &with_credentials);
    let (code, reason) = close_after_start(server.addr, "/media/raw", &[STREAM_AUTH], start).await;
    assert_eq!(
        (code, reason.contains("credentials")),
        (1008, true),
        "{reason}"
    );

    assert_eq!(refused(&server, "privateAddress"), 2 * private.len() as u64);
    assert_eq!(refused(&server, "credentials"), 1);
    assert!(peer.requests().is_empty(), "{:?}", peer.requests());
    server.handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_listed_receivers_get_a_sockets_events() {
    let listed = receiver().await;
    let other = receiver().await;
    let server = start(with_callbacks(Config::default(), &[&listed.url("/")])).await;

    // Not in callback_allow: refused, nothing sent.
    let start = raw_start("unlisted", &other.url("/events"));
    let (code, reason) = close_after_start(server.addr, "/media/raw", &[STREAM_AUTH], start).await;
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("callback_allow"), "{reason}");
    let (status, _) = acs_upgrade(server.addr, &[STREAM_AUTH], &other.url("/events")).await;
    assert_eq!(status, 400);
    assert_eq!(refused(&server, "notAllowed"), 2);

    // Listed, from an authenticated socket: delivered.
    let mut ws = connect_authenticated(server.addr, "/media/raw").await;
    send_text(&mut ws, raw_start("listed", &listed.url("/events"))).await;
    one_event(&mut ws).await;
    listed
        .wait_for("the event at the listed receiver", LIMIT, |log| {
            log.iter().any(|s| s.path == "/events").then_some(())
        })
        .await;
    assert!(other.requests().is_empty());
    server.handle.shutdown();
}

/// The machine's host name and the addresses it resolves to (all non-public, as on any
/// test machine: loopback or a private network).
async fn host_name() -> (String, Vec<SocketAddr>) {
    let name = String::from_utf8(
        std::process::Command::new("hostname")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_lowercase();
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
        .await
        .unwrap_or_else(|e| panic!("this test needs the host name {name} to resolve: {e}"))
        .collect();
    assert!(
        addrs.iter().all(|a| match a.ip() {
            std::net::IpAddr::V4(ip) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
            std::net::IpAddr::V6(ip) => ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00,
        }),
        "this test needs {name} to resolve to non-public addresses, not {addrs:?}"
    );
    (name, addrs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_resolving_to_private_addresses_are_screened_at_delivery() {
    let (name, addrs) = host_name().await;
    // A receiver on the address the name resolves to.
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(addrs[0].ip(), 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let (posts_tx, mut posts) = tokio::sync::mpsc::unbounded_channel();
    let app = Router::new().route(
        "/events",
        post(move || {
            let _ = posts_tx.send(());
            async { StatusCode::OK }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let hook = format!("http://{name}:{port}/events");

    // `*` lets the name pass the allow-list, but it resolves only to non-public
    // addresses (DNS rebinding): nothing is sent, the refusal is counted.
    let any = start(with_callbacks(
        Config {
            callback_allow: vec!["*".to_owned()],
            ..Config::default()
        },
        &[],
    ))
    .await;
    let mut ws = connect_authenticated(any.addr, "/media/raw").await;
    send_text(&mut ws, raw_start("rebound", &hook)).await;
    one_event(&mut ws).await;
    wait_until("a resolvedPrivate refusal", LIMIT, || {
        refused(&any, "resolvedPrivate") > 0
    })
    .await;
    assert!(
        posts.try_recv().is_err(),
        "a POST reached the private address"
    );
    any.handle.shutdown();

    // Listed exactly, the same name is trusted with its private addresses.
    let listed = start(with_callbacks(
        Config {
            callback_allow: vec![name.clone()],
            ..Config::default()
        },
        &[],
    ))
    .await;
    let mut ws = connect_authenticated(listed.addr, "/media/raw").await;
    send_text(&mut ws, raw_start("listed", &hook)).await;
    one_event(&mut ws).await;
    tokio::time::timeout(LIMIT, posts.recv())
        .await
        .expect("the event reached the listed name")
        .unwrap();
    listed.handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_do_not_follow_redirects() {
    let peer = receiver().await;
    // Even the operator's own callback URI: a 307 would re-POST the signed body
    // wherever the receiver points.
    let server = start(Config {
        callback_uri: Some(peer.url("/moved")),
        ..Config::default()
    })
    .await;
    let mut ws = connect(server.addr, "/media/raw").await;
    start_raw(
        &mut ws,
        "redirected",
        tonegate::SampleRate::HZ_8000,
        tonegate::codec::Encoding::Ulaw,
    )
    .await;
    one_event(&mut ws).await;
    let dropped = || {
        server
            .handle
            .metrics()
            .webhook_dropped
            .with_label_values(&["undeliverable"])
            .get()
    };
    wait_until("the 307 to be final", LIMIT, || dropped() > 0).await;
    assert_eq!(peer.count("/moved"), 1);
    assert_eq!(peer.count("/events"), 0, "the redirect was followed");
    server.handle.shutdown();
}
