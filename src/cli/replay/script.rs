//! What every call of a run plays: the audio, encoded once into 20 ms frames, and the
//! digits it holds with their onsets.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::dsp::Digit;
use tonegate::dsp::dtmf::{self, Event};
use tonegate::dsp::level::dbm0_to_peak;
use tonegate::dsp::tone::{Cadence, render_digits};
use tonegate::media::wav::WavReader;
use tonegate::receiver::Receiver;
use tonegate::resample::Resampler;

use super::args::{Args, Dialect};

/// Duration of one frame on the wire.
pub(crate) const FRAME: Duration = Duration::from_millis(20);

/// Silence a `,` in `--digits` stands for, ms.
const PAUSE_MS: u64 = 500;

/// Seed of `--noise-dbm0`'s noise.
const NOISE_SEED: u64 = 0x7031_7e5a;

/// Samples read from a file per step.
const READ_FRAMES: usize = 4_096;

/// The wire format of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Format {
    /// Sample encoding.
    pub encoding: Encoding,
    /// Samples per second.
    pub rate: SampleRate,
}

/// A digit the audio holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Expected {
    /// The key.
    pub digit: Digit,
    /// Tone onset, stream time from the first sample.
    pub onset: Duration,
    /// Index of the frame that holds the onset.
    pub frame: usize,
}

/// The audio of a call, encoded, and the digits in it.
pub(crate) struct Script {
    /// Wire format.
    pub format: Format,
    /// Encoded frames of [`FRAME`] each (the last may be shorter).
    pub frames: Vec<Vec<u8>>,
    /// The digits, in order of onset.
    pub expected: Vec<Expected>,
}

impl Script {
    /// Builds the audio `args` ask for in `format`.
    pub(crate) fn build(args: &Args, format: Format) -> anyhow::Result<Script> {
        let rate = format.rate;
        let silence = |ms: u64| vec![0.0f32; rate.ms_to_samples(ms as f64)];
        let mut samples = silence(args.lead_ms);
        let mut expected = Vec::new();
        match &args.digits {
            Some(text) => {
                let cadence = cadence(args)?;
                for key in parse_keys(text)? {
                    match key {
                        Key::Pause => samples.extend(silence(PAUSE_MS)),
                        Key::Digit(digit) => {
                            expected.push((digit, samples.len() as f64));
                            samples.extend(render_digits(&[digit], cadence, rate)?);
                        }
                    }
                }
            }
            None => {
                for path in &args.files {
                    let name = path.display();
                    let audio = read_wav(path, rate).with_context(|| name.to_string())?;
                    let offset = samples.len() as f64;
                    let found = find_digits(&audio, rate)?;
                    expected.extend(found.into_iter().map(|(d, at)| (d, offset + at)));
                    samples.extend(audio);
                }
            }
        }
        samples.extend(silence(args.tail_ms));
        if let Some(dbm0) = args.noise_dbm0 {
            add_noise(&mut samples, rate, dbm0)?;
        }
        let frame_samples = rate.ms_to_samples(FRAME.as_secs_f64() * 1000.0);
        let expected = expected
            .into_iter()
            .map(|(digit, at)| Expected {
                digit,
                onset: Duration::from_secs_f64(at / f64::from(rate.hz())),
                frame: at.max(0.0) as usize / frame_samples,
            })
            .collect();
        Ok(Script {
            format,
            frames: encode_frames(&samples, format.encoding, frame_samples)?,
            expected,
        })
    }
}

/// The wire format of `dialect`, given `--rate` and `--encoding` and the first file's
/// rate.
pub(crate) fn wire_format(args: &Args) -> anyhow::Result<Format> {
    let rate = |hz: u32| SampleRate::new(hz).map_err(anyhow::Error::from);
    match args.dialect {
        Dialect::Twilio => {
            if let Some(hz) = args.rate.filter(|&hz| hz != 8_000) {
                bail!("--rate {hz}: Twilio streams are 8000 Hz");
            }
            Ok(Format {
                encoding: Encoding::Ulaw,
                rate: SampleRate::HZ_8000,
            })
        }
        Dialect::Acs => {
            let hz = args.rate.unwrap_or(16_000);
            ensure!(
                hz == 16_000 || hz == 24_000,
                "--rate {hz}: ACS streams are 16000 or 24000 Hz"
            );
            Ok(Format {
                encoding: Encoding::S16le,
                rate: rate(hz)?,
            })
        }
        Dialect::Raw => {
            let hz = match (args.rate, args.files.first()) {
                (Some(hz), _) => hz,
                (None, Some(path)) if args.digits.is_none() => file_rate(path)?,
                _ => 8_000,
            };
            Ok(Format {
                encoding: args.raw_encoding(),
                rate: rate(hz)?,
            })
        }
    }
}

/// One character of `--digits`.
enum Key {
    /// A key to press.
    Digit(Digit),
    /// `,`: [`PAUSE_MS`] of silence, as in a dial string.
    Pause,
}

fn parse_keys(text: &str) -> anyhow::Result<Vec<Key>> {
    ensure!(!text.is_empty(), "--digits is empty");
    text.chars()
        .map(|c| match c {
            ',' => Ok(Key::Pause),
            c => Digit::from_char(c)
                .map(Key::Digit)
                .map_err(|_| anyhow::anyhow!("--digits: `{c}` is not a key (0-9, *, #, A-D, `,`)")),
        })
        .collect()
}

/// The tone timing and level of `--on-ms`, `--off-ms` and `--level-dbm0`.
fn cadence(args: &Args) -> anyhow::Result<Cadence> {
    ensure!(
        (1..=10_000).contains(&args.on_ms) && args.off_ms <= 10_000,
        "--on-ms must be 1 to 10000 and --off-ms at most 10000"
    );
    ensure!(
        args.level_dbm0.is_finite() && (-60.0..=3.0).contains(&args.level_dbm0),
        "--level-dbm0 must be -60 to 3"
    );
    Ok(Cadence {
        on: Duration::from_millis(args.on_ms),
        off: Duration::from_millis(args.off_ms),
        level_dbm0: args.level_dbm0,
    })
}

/// Adds white noise whose power over 0-4 kHz is that of a `dbm0` sine (so the detector
/// sees the same level whatever the rate); the same noise on every run.
fn add_noise(samples: &mut [f32], rate: SampleRate, dbm0: f32) -> anyhow::Result<()> {
    ensure!(
        dbm0.is_finite() && (-90.0..=0.0).contains(&dbm0),
        "--noise-dbm0 must be -90 to 0"
    );
    let band_power = dbm0_to_peak(dbm0).powi(2) / 2.0;
    let deviation = (band_power * rate.hz() as f32 / 8_000.0).sqrt();
    let normal = Normal::new(0.0, deviation)?;
    let mut rng = ChaCha8Rng::seed_from_u64(NOISE_SEED);
    for sample in samples {
        *sample += normal.sample(&mut rng);
    }
    Ok(())
}

fn open(path: &Path) -> anyhow::Result<WavReader<BufReader<File>>> {
    let file = File::open(path).context("cannot open")?;
    Ok(WavReader::new(BufReader::new(file))?)
}

fn file_rate(path: &Path) -> anyhow::Result<u32> {
    let wav = open(path).with_context(|| path.display().to_string())?;
    Ok(wav.sample_rate())
}

/// Channel 0 of a WAV file, converted to `rate`.
fn read_wav(path: &Path, rate: SampleRate) -> anyhow::Result<Vec<f32>> {
    let mut wav = open(path)?;
    let from = SampleRate::new(wav.sample_rate())?;
    let channels = usize::from(wav.channels().max(1));
    let mut resampler = Resampler::new(from, rate)?;
    let mut frames = vec![0.0f32; READ_FRAMES * channels];
    let mut mono = vec![0.0f32; READ_FRAMES];
    let mut converted = vec![0.0f32; resampler.max_output_len(READ_FRAMES)];
    let mut out = Vec::new();
    loop {
        let read = wav.read_frames(&mut frames)?;
        if read == 0 {
            break;
        }
        for (sample, frame) in mono
            .iter_mut()
            .zip(frames.chunks_exact(channels))
            .take(read)
        {
            *sample = frame[0];
        }
        let n = resampler.process(&mono[..read], &mut converted);
        out.extend_from_slice(&converted[..n]);
    }
    let mut tail = vec![0.0f32; resampler.max_flush_len()];
    let n = resampler.flush(&mut tail);
    out.extend_from_slice(&tail[..n]);
    Ok(out)
}

/// The digits tonegate's detector finds in `samples`, with their onsets in samples.
fn find_digits(samples: &[f32], rate: SampleRate) -> anyhow::Result<Vec<(Digit, f64)>> {
    let mut receiver = Receiver::new(rate, dtmf::Config::default())?;
    let mut found = Vec::new();
    let mut on_event = |event: Event| {
        if let Event::Pressed(keypress) = event {
            found.push((keypress.digit, keypress.start));
        }
    };
    receiver.process(samples, &mut on_event);
    receiver.flush(&mut on_event);
    Ok(found)
}

/// `samples` encoded, cut into frames of `frame_samples`.
fn encode_frames(
    samples: &[f32],
    encoding: Encoding,
    frame_samples: usize,
) -> anyhow::Result<Vec<Vec<u8>>> {
    samples
        .chunks(frame_samples)
        .map(|chunk| {
            let mut bytes = vec![0u8; chunk.len() * encoding.bytes_per_sample()];
            encoding.encode(chunk, &mut bytes)?;
            Ok(bytes)
        })
        .collect()
}
