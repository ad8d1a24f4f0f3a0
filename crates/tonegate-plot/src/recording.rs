//! What a plot shows, gathered while a receiver runs: the input's spectrogram, the
//! detector's blocks and the digits it reported. The same for any chunking: the
//! spectrogram cuts its own frames and the detector's positions do not depend on it.

use std::sync::Arc;

use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};
use tonegate_dsp::SampleRate;
use tonegate_dsp::dsp::Digit;
use tonegate_dsp::dsp::dtmf::{self, Block, Event, Rejection, Verdict};
use tonegate_dsp::receiver::Receiver;

use crate::Error;

/// Longest input a plot draws, ms (ten minutes): past it the picture says nothing a
/// reader could see, and the spectrogram would hold tens of megabytes.
pub const MAX_DURATION_MS: f64 = 600_000.0;
/// Spectrogram analysis window, ms (32 ms: 31 Hz apart, enough to part the keypad rows).
const FRAME_MS: f64 = 32.0;
/// Spectrogram hop, ms.
pub const HOP_MS: f64 = 8.0;
/// Highest frequency the spectrogram keeps, Hz: the keypad's tones and their neighbours.
pub const TOP_HZ: f32 = 2_000.0;
/// Spectrogram bins per column (0 to [`TOP_HZ`]).
pub const BINS: usize = 64;

/// A detected digit: its span and report point, ms of input time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DigitSpan {
    /// The key.
    pub digit: Digit,
    /// Estimated onset.
    pub start_ms: f64,
    /// Estimated release.
    pub end_ms: f64,
    /// When the digit was reported.
    pub detected_ms: f64,
    /// Mean level of its two tones, dBm0.
    pub level_dbm0: f32,
}

/// A 20 ms window the detector looked at and rejected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RejectedWindow {
    /// The key the window would have been.
    pub digit: Digit,
    /// The test it failed.
    pub reason: Rejection,
    /// Start of the window, ms of input time.
    pub start_ms: f64,
    /// End of the window (its newest block's end), ms of input time.
    pub end_ms: f64,
}

/// One detector block as a plot draws it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockLevels {
    /// End of the block, ms of input time.
    pub end_ms: f64,
    /// Level of each keypad tone, dB relative to a full-scale sine.
    pub tone_db: [f32; 8],
    /// Broadband level, dB relative to a full-scale sine.
    pub level_db: f32,
}

/// Everything a plot shows.
#[derive(Debug, Clone)]
pub struct Recording {
    /// Length of the input, ms.
    pub duration_ms: f64,
    /// Spectrogram columns, one per [`HOP_MS`], each [`BINS`] levels in dB relative to
    /// a full-scale sine, from 0 Hz up to [`TOP_HZ`].
    pub spectrogram: Vec<[f32; BINS]>,
    /// The detector's blocks.
    pub blocks: Vec<BlockLevels>,
    /// The digits, in order.
    pub digits: Vec<DigitSpan>,
    /// The rejected windows, in order.
    pub rejected: Vec<RejectedWindow>,
}

impl Recording {
    /// Runs a fresh receiver with `config` over `samples` (mono, at `rate`) and records
    /// it.
    pub fn analyse(
        samples: &[f32],
        rate: SampleRate,
        config: dtmf::Config,
    ) -> Result<Recording, Error> {
        let mut receiver = Receiver::new(rate, config)?;
        let mut recorder = Recorder::new(rate);
        recorder.process(&mut receiver, samples)?;
        recorder.flush(&mut receiver);
        Ok(recorder.finish())
    }
}

/// Gathers a [`Recording`] while a receiver runs.
pub struct Recorder {
    rate: SampleRate,
    samples_seen: u64,
    spectrogram: Spectrogram,
    blocks: Vec<BlockLevels>,
    digits: Vec<DigitSpan>,
    rejected: Vec<RejectedWindow>,
}

impl Recorder {
    /// A recorder for input at `rate`.
    pub fn new(rate: SampleRate) -> Recorder {
        Recorder {
            rate,
            samples_seen: 0,
            spectrogram: Spectrogram::new(rate),
            blocks: Vec::new(),
            digits: Vec::new(),
            rejected: Vec::new(),
        }
    }

    /// Runs `samples` through `receiver` and records them, its blocks and its events.
    /// Refuses input past [`MAX_DURATION_MS`].
    pub fn process(&mut self, receiver: &mut Receiver, samples: &[f32]) -> Result<(), Error> {
        self.add_samples(samples)?;
        let rate = self.rate;
        let (blocks, rejected, digits) = (&mut self.blocks, &mut self.rejected, &mut self.digits);
        receiver.process_observed(
            samples,
            &mut |event| record_event(rate, digits, event),
            &mut |block| record_block(rate, blocks, rejected, block),
        );
        Ok(())
    }

    /// Ends the stream: the receiver's last digit.
    pub fn flush(&mut self, receiver: &mut Receiver) {
        let rate = self.rate;
        receiver.flush(&mut |event| record_event(rate, &mut self.digits, event));
    }

    /// Records input samples for the spectrogram (when the caller runs the receiver
    /// itself and hands over its blocks and events with [`Self::add_block`] and
    /// [`Self::add_event`]).
    pub fn add_samples(&mut self, samples: &[f32]) -> Result<(), Error> {
        self.samples_seen += samples.len() as u64;
        let ms = self.rate.samples_to_ms(self.samples_seen as f64);
        if ms > MAX_DURATION_MS {
            return Err(Error::TooLong {
                max_minutes: (MAX_DURATION_MS / 60_000.0) as u32,
            });
        }
        self.spectrogram.add(samples);
        Ok(())
    }

    /// Records a block the receiver observed.
    pub fn add_block(&mut self, block: &Block) {
        record_block(self.rate, &mut self.blocks, &mut self.rejected, block);
    }

    /// Records an event of the receiver.
    pub fn add_event(&mut self, event: Event) {
        record_event(self.rate, &mut self.digits, event);
    }

    /// The recording.
    pub fn finish(self) -> Recording {
        Recording {
            duration_ms: self.rate.samples_to_ms(self.samples_seen as f64),
            spectrogram: self.spectrogram.columns,
            blocks: self.blocks,
            digits: self.digits,
            rejected: self.rejected,
        }
    }
}

fn record_block(
    rate: SampleRate,
    blocks: &mut Vec<BlockLevels>,
    rejected: &mut Vec<RejectedWindow>,
    block: &Block,
) {
    let end_ms = rate.samples_to_ms(block.end);
    blocks.push(BlockLevels {
        end_ms,
        tone_db: std::array::from_fn(|lane| block.tone_db(lane)),
        level_db: block.level_db(),
    });
    if let Verdict::Rejected { digit, reason } = block.verdict {
        rejected.push(RejectedWindow {
            digit,
            reason,
            start_ms: (end_ms - WINDOW_MS).max(0.0),
            end_ms,
        });
    }
}

/// The detector's decision window, ms.
const WINDOW_MS: f64 = 20.0;

fn record_event(rate: SampleRate, digits: &mut Vec<DigitSpan>, event: Event) {
    if let Event::Released { keypress, end } = event {
        let ms = |samples: f64| rate.samples_to_ms(samples);
        digits.push(DigitSpan {
            digit: keypress.digit,
            start_ms: ms(keypress.start),
            end_ms: ms(end),
            detected_ms: ms(keypress.detected as f64),
            level_dbm0: keypress.level_dbm0(),
        });
    }
}

/// A short-time spectrum of the input, Hann-windowed, cut into frames of its own.
struct Spectrogram {
    fft: Arc<dyn Fft<f32>>,
    window: Vec<f32>,
    /// The newest `window.len()` samples, oldest first.
    recent: Vec<f32>,
    hop: usize,
    /// Samples since the last column.
    since_column: usize,
    scratch: Vec<Complex32>,
    /// For each output bin, the FFT bins it covers.
    bin_ranges: Vec<std::ops::Range<usize>>,
    columns: Vec<[f32; BINS]>,
    /// Scales a full-scale sine's FFT bin to 1.
    norm: f32,
}

impl Spectrogram {
    fn new(rate: SampleRate) -> Spectrogram {
        let len = rate.ms_to_samples(FRAME_MS);
        let hop = rate.ms_to_samples(HOP_MS);
        let window: Vec<f32> = (0..len)
            .map(|n| {
                let phase = 2.0 * std::f32::consts::PI * n as f32 / len as f32;
                0.5 - 0.5 * phase.cos()
            })
            .collect();
        let norm = 2.0 / window.iter().sum::<f32>();
        let hz_per_bin = rate.hz() as f32 / len as f32;
        let bin_ranges = (0..BINS)
            .map(|k| {
                let low = (k as f32 * TOP_HZ / BINS as f32 / hz_per_bin).floor() as usize;
                let high = ((k + 1) as f32 * TOP_HZ / BINS as f32 / hz_per_bin).ceil() as usize;
                // Both FFT bins around each edge: a tone between two bins shows at its peak.
                low..(high + 1).min(len / 2)
            })
            .collect();
        Spectrogram {
            fft: FftPlanner::new().plan_fft_forward(len),
            window,
            recent: vec![0.0; len],
            hop,
            since_column: 0,
            scratch: vec![Complex32::default(); len],
            bin_ranges,
            columns: Vec::new(),
            norm,
        }
    }

    fn add(&mut self, samples: &[f32]) {
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (self.hop - self.since_column).min(rest.len());
            let (head, tail) = rest.split_at(take);
            self.recent.rotate_left(take);
            let len = self.recent.len();
            self.recent[len - take..].copy_from_slice(head);
            self.since_column += take;
            rest = tail;
            if self.since_column == self.hop {
                self.since_column = 0;
                self.column();
            }
        }
    }

    fn column(&mut self) {
        for ((out, &x), &w) in self.scratch.iter_mut().zip(&self.recent).zip(&self.window) {
            *out = Complex32::new(if x.is_finite() { x * w } else { 0.0 }, 0.0);
        }
        self.fft.process(&mut self.scratch);
        let column = std::array::from_fn(|k| {
            let peak = self.bin_ranges[k]
                .clone()
                .map(|bin| self.scratch[bin].norm() * self.norm)
                .fold(0.0f32, f32::max);
            if peak > 1e-6 {
                20.0 * peak.log10()
            } else {
                -120.0
            }
        });
        self.columns.push(column);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: SampleRate, hz: f32, len: usize) -> Vec<f32> {
        (0..len)
            .map(|n| (2.0 * std::f32::consts::PI * hz * n as f32 / rate.hz() as f32).sin())
            .collect()
    }

    #[test]
    fn a_full_scale_sine_peaks_near_zero_db_in_its_bin() {
        let rate = SampleRate::new(16_000).unwrap();
        let mut spectrogram = Spectrogram::new(rate);
        spectrogram.add(&sine(rate, 1_209.0, 16_000));
        let column = spectrogram.columns.last().unwrap();
        let bin = (1_209.0 / TOP_HZ * BINS as f32) as usize;
        assert!(column[bin].abs() < 1.5, "{}", column[bin]);
        assert!(column[10] < -40.0, "{}", column[10]);
        assert_eq!(spectrogram.columns.len(), 125);
    }

    #[test]
    fn columns_do_not_depend_on_chunking() {
        let rate = SampleRate::HZ_8000;
        let signal = sine(rate, 770.0, 4_000);
        let mut whole = Spectrogram::new(rate);
        whole.add(&signal);
        let mut pieces = Spectrogram::new(rate);
        for chunk in signal.chunks(37) {
            pieces.add(chunk);
        }
        assert_eq!(whole.columns, pieces.columns);
    }
}
