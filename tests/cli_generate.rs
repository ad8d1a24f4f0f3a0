//! `tonegate generate` writes WAV files in every encoding that `detect` reads back.

use std::process::Command;

const TONEGATE: &str = env!("CARGO_BIN_EXE_tonegate");

#[test]
fn generated_digits_are_detected_in_every_encoding_and_rate() {
    let dir = std::env::temp_dir().join(format!("tonegate-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (encoding, rate) in [
        ("s16le", "8000"),
        ("ulaw", "8000"),
        ("alaw", "8000"),
        ("s16le", "16000"),
        ("s16le", "48000"),
    ] {
        let file = dir.join(format!("{encoding}-{rate}.wav"));
        let file = file.to_str().unwrap();
        let status = Command::new(TONEGATE)
            .args([
                "generate",
                "0123456789*#ABCD",
                "-o",
                file,
                "--rate",
                rate,
                "--encoding",
                encoding,
            ])
            .args(["--on-ms", "50", "--off-ms", "50", "--level-dbm0", "-20"])
            .status()
            .unwrap();
        assert!(status.success(), "{encoding} {rate}");
        let output = Command::new(TONEGATE)
            .args(["detect", "--format", "jsonl", file])
            .output()
            .unwrap();
        assert!(output.status.success());
        let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let digits: String = lines.iter().map(|v| v["digit"].as_str().unwrap()).collect();
        assert_eq!(digits, "0123456789*#ABCD", "{encoding} {rate}");
        for (i, line) in lines.iter().enumerate() {
            let start = line["start_ms"].as_f64().unwrap();
            assert!(
                (start - 100.0 * i as f64).abs() <= 3.0,
                "{encoding} {rate}: {start}"
            );
            let level = line["level_dbm0"].as_f64().unwrap();
            assert!(
                (level + 20.0).abs() <= 1.0,
                "{encoding} {rate}: level {level}"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_generate_arguments_exit_with_2() {
    let out = std::env::temp_dir().join("tonegate-never.wav");
    for args in [
        vec!["12x4"],
        vec!["123", "--rate", "4000"],
        vec!["123", "--level-dbm0", "9"],
        vec!["123", "--encoding", "flac"],
    ] {
        let status = Command::new(TONEGATE)
            .arg("generate")
            .args(&args)
            .args(["-o", out.to_str().unwrap()])
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(2), "{args:?}");
    }
}
