//! The mistakes a newcomer makes with the `tonegate` binary, one test each: every one
//! gets a clear one-line answer and the right exit code, and the help, completions and
//! man page say what is accepted.

mod common;

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use common::binary::{Serving, run};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tonegate::server::Config;

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A scratch directory for one test, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("tonegate-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, file: &str) -> String {
        self.0.join(file).to_str().unwrap().to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An 8 kHz WAV file of keys, made by `tonegate generate`.
async fn keys_wav(scratch: &Scratch) -> String {
    let wav = scratch.path("keys.wav");
    let made = run(&["generate", "123", "-o", &wav], &[]).await;
    assert!(made.status.success(), "{}", stderr(&made));
    wav
}

/// Asserts exit code 2 and a one-line error on stderr holding every one of `parts`.
fn assert_error(output: &Output, parts: &[&str]) {
    let error = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{error}");
    assert_eq!(error.lines().count(), 1, "not one line: {error}");
    for part in parts {
        assert!(error.contains(part), "{part:?} not in: {error}");
    }
}

#[tokio::test]
async fn a_riff_header_given_as_raw_is_named() {
    let scratch = Scratch::new("riff-raw");
    let wav = keys_wav(&scratch).await;
    let output = run(
        &[
            "detect",
            "--raw",
            "--rate",
            "8000",
            "--encoding",
            "s16le",
            &wav,
        ],
        &[],
    )
    .await;
    assert_error(&output, &["RIFF header", "leave out --raw"]);
    assert_eq!(stdout(&output), "");
}

#[tokio::test]
async fn a_wrong_raw_rate_on_a_wav_says_so() {
    let scratch = Scratch::new("raw-rate");
    let wav = keys_wav(&scratch).await;
    // The newcomer's try: an 8 kHz WAV read as 16 kHz headerless audio found nothing and
    // said nothing.
    let output = run(
        &[
            "detect",
            "--raw",
            "--rate",
            "16000",
            "--encoding",
            "s16le",
            &wav,
        ],
        &[],
    )
    .await;
    assert_error(&output, &["RIFF header", "--rate"]);
}

#[tokio::test]
async fn a_file_without_digits_says_no_digits() {
    let scratch = Scratch::new("no-digits");
    let silence = scratch.path("silence.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&silence, spec).unwrap();
    for _ in 0..16_000 {
        writer.write_sample(0i16).unwrap();
    }
    writer.finalize().unwrap();
    let output = run(&["detect", &silence], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let row = text.lines().nth(1).unwrap_or_default();
    assert!(row.starts_with(&silence), "{text}");
    assert!(row.ends_with("no digits"), "{text}");
    // JSON lines stay empty: no digit, no line.
    let jsonl = run(&["detect", "--format", "jsonl", &silence], &[]).await;
    assert_eq!(stdout(&jsonl), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_accepts_host_names() {
    let server = Serving::start_on("localhost:0", &[], &[]).await;
    assert!(server.addr.ip().is_loopback(), "{}", server.addr);
    // reqwest is built without a default TLS provider; nothing in this test process
    // installs one unless we do (the server runs in its own process).
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let health = reqwest::get(format!("http://{}/healthz", server.addr))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tonegate_variables_are_warned_not_fatal() {
    let server = Serving::start(&[], &[("TONEGATE_VERSION", "1.2")]).await;
    assert!(
        server
            .log
            .contains("ignoring the environment variable TONEGATE_VERSION: no setting `version`"),
        "{}",
        server.log
    );
}

#[tokio::test]
async fn config_errors_name_their_source_and_key() {
    let from_env = run(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("TONEGATE_MAX_SESSIONS", "lots")],
    )
    .await;
    assert_error(
        &from_env,
        &[
            "environment variable TONEGATE_MAX_SESSIONS",
            "`max_sessions`",
            "lots",
        ],
    );
    let scratch = Scratch::new("config-source");
    let file = scratch.path("tonegate.toml");
    std::fs::write(&file, "max_sessions = \"10\"\n").unwrap();
    let from_file = run(
        &["serve", "--listen", "127.0.0.1:0", "--config", &file],
        &[],
    )
    .await;
    assert_error(&from_file, &[&format!("{file}: `max_sessions`"), "string"]);
    let from_flag = run(&["serve", "--listen", "no port here"], &[]).await;
    assert_error(&from_flag, &["--listen no port here", "HOST:PORT"]);
}

#[tokio::test]
async fn causes_are_printed_once() {
    let scratch = Scratch::new("causes");
    let output = run(&["detect", scratch.0.to_str().unwrap()], &[]).await;
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{error}");
    assert_eq!(error.matches("os error 21").count(), 1, "{error}");

    // A port in use: the address is named, the cause said once.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = run(&["serve", "--listen", &addr], &[]).await;
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{error}");
    let last = error.lines().last().unwrap_or_default();
    assert!(last.contains(&format!("cannot serve on {addr}")), "{error}");
    assert_eq!(last.matches("os error 98").count(), 1, "{error}");
}

#[tokio::test]
async fn help_lists_accepted_values_and_variables() {
    let detect = stdout(&run(&["detect", "--help"], &[]).await);
    assert!(
        detect.contains("[possible values: s16le, ulaw, mulaw, pcmu, alaw, pcma]"),
        "{detect}"
    );
    let generate = stdout(&run(&["generate", "--help"], &[]).await);
    assert!(generate.contains("possible values: s16le"), "{generate}");
    let serve = stdout(&run(&["serve", "--help"], &[]).await);
    for variable in [
        "TONEGATE_LISTEN",
        "TONEGATE_TLS_CERT",
        "TONEGATE_TLS_KEY",
        "TONEGATE_PROMPT_DIR",
    ] {
        assert!(serve.contains(variable), "{variable} not in: {serve}");
    }
    assert!(!serve.contains("server::Config"), "{serve}");
    let replay = stdout(&run(&["replay", "--help"], &[]).await);
    for value in ["- acs:", "- twilio:", "- raw:", "- sse:"] {
        assert!(replay.contains(value), "{value} not in: {replay}");
    }
    assert!(
        replay.contains("[env: TONEGATE_TWILIO_AUTH_TOKEN]"),
        "{replay}"
    );
}

#[tokio::test]
async fn completions_and_a_man_page_come_from_the_flags() {
    for (shell, marker) in [
        ("bash", "_tonegate()"),
        ("zsh", "#compdef tonegate"),
        ("fish", "complete -c tonegate"),
    ] {
        let output = run(&["completions", shell], &[]).await;
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let script = stdout(&output);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("replay"), "{shell}");
    }
    let man = run(&["man"], &[]).await;
    assert_eq!(man.status.code(), Some(0), "{}", stderr(&man));
    let page = stdout(&man);
    assert!(
        page.starts_with(".ie") || page.contains(".TH tonegate"),
        "{page}"
    );
    assert!(page.contains("replay"), "{page}");
    let unknown = run(&["completions", "tcsh"], &[]).await;
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("possible values"),
        "{}",
        stderr(&unknown)
    );
}

#[tokio::test]
async fn client_close_frames_are_answered() {
    let server = common::start(Config::default()).await;
    let openings: [(&str, Vec<&str>); 3] = [
        (
            "/media/raw",
            vec![r#"{"type":"start","callId":"close-raw","encoding":"s16le","sampleRate":8000}"#],
        ),
        (
            "/media/twilio",
            vec![
                r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#,
                r#"{"event":"start","sequenceNumber":"1","start":{"streamSid":"MZ1","callSid":"close-twilio","mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZ1"}"#,
            ],
        ),
        (
            "/media/acs",
            vec![
                r#"{"kind":"AudioMetadata","audioMetadata":{"subscriptionId":"s1","encoding":"PCM","sampleRate":16000,"channels":1,"length":640}}"#,
            ],
        ),
    ];
    for (path, frames) in openings {
        let mut ws = common::connect(server.addr, path).await;
        for frame in frames {
            ws.send(Message::text(frame)).await.unwrap();
        }
        ws.send(Message::Close(Some(CloseFrame {
            code: 1000.into(),
            reason: "bye".into(),
        })))
        .await
        .unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(frame))) => return Ok(frame),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e.to_string()),
                    None => return Err("connection ended without a close frame".to_owned()),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{path}: no answer to the close frame in 10 s"));
        let frame = reply.unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(frame.map(|f| u16::from(f.code)), Some(1000), "{path}");
    }
}
