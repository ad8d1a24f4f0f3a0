//! `tonegate replay` against a live `tonegate serve` (both the real binary): a call in
//! each dialect comes back with its digits and their latencies (raw in-band over ws,
//! Twilio signed with events by SSE from a WAV file, ACS over wss with a private CA and
//! bearer tokens), 20 calls at once lose no digit, a load run of ACS calls in noise reads
//! every call's digits from one all-calls event stream and counts the upgrades refused
//! as busy, and a refused upgrade is a clear error with a non-zero exit.

mod common;

use std::process::Output;

use common::binary::{Serving, run};
use common::tls::Pki;
use serde_json::Value;

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a text report of one call that found every one of `digits`, each with a
/// latency.
fn assert_found_all(output: &Output, digits: &str) {
    let text = stdout(output);
    assert_eq!(output.status.code(), Some(0), "{text}\n{}", stderr(output));
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("digit ")).collect();
    let keys: String = rows.iter().map(|row| row.chars().nth(6).unwrap()).collect();
    assert_eq!(keys, digits, "{text}");
    for row in &rows {
        let ms: f64 = row
            .split("latency")
            .nth(1)
            .unwrap_or_else(|| panic!("no latency in {row:?}"))
            .trim()
            .trim_end_matches("ms")
            .trim()
            .parse()
            .unwrap();
        assert!(ms > 0.0, "{row}");
    }
    let n = digits.len();
    assert!(
        text.contains(&format!("digits: {n} sent, {n} found, 0 missed, 0 extra")),
        "{text}"
    );
    assert!(text.contains("latency ms: p50 "), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_call_digits_come_back_in_band() {
    let server = Serving::start(&[], &[]).await;
    let url = format!("ws://{}/media/raw", server.addr);
    let output = run(&["replay", "--digits", "1234#", "--url", &url], &[]).await;
    assert_found_all(&output, "1234#");
    // The events as they came, then the digits.
    let text = stdout(&output);
    assert!(text.contains(r#""type":"started""#), "{text}");
    assert!(text.contains(r#""type":"dtmf""#), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_call_from_a_wav_file_signed_with_events_by_sse() {
    let dir = std::env::temp_dir().join(format!("tonegate-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wav = dir.join("keys.wav");
    let wav = wav.to_str().unwrap();
    // 16 kHz on file: replay converts it to Twilio's 8 kHz mu-law.
    let made = run(&["generate", "907*", "-o", wav, "--rate", "16000"], &[]).await;
    assert!(made.status.success(), "{}", stderr(&made));
    let auth_token = "twilio-account-auth-token";
    let server = Serving::start(&[], &[("TONEGATE_TWILIO_AUTH_TOKEN", auth_token)]).await;
    let url = format!("ws://{}/media/twilio", server.addr);
    let output = run(
        &["replay", wav, "--dialect", "twilio", "--url", &url],
        &[("TONEGATE_TWILIO_AUTH_TOKEN", auth_token)],
    )
    .await;
    assert_found_all(&output, "907*");
    // Unsigned, the same call is refused.
    let unsigned = run(&["replay", wav, "--dialect", "twilio", "--url", &url], &[]).await;
    assert_eq!(unsigned.status.code(), Some(2), "{}", stdout(&unsigned));
    assert!(stderr(&unsigned).contains("401"), "{}", stderr(&unsigned));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acs_call_over_tls_with_a_private_ca_and_tokens() {
    let pki = Pki::new();
    let (cert, key, ca) = (
        pki.cert.to_str().unwrap(),
        pki.key.to_str().unwrap(),
        pki.ca_file.to_str().unwrap(),
    );
    let server = Serving::start(
        &["--tls-cert", cert, "--tls-key", key],
        &[
            ("TONEGATE_STREAM_AUTH", "token"),
            ("TONEGATE_STREAM_AUTH_TOKEN", "audio-secret"),
            ("TONEGATE_EVENT_TOKEN", "events-secret"),
        ],
    )
    .await;
    let url = format!("wss://localhost:{}/media/acs", server.addr.port());
    let output = run(
        &[
            "replay",
            "--digits",
            "58",
            "--dialect",
            "acs",
            "--url",
            &url,
            "--ca-cert",
            ca,
            "--token",
            "audio-secret",
            "--events-token",
            "events-secret",
        ],
        &[],
    )
    .await;
    assert_found_all(&output, "58");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_calls_at_once_miss_no_digit() {
    let server = Serving::start(&[], &[]).await;
    let url = format!("ws://{}/media/raw", server.addr);
    let output = run(
        &[
            "replay", "--digits", "147", "--url", &url, "--calls", "20", "--json",
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["calls"], 20, "{summary:#}");
    assert_eq!(summary["connect_errors"], 0, "{summary:#}");
    assert_eq!(summary["digits_sent"], 60, "{summary:#}");
    assert_eq!(summary["digits_found"], 60, "{summary:#}");
    assert_eq!(summary["digits_missed"], 0, "{summary:#}");
    assert_eq!(summary["digits_extra"], 0, "{summary:#}");
    let latency = &summary["latency_ms"];
    assert!(latency["p50"].as_f64().unwrap() > 0.0, "{summary:#}");
    assert!(
        latency["p99"].as_f64() <= latency["max"].as_f64(),
        "{summary:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_run_reads_one_event_stream_and_counts_busy_refusals() {
    // Two sessions at most: of four calls, two are refused with 503 (busy). The checks
    // of measured load are off, so a busy test machine refuses no more.
    let server = Serving::start(
        &[],
        &[
            ("TONEGATE_MAX_SESSIONS", "2"),
            ("TONEGATE_ADMISSION_MAX_LAG_MS", "0"),
            ("TONEGATE_ADMISSION_MAX_CPU_PERCENT", "0"),
        ],
    )
    .await;
    let url = format!("ws://{}/media/acs", server.addr);
    let output = run(
        &[
            "replay",
            "--dialect",
            "acs",
            "--digits",
            "5,9",
            "--on-ms",
            "80",
            "--noise-dbm0",
            "-50",
            "--events",
            "all",
            "--calls",
            "4",
            "--url",
            &url,
            "--json",
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["calls"], 4, "{summary:#}");
    assert_eq!(summary["connect_errors"], 2, "{summary:#}");
    assert_eq!(summary["refused"], 2, "{summary:#}");
    assert_eq!(summary["stream_errors"], 0, "{summary:#}");
    // The admitted calls' digits all came back on the one stream, in the noise.
    let found: Vec<&Value> = summary["digits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["latency_ms"].is_number())
        .collect();
    assert_eq!(found.len(), 4, "{summary:#}");
    assert_eq!(summary["digits_found"], 4, "{summary:#}");
    assert_eq!(summary["digits_extra"], 0, "{summary:#}");
    assert!(stderr(&output).contains("HTTP 503"), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_events_read_no_digit_is_checked() {
    let server = Serving::start(&[], &[]).await;
    let url = format!("ws://{}/media/acs", server.addr);
    let output = run(
        &[
            "replay",
            "--dialect",
            "acs",
            "--digits",
            "3",
            "--events",
            "none",
            "--calls",
            "2",
            "--url",
            &url,
            "--json",
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["connect_errors"], 0, "{summary:#}");
    assert_eq!(summary["digits_sent"], 0, "{summary:#}");
    assert_eq!(summary["digits_missed"], 0, "{summary:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upgrade_is_a_clear_error() {
    let server = Serving::start(
        &[],
        &[
            ("TONEGATE_STREAM_AUTH", "token"),
            ("TONEGATE_STREAM_AUTH_TOKEN", "audio-secret"),
        ],
    )
    .await;
    let url = format!("ws://{}/media/raw", server.addr);
    let output = run(
        &["replay", "--digits", "1", "--url", &url, "--token", "wrong"],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let error = stderr(&output);
    let first = error.lines().next().unwrap_or_default();
    assert!(first.starts_with("tonegate: call "), "{error}");
    assert!(
        first.contains("the server refused the connection: HTTP 401 Unauthorized"),
        "{error}"
    );
    assert!(
        stdout(&output).contains("1 connect errors"),
        "{}",
        stdout(&output)
    );
}
