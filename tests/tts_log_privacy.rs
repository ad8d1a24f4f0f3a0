//! What `tonegate serve` (the real binary, stderr captured) logs about speech prompts: a
//! prompt may read a caller's secrets back, so neither a spoken text nor SSML appears in
//! the log, also when its synthesis fails or its voice is unknown; the lines name the
//! prompt by kind, length and a keyed hash instead.

mod common;

use std::time::Duration;

use common::logged::LoggedServe;
use common::*;

/// A secret a prompt reads back.
const SECRET: &str = "48317";

#[tokio::test]
async fn speech_failures_and_voice_notes_log_no_text() {
    let served = LoggedServe::start(
        &[("TONEGATE_TTS_ESPEAK_PROGRAM", "/nonexistent/espeak-ng")],
        |command| {
            command.env("NO_COLOR", "1");
        },
    );
    let addr = served.addr().await;
    let mut ws = connect(addr, "/media/raw").await;
    let start = r#"{"type":"start","callId":"tts-log","encoding":"ulaw","sampleRate":8000}"#;
    send_text(&mut ws, start).await;
    let text = format!("Your PIN is {SECRET}");
    let plays = [
        serde_json::json!({"type": "play", "text": text, "voice": "Zira"}),
        serde_json::json!({"type": "play", "ssml": format!("<speak>{SECRET}</speak>")}),
    ];
    for play in plays {
        send_text(&mut ws, play.to_string()).await;
        let got = read_until(&mut ws, "error", Duration::from_secs(20)).await;
        assert_eq!(got.of_type("error")[0]["code"], "speechRefused");
    }
    send_text(&mut ws, r#"{"type":"end"}"#).await;
    served.line_with("stream ended").await;
    let lines = served.lines();

    let failures: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("speech not synthesised"))
        .collect();
    assert_eq!(failures.len(), 2, "{lines:#?}");
    assert!(
        failures[0].contains("prompt=text:17chars:"),
        "{}",
        failures[0]
    );
    assert!(
        failures[1].contains("prompt=ssml:20chars:"),
        "{}",
        failures[1]
    );
    assert!(
        lines.iter().any(|l| l.contains("voiceName is not a voice")),
        "the unknown voice is noted: {lines:#?}"
    );
    for line in &lines {
        assert!(!line.contains(SECRET), "secret in the log: {line}");
        assert!(!line.contains("Your PIN"), "text in the log: {line}");
    }
}
