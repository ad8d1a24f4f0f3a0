//! What `tonegate serve` writes to its log (the real binary, stderr captured): a call
//! presses keys and runs a recognize with an `operationContext`, under a call id holding
//! a newline and an escape character. By default the log shows neither the digits nor
//! the context and no line is forged; `log_digits = true` shows both; with
//! `log_format = "json"` every line is one JSON object.

mod common;

use std::time::Duration;

use common::logged::LoggedServe;
use common::*;
use serde_json::Value;
use tonegate::SampleRate;
use tonegate::codec::Encoding;

const KEYS: &str = "4831";
const CONTEXT: &str = "ctx-pin-7731";
/// A call id that would forge a log line (and clear a terminal) if logged as is.
const CALL_ID: &str = "log-1\nFORGED 2099-01-01T00:00:00Z  INFO tonegate: fake\u{1b}[2J";

/// Runs the call against the server started with `env`; returns every log line up to
/// the end of the call.
async fn log_of_a_call(env: &[(&str, &str)]) -> Vec<String> {
    let served = LoggedServe::start(env, |command| {
        command.env("NO_COLOR", "1");
    });
    let addr = served.addr().await;
    let mut ws = connect(addr, "/media/raw").await;
    let start = serde_json::json!({
        "type": "start", "callId": CALL_ID, "encoding": "ulaw", "sampleRate": 8_000,
    });
    send_text(&mut ws, start.to_string()).await;
    let recognize = serde_json::json!({"type": "recognize", "context": CONTEXT, "maxTones": 4});
    send_text(&mut ws, recognize.to_string()).await;
    let (samples, _) = signal(KEYS, SampleRate::HZ_8000, 200.0, 300.0);
    send_audio(
        &mut ws,
        &samples,
        SampleRate::HZ_8000,
        Encoding::Ulaw,
        20.0,
        false,
    )
    .await;
    let got = read_until_operation(&mut ws, "RecognizeCompleted", Duration::from_secs(20)).await;
    let done = got.events.last().unwrap();
    assert_eq!(done["dtmfResult"]["tones"].as_array().unwrap().len(), 4);
    assert_eq!(done["operationContext"], CONTEXT);
    send_text(&mut ws, r#"{"type":"end"}"#).await;
    served.line_with("stream ended").await;
    served.lines()
}

/// The digits log lines show after `digit=` (text) or `"digit":"` (JSON).
fn logged_digits(lines: &[String]) -> String {
    let mut shown = String::new();
    for line in lines {
        for marker in ["digit=", "\"digit\":\""] {
            for (at, _) in line.match_indices(marker) {
                shown.extend(line[at + marker.len()..].chars().next());
            }
        }
    }
    shown
}

/// Lines of the `digit` events (one per key).
fn digit_lines(lines: &[String]) -> usize {
    lines
        .iter()
        .filter(|l| l.contains("digit=") || l.contains("\"digit\":"))
        .count()
}

#[tokio::test]
async fn default_logs_hold_no_digits_no_context_and_no_forged_lines() {
    let lines = log_of_a_call(&[]).await;
    assert_eq!(digit_lines(&lines), KEYS.len(), "{lines:#?}");
    assert!(
        logged_digits(&lines).chars().all(|c| c == '<'),
        "{lines:#?}"
    );
    for line in &lines {
        assert!(!line.contains(CONTEXT), "context logged: {line}");
        assert!(
            line.starts_with(|c: char| c.is_ascii_digit()),
            "a line that is not a log record (forged?): {line:?}"
        );
        assert!(!line.contains('\u{1b}'), "raw escape character: {line:?}");
    }
    assert!(
        lines.iter().any(|l| l.contains(r"log-1\nFORGED")),
        "the call id is logged escaped: {lines:#?}"
    );
}

#[tokio::test]
async fn log_digits_shows_digits_and_context() {
    let lines = log_of_a_call(&[("TONEGATE_LOG_DIGITS", "true")]).await;
    assert_eq!(logged_digits(&lines), KEYS, "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains(CONTEXT)), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("log_digits is on")),
        "a warning at start: {lines:#?}"
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let lines = log_of_a_call(&[("TONEGATE_LOG_FORMAT", "json")]).await;
    let records: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(records.iter().all(|r| r["level"].is_string()));
    let started = records
        .iter()
        .find(|r| r["fields"]["message"] == "stream started")
        .expect("a stream started record");
    assert!(
        started["fields"]["call_id"]
            .as_str()
            .unwrap()
            .starts_with(r"log-1\nFORGED")
    );
    assert_eq!(digit_lines(&lines), KEYS.len(), "{lines:#?}");
    assert!(
        logged_digits(&lines).chars().all(|c| c == '<'),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains(CONTEXT)));
}
