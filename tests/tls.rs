//! HTTPS and WSS: the same routes, sessions, limits and shutdown over rustls; bad TLS
//! clients and bad certificate files.

mod common;

use std::time::Duration;

use common::tls::{Pki, connect_wss, start_tls, try_connect_wss};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::server::{Config, Server};

const TONEGATE: &str = env!("CARGO_BIN_EXE_tonegate");

/// The value of an unlabelled-or-labelled metric line, e.g.
/// `tonegate_tls_handshake_failures_total{reason="error"}`.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

async fn https_get(pki: &Pki, url: &str) -> (u16, String) {
    let response = pki.https_client().get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn https_healthz_with_a_real_client_and_plain_http_fails() {
    let (server, pki) = start_tls(Config::default()).await;
    let port = server.addr.port();

    // By name and by address: the certificate holds both.
    for url in [
        format!("https://localhost:{port}/healthz"),
        format!("https://127.0.0.1:{port}/healthz"),
    ] {
        assert_eq!(https_get(&pki, &url).await, (200, "ok".to_owned()), "{url}");
    }

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = pki
        .https_client()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");

    // A client that does not trust the certificate is refused by its own check.
    let untrusting = Pki::new()
        .https_client()
        .get(format!("https://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(untrusting.is_err(), "{untrusting:?}");

    // Both failures were counted; the server still serves.
    let (status, metrics) = https_get(&pki, &format!("https://127.0.0.1:{port}/metrics")).await;
    assert_eq!(status, 200);
    let failed = metric(
        &metrics,
        r#"tonegate_tls_handshake_failures_total{reason="error"}"#,
    );
    assert!(failed >= 2.0, "{metrics}");
    assert_eq!(
        https_get(&pki, &format!("https://localhost:{port}/healthz")).await,
        (200, "ok".to_owned())
    );
    server.handle.shutdown();
}

/// Streams `text` as DTMF over a raw `wss://` session and checks the `dtmf` events.
async fn wss_call(server: &TestServer, pki: &Pki, call_id: &str, text: &str) {
    let rate = SampleRate::HZ_8000;
    let mut ws = connect_wss(server.addr, "/media/raw", pki).await;
    start_raw(&mut ws, call_id, rate, Encoding::Ulaw).await;
    let (samples, onsets) = signal(text, rate, 330.0, 300.0);
    // Paced in real time, so the call is on the wire while other clients come and go.
    send_audio(&mut ws, &samples, rate, Encoding::Ulaw, 20.0, true).await;
    send_text(&mut ws, r#"{"type":"end"}"#).await;
    let got = read_all(&mut ws, Duration::from_secs(10)).await;
    assert_eq!(got.close.as_ref().map(|c| c.0), Some(1000), "{got:?}");
    let presses = got.of_type("dtmf");
    assert_eq!(keys(&presses), text, "{got:?}");
    let ids: Vec<u64> = presses
        .iter()
        .map(|e| e["sequenceId"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (1..=text.len() as u64).collect::<Vec<_>>());
    assert_onsets(&presses, &onsets, 5.0);
    for e in &presses {
        assert_eq!(e["callId"], call_id);
        assert_eq!(e["source"], "inband");
    }
    assert_eq!(got.of_type("ended").len(), 1);
}

#[tokio::test]
async fn wss_raw_session_streams_dtmf_events() {
    let (server, pki) = start_tls(Config::default()).await;
    wss_call(&server, &pki, "tls-1", "159#*0").await;
    let (_, metrics) = https_get(&pki, &format!("https://{}/metrics", server.addr)).await;
    assert!(
        metrics.contains("tonegate_digits_total{source=\"inband\"} 6"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tonegate_sessions_total{dialect=\"raw\"} 1"),
        "{metrics}"
    );
    server.handle.shutdown();
}

/// Connects, sends `bytes` (maybe none), and reads until the server hangs up.
/// Returns what came back, or panics if the server keeps the socket open past `limit`.
async fn bad_client(addr: std::net::SocketAddr, bytes: &'static [u8], limit: Duration) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    if !bytes.is_empty() {
        tcp.write_all(bytes).await.unwrap();
    }
    let mut got = Vec::new();
    match tokio::time::timeout(limit, tcp.read_to_end(&mut got)).await {
        Ok(_) => got, // EOF or reset: hung up.
        Err(_) => panic!("server kept a bad TLS client open past {limit:?}"),
    }
}

#[tokio::test]
async fn garbage_instead_of_client_hello_does_not_disturb_a_good_session() {
    let config = Config {
        tls_handshake_timeout_ms: 3_000,
        ..Config::default()
    };
    let (server, pki) = start_tls(config).await;
    let addr = server.addr;
    let client = pki.https_client();

    // Bad clients come and go while two good calls stream: garbage bytes, a plain-HTTP
    // request, a truncated ClientHello that then stalls, and sockets that say nothing.
    let bad = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let limit = Duration::from_secs(10);
        let mut clients = tokio::task::JoinSet::new();
        for _ in 0..8 {
            clients.spawn(bad_client(
                addr,
                b"\x00\xffthis is not a TLS ClientHello\r\n\r\n\x00\x01\x02",
                limit,
            ));
            clients.spawn(bad_client(
                addr,
                b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                limit,
            ));
        }
        for _ in 0..3 {
            clients.spawn(bad_client(addr, b"", limit));
            clients.spawn(bad_client(
                addr,
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
                limit,
            ));
        }
        // A new client gets through while the stalled ones still hold their handshakes.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let healthz = client.get(format!("https://{addr}/healthz")).send();
        let response = tokio::time::timeout(Duration::from_secs(2), healthz)
            .await
            .expect("HTTPS served while handshakes stall")
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut n = 0;
        while let Some(done) = clients.join_next().await {
            done.unwrap();
            n += 1;
        }
        n
    });
    tokio::join!(
        wss_call(&server, &pki, "good-1", "0123456789"),
        wss_call(&server, &pki, "good-2", "*#ABCD"),
    );
    assert_eq!(bad.await.unwrap(), 22);

    let (_, metrics) = https_get(&pki, &format!("https://{addr}/metrics")).await;
    let errors = metric(
        &metrics,
        r#"tonegate_tls_handshake_failures_total{reason="error"}"#,
    );
    let timeouts = metric(
        &metrics,
        r#"tonegate_tls_handshake_failures_total{reason="timeout"}"#,
    );
    assert_eq!((errors, timeouts), (16.0, 6.0), "{metrics}");
    assert!(metrics.contains("tonegate_digits_total{source=\"inband\"} 16"));
    server.handle.shutdown();
}

#[tokio::test]
async fn shutdown_over_tls_closes_sessions_with_1001_and_ends_sse() {
    let (server, pki) = start_tls(Config::default()).await;
    let mut sse = pki
        .https_client()
        .get(format!("https://{}/v1/calls/bye/events", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    let mut ws = connect_wss(server.addr, "/media/raw", &pki).await;
    start_raw(&mut ws, "bye", SampleRate::HZ_8000, Encoding::S16le).await;
    read_until(&mut ws, "started", Duration::from_secs(5)).await;

    server.handle.shutdown();
    let got = read_all(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(got.close.as_ref().map(|c| c.0), Some(1001), "{got:?}");
    assert_eq!(got.of_type("ended").len(), 1, "{got:?}");

    // The SSE stream carries the call's events, then ends.
    let mut body = String::new();
    let read = async {
        while let Some(chunk) = sse.chunk().await.unwrap() {
            body.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("SSE stream ends");
    assert!(body.contains("event: ended"), "{body}");

    tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .expect("run returns")
        .unwrap();
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "still accepting"
    );
}

#[tokio::test]
async fn session_cap_applies_over_tls() {
    let config = Config {
        max_sessions: 1,
        ..Config::default()
    };
    let (server, pki) = start_tls(config).await;
    let first = connect_wss(server.addr, "/media/raw", &pki).await;
    match try_connect_wss(server.addr, "/media/raw", &pki).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503)
        }
        other => panic!("second socket not refused with 503: {other:?}"),
    }
    drop(first);
    server.handle.shutdown();
}

/// Server::bind's error for these files, checked to be one line naming `names`.
async fn bind_error(
    cert: &std::path::Path,
    key: &std::path::Path,
    names: &std::path::Path,
) -> String {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls_cert: Some(cert.to_owned()),
        tls_key: Some(key.to_owned()),
        ..Config::default()
    };
    let message = match Server::bind(config).await {
        Ok(_) => panic!("bound with cert {cert:?} and key {key:?}"),
        Err(e) => e.to_string(),
    };
    assert!(!message.contains('\n'), "{message}");
    assert!(
        message.contains(&names.display().to_string()),
        "{message} does not name {names:?}"
    );
    message
}

#[tokio::test]
async fn bad_certificate_or_key_files_fail_with_one_line_naming_the_file() {
    let pki = Pki::new();
    let missing = pki.dir.join("missing.pem");
    let garbage = pki.dir.join("garbage.pem");
    std::fs::write(&garbage, "not a PEM file\n").unwrap();
    let other = Pki::new();

    let e = bind_error(&missing, &pki.key, &missing).await;
    assert!(
        e.starts_with("TLS certificate ") && e.contains("cannot read"),
        "{e}"
    );
    let e = bind_error(&pki.cert, &missing, &missing).await;
    assert!(
        e.starts_with("TLS key ") && e.contains("cannot read"),
        "{e}"
    );
    let e = bind_error(&garbage, &pki.key, &garbage).await;
    assert!(e.contains("no PEM certificate"), "{e}");
    let e = bind_error(&pki.cert, &garbage, &garbage).await;
    assert!(e.contains("no PEM private key"), "{e}");
    // A certificate where the key should be.
    let e = bind_error(&pki.cert, &pki.cert, &pki.cert).await;
    assert!(
        e.starts_with("TLS key ") && e.contains("no PEM private key"),
        "{e}"
    );
    // Another certificate's key.
    let e = bind_error(&pki.cert, &other.key, &other.key).await;
    assert!(
        e.contains("does not match") && e.contains(&pki.cert.display().to_string()),
        "{e}"
    );

    // Only one of the two.
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls_cert: Some(pki.cert.clone()),
        ..Config::default()
    };
    let e = Server::bind(config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("tls_key"), "{e}");
}

#[test]
fn serve_with_a_bad_certificate_exits_with_one_line() {
    let pki = Pki::new();
    let missing = pki.dir.join("nope.pem");
    // From flags, then from the environment.
    let by_flag = std::process::Command::new(TONEGATE)
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&missing)
        .arg("--tls-key")
        .arg(&pki.key)
        .output()
        .unwrap();
    let by_env = std::process::Command::new(TONEGATE)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TONEGATE_TLS_CERT", &pki.cert)
        .env("TONEGATE_TLS_KEY", &missing)
        .output()
        .unwrap();
    for (out, what) in [(by_flag, "certificate"), (by_env, "key")] {
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!("tonegate: TLS {what} {}", missing.display())),
            "{stderr}"
        );
    }
}
