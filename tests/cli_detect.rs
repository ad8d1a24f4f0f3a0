//! `tonegate detect` end to end: the committed vectors (made by sox, see
//! testdata/README.md) give their digits at their onsets in every input format, and bad
//! inputs give one-line errors without stopping the other files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde::Deserialize;

const TONEGATE: &str = env!("CARGO_BIN_EXE_tonegate");

#[derive(Debug, Deserialize)]
struct Vector {
    raw: Option<RawFormat>,
    channels: Vec<Track>,
}

#[derive(Debug, Deserialize)]
struct RawFormat {
    rate: u32,
    encoding: String,
}

#[derive(Debug, Deserialize)]
struct Track {
    digits: String,
    onsets_ms: Vec<f64>,
}

#[derive(Debug, Deserialize)]
struct Row {
    file: String,
    channel: u16,
    digit: String,
    start_ms: f64,
    end_ms: f64,
    detected_ms: f64,
    level_dbm0: f64,
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/vectors")
}

fn detect(args: &[&str]) -> Output {
    Command::new(TONEGATE)
        .arg("detect")
        .args(args)
        .output()
        .expect("run tonegate")
}

fn rows(output: &Output) -> Vec<Row> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}")))
        .collect()
}

#[test]
fn every_vector_yields_its_digits_at_their_onsets() {
    let text = std::fs::read_to_string(vectors_dir().join("expected.json")).unwrap();
    let expected: std::collections::BTreeMap<String, Vector> = serde_json::from_str(&text).unwrap();
    assert!(expected.len() >= 5);
    for (name, vector) in &expected {
        let path = vectors_dir().join(name);
        let path = path.to_str().unwrap();
        let mut args = vec!["--format", "jsonl"];
        let rate;
        if let Some(raw) = &vector.raw {
            rate = raw.rate.to_string();
            args.extend(["--raw", "--rate", &rate, "--encoding", &raw.encoding]);
        }
        args.push(path);
        let output = detect(&args);
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let rows = rows(&output);
        for (channel, track) in vector.channels.iter().enumerate() {
            let found: Vec<&Row> = rows
                .iter()
                .filter(|r| usize::from(r.channel) == channel)
                .collect();
            let digits: String = found.iter().map(|r| r.digit.as_str()).collect();
            assert_eq!(digits, track.digits, "{name} channel {channel}");
            for (row, onset) in found.iter().zip(&track.onsets_ms) {
                assert_eq!(row.file, path);
                assert!(
                    (row.start_ms - onset).abs() <= 3.0,
                    "{name}: start {} vs {onset}",
                    row.start_ms
                );
                assert!(
                    (row.end_ms - (onset + 70.0)).abs() <= 4.0,
                    "{name}: end {} vs {}",
                    row.end_ms,
                    onset + 70.0
                );
                let latency = row.detected_ms - onset;
                assert!(
                    (20.0..=40.0).contains(&latency),
                    "{name}: latency {latency}"
                );
                assert!(
                    (row.level_dbm0 + 10.0).abs() <= 1.0,
                    "{name}: level {}",
                    row.level_dbm0
                );
            }
        }
    }
}

#[test]
fn text_format_is_a_table_with_one_row_per_digit() {
    let path = vectors_dir().join("all_8k_s16.wav");
    let output = detect(&[path.to_str().unwrap()]);
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].contains("digit") && lines[0].contains("detected_ms"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 1 + 16, "{stdout}");
}

#[test]
fn standard_input_is_read_with_dash() {
    let bytes = std::fs::read(vectors_dir().join("ABCD_8k.alaw")).unwrap();
    let mut child = Command::new(TONEGATE)
        .args([
            "detect",
            "--format",
            "jsonl",
            "--raw",
            "--rate",
            "8000",
            "--encoding",
            "alaw",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let digits: String = rows(&output).iter().map(|r| r.digit.clone()).collect();
    assert_eq!(digits, "ABCD");
}

#[test]
fn a_single_channel_can_be_chosen() {
    let path = vectors_dir().join("stereo_16k_s24.wav");
    let output = detect(&[
        "--format",
        "jsonl",
        "--channel",
        "1",
        path.to_str().unwrap(),
    ]);
    let digits: String = rows(&output).iter().map(|r| r.digit.clone()).collect();
    assert_eq!(digits, "2580");
    let missing = detect(&["--channel", "2", path.to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn bad_inputs_get_one_line_each_and_the_good_file_is_still_read() {
    let dir = std::env::temp_dir().join(format!("tonegate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read(vectors_dir().join("all_8k_s16.wav")).unwrap();
    let empty = dir.join("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    let garbage = dir.join("garbage.wav");
    std::fs::write(&garbage, b"this is not a wav file at all, not even close").unwrap();
    let truncated = dir.join("truncated.wav");
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
    let absurd = dir.join("absurd.wav");
    let mut header = good[..44].to_vec();
    header[24..28].copy_from_slice(&96_000u32.to_le_bytes()); // sample rate
    std::fs::write(&absurd, header).unwrap();
    let missing = dir.join("missing.wav");
    let good_path = vectors_dir().join("all_8k_s16.wav");
    let paths = [&empty, &garbage, &missing, &truncated, &absurd, &good_path];
    let args: Vec<&str> = ["--format", "jsonl"]
        .into_iter()
        .chain(paths.iter().map(|p| p.to_str().unwrap()))
        .collect();
    let output = detect(&args);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    let errors: Vec<&str> = stderr.lines().collect();
    assert_eq!(errors.len(), 5, "{stderr}");
    for (line, path) in errors.iter().zip(&paths) {
        assert!(line.contains(path.to_str().unwrap()), "{line}");
    }
    assert!(errors[4].contains("96000"), "{}", errors[4]);
    // The truncated file still gives the digits before the cut, then the good file all 16.
    let rows = rows(&output);
    let from_truncated = rows
        .iter()
        .filter(|r| r.file == truncated.to_str().unwrap())
        .count();
    assert!((6..=8).contains(&from_truncated), "{from_truncated}");
    assert_eq!(
        rows.iter()
            .filter(|r| r.file == good_path.to_str().unwrap())
            .count(),
        16
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wrong_raw_parameters_are_refused() {
    let path = vectors_dir().join("ABCD_8k.alaw");
    let path = path.to_str().unwrap();
    let low_rate = detect(&["--raw", "--rate", "7000", "--encoding", "alaw", path]);
    assert_eq!(low_rate.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&low_rate.stderr).contains("7000"));
    let bad_encoding = detect(&["--raw", "--rate", "8000", "--encoding", "mp3", path]);
    assert_eq!(bad_encoding.status.code(), Some(2));
    let odd = std::env::temp_dir().join(format!("tonegate-odd-{}.raw", std::process::id()));
    std::fs::write(&odd, [0u8; 1001]).unwrap();
    let odd_bytes = detect(&[
        "--raw",
        "--rate",
        "8000",
        "--encoding",
        "s16le",
        odd.to_str().unwrap(),
    ]);
    assert_eq!(odd_bytes.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&odd_bytes.stderr).contains("stray byte"));
    std::fs::remove_file(odd).unwrap();
}

/// Keys 1, 5, 9 with the high tone 8 dB above the low one (a hand-dialled line's
/// reverse twist), 100 ms on and off, as a 16-bit 8 kHz WAV file.
fn reverse_twist_file() -> PathBuf {
    use tonegate::dsp::keypad::Digit;
    use tonegate::dsp::level::dbm0_to_peak;
    let mut samples = vec![0.0f32; 800];
    for key in ["1", "5", "9"] {
        let digit: Digit = key.parse().unwrap();
        let (low, high) = digit.frequencies();
        for n in 0..800 {
            let t = n as f32 / 8_000.0;
            let tau = std::f32::consts::TAU;
            samples.push(
                dbm0_to_peak(-18.0) * (tau * low * t).sin()
                    + dbm0_to_peak(-10.0) * (tau * high * t).sin(),
            );
        }
        samples.extend([0.0; 800]);
    }
    let path = std::env::temp_dir().join(format!("tonegate-twist-{}.wav", std::process::id()));
    let mut file = std::fs::File::create(&path).unwrap();
    tonegate::media::wav::write_wav(
        &mut file,
        8_000,
        1,
        tonegate::codec::Encoding::S16le,
        &samples,
    )
    .unwrap();
    path
}

#[test]
fn profile_sets_the_twist_accepted() {
    let path = reverse_twist_file();
    let file = path.to_str().unwrap();
    let default = detect(&["--format", "jsonl", file]);
    assert!(default.status.success(), "{default:?}");
    let digits: String = rows(&default).iter().map(|r| r.digit.as_str()).collect();
    assert_eq!(
        digits, "159",
        "the default profile accepts +8 dB of reverse twist"
    );
    let strict = detect(&["--format", "jsonl", "--profile", "strict", file]);
    assert!(strict.status.success(), "{strict:?}");
    assert!(
        rows(&strict).is_empty(),
        "strict keeps Q.24-era limits (+6 dB)"
    );
    let unknown = detect(&["--profile", "loose", file]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown detector profile"));
    let _ = std::fs::remove_file(path);
}

/// Keys `digits` at -10 dBm0 per tone, 70 ms on and off after 100 ms of silence, at `hz`.
fn keyed(digits: &str, hz: u32) -> Vec<f32> {
    use std::time::Duration;
    use tonegate::SampleRate;
    use tonegate::dsp::keypad::Digit;
    use tonegate::dsp::tone::{Cadence, render_digits};
    let rate = SampleRate::new(hz).unwrap();
    let digits: Vec<Digit> = digits
        .chars()
        .map(|c| Digit::from_char(c).unwrap())
        .collect();
    let cadence = Cadence {
        on: Duration::from_millis(70),
        off: Duration::from_millis(70),
        level_dbm0: -10.0,
    };
    let mut samples = vec![0.0; rate.ms_to_samples(100.0)];
    samples.extend(render_digits(&digits, cadence, rate).unwrap());
    samples
}

/// Writes `channels` (equal lengths) as an interleaved WAV file of `bits`-bit PCM at `hz`
/// with hound, into the temp directory.
fn pcm_file(name: &str, hz: u32, bits: u16, channels: &[Vec<f32>]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("tonegate-{}-{name}", std::process::id()));
    let spec = hound::WavSpec {
        channels: channels.len() as u16,
        sample_rate: hz,
        bits_per_sample: bits,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&path, spec).unwrap();
    let full_scale = f32::from(1u16 << (bits - 1));
    for n in 0..channels[0].len() {
        for channel in channels {
            let value = (channel[n] * full_scale).round() as i32;
            match bits {
                8 => writer.write_sample(value as i8).unwrap(),
                _ => writer.write_sample(value).unwrap(),
            }
        }
    }
    writer.finalize().unwrap();
    path
}

/// Digits per channel, in order, from `detect --format jsonl`.
fn digits_by_channel(output: &Output) -> Vec<(u16, String)> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut channels: Vec<(u16, String)> = Vec::new();
    for row in rows(output) {
        match channels
            .iter_mut()
            .find(|(channel, _)| *channel == row.channel)
        {
            Some((_, digits)) => digits.push_str(&row.digit),
            None => channels.push((row.channel, row.digit)),
        }
    }
    channels.sort();
    channels
}

#[test]
fn an_8_bit_wav_file_is_read() {
    let path = pcm_file("8bit.wav", 8_000, 8, &[keyed("5A0#", 8_000)]);
    let output = detect(&["--format", "jsonl", path.to_str().unwrap()]);
    assert_eq!(digits_by_channel(&output), [(0, "5A0#".to_string())]);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn a_44k1_stereo_file_gives_each_channel_its_own_digits() {
    let keys = keyed("2468", 44_100);
    let silence = vec![0.0; keys.len()];
    let left_only = pcm_file("left.wav", 44_100, 16, &[keys.clone(), silence.clone()]);
    let output = detect(&["--format", "jsonl", left_only.to_str().unwrap()]);
    assert_eq!(digits_by_channel(&output), [(0, "2468".to_string())]);
    let right_only = pcm_file("right.wav", 44_100, 16, &[silence, keys.clone()]);
    let output = detect(&["--format", "jsonl", right_only.to_str().unwrap()]);
    assert_eq!(digits_by_channel(&output), [(1, "2468".to_string())]);
    let both = pcm_file("both.wav", 44_100, 16, &[keys.clone(), keys]);
    let output = detect(&["--format", "jsonl", both.to_str().unwrap()]);
    assert_eq!(
        digits_by_channel(&output),
        [(0, "2468".to_string()), (1, "2468".to_string())]
    );
    for path in [left_only, right_only, both] {
        std::fs::remove_file(path).unwrap();
    }
}

#[test]
fn a_4_khz_file_is_refused_with_the_reason() {
    let path = pcm_file("4k.wav", 4_000, 16, &[vec![0.0; 4_000]]);
    let output = detect(&[path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("4000 Hz"), "{stderr}");
    assert!(stderr.contains("sox"), "says how to convert it: {stderr}");
    std::fs::remove_file(path).unwrap();
}
