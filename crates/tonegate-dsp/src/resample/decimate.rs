//! Integer-ratio decimation for the detector: a polyphase FIR over whole frames.
//!
//! A call at 16, 24 or 48 kHz reaches the 8 kHz detector through this filter. Only every
//! `factor`-th output of the FIR is needed, so each output is one dot product of the taps
//! with the input at stride `factor` (the polyphase form of a decimator with one phase).
//! It runs straight over the caller's slice: no fixed chunks, no partial chunk waiting,
//! no per-chunk bookkeeping. Only the last `taps - 1` input samples are kept between calls
//! (the filter's history); the outputs whose window reaches back into it are computed from
//! a small seam buffer holding that history and the head of the new input.
//!
//! The taps are the ones rubato builds for [`Filter::Detection`](super::Filter::Detection)
//! at an integer ratio (a periodic Blackman-windowed sinc of
//! [`DETECTION_SINC_LEN_PER_RATIO`](super::DETECTION_SINC_LEN_PER_RATIO)` * factor` taps,
//! cutoff [`DETECTION_F_CUTOFF`](super::DETECTION_F_CUTOFF)` / factor` of the input Nyquist
//! frequency), computed here in `f64`, so the stop-band, the pass-band and the timing are
//! the same: output `i` represents input sample `factor * i + 1`.
//!
//! Every output is the same sum in the same order over the same input values whatever the
//! chunking, so results are bit-identical for any split of the input. An output is written
//! as soon as the last input sample of its window arrives: the newest output lags the
//! newest input by the filter's half-length only (16 input samples, 1 ms, at 16 kHz).

use super::DETECTION_F_CUTOFF;
use super::DETECTION_SINC_LEN_PER_RATIO;

/// Lanes of the dot product's partial sums: the compiler keeps them in one SIMD register
/// (a hand-written loop, as rubato's per-call bookkeeping around its own dot products cost
/// more than the arithmetic; see the module docs).
const LANES: usize = 8;

/// A streaming decimator by an integer factor with the detection filter.
pub(super) struct Decimator {
    factor: usize,
    /// The FIR taps; `taps.len()` is a multiple of [`LANES`].
    taps: Box<[f32]>,
    /// The last `taps.len() - 1` input samples (zeros before the stream's start).
    history: Box<[f32]>,
    /// History followed by the head of the current input, for outputs across the seam.
    seam: Box<[f32]>,
    /// Input samples consumed since the start of the stream.
    consumed: u64,
    /// Output samples written since the start of the stream.
    produced: u64,
}

impl Decimator {
    /// A decimator by `factor` (at least 2).
    pub(super) fn new(factor: usize) -> Decimator {
        debug_assert!(factor >= 2);
        let taps = detection_taps(factor);
        let len = taps.len();
        Decimator {
            factor,
            taps,
            history: vec![0.0; len - 1].into_boxed_slice(),
            seam: vec![0.0; 2 * (len - 1)].into_boxed_slice(),
            consumed: 0,
            produced: 0,
        }
    }

    /// Half the filter length: output `i`'s window runs from input `factor * i + 1 - half`
    /// to `factor * i + half` (its first tap is zero).
    fn half(&self) -> u64 {
        (self.taps.len() / 2) as u64
    }

    /// Upper bound on outputs for `input_len` more input samples.
    pub(super) fn max_output_len(&self, input_len: usize) -> usize {
        input_len / self.factor + 1
    }

    /// Upper bound on outputs [`flush`](Self::flush) writes.
    pub(super) fn max_flush_len(&self) -> usize {
        self.taps.len() / 2 / self.factor + 1
    }

    /// Input samples consumed when output `outputs - 1` gets written (`outputs >= 1`),
    /// whatever the chunking.
    pub(super) fn input_at_output(&self, outputs: u64) -> u64 {
        self.factor as u64 * (outputs.max(1) - 1) + self.half() + 1
    }

    /// Outputs written once `consumed` input samples have arrived.
    fn outputs_after(&self, consumed: u64) -> u64 {
        match consumed.checked_sub(self.half() + 1) {
            Some(past) => past / self.factor as u64 + 1,
            None => 0,
        }
    }

    /// The input position output `index` represents.
    pub(super) fn output_to_input_position(&self, index: f64) -> f64 {
        index * self.factor as f64 + 1.0
    }

    /// Worst-case input samples that arrive after a sample and before the output that
    /// represents it (the first at or after it) is written.
    pub(super) fn latency_input_samples(&self) -> usize {
        self.factor + self.taps.len() / 2 - 2
    }

    /// Filters `input` and writes the outputs it completes into `out`; returns how many.
    pub(super) fn process(&mut self, input: &[f32], out: &mut [f32]) -> usize {
        let len = self.taps.len();
        let keep = len - 1;
        let total = self.outputs_after(self.consumed + input.len() as u64);
        let count = (total - self.produced) as usize;
        if count > 0 {
            // Window start of the next output, in the sequence `history ++ input`.
            let first =
                self.factor as u64 * self.produced + 1 + keep as u64 - self.half() - self.consumed;
            let mut start = first as usize;
            let head = input.len().min(keep);
            self.seam[..keep].copy_from_slice(&self.history);
            self.seam[keep..keep + head].copy_from_slice(&input[..head]);
            for slot in &mut out[..count] {
                *slot = if start < keep {
                    dot(&self.taps, &self.seam[start..start + len])
                } else {
                    dot(&self.taps, &input[start - keep..start - keep + len])
                };
                start += self.factor;
            }
        }
        self.remember(input);
        self.consumed += input.len() as u64;
        self.produced = total;
        count
    }

    /// Keeps the last `taps - 1` samples of `history ++ input`.
    fn remember(&mut self, input: &[f32]) {
        let keep = self.history.len();
        if input.len() >= keep {
            self.history.copy_from_slice(&input[input.len() - keep..]);
        } else {
            self.history.copy_within(input.len().., 0);
            self.history[keep - input.len()..].copy_from_slice(input);
        }
    }

    /// End of stream: writes every output that represents input before the end (zeros
    /// after it), then resets. Returns count.
    pub(super) fn flush(&mut self, out: &mut [f32]) -> usize {
        // Outputs `i` with `factor * i + 1 < consumed`.
        let target = match self.consumed {
            0 => 0,
            n => (n - 1).div_ceil(self.factor as u64),
        };
        const ZEROS: [f32; 64] = [0.0; 64];
        let mut written = 0;
        while self.produced < target {
            // Exactly the zeros that complete output `target - 1`, no more.
            let need = self.input_at_output(target) - self.consumed;
            let take = (need as usize).min(ZEROS.len());
            written += self.process(&ZEROS[..take], &mut out[written..]);
        }
        self.reset();
        written
    }

    /// Forgets the stream.
    pub(super) fn reset(&mut self) {
        self.history.fill(0.0);
        self.consumed = 0;
        self.produced = 0;
    }
}

/// `taps . window`, summed in [`LANES`] partial sums then across them: the same order
/// for every call, so equal inputs give bit-equal outputs.
fn dot(taps: &[f32], window: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    for (t, x) in taps.chunks_exact(LANES).zip(window.chunks_exact(LANES)) {
        for k in 0..LANES {
            acc[k] += t[k] * x[k];
        }
    }
    acc.iter().sum()
}

/// The detection filter's taps for decimation by `factor`: a periodic Blackman window of
/// `DETECTION_SINC_LEN_PER_RATIO * factor` points times a sinc with its cutoff at
/// `DETECTION_F_CUTOFF / factor` of the input Nyquist frequency, centred on the middle
/// tap and normalised to unit DC gain (as rubato's `make_sincs` builds them).
fn detection_taps(factor: usize) -> Box<[f32]> {
    use std::f64::consts::PI;
    let len = DETECTION_SINC_LEN_PER_RATIO * factor;
    let cutoff = f64::from(DETECTION_F_CUTOFF) / factor as f64;
    let raw: Vec<f64> = (0..len)
        .map(|n| {
            let phase = 2.0 * PI * n as f64 / len as f64;
            let window = 0.42 - 0.5 * phase.cos() + 0.08 * (2.0 * phase).cos();
            let x = (n as f64 - (len / 2) as f64) * cutoff;
            let sinc = if x == 0.0 {
                1.0
            } else {
                (PI * x).sin() / (PI * x)
            };
            window * sinc
        })
        .collect();
    let sum: f64 = raw.iter().sum();
    raw.iter().map(|&v| (v / sum) as f32).collect()
}
