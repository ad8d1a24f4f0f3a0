//! The real `tonegate` binary: `tonegate serve` as a child process on a port it picks,
//! and other commands run to their end.

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// `tonegate` with a clean environment (`NO_COLOR` set) and `env`.
pub(crate) fn tonegate(env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tonegate"));
    command
        .env_clear()
        .env("NO_COLOR", "1")
        .envs(env.iter().copied());
    command
}

/// A running `tonegate serve`, killed on drop.
pub(crate) struct Serving {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its log up to the listening line.
    pub log: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serving {
    /// Starts `tonegate serve --listen 127.0.0.1:0 args` with `env` and waits (up to a
    /// minute) for its listening line; its log goes on to the test's stderr.
    pub(crate) async fn start(args: &[&str], env: &[(&str, &str)]) -> Serving {
        Serving::start_on("127.0.0.1:0", args, env).await
    }

    /// As [`Serving::start`], listening on `listen`.
    pub(crate) async fn start_on(listen: &str, args: &[&str], env: &[(&str, &str)]) -> Serving {
        let mut child = tonegate(env)
            .args(["serve", "--listen", listen])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                eprintln!("serve: {line}");
                let _ = lines_tx.send(line);
            }
        });
        let mut log = String::new();
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.recv().await {
                log.push_str(&line);
                log.push('\n');
                if let Some(addr) = line.split("addr=").nth(1) {
                    let addr = addr.split_whitespace().next().unwrap();
                    return addr.parse::<SocketAddr>().unwrap();
                }
            }
            panic!("tonegate serve exited before listening: {log}");
        })
        .await
        .expect("tonegate serve listening within a minute");
        Serving { child, addr, log }
    }
}

/// Runs `tonegate args` with `env` to its end, off the async runtime.
pub(crate) async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tonegate(env);
    command.args(args);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}
