//! The small robustness vectors in testdata/robustness/ (made by
//! testdata/make_robustness.sh with sox): `tonegate detect` reports exactly the digits
//! the manifest lists for each file, in order, and nothing else. The large corpus is
//! generated in the test run by tests/receiver_robustness.rs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

const TONEGATE: &str = env!("CARGO_BIN_EXE_tonegate");

#[derive(Debug, Deserialize)]
struct Vector {
    digits: String,
    what: String,
}

#[derive(Debug, Deserialize)]
struct Row {
    file: String,
    digit: String,
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/robustness")
}

fn manifest() -> BTreeMap<String, Vector> {
    let text = std::fs::read_to_string(vectors_dir().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_manifest_lists_every_vector() {
    let manifest = manifest();
    let mut files: Vec<String> = std::fs::read_dir(vectors_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".wav"))
        .collect();
    files.sort();
    assert_eq!(files, manifest.keys().cloned().collect::<Vec<_>>());
    assert!(manifest.len() >= 10);
}

#[test]
fn every_vector_gives_exactly_its_digits() {
    let manifest = manifest();
    let paths: Vec<PathBuf> = manifest
        .keys()
        .map(|name| vectors_dir().join(name))
        .collect();
    let output = Command::new(TONEGATE)
        .args(["detect", "--format", "jsonl"])
        .args(&paths)
        .output()
        .expect("run tonegate");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let row: Row = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let name = Path::new(&row.file).file_name().unwrap().to_string_lossy();
        found
            .entry(name.into_owned())
            .or_default()
            .push_str(&row.digit);
    }
    let wrong: Vec<String> = manifest
        .iter()
        .filter_map(|(name, vector)| {
            let got = found.get(name).map_or("", String::as_str);
            (got != vector.digits).then(|| {
                format!(
                    "{name} ({}): expected {:?}, got {got:?}",
                    vector.what, vector.digits
                )
            })
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
