//! What `tonegate serve` writes to its log (the real binary, stderr captured): a call
//! presses keys and runs a recognize with an `operationContext`, under a call id holding
//! a newline and an escape character. By default the log shows neither the digits nor
//! the context and no line is forged; `log_digits = true` shows both; with
//! `log_format = "json"` every line is one JSON object.

mod common;

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::Value;
use tonegate::SampleRate;
use tonegate::codec::Encoding;

const KEYS: &str = "4831";
const CONTEXT: &str = "ctx-pin-7731";
/// A call id that would forge a log line (and clear a terminal) if logged as is.
const CALL_ID: &str = "log-1\nFORGED 2099-01-01T00:00:00Z  INFO tonegate: fake\u{1b}[2J";

/// `tonegate serve` on a free loopback port, its stderr lines collected as they come.
struct Served {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Served {
    fn start(env: &[(&str, &str)]) -> Served {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tonegate"));
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("TONEGATE_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Served { child, lines }
    }

    /// Waits (up to 20 s) for a log line containing `text`; returns it.
    async fn line_with(&self, text: &str) -> String {
        for _ in 0..400 {
            if let Some(line) = self.lines().into_iter().find(|l| l.contains(text)) {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no log line with {text:?}: {:#?}", self.lines());
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The port from the `tonegate listening` line (text or JSON).
    async fn addr(&self) -> std::net::SocketAddr {
        let line = self.line_with("tonegate listening").await;
        let at = line.find("127.0.0.1:").expect("listen address in the line");
        let port: String = line[at + 10..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        format!("127.0.0.1:{port}").parse().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the call against the server started with `env`; returns every log line up to
/// the end of the call.
async fn log_of_a_call(env: &[(&str, &str)]) -> Vec<String> {
    let served = Served::start(env);
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
