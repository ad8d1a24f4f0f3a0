//! ACS dialect end to end: unmixed participants, DtmfData deduplication, SSE, outbound
//! digits through the call registry.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::dsp::dtmf;
use tonegate::receiver::Receiver;
use tonegate::server::Config;
use tonegate::session::Command;

const RATE: SampleRate = SampleRate::HZ_16000;

fn audio(participant: &str, pcm: &[u8]) -> String {
    format!(
        r#"{{"kind":"AudioData","audioData":{{"timestamp":"2024-11-15T19:16:12.925Z","participantRawID":"{participant}","data":"{}","silent":false}}}}"#,
        b64(pcm)
    )
}

#[tokio::test]
async fn unmixed_participants_and_platform_digits() {
    let server = start(Config::default()).await;
    let mut sse = Sse::connect(server.addr, "/v1/calls/acs-call-1/events").await;
    let mut ws = connect_with_header(
        server.addr,
        "/media/acs",
        "x-ms-call-connection-id",
        "acs-call-1",
    )
    .await;
    send_text(&mut ws, r#"{"kind":"AudioMetadata","audioMetadata":{"subscriptionId":"89e8cb59-b991-48b0-b154-1db84f16a077","encoding":"PCM","sampleRate":16000,"channels":1,"length":640}}"#).await;
    // Participant A presses 1 then 2 (onsets 200, 400 ms); B presses 3 (onset 600 ms).
    let (a, a_onsets) = signal("12", RATE, 200.0, 800.0);
    let (b, _) = signal("3", RATE, 600.0, 600.0);
    let a = encode(&a, Encoding::S16le);
    let b = encode(&b, Encoding::S16le);
    let frames = a.len().min(b.len()) / 640;
    for i in 0..frames {
        send_text(&mut ws, audio("4:+15551234567", &a[i * 640..(i + 1) * 640])).await;
        send_text(&mut ws, audio("8:acs:bob", &b[i * 640..(i + 1) * 640])).await;
        if i == 10 {
            // The platform reports A's "1" as it starts (onset at frame 10), before the
            // in-band detector confirms it: one event, seen both ways.
            send_text(&mut ws, r#"{"kind":"DtmfData","dtmfData":{"data":"one"}}"#).await;
        }
        if i == 24 {
            // The platform reports A's "2" after the in-band event went out: no second
            // event; the digit's end is tagged as seen both ways.
            send_text(&mut ws, r#"{"kind":"DtmfData","dtmfData":{"data":"2"}}"#).await;
        }
        if i == 50 {
            // A key the platform saw but the audio does not hold.
            send_text(&mut ws, r#"{"kind":"DtmfData","dtmfData":{"data":"9"}}"#).await;
        }
        if i == 3 {
            // Ignored kinds are fine.
            send_text(
                &mut ws,
                r#"{"kind":"TranscriptionData","transcriptionData":{"text":"hi"}}"#,
            )
            .await;
        }
    }
    ws.close(None).await.unwrap();
    let events = sse.until("acs-call-1", "ended").await;
    let presses: Vec<&Value> = events.iter().filter(|e| e["type"] == "dtmf").collect();
    let keys: String = presses
        .iter()
        .map(|e| e["digit"].as_str().unwrap())
        .collect();
    assert_eq!(keys, "1239", "{presses:?}");
    let ids: Vec<u64> = presses
        .iter()
        .map(|e| e["sequenceId"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 2, 3, 4]);
    assert_eq!(presses[0]["source"], "both");
    assert_eq!(presses[0]["participant"], "4:+15551234567");
    assert_eq!(presses[1]["source"], "inband");
    assert_eq!(presses[3]["source"], "platform");
    assert!(presses[3].get("levelDbm0").is_none());
    assert_eq!(presses[3]["startMs"], 1020.0);
    assert_eq!(presses[2]["participant"], "8:acs:bob");
    assert_onsets(&presses[..2], &a_onsets, 5.0);
    let b_start = presses[2]["startMs"].as_f64().unwrap();
    assert!((b_start - 600.0).abs() <= 5.0, "{b_start}");
    let ends: Vec<&Value> = events.iter().filter(|e| e["type"] == "dtmfEnd").collect();
    assert_eq!(ends.len(), 3);
    assert_eq!(ends[0]["source"], "both");
    let end_2 = ends.iter().find(|e| e["digit"] == "2").unwrap();
    assert_eq!(end_2["source"], "both");
    server.handle.shutdown();
}

#[tokio::test]
async fn outbound_digits_and_stop_audio() {
    // Digits of 100 ms tone and 100 ms pause, which the figures below assume.
    let server = start(Config {
        send_dtmf_on_ms: 100,
        send_dtmf_off_ms: 100,
        ..Config::default()
    })
    .await;
    let mut sse = Sse::connect(server.addr, "/v1/calls/acs-out/events").await;
    let mut ws = connect_with_header(
        server.addr,
        "/media/acs",
        "x-ms-call-connection-id",
        "acs-out",
    )
    .await;
    send_text(&mut ws, r#"{"kind":"AudioMetadata","audioMetadata":{"subscriptionId":"s","encoding":"PCM","sampleRate":16000,"channels":1,"length":640}}"#).await;
    sse.until("acs-out", "started").await;
    server
        .handle
        .registry()
        .send(
            "acs-out",
            Command::SendDigits {
                id: "d1".into(),
                digits: digits("47#"),
            },
        )
        .await
        .unwrap();
    // 3 digits x 200 ms = 600 ms = 30 frames of 20 ms.
    let mut pcm = Vec::new();
    let mut frames = 0;
    while frames < 30 {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            assert_eq!(v["Kind"], "AudioData");
            assert!(v["StopAudio"].is_null());
            let bytes = unb64(v["AudioData"]["Data"].as_str().unwrap());
            assert_eq!(bytes.len(), 640);
            pcm.extend(bytes);
            frames += 1;
        }
    }
    let samples = decode(&pcm, Encoding::S16le);
    let mut receiver = Receiver::new(RATE, dtmf::Config::default()).unwrap();
    let mut found = Vec::new();
    receiver.process(&samples, &mut |e| {
        if let dtmf::Event::Pressed(k) = e {
            found.push((k.digit.as_char(), k.start));
        }
    });
    receiver.flush(&mut |_| {});
    assert_eq!(found.iter().map(|f| f.0).collect::<String>(), "47#");
    for (i, (_, start)) in found.iter().enumerate() {
        assert!((start - (i as f64 * 3_200.0)).abs() < 80.0, "{found:?}");
    }
    let events = sse.until("acs-out", "playCompleted").await;
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "playStarted" && e["id"] == "d1")
    );

    // A long sequence, then stop: StopAudio goes out and the item is canceled.
    server
        .handle
        .registry()
        .send(
            "acs-out",
            Command::SendDigits {
                id: "d2".into(),
                digits: digits("0123456789"),
            },
        )
        .await
        .unwrap();
    sse.until("acs-out", "playStarted").await;
    server
        .handle
        .registry()
        .send("acs-out", Command::Stop)
        .await
        .unwrap();
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["Kind"] == "StopAudio" {
                assert!(v["AudioData"].is_null());
                break;
            }
        }
    }
    let events = sse.until("acs-out", "playCanceled").await;
    assert_eq!(events.last().unwrap()["id"], "d2");
    ws.send(Message::Close(None)).await.unwrap();
    server.handle.shutdown();
}
