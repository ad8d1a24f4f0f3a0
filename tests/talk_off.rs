//! Talk-off: zero false digits on real speech and music: all of Debian's
//! `asterisk-core-sounds-en-wav` (US English prompts) and `asterisk-moh-opsound-wav`
//! (music on hold), as recorded, after G.711 mu-law coding, and with the gain pushed
//! 12 dB towards clipping. `.ci/run` installs both packages; the test fails if they are
//! missing rather than passing on nothing.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::dsp::dtmf::{Config, Event};
use tonegate::media::wav::WavReader;
use tonegate::receiver::Receiver;

const CORPORA: [&str; 2] = [
    "/usr/share/asterisk/sounds/en_US_f_Allison",
    "/usr/share/asterisk/moh",
];

fn wav_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            wav_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "wav") {
            out.push(path);
        }
    }
}

fn read_mono(path: &Path) -> (SampleRate, Vec<f32>) {
    let mut reader = WavReader::new(BufReader::new(File::open(path).unwrap())).unwrap();
    let channels = usize::from(reader.channels());
    let rate = SampleRate::new(reader.sample_rate()).unwrap();
    let mut frames = vec![0.0; 4096 * channels];
    let mut mono = Vec::new();
    loop {
        let read = reader.read_frames(&mut frames).unwrap();
        if read == 0 {
            break;
        }
        mono.extend(frames[..read * channels].chunks(channels).map(|f| f[0]));
    }
    (rate, mono)
}

/// The digits the receiver finds, as (file, digit, start in ms) lines.
fn false_digits(name: &str, rate: SampleRate, samples: &[f32]) -> Vec<String> {
    let mut receiver = Receiver::new(rate, Config::default()).unwrap();
    let mut found = Vec::new();
    let mut note = |event: Event| {
        if let Event::Pressed(keypress) = event {
            found.push(format!(
                "{name}: {} at {:.0} ms",
                keypress.digit,
                rate.samples_to_ms(keypress.start)
            ));
        }
    };
    receiver.process(samples, &mut note);
    receiver.flush(&mut note);
    found
}

#[test]
fn no_digits_in_speech_or_music() {
    let mut files = Vec::new();
    for corpus in CORPORA {
        assert!(
            Path::new(corpus).is_dir(),
            "{corpus} is missing: apt-get install asterisk-core-sounds-en-wav asterisk-moh-opsound-wav"
        );
        wav_files(Path::new(corpus), &mut files);
    }
    files.sort();
    files.dedup();
    assert!(files.len() > 500, "only {} files", files.len());
    let gain = 10f32.powf(12.0 / 20.0);
    let mut coded = Vec::new();
    let mut bytes = Vec::new();
    let (mut failures, mut seconds) = (Vec::new(), 0.0);
    for path in &files {
        let (rate, samples) = read_mono(path);
        seconds += samples.len() as f64 / f64::from(rate.hz());
        let name = path.display().to_string();
        failures.extend(false_digits(&name, rate, &samples));
        bytes.resize(samples.len(), 0);
        coded.resize(samples.len(), 0.0);
        Encoding::Ulaw.encode(&samples, &mut bytes).unwrap();
        Encoding::Ulaw.decode(&bytes, &mut coded).unwrap();
        failures.extend(false_digits(&format!("{name} (mu-law)"), rate, &coded));
        let loud: Vec<f32> = samples
            .iter()
            .map(|s| (s * gain).clamp(-1.0, 1.0))
            .collect();
        failures.extend(false_digits(&format!("{name} (+12 dB)"), rate, &loud));
    }
    assert!(seconds > 40.0 * 60.0, "only {seconds:.0} s of audio");
    assert!(
        failures.is_empty(),
        "false digits in {seconds:.0} s x 3:\n{}",
        failures.join("\n")
    );
}
