//! Which check loses tones after AMR-NB at its lowest rate, 4.75 kbit/s (sox's default
//! mode): 96 keys, 50 ms on and 50 ms off at -10 dBm0, coded and decoded by sox
//! (`libsox-fmt-all`, installed by `scripts/test`), then run through the detector with
//! one setting relaxed at a time.
//!
//! Asserted: the duration check is what rejects most of the missed tones (the coder
//! leaves some keys with less than the 25.5 ms of full-level pair it asks for while they
//! still sound: a 20 ms minimum finds at least 15 more, over twice what a wider twist or
//! a flat relative peak finds); pair share, level, frequency deviation and the harmonic
//! check reject (almost) none; duration and relative peak relaxed together find nearly
//! every key. Neither can be relaxed in a profile: Q.24 has 23 ms tones rejected, and
//! the relative peak is a talk-off defence.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::dsp::Digit;
use tonegate::dsp::dtmf::{Config, Detector, Event};
use tonegate::dsp::tone::{Cadence, render_digits};

/// Raw 8 kHz mono s16le, as sox options.
const RAW_8K: [&str; 10] = [
    "-t",
    "raw",
    "-r",
    "8000",
    "-e",
    "signed-integer",
    "-b",
    "16",
    "-c",
    "1",
];

/// The 16 keys six times over, 50 ms on and 50 ms off, after 100 ms of silence.
fn keyed() -> Vec<f32> {
    let digits: Vec<Digit> = "0123456789*#ABCD"
        .repeat(6)
        .chars()
        .map(|c| Digit::from_char(c).unwrap())
        .collect();
    let cadence = Cadence {
        on: Duration::from_millis(50),
        off: Duration::from_millis(50),
        level_dbm0: -10.0,
    };
    let mut samples = vec![0.0; 800];
    samples.extend(render_digits(&digits, cadence, SampleRate::HZ_8000).unwrap());
    samples
}

/// `samples` after an AMR-NB round trip at sox's default mode (4.75 kbit/s).
fn through_amr_nb(samples: &[f32], dir: &Path) -> Vec<f32> {
    let (input, coded, output) = (
        dir.join("in.raw"),
        dir.join("coded.amr-nb"),
        dir.join("out.raw"),
    );
    let mut bytes = vec![0u8; samples.len() * 2];
    Encoding::S16le.encode(samples, &mut bytes).unwrap();
    std::fs::write(&input, &bytes).unwrap();
    let sox = |args: Vec<&std::ffi::OsStr>| {
        let out = Command::new("sox").args(args).output().unwrap_or_else(|e| {
            panic!("sox is needed (apt-get install sox libsox-fmt-all; scripts/test does): {e}")
        });
        assert!(
            out.status.success(),
            "sox cannot code AMR-NB (apt-get install libsox-fmt-all; scripts/test does): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let mut encode: Vec<&std::ffi::OsStr> = RAW_8K.iter().map(|s| s.as_ref()).collect();
    encode.extend([input.as_os_str(), "-t".as_ref(), "amr-nb".as_ref()]);
    encode.push(coded.as_os_str());
    sox(encode);
    let mut decode: Vec<&std::ffi::OsStr> = vec![coded.as_os_str()];
    decode.extend(RAW_8K.iter().map(|s| -> &std::ffi::OsStr { s.as_ref() }));
    decode.push(output.as_os_str());
    sox(decode);
    let bytes = std::fs::read(&output).unwrap();
    let mut decoded = vec![0.0; bytes.len() / 2];
    Encoding::S16le.decode(&bytes, &mut decoded).unwrap();
    decoded
}

/// Each digit found, with how long it sounded (ms, from its estimated onset to release).
fn digits(samples: &[f32], config: Config) -> Vec<(Digit, f64)> {
    let mut detector = Detector::new(config).unwrap();
    let mut found = Vec::new();
    let mut on_event = |event| {
        if let Event::Released { keypress, end } = event {
            found.push((keypress.digit, (end - keypress.start) / 8.0));
        }
    };
    detector.process(samples, &mut on_event);
    detector.flush(&mut on_event);
    found
}

/// A scratch directory of this test's own, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn amr_nb_at_4_75_kbit_s_loses_tones_to_duration_and_relative_peak_only() {
    let scratch =
        Scratch(std::env::temp_dir().join(format!("tonegate-amr-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0).unwrap();
    let clean = keyed();
    let coded = through_amr_nb(&clean, &scratch.0);
    let default = Config::default();
    assert_eq!(digits(&clean, default.clone()).len(), 96);

    let found = digits(&coded, default.clone()).len();
    assert!(
        found < 90,
        "the coder should cost tones: {found} of 96 found"
    );
    let gain = |config: Config| digits(&coded, config).len() as i64 - found as i64;

    // Checks that are not what rejects these tones: relaxing them finds (almost) none more.
    let unrelated = [
        Config {
            min_pair_share: 0.3,
            ..default.clone()
        },
        Config {
            min_level_dbm0: -60.0,
            ..default.clone()
        },
        Config {
            max_frequency_deviation: 0.05,
            ..default.clone()
        },
        Config {
            min_harmonic_rejection_db: 0.0,
            ..default.clone()
        },
    ];
    for config in unrelated {
        assert!(gain(config.clone()) <= 2, "{config:?}");
    }
    // Twist and the relative peak: a few.
    let wider_twist = gain(Config {
        max_normal_twist_db: 20.0,
        max_reverse_twist_db: 20.0,
        ..default.clone()
    });
    let flatter = gain(Config {
        min_relative_peak_db: 0.0,
        ..default.clone()
    });
    // The duration: most of them. The coder leaves some keys with less than 25.5 ms of
    // full-level pair while they still sound.
    let shorter = Config {
        min_tone_ms: 20.0,
        ..default.clone()
    };
    let by_duration = gain(shorter.clone());
    assert!(
        by_duration >= 15 && by_duration > 2 * wider_twist.max(flatter),
        "duration {by_duration}, twist {wider_twist}, relative peak {flatter}"
    );
    let short = digits(&coded, shorter)
        .iter()
        .filter(|(_, ms)| *ms < 25.5)
        .count();
    assert!(short > 0, "no tone shorter than 25.5 ms after the coder");
    // Duration and relative peak together: nearly every key.
    let both = digits(
        &coded,
        Config {
            min_tone_ms: 20.0,
            min_relative_peak_db: 0.0,
            ..default
        },
    );
    assert!(both.len() >= 85, "{} of 96", both.len());
}
