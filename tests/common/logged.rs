//! The real `tonegate serve` with its stderr piped and every line collected as it comes,
//! for the tests that read the log.

use std::io::BufRead;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::wait_until;

/// Generous: the binary may start slowly on a busy machine.
const LIMIT: Duration = Duration::from_secs(30);

/// A running `tonegate serve` on a free loopback port and its stderr lines so far.
pub(crate) struct LoggedServe {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// Set once the reader has seen the end of stderr.
    ended: Arc<AtomicBool>,
}

impl LoggedServe {
    /// `tonegate serve --listen 127.0.0.1:0` with `env` over the test's environment minus
    /// `TONEGATE_LOG`; `configure` adjusts the command further before it starts.
    pub(crate) fn start(env: &[(&str, &str)], configure: impl FnOnce(&mut Command)) -> LoggedServe {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tonegate"));
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("TONEGATE_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        configure(&mut command);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let ended = Arc::new(AtomicBool::new(false));
        let (sink, end) = (lines.clone(), ended.clone());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
            end.store(true, Ordering::SeqCst);
        });
        LoggedServe {
            child,
            lines,
            ended,
        }
    }

    /// The process id (for signals).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line so far.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits for a line containing `text`; returns it. Panics with the log so far when
    /// the process's stderr ends (it exited) or the limit passes without that line.
    pub(crate) async fn line_with(&self, text: &str) -> String {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            // Read before looking: every line is in once the reader has seen the end.
            let ended = self.ended.load(Ordering::SeqCst);
            if let Some(line) = self.lines().into_iter().find(|l| l.contains(text)) {
                return line;
            }
            let why = if ended {
                "its stderr ended (the process exited)".to_owned()
            } else if tokio::time::Instant::now() >= deadline {
                format!("nothing within {LIMIT:?}")
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            panic!(
                "no log line with {text:?}: {why}; the log:\n{}",
                self.lines().join("\n")
            );
        }
    }

    /// The listening address from the start line (text or JSON).
    pub(crate) async fn addr(&self) -> std::net::SocketAddr {
        let line = self.line_with("tonegate listening").await;
        let at = line.find("127.0.0.1:").expect("listen address in the line");
        let port: String = line[at + 10..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        format!("127.0.0.1:{port}").parse().unwrap()
    }

    /// Waits (up to the limit) for the process to exit; its exit status.
    pub(crate) async fn wait(&mut self) -> ExitStatus {
        let mut exited = None;
        wait_until("tonegate to exit", LIMIT, || {
            exited = self.child.try_wait().unwrap();
            exited.is_some()
        })
        .await;
        exited.unwrap()
    }

    /// Sends SIGTERM and waits for the process to exit and log its stop line; returns
    /// every line.
    pub(crate) async fn terminate(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let exited = self.wait().await;
        assert!(exited.success(), "exit status {exited}");
        // The reader thread sees end of file once the process has gone.
        self.line_with("tonegate stopped").await;
        self.lines()
    }
}

impl Drop for LoggedServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
