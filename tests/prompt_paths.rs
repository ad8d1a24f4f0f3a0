//! One prompt path policy for the raw `play` request and the API's `file://` sources:
//! inside `prompt_dir`, no `..`, no symbolic links unless `prompt_follow_symlinks` (and
//! then still inside). Clients cannot tell a missing file from a refused one, nor an
//! internal host's answer from a refused connection; a prompt longer than
//! `max_prompt_ms` is refused from its header.
#![cfg(unix)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use base64::Engine;
use common::http_peer::{ApiClient, Peer, open_call, sine, wav};
use common::*;
use serde_json::json;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::media::wav::write_wav;
use tonegate::server::{Config, Handle};

const KEY: &[u8] = b"a test key for the prompt paths.";

/// A prompt directory with `ok.wav` and, outside it, `secret.wav`; in the prompt
/// directory `inner.wav` links to `ok.wav`, `outer.wav` to the secret, `linked/` to a
/// subdirectory holding `ok.wav` too.
struct Files {
    prompts: PathBuf,
    outside: PathBuf,
}

impl Files {
    fn new(name: &str) -> Files {
        let base = std::env::temp_dir().join(format!("tonegate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let prompts = base.join("prompts");
        let outside = base.join("outside");
        std::fs::create_dir_all(prompts.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let tone = wav(8_000, &sine(440.0, 200, 8_000));
        std::fs::write(prompts.join("ok.wav"), &tone).unwrap();
        std::fs::write(prompts.join("sub/ok.wav"), &tone).unwrap();
        std::fs::write(outside.join("secret.wav"), &tone).unwrap();
        std::os::unix::fs::symlink(prompts.join("ok.wav"), prompts.join("inner.wav")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret.wav"), prompts.join("outer.wav")).unwrap();
        std::os::unix::fs::symlink(prompts.join("sub"), prompts.join("linked")).unwrap();
        Files { prompts, outside }
    }

    fn secret(&self) -> String {
        self.outside.join("secret.wav").to_str().unwrap().to_owned()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.prompts.parent().unwrap());
    }
}

/// Asks a raw call to play `file` as id `p`; returns the `error` event, or `None` if it
/// played.
async fn raw_play(ws: &mut Ws, file: &str) -> Option<serde_json::Value> {
    send_text(
        ws,
        json!({"type": "play", "id": "p", "file": file}).to_string(),
    )
    .await;
    let got = read_until_where(ws, "play outcome", Duration::from_secs(10), |v| {
        v["type"] == "error" || v["type"] == "playStarted"
    })
    .await;
    let last = got.events.last().unwrap().clone();
    if last["type"] == "playStarted" {
        send_text(ws, r#"{"type":"stop"}"#).await;
        read_until(ws, "playCanceled", Duration::from_secs(10)).await;
        return None;
    }
    Some(last)
}

async fn raw_server(files: &Files, follow_symlinks: bool) -> (TestServer, Ws) {
    let server = start(Config {
        prompt_dir: files.prompts.clone(),
        prompt_follow_symlinks: follow_symlinks,
        ..Config::default()
    })
    .await;
    let ws = open_call(&server, "paths", Encoding::Ulaw, SampleRate::HZ_8000, None).await;
    (server, ws)
}

#[tokio::test]
async fn raw_play_refuses_symlinks_and_tells_nothing_of_the_file_system() {
    let files = Files::new("raw-paths");
    let (server, mut ws) = raw_server(&files, false).await;
    assert_eq!(raw_play(&mut ws, "ok.wav").await, None);
    let missing = raw_play(&mut ws, "missing.wav").await.expect("an error");
    assert_eq!(missing["code"], "fileNotFound");
    assert_eq!(missing["message"], "play p: play source not available");
    let secret = files.secret();
    for name in ["inner.wav", "outer.wav", "linked/ok.wav", secret.as_str()] {
        let error = raw_play(&mut ws, name).await;
        assert_eq!(error.as_ref(), Some(&missing), "{name}");
    }
    // Names are still checked before the file system is.
    let error = raw_play(&mut ws, "../outside/secret.wav").await.unwrap();
    assert_eq!(error["code"], "badPath");
    server.handle.shutdown();
}

#[tokio::test]
async fn followed_symlinks_must_stay_inside_prompt_dir() {
    let files = Files::new("raw-follow");
    let (server, mut ws) = raw_server(&files, true).await;
    assert_eq!(raw_play(&mut ws, "inner.wav").await, None);
    assert_eq!(raw_play(&mut ws, "linked/ok.wav").await, None);
    let outer = raw_play(&mut ws, "outer.wav").await.unwrap();
    assert_eq!(outer["message"], "play p: play source not available");
    server.handle.shutdown();
}

/// Plays `uri` through the API (context `context`) and returns the PlayFailed's
/// `(subCode, message)`.
async fn rest_play_failure(
    client: &ApiClient,
    handle: &Handle,
    uri: &str,
    context: &str,
) -> (u32, String) {
    let mut events = handle.cloud_events();
    let body = json!({"playSources": [{"kind": "file", "file": {"uri": uri}}], "operationContext": context});
    assert_eq!(client.play("rest-paths", &body).await, 202);
    let failed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let event = events.recv().await.unwrap();
            if event.data.operation_context.as_deref() == Some(context) {
                return event;
            }
        }
    })
    .await
    .expect("an event in time");
    assert_eq!(failed.kind, "Microsoft.Communication.PlayFailed", "{uri}");
    let info = failed.data.result_information.as_ref().unwrap();
    (info.sub_code, info.message.clone())
}

async fn rest_server(config: Config) -> (TestServer, Ws, ApiClient) {
    let server = start(Config {
        access_key: Some(base64::engine::general_purpose::STANDARD.encode(KEY)),
        ..config
    })
    .await;
    let ws = open_call(
        &server,
        "rest-paths",
        Encoding::Ulaw,
        SampleRate::HZ_8000,
        None,
    )
    .await;
    let client = ApiClient::new(server.addr, KEY);
    (server, ws, client)
}

#[tokio::test]
async fn rest_play_failures_read_the_same_whatever_the_cause() {
    let files = Files::new("rest-paths");
    let (server, _ws, client) = rest_server(Config {
        prompt_dir: files.prompts.clone(),
        ..Config::default()
    })
    .await;
    let host = Peer::serve(Router::new().route(
        "/missing.wav",
        get(|| async { (StatusCode::NOT_FOUND, "no such prompt on the internal host") }),
    ))
    .await;
    let prompts = files.prompts.to_str().unwrap().to_owned();
    let causes = [
        format!("file://{}", files.secret()),
        format!("file://{prompts}/missing.wav"),
        format!("file://{prompts}/inner.wav"),
        "file://outer.wav".to_owned(),
        host.url("/missing.wav"),
        "http://127.0.0.1:1/refused.wav".to_owned(),
    ];
    let expected = (
        8536,
        "Action failed, file could not be downloaded: play source not available".to_owned(),
    );
    for (i, uri) in causes.iter().enumerate() {
        let failure = rest_play_failure(&client, &server.handle, uri, &format!("c{i}")).await;
        assert_eq!(failure, expected, "{uri}");
    }
    server.handle.shutdown();
}

/// `seconds` of 8 kHz mu-law silence: 8 kB a second, 6x as many f32 samples at 48 kHz.
fn ulaw_file(dir: &Path, seconds: usize) -> PathBuf {
    let mut bytes = std::io::Cursor::new(Vec::new());
    write_wav(
        &mut bytes,
        8_000,
        1,
        Encoding::Ulaw,
        &vec![0.0; 8_000 * seconds],
    )
    .unwrap();
    let path = dir.join("long.wav");
    std::fs::write(&path, bytes.into_inner()).unwrap();
    path
}

#[tokio::test]
async fn prompts_longer_than_max_prompt_ms_are_not_decoded() {
    let files = Files::new("prompt-length");
    let long = ulaw_file(&files.prompts, 2);
    let config = Config {
        prompt_dir: files.prompts.clone(),
        max_prompt_ms: 1_000,
        ..Config::default()
    };
    // Raw play.
    let server = start(config.clone()).await;
    let mut ws = open_call(&server, "length", Encoding::Ulaw, SampleRate::HZ_8000, None).await;
    let error = raw_play(&mut ws, "long.wav").await.expect("refused");
    assert_eq!(error["code"], "promptTooLong");
    assert_eq!(
        error["message"],
        "play p: play source is longer than max_prompt_ms"
    );
    server.handle.shutdown();
    // API play.
    let (server, _ws, client) = rest_server(config.clone()).await;
    let failure = rest_play_failure(&client, &server.handle, "file://long.wav", "long").await;
    assert_eq!(
        failure,
        (
            8536,
            "Action failed, file could not be downloaded: play source is longer than max_prompt_ms"
                .to_owned()
        )
    );
    server.handle.shutdown();
    // Hold music, read at start.
    let refused = tonegate::server::Server::bind(Config {
        hold_music: Some(long),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..config
    })
    .await;
    let message = refused.err().expect("refused").to_string();
    assert!(
        message.contains("hold_music") && message.contains("longer than"),
        "{message}"
    );
}
