//! Speech recognition cost: CPU seconds per second of audio of the pocketsphinx engine,
//! for a `choices` grammar and for free speech, on phrases spoken by espeak-ng and
//! resampled from 8 kHz as a phone call carries them. The recogniser is a separate
//! program, so its CPU time is read from the finished children's rusage (the figure
//! holds on a machine busy with other work); one recognition runs on one core.
//!
//! Needs Debian's `pocketsphinx`, `pocketsphinx-en-us` and `espeak-ng`.
//!
//! `cargo bench --bench asr`

use std::path::Path;
use std::process::Command;

use tonegate::SampleRate;
use tonegate::media::player::convert_rate;
use tonegate::media::wav::WavReader;
use tonegate::server::asr::{ENGINE_RATE, Engine, Pocketsphinx, Utterance};
use tonegate::session::speech::Grammar;

/// CPU time of the waited-for child processes so far, in seconds.
#[allow(unsafe_code)] // One libc call; see SAFETY below.
fn children_cpu_seconds() -> f64 {
    // SAFETY: an all-zero rusage is a valid value for the call to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid rusage for the call to fill.
    let status = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(status, 0, "getrusage failed");
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// `text` spoken by espeak-ng's `voice`, through 8 kHz, as 16 kHz 16-bit samples with
/// 300 ms of silence each side.
fn speak(voice: &str, text: &str) -> Vec<i16> {
    let out = Command::new("espeak-ng")
        .args(["-v", voice, "--stdout", text])
        .output()
        .expect("espeak-ng is installed (apt-get install espeak-ng)");
    let mut reader = WavReader::new(std::io::Cursor::new(out.stdout)).expect("WAV");
    let rate = SampleRate::new(reader.sample_rate()).expect("a supported rate");
    let mut samples = vec![0.0; reader.len_frames() as usize];
    let n = reader.read_frames(&mut samples).expect("readable WAV");
    samples.truncate(n);
    let narrow = convert_rate(&samples, rate, SampleRate::HZ_8000);
    let pad = vec![0.0; ENGINE_RATE.ms_to_samples(300.0)];
    let wide = convert_rate(&narrow, SampleRate::HZ_8000, ENGINE_RATE);
    [pad.clone(), wide, pad]
        .concat()
        .into_iter()
        .map(|s| (s.clamp(-1.0, 1.0) * 32_767.0) as i16)
        .collect()
}

fn measure(engine: &Pocketsphinx, name: &str, grammar: &Grammar, phrases: &[(&str, &str)]) {
    let audio: Vec<Vec<i16>> = phrases.iter().map(|(v, t)| speak(v, t)).collect();
    let seconds_of_audio: f64 = audio
        .iter()
        .map(|a| a.len() as f64 / f64::from(ENGINE_RATE.hz()))
        .sum();
    let rounds: u32 = 3;
    let before = children_cpu_seconds();
    for _ in 0..rounds {
        for samples in &audio {
            let utterance = Utterance {
                samples,
                grammar,
                language: None,
            };
            engine.recognize(&utterance).expect("pocketsphinx runs");
        }
    }
    let cpu = children_cpu_seconds() - before;
    let per_second = cpu / (seconds_of_audio * f64::from(rounds));
    println!(
        "{name:<10} {:.3} CPU s per s of audio ({:.1}x real time on one core; {} utterances, {:.1} s of audio)",
        per_second,
        1.0 / per_second,
        audio.len() * rounds as usize,
        seconds_of_audio * f64::from(rounds)
    );
}

fn main() {
    let engine = Pocketsphinx::new(
        Path::new("pocketsphinx_continuous"),
        Path::new("/usr/share/pocketsphinx/model/en-us"),
    )
    .expect("pocketsphinx and pocketsphinx-en-us are installed");
    let phrases = [
        ("en-us", "technical support"),
        ("en-gb", "pay my bill"),
        ("en-us", "speak to an agent"),
        ("en-gb", "cancel my order"),
    ];
    let choices = Grammar::Choices(
        phrases
            .iter()
            .map(|(_, t)| vec![(*t).to_owned()])
            .chain([vec!["sales".to_owned()], vec!["opening hours".to_owned()]])
            .collect(),
    );
    measure(&engine, "choices", &choices, &phrases);
    let sentences = [
        ("en-us", "i would like to check my account balance"),
        ("en-gb", "what time does the store open tomorrow"),
    ];
    measure(&engine, "speech", &Grammar::FreeText, &sentences);
}
