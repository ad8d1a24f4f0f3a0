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
    let mut sent_at = Vec::new();
    for chunk in bytes.chunks(320) {
        futures_util::SinkExt::send(&mut sink, Message::binary(chunk.to_vec()))
            .await
            .unwrap();
        sent_at.push(Instant::now());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    futures_util::SinkExt::send(&mut sink, Message::text(r#"{"type":"end"}"#))
        .await
        .unwrap();
    let arrivals = reader.await.unwrap();
    assert_eq!(arrivals.len(), keys.len(), "every digit detected");
    let mut latencies: Vec<Duration> = arrivals
        .iter()
        .map(|(at, detected_ms)| {
            // The frame holding the sample where the digit was confirmed.
            let frame = ((detected_ms / 20.0).ceil() as usize)
                .saturating_sub(1)
                .min(sent_at.len() - 1);
            at.saturating_duration_since(sent_at[frame])
        })
        .collect();
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[(latencies.len() * 99).div_ceil(100) - 1];
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
