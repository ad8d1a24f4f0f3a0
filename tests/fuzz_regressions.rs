//! Replays every input under `fuzz/regressions/<target>/` through the property check of
//! that fuzz target, so `cargo test` re-checks every crash the fuzzers ever found without
//! needing cargo-fuzz or a nightly compiler. The checks are the fuzz crate's own code,
//! included here, not a copy.

// The checks are the fuzz crate's public API; here they are used by this file only.
#[allow(unreachable_pub)]
#[path = "../fuzz/src/checks.rs"]
mod checks;

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

/// A fuzz target's property check: panics when a property fails.
type Check = fn(&[u8]);

/// Every fuzz target's name and its property check.
const TARGETS: [(&str, Check); 10] = [
    ("wav_read", checks::wav_read),
    ("g711_round_trip", checks::g711_round_trip),
    ("detector_chunking", checks::detector_chunking),
    ("resampler_chunking", checks::resampler_chunking),
    ("proto_frame", checks::proto_frame),
    ("api_request", checks::api_request),
    ("api_auth", checks::api_auth),
    ("stream_query", checks::stream_query),
    ("jwks_parse", checks::jwks_parse),
    ("jwt_verify", checks::jwt_verify),
];

fn regressions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions")
}

/// The files in `dir`, sorted; none when the directory does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("readable directory").path())
        .filter(|path| path.is_file())
        .filter(|path| !path.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    files
}

/// Runs `check` on every file; fails listing each file whose check panicked.
fn replay(check: Check, files: &[PathBuf]) {
    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let data = fs::read(path).expect("readable regression input");
            panic::catch_unwind(|| check(&data))
                .err()
                .map(|_| path.display().to_string())
        })
        .collect();
    assert!(failures.is_empty(), "properties fail on: {failures:#?}");
}

#[test]
fn every_regression_input_passes_its_target_check() {
    let root = regressions_dir();
    for (target, check) in TARGETS {
        replay(check, &inputs(&root.join(target)));
    }
}

#[test]
fn regression_directories_name_known_targets() {
    for dir in fs::read_dir(regressions_dir()).expect("fuzz/regressions exists") {
        let name = dir.unwrap().file_name();
        assert!(
            TARGETS.iter().any(|(target, _)| name == *target),
            "fuzz/regressions/{name:?} is not a fuzz target"
        );
    }
}

#[test]
fn seed_wav_files_pass_the_wav_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/g711");
    let wavs: Vec<PathBuf> = inputs(&dir)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "wav"))
        .collect();
    assert!(!wavs.is_empty());
    replay(checks::wav_read, &wavs);
}

#[test]
fn g711_sample_check_holds_for_every_i16() {
    for x in i16::MIN..=i16::MAX {
        checks::g711_sample(x);
    }
}

#[test]
fn checks_accept_empty_and_tiny_inputs() {
    for (_, check) in TARGETS {
        for data in [&[][..], &[0], &[0xFF], &[1, 2, 3], &[0xFF; 64]] {
            check(data);
        }
    }
}

#[test]
fn detector_inputs_reach_detection() {
    // Flags 0 (default config), two chunk sizes (5 and 201 = 97 samples), then one
    // digits segment: keys 1, 5, 9, 0 in keypad order ("2581"), 60 ms on, 40 ms off,
    // about -8 dBm0 per tone.
    let digits = [0, 2, 5, 201, 0, 3, 1, 5, 9, 0, 120, 100, 200];
    assert_eq!(checks::detector_digits(&digits), "2581");
    checks::detector_chunking(&digits);
    // The same digits with 16-bit noise mixed into the last 255 samples.
    let mut noisy = digits.to_vec();
    noisy.extend_from_slice(&[4, 255, 40]);
    noisy.extend((0..510).map(|i| (i * 37 % 256) as u8));
    assert_eq!(checks::detector_digits(&noisy), "2581");
    checks::detector_chunking(&noisy);
}

/// Well-formed inputs of the peer-facing targets (the fuzzers' seeds are of this kind):
/// their checks hold on the accepting paths too, not only on refusals.
#[test]
fn well_formed_peer_inputs_pass_their_checks() {
    let examples: [(Check, &[&str]); 5] = [
        (
            checks::proto_frame,
            &[
                r#"{"kind":"AudioMetadata","audioMetadata":{"subscriptionId":"s1","encoding":"PCM","sampleRate":16000,"channels":1}}"#,
                r#"{"kind":"AudioData","audioData":{"participantRawID":"4:+15551234567","data":"AAABAA=="}}"#,
                r#"{"kind":"DtmfData","dtmfData":{"data":"pound"}}"#,
                r#"{"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","customParameters":{"callbackUri":"https://app.example/ev"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#,
                r#"{"event":"media","sequenceNumber":"3","media":{"track":"outbound","timestamp":"5","payload":"/w=="}}"#,
                r#"{"event":"mark","mark":{"name":"p\"1"}}"#,
                r#"{"type":"start","callId":"c1","encoding":"ulaw","sampleRate":8000}"#,
                r#"{"type":"sendDigits","digits":"12#"}"#,
                r##"{"type":"recognize","maxTones":4,"stopTones":"#"}"##,
            ],
        ),
        (
            checks::api_request,
            &[
                " ",
                r#"{"playSources":[{"kind":"file","file":{"uri":"file:///p.wav"}}],"operationCallbackUri":"https://app.example/ev"}"#,
                r#"{"recognizeInputType":"dtmf","recognizeOptions":{"targetParticipant":{"rawId":"4:+1"},"dtmfOptions":{"maxTonesToCollect":4,"stopTones":["pound"]}}}"#,
                r#"{"tones":["one","pound"],"targetParticipant":{"phoneNumber":{"value":"+1"}}}"#,
                r#"{"targetParticipant":{"communicationUser":{"id":"8:acs:x"}},"playSourceInfo":{"file":{"uri":"https://app.example/m.wav"}}}"#,
            ],
        ),
        (
            checks::stream_query,
            &[
                "callbackUri=https%3A%2F%2Fapp.example%2Fev%3Fa%3D1&serverCallId=abc%3D",
                "callbackUri=http://[::1]:8080/x&foo",
            ],
        ),
        (
            checks::jwks_parse,
            &[include_str!("../testdata/stream_auth/jwks.json")],
        ),
        (
            checks::jwt_verify,
            &[
                "\u{1}eyJhbGciOiJub25lIn0.e30.",
                "\u{2}{\"alg\":\"RS256\",\"kid\":\"test-key-a\"}\n{\"exp\":1}\nsig",
            ],
        ),
    ];
    for (check, inputs) in examples {
        for input in inputs {
            check(input.as_bytes());
        }
    }
}
