//! Integer-ratio decimation for the detector: a polyphase FIR over whole frames.
//!
//! A call at 16, 24 or 48 kHz reaches the 8 kHz detector through this filter. Only every
//! `factor`-th output of the FIR is needed, so each output is one dot product of the taps
//! with the input at stride `factor` (the polyphase form of a decimator with one phase).
//! It runs straight over the caller's slice: no fixed chunks, no partial chunk waiting,
//! no per-chunk bookkeeping. Only the last `taps - 1` input samples are kept between calls
//! (the filter's history), which the outputs whose window reaches back into it read.
//!
//! The taps are the ones rubato builds for [`Filter::Detection`](super::Filter::Detection)
//! at an integer ratio (a periodic Blackman-windowed sinc of
//! [`DETECTION_SINC_LEN_PER_RATIO`](super::DETECTION_SINC_LEN_PER_RATIO)` * factor` taps,
//! cutoff [`DETECTION_F_CUTOFF`](super::DETECTION_F_CUTOFF)` / factor` of the input Nyquist
//! frequency), computed here in `f64`, so the stop-band, the pass-band and the timing are
//! the same: output `i` represents input sample `factor * i + 1`.
//!
//! Every output is the same sum in the same order (tap by tap, from the first) over the
//! same input values whatever the chunking, so results are bit-identical for any split of
//! the input. An output is written as soon as the last input sample of its window
//! arrives: the newest output lags the newest input by the filter's half-length only (16
//! input samples, 1 ms, at 16 kHz).
//!
//! **Arithmetic.** Outputs are computed [`GROUP`] at a time. The input they need is first
//! dealt out into its `factor` phases (input `factor * m + r` to phase `r`), so
//! that a tap times consecutive samples of one phase contributes to consecutive outputs:
//! each tap is one broadcast multiply-add over the group, with one accumulator per output
//! and no sum across lanes. The compiler vectorises it (AVX2 where the CPU has it, the
//! same operations in the same order, never a fused multiply-add, so every CPU gives the
//! same bits). The filter's history is dealt out the same way, so outputs across the seam
//! of two calls need no copy of it joined to the input.
//!
//! The taps depend only on the factor: one table per factor serves every call.

use std::sync::Arc;

use super::DETECTION_F_CUTOFF;
use super::DETECTION_SINC_LEN_PER_RATIO;
use crate::SampleRate;
use crate::shared::Shared;

/// Taps per phase: the filter has `TAPS_PER_PHASE * factor` taps.
const TAPS_PER_PHASE: usize = DETECTION_SINC_LEN_PER_RATIO;

/// Largest factor: the highest supported rate over the lowest.
const MAX_FACTOR: usize = (SampleRate::MAX / SampleRate::MIN) as usize;

/// Longest filter history: the largest factor's taps, less one.
const MAX_HISTORY: usize = TAPS_PER_PHASE * MAX_FACTOR - 1;

/// Keeps [`filter_by_factor`]'s arms and the supported rates in step.
const _: () = assert!(MAX_FACTOR == 6);

/// Outputs computed together: 32 accumulators are four AVX registers, enough independent
/// chains of additions to keep the adder busy; 20 ms frames make five groups at 8 kHz.
/// (80 at a time, ten registers, measured no faster.)
const GROUP: usize = 32;

/// Outputs whose input is dealt into phases at once: a 20 ms frame at 8 kHz. Dealing a
/// whole span before summing leaves the stores time to reach the cache before the sums
/// load them (loads from stores still in flight stall).
const SPAN: usize = 5 * GROUP;

/// Samples of one phase a span reads: one per output plus the phase's other taps.
const PHASE_LEN: usize = SPAN + TAPS_PER_PHASE - 1;

/// The process's taps, one table per factor in use.
static TAPS: Shared<usize, [f32]> = Shared::new();

/// A streaming decimator by an integer factor with the detection filter.
pub(super) struct Decimator {
    factor: usize,
    /// The FIR taps, shared by every decimator of the same factor.
    taps: Arc<[f32]>,
    /// The last `taps - 1` input samples (zeros before the stream's start), at the
    /// front. Inline, not boxed: a frame reaches it without first waiting for a pointer
    /// to load from a cold cache line.
    history: [f32; MAX_HISTORY],
    /// Input samples consumed since the start of the stream.
    consumed: u64,
    /// Output samples written since the start of the stream.
    produced: u64,
}

impl Decimator {
    /// Input samples the filter's history holds: `taps - 1`.
    fn keep(&self) -> usize {
        self.taps.len() - 1
    }

    /// The filter's history: the last [`Self::keep`] input samples.
    fn kept(&self) -> &[f32] {
        &self.history[..self.keep()]
    }

    /// Whether [`Decimator::new`] takes `factor`: 2 to 6, every integer ratio of two
    /// supported rates.
    pub(super) fn supports(factor: usize) -> bool {
        (2..=MAX_FACTOR).contains(&factor)
    }

    /// A decimator by `factor`, which it [supports](Self::supports).
    pub(super) fn new(factor: usize) -> Decimator {
        debug_assert!(Self::supports(factor));
        let taps = TAPS.get(factor, |&factor| detection_taps(factor));
        debug_assert!(taps.len() - 1 <= MAX_HISTORY);
        Decimator {
            factor,
            taps,
            history: [0.0; MAX_HISTORY],
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
        let keep = self.keep();
        let total = self.outputs_after(self.consumed + input.len() as u64);
        let count = (total - self.produced) as usize;
        if count > 0 {
            // Window start of the next output, in the sequence `history ++ input`.
            let first =
                self.factor as u64 * self.produced + 1 + keep as u64 - self.half() - self.consumed;
            let signal = Signal {
                history: self.kept(),
                input,
            };
            filter(&self.taps, signal, first as usize, &mut out[..count]);
        }
        self.remember(input);
        self.consumed += input.len() as u64;
        self.produced = total;
        count
    }

    /// Keeps the last `taps - 1` samples of `history ++ input`.
    fn remember(&mut self, input: &[f32]) {
        let keep = self.keep();
        let history = &mut self.history[..keep];
        if input.len() >= keep {
            history.copy_from_slice(&input[input.len() - keep..]);
        } else {
            history.copy_within(input.len().., 0);
            history[keep - input.len()..].copy_from_slice(input);
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

/// The filter's history followed by the new input, read in place.
#[derive(Clone, Copy)]
struct Signal<'a> {
    history: &'a [f32],
    input: &'a [f32],
}

impl Signal<'_> {
    /// Deals the samples from `start` of `history ++ input` into `F` phases of `reach`
    /// samples each: sample `start + F * m + r` to `phases[r][m]`. The signal must reach
    /// that far.
    #[inline(always)]
    fn deal<const F: usize>(self, start: usize, reach: usize, phases: &mut [[f32; PHASE_LEN]; F]) {
        let needed = F * reach;
        let keep = self.history.len();
        // The samples in the history, then those in the input up to the next whole F.
        let early = keep.saturating_sub(start).min(needed);
        let aligned = early.next_multiple_of(F).min(needed);
        let input_start = (start + early).saturating_sub(keep);
        let history = self.history.get(start..).unwrap_or_default();
        let input = &self.input[input_start..input_start + needed - early];
        let (head, body) = input.split_at(aligned - early);
        for (i, &x) in (0..).zip(history[..early].iter().chain(head)) {
            phases[i % F][i / F] = x;
        }
        // The bulk: runs of F samples, one for each phase.
        for (m, samples) in (aligned / F..reach).zip(body.chunks_exact(F)) {
            for (phase, &x) in phases.iter_mut().zip(samples) {
                phase[m] = x;
            }
        }
    }
}

/// Writes `out.len()` consecutive outputs, the first one's window starting at `first` in
/// `history ++ input`, with the fastest code for this CPU (the same bits on every one).
fn filter(taps: &[f32], signal: Signal<'_>, first: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[allow(unsafe_code)] // See SAFETY below.
        // SAFETY: the CPU just reported AVX2.
        unsafe {
            filter_avx2(taps, signal, first, out)
        };
        return;
    }
    filter_portable(taps, signal, first, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn filter_avx2(taps: &[f32], signal: Signal<'_>, first: usize, out: &mut [f32]) {
    filter_by_factor(taps, signal, first, out);
}

fn filter_portable(taps: &[f32], signal: Signal<'_>, first: usize, out: &mut [f32]) {
    filter_by_factor(taps, signal, first, out);
}

/// [`filter`] compiled for each factor, so the loops over phases unroll.
#[inline(always)]
fn filter_by_factor(taps: &[f32], signal: Signal<'_>, first: usize, out: &mut [f32]) {
    match taps.len() / TAPS_PER_PHASE {
        2 => filter_spans::<2>(taps, signal, first, out),
        3 => filter_spans::<3>(taps, signal, first, out),
        4 => filter_spans::<4>(taps, signal, first, out),
        5 => filter_spans::<5>(taps, signal, first, out),
        6 => filter_spans::<6>(taps, signal, first, out),
        factor => unreachable!("decimation by {factor}: `Decimator::supports` says 2 to 6"),
    }
}

/// [`filter`] by `F`, a [`SPAN`] of outputs at a time: deals the span's input out into its
/// phases, then sums a [`GROUP`] of outputs at a time.
#[inline(always)]
fn filter_spans<const F: usize>(taps: &[f32], signal: Signal<'_>, first: usize, out: &mut [f32]) {
    let mut phases = [[0.0f32; PHASE_LEN]; F];
    let mut start = first;
    for span in out.chunks_mut(SPAN) {
        // Past the span's last output the phases keep stale samples (or zeros): the sums
        // of those lanes are computed and dropped.
        signal.deal(start, span.len() + TAPS_PER_PHASE - 1, &mut phases);
        for (g, group) in span.chunks_mut(GROUP).enumerate() {
            let sums = group_sums(taps, &phases, g * GROUP);
            // A whole group by a copy of known length, which the compiler inlines.
            match <&mut [f32; GROUP]>::try_from(&mut *group) {
                Ok(whole) => *whole = sums,
                Err(_) => group.copy_from_slice(&sums[..group.len()]),
            }
        }
        start += F * SPAN;
    }
}

/// `GROUP` outputs from their input dealt into `phases`: output `n` is the sum, tap by
/// tap in order, of tap `F * q + r` times `phases[r][at + n + q]`.
#[inline(always)]
fn group_sums<const F: usize>(
    taps: &[f32],
    phases: &[[f32; PHASE_LEN]; F],
    at: usize,
) -> [f32; GROUP] {
    let mut sums = [0.0f32; GROUP];
    for (q, taps) in taps.chunks_exact(F).enumerate() {
        for (&tap, phase) in taps.iter().zip(phases) {
            let samples: &[f32; GROUP] = phase[at + q..at + q + GROUP]
                .try_into()
                .expect("a phase holds a group from each of its taps");
            for (sum, &x) in sums.iter_mut().zip(samples) {
                *sum += tap * x;
            }
        }
    }
    sums
}

/// The detection filter's taps for decimation by `factor`: a periodic Blackman window of
/// `DETECTION_SINC_LEN_PER_RATIO * factor` points times a sinc with its cutoff at
/// `DETECTION_F_CUTOFF / factor` of the input Nyquist frequency, centred on the middle
/// tap and normalised to unit DC gain (as rubato's `make_sincs` builds them).
fn detection_taps(factor: usize) -> Arc<[f32]> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_specific_filter_matches_the_portable_one_exactly() {
        let mut seed = 0x2545_f491_u32;
        let input: Vec<f32> = (0..2_000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as f32 / u32::MAX as f32 - 0.5
            })
            .collect();
        for factor in 2..=MAX_FACTOR {
            let taps = detection_taps(factor);
            let history: Vec<f32> = input[..taps.len() - 1].to_vec();
            let signal = Signal {
                history: &history,
                input: &input[taps.len()..],
            };
            let count = (signal.input.len() - 3) / factor - TAPS_PER_PHASE;
            let (mut best, mut portable) = (vec![0.0; count], vec![0.0; count]);
            filter(&taps, signal, 3, &mut best);
            filter_portable(&taps, signal, 3, &mut portable);
            assert!(
                best.iter()
                    .map(|v| v.to_bits())
                    .eq(portable.iter().map(|v| v.to_bits())),
                "factor {factor}"
            );
            // Each output is the dot product of the taps with its window.
            let joined = [&history[..], signal.input].concat();
            for (n, &output) in best.iter().enumerate() {
                let window = &joined[3 + factor * n..][..taps.len()];
                let direct: f32 = taps.iter().zip(window).map(|(t, x)| t * x).sum();
                assert!((output - direct).abs() < 1e-6, "factor {factor} output {n}");
            }
        }
    }
}
