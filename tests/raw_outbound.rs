//! Raw dialect outbound audio: WAV prompts converted to the stream's rate and encoding,
//! DTMF generation, marks, stop, and bad play requests.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::dsp::dtmf;
use tonegate::media::player::Prompt;
use tonegate::media::wav::write_wav;
use tonegate::receiver::Receiver;
use tonegate::server::Config;

fn prompt_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tonegate-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn plays_a_wav_at_another_rate_then_digits_then_stops() {
    let dir = prompt_dir("raw-outbound");
    // 0.5 s of 1 kHz at 8 kHz, 16-bit.
    let original: Vec<f32> = (0..4_000)
        .map(|n| 0.25 * (n as f32 * 1_000.0 * std::f32::consts::TAU / 8_000.0).sin())
        .collect();
    let mut file = std::io::Cursor::new(Vec::new());
    write_wav(&mut file, 8_000, 1, Encoding::S16le, &original).unwrap();
    let wav = file.into_inner();
    std::fs::write(dir.join("hello.wav"), &wav).unwrap();

    // Digits of 100 ms tone and 100 ms pause, which the frame counts below assume.
    let server = start(Config {
        prompt_dir: dir.clone(),
        send_dtmf_on_ms: 100,
        send_dtmf_off_ms: 100,
        ..Config::default()
    })
    .await;
    let mut ws = connect(server.addr, "/media/raw").await;
    send_text(
        &mut ws,
        r#"{"type":"start","callId":"out-1","encoding":"s16le","sampleRate":16000}"#,
    )
    .await;
    send_text(&mut ws, r#"{"type":"play","id":"p1","file":"hello.wav"}"#).await;
    send_text(&mut ws, r#"{"type":"mark","name":"m1"}"#).await;
    let got = read_until(&mut ws, "mark", Duration::from_secs(5)).await;
    let kinds: Vec<&str> = got
        .events
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec!["started", "playStarted", "playCompleted", "mark"]
    );
    // 0.5 s at 16 kHz = 8000 samples = 25 frames of 320 samples.
    assert_eq!(got.binary.len(), 25);
    assert!(got.binary.iter().all(|f| f.len() == 640));
    let played = decode(&got.binary.concat(), Encoding::S16le);
    let expected = Prompt::from_wav(&wav, SampleRate::HZ_16000).unwrap();
    assert_eq!(played.len(), expected.len_samples());
    for (a, b) in played.iter().zip(expected.samples()) {
        assert!((a - b).abs() <= 1.0 / 32_768.0, "{a} vs {b}");
    }
    // Every other sample of the 16 kHz output is the 8 kHz original.
    for n in 100..3_900 {
        assert!((played[2 * n] - original[n]).abs() < 0.01, "sample {n}");
    }

    send_text(&mut ws, r#"{"type":"sendDigits","id":"d1","digits":"*93"}"#).await;
    let got = read_until(&mut ws, "playCompleted", Duration::from_secs(5)).await;
    assert_eq!(got.binary.len(), 30);
    let audio = decode(&got.binary.concat(), Encoding::S16le);
    let mut receiver = Receiver::new(SampleRate::HZ_16000, dtmf::Config::default()).unwrap();
    let mut keys = String::new();
    receiver.process(&audio, &mut |e| {
        if let dtmf::Event::Pressed(k) = e {
            keys.push(k.digit.as_char());
        }
    });
    assert_eq!(keys, "*93");

    send_text(
        &mut ws,
        r#"{"type":"play","id":"loop","file":"hello.wav","loop":true}"#,
    )
    .await;
    read_until(&mut ws, "playStarted", Duration::from_secs(5)).await;
    send_text(&mut ws, r#"{"type":"stop"}"#).await;
    let got = read_until(&mut ws, "playCanceled", Duration::from_secs(5)).await;
    assert!(
        got.texts.iter().any(|t| t["type"] == "stopAudio")
            || got.events.iter().any(|e| e["type"] == "stopAudio")
    );
    assert_eq!(got.events.last().unwrap()["id"], "loop");

    // Bad requests get error events; the socket stays open.
    send_text(
        &mut ws,
        r#"{"type":"play","id":"x","file":"../etc/passwd"}"#,
    )
    .await;
    let got = read_until(&mut ws, "error", Duration::from_secs(5)).await;
    assert_eq!(got.events.last().unwrap()["code"], "badPath");
    send_text(&mut ws, r#"{"type":"play","id":"y","file":"missing.wav"}"#).await;
    let got = read_until(&mut ws, "error", Duration::from_secs(5)).await;
    assert_eq!(got.events.last().unwrap()["code"], "fileNotFound");
    std::fs::write(dir.join("junk.wav"), b"not a wav file at all").unwrap();
    send_text(&mut ws, r#"{"type":"play","id":"z","file":"junk.wav"}"#).await;
    let got = read_until(&mut ws, "error", Duration::from_secs(5)).await;
    assert_eq!(got.events.last().unwrap()["code"], "badFormat");
    send_text(&mut ws, r#"{"type":"sendDigits","digits":"12"}"#).await;
    let got = read_until(&mut ws, "playCompleted", Duration::from_secs(5)).await;
    assert_eq!(got.events.last().unwrap()["id"], "digits-9");
    send_text(&mut ws, r#"{"type":"end"}"#).await;
    let got = read_all(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(got.close.map(|c| c.0), Some(1000));
    server.handle.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn prompt_size_limit() {
    let dir = prompt_dir("raw-limit");
    let mut file = std::io::Cursor::new(Vec::new());
    write_wav(&mut file, 8_000, 1, Encoding::S16le, &vec![0.0; 8_000]).unwrap();
    std::fs::write(dir.join("big.wav"), file.into_inner()).unwrap();
    let server = start(Config {
        prompt_dir: dir.clone(),
        max_prompt_bytes: 1_000,
        ..Config::default()
    })
    .await;
    let mut ws = connect(server.addr, "/media/raw").await;
    send_text(
        &mut ws,
        r#"{"type":"start","callId":"lim","encoding":"ulaw","sampleRate":8000}"#,
    )
    .await;
    send_text(&mut ws, r#"{"type":"play","file":"big.wav"}"#).await;
    let got = read_until(&mut ws, "error", Duration::from_secs(5)).await;
    assert_eq!(got.events.last().unwrap()["code"], "fileTooLarge");
    server.handle.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}
