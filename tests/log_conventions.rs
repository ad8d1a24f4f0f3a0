//! What the real `tonegate serve` writes to stderr when stderr is a pipe (as under
//! systemd or `| tee`), even without `NO_COLOR`: no ANSI escapes; a start line with the
//! version, address, scheme and where the settings came from; on SIGTERM, a line naming
//! the signal and how many sessions were drained. With `log_format = "json"` the same
//! lines are JSON objects.

mod common;

use common::logged::LoggedServe;
use common::*;
use futures_util::StreamExt;
use serde_json::Value;

/// Starts the server, holds one raw call open, sends SIGTERM; returns the log lines.
async fn log_of_a_drained_call(env: &[(&str, &str)]) -> Vec<String> {
    let served = LoggedServe::start(env, |command| {
        command.env_remove("NO_COLOR");
        // Only the settings this test gives, whatever the environment it runs in.
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("TONEGATE_")) {
            command.env_remove(key);
        }
    });
    let addr = served.addr().await;
    let mut ws = connect(addr, "/media/raw").await;
    let start =
        r#"{"type":"start","callId":"log-conventions","encoding":"ulaw","sampleRate":8000}"#;
    send_text(&mut ws, start.to_owned()).await;
    served.line_with("stream started").await;
    // The call stays open until the server closes it on shutdown.
    let closed = tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} });
    let lines = served.terminate().await;
    closed.await.unwrap();
    lines
}

#[tokio::test]
async fn text_logs_to_a_pipe_have_no_colour_and_a_start_and_stop_line() {
    let lines = log_of_a_drained_call(&[]).await;
    for line in &lines {
        assert!(!line.contains("\u{1b}["), "ANSI escape in {line:?}");
    }
    let start = lines
        .iter()
        .find(|l| l.contains("tonegate listening"))
        .unwrap();
    for field in [
        format!("version=\"{}\"", env!("CARGO_PKG_VERSION")),
        "addr=127.0.0.1:".to_owned(),
        "scheme=\"http\"".to_owned(),
        "config=\"defaults < flags\"".to_owned(),
    ] {
        assert!(start.contains(&field), "{field} missing: {start}");
    }
    let stopped = lines
        .iter()
        .find(|l| l.contains("tonegate stopped"))
        .unwrap();
    for field in [
        "reason=\"SIGTERM\"",
        "sessions=1",
        "drained=1",
        "abandoned=0",
    ] {
        assert!(stopped.contains(field), "{field} missing: {stopped}");
    }
}

#[tokio::test]
async fn json_logs_carry_the_same_start_and_stop_lines() {
    let lines = log_of_a_drained_call(&[("TONEGATE_LOG_FORMAT", "json")]).await;
    let records: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let find = |message: &str| {
        records
            .iter()
            .find(|r| r["fields"]["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} record: {records:#?}"))["fields"]
            .clone()
    };
    let start = find("tonegate listening");
    assert_eq!(start["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(start["scheme"], "http");
    assert_eq!(
        start["config"],
        "defaults < env TONEGATE_LOG_FORMAT < flags"
    );
    let stopped = find("tonegate stopped");
    assert_eq!(stopped["reason"], "SIGTERM");
    assert_eq!(stopped["drained"], 1);
    assert_eq!(stopped["abandoned"], 0);
}
