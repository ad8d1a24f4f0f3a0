//! Graceful shutdown: pending events are flushed, sockets close with 1001, SSE streams
//! end, the server stops accepting and `run` returns.

mod common;

use std::time::Duration;

use common::*;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::server::Config;

#[tokio::test]
async fn shutdown_flushes_and_closes_with_1001() {
    let server = start(Config::default()).await;
    let mut sse = Sse::connect(server.addr, "/v1/events").await;
    let mut ws = connect(server.addr, "/media/raw").await;
    send_text(
        &mut ws,
        r#"{"type":"start","callId":"bye","encoding":"s16le","sampleRate":8000}"#,
    )
    .await;
    // A digit still sounding (no release yet) and a platform digit still on hold.
    let (samples, _) = signal("7", SampleRate::HZ_8000, 100.0, 0.0);
    let sounding = &samples[..SampleRate::HZ_8000.ms_to_samples(160.0)];
    send_binary(&mut ws, encode(sounding, Encoding::S16le)).await;
    read_until(&mut ws, "dtmf", Duration::from_secs(5)).await;
    send_text(&mut ws, r#"{"type":"dtmf","digit":"5"}"#).await;
    let mut idle = connect(server.addr, "/media/twilio").await;

    server.handle.shutdown();
    let got = read_all(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(got.close.as_ref().map(|c| c.0), Some(1001), "{got:?}");
    let kinds: Vec<&str> = got
        .events
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["dtmf", "dtmfEnd", "ended"], "{got:?}");
    assert_eq!(got.events[0]["digit"], "5");
    assert_eq!(got.events[0]["source"], "platform");
    assert_eq!(got.events[0]["sequenceId"], 2);
    assert_eq!(got.events[1]["sequenceId"], 1);
    let got = read_all(&mut idle, Duration::from_secs(5)).await;
    assert_eq!(got.close.map(|c| c.0), Some(1001));

    let events = sse.until("bye", "ended").await;
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "dtmf" && e["digit"] == "5")
    );
    tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .expect("run returns")
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(server.addr).await.is_err(),
        "still accepting"
    );
}
