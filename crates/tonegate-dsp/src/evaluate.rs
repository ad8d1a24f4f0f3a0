//! The receiver compliance suite behind `tonegate evaluate`.
//!
//! Every row of the DTMF receiver requirements (ITU-T Q.24 / ETSI ES 201 235-3) becomes a
//! condition: a synthetic signal at the chosen input rate with known tone positions, run
//! through the same [`Receiver`] as live streams and files. Each condition reports how
//! many tones were sent, detected, split in two, and how many false digits appeared, and
//! the onset-to-report latency (`detected - true onset`, in input time, so resampler
//! delay counts). Signals are seeded, so a run is reproducible.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

use crate::SampleRate;
use crate::dsp::dtmf::{self, Event};
use crate::dsp::keypad::Digit;
use crate::dsp::level::dbm0_to_peak;
use crate::receiver::{self, Receiver};

/// Whether a condition's tones must be detected or must not be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expectation {
    /// Every tone detected once, nothing else.
    Accept,
    /// No digit at all.
    Reject,
    /// A robustness sweep beyond the requirements: the detections are measured, and the
    /// row passes as long as no false digit appears.
    Measure,
}

/// Material from outside the crate that the robustness rows need; rows whose material
/// is missing are left out. These rows run at 8 kHz whatever the suite's rate (the
/// codecs and the recordings are 8 kHz narrowband).
#[derive(Default)]
pub struct Extras<'a> {
    /// Speech at 8 kHz, full scale 1.0, mixed under keyed tones.
    pub speech: Option<&'a [f32]>,
    /// Music at 8 kHz, full scale 1.0, mixed under keyed tones.
    pub music: Option<&'a [f32]>,
    /// Codecs keyed signals are passed through: a name and an encode-decode round
    /// trip of 8 kHz samples.
    pub codecs: Vec<(&'a str, &'a Transcode)>,
}

/// An encode-decode round trip of 8 kHz samples through a codec.
pub type Transcode = dyn Fn(&[f32]) -> Result<Vec<f32>, String>;

/// A keyed DTMF signal: the parameters one condition varies.
#[derive(Debug, Clone, Copy)]
struct Keying {
    low_dbm0: f32,
    high_dbm0: f32,
    low_deviation: f32,
    high_deviation: f32,
    on_ms: f32,
    off_ms: f32,
    /// (offset from onset, length) of a gap inside each tone, ms.
    dropout_ms: Option<(f32, f32)>,
    /// Signal-to-noise ratio over 0-4 kHz, dB.
    snr_db: Option<f32>,
    /// Which keys follow which.
    order: KeyOrder,
    /// Shape of each tone.
    waveform: Waveform,
    /// Overdrive into a hard clipper: the clip level lies this many dB below the
    /// undistorted signal's peak.
    clip_db: Option<f32>,
    /// Constant offset added to the whole signal, as a share of full scale.
    dc_offset: f32,
    /// Dial tone (350 + 440 Hz, -13 dBm0 each) through each pause and this many ms
    /// into the next tone, as when a first key press overlaps dial tone.
    dial_tone_overlap_ms: Option<f32>,
    /// Dial tone under the first key of each pair (the keys go in pairs, see
    /// [`KeyOrder::Repeated`]): a line where the caller starts keying before the exchange
    /// has stopped its dial tone.
    first_key_dial_tone: Option<DialTone>,
    /// Recorded interference mixed in, at this signal-to-interference ratio (dB).
    interference: Option<(Recording, f32)>,
    /// Index into [`Extras::codecs`] of the codec the signal passes through.
    codec: Option<usize>,
}

/// Dial tone (350 + 440 Hz) sounding for [`DIAL_TONE_LEAD_MS`] before a key and on into it.
#[derive(Debug, Clone, Copy)]
struct DialTone {
    /// Level of each of the two tones, dBm0 (-13 is the North American precise dial tone).
    dbm0: f32,
    /// How long the dial tone goes on after the key's onset, ms; past the key's length it
    /// sounds on into the pause.
    overlap_ms: f32,
}

/// How long dial tone sounds before the key it overlaps, ms.
const DIAL_TONE_LEAD_MS: f32 = 400.0;

/// Which recording of [`Extras`] a row mixes in.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Recording {
    Speech,
    Music,
}

/// The order keys are sent in.
#[derive(Debug, Clone, Copy, PartialEq)]
enum KeyOrder {
    /// Every key twice in a row, so repeated digits must be separated by the pause alone.
    Repeated,
    /// Every ordered pair of different keys once, back to back (an Euler circuit through
    /// the 240 key changes): each digit differs from the one before.
    Changes,
}

/// How each tone of the pair is shaped.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Waveform {
    /// Pure sines.
    Sine,
    /// Square waves of the same fundamental level (a cheap generator): odd harmonics
    /// from 9.5 dB below the tone.
    Square,
}

const NOMINAL: Keying = Keying {
    low_dbm0: -10.0,
    high_dbm0: -10.0,
    low_deviation: 0.0,
    high_deviation: 0.0,
    on_ms: 50.0,
    off_ms: 50.0,
    dropout_ms: None,
    snr_db: None,
    order: KeyOrder::Repeated,
    waveform: Waveform::Sine,
    clip_db: None,
    dc_offset: 0.0,
    dial_tone_overlap_ms: None,
    first_key_dial_tone: None,
    interference: None,
    codec: None,
};

/// A non-DTMF signal that must never read as digits.
#[derive(Debug, Clone)]
struct Interferer {
    /// (frequency Hz, level dBm0) components.
    components: Vec<(f32, f32)>,
    on_ms: f32,
    off_ms: f32,
    cycles: usize,
}

#[derive(Debug, Clone)]
enum Signal {
    Digits(Keying),
    Interferer(Interferer),
    /// White noise at the given level over 0-4 kHz, for the given seconds.
    Noise {
        dbm0: f32,
        seconds: f32,
    },
}

/// One condition of the suite.
#[derive(Debug, Clone)]
struct Condition {
    name: String,
    expectation: Expectation,
    signal: Signal,
    /// Runs at 8 kHz whatever the suite's rate (rows with external 8 kHz material).
    narrowband: bool,
}

impl Condition {
    /// Whether its latencies join the suite's headline figures. A dropout that falls
    /// before the report point holds the report until the tone resumes, and a tone under
    /// dial tone may only be recognised once the dial tone stops, so those conditions
    /// show their latency on their own row only.
    fn counts_for_latency(&self) -> bool {
        match &self.signal {
            Signal::Digits(keying) => {
                self.expectation == Expectation::Accept
                    && keying.dropout_ms.is_none()
                    && keying.dial_tone_overlap_ms.is_none()
                    && keying.first_key_dial_tone.is_none()
            }
            _ => false,
        }
    }
}

/// Result of one condition.
#[derive(Debug, Clone, Serialize)]
pub struct ConditionResult {
    /// What the condition tests.
    pub name: String,
    /// Whether its tones must be detected or rejected.
    pub expectation: Expectation,
    /// Tones sent (0 for signals that are not DTMF).
    pub tones: usize,
    /// Tones detected as the right digit.
    pub detected: usize,
    /// Digits reported that match no tone sent (or that must have been rejected).
    pub false_digits: usize,
    /// Tones reported more than once.
    pub split: usize,
    /// Median onset-to-report latency, ms.
    pub latency_p50_ms: Option<f64>,
    /// 99th-percentile onset-to-report latency, ms.
    pub latency_p99_ms: Option<f64>,
    /// Whether the condition met its expectation.
    pub passed: bool,
    #[serde(skip)]
    latencies_ms: Vec<f64>,
}

/// The whole suite's results.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Input rate the suite ran at, Hz.
    pub rate_hz: u32,
    /// Per-condition results, in suite order.
    pub conditions: Vec<ConditionResult>,
    /// Median latency over every accept condition without dropouts, ms.
    pub latency_p50_ms: Option<f64>,
    /// 99th-percentile latency over every accept condition without dropouts, ms.
    pub latency_p99_ms: Option<f64>,
    /// Whether every condition passed.
    pub passed: bool,
}

/// Runs every condition at `rate` with the given detector settings: the requirement
/// rows and the synthetic robustness sweeps.
pub fn run(rate: SampleRate, config: &dtmf::Config) -> Result<Report, Error> {
    run_with(rate, config, &Extras::default())
}

/// Why the suite could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A receiver could not be built.
    #[error(transparent)]
    Receiver(#[from] receiver::Error),
    /// A codec round trip failed; names the codec.
    #[error("codec {codec}: {reason}")]
    Codec {
        /// The codec's name in [`Extras::codecs`].
        codec: String,
        /// What went wrong.
        reason: String,
    },
}

/// [`run`], plus the rows that need `extras` (speech, music, codecs).
pub fn run_with(rate: SampleRate, config: &dtmf::Config, extras: &Extras) -> Result<Report, Error> {
    run_observed(rate, config, extras, &mut |_, _, _| {})
}

/// [`run_with`], also handing each condition's signal to `on_signal` (its name, rate
/// and samples, as the receiver gets them) before it is scored: `evaluate --plot`
/// draws them.
pub fn run_observed(
    rate: SampleRate,
    config: &dtmf::Config,
    extras: &Extras,
    on_signal: &mut dyn FnMut(&str, SampleRate, &[f32]),
) -> Result<Report, Error> {
    let mut conditions = Vec::new();
    let mut all_latencies = Vec::new();
    let mut all = suite();
    all.extend(sweeps());
    all.extend(extra_rows(extras));
    all.extend(dial_tone_rows());
    for (index, condition) in all.into_iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x746f_6e65 + index as u64);
        let rate = if condition.narrowband {
            SampleRate::HZ_8000
        } else {
            rate
        };
        let (mut samples, sent) = synthesise(&condition.signal, rate, &mut rng, extras);
        if let Signal::Digits(Keying {
            codec: Some(codec), ..
        }) = condition.signal
        {
            let (name, transcode) = extras.codecs[codec];
            samples = transcode(&samples).map_err(|reason| Error::Codec {
                codec: name.to_string(),
                reason,
            })?;
        }
        on_signal(&condition.name, rate, &samples);
        let mut receiver = Receiver::new(rate, config.clone())?;
        let mut pressed = Vec::new();
        let mut collect = |event: Event| {
            if let Event::Pressed(keypress) = event {
                pressed.push(keypress);
            }
        };
        receiver.process(&samples, &mut collect);
        receiver.flush(&mut collect);
        let result = score(&condition, rate, &sent, &pressed);
        if condition.counts_for_latency() {
            all_latencies.extend_from_slice(&result.latencies_ms);
        }
        conditions.push(result);
    }
    all_latencies.sort_by(f64::total_cmp);
    Ok(Report {
        rate_hz: rate.hz(),
        passed: conditions.iter().all(|c| c.passed),
        conditions,
        latency_p50_ms: percentile(&all_latencies, 0.50),
        latency_p99_ms: percentile(&all_latencies, 0.99),
    })
}

/// The conditions, one per requirement row plus noise and call-progress cases.
fn suite() -> Vec<Condition> {
    let accept = |name: &str, keying: Keying| Condition {
        name: name.to_string(),
        expectation: Expectation::Accept,
        signal: Signal::Digits(keying),
        narrowband: false,
    };
    let reject = |name: &str, keying: Keying| Condition {
        name: name.to_string(),
        expectation: Expectation::Reject,
        signal: Signal::Digits(keying),
        narrowband: false,
    };
    let interferer = |name: &str, components: &[(f32, f32)], on_ms, off_ms, cycles| Condition {
        name: name.to_string(),
        expectation: Expectation::Reject,
        signal: Signal::Interferer(Interferer {
            components: components.to_vec(),
            on_ms,
            off_ms,
            cycles,
        }),
        narrowband: false,
    };
    let level = |low_dbm0, high_dbm0| Keying {
        low_dbm0,
        high_dbm0,
        ..NOMINAL
    };
    let deviation = |low_deviation, high_deviation| Keying {
        low_deviation,
        high_deviation,
        ..NOMINAL
    };
    let timing = |on_ms, off_ms| Keying {
        on_ms,
        off_ms,
        ..NOMINAL
    };
    vec![
        accept("nominal -10 dBm0, 50/50 ms", NOMINAL),
        accept("level 0 dBm0", level(0.0, 0.0)),
        accept("level -25 dBm0", level(-25.0, -25.0)),
        accept("frequency +1.5 %", deviation(0.015, 0.015)),
        accept("frequency -1.5 %", deviation(-0.015, -0.015)),
        accept("frequency +1.5 % / -1.5 %", deviation(0.015, -0.015)),
        accept("frequency -1.5 % / +1.5 %", deviation(-0.015, 0.015)),
        accept("twist +4 dB (high louder)", level(-14.0, -10.0)),
        accept("twist -8 dB (low louder)", level(-10.0, -18.0)),
        accept("twist +4 dB at -25 dBm0", level(-25.0, -21.0)),
        accept("twist -8 dB at -25 dBm0", level(-17.0, -25.0)),
        accept("40 ms tones, 40 ms pauses", timing(40.0, 40.0)),
        accept(
            "10 ms dropout inside 60 ms tones",
            Keying {
                on_ms: 60.0,
                off_ms: 60.0,
                dropout_ms: Some((25.0, 10.0)),
                ..NOMINAL
            },
        ),
        accept(
            "20 ms dropout inside 80 ms tones (ETSI)",
            Keying {
                on_ms: 80.0,
                off_ms: 60.0,
                dropout_ms: Some((30.0, 20.0)),
                ..NOMINAL
            },
        ),
        accept(
            "noise 15 dB S/N",
            Keying {
                snr_db: Some(15.0),
                ..NOMINAL
            },
        ),
        accept(
            "noise 15 dB S/N, 40/40 ms, -25 dBm0",
            Keying {
                snr_db: Some(15.0),
                ..Keying {
                    low_dbm0: -25.0,
                    high_dbm0: -25.0,
                    ..timing(40.0, 40.0)
                }
            },
        ),
        accept(
            "noise 15 dB S/N, +1.5 %, twist -8 dB",
            Keying {
                snr_db: Some(15.0),
                low_deviation: 0.015,
                high_deviation: 0.015,
                ..level(-10.0, -18.0)
            },
        ),
        accept(
            "noise 10 dB S/N",
            Keying {
                snr_db: Some(10.0),
                ..NOMINAL
            },
        ),
        accept("twist +8 dB (high louder)", level(-18.0, -10.0)),
        accept("twist -10 dB (low louder)", level(-10.0, -20.0)),
        accept("twist +8 dB at -25 dBm0", level(-25.0, -17.0)),
        accept("twist -10 dB at -25 dBm0", level(-15.0, -25.0)),
        accept(
            "key changes without a pause, 200 ms tones",
            Keying {
                order: KeyOrder::Changes,
                ..timing(200.0, 0.0)
            },
        ),
        accept(
            "key changes, 50 ms tones, 10 ms gaps",
            Keying {
                order: KeyOrder::Changes,
                ..timing(50.0, 10.0)
            },
        ),
        accept(
            "key changes without a pause, 50 ms tones",
            Keying {
                order: KeyOrder::Changes,
                ..timing(50.0, 0.0)
            },
        ),
        accept(
            "square-wave tones",
            Keying {
                waveform: Waveform::Square,
                ..NOMINAL
            },
        ),
        accept(
            "clipped 6 dB",
            Keying {
                clip_db: Some(6.0),
                ..NOMINAL
            },
        ),
        accept(
            "clipped 20 dB",
            Keying {
                clip_db: Some(20.0),
                ..NOMINAL
            },
        ),
        accept(
            "DC offset 10 % of full scale, -20 dBm0",
            Keying {
                dc_offset: 0.1,
                ..level(-20.0, -20.0)
            },
        ),
        accept(
            "first key over dial tone",
            Keying {
                dial_tone_overlap_ms: Some(100.0),
                ..timing(200.0, 100.0)
            },
        ),
        reject("frequency +3.5 %", deviation(0.035, 0.035)),
        reject("frequency -3.5 %", deviation(-0.035, -0.035)),
        reject("low tone +3.5 % only", deviation(0.035, 0.0)),
        reject("high tone -3.5 % only", deviation(0.0, -0.035)),
        reject("23 ms tones", timing(23.0, 80.0)),
        reject("20 ms tones", timing(20.0, 80.0)),
        reject("level -55 dBm0", level(-55.0, -55.0)),
        interferer(
            "dial tone 350+440 Hz",
            &[(350.0, -13.0), (440.0, -13.0)],
            3000.0,
            0.0,
            1,
        ),
        interferer(
            "ringback 440+480 Hz",
            &[(440.0, -19.0), (480.0, -19.0)],
            2000.0,
            1000.0,
            2,
        ),
        interferer(
            "busy 480+620 Hz",
            &[(480.0, -24.0), (620.0, -24.0)],
            500.0,
            500.0,
            4,
        ),
        interferer(
            "reorder 480+620 Hz",
            &[(480.0, -24.0), (620.0, -24.0)],
            250.0,
            250.0,
            8,
        ),
        interferer("1000 Hz", &[(1000.0, -10.0)], 2000.0, 0.0, 1),
        interferer("1004 Hz", &[(1004.0, -10.0)], 2000.0, 0.0, 1),
        interferer("2100 Hz fax/modem", &[(2100.0, -10.0)], 2000.0, 0.0, 1),
        interferer("440 Hz", &[(440.0, -10.0)], 2000.0, 0.0, 1),
        Condition {
            name: "white noise -20 dBm0".to_string(),
            expectation: Expectation::Reject,
            signal: Signal::Noise {
                dbm0: -20.0,
                seconds: 10.0,
            },
            narrowband: false,
        },
    ]
}

/// A tone the signal holds: digit and [onset, release) in input samples.
#[derive(Debug, Clone, Copy)]
struct Sent {
    digit: Digit,
    on: usize,
    off: usize,
}

/// Repetitions of the 16 keys per keyed condition (each key twice in a row, so that
/// repeated digits must be separated by the pause alone).
const ROUNDS: usize = 3;

fn synthesise(
    signal: &Signal,
    rate: SampleRate,
    rng: &mut ChaCha8Rng,
    extras: &Extras,
) -> (Vec<f32>, Vec<Sent>) {
    match signal {
        Signal::Digits(keying) => synthesise_digits(keying, rate, rng, extras),
        Signal::Interferer(interferer) => {
            let mut samples = Vec::new();
            for _ in 0..interferer.cycles {
                let on = rate.ms_to_samples(f64::from(interferer.on_ms));
                let start = samples.len();
                samples.resize(start + on, 0.0);
                for &(frequency, dbm0) in &interferer.components {
                    add_sine(
                        &mut samples[start..],
                        rate,
                        frequency,
                        dbm0_to_peak(dbm0),
                        rng.random(),
                    );
                }
                samples.resize(
                    samples.len() + rate.ms_to_samples(f64::from(interferer.off_ms)),
                    0.0,
                );
            }
            (samples, Vec::new())
        }
        Signal::Noise { dbm0, seconds } => {
            let mut samples = vec![0.0; rate.ms_to_samples(f64::from(*seconds) * 1000.0)];
            let power = dbm0_to_peak(*dbm0).powi(2) / 2.0;
            add_noise(&mut samples, rate, power, rng);
            (samples, Vec::new())
        }
    }
}

fn synthesise_digits(
    keying: &Keying,
    rate: SampleRate,
    rng: &mut ChaCha8Rng,
    extras: &Extras,
) -> (Vec<f32>, Vec<Sent>) {
    let mut samples = Vec::new();
    let mut sent = Vec::new();
    let ms = |ms: f32| rate.ms_to_samples(f64::from(ms));
    // Leading silence with a random sub-block offset, so onsets fall anywhere in a block.
    samples.resize(ms(50.0) + rng.random_range(0..ms(8.0)), 0.0);
    let digits: Vec<Digit> = match keying.order {
        KeyOrder::Repeated => (0..ROUNDS)
            .flat_map(|_| Digit::ALL.into_iter().flat_map(|d| [d, d]))
            .collect(),
        KeyOrder::Changes => key_changes(),
    };
    let mut pause_start = 0;
    for (index, digit) in digits.into_iter().enumerate() {
        let dial_tone = keying.first_key_dial_tone.filter(|_| index % 2 == 0);
        if dial_tone.is_some() {
            samples.resize(samples.len() + ms(DIAL_TONE_LEAD_MS), 0.0);
        }
        let on = samples.len();
        // Keys sent back to back vary in length by up to a block instead, so that key
        // changes too fall anywhere in a block.
        let len = match keying.order {
            KeyOrder::Repeated => ms(keying.on_ms),
            KeyOrder::Changes => ms(keying.on_ms) + rng.random_range(0..ms(4.0)),
        };
        samples.resize(on + len, 0.0);
        if let Some(overlap) = keying.dial_tone_overlap_ms {
            let until = (on + ms(overlap)).min(samples.len());
            for hz in [350.0, 440.0] {
                add_sine(
                    &mut samples[pause_start..until],
                    rate,
                    hz,
                    dbm0_to_peak(-13.0),
                    rng.random(),
                );
            }
        }
        let (low, high) = digit.frequencies();
        let tone = &mut samples[on..];
        let add = match keying.waveform {
            Waveform::Sine => add_sine,
            Waveform::Square => add_square,
        };
        add(
            tone,
            rate,
            low * (1.0 + keying.low_deviation),
            dbm0_to_peak(keying.low_dbm0),
            rng.random(),
        );
        add(
            tone,
            rate,
            high * (1.0 + keying.high_deviation),
            dbm0_to_peak(keying.high_dbm0),
            rng.random(),
        );
        if let Some(overdrive_db) = keying.clip_db {
            let peak = dbm0_to_peak(keying.low_dbm0) + dbm0_to_peak(keying.high_dbm0);
            let clip = peak / 10f32.powf(overdrive_db / 20.0);
            for sample in tone.iter_mut() {
                *sample = sample.clamp(-clip, clip);
            }
        }
        if let Some((offset, gap)) = keying.dropout_ms {
            let gap_start = ms(offset);
            tone[gap_start..(gap_start + ms(gap)).min(len)].fill(0.0);
        }
        sent.push(Sent {
            digit,
            on,
            off: on + len,
        });
        // Pauses vary by up to a block so releases also fall anywhere; keys sent back
        // to back stay back to back.
        pause_start = samples.len();
        let jitter = if keying.off_ms > 0.0 {
            rng.random_range(0..ms(4.0))
        } else {
            0
        };
        samples.resize(samples.len() + ms(keying.off_ms) + jitter, 0.0);
        if let Some(dial) = dial_tone {
            let until = on + ms(dial.overlap_ms);
            if until > samples.len() {
                samples.resize(until, 0.0);
            }
            for hz in [350.0, 440.0] {
                add_sine(
                    &mut samples[on - ms(DIAL_TONE_LEAD_MS)..until],
                    rate,
                    hz,
                    dbm0_to_peak(dial.dbm0),
                    rng.random(),
                );
            }
        }
    }
    samples.resize(samples.len() + ms(100.0), 0.0);
    if let Some(snr_db) = keying.snr_db {
        let signal_power =
            (dbm0_to_peak(keying.low_dbm0).powi(2) + dbm0_to_peak(keying.high_dbm0).powi(2)) / 2.0;
        add_noise(
            &mut samples,
            rate,
            signal_power / 10f32.powf(snr_db / 10.0),
            rng,
        );
    }
    if let Some((recording, si_db)) = keying.interference {
        let material = match recording {
            Recording::Speech => extras.speech,
            Recording::Music => extras.music,
        };
        if let Some(material) = material.filter(|m| !m.is_empty()) {
            let signal_power = (dbm0_to_peak(keying.low_dbm0).powi(2)
                + dbm0_to_peak(keying.high_dbm0).powi(2))
                / 2.0;
            add_recording(&mut samples, material, signal_power, si_db, rng);
        }
    }
    if keying.dc_offset != 0.0 {
        for sample in &mut samples {
            *sample += keying.dc_offset;
        }
    }
    (samples, sent)
}

/// Adds a stretch of `material` (from a seeded offset, looped if short) scaled so that
/// `signal_power` stands `si_db` above its mean power. The material's power is measured
/// over the stretch used, silences included, as a listener would average it.
fn add_recording(
    samples: &mut [f32],
    material: &[f32],
    signal_power: f32,
    si_db: f32,
    rng: &mut ChaCha8Rng,
) {
    let offset = rng.random_range(0..material.len());
    let len = samples.len();
    let stretch = || material.iter().cycle().skip(offset).take(len);
    let power = stretch().map(|x| x * x).sum::<f32>() / len.max(1) as f32;
    if power <= 0.0 {
        return;
    }
    let gain = (signal_power / power / 10f32.powf(si_db / 10.0)).sqrt();
    for (sample, x) in samples.iter_mut().zip(stretch()) {
        *sample += gain * x;
    }
}

/// Sweeps past the requirements, to show where detection stops: twist from -12 to
/// +12 dB, clipping from 0 to 20 dB of overdrive, white noise from +10 to -10 dB S/N.
fn sweeps() -> Vec<Condition> {
    let measure = |name: String, keying: Keying| Condition {
        name,
        expectation: Expectation::Measure,
        signal: Signal::Digits(keying),
        narrowband: false,
    };
    let mut rows = Vec::new();
    for twist in (-12..=12).step_by(2) {
        let twist = twist as f32;
        // The louder tone at -10 dBm0.
        let (low, high) = if twist >= 0.0 {
            (-10.0 - twist, -10.0)
        } else {
            (-10.0, -10.0 + twist)
        };
        rows.push(measure(
            format!("sweep: twist {twist:+} dB"),
            Keying {
                low_dbm0: low,
                high_dbm0: high,
                ..NOMINAL
            },
        ));
    }
    for overdrive in (0..=20).step_by(5) {
        rows.push(measure(
            format!("sweep: clipped {overdrive} dB"),
            Keying {
                clip_db: Some(overdrive as f32),
                ..NOMINAL
            },
        ));
    }
    for snr in (-10..=10).rev().step_by(5) {
        rows.push(measure(
            format!("sweep: white noise {snr:+} dB S/N"),
            Keying {
                snr_db: Some(snr as f32),
                ..NOMINAL
            },
        ));
    }
    rows
}

/// Sweeps of the first key of each pair over dial tone at -13 dBm0 that sounds 400 ms
/// before it and through all of it (100 ms keys, 100 ms pauses), at key levels from
/// telephone level (-6 / -4 dBm0) down to -20 dBm0; then a dial tone that stops 40 ms
/// into the key, as when the exchange stops it on the first key. Listed last, so the
/// seeds of the rows before them stay as they were.
fn dial_tone_rows() -> Vec<Condition> {
    let measure = |name: String, keying: Keying| Condition {
        name,
        expectation: Expectation::Measure,
        signal: Signal::Digits(keying),
        narrowband: false,
    };
    let overlapped = |low_dbm0: f32, high_dbm0: f32, overlap_ms: f32| Keying {
        low_dbm0,
        high_dbm0,
        on_ms: 100.0,
        off_ms: 100.0,
        first_key_dial_tone: Some(DialTone {
            dbm0: -13.0,
            overlap_ms,
        }),
        ..NOMINAL
    };
    let mut rows = Vec::new();
    for (low, high) in [
        (-6.0, -4.0),
        (-8.0, -8.0),
        (-10.0, -10.0),
        (-15.0, -15.0),
        (-20.0, -20.0),
    ] {
        rows.push(measure(
            format!("sweep: first keys {low:+}/{high:+} dBm0 under dial tone"),
            overlapped(low, high, 100.0),
        ));
    }
    for level in [-10.0, -20.0] {
        rows.push(measure(
            format!("sweep: first keys {level:+} dBm0, dial tone 40 ms in"),
            overlapped(level, level, 40.0),
        ));
    }
    rows
}

/// Rows on external material: 50 ms tones with 50 ms pauses under speech and music
/// from +10 to -10 dB S/I, and every codec on standard conditions, in noise, with twist
/// and with a frequency offset.
fn extra_rows(extras: &Extras) -> Vec<Condition> {
    let measure = |name: String, keying: Keying| Condition {
        name,
        expectation: Expectation::Measure,
        signal: Signal::Digits(keying),
        narrowband: true,
    };
    let mut rows = Vec::new();
    for (recording, label, present) in [
        (Recording::Speech, "speech", extras.speech.is_some()),
        (Recording::Music, "music", extras.music.is_some()),
    ] {
        if !present {
            continue;
        }
        for si in [10.0, 5.0, 0.0, -3.0, -7.0, -10.0] {
            rows.push(measure(
                format!("{label} {si:+} dB S/I, 8 kHz"),
                Keying {
                    interference: Some((recording, si)),
                    ..NOMINAL
                },
            ));
        }
    }
    for (index, (name, _)) in extras.codecs.iter().enumerate() {
        let variants = [
            ("standard", NOMINAL),
            (
                "15 dB S/N",
                Keying {
                    snr_db: Some(15.0),
                    ..NOMINAL
                },
            ),
            (
                "twist +4 dB",
                Keying {
                    low_dbm0: -14.0,
                    ..NOMINAL
                },
            ),
            (
                "twist -8 dB",
                Keying {
                    high_dbm0: -18.0,
                    ..NOMINAL
                },
            ),
            (
                "+1.5 %",
                Keying {
                    low_deviation: 0.015,
                    high_deviation: 0.015,
                    ..NOMINAL
                },
            ),
            (
                "-25 dBm0",
                Keying {
                    low_dbm0: -25.0,
                    high_dbm0: -25.0,
                    ..NOMINAL
                },
            ),
        ];
        for (label, keying) in variants {
            rows.push(measure(
                format!("{name}: {label}, 8 kHz"),
                Keying {
                    codec: Some(index),
                    ..keying
                },
            ));
        }
    }
    rows
}

/// The 16 keys in an order that holds every ordered pair of different keys exactly once
/// as neighbours (an Euler circuit of the complete directed graph, by Hierholzer's
/// algorithm): 241 keys, 240 key changes.
fn key_changes() -> Vec<Digit> {
    let keys = Digit::ALL.len();
    // next[k]: the next unused successor of key k to try.
    let mut next = vec![0usize; keys];
    let mut stack = vec![0usize];
    let mut circuit = Vec::with_capacity(keys * (keys - 1) + 1);
    while let Some(&key) = stack.last() {
        while next[key] < keys && next[key] == key {
            next[key] += 1;
        }
        if next[key] < keys {
            stack.push(next[key]);
            next[key] += 1;
        } else {
            circuit.push(key);
            stack.pop();
        }
    }
    circuit.reverse();
    circuit.into_iter().map(|k| Digit::ALL[k]).collect()
}

/// Adds a square wave whose fundamental has the given peak, starting phase in turns.
fn add_square(samples: &mut [f32], rate: SampleRate, frequency: f32, peak: f32, phase: f64) {
    // A square wave of amplitude a has a fundamental of peak 4a/pi.
    let amplitude = peak * std::f32::consts::PI / 4.0;
    let step = f64::from(frequency) / f64::from(rate.hz());
    for (n, sample) in samples.iter_mut().enumerate() {
        let turns = (phase + step * n as f64).fract();
        *sample += if turns < 0.5 { amplitude } else { -amplitude };
    }
}

/// Adds a sine of the given peak and starting phase (in turns, 0-1).
fn add_sine(samples: &mut [f32], rate: SampleRate, frequency: f32, peak: f32, phase: f64) {
    let step = std::f64::consts::TAU * f64::from(frequency) / f64::from(rate.hz());
    let phase = phase * std::f64::consts::TAU;
    for (n, sample) in samples.iter_mut().enumerate() {
        *sample += peak * (phase + step * n as f64).sin() as f32;
    }
}

/// Adds white Gaussian noise whose power over 0-4 kHz is `power` (so the detector sees
/// the same S/N whatever the input rate).
fn add_noise(samples: &mut [f32], rate: SampleRate, power: f32, rng: &mut ChaCha8Rng) {
    let full_band_power = power * rate.hz() as f32 / 8_000.0;
    let normal = Normal::new(0.0, full_band_power.sqrt()).expect("finite deviation");
    for sample in samples {
        *sample += normal.sample(rng);
    }
}

fn score(
    condition: &Condition,
    rate: SampleRate,
    sent: &[Sent],
    pressed: &[dtmf::Keypress],
) -> ConditionResult {
    let slack = rate.ms_to_samples(15.0) as f64;
    let mut hits = vec![0usize; sent.len()];
    let mut latencies_ms = Vec::new();
    let mut false_digits = 0;
    for keypress in pressed {
        let matched = sent.iter().position(|tone| {
            tone.digit == keypress.digit
                && keypress.start >= tone.on as f64 - slack
                && keypress.start <= tone.off as f64 + slack
        });
        match matched {
            Some(index) if condition.expectation != Expectation::Reject => {
                hits[index] += 1;
                if hits[index] == 1 {
                    let latency = keypress.detected as f64 - sent[index].on as f64;
                    latencies_ms.push(rate.samples_to_ms(latency));
                }
            }
            _ => false_digits += 1,
        }
    }
    latencies_ms.sort_by(f64::total_cmp);
    let detected = hits.iter().filter(|&&h| h > 0).count();
    let split = hits.iter().filter(|&&h| h > 1).count();
    let passed = match condition.expectation {
        Expectation::Accept => detected == sent.len() && split == 0 && false_digits == 0,
        Expectation::Reject | Expectation::Measure => false_digits == 0,
    };
    ConditionResult {
        name: condition.name.clone(),
        expectation: condition.expectation,
        tones: sent.len(),
        detected,
        false_digits,
        split,
        latency_p50_ms: percentile(&latencies_ms, 0.50),
        latency_p99_ms: percentile(&latencies_ms, 0.99),
        passed,
        latencies_ms,
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], fraction: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}
