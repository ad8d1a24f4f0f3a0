//! `detector_chunking`: the DTMF detector fed in any chunking.

use std::time::Duration;

use tonegate_dsp::SampleRate;
use tonegate_dsp::codec::pcm;
use tonegate_dsp::dsp::Digit;
use tonegate_dsp::dsp::dtmf::{self, BLOCK_LEN, Detector, Event, HALF_BLOCK};
use tonegate_dsp::dsp::tone::{Cadence, Component, Oscillator, Tone, render_digits};

use super::Input;

/// Longest signal a detector input builds: 2 s at 8 kHz.
const MAX_SIGNAL: usize = 16_000;

/// The detector's events do not depend on chunking: a signal built from the input
/// (DTMF digits at fuzzed levels, cadences, twists and frequency offsets, single tones,
/// silence, and raw samples, mixed) gives bit-identical events fed whole, fed in fuzzed
/// chunk sizes (including empty chunks), and fed again whole to the same detector after
/// `flush`, and fed in the chunks with every other chunk's blocks shown to an observer
/// (which makes the detector analyse every block, where without one an idle detector
/// leaves the bank's analysis of quiet blocks until a window needs it). Events are well
/// formed: presses and releases alternate with matching
/// keypresses, every press is released by `flush`, reports fall on block boundaries
/// within the stream, and a press's onset is not after its report.
pub fn detector_chunking(data: &[u8]) {
    let case = DetectorCase::parse(data);
    let mut detector = Detector::new(case.config.clone()).expect("fuzzed config is in range");
    let whole = run_detector(&mut detector, &case.signal, &[], false);
    check_events(&whole, case.signal.len());
    let again = run_detector(&mut detector, &case.signal, &[], false);
    assert_eq!(
        whole, again,
        "detector_chunking: a flushed detector gives different events on the same signal"
    );
    let mut fresh = Detector::new(case.config).expect("fuzzed config is in range");
    let chunked = run_detector(&mut fresh, &case.signal, &case.chunks, false);
    assert_eq!(
        whole, chunked,
        "detector_chunking: chunks {:?} change the events",
        case.chunks
    );
    let observed = run_detector(&mut fresh, &case.signal, &case.chunks, true);
    assert_eq!(
        whole, observed,
        "detector_chunking: observing every other chunk changes the events"
    );
}

/// The digits the detector reports for a `detector_chunking` input, fed whole: lets
/// tests confirm that the inputs exercise detection rather than only silence.
pub fn detector_digits(data: &[u8]) -> String {
    let case = DetectorCase::parse(data);
    let mut detector = Detector::new(case.config).expect("fuzzed config is in range");
    run_detector(&mut detector, &case.signal, &[], false)
        .iter()
        .filter_map(|event| match event {
            Seen::Pressed(press) => Some(press.digit),
            Seen::Released { .. } => None,
        })
        .collect()
}

/// What a `detector_chunking` input describes: one flag byte (bit 0: a fuzzed
/// configuration follows, 9 bytes), a count byte (mod 16) and that many chunk-size bytes,
/// then signal segments (see [`build_signal`]).
struct DetectorCase {
    config: dtmf::Config,
    /// Chunk sizes, cycled over the signal; at least one is non-zero.
    chunks: Vec<usize>,
    signal: Vec<f32>,
}

impl DetectorCase {
    fn parse(data: &[u8]) -> Self {
        let mut input = Input::new(data);
        let flags = input.u8();
        let config = if flags & 1 != 0 {
            fuzzed_config(&mut input)
        } else {
            dtmf::Config::default()
        };
        let chunks = input.chunk_sizes(97, &[1, 7, 32, 33, 0, 160, 5]);
        let signal = build_signal(&mut input);
        DetectorCase {
            config,
            chunks,
            signal,
        }
    }
}

/// A valid detector configuration: every field somewhere in its allowed range.
fn fuzzed_config(input: &mut Input) -> dtmf::Config {
    dtmf::Config {
        min_level_dbm0: input.f32_in(-60.0, 0.0),
        max_normal_twist_db: input.f32_in(0.0, 20.0),
        max_reverse_twist_db: input.f32_in(0.0, 20.0),
        max_frequency_deviation: input.f32_in(0.005, 0.05),
        min_pair_share: input.f32_in(0.0, 1.0),
        min_relative_peak_db: input.f32_in(0.0, 30.0),
        min_harmonic_rejection_db: input.f32_in(0.0, 60.0),
        min_tone_ms: input.f32_in(20.0, 60.0),
        release_ms: input.f32_in(8.0, 60.0),
    }
}

/// Builds an 8 kHz signal from segments the input describes, up to [`MAX_SIGNAL`]. Each
/// segment is a kind byte (mod 6) and its parameters, one byte each unless noted:
/// - 0, digits: count (1 + mod 4), that many key indices (mod 16, keypad order), tone
///   length (x 0.5 ms), gap length (x 0.4 ms), level (-50 to +3 dBm0 per tone);
/// - 1, one DTMF tone: key, level, twist (-12 to +12 dB), frequency offset (-5 to +5 %),
///   length (x 16 samples);
/// - 2, single or dual tone: frequency (u16, 1 to 3 998 Hz), level, dual flag (bit 0),
///   second frequency and level if dual, length (x 16 samples);
/// - 3, silence: length (x 8 samples);
/// - 4, raw 16-bit samples added onto the end of the signal: count, gain (0 to 1), then
///   count little-endian `i16`s;
/// - 5, raw `f32` bit patterns appended (NaN, infinities, huge values): count (mod 32),
///   then count little-endian `u32`s.
fn build_signal(input: &mut Input) -> Vec<f32> {
    let rate = SampleRate::HZ_8000;
    let mut signal = Vec::new();
    while !input.is_empty() && signal.len() < MAX_SIGNAL {
        match input.u8() % 6 {
            // A digit sequence through `render_digits`.
            0 => {
                let count = 1 + usize::from(input.u8() % 4);
                let digits: Vec<Digit> = (0..count)
                    .map(|_| Digit::ALL[usize::from(input.u8() % 16)])
                    .collect();
                let cadence = Cadence {
                    on: Duration::from_micros(u64::from(input.u8()) * 500),
                    off: Duration::from_micros(u64::from(input.u8()) * 400),
                    level_dbm0: input.f32_in(-50.0, 3.0),
                };
                let rendered = render_digits(&digits, cadence, rate).expect("finite level");
                signal.extend_from_slice(&rendered);
            }
            // One DTMF tone with twist and frequency offset.
            1 => {
                let digit = Digit::ALL[usize::from(input.u8() % 16)];
                let tone = Tone::dtmf(digit, input.f32_in(-50.0, 3.0))
                    .with_twist(input.f32_in(-12.0, 12.0))
                    .with_deviation(input.f32_in(-0.05, 0.05));
                let len = usize::from(input.u8()) * 16;
                push_tone(&mut signal, &tone, len);
            }
            // A single or dual tone anywhere below 4 kHz.
            2 => {
                let first = Component::new(
                    1.0 + f32::from(input.u16() % 3_998),
                    input.f32_in(-50.0, 3.0),
                );
                let tone = if input.u8() & 1 == 0 {
                    Tone::single(first.frequency_hz, first.level_dbm0)
                } else {
                    let second = Component::new(
                        1.0 + f32::from(input.u16() % 3_998),
                        input.f32_in(-50.0, 3.0),
                    );
                    Tone::dual(first, second)
                };
                let len = usize::from(input.u8()) * 16;
                push_tone(&mut signal, &tone, len);
            }
            // Silence.
            3 => signal.resize(signal.len() + usize::from(input.u8()) * 8, 0.0),
            // Raw 16-bit samples, added onto the last samples of the signal (or
            // appended where the signal is shorter).
            4 => {
                let count = usize::from(input.u8());
                let gain = input.f32_in(0.0, 1.0);
                let raw: Vec<f32> = (0..count)
                    .map(|_| pcm::i16_to_f32(input.u16() as i16) * gain)
                    .collect();
                mix_in(&mut signal, &raw);
            }
            // Raw f32 bit patterns (NaN, infinities, huge values), appended.
            _ => {
                let count = usize::from(input.u8() % 32);
                signal.extend((0..count).map(|_| f32::from_bits(input.u32())));
            }
        }
    }
    signal.truncate(MAX_SIGNAL);
    signal
}

/// Appends `len` samples of `tone` at 8 kHz.
fn push_tone(signal: &mut Vec<f32>, tone: &Tone, len: usize) {
    let mut oscillator =
        Oscillator::new(tone, SampleRate::HZ_8000).expect("frequencies below 4 kHz, finite levels");
    let start = signal.len();
    signal.resize(start + len, 0.0);
    oscillator.process(&mut signal[start..]);
}

/// Adds `raw` onto the end of `signal`, lengthening it where `raw` is longer.
fn mix_in(signal: &mut Vec<f32>, raw: &[f32]) {
    let overlap = raw.len().min(signal.len());
    let start = signal.len() - overlap;
    for (s, r) in signal[start..].iter_mut().zip(raw) {
        *s += r;
    }
    signal.extend_from_slice(&raw[overlap..]);
}

/// An event with every number as bits, so comparisons are exact (NaN included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Pressed(Press),
    Released { press: Press, end: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Press {
    digit: char,
    start: u64,
    detected: u64,
    low_dbm0: u32,
    high_dbm0: u32,
}

impl From<dtmf::Keypress> for Press {
    fn from(k: dtmf::Keypress) -> Self {
        Press {
            digit: k.digit.as_char(),
            start: k.start.to_bits(),
            detected: k.detected,
            low_dbm0: k.low_dbm0.to_bits(),
            high_dbm0: k.high_dbm0.to_bits(),
        }
    }
}

/// The events of `signal` fed in `chunks` (cycled; whole when empty), then flushed; when
/// `observe`, the blocks of every other chunk (or of the whole) are shown to an observer.
fn run_detector(
    detector: &mut Detector,
    signal: &[f32],
    chunks: &[usize],
    observe: bool,
) -> Vec<Seen> {
    let mut events = Vec::new();
    let mut on_event = |event: Event| {
        events.push(match event {
            Event::Pressed(k) => Seen::Pressed(k.into()),
            Event::Released { keypress, end } => Seen::Released {
                press: keypress.into(),
                end: end.to_bits(),
            },
        })
    };
    assert_eq!(
        detector.position(),
        0,
        "detector_chunking: not at the stream start"
    );
    let mut feed = |detector: &mut Detector, samples: &[f32], observe: bool| {
        if observe {
            detector.process_observed(samples, &mut on_event, &mut |_| {});
        } else {
            detector.process(samples, &mut on_event);
        }
    };
    if chunks.is_empty() {
        feed(detector, signal, observe);
    } else {
        let mut rest = signal;
        for (n, &size) in (0..).zip(chunks.iter().cycle()) {
            if rest.is_empty() {
                break;
            }
            let (head, tail) = rest.split_at(size.min(rest.len()));
            feed(detector, head, observe && n % 2 == 1);
            rest = tail;
        }
    }
    assert_eq!(
        detector.position(),
        signal.len() as u64,
        "detector_chunking: position is not the samples consumed"
    );
    detector.flush(&mut on_event);
    assert_eq!(
        detector.position(),
        0,
        "detector_chunking: flush does not reset"
    );
    events
}

/// Structural properties of one event sequence for a signal of `len` samples.
fn check_events(events: &[Seen], len: usize) {
    let stream_end = len.div_ceil(BLOCK_LEN) * BLOCK_LEN;
    let mut pressed: Option<Press> = None;
    for event in events {
        match *event {
            Seen::Pressed(press) => {
                assert!(
                    pressed.is_none(),
                    "detector_chunking: two presses without a release"
                );
                assert_eq!(
                    press.detected % HALF_BLOCK as u64,
                    0,
                    "detector_chunking: report off a half-block boundary"
                );
                assert!(
                    press.detected as usize <= stream_end,
                    "detector_chunking: report after the end of the stream"
                );
                assert!(
                    f64::from_bits(press.start) <= press.detected as f64,
                    "detector_chunking: onset {} after the report at {}",
                    f64::from_bits(press.start),
                    press.detected
                );
                pressed = Some(press);
            }
            Seen::Released { press, end } => {
                assert_eq!(
                    pressed.take(),
                    Some(press),
                    "detector_chunking: release does not match the press"
                );
                assert!(
                    f64::from_bits(end) <= stream_end as f64,
                    "detector_chunking: release after the end of the stream"
                );
            }
        }
    }
    assert!(
        pressed.is_none(),
        "detector_chunking: flush leaves a digit pressed"
    );
}
