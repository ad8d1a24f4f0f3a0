//! Running the official SDKs from tests: the JS SDK installed from the committed lock
//! file, and [`Script`], a driver program (Python or Node) that reports one JSON step
//! per line on stdout and waits for a line on stdin where the test must act.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tonegate::codec::Encoding;

/// The npm package under test.
pub(crate) const JS_SDK: &str = "@azure/communication-call-automation";

/// The crate's root directory.
pub(crate) fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `program args` in `dir`; panics with its output unless it succeeds. Returns
/// stdout.
pub(crate) fn run(dir: &Path, program: &str, args: &[&str], why: &str) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{why}: cannot run {program}: {e} (is nodejs/npm installed?)"));
    assert!(
        out.status.success(),
        "{why}: {program} {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `target/sdk-js`: the pinned JS SDK installed with `npm ci` from the committed lock
/// file (skipped when the lock file installed last is the committed one), and the
/// scripts of `tests/sdk/js` (`*.mjs`) beside it, where Node finds the SDK. One test
/// at a time.
pub(crate) fn sdk_js() -> PathBuf {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let src = manifest_dir().join("tests/sdk/js");
    let dir = manifest_dir().join("target/sdk-js");
    std::fs::create_dir_all(&dir).unwrap();
    run(&dir, "node", &["--version"], "JS SDK test setup");
    let lock = std::fs::read(src.join("package-lock.json")).unwrap();
    let stamp = dir.join("installed-package-lock.json");
    let installed = dir.join("node_modules").join(JS_SDK).join("package.json");
    if std::fs::read(&stamp).ok().as_ref() != Some(&lock) || !installed.exists() {
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(src.join(file), dir.join(file)).unwrap();
        }
        let _ = std::fs::remove_file(&stamp);
        run(
            &dir,
            "npm",
            &["ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            "JS SDK test setup (npm ci; no network access to npm?)",
        );
        std::fs::write(&stamp, &lock).unwrap();
    }
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "mjs") {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// A running driver program: its steps (one JSON object per stdout line, each given a
/// `receivedMs`, when it came), its stdin to let it go on.
pub(crate) struct Script {
    child: Child,
    /// What runs, for messages.
    name: String,
    lines: mpsc::UnboundedReceiver<Value>,
    /// The steps read so far.
    pub steps: Vec<Value>,
    spawned: Instant,
}

impl Script {
    /// Spawns `command` (program, arguments and environment set) with piped stdin and
    /// stdout, reading its steps as they come; lines that are not JSON go to stderr.
    pub(crate) fn spawn(mut command: Command) -> Script {
        let name = std::iter::once(command.get_program())
            .chain(command.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (line_tx, lines) = mpsc::unbounded_channel();
        let spawned = Instant::now();
        let label = name.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(mut v) => {
                        // When the step was reported, for timing what followed it.
                        v["receivedMs"] = (spawned.elapsed().as_millis() as u64).into();
                        let _ = line_tx.send(v);
                    }
                    Err(_) => eprintln!("{label}: {line}"),
                }
            }
        });
        Script {
            child,
            name,
            lines,
            steps: Vec::new(),
            spawned,
        }
    }

    /// Milliseconds since the script started.
    pub(crate) fn now_ms(&self) -> u64 {
        self.spawned.elapsed().as_millis() as u64
    }

    /// Waits for the script to end; it must succeed and report `done`.
    pub(crate) async fn finish(mut self) -> Vec<Value> {
        tokio::task::spawn_blocking(move || {
            let status = self.child.wait().unwrap();
            while let Ok(l) = self.lines.try_recv() {
                self.steps.push(l);
            }
            assert!(status.success(), "{} failed: {:#?}", self.name, self.steps);
            assert!(
                self.steps.iter().any(|s| s["step"] == "done"),
                "{} ended without done: {:#?}",
                self.name,
                self.steps
            );
            std::mem::take(&mut self.steps)
        })
        .await
        .unwrap()
    }

    /// Reads steps until the script waits for `what` (up to 120 s).
    pub(crate) async fn until_wait(&mut self, what: &str) {
        let deadline = tokio::time::sleep(Duration::from_secs(120));
        tokio::pin!(deadline);
        loop {
            let line = tokio::select! {
                l = self.lines.recv() => l,
                _ = &mut deadline => panic!("{} never waited for {what}; steps {:#?}", self.name, self.steps),
            };
            let Some(line) = line else {
                let status = self.child.wait().unwrap();
                panic!(
                    "{} ended ({status}) before waiting for {what}; steps {:#?}",
                    self.name, self.steps
                );
            };
            let done = line["step"] == "wait" && line["what"] == what;
            self.steps.push(line);
            if done {
                return;
            }
        }
    }

    /// Lets the waiting script go on.
    pub(crate) fn resume(&mut self) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }

    /// The first step called `name`.
    pub(crate) fn step(&self, name: &str) -> &Value {
        self.steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {:#?}", self.steps))
    }
}

impl Drop for Script {
    /// A test that failed half way does not leave its driver behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `target/sdk-venv/bin/python` (the venv the Python tests share) with `requirement`
/// installed from PyPI unless `module` imports already; one install at a time. Panics,
/// saying why, if it cannot be had: a test needing it never skips silently.
pub(crate) fn python_with(module: &str, requirement: &str) -> PathBuf {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let venv = manifest_dir().join("target/sdk-venv");
    let python = venv.join("bin/python");
    let importable = |python: &Path| {
        Command::new(python)
            .args(["-c", &format!("import {module}")])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && importable(&python) {
        return python;
    }
    let out = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .unwrap_or_else(|e| panic!("Python test setup: cannot run python3 -m venv: {e}"));
    assert!(
        out.status.success(),
        "Python test setup: python3 -m venv {} failed: {}",
        venv.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(venv.join("bin/pip"))
        .args(["install", "-q", requirement])
        .output()
        .unwrap_or_else(|e| panic!("Python test setup: cannot run pip: {e}"));
    assert!(
        out.status.success(),
        "Python test setup: pip install {requirement} failed (no network access to \
         PyPI?):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        importable(&python),
        "Python test setup: {module} still not importable"
    );
    python
}

/// The outbound audio a live call's socket has received and not yet read: raw binary
/// frames, or ACS `AudioData` messages, decoded from `encoding`. Other messages are
/// dropped.
pub(crate) fn drain_heard(
    received: &mut mpsc::UnboundedReceiver<Message>,
    encoding: Encoding,
) -> Vec<f32> {
    let mut heard = Vec::new();
    while let Ok(message) = received.try_recv() {
        let bytes = match message {
            Message::Binary(b) => b.to_vec(),
            Message::Text(t) => {
                let frame: Value = serde_json::from_str(t.as_str()).unwrap_or_default();
                match frame["AudioData"]["Data"].as_str() {
                    Some(data) => super::unb64(data),
                    None => continue,
                }
            }
            _ => continue,
        };
        heard.extend(super::decode(&bytes, encoding));
    }
    heard
}

/// Root mean square of `samples` (full scale 1.0; silence 0).
pub(crate) fn rms(samples: &[f32]) -> f32 {
    (samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32).sqrt()
}
