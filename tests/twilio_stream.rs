//! Twilio dialect end to end: auto-detection on /media, sequence gaps filled with
//! silence, dtmf deduplication, outbound prompt with marks, stop.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::media::player::Prompt;
use tonegate::server::Config;
use tonegate::session::Command;

const START: &str = r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC1","streamSid":"MZ1","callSid":"CA-twilio-1","tracks":["inbound"],"customParameters":{},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZ1"}"#;

fn media(seq: u64, ts_ms: u64, payload: &[u8]) -> String {
    format!(
        r#"{{"event":"media","sequenceNumber":"{seq}","media":{{"track":"inbound","chunk":"{seq}","timestamp":"{ts_ms}","payload":"{}"}},"streamSid":"MZ1"}}"#,
        b64(payload)
    )
}

async fn run_stream(path: &str) {
    let server = start(Config::default()).await;
    let mut sse = Sse::connect(server.addr, "/v1/events").await;
    let mut ws = connect(server.addr, path).await;
    send_text(
        &mut ws,
        r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#,
    )
    .await;
    send_text(&mut ws, START).await;
    let (samples, onsets) = signal("42", SampleRate::HZ_8000, 500.0, 400.0);
    let bytes = encode(&samples, Encoding::Ulaw);
    let mut seq = 2;
    for (i, frame) in bytes.chunks(160).enumerate() {
        // Frames 5..15 (100-300 ms, silence) never arrive.
        if (5..15).contains(&i) {
            continue;
        }
        send_text(&mut ws, media(seq, i as u64 * 20, frame)).await;
        seq += 1;
        if i == 32 {
            // Twilio reports the "4" after its tone (500-600 ms) ended.
            let dtmf = format!(
                r#"{{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"{seq}","dtmf":{{"track":"inbound_track","digit":"4"}}}}"#
            );
            send_text(&mut ws, dtmf).await;
            seq += 1;
        }
    }
    send_text(&mut ws, format!(r#"{{"event":"stop","sequenceNumber":"{seq}","streamSid":"MZ1","stop":{{"accountSid":"AC1","callSid":"CA-twilio-1"}}}}"#)).await;
    let got = read_all(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(got.close.map(|c| c.0), Some(1000));
    assert!(
        got.events.is_empty() && got.binary.is_empty(),
        "Twilio gets no events in-band"
    );
    let events = sse.until("CA-twilio-1", "ended").await;
    let presses: Vec<&Value> = events.iter().filter(|e| e["type"] == "dtmf").collect();
    assert_eq!(
        presses
            .iter()
            .map(|e| e["digit"].as_str().unwrap())
            .collect::<String>(),
        "42"
    );
    assert_eq!(presses[0]["sequenceId"], 1);
    assert_eq!(presses[1]["sequenceId"], 2);
    // Positions are true despite the 200 ms of missing frames.
    assert_onsets(&presses, &onsets, 5.0);
    let end_4 = events
        .iter()
        .find(|e| e["type"] == "dtmfEnd" && e["digit"] == "4")
        .unwrap();
    assert_eq!(end_4["source"], "both");
    let started = events.iter().find(|e| e["type"] == "started").unwrap();
    assert_eq!(started["dialect"], "twilio");
    assert_eq!(started["streamId"], "MZ1");
    server.handle.shutdown();
}

#[tokio::test]
async fn twilio_on_its_own_path() {
    run_stream("/media/twilio").await;
}

#[tokio::test]
async fn twilio_detected_on_media() {
    run_stream("/media").await;
}

#[tokio::test]
async fn outbound_prompt_marks_and_clear() {
    let server = start(Config::default()).await;
    let mut sse = Sse::connect(server.addr, "/v1/calls/CA-twilio-1/events").await;
    let mut ws = connect(server.addr, "/media/twilio").await;
    send_text(&mut ws, START).await;
    sse.until("CA-twilio-1", "started").await;
    // 330 ms of a 440 Hz tone: 16.5 frames, so the last frame is padded with silence.
    let prompt: Vec<f32> = (0..2_640)
        .map(|n| 0.3 * (n as f32 * 440.0 * std::f32::consts::TAU / 8_000.0).sin())
        .collect();
    let registry = server.handle.registry();
    registry
        .send(
            "CA-twilio-1",
            Command::Play {
                id: "p1".into(),
                prompt: Prompt::from_samples(prompt.clone(), SampleRate::HZ_8000),
                looped: false,
            },
        )
        .await
        .unwrap();
    registry
        .send(
            "CA-twilio-1",
            Command::Mark {
                name: "after-p1".into(),
            },
        )
        .await
        .unwrap();
    let mut payload = Vec::new();
    let mut marks = Vec::new();
    while marks.len() < 2 {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let Message::Text(t) = m else {
            panic!("binary to Twilio")
        };
        let v: Value = serde_json::from_str(t.as_str()).unwrap();
        assert_eq!(v["streamSid"], "MZ1");
        match v["event"].as_str().unwrap() {
            "media" => {
                assert!(marks.is_empty(), "media after the marks");
                let bytes = unb64(v["media"]["payload"].as_str().unwrap());
                assert_eq!(bytes.len(), 160);
                payload.extend(bytes);
            }
            "mark" => marks.push(v["mark"]["name"].as_str().unwrap().to_owned()),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(payload.len(), 17 * 160);
    assert_eq!(&payload[..2_640], &encode(&prompt, Encoding::Ulaw)[..]);
    assert!(
        decode(&payload[2_640..], Encoding::Ulaw)
            .iter()
            .all(|&x| x.abs() < 1e-3)
    );
    // Not complete until Twilio says the audio played.
    for name in &marks {
        send_text(&mut ws, format!(r#"{{"event":"mark","sequenceNumber":"9","streamSid":"MZ1","mark":{{"name":"{name}"}}}}"#)).await;
    }
    let events = sse.until("CA-twilio-1", "mark").await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["playStarted", "playCompleted", "mark"]);
    assert_eq!(events[2]["name"], "after-p1");

    // A looping prompt, then stop: clear goes out and the prompt is canceled.
    registry
        .send(
            "CA-twilio-1",
            Command::Play {
                id: "hold".into(),
                prompt: Prompt::from_samples(vec![0.1; 80], SampleRate::HZ_8000),
                looped: true,
            },
        )
        .await
        .unwrap();
    sse.until("CA-twilio-1", "playStarted").await;
    registry.send("CA-twilio-1", Command::Stop).await.unwrap();
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let Message::Text(t) = m else { panic!() };
        let v: Value = serde_json::from_str(t.as_str()).unwrap();
        if v["event"] == "clear" {
            assert_eq!(v["streamSid"], "MZ1");
            break;
        }
    }
    let events = sse.until("CA-twilio-1", "playCanceled").await;
    assert_eq!(events.last().unwrap()["id"], "hold");
    server.handle.shutdown();
}
