//! Stand-in for `crate::receiver::Receiver` until it lands on `main`: same shape (`new(rate, config)`, `process(samples, on_event)`,
//! `flush(on_event)`, positions in input samples), built from a plain windowed-sinc
//! converter and the 8 kHz [`dtmf::Detector`].
//!
//! Swap this module for the real receiver by changing the `use` in `session/mod.rs`.

use std::f64::consts::PI;

use crate::SampleRate;
use crate::dsp::dtmf::{self, ANALYSIS_RATE, Detector, Event, Keypress};

/// Half-width of the interpolation kernel, in samples of the lower of the two rates.
const HALF_TAPS: f64 = 12.0;
/// Cutoff as a share of the lower rate's Nyquist frequency.
const CUTOFF: f64 = 0.92;

/// Streaming windowed-sinc sample-rate converter (any ratio; allocation only in `new`).
#[derive(Debug, Clone)]
pub(crate) struct Converter {
    /// Input samples per output sample.
    step: f64,
    /// Cutoff in cycles per input sample.
    cutoff: f64,
    /// Kernel half-width in input samples.
    half: f64,
    /// Input history; `history[0]` is input sample `base`.
    history: Vec<f32>,
    base: u64,
    /// Input samples seen.
    consumed: u64,
    /// Output samples produced.
    produced: u64,
    identity: bool,
}

impl Converter {
    pub(crate) fn new(from: SampleRate, to: SampleRate) -> Converter {
        let (from_hz, to_hz) = (f64::from(from.hz()), f64::from(to.hz()));
        let step = from_hz / to_hz;
        let cutoff = CUTOFF * 0.5 * (to_hz / from_hz).min(1.0);
        let half = HALF_TAPS * step.max(1.0);
        Converter {
            step,
            cutoff,
            half,
            history: Vec::with_capacity(4 * half.ceil() as usize + 4096),
            base: 0,
            consumed: 0,
            produced: 0,
            identity: from == to,
        }
    }

    /// Input position (fractional input samples) of output sample `index`.
    pub(crate) fn output_to_input(&self, index: f64) -> f64 {
        index * self.step
    }

    fn kernel(&self, distance: f64) -> f64 {
        if distance.abs() >= self.half {
            return 0.0;
        }
        let x = 2.0 * self.cutoff * distance;
        let sinc = if x.abs() < 1e-9 {
            1.0
        } else {
            (PI * x).sin() / (PI * x)
        };
        let window = 0.5 + 0.5 * (PI * distance / self.half).cos();
        2.0 * self.cutoff * sinc * window
    }

    fn emit(&mut self, until: f64, out: &mut [f32]) -> usize {
        let mut written = 0;
        while written < out.len() {
            let t = self.produced as f64 * self.step;
            if t + self.half > until {
                break;
            }
            let first = (t - self.half).ceil().max(0.0) as u64;
            let last = (t + self.half).floor() as u64;
            let mut acc = 0.0f64;
            for k in first.max(self.base)..=last {
                let index = (k - self.base) as usize;
                let x = self.history.get(index).copied().unwrap_or(0.0);
                acc += f64::from(x) * self.kernel(t - k as f64);
            }
            out[written] = acc as f32;
            written += 1;
            self.produced += 1;
        }
        // Drop history no later output needs.
        let next_t = self.produced as f64 * self.step;
        let keep_from = (next_t - self.half).floor().max(0.0) as u64;
        if keep_from > self.base {
            let drop = ((keep_from - self.base) as usize).min(self.history.len());
            self.history.drain(..drop);
            self.base += drop as u64;
        }
        written
    }

    /// Converts `input`, writing up to `out.len()` samples; returns how many.
    pub(crate) fn process(&mut self, input: &[f32], out: &mut [f32]) -> usize {
        if self.identity {
            let n = input.len().min(out.len());
            out[..n].copy_from_slice(&input[..n]);
            self.consumed += n as u64;
            self.produced += n as u64;
            return n;
        }
        self.history.extend_from_slice(input);
        self.consumed += input.len() as u64;
        self.emit(self.consumed as f64, out)
    }

    /// Ends the input (pads with silence); returns the samples written.
    pub(crate) fn flush(&mut self, out: &mut [f32]) -> usize {
        if self.identity {
            return 0;
        }
        let end_t = self.consumed as f64;
        let mut written = 0;
        while written < out.len() && (self.produced as f64) * self.step < end_t {
            let t = self.produced as f64 * self.step;
            let n = self.emit(t + self.half, &mut out[written..written + 1]);
            if n == 0 {
                break;
            }
            written += n;
        }
        written
    }
}

/// A DTMF receiver for one channel at any rate: converter to 8 kHz plus detector.
/// Positions in events are in input samples.
#[derive(Debug, Clone)]
pub struct Receiver {
    converter: Converter,
    detector: Detector,
    scratch: Vec<f32>,
}

impl Receiver {
    /// A receiver for a stream at `rate`.
    pub fn new(rate: SampleRate, config: dtmf::Config) -> Result<Receiver, dtmf::ConfigError> {
        let analysis = SampleRate::new(ANALYSIS_RATE).expect("8 kHz is supported");
        Ok(Receiver {
            converter: Converter::new(rate, analysis),
            detector: Detector::new(config)?,
            scratch: vec![0.0; 4096],
        })
    }

    fn map(converter: &Converter, event: Event) -> Event {
        let map_press = |k: Keypress| Keypress {
            start: converter.output_to_input(k.start),
            detected: converter.output_to_input(k.detected as f64).round() as u64,
            ..k
        };
        match event {
            Event::Pressed(k) => Event::Pressed(map_press(k)),
            Event::Released { keypress, end } => Event::Released {
                keypress: map_press(keypress),
                end: converter.output_to_input(end),
            },
        }
    }

    /// Consumes `samples` (full scale 1.0) and reports events in input-sample positions.
    pub fn process(&mut self, samples: &[f32], on_event: &mut impl FnMut(Event)) {
        let chunk = self.scratch.len() / 2;
        for piece in samples.chunks(chunk.max(1)) {
            let n = self.converter.process(piece, &mut self.scratch);
            let converter = &self.converter;
            self.detector.process(&self.scratch[..n], &mut |e| {
                on_event(Self::map(converter, e))
            });
        }
    }

    /// Ends the stream.
    pub fn flush(&mut self, on_event: &mut impl FnMut(Event)) {
        let n = self.converter.flush(&mut self.scratch);
        let converter = &self.converter;
        self.detector.process(&self.scratch[..n], &mut |e| {
            on_event(Self::map(converter, e))
        });
        self.detector
            .flush(&mut |e| on_event(Self::map(converter, e)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::Digit;
    use crate::dsp::tone::{Cadence, render_digits};

    #[test]
    fn finds_digits_at_16_khz_with_input_positions() {
        let rate = SampleRate::HZ_16000;
        let digits: Vec<Digit> = "159#"
            .chars()
            .map(|c| Digit::from_char(c).unwrap())
            .collect();
        let mut signal = vec![0.0; 1_600];
        signal.extend(render_digits(&digits, Cadence::default(), rate).unwrap());
        let mut receiver = Receiver::new(rate, dtmf::Config::default()).unwrap();
        let mut found = Vec::new();
        for chunk in signal.chunks(333) {
            receiver.process(chunk, &mut |e| {
                if let Event::Pressed(k) = e {
                    found.push((k.digit.as_char(), k.start));
                }
            });
        }
        receiver.flush(&mut |_| {});
        assert_eq!(found.iter().map(|f| f.0).collect::<String>(), "159#");
        for (i, (_, start)) in found.iter().enumerate() {
            let expected = 1_600.0 + i as f64 * 3_200.0;
            assert!((start - expected).abs() < 80.0, "{start} vs {expected}");
        }
    }
}
