//! The official Python SDK (azure-communication-callautomation 1.6.0) drives tonegate's
//! media-operation API end to end: a raw-dialect call streams audio over a real
//! WebSocket, `tests/sdk/drive.py` calls every media operation through the SDK (HMAC
//! signed), the test presses digits in the audio, and the CloudEvents arrive signed at
//! a real local HTTP listener, where they are checked (and parsed again with azure-core's
//! CloudEvent model).
//!
//! Needs `python3` with `venv` and network access to PyPI the first time: the SDK is
//! installed into `target/sdk-venv`. If that fails the test fails, saying why.
//!
//! Over TLS: the server serves HTTPS/WSS with a test CA's certificate, which the SDK
//! trusts through `REQUESTS_CA_BUNDLE`.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use common::*;
use serde_json::Value;
use tokio::sync::mpsc;
use tonegate::SampleRate;
use tonegate::server::Config;

const KEY: &[u8] = b"tonegate sdk test key, 32 bytes!";
const CALL_ID: &str = "sdk-call-1";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/sdk-venv/bin/python` with the SDK installed (installs it if needed).
fn sdk_python() -> PathBuf {
    let venv = manifest_dir().join("target/sdk-venv");
    let python = venv.join("bin/python");
    let has_sdk = |python: &Path| {
        Command::new(python)
            .args(["-c", "import azure.communication.callautomation"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && has_sdk(&python) {
        return python;
    }
    let out = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .unwrap_or_else(|e| panic!("SDK test setup: cannot run python3 -m venv: {e}"));
    assert!(
        out.status.success(),
        "SDK test setup: python3 -m venv {} failed: {}",
        venv.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "azure-communication-callautomation==1.6.0"])
        .output()
        .unwrap_or_else(|e| panic!("SDK test setup: cannot run pip: {e}"));
    assert!(
        out.status.success(),
        "SDK test setup: pip install azure-communication-callautomation==1.6.0 failed \
         (no network access to PyPI?):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(has_sdk(&python), "SDK test setup: SDK still not importable");
    python
}

struct Script {
    child: std::process::Child,
    lines: mpsc::UnboundedReceiver<Value>,
    steps: Vec<Value>,
}

impl Script {
    async fn until_wait(&mut self, what: &str) {
        let deadline = tokio::time::sleep(Duration::from_secs(60));
        tokio::pin!(deadline);
        loop {
            let line = tokio::select! {
                l = self.lines.recv() => l,
                _ = &mut deadline => panic!("script never waited for {what}; steps {:#?}", self.steps),
            };
            let Some(line) = line else {
                let status = self.child.wait().unwrap();
                panic!(
                    "script ended ({status}) before waiting for {what}; steps {:#?}",
                    self.steps
                );
            };
            let done = line["step"] == "wait" && line["what"] == what;
            self.steps.push(line);
            if done {
                return;
            }
        }
    }

    fn resume(&mut self) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }

    fn step(&self, name: &str) -> &Value {
        self.steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {:#?}", self.steps))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_drives_media_operations() {
    let python = tokio::task::spawn_blocking(sdk_python).await.unwrap();
    let dir = std::env::temp_dir().join(format!("tonegate-sdk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prompt = write_prompt(&dir);
    let (callback, posts) = webhook::start_listener().await;
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(KEY);
    let config = Config {
        access_key: Some(key_b64.clone()),
        prompt_dir: dir.clone(),
        ..Config::default()
    };
    let (server, pki) = common::tls::start_tls(config).await;
    let mut cloud = server.handle.cloud_events();

    // The call: a raw-dialect stream whose start frame names its callback URI.
    let ws = common::tls::connect_wss(server.addr, "/media/raw", &pki).await;
    let call = LiveCall::raw(ws, &server.handle, CALL_ID, &callback).await;

    let mut child = Command::new(&python)
        .arg(manifest_dir().join("tests/sdk/drive.py"))
        .arg("run")
        .env("TONEGATE_ENDPOINT", format!("https://{}/", server.addr))
        .env("REQUESTS_CA_BUNDLE", &pki.cert)
        .env("TONEGATE_ACCESS_KEY", &key_b64)
        .env("TONEGATE_CALL_ID", CALL_ID)
        .env(
            "TONEGATE_PROMPT_URI",
            format!("file://{}", prompt.display()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run drive.py");
    let stdout = child.stdout.take().unwrap();
    let (line_tx, lines) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<Value>(&line) {
                Ok(v) => {
                    let _ = line_tx.send(v);
                }
                Err(_) => eprintln!("drive.py: {line}"),
            }
        }
    });
    let mut script = Script {
        child,
        lines,
        steps: Vec::new(),
    };
    let mut events = webhook::Events::new(posts, KEY);

    script.until_wait("digits").await;
    let props = script.step("properties");
    assert_eq!(props["call_connection_id"], CALL_ID);
    assert!(props["state"].as_str().unwrap().contains("connected"));
    let text = script.step("text_play");
    assert_eq!(text["status"], 400, "{text}");
    assert!(
        text["message"]
            .as_str()
            .unwrap()
            .contains("no speech engine"),
        "{text}"
    );
    assert_eq!(script.step("unknown_call")["status"], 404);

    // The prompt plays out, then the recognize waits for digits.
    events.until("PlayStarted", "play-1").await;
    events.until("PlayCompleted", "play-1").await;
    call.press("12#", SampleRate::HZ_8000);
    let done = events.until("RecognizeCompleted", "rec-1").await;
    assert_eq!(done["data"]["callConnectionId"], CALL_ID);
    assert_eq!(done["data"]["recognitionType"], "dtmf");
    assert_eq!(
        done["data"]["dtmfResult"]["tones"],
        serde_json::json!(["one", "two"])
    );
    assert_eq!(done["data"]["resultInformation"]["code"], 200);
    assert_eq!(done["data"]["resultInformation"]["subCode"], 8514);
    let tone = events
        .until("ContinuousDtmfRecognitionToneReceived", "cont-1")
        .await;
    assert_eq!(tone["data"]["sequenceId"], 1);
    assert_eq!(tone["data"]["tone"], "one");

    script.resume();
    script.until_wait("send-dtmf-done").await;
    assert_eq!(script.step("stop_continuous")["status"], 200);
    assert_eq!(script.step("send_dtmf")["status"], 202);
    let conflict = script.step("send_dtmf_conflict");
    assert_eq!(conflict["status"], 412, "{conflict}");
    events
        .until("ContinuousDtmfRecognitionStopped", "cont-1")
        .await;
    events.until("SendDtmfTonesCompleted", "send-1").await;

    script.resume();
    script.until_wait("loop-started").await;
    assert_eq!(script.step("hold")["status"], 200);
    assert_eq!(script.step("unhold")["status"], 200);
    events.until("PlayStarted", "loop-1").await;
    script.resume();
    let canceled = events.until("PlayCanceled", "loop-1").await;
    assert_eq!(canceled["data"]["resultInformation"]["subCode"], 8508);
    let status = tokio::task::spawn_blocking(move || {
        let status = script.child.wait().unwrap();
        while let Ok(l) = script.lines.try_recv() {
            script.steps.push(l);
        }
        (status, script.steps)
    })
    .await
    .unwrap();
    assert!(status.0.success(), "drive.py failed: {:#?}", status.1);
    assert!(status.1.iter().any(|s| s["step"] == "done"));

    // Every event: CloudEvents 1.0 shape, unique ids, the same ones on the SSE bus.
    let mut ids = HashSet::new();
    for e in &events.all {
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["source"], format!("calling/callConnections/{CALL_ID}"));
        assert_eq!(e["subject"], e["source"]);
        assert_eq!(e["datacontenttype"], "application/json");
        assert!(e["time"].as_str().unwrap().ends_with("+00:00"));
        assert!(
            ids.insert(e["id"].as_str().unwrap().to_owned()),
            "duplicate id"
        );
    }
    let mut published = HashSet::new();
    while let Ok(e) = cloud.try_recv() {
        published.insert(e.id.clone());
    }
    assert!(ids.is_subset(&published), "webhook events missing from SSE");

    // azure-core's CloudEvent model reads them.
    let file = dir.join("events.json");
    std::fs::write(&file, serde_json::to_vec(&events.all).unwrap()).unwrap();
    let out = Command::new(&python)
        .arg(manifest_dir().join("tests/sdk/drive.py"))
        .arg("parse")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed.len(), events.all.len());
    for (p, e) in parsed.iter().zip(&events.all) {
        assert_eq!(p["type"], e["type"]);
        assert_eq!(p["id"], e["id"]);
        assert_eq!(p["has_time"], true);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
