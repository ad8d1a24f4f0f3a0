//! Secure defaults of the real binary: `tonegate serve` on a non-loopback address
//! refuses to start unless the audio sockets and the event streams are authenticated
//! (the error names the settings), or `insecure_allow_unauthenticated` opts out (with a
//! loud warning); authenticated that way, unauthenticated clients get 401, and with
//! Twilio signatures only, the other audio paths refuse unsigned upgrades. On loopback
//! everything stays open, as the README's first try expects.

mod common;

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// A running `tonegate serve`, killed on drop.
struct Serving {
    child: Child,
    /// Where to reach it (loopback, on the port it bound).
    addr: SocketAddr,
    /// Its log up to the listening line.
    log: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(listen: &str, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tonegate"));
    command
        .args(["serve", "--listen", listen])
        .env_clear()
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Starts `tonegate serve` and waits (up to a minute) for its listening line.
async fn start_serving(listen: &str, env: &[(&str, &str)]) -> Serving {
    let mut child = serve(listen, env).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    // Reads its log to the end, so it never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    let mut log = String::new();
    let port = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.recv().await {
            log.push_str(&line);
            log.push('\n');
            if line.contains("tonegate listening") {
                let addr = line.split("addr=").nth(1).unwrap();
                let addr = addr.split_whitespace().next().unwrap();
                return addr.rsplit(':').next().unwrap().parse::<u16>().unwrap();
            }
        }
        panic!("tonegate exited before listening: {log}");
    })
    .await
    .expect("tonegate listening in time");
    Serving {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        log,
    }
}

/// Runs `tonegate serve` expecting it to refuse to start; returns its stderr.
async fn refused_start(env: &[(&str, &str)]) -> String {
    let mut command = serve("0.0.0.0:0", env);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    String::from_utf8(output.stderr).unwrap()
}

/// The status of a WebSocket upgrade to `path` with `headers`.
async fn upgrade_status(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> u16 {
    match try_connect_with_headers(addr, path, headers).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("upgrade to {path} failed: {e}"),
    }
}

/// The status of an event stream request.
async fn events_status(addr: SocketAddr, headers: &[(&str, &str)]) -> u16 {
    match Sse::try_connect(addr, "/v1/events", headers).await {
        Ok(_) => 200,
        Err(head) => head[9..12].parse().unwrap(),
    }
}

#[tokio::test]
async fn an_exposed_server_without_authentication_does_not_start() {
    let error = refused_start(&[]).await;
    for setting in [
        "stream_auth",
        "twilio_auth_token",
        "access_key",
        "event_token",
        "insecure_allow_unauthenticated",
    ] {
        assert!(error.contains(setting), "{setting} not named in: {error}");
    }
    // Audio authenticated, events not: the error names only what is missing.
    let error = refused_start(&[
        ("TONEGATE_STREAM_AUTH", "token"),
        ("TONEGATE_STREAM_AUTH_TOKEN", "audio-secret"),
    ])
    .await;
    assert!(error.contains("event_token"), "{error}");
    assert!(!error.contains("twilio_auth_token"), "{error}");
}

#[tokio::test]
async fn an_exposed_server_with_credentials_refuses_clients_without() {
    let server = start_serving(
        "0.0.0.0:0",
        &[
            ("TONEGATE_STREAM_AUTH", "token"),
            ("TONEGATE_STREAM_AUTH_TOKEN", "audio-secret"),
            ("TONEGATE_EVENT_TOKEN", "events-secret"),
        ],
    )
    .await;
    assert_eq!(events_status(server.addr, &[]).await, 401);
    assert_eq!(
        events_status(server.addr, &[("authorization", "Bearer events-secret")]).await,
        200
    );
    assert_eq!(upgrade_status(server.addr, "/media/raw", &[]).await, 401);
    let good = [("authorization", "Bearer audio-secret")];
    assert_eq!(upgrade_status(server.addr, "/media/raw", &good).await, 101);
}

#[tokio::test]
async fn with_twilio_signatures_only_the_other_audio_paths_refuse_unsigned_upgrades() {
    let server = start_serving(
        "0.0.0.0:0",
        &[
            ("TONEGATE_TWILIO_AUTH_TOKEN", "twilio-secret"),
            ("TONEGATE_EVENT_TOKEN", "events-secret"),
        ],
    )
    .await;
    for path in ["/media/raw", "/media/acs", "/media", "/media/twilio"] {
        assert_eq!(upgrade_status(server.addr, path, &[]).await, 401, "{path}");
    }
}

#[tokio::test]
async fn the_insecure_opt_out_starts_open_and_says_so() {
    let server = start_serving(
        "0.0.0.0:0",
        &[("TONEGATE_INSECURE_ALLOW_UNAUTHENTICATED", "true")],
    )
    .await;
    assert!(server.log.contains("INSECURE"), "{}", server.log);
    assert_eq!(events_status(server.addr, &[]).await, 200);
    assert_eq!(upgrade_status(server.addr, "/media/raw", &[]).await, 101);
}

#[tokio::test]
async fn loopback_stays_open_without_settings() {
    let server = start_serving("127.0.0.1:0", &[]).await;
    assert_eq!(events_status(server.addr, &[]).await, 200);
    assert_eq!(upgrade_status(server.addr, "/media/raw", &[]).await, 101);
}
