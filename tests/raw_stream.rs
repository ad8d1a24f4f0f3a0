//! Raw dialect end to end: digits, sequence ids, positions and SSE.

mod common;

use std::time::Duration;

use common::*;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::server::Config;

async fn stream_digits(rate: SampleRate, encoding: Encoding, chunk_ms: f64, paced: bool) {
    let server = start(Config::default()).await;
    let mut sse_call = Sse::connect(server.addr, "/v1/calls/raw-1/events").await;
    let mut sse_all = Sse::connect(server.addr, "/v1/events").await;
    let mut ws = connect(server.addr, "/media/raw").await;
    start_raw(&mut ws, "raw-1", rate, encoding).await;
    let (samples, onsets) = signal("159#*0", rate, 330.0, 300.0);
    send_audio(&mut ws, &samples, rate, encoding, chunk_ms, paced).await;
    send_text(&mut ws, r#"{"type":"end"}"#).await;
    let got = read_all(&mut ws, Duration::from_secs(10)).await;
    assert_eq!(got.close.as_ref().map(|c| c.0), Some(1000), "{got:?}");
    let started = got.of_type("started");
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["sampleRate"], rate.hz());
    let presses = got.of_type("dtmf");
    assert_eq!(keys(&presses), "159#*0");
    let ids: Vec<u64> = presses
        .iter()
        .map(|e| e["sequenceId"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 2, 3, 4, 5, 6]);
    assert_onsets(&presses, &onsets, 5.0);
    for e in &presses {
        assert_eq!(e["source"], "inband");
        assert_eq!(e["callId"], "raw-1");
        let detected = e["detectedMs"].as_f64().unwrap();
        let start = e["startMs"].as_f64().unwrap();
        assert!(detected > start && detected < start + 60.0, "{e}");
        assert!(e["levelDbm0"].as_f64().unwrap() < -5.0);
    }
    let ends = got.of_type("dtmfEnd");
    assert_eq!(ends.len(), 6);
    for (i, e) in ends.iter().enumerate() {
        let end = e["endMs"].as_f64().unwrap();
        assert!((end - (onsets[i] + 100.0)).abs() <= 10.0, "{e}");
        assert_eq!(e["sequenceId"], (i + 1) as u64);
    }
    assert_eq!(got.of_type("ended").len(), 1);

    for sse in [&mut sse_call, &mut sse_all] {
        let events = sse.until("raw-1", "ended").await;
        let sse_ids: Vec<u64> = events
            .iter()
            .filter(|e| e["type"] == "dtmf")
            .map(|e| e["sequenceId"].as_u64().unwrap())
            .collect();
        assert_eq!(sse_ids, vec![1, 2, 3, 4, 5, 6]);
    }
    let (status, metrics) = http_get(server.addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("tonegate_digits_total{source=\"inband\"} 6"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tonegate_event_latency_seconds_count 6"),
        "{metrics}"
    );
    let (status, body) = http_get(server.addr, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    server.handle.shutdown();
}

#[tokio::test]
async fn raw_s16le_16k_faster_than_real_time() {
    stream_digits(SampleRate::HZ_16000, Encoding::S16le, 20.0, false).await;
}

#[tokio::test]
async fn raw_ulaw_8k_odd_chunks() {
    stream_digits(SampleRate::HZ_8000, Encoding::Ulaw, 7.3, false).await;
}

#[tokio::test]
async fn raw_alaw_48k_large_chunks() {
    stream_digits(SampleRate::HZ_48000, Encoding::Alaw, 250.0, false).await;
}

#[tokio::test]
async fn raw_s16le_8k_paced_real_time() {
    stream_digits(SampleRate::HZ_8000, Encoding::S16le, 20.0, true).await;
}

/// A connection dropped without a close frame, in the middle of a digit: the digit
/// still sounding is flushed and reported, and the call ends, on the SSE stream.
#[tokio::test]
async fn a_dropped_connection_still_reports_the_last_digit() {
    let server = start(Config::default()).await;
    let mut sse = Sse::connect(server.addr, "/v1/calls/raw-drop/events").await;
    let mut ws = connect(server.addr, "/media/raw").await;
    let rate = SampleRate::HZ_8000;
    start_raw(&mut ws, "raw-drop", rate, Encoding::S16le).await;
    let (mut samples, _) = signal("47", rate, 100.0, 0.0);
    // Cut the last tone 60 ms in (tones of 100 ms, each followed by 100 ms of silence):
    // detected, not yet ended.
    samples.truncate(samples.len() - rate.ms_to_samples(140.0));
    send_audio(&mut ws, &samples, rate, Encoding::S16le, 20.0, false).await;
    // Both digits were read, so the server holds the audio; then the network fails.
    let mut seen = 0;
    while seen < 2 {
        let got = read_until(&mut ws, "dtmf", Duration::from_secs(5)).await;
        seen += got.of_type("dtmf").len();
    }
    drop(ws);
    let events = sse.until("raw-drop", "ended").await;
    let presses: Vec<_> = events.iter().filter(|e| e["type"] == "dtmf").collect();
    assert_eq!(keys(&presses), "47", "{events:?}");
    let ends: Vec<_> = events.iter().filter(|e| e["type"] == "dtmfEnd").collect();
    assert_eq!(ends.len(), 2, "the cut digit ends when the stream does");
}
