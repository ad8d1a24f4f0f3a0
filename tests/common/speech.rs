//! Spoken test audio: phrases said by espeak-ng (Debian's `espeak-ng`, installed by
//! `scripts/test`), for the speech-recognition tests.

use std::process::Command;

use tonegate::SampleRate;
use tonegate::media::player::convert_rate;
use tonegate::media::wav::WavReader;

/// Panics with the install hint when a program a speech test needs is missing.
pub(crate) fn require(programs: &[&str]) {
    for program in programs {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{program} is not installed: run scripts/test, or apt-get install pocketsphinx pocketsphinx-en-us espeak-ng"
        );
    }
}

/// `text` spoken by espeak-ng's `voice`, at `rate`, full scale 1.0.
pub(crate) fn speak(voice: &str, text: &str, rate: SampleRate) -> Vec<f32> {
    let out = Command::new("espeak-ng")
        .args(["-v", voice, "--stdout", text])
        .output()
        .expect("espeak-ng runs");
    assert!(out.status.success(), "espeak-ng failed for {text:?}");
    let mut reader =
        WavReader::new(std::io::Cursor::new(out.stdout)).expect("espeak-ng writes WAV");
    let from = SampleRate::new(reader.sample_rate()).expect("a supported rate");
    let mut samples = vec![0.0; reader.len_frames() as usize];
    let n = reader.read_frames(&mut samples).expect("readable WAV");
    samples.truncate(n);
    convert_rate(&samples, from, rate)
}
