//! `tonegate evaluate --plot DIR`: one picture per condition of the suite, each of the
//! plot's size, named after its condition.

use std::path::Path;
use std::process::Command;

use tonegate::plot::{HEIGHT, WIDTH};

const TONEGATE: &str = env!("CARGO_BIN_EXE_tonegate");

#[test]
fn every_condition_gets_a_picture() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plot_evaluate");
    let _ = std::fs::remove_dir_all(&dir);
    let output = Command::new(TONEGATE)
        .args(["evaluate", "--rate", "8000", "--format", "json", "--plot"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let conditions = report["conditions"].as_array().unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files.len(), conditions.len());
    assert!(files[0].starts_with("001_nominal"), "{}", files[0]);
    for file in &files {
        let decoder = png::Decoder::new(std::fs::File::open(dir.join(file)).unwrap());
        let info = decoder.read_info().unwrap();
        assert_eq!(
            (info.info().width, info.info().height),
            (WIDTH, HEIGHT),
            "{file}"
        );
    }
}
