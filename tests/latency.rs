//! Digits streamed frame by frame each come back as one event, in order, with the
//! event-latency histogram counting every in-band digit. The latency figures themselves
//! (p50, p99 over loopback) are a bench: `cargo bench --bench latency`.

mod common;

use common::*;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::server::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_digit_streamed_frame_by_frame_is_reported_once_and_timed() {
    let server = start(Config::default()).await;
    let mut ws = connect(server.addr, "/media/raw").await;
    send_text(
        &mut ws,
        r#"{"type":"start","callId":"lat","encoding":"s16le","sampleRate":8000}"#,
    )
    .await;
    let keys = "0123456789*#ABCD".repeat(5);
    let (samples, _) = signal(&keys, SampleRate::HZ_8000, 100.0, 200.0);
    let bytes = encode(&samples, Encoding::S16le);
    let (mut sink, mut stream) = ws.split();
    let reader = tokio::spawn(async move {
        let mut digits = String::new();
        while let Some(Ok(m)) = stream.next().await {
            if let Message::Text(t) = m {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "dtmf" {
                    digits.push_str(v["digit"].as_str().unwrap());
                    assert!(v["detectedMs"].as_f64().is_some(), "{v}");
                }
                if v["type"] == "ended" {
                    break;
                }
            }
        }
        digits
    });
    for chunk in bytes.chunks(320) {
        futures_util::SinkExt::send(&mut sink, Message::binary(chunk.to_vec()))
            .await
            .unwrap();
    }
    futures_util::SinkExt::send(&mut sink, Message::text(r#"{"type":"end"}"#))
        .await
        .unwrap();
    let digits = reader.await.unwrap();
    assert_eq!(digits, keys);
    let (_, metrics) = http_get(server.addr, "/metrics").await;
    let count = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tonegate_event_latency_seconds_count "))
        .expect("the latency histogram");
    assert_eq!(count.trim(), keys.len().to_string(), "{metrics}");
    server.handle.shutdown();
}
