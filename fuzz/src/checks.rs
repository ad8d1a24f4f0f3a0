//! The properties the fuzz targets assert, one public function per target.
//!
//! Each function takes the raw fuzz input and panics (with a message naming the property)
//! when a property fails; it returns normally otherwise. This file depends only on `std`
//! and `tonegate`, because it is compiled twice: as `tonegate_fuzz::checks` by the fuzz
//! crate and, through `#[path]`, by `tests/fuzz_regressions.rs`, which replays the
//! committed crash inputs under plain `cargo test`.

use std::io::Cursor;
use std::time::Duration;

use tonegate::SampleRate;
use tonegate::codec::{self, Encoding, g711, pcm};
use tonegate::dsp::Digit;
use tonegate::dsp::dtmf::{self, BLOCK_LEN, Detector, Event, HALF_BLOCK};
use tonegate::dsp::tone::{Cadence, Component, Oscillator, Tone, render_digits};
use tonegate::media::wav::{self, SampleFormat, WavReader};
use tonegate::resample::{Filter, Resampler};

/// Reads structured values off the front of the fuzz input; past the end every read
/// gives zeros, so any input is a complete description.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// A value in `low..=high`, spread evenly over the byte's 256 values.
    fn f32_in(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * f32::from(self.u8()) / 255.0
    }

    /// Up to 15 chunk sizes: a count byte, then per chunk a byte read as 0-199 samples,
    /// or as a multiple of `step` above that. If every size is 0, `fallback` is added:
    /// empty chunks are fed too, but some chunk must make progress.
    fn chunk_sizes(&mut self, step: usize, fallback: &[usize]) -> Vec<usize> {
        let count = usize::from(self.u8() % 16);
        let mut chunks: Vec<usize> = self
            .bytes(count)
            .iter()
            .map(|&b| match b {
                0..=199 => usize::from(b),
                _ => usize::from(b - 200) * step,
            })
            .collect();
        if chunks.iter().all(|&size| size == 0) {
            chunks.extend_from_slice(fallback);
        }
        chunks
    }

    /// Up to `n` bytes (fewer at the end of the input).
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }
}

// ---------------------------------------------------------------------------------------
// wav_read
// ---------------------------------------------------------------------------------------

/// Smallest RIFF file with a data chunk: RIFF/WAVE (12), fmt chunk header and its
/// 16-byte minimum (24), data chunk header (8).
const MIN_WAV_HEADER: usize = 44;

/// How one read of a whole file ended.
#[derive(Debug, PartialEq)]
struct WavRead {
    /// Every sample delivered, as bits.
    samples: Vec<u32>,
    /// Frames delivered.
    frames: u64,
    /// The error that ended the read, rendered (`wav::Error` is not `PartialEq`).
    error: Option<String>,
}

/// `WavReader` on arbitrary bytes never panics and always terminates; every sample it
/// delivers is finite (and within full scale unless the file is float); the frames it
/// delivers fit in the bytes given and never exceed what the header announces; a
/// `Truncated` error counts the frames actually delivered and comes once, followed by
/// `Ok(0)`; and the samples and the final error do not depend on the caller's buffer
/// size (one frame at a time versus an input-derived size that need not be a whole
/// number of frames).
pub(crate) fn wav_read(data: &[u8]) {
    let Ok(reader) = WavReader::new(Cursor::new(data)) else {
        return;
    };
    let channels = usize::from(reader.channels());
    assert!(channels >= 1, "a reader with zero channels");
    drop(reader);

    let one_frame = read_wav(data, channels);
    // Up to 97 frames plus a partial frame, at most about a million samples.
    let frames = 1 + data.len() % 97;
    let frames = frames.min((1 << 20) / channels).max(1);
    let buffer_len = channels * frames + data.len() % channels;
    let many_frames = read_wav(data, buffer_len);
    assert_eq!(
        one_frame, many_frames,
        "wav_read: result depends on the buffer size (1 frame vs {buffer_len} samples)"
    );
}

/// Reads `data` to the end with a `buffer_len`-sample buffer, checking each call.
fn read_wav(data: &[u8], buffer_len: usize) -> WavRead {
    let mut reader = WavReader::new(Cursor::new(data)).expect("the same bytes opened before");
    let header = *reader.header();
    let channels = usize::from(reader.channels());
    let block_align = u64::from(header.block_align());
    assert!(block_align >= 1, "block align 0");
    let announced = reader.len_frames();
    assert_eq!(announced, u64::from(header.data_len()) / block_align);
    // The data chunk starts after at least MIN_WAV_HEADER bytes.
    let room = data.len().saturating_sub(MIN_WAV_HEADER) as u64 / block_align;
    let bounded = reader.sample_format() != SampleFormat::Float;

    let mut buf = vec![0.0f32; buffer_len];
    let mut read = WavRead {
        samples: Vec::new(),
        frames: 0,
        error: None,
    };
    let mut calls = 0u64;
    loop {
        calls += 1;
        // Each productive call delivers a frame, so this bounds the loop.
        assert!(
            calls <= room + 2,
            "wav_read: read_frames does not terminate"
        );
        match reader.read_frames(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                assert!(
                    n * channels <= buf.len(),
                    "wav_read: {n} frames of {channels} channels claimed in a {}-sample buffer",
                    buf.len()
                );
                for &sample in &buf[..n * channels] {
                    assert!(sample.is_finite(), "wav_read: sample {sample}");
                    assert!(
                        !bounded || sample.abs() <= 1.0,
                        "wav_read: integer sample {sample} beyond full scale"
                    );
                    read.samples.push(sample.to_bits());
                }
                read.frames += n as u64;
                assert!(
                    read.frames <= announced,
                    "wav_read: {} frames delivered, {announced} announced",
                    read.frames
                );
                assert!(
                    read.frames <= room,
                    "wav_read: {} frames of {block_align} bytes from {} bytes",
                    read.frames,
                    data.len()
                );
            }
            Err(e) => {
                if let wav::Error::Truncated {
                    frames_read,
                    frames_expected,
                } = e
                {
                    assert_eq!(frames_read, read.frames, "wav_read: Truncated miscounts");
                    assert_eq!(frames_expected, announced, "wav_read: Truncated miscounts");
                    assert!(read.frames < announced, "wav_read: Truncated but complete");
                }
                read.error = Some(e.to_string());
                break;
            }
        }
    }
    // Documented: after the end or an error, calls return Ok(0).
    for _ in 0..2 {
        assert_eq!(
            reader.read_frames(&mut buf).ok(),
            Some(0),
            "wav_read: reading past the end or an error must give Ok(0)"
        );
    }
    read
}

// ---------------------------------------------------------------------------------------
// g711_round_trip
// ---------------------------------------------------------------------------------------

/// mu-law's negative zero: decodes to 0, which encodes to 0xFF (positive zero).
const ULAW_NEGATIVE_ZERO: u8 = 0x7F;

/// 16-bit inputs at or beyond this magnitude (as the coder sees it: `x`, or `!x` for
/// negative `x`) saturate mu-law at its largest code (+-32 124): 4 x (8 159 + 1), the top
/// of the largest 14-bit interval.
const ULAW_SATURATION: i32 = 32_636;

/// Codes from `Encoding` round trip; every 16-bit value survives encode-decode within
/// half a quantisation step and encode-decode-encode is stable; S16le is exact; f32
/// input encodes as its rounded, saturated 16-bit value does; odd byte counts and short
/// buffers are errors, never panics.
///
/// The input is used three ways at once: as G.711 codes, as little-endian 16-bit
/// samples (its even-length prefix), and as little-endian `f32` bit patterns.
pub(crate) fn g711_round_trip(data: &[u8]) {
    // Decode then encode gives the codes back (mu-law 0x7F comes back as 0xFF).
    for encoding in [Encoding::Ulaw, Encoding::Alaw] {
        let mut samples = vec![f32::NAN; data.len()];
        assert_eq!(encoding.decode(data, &mut samples), Ok(data.len()));
        let mut codes = vec![0u8; data.len()];
        assert_eq!(encoding.encode(&samples, &mut codes), Ok(data.len()));
        for ((&code, &back), &sample) in data.iter().zip(&codes).zip(&samples) {
            let expected = match (encoding, code) {
                (Encoding::Ulaw, ULAW_NEGATIVE_ZERO) => 0xFF,
                _ => code,
            };
            assert_eq!(
                back, expected,
                "g711_round_trip: {encoding} code {code:#04x} decodes to {sample} and encodes to {back:#04x}"
            );
            assert!(
                sample.abs() < 1.0,
                "g711_round_trip: {encoding} decodes to {sample}"
            );
        }
    }

    // 16-bit samples: each one's G.711 properties, and S16le's exact round trip.
    let even = &data[..data.len() & !1];
    let mut linear = vec![0i16; even.len() / 2];
    assert_eq!(pcm::s16le_to_i16(even, &mut linear), Ok(linear.len()));
    for &x in &linear {
        g711_sample(x);
    }
    let mut samples = vec![f32::NAN; linear.len()];
    assert_eq!(Encoding::S16le.decode(even, &mut samples), Ok(linear.len()));
    for (&x, &sample) in linear.iter().zip(&samples) {
        assert_eq!(
            sample,
            pcm::i16_to_f32(x),
            "g711_round_trip: s16le decode of {x}"
        );
    }
    let mut bytes = vec![0u8; even.len()];
    assert_eq!(Encoding::S16le.encode(&samples, &mut bytes), Ok(even.len()));
    assert_eq!(
        bytes, even,
        "g711_round_trip: s16le decode-encode is not exact"
    );

    // Odd byte counts and short buffers are errors that leave the output alone.
    let mut out = vec![0.25f32; data.len()];
    if data.len() % 2 == 1 {
        assert_eq!(
            Encoding::S16le.decode(data, &mut out),
            Err(codec::Error::OddByteCount {
                len: data.len(),
                sample_size: 2
            })
        );
        assert!(
            out.iter().all(|&s| s == 0.25),
            "g711_round_trip: output touched"
        );
    }
    for encoding in Encoding::ALL {
        let needed = even.len() / encoding.bytes_per_sample();
        if needed > 0 {
            assert_eq!(
                encoding.decode(even, &mut out[..needed - 1]),
                Err(codec::Error::OutputTooShort {
                    needed,
                    available: needed - 1
                })
            );
            assert!(
                out.iter().all(|&s| s == 0.25),
                "g711_round_trip: output touched"
            );
        }
    }

    // Arbitrary f32 (NaN, infinities, huge, tiny): every encoding codes the sample as
    // round-to-nearest-even, saturating, NaN-as-zero 16-bit value.
    let floats: Vec<f32> = data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let mut s16 = vec![0u8; floats.len() * 2];
    let mut ulaw = vec![0u8; floats.len()];
    let mut alaw = vec![0u8; floats.len()];
    assert_eq!(Encoding::S16le.encode(&floats, &mut s16), Ok(s16.len()));
    assert_eq!(Encoding::Ulaw.encode(&floats, &mut ulaw), Ok(ulaw.len()));
    assert_eq!(Encoding::Alaw.encode(&floats, &mut alaw), Ok(alaw.len()));
    for (i, &x) in floats.iter().enumerate() {
        // `as` saturates and maps NaN to 0.
        let expected = (x * 32_768.0).round_ties_even() as i16;
        let got = i16::from_le_bytes([s16[2 * i], s16[2 * i + 1]]);
        assert_eq!(got, expected, "g711_round_trip: s16le encode of {x:e}");
        assert_eq!(
            ulaw[i],
            g711::linear_to_ulaw(expected),
            "mu-law encode of {x:e}"
        );
        assert_eq!(
            alaw[i],
            g711::linear_to_alaw(expected),
            "A-law encode of {x:e}"
        );
    }
}

/// One 16-bit value through both G.711 laws via [`Encoding`]: `decode(encode(x))` lies
/// within half the quantisation step of the code's segment from `x` (mu-law inputs
/// beyond its range give its largest code instead), the decoded value encodes to the
/// same code (mu-law -0 excepted, as above), and decode-encode-decode is idempotent.
pub(crate) fn g711_sample(x: i16) {
    for encoding in [Encoding::Ulaw, Encoding::Alaw] {
        let code = encode_one(encoding, pcm::i16_to_f32(x));
        let decoded = decode_one(encoding, code);
        let y = pcm::f32_to_i16(decoded);
        assert_eq!(
            pcm::i16_to_f32(y),
            decoded,
            "g711_sample: {encoding} decodes off the 16-bit grid"
        );
        let error = (i32::from(y) - i32::from(x)).abs();
        // The coders take the magnitude of negative input from its ones' complement.
        let magnitude = if x < 0 { i32::from(!x) } else { i32::from(x) };
        let (half_step, saturated) = match encoding {
            Encoding::Ulaw => {
                let exponent = (!code >> 4) & 0x07;
                (4 << exponent, magnitude >= ULAW_SATURATION)
            }
            _ => {
                let exponent = ((code ^ 0x55) >> 4) & 0x07;
                (8 << exponent.saturating_sub(1), false)
            }
        };
        if saturated {
            assert_eq!(
                i32::from(y).abs(),
                32_124,
                "g711_sample: mu-law {x} should saturate"
            );
        } else {
            assert!(
                error <= half_step,
                "g711_sample: {encoding} {x} -> {code:#04x} -> {y}: error {error} > half step {half_step}"
            );
        }

        let again = encode_one(encoding, decoded);
        if encoding == Encoding::Ulaw && code == ULAW_NEGATIVE_ZERO {
            assert_eq!(again, 0xFF, "g711_sample: mu-law -0 re-encodes as +0");
        } else {
            assert_eq!(
                again, code,
                "g711_sample: {encoding} {x} re-encodes differently"
            );
        }
        assert_eq!(
            decode_one(encoding, again).to_bits(),
            decoded.to_bits(),
            "g711_sample: {encoding} encode-decode is not idempotent for {x}"
        );
    }
}

fn encode_one(encoding: Encoding, sample: f32) -> u8 {
    let mut code = [0u8];
    assert_eq!(encoding.encode(&[sample], &mut code), Ok(1));
    code[0]
}

fn decode_one(encoding: Encoding, code: u8) -> f32 {
    let mut sample = [f32::NAN];
    assert_eq!(encoding.decode(&[code], &mut sample), Ok(1));
    sample[0]
}

// ---------------------------------------------------------------------------------------
// detector_chunking
// ---------------------------------------------------------------------------------------

/// Longest signal a detector input builds: 2 s at 8 kHz.
const MAX_SIGNAL: usize = 16_000;

/// The detector's events do not depend on chunking: a signal built from the input
/// (DTMF digits at fuzzed levels, cadences, twists and frequency offsets, single tones,
/// silence, and raw samples, mixed) gives bit-identical events fed whole, fed in fuzzed
/// chunk sizes (including empty chunks), and fed again whole to the same detector after
/// `flush`. Events are well formed: presses and releases alternate with matching
/// keypresses, every press is released by `flush`, reports fall on block boundaries
/// within the stream, and a press's onset is not after its report.
pub(crate) fn detector_chunking(data: &[u8]) {
    let case = DetectorCase::parse(data);
    let mut detector = Detector::new(case.config.clone()).expect("fuzzed config is in range");
    let whole = run_detector(&mut detector, &case.signal, &[]);
    check_events(&whole, case.signal.len());
    let again = run_detector(&mut detector, &case.signal, &[]);
    assert_eq!(
        whole, again,
        "detector_chunking: a flushed detector gives different events on the same signal"
    );
    let mut fresh = Detector::new(case.config).expect("fuzzed config is in range");
    let chunked = run_detector(&mut fresh, &case.signal, &case.chunks);
    assert_eq!(
        whole, chunked,
        "detector_chunking: chunks {:?} change the events",
        case.chunks
    );
}

/// The digits the detector reports for a `detector_chunking` input, fed whole: lets
/// tests confirm that the inputs exercise detection rather than only silence.
pub(crate) fn detector_digits(data: &[u8]) -> String {
    let case = DetectorCase::parse(data);
    let mut detector = Detector::new(case.config).expect("fuzzed config is in range");
    run_detector(&mut detector, &case.signal, &[])
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

/// Feeds `signal` in `chunks` (cycled; whole when empty), then flushes.
fn run_detector(detector: &mut Detector, signal: &[f32], chunks: &[usize]) -> Vec<Seen> {
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
    if chunks.is_empty() {
        detector.process(signal, &mut on_event);
    } else {
        let mut rest = signal;
        for &size in chunks.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (head, tail) = rest.split_at(size.min(rest.len()));
            detector.process(head, &mut on_event);
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

// ---------------------------------------------------------------------------------------
// resampler_chunking
// ---------------------------------------------------------------------------------------

/// The rates `resampler_chunking` converts between.
const RATES: [u32; 7] = [8_000, 11_025, 16_000, 22_050, 24_000, 44_100, 48_000];

/// Longest input signal a resampler input builds, in input samples.
const MAX_RESAMPLE_INPUT: usize = 4_096;

/// The resampler's output does not depend on chunking: for any pair of rates, either
/// filter, and any input, feeding it whole and in fuzzed chunk sizes (including empty
/// chunks) gives bit-identical output (`process` outputs and the `flush` tail
/// concatenated); no call writes more than `max_output_len` / `max_flush_len`; every
/// output is finite; `flush` leaves exactly the output samples whose position lies before
/// the end of the input; and a resampler that was flushed, or reset mid-stream, gives the
/// same output again. Equal rates copy the input unchanged.
///
/// Input: from-rate and to-rate indices (mod 7, into 8 000, 11 025, 16 000, 22 050,
/// 24 000, 44 100, 48 000), flags (bit 0: the detection filter; bit 1: also check a reset
/// after the first chunk), gain (0 to 2), signal length (u16, mod 4 097), a count byte
/// (mod 16) and that many chunk-size bytes (0 to 199, or 200 + k for k x 173), then
/// little-endian `i16` samples, cycled to the signal length and scaled by the gain.
pub(crate) fn resampler_chunking(data: &[u8]) {
    let mut input = Input::new(data);
    let from = rate_at(input.u8());
    let to = rate_at(input.u8());
    let flags = input.u8();
    let filter = if flags & 1 == 0 {
        Filter::Wideband
    } else {
        Filter::Detection
    };
    let gain = input.f32_in(0.0, 2.0);
    let len = usize::from(input.u16()) % (MAX_RESAMPLE_INPUT + 1);
    let chunks = input.chunk_sizes(173, &[1, 96, 0, 441, 7, 160]);
    let raw: Vec<f32> = input
        .bytes(usize::MAX)
        .chunks_exact(2)
        .map(|b| pcm::i16_to_f32(i16::from_le_bytes([b[0], b[1]])) * gain)
        .collect();
    let signal: Vec<f32> = if raw.is_empty() {
        vec![0.0; len]
    } else {
        raw.iter().copied().cycle().take(len).collect()
    };

    let mut resampler = Resampler::with_filter(from, to, filter).expect("supported rates");
    let whole = run_resampler(&mut resampler, &signal, &[]);
    if from == to {
        let bits: Vec<u32> = signal.iter().map(|s| s.to_bits()).collect();
        assert_eq!(
            whole, bits,
            "resampler_chunking: {from} pass-through changes samples"
        );
    }

    // Exactly the output samples that represent input before the end of the input.
    let end = signal.len() as f64;
    let position = |i: usize| resampler.output_to_input_position(i as f64);
    if let Some(last) = whole.len().checked_sub(1) {
        assert!(
            position(last) < end + 1e-6,
            "resampler_chunking: {from} -> {to}: output {last} at input {} is past the end {end}",
            position(last)
        );
    }
    assert!(
        position(whole.len()) >= end - 1e-6,
        "resampler_chunking: {from} -> {to}: {} outputs stop short of input {end} (next at {})",
        whole.len(),
        position(whole.len())
    );

    // Chunked, on the same resampler: `flush` must have reset it (construction is the
    // expensive part of a run, so the fresh start is not rebuilt).
    let chunked = run_resampler(&mut resampler, &signal, &chunks);
    assert_eq!(
        whole.len(),
        chunked.len(),
        "resampler_chunking: {from} -> {to}: chunks {chunks:?} change the output length"
    );
    if let Some(i) = whole.iter().zip(&chunked).position(|(a, b)| a != b) {
        panic!(
            "resampler_chunking: {from} -> {to} ({filter:?}): chunks {chunks:?} change output {i}: {} vs {}",
            f32::from_bits(whole[i]),
            f32::from_bits(chunked[i])
        );
    }

    // Reset mid-stream starts over too.
    if flags & 2 != 0 {
        let prefix = &signal[..chunks[0].min(signal.len())];
        let mut scratch = vec![0.0; resampler.max_output_len(prefix.len())];
        resampler.process(prefix, &mut scratch);
        resampler.reset();
        let after_reset = run_resampler(&mut resampler, &signal, &[]);
        assert_eq!(
            whole, after_reset,
            "resampler_chunking: {from} -> {to}: output differs after reset"
        );
    }
}

fn rate_at(index: u8) -> SampleRate {
    SampleRate::new(RATES[usize::from(index) % RATES.len()]).expect("supported rate")
}

/// Feeds `signal` in `chunks` (cycled; whole when empty), then flushes; returns the
/// output as bits. Every call gets an output buffer of exactly the documented bound.
fn run_resampler(resampler: &mut Resampler, signal: &[f32], chunks: &[usize]) -> Vec<u32> {
    let mut output = Vec::new();
    let mut out = Vec::new();
    let mut feed = |resampler: &mut Resampler, chunk: &[f32]| {
        let bound = resampler.max_output_len(chunk.len());
        out.clear();
        out.resize(bound, f32::NAN);
        let written = resampler.process(chunk, &mut out);
        assert!(
            written <= bound,
            "resampler_chunking: process wrote {written} > max_output_len {bound}"
        );
        output.extend(out[..written].iter().map(|s| s.to_bits()));
    };
    if chunks.is_empty() {
        feed(resampler, signal);
    } else {
        let mut rest = signal;
        for &size in chunks.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (head, tail) = rest.split_at(size.min(rest.len()));
            feed(resampler, head);
            rest = tail;
        }
    }
    let bound = resampler.max_flush_len();
    let mut tail = vec![f32::NAN; bound];
    let written = resampler.flush(&mut tail);
    assert!(
        written <= bound,
        "resampler_chunking: flush wrote {written} > max_flush_len {bound}"
    );
    output.extend(tail[..written].iter().map(|s| s.to_bits()));
    for &bits in &output {
        let sample = f32::from_bits(bits);
        assert!(sample.is_finite(), "resampler_chunking: output {sample}");
    }
    output
}

// ---------------------------------------------------------------------------------------
// Peer-facing parsers: one module per surface. The paths are explicit so this file
// finds them the same way when `tests/fuzz_regressions.rs` includes it.
// ---------------------------------------------------------------------------------------

#[path = "checks/api.rs"]
mod api;
#[path = "checks/frames.rs"]
mod frames;
#[path = "checks/stream.rs"]
mod stream;

pub(crate) use api::{api_auth, api_request};
pub(crate) use frames::proto_frame;
pub(crate) use stream::{jwks_parse, jwt_verify, stream_query};
