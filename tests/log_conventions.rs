//! What the real `tonegate serve` writes to stderr when stderr is a pipe (as under
//! systemd or `| tee`), even without `NO_COLOR`: no ANSI escapes; a start line with the
//! version, address, scheme and where the settings came from; on SIGTERM, a line naming
//! the signal and how many sessions were drained. With `log_format = "json"` the same
//! lines are JSON objects.

mod common;

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::Value;

/// Generous: the binary may start slowly on a busy machine.
const LIMIT: Duration = Duration::from_secs(30);

/// `tonegate serve` on a free loopback port with stderr piped, its lines collected.
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
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // Only the settings this test gives, whatever the environment it runs in.
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("TONEGATE_")) {
            command.env_remove(key);
        }
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

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits for a line containing `text`; returns it.
    async fn line_with(&self, text: &str) -> String {
        let found = || self.lines().into_iter().find(|l| l.contains(text));
        wait_until(text, LIMIT, || found().is_some()).await;
        found().unwrap()
    }

    /// The listening address from the start line (text or JSON).
    async fn addr(&self) -> std::net::SocketAddr {
        let line = self.line_with("tonegate listening").await;
        let at = line.find("127.0.0.1:").expect("listen address in the line");
        let port: String = line[at + 10..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        format!("127.0.0.1:{port}").parse().unwrap()
    }

    /// Sends SIGTERM and waits for the process to exit; returns every line.
    async fn terminate(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let mut exited = None;
        wait_until("tonegate to exit", LIMIT, || {
            exited = self.child.try_wait().unwrap();
            exited.is_some()
        })
        .await;
        assert!(exited.unwrap().success(), "exit status {exited:?}");
        // The reader thread sees end of file once the process has gone.
        self.line_with("tonegate stopped").await;
        self.lines()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server, holds one raw call open, sends SIGTERM; returns the log lines.
async fn log_of_a_drained_call(env: &[(&str, &str)]) -> Vec<String> {
    let served = Served::start(env);
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
