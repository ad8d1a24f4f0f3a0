//! The example IVR (`examples/ivr/`) runs top to bottom with its one command,
//! `examples/ivr/run.sh`: `tonegate serve` over TLS, `tonegate replay` as the caller
//! keying the PIN and a menu choice, and the app on the official Python SDK going through
//! welcome, PIN, menu and hold. The README's SDK snippet is a verbatim excerpt of the app.
//!
//! Needs `python3` with `venv`, `openssl` and, the first time, network access to PyPI
//! (the SDK is installed into `target/sdk-venv`, as for `tests/sdk_python.rs`).

mod common;

use std::process::Command;

use common::sdk::{manifest_dir, python_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_ivr_runs_top_to_bottom() {
    let output = tokio::task::spawn_blocking(|| {
        let python = python_with(
            "azure.communication.callautomation",
            "azure-communication-callautomation==1.6.0",
        );
        Command::new(manifest_dir().join("examples/ivr/run.sh"))
            .env("TONEGATE", env!("CARGO_BIN_EXE_tonegate"))
            .env("PYTHON", python)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let steps: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ivr: ")).collect();
    assert_eq!(
        steps,
        [
            "ivr: PIN accepted",
            "ivr: menu choice 2",
            "ivr: caller on hold, music playing",
            "ivr: agent answered: caller off hold",
        ],
        "{stdout}\n{stderr}"
    );
    // The caller's side: every key it pressed came back, with its latency.
    assert!(
        stdout.contains("digits: 5 sent, 5 found, 0 missed, 0 extra"),
        "{stdout}"
    );
}

#[test]
fn the_readme_sdk_snippet_is_an_excerpt_of_the_example() {
    let app = std::fs::read_to_string(manifest_dir().join("examples/ivr/ivr.py")).unwrap();
    let readme = std::fs::read_to_string(manifest_dir().join("README.md")).unwrap();
    let (_, rest) = app
        .split_once("# --8<-- [start:readme]\n")
        .expect("start marker in ivr.py");
    let (excerpt, _) = rest
        .split_once("# --8<-- [end:readme]")
        .expect("end marker in ivr.py");
    // The lines between the markers (the last holds only the end marker's indent),
    // without the function body's indentation.
    let mut lines: Vec<&str> = excerpt.lines().collect();
    if lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let indent = lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap();
    let mut block = String::from("```python\n");
    for line in lines {
        block.push_str(line.get(indent..).unwrap_or(""));
        block.push('\n');
    }
    block.push_str("```\n");
    assert!(
        readme.contains(&block),
        "README.md does not hold the excerpt of examples/ivr/ivr.py verbatim:\n{block}"
    );
}
