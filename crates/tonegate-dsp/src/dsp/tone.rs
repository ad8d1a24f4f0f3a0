//! Tone generation: DTMF digits and arbitrary single or dual tones at dBm0 levels.
//!
//! - [`Tone`] describes a single or dual tone: a frequency and a level in dBm0 for each
//!   component, so tests can set frequency deviation and twist tone by tone.
//! - [`Oscillator`] generates one tone at one rate, phase-continuous across calls and
//!   allocation-free: any chunking of the output gives bit-identical samples.
//! - [`DigitSender`] plays a digit sequence with on/off timing into caller buffers chunk
//!   by chunk (live sending); [`render_digits`] renders a whole sequence into a `Vec`.
//!
//! Levels follow [`crate::dsp::level`]: a component at 0 dBm0 has a peak of
//! [`DBM0_PEAK`](crate::dsp::level::DBM0_PEAK) (about 22 800 in 16-bit terms). Output is
//! `f32` with full scale 1.0 and is never clipped here: two components at 0 dBm0 peak at
//! about 1.39. Encoding to 16-bit PCM or G.711 saturates, so keep dual tones at or below
//! about -3 dBm0 per component when the result must stay within full scale.

use std::f64::consts::TAU;
use std::time::Duration;

use crate::SampleRate;
use crate::dsp::keypad::Digit;
use crate::dsp::level::dbm0_to_peak;

/// A tone that cannot be generated at the requested rate.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum Error {
    /// A frequency at or below 0 Hz, at or above half the sample rate, or not a number.
    #[error("tone frequency {hz} Hz is not between 0 and {nyquist} Hz (exclusive)")]
    Frequency {
        /// The frequency asked for.
        hz: f32,
        /// Half the sample rate.
        nyquist: f32,
    },
    /// A level that is not a finite number.
    #[error("tone level {dbm0} dBm0 is not a finite number")]
    Level {
        /// The level asked for.
        dbm0: f32,
    },
}

/// One sinusoidal component of a tone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Component {
    /// Frequency in hertz.
    pub frequency_hz: f32,
    /// Level in dBm0 (0 dBm0 is a peak of [`DBM0_PEAK`](crate::dsp::level::DBM0_PEAK)).
    pub level_dbm0: f32,
}

impl Component {
    /// A component at `frequency_hz` and `level_dbm0`.
    pub fn new(frequency_hz: f32, level_dbm0: f32) -> Component {
        Component {
            frequency_hz,
            level_dbm0,
        }
    }
}

/// A single or dual tone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tone {
    components: [Component; 2],
    count: usize,
}

impl Tone {
    /// A single tone (1004 Hz test tone, 2100 Hz answer tone, ...).
    pub fn single(frequency_hz: f32, level_dbm0: f32) -> Tone {
        let component = Component::new(frequency_hz, level_dbm0);
        Tone {
            components: [component; 2],
            count: 1,
        }
    }

    /// A dual tone (call-progress tones, DTMF with arbitrary frequencies and levels).
    pub fn dual(first: Component, second: Component) -> Tone {
        Tone {
            components: [first, second],
            count: 2,
        }
    }

    /// The DTMF tone for `digit`: its row (low group) frequency first, then its column
    /// (high group) frequency, each at `level_dbm0`.
    pub fn dtmf(digit: Digit, level_dbm0: f32) -> Tone {
        let (low, high) = digit.frequencies();
        Tone::dual(
            Component::new(low, level_dbm0),
            Component::new(high, level_dbm0),
        )
    }

    /// The components: one for a single tone, two for a dual tone.
    pub fn components(&self) -> &[Component] {
        &self.components[..self.count]
    }

    /// The components, to adjust frequency or level of each one.
    pub fn components_mut(&mut self) -> &mut [Component] {
        &mut self.components[..self.count]
    }

    /// Sets the second component's level to the first's plus `twist_db`. For a DTMF tone
    /// that is the twist as Q.24 counts it (high group minus low group): positive raises
    /// the high group. A single tone is returned unchanged.
    pub fn with_twist(mut self, twist_db: f32) -> Tone {
        if self.count == 2 {
            self.components[1].level_dbm0 = self.components[0].level_dbm0 + twist_db;
        }
        self
    }

    /// Moves every frequency by `fraction` of itself (`0.015` is +1.5 %).
    pub fn with_deviation(mut self, fraction: f32) -> Tone {
        for component in self.components_mut() {
            component.frequency_hz *= 1.0 + fraction;
        }
        self
    }
}

/// One component as an oscillator runs it.
#[derive(Debug, Clone, Copy)]
struct Partial {
    /// Phase as a fraction of a cycle, in units of 2^-32 (wraps exactly).
    phase: u32,
    /// Phase step per sample, same units.
    increment: u32,
    amplitude: f64,
}

/// Phase units per cycle.
const PHASE_UNITS: f64 = 4_294_967_296.0;

/// A phase-continuous generator for one [`Tone`] at one rate.
///
/// Phase is an exact 32-bit accumulator (frequency resolution below 0.000 012 Hz at
/// 48 kHz), so output does not drift and does not depend on how calls split it.
#[derive(Debug, Clone)]
pub struct Oscillator {
    partials: [Partial; 2],
    count: usize,
}

impl Oscillator {
    /// An oscillator for `tone` at `rate`, starting at phase 0 (the first sample is 0).
    ///
    /// Fails if a frequency is not strictly between 0 Hz and half the rate, or a level is
    /// not finite.
    pub fn new(tone: &Tone, rate: SampleRate) -> Result<Oscillator, Error> {
        let nyquist = rate.hz() as f32 / 2.0;
        for component in tone.components() {
            let hz = component.frequency_hz;
            // Written so that NaN fails too.
            if !(hz > 0.0 && hz < nyquist) {
                return Err(Error::Frequency { hz, nyquist });
            }
            if !component.level_dbm0.is_finite() {
                return Err(Error::Level {
                    dbm0: component.level_dbm0,
                });
            }
        }
        Ok(Oscillator::checked(tone, rate))
    }

    /// Builds an oscillator for a tone already known to be valid at `rate`.
    fn checked(tone: &Tone, rate: SampleRate) -> Oscillator {
        let partial = |component: &Component| Partial {
            phase: 0,
            increment: (f64::from(component.frequency_hz) / f64::from(rate.hz()) * PHASE_UNITS)
                .round() as u32,
            amplitude: f64::from(dbm0_to_peak(component.level_dbm0)),
        };
        Oscillator {
            partials: [partial(&tone.components[0]), partial(&tone.components[1])],
            count: tone.count,
        }
    }

    /// Writes (overwrites) the next `out.len()` samples of the tone into `out`.
    pub fn process(&mut self, out: &mut [f32]) {
        let partials = &mut self.partials[..self.count];
        for sample in out {
            let mut value = 0.0;
            for partial in partials.iter_mut() {
                value += partial.amplitude * (f64::from(partial.phase) * (TAU / PHASE_UNITS)).sin();
                partial.phase = partial.phase.wrapping_add(partial.increment);
            }
            *sample = value as f32;
        }
    }

    /// Returns to phase 0, as if just constructed.
    pub fn reset(&mut self) {
        for partial in &mut self.partials {
            partial.phase = 0;
        }
    }
}

/// Timing and level for sending digits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cadence {
    /// How long each digit's tone lasts. Default 100 ms.
    pub on: Duration,
    /// Silence after each digit, the last one included. Default 100 ms.
    pub off: Duration,
    /// Level of each of the digit's two components, in dBm0. Default -10 dBm0.
    pub level_dbm0: f32,
}

impl Default for Cadence {
    fn default() -> Self {
        Cadence {
            on: Duration::from_millis(100),
            off: Duration::from_millis(100),
            level_dbm0: -10.0,
        }
    }
}

/// Plays a digit sequence into caller buffers, chunk by chunk: each digit's DTMF tone
/// for [`Cadence::on`], then [`Cadence::off`] of silence (after the last digit too).
///
/// Durations round to whole samples at the rate, so digit `i` occupies samples
/// `i * (on + off) .. i * (on + off) + on` exactly. Each digit's tone starts at phase 0.
/// Allocates only in [`DigitSender::new`]; output is bit-identical however it is chunked.
#[derive(Debug, Clone)]
pub struct DigitSender {
    digits: Vec<Digit>,
    level_dbm0: f32,
    rate: SampleRate,
    on_samples: usize,
    period_samples: usize,
    /// Index of the digit being played.
    index: usize,
    /// Samples already played of the current digit's period.
    position: usize,
    oscillator: Oscillator,
}

impl DigitSender {
    /// A sender for `digits` with `cadence` at `rate`. Fails if the level is not finite.
    pub fn new(digits: &[Digit], cadence: Cadence, rate: SampleRate) -> Result<Self, Error> {
        let first = Tone::dtmf(
            digits.first().copied().unwrap_or(Digit::ALL[0]),
            cadence.level_dbm0,
        );
        // Every DTMF frequency is below half of the lowest supported rate, so this only
        // checks the level.
        let oscillator = Oscillator::new(&first, rate)?;
        let on_samples = rate.ms_to_samples(cadence.on.as_secs_f64() * 1000.0);
        let off_samples = rate.ms_to_samples(cadence.off.as_secs_f64() * 1000.0);
        Ok(DigitSender {
            digits: digits.to_vec(),
            level_dbm0: cadence.level_dbm0,
            rate,
            on_samples,
            period_samples: on_samples.saturating_add(off_samples),
            index: 0,
            position: 0,
            oscillator,
        })
    }

    /// Total length of the sequence in samples.
    pub fn len_samples(&self) -> usize {
        self.digits.len().saturating_mul(self.period_samples)
    }

    /// Whether every sample of the sequence has been written.
    pub fn is_finished(&self) -> bool {
        self.index >= self.digits.len() || self.period_samples == 0
    }

    /// Writes (overwrites) the next samples of the sequence into `out`; returns how many,
    /// which is `out.len()` until the sequence ends, then fewer, then 0.
    pub fn process(&mut self, out: &mut [f32]) -> usize {
        let mut written = 0;
        while written < out.len() && !self.is_finished() {
            let space = out.len() - written;
            let chunk = if self.position < self.on_samples {
                let n = (self.on_samples - self.position).min(space);
                self.oscillator.process(&mut out[written..written + n]);
                n
            } else {
                let n = (self.period_samples - self.position).min(space);
                out[written..written + n].fill(0.0);
                n
            };
            written += chunk;
            self.position += chunk;
            if self.position == self.period_samples {
                self.position = 0;
                self.index += 1;
                if let Some(&digit) = self.digits.get(self.index) {
                    self.oscillator =
                        Oscillator::checked(&Tone::dtmf(digit, self.level_dbm0), self.rate);
                }
            }
        }
        written
    }
}

/// Renders a whole digit sequence (see [`DigitSender`]) into a new buffer.
pub fn render_digits(
    digits: &[Digit],
    cadence: Cadence,
    rate: SampleRate,
) -> Result<Vec<f32>, Error> {
    let mut sender = DigitSender::new(digits, cadence, rate)?;
    let mut samples = vec![0.0; sender.len_samples()];
    sender.process(&mut samples);
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::level::DBM0_PEAK;

    fn render(tone: &Tone, rate: SampleRate, samples: usize) -> Vec<f32> {
        let mut oscillator = Oscillator::new(tone, rate).unwrap();
        let mut out = vec![0.0; samples];
        oscillator.process(&mut out);
        out
    }

    /// Amplitude of the `hz` component of `signal` (a single-bin DFT, scaled to peak).
    fn amplitude_at(signal: &[f32], hz: f64, rate: SampleRate) -> f64 {
        let w = TAU * hz / f64::from(rate.hz());
        let (mut re, mut im) = (0.0, 0.0);
        for (n, &x) in signal.iter().enumerate() {
            re += f64::from(x) * (w * n as f64).cos();
            im -= f64::from(x) * (w * n as f64).sin();
        }
        2.0 * re.hypot(im) / signal.len() as f64
    }

    fn peak(signal: &[f32]) -> f32 {
        signal.iter().fold(0.0, |max, x| max.max(x.abs()))
    }

    fn digits(text: &str) -> Vec<Digit> {
        text.chars().map(|c| Digit::from_char(c).unwrap()).collect()
    }

    fn rates() -> [SampleRate; 5] {
        [8_000, 16_000, 24_000, 44_100, 48_000].map(|hz| SampleRate::new(hz).unwrap())
    }

    #[test]
    fn zero_dbm0_sine_peaks_at_the_digital_milliwatt() {
        for rate in rates() {
            // 1004 Hz is not a sub-multiple of any rate, so one second visits all phases.
            let signal = render(&Tone::single(1_004.0, 0.0), rate, rate.hz() as usize);
            let peak = peak(&signal);
            assert!((peak - DBM0_PEAK).abs() < 1e-4, "{rate}: {peak}");
            assert!(
                (peak * 32_768.0 - 22_827.0).abs() < 4.0,
                "{rate}: {}",
                peak * 32_768.0
            );
            let rms = (signal.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>()
                / signal.len() as f64)
                .sqrt();
            assert!(
                (rms * 2f64.sqrt() - f64::from(DBM0_PEAK)).abs() < 1e-4,
                "{rate}: {rms}"
            );
        }
        let quiet = render(&Tone::single(1_004.0, -20.0), SampleRate::HZ_8000, 8_000);
        assert!((peak(&quiet) / DBM0_PEAK - 0.1).abs() < 1e-4);
    }

    #[test]
    fn frequency_is_exact() {
        for rate in rates() {
            for hz in [350.0f32, 697.0, 1_633.0, 2_100.0, 3_500.0] {
                // Sign changes over one second: two per cycle.
                let signal = render(&Tone::single(hz, -10.0), rate, rate.hz() as usize + 1);
                let crossings = signal
                    .windows(2)
                    .filter(|pair| (pair[0] < 0.0) != (pair[1] < 0.0))
                    .count();
                assert!(
                    crossings.abs_diff(2 * hz as usize) <= 1,
                    "{rate} {hz}: {crossings}"
                );
            }
        }
    }

    #[test]
    fn dtmf_holds_exactly_its_two_keypad_frequencies() {
        use crate::dsp::keypad::{COLUMN_HZ, ROW_HZ};
        let rate = SampleRate::HZ_8000;
        for digit in Digit::ALL {
            let signal = render(&Tone::dtmf(digit, -10.0), rate, 8_000);
            let (low, high) = digit.frequencies();
            for hz in ROW_HZ.iter().chain(&COLUMN_HZ) {
                let amplitude = amplitude_at(&signal, f64::from(*hz), rate);
                let expected = if *hz == low || *hz == high {
                    f64::from(dbm0_to_peak(-10.0))
                } else {
                    0.0
                };
                assert!(
                    (amplitude - expected).abs() < 1e-3,
                    "{digit} {hz}: {amplitude}"
                );
            }
        }
    }

    #[test]
    fn twist_and_deviation_apply_per_component() {
        let digit = Digit::from_char('5').unwrap();
        let tone = Tone::dtmf(digit, -10.0)
            .with_twist(4.0)
            .with_deviation(0.015);
        let [low, high] = tone.components() else {
            panic!("dual tone expected");
        };
        assert_eq!(*low, Component::new(770.0 * 1.015, -10.0));
        assert_eq!(*high, Component::new(1_336.0 * 1.015, -6.0));
        let rate = SampleRate::HZ_16000;
        let signal = render(&tone, rate, 16_000);
        let ratio_db = 20.0
            * (amplitude_at(&signal, f64::from(high.frequency_hz), rate)
                / amplitude_at(&signal, f64::from(low.frequency_hz), rate))
            .log10();
        assert!((ratio_db - 4.0).abs() < 0.01, "{ratio_db}");

        let mut single = Tone::single(440.0, -3.0).with_twist(6.0);
        assert_eq!(single.components(), [Component::new(440.0, -3.0)]);
        single.components_mut()[0].frequency_hz = 480.0;
        assert_eq!(single.components()[0].frequency_hz, 480.0);
    }

    #[test]
    fn rejects_frequencies_outside_the_band_and_bad_levels() {
        let rate = SampleRate::HZ_8000;
        for hz in [0.0, -5.0, 4_000.0, 5_000.0, f32::NAN] {
            assert!(matches!(
                Oscillator::new(&Tone::single(hz, 0.0), rate),
                Err(Error::Frequency { .. })
            ));
        }
        for dbm0 in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            assert!(matches!(
                Oscillator::new(&Tone::single(1_000.0, dbm0), rate),
                Err(Error::Level { .. })
            ));
        }
        let cadence = Cadence {
            level_dbm0: f32::NAN,
            ..Cadence::default()
        };
        assert!(DigitSender::new(&digits("1"), cadence, rate).is_err());
        assert!(Oscillator::new(&Tone::single(3_999.0, 0.0), rate).is_ok());
    }

    #[test]
    fn dual_tone_at_0_dbm0_is_unclipped_here_and_saturates_when_encoded() {
        let rate = SampleRate::HZ_8000;
        let digit = Digit::from_char('1').unwrap();
        let signal = render(&Tone::dtmf(digit, 0.0), rate, 8_000);
        let peak = peak(&signal);
        assert!(peak > 1.3 && peak <= 2.0 * DBM0_PEAK, "{peak}");

        let mut file = std::io::Cursor::new(Vec::new());
        crate::wav::write_wav(
            &mut file,
            rate.hz(),
            1,
            crate::codec::Encoding::S16le,
            &signal,
        )
        .unwrap();
        file.set_position(0);
        let encoded: Vec<i16> = hound::WavReader::new(file)
            .unwrap()
            .samples::<i16>()
            .map(Result::unwrap)
            .collect();
        assert_eq!(encoded.iter().max(), Some(&i16::MAX));
        assert_eq!(encoded.iter().min(), Some(&i16::MIN));
    }

    #[test]
    fn digits_last_exactly_their_cadence_to_the_sample() {
        for (rate, on_ms, off_ms) in [
            (SampleRate::HZ_8000, 40, 60),
            (SampleRate::new(44_100).unwrap(), 40, 40),
            (SampleRate::HZ_48000, 23, 0),
        ] {
            let cadence = Cadence {
                on: Duration::from_millis(on_ms),
                off: Duration::from_millis(off_ms),
                level_dbm0: -7.0,
            };
            let sequence = digits("1*9D");
            let signal = render_digits(&sequence, cadence, rate).unwrap();
            let on = rate.hz() as usize * on_ms as usize / 1_000;
            let period = on + rate.hz() as usize * off_ms as usize / 1_000;
            assert_eq!(signal.len(), 4 * period);
            for (i, &digit) in sequence.iter().enumerate() {
                let tone = &signal[i * period..i * period + on];
                let silence = &signal[i * period + on..(i + 1) * period];
                // The tone runs to its last sample and the silence is exact zero.
                assert_eq!(tone, render(&Tone::dtmf(digit, -7.0), rate, on));
                assert!(tone[on - 4..].iter().any(|&x| x != 0.0));
                assert!(silence.iter().all(|&x| x == 0.0));
            }
        }
    }

    #[test]
    fn output_is_bit_identical_however_it_is_chunked() {
        let rate = SampleRate::HZ_16000;
        let cadence = Cadence {
            on: Duration::from_millis(45),
            off: Duration::from_millis(35),
            level_dbm0: -3.0,
        };
        let sequence = digits("0123456789*#ABCD");
        let whole = render_digits(&sequence, cadence, rate).unwrap();
        let tone = Tone::dual(Component::new(350.0, -13.0), Component::new(440.0, -13.0));
        let tone_whole = render(&tone, rate, whole.len());

        let mut seed = 0x2545_F491u32;
        for max_chunk in [1, 7, 160, 1_000, 5_000] {
            let mut sender = DigitSender::new(&sequence, cadence, rate).unwrap();
            let mut oscillator = Oscillator::new(&tone, rate).unwrap();
            let mut chunked = vec![f32::NAN; whole.len() + 100];
            let mut tone_chunked = vec![f32::NAN; whole.len()];
            let mut at = 0;
            while !sender.is_finished() {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let size = 1 + (seed >> 8) as usize % max_chunk;
                let end = (at + size).min(chunked.len());
                let written = sender.process(&mut chunked[at..end]);
                assert!(written == end - at || sender.is_finished());
                oscillator.process(&mut tone_chunked[at..at + written]);
                at += written;
            }
            assert_eq!(at, whole.len());
            assert_eq!(sender.process(&mut chunked[at..]), 0);
            assert_eq!(chunked[..at], whole[..], "chunks up to {max_chunk}");
            assert_eq!(tone_chunked, tone_whole, "chunks up to {max_chunk}");
        }
    }

    #[test]
    fn reset_restarts_the_tone() {
        let rate = SampleRate::HZ_8000;
        let tone = Tone::single(1_000.0, -10.0);
        let mut oscillator = Oscillator::new(&tone, rate).unwrap();
        let mut first = [0.0; 37];
        let mut again = [0.0; 37];
        oscillator.process(&mut first);
        oscillator.reset();
        oscillator.process(&mut again);
        assert_eq!(first, again);
        assert_eq!(first[0], 0.0);
    }

    #[test]
    fn empty_or_zero_length_sequences_write_nothing() {
        let rate = SampleRate::HZ_8000;
        let mut buf = [1.0; 16];
        let mut empty = DigitSender::new(&[], Cadence::default(), rate).unwrap();
        assert!(empty.is_finished());
        assert_eq!(empty.process(&mut buf), 0);
        let zero = Cadence {
            on: Duration::ZERO,
            off: Duration::ZERO,
            ..Cadence::default()
        };
        let mut sender = DigitSender::new(&digits("12"), zero, rate).unwrap();
        assert_eq!(sender.len_samples(), 0);
        assert_eq!(sender.process(&mut buf), 0);
        assert_eq!(buf, [1.0; 16]);
    }
}
