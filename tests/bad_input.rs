//! Bad input closes only the offending socket, with a fitting close code, while a healthy
//! session on the same server carries on.

mod common;

use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::server::Config;

const ACS_META: &str = r#"{"kind":"AudioMetadata","audioMetadata":{"subscriptionId":"x","encoding":"PCM","sampleRate":16000,"channels":1,"length":640}}"#;
const RAW_START: &str = r#"{"type":"start","encoding":"s16le","sampleRate":8000}"#;

enum Send {
    Text(String),
    Binary(Vec<u8>),
    Many(usize),
}

fn text(s: &str) -> Send {
    Send::Text(s.to_owned())
}

async fn expect_close(path: &str, sends: Vec<Send>, expected: u16, addr: std::net::SocketAddr) {
    let mut ws = connect(addr, path).await;
    for s in sends {
        // The server may close before every frame is written.
        match s {
            Send::Text(t) => {
                let _ = ws.send(Message::text(t)).await;
            }
            Send::Binary(b) => {
                let _ = ws.send(Message::binary(b)).await;
            }
            Send::Many(n) => {
                for _ in 0..n {
                    if ws.feed(Message::binary(vec![0u8; 2])).await.is_err() {
                        break;
                    }
                }
                let _ = ws.flush().await;
            }
        }
    }
    let got = read_all(&mut ws, Duration::from_secs(10)).await;
    let (code, reason) = got
        .close
        .clone()
        .unwrap_or_else(|| panic!("{path}: no close frame; {got:?}"));
    assert_eq!(code, expected, "{path}: closed with {code} ({reason})");
    assert!(!reason.is_empty(), "a clear reason");
}

#[tokio::test]
async fn bad_input_closes_only_the_offending_socket() {
    let server = start(Config::default()).await;
    let addr = server.addr;
    // The healthy session streams the first half of its digits.
    let mut healthy = connect(addr, "/media/raw").await;
    send_text(
        &mut healthy,
        r#"{"type":"start","callId":"healthy","encoding":"ulaw","sampleRate":8000}"#,
    )
    .await;
    let (samples, onsets) = signal("2580", SampleRate::HZ_8000, 100.0, 300.0);
    let bytes = encode(&samples, Encoding::Ulaw);
    let (first, second) = bytes.split_at(bytes.len() / 2);
    for chunk in first.chunks(160) {
        send_binary(&mut healthy, chunk.to_vec()).await;
    }

    let acs_audio = |payload: &str| {
        text(&format!(
            r#"{{"kind":"AudioData","audioData":{{"data":"{payload}"}}}}"#
        ))
    };
    let cases: Vec<(&str, Vec<Send>, u16)> = vec![
        ("/media/raw", vec![text("{not json")], 1007),
        ("/media/acs", vec![text(ACS_META), acs_audio("***")], 1007),
        (
            "/media/acs",
            vec![text(ACS_META), acs_audio(&b64(&[1, 2, 3]))],
            1007,
        ),
        (
            "/media/raw",
            vec![text(RAW_START), Send::Binary(vec![0; 641])],
            1007,
        ),
        (
            "/media/acs",
            vec![text(ACS_META), Send::Binary(vec![0; 640])],
            1003,
        ),
        ("/media/twilio", vec![Send::Binary(vec![0; 160])], 1003),
        ("/media", vec![Send::Binary(vec![0; 160])], 1003),
        ("/media", vec![text(r#"{"hello":1}"#)], 1007),
        ("/media/raw", vec![Send::Binary(vec![0; 160])], 1008),
        (
            "/media/acs",
            vec![
                text(ACS_META),
                text(ACS_META),
                text(&ACS_META.replace("16000", "24000")),
            ],
            1008,
        ),
        (
            "/media/raw",
            vec![text(&RAW_START.replace("8000", "96000"))],
            1003,
        ),
        (
            "/media/acs",
            vec![text(&ACS_META.replace("16000", "4000"))],
            1003,
        ),
        (
            "/media/raw",
            vec![text(&RAW_START.replace("s16le", "opus"))],
            1003,
        ),
        (
            "/media/raw",
            vec![text(RAW_START), Send::Binary(vec![0; 16 << 20])],
            1009,
        ),
        ("/media/raw", vec![text(RAW_START), Send::Many(5_000)], 1008),
        (
            "/media/twilio",
            vec![text(
                r#"{"event":"media","sequenceNumber":"x","media":{"payload":""}}"#,
            )],
            1007,
        ),
        ("/media/twilio", vec![text(r#"{"event":"start"}"#)], 1007),
        (
            "/media/raw",
            vec![text(&RAW_START.replace(
                r#""start","#,
                r#""start","callbackUri":"ftp://x/","#,
            ))],
            1007,
        ),
        (
            "/media/raw",
            vec![text(
                r#"{"type":"start","callId":"healthy","encoding":"ulaw","sampleRate":8000}"#,
            )],
            1008,
        ),
    ];
    let count = cases.len();
    for (path, sends, code) in cases {
        expect_close(path, sends, code, addr).await;
    }

    // A bad callbackUri in the socket URL is refused before the upgrade.
    let url = format!("ws://{addr}/media/acs?callbackUri=ftp%3A%2F%2Fx%2F");
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default());
            assert!(body.contains("callbackUri"), "{body}");
        }
        other => panic!("expected HTTP 400, got {other:?}"),
    }

    // Unknown kinds are logged, counted and skipped without closing.
    let mut acs = connect(addr, "/media/acs").await;
    send_text(&mut acs, ACS_META).await;
    send_text(&mut acs, r#"{"kind":"SomethingNew","somethingNew":{}}"#).await;
    send_text(&mut acs, acs_audio(&b64(&[0; 640])).into_text()).await;
    let mut raw = connect(addr, "/media/raw").await;
    send_text(&mut raw, RAW_START).await;
    send_text(&mut raw, r#"{"type":"somethingNew"}"#).await;
    let got = read_until(&mut raw, "error", Duration::from_secs(5)).await;
    assert_eq!(got.events.last().unwrap()["code"], "unknownKind");
    assert!(got.close.is_none());

    // The healthy session finishes as if nothing happened.
    for chunk in second.chunks(160) {
        send_binary(&mut healthy, chunk.to_vec()).await;
    }
    send_text(&mut healthy, r#"{"type":"end"}"#).await;
    let got = read_all(&mut healthy, Duration::from_secs(10)).await;
    assert_eq!(got.close.as_ref().map(|c| c.0), Some(1000));
    let presses = got.of_type("dtmf");
    assert_eq!(
        presses
            .iter()
            .map(|e| e["digit"].as_str().unwrap())
            .collect::<String>(),
        "2580"
    );
    assert_onsets(&presses, &onsets, 5.0);

    let (_, metrics) = http_get(addr, "/metrics").await;
    for code in [
        "malformedJson",
        "invalidBase64",
        "oddByteCount",
        "unexpectedBinary",
        "formatChanged",
        "unsupportedRate",
        "frameTooLarge",
        "flood",
        "duplicateCallId",
        "unknownKind",
        "badCallbackUri",
    ] {
        // Label values can be listed at 0 from the start: the count must have moved.
        let counted = server
            .handle
            .metrics()
            .errors
            .with_label_values(&[code])
            .get();
        assert!(counted > 0, "{code} not counted:\n{metrics}");
    }
    assert!(count >= 18);
    server.handle.shutdown();
}

#[tokio::test]
async fn sessions_over_the_cap_are_refused() {
    let server = start(Config {
        max_sessions: 1,
        ..Config::default()
    })
    .await;
    let mut first = connect(server.addr, "/media/raw").await;
    send_text(&mut first, RAW_START).await;
    let refused = tokio_tungstenite::connect_async(format!("ws://{}/media/raw", server.addr)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
        }
        other => panic!("expected 503, got {other:?}"),
    }
    first.close(None).await.unwrap();
    // The slot frees when the first socket goes.
    wait_until(
        "the first socket's slot to free",
        Duration::from_secs(30),
        || server.handle.active_sessions() == 0,
    )
    .await;
    let _second = connect(server.addr, "/media/raw").await;
    server.handle.shutdown();
}

trait IntoText {
    fn into_text(self) -> String;
}

impl IntoText for Send {
    fn into_text(self) -> String {
        match self {
            Send::Text(t) => t,
            _ => unreachable!(),
        }
    }
}
