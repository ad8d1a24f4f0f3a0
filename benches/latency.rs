//! Server-side overhead from the frame that completes a digit to its event on the
//! socket. Streams 4x faster than real time, frame by frame, and prints the p50 and p99
//! of (event received - frame sent) over loopback, an upper bound of the server's own
//! time, plus the server's histogram. Target: p99 < 5 ms.
//!
//! `cargo bench --bench latency`

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::server::Config;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(digit_event_latency());
}

async fn digit_event_latency() {
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
        let mut arrivals = Vec::new();
        while let Some(Ok(m)) = stream.next().await {
            if let Message::Text(t) = m {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "dtmf" {
                    arrivals.push((Instant::now(), v["detectedMs"].as_f64().unwrap()));
                }
                if v["type"] == "ended" {
                    break;
                }
            }
        }
        arrivals
    });
    let sent_at = latency::feed_fast(&mut sink, &bytes).await;
    let arrivals = reader.await.unwrap();
    assert_eq!(arrivals.len(), keys.len(), "every digit detected");
    let mut latencies: Vec<Duration> = arrivals
        .iter()
        .map(|(at, detected_ms)| latency::after_confirming_frame(&sent_at, *detected_ms, *at))
        .collect();
    let (p50, p99) = latency::percentiles(&mut latencies);
    let (_, metrics) = http_get(server.addr, "/metrics").await;
    let histogram: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("tonegate_event_latency_seconds"))
        .collect();
    println!(
        "digit event latency over loopback: p50 {p50:?}, p99 {p99:?}, max {:?} ({} digits)",
        latencies.last().unwrap(),
        latencies.len()
    );
    println!("{}", histogram.join("\n"));
    println!(
        "target: p99 < 5 ms; {}",
        if p99 < Duration::from_millis(5) {
            "met"
        } else {
            "NOT met"
        }
    );
    server.handle.shutdown();
}
