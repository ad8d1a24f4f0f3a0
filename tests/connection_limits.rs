//! Bounded connections and messages: oversize messages refused from their header, request
//! heads that never finish, the connection caps, silent TLS clients, audio faster than
//! real time, and close frames answered.

mod common;

use std::time::Duration;

use common::tls::start_tls;
use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::server::{Config, Handle};

/// Generous: conditions are waited for, never timed.
const PATIENCE: Duration = Duration::from_secs(30);

const RAW_START: &str = r#"{"type":"start","encoding":"ulaw","sampleRate":8000}"#;
const ACS_META: &str = r#"{"kind":"AudioMetadata","audioMetadata":{"subscriptionId":"x","encoding":"PCM","sampleRate":16000,"channels":1,"length":640}}"#;
const TWILIO_START: &str = r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC1","streamSid":"MZ1","callSid":"CA1","tracks":["inbound"],"customParameters":{},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZ1"}"#;

/// Whether the server closes `stream` (EOF or reset) within `limit`; data is skipped.
async fn closed_within(stream: &mut (impl AsyncRead + Unpin), limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let read_to_end = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read_to_end).await.is_ok()
}

/// Whether the server still holds `stream` open, now (nothing to read, no EOF).
fn still_open(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 1];
    matches!(stream.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Waits until `done` holds of the server's metrics; panics after [`PATIENCE`].
async fn wait_for(handle: &Handle, what: &str, done: impl Fn(&tonegate::server::Metrics) -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done(handle.metrics()) {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A raw µ-law call that presses `keys` (unpaced) and ends; asserts the digits and the
/// orderly close.
async fn raw_call(addr: std::net::SocketAddr, call_id: &str, keys_pressed: &str) {
    let rate = SampleRate::HZ_8000;
    let mut ws = connect(addr, "/media/raw").await;
    start_raw(&mut ws, call_id, rate, Encoding::Ulaw).await;
    let (samples, _) = signal(keys_pressed, rate, 100.0, 300.0);
    send_audio(&mut ws, &samples, rate, Encoding::Ulaw, 20.0, false).await;
    send_text(&mut ws, r#"{"type":"end"}"#).await;
    let got = read_all(&mut ws, PATIENCE).await;
    assert_eq!(got.close.as_ref().map(|c| c.0), Some(1000), "{got:?}");
    assert_eq!(keys(&got.of_type("dtmf")), keys_pressed, "{got:?}");
}

#[tokio::test]
async fn a_message_over_max_frame_bytes_is_refused_from_its_header() {
    let server = start(Config::default()).await;
    let mut ws = connect(server.addr, "/media/raw").await;
    // Only the header of a masked binary frame announcing 60 MiB: no payload follows.
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(60u64 << 20).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    ws.get_mut().write_all(&header).await.unwrap();

    let got = read_all(&mut ws, PATIENCE).await;
    let (code, reason) = got.close.clone().expect("a close frame");
    assert_eq!(code, 1009, "{got:?}");
    assert!(reason.contains("max_frame_bytes"), "{reason}");
    let errors = &server.handle.metrics().errors;
    assert_eq!(errors.with_label_values(&["frameTooLarge"]).get(), 1);
    // The server carries on.
    raw_call(server.addr, "after-oversize", "16").await;
    server.handle.shutdown();
}

#[tokio::test]
async fn connections_without_a_request_head_in_time_are_closed() {
    let server = start(Config {
        header_read_timeout_ms: 300,
        ..Config::default()
    })
    .await;
    // Half a request line, then nothing.
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"GET /hea").await.unwrap();
    // One whole request, answered, then the kept-alive connection idles.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: tonegate\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\nok") {
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(PATIENCE, idle.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed before answering: {answer:?}");
        answer.extend_from_slice(&buf[..n]);
    }

    assert!(
        closed_within(&mut half, PATIENCE).await,
        "half a request head"
    );
    assert!(closed_within(&mut idle, PATIENCE).await, "idle keep-alive");
    assert_eq!(server.handle.metrics().header_timeouts.get(), 2);
    // Prompt clients are served as before.
    assert_eq!(
        http_get(server.addr, "/healthz").await,
        (200, "ok".to_owned())
    );
    server.handle.shutdown();
}

#[tokio::test]
async fn tls_connections_without_a_request_head_in_time_are_closed() {
    let (server, pki) = start_tls(Config {
        header_read_timeout_ms: 300,
        ..Config::default()
    })
    .await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(pki.client_config());
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    tls.write_all(b"GET /hea").await.unwrap();
    assert!(
        closed_within(&mut tls, PATIENCE).await,
        "half a request head over TLS"
    );
    assert_eq!(server.handle.metrics().header_timeouts.get(), 1);
    server.handle.shutdown();
}

#[tokio::test]
async fn connections_over_max_connections_are_shed_and_calls_resume() {
    let server = start(Config {
        max_connections: 4,
        header_read_timeout_ms: 120_000,
        ..Config::default()
    })
    .await;
    let metrics = server.handle.metrics();
    // A live call and three idle connections fill the cap.
    let rate = SampleRate::HZ_8000;
    let mut call = connect(server.addr, "/media/raw").await;
    start_raw(&mut call, "during-flood", rate, Encoding::Ulaw).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    wait_for(&server.handle, "4 connections open", |m| {
        m.connections.get() == 4
    })
    .await;

    // The next one is closed at once, and counted.
    let mut over = TcpStream::connect(server.addr).await.unwrap();
    assert!(closed_within(&mut over, PATIENCE).await, "over the cap");
    let shed = metrics
        .connections_shed
        .with_label_values(&["maxConnections"]);
    assert_eq!(shed.get(), 1);

    // The call in progress is served on.
    let (samples, _) = signal("73", rate, 100.0, 300.0);
    send_audio(&mut call, &samples, rate, Encoding::Ulaw, 20.0, false).await;
    send_text(&mut call, r#"{"type":"end"}"#).await;
    let got = read_all(&mut call, PATIENCE).await;
    assert_eq!(keys(&got.of_type("dtmf")), "73", "{got:?}");
    assert_eq!(got.close.map(|c| c.0), Some(1000));

    // Once the flood stops, new calls get in.
    drop(idle);
    wait_for(&server.handle, "all connections closed", |m| {
        m.connections.get() == 0
    })
    .await;
    raw_call(server.addr, "after-flood", "90").await;
    assert_eq!(shed.get(), 1);
    server.handle.shutdown();
}

#[tokio::test]
async fn one_peer_cannot_hold_more_than_its_pending_connections() {
    let server = start(Config {
        max_pending_connections_per_ip: 2,
        header_read_timeout_ms: 120_000,
        ..Config::default()
    })
    .await;
    let metrics = server.handle.metrics();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let _silent = TcpStream::connect(server.addr).await.unwrap();
    wait_for(&server.handle, "2 connections open", |m| {
        m.connections.get() == 2
    })
    .await;
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    assert!(
        closed_within(&mut third, PATIENCE).await,
        "over the per-IP cap"
    );
    let shed = metrics
        .connections_shed
        .with_label_values(&["pendingPerIp"]);
    assert_eq!(shed.get(), 1);

    // A connection whose request head arrived no longer counts as pending.
    silent
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: tonegate\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(PATIENCE, silent.read(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    assert_eq!(
        http_get(server.addr, "/healthz").await,
        (200, "ok".to_owned())
    );
    assert_eq!(shed.get(), 1);
    server.handle.shutdown();
}

#[tokio::test]
async fn silent_tls_connections_do_not_stop_a_real_client() {
    let (server, pki) = start_tls(Config {
        max_tls_handshakes: 2,
        tls_handshake_timeout_ms: 10_000,
        ..Config::default()
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..6 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    wait_for(&server.handle, "6 connections open", |m| {
        m.connections.get() == 6
    })
    .await;

    // A real client is answered while every silent one is still waiting.
    let response = pki
        .https_client()
        .get(format!("https://localhost:{}/healthz", server.addr.port()))
        .timeout(PATIENCE)
        .send()
        .await
        .expect("an answer while silent handshakes wait");
    assert_eq!(response.status(), 200);
    assert!(silent.iter().all(still_open), "silent ones dropped early");

    // The silent ones are dropped at the handshake timeout, and counted.
    for stream in &mut silent {
        assert!(closed_within(stream, PATIENCE).await, "silent handshake");
    }
    let failures = &server.handle.metrics().tls_handshake_failures;
    assert_eq!(failures.with_label_values(&["timeout"]).get(), 6);
    server.handle.shutdown();
}

#[tokio::test]
async fn audio_faster_than_the_budget_closes_the_socket() {
    let server = start(Config {
        max_audio_speed: 4,
        max_audio_burst_ms: 2_000,
        ..Config::default()
    })
    .await;
    let mut flood = connect(server.addr, "/media/raw").await;
    send_text(&mut flood, RAW_START).await;
    // Thirty seconds of audio in one-second frames, as fast as the socket takes them:
    // few frames, many samples.
    for _ in 0..30 {
        if flood
            .send(Message::binary(vec![0xFF; 8_000]))
            .await
            .is_err()
        {
            break;
        }
    }
    let got = read_all(&mut flood, PATIENCE).await;
    let (code, reason) = got.close.clone().expect("a close frame");
    assert_eq!(code, 1008, "{got:?}");
    assert!(reason.contains("max_audio_speed"), "{reason}");
    let errors = &server.handle.metrics().errors;
    assert_eq!(errors.with_label_values(&["audioFlood"]).get(), 1);

    // Real time is well within the budget.
    let rate = SampleRate::HZ_8000;
    let mut paced = connect(server.addr, "/media/raw").await;
    start_raw(&mut paced, "paced", rate, Encoding::Ulaw).await;
    let (samples, _) = signal("5#", rate, 100.0, 300.0);
    send_audio(&mut paced, &samples, rate, Encoding::Ulaw, 20.0, true).await;
    send_text(&mut paced, r#"{"type":"end"}"#).await;
    let got = read_all(&mut paced, PATIENCE).await;
    assert_eq!(keys(&got.of_type("dtmf")), "5#", "{got:?}");
    assert_eq!(got.close.map(|c| c.0), Some(1000));
    assert_eq!(errors.with_label_values(&["audioFlood"]).get(), 1);
    server.handle.shutdown();
}

#[tokio::test]
async fn a_client_close_frame_is_answered_in_every_dialect() {
    let server = start(Config::default()).await;
    for (path, start) in [
        ("/media/raw", RAW_START),
        ("/media/acs", ACS_META),
        ("/media/twilio", TWILIO_START),
        ("/media", RAW_START),
    ] {
        let mut ws = connect(server.addr, path).await;
        send_text(&mut ws, start).await;
        let bye = CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        };
        ws.close(Some(bye)).await.unwrap();
        let reply = tokio::time::timeout(PATIENCE, async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(frame))) => return Ok(frame),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.to_string()),
                    None => return Err("end of stream".to_owned()),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{path}: no answer"));
        let frame = reply.unwrap_or_else(|e| panic!("{path}: no close frame: {e}"));
        assert_eq!(frame.map(|f| f.code), Some(CloseCode::Normal), "{path}");
    }
    server.handle.shutdown();
}
