//! Streaming mono sample-rate conversion, wrapping rubato.
//!
//! One [`Resampler`] converts one stream from one rate to another: call audio at 16, 24 or
//! 48 kHz (or any rate tonegate supports) down to the 8 kHz the DTMF detector analyses, and
//! prompts at any rate to the rate of the stream they are played on.
//!
//! # Design
//!
//! **Resampler type.** rubato's asynchronous sinc resampler ([`rubato::Async::new_sinc`]) with
//! [`SincInterpolationType::Nearest`] and an oversampling factor equal to the reduced output
//! rate (`to / gcd(from, to)`). Every output instant then falls exactly on one of the
//! precomputed sinc phases, so the conversion is an exact polyphase FIR (no interpolation
//! between phases) that costs one SIMD dot product per output sample. For integer decimation
//! (16k/24k/48k to 8k) a single phase is needed. Rates whose reduced output rate exceeds
//! [`MAX_EXACT_PHASES`] (odd rates such as 44_101 Hz) would need a huge phase table; they fall
//! back to cubic interpolation between 256 phases, which is still far below the filter's
//! stopband.
//!
//! **Integer decimation for the detector.** [`Filter::Detection`] at an integer ratio
//! (16, 24, 48 kHz to 8 kHz: every call's detection path) does not go through rubato but
//! through a polyphase FIR decimator of our own (`decimate.rs`) with rubato's taps for that
//! filter and the same timing. rubato's per-call bookkeeping (its chunk at a time, with
//! position and length updates on each) cost about three times the filter arithmetic on
//! 20 ms frames fed in 1 ms chunks; the decimator filters whole frames in one pass, keeps
//! only the filter's history between calls, and writes each output as soon as the last
//! input sample of its window is in, so it adds no chunk latency either. rubato stays for
//! prompts (the wideband filter) and for the other rates.
//!
//! The synchronous FFT resampler ([`rubato::Fft`]) was measured and rejected. It is faster
//! (244 to 305 M input samples/s at 16 kHz to 8 kHz with 64 to 320 sample FFTs, against
//! about 150 M for the sinc resampler with chunks of the same size), but its filter is as long
//! as its FFT, it outputs whole FFT blocks, and it derives its cutoff from the FFT length. At
//! 16 kHz that cutoff sits at 3.25 kHz for a 64-sample FFT and 3.63 kHz for 128 (0.19 dB down
//! at 3.4 kHz with the Blackman window, far worse with its default squared Blackman-Harris),
//! so meeting the passband takes a 256-sample FFT: 8 ms of group delay plus 16 ms of block
//! buffering, ten times the latency budget.
//!
//! **Filter.** A Blackman-windowed sinc. Its length in input samples is
//! [`SINC_LEN_PER_RATIO`]` * max(from / to, 1)` rounded up to a multiple of 8 (rubato's SIMD
//! width), and its cutoff is [`F_CUTOFF`] of the lower Nyquist frequency. For any 8 kHz side
//! this gives (computed from the window and checked by the tests through rubato itself):
//! - passband flat within ±0.07 dB up to 3.4 kHz (requirement ±0.1 dB);
//! - stopband at least 72 dB down from 4.6 kHz up (requirement 60 dB), so nothing aliases
//!   into 0 to 3.4 kHz; the 4.0 to 4.6 kHz band may alias into 3.4 to 4.0 kHz, where the
//!   detector does not look.
//!
//! For other rate pairs the same shape scales with the lower Nyquist frequency (flat to 85 %
//! of it, 72 dB down from 115 %). Blackman is the shortest of rubato's windows that meets
//! both limits: Hann and squared Hann need 72 taps at 16 kHz, Blackman-Harris 80, Blackman 64.
//! The filter is linear phase, so its group delay is half its length: 32 samples at 16 kHz,
//! 48 at 24 kHz, 96 at 48 kHz, which is 2.0 ms on every path to 8 kHz (and from 8 kHz).
//! A shorter linear-phase filter cannot meet both the ±0.1 dB and the 60 dB limits with
//! rubato's windows (56 taps at 16 kHz gives 0.27 dB ripple at 61 dB).
//!
//! **Chunking.** rubato processes fixed chunks of [`CHUNK_MS`] (2 ms) of input. Whole chunks
//! are fed straight from the caller's slice; a partial chunk waits in a buffer allocated by
//! [`Resampler::new`] until the next call completes it. Because rubato always sees the same
//! chunks, output values and counts depend only on the concatenated input, never on how the
//! caller split it. The chunk size trades worst-case latency against rubato's per-call
//! overhead: at 16 kHz, 1 ms chunks ran at about 105 M input samples/s, 2 ms at 130 M and
//! 4 ms at 139 M (the rest of the cost is rubato's per-output work, about 13 ns per output
//! sample on the development machine). 2 ms divides the 10 and 20 ms frames of every
//! integer-kHz rate, so a caller that feeds whole frames never waits on a partial chunk.
//!
//! **Delay.** The filter's start-up output (samples that represent time before the first
//! input sample) is dropped, so output sample 0 is the first one at or after input sample 0
//! and the output length tracks `input_len * to / from`. [`Resampler::output_to_input_position`]
//! gives the exact input position of every output sample (the tests find tone phases to
//! within 0.01 input samples through it).
//!
//! | path | taps | group delay | chunk | worst-case latency | lag, whole frames | output `i` at input |
//! |---|---|---|---|---|---|---|
//! | 16k to 8k | 64 | 32 (2.0 ms) | 32 | 64 (4.00 ms) | 33 (2.06 ms) | `2 i + 1` |
//! | 24k to 8k | 96 | 48 (2.0 ms) | 48 | 97 (4.04 ms) | 50 (2.08 ms) | `3 i + 1` |
//! | 48k to 8k | 192 | 96 (2.0 ms) | 96 | 196 (4.08 ms) | 101 (2.10 ms) | `6 i + 1` |
//! | 8k to 16k | 32 | 16 (2.0 ms) | 16 | 32 (4.00 ms) | 17 (2.12 ms) | `i / 2` |
//!
//! All figures are in input samples. The worst case ([`Resampler::latency_input_samples`])
//! counts a sample that arrives alone at the start of a chunk; fed whole chunks (for example
//! 20 ms frames), the output after each call reaches to within the "lag" column of the newest
//! input sample: the group delay plus one or two samples of rubato's look-ahead.

mod decimate;
mod engine;
#[cfg(test)]
mod tests;

use decimate::Decimator;
use engine::Engine;

use crate::SampleRate;

/// Filter length in input samples per unit of decimation ratio (`from / to`, at least 1),
/// before rounding up to a multiple of 8. 32 samples is 4 ms at 8 kHz.
pub const SINC_LEN_PER_RATIO: usize = 32;

/// Cutoff of the anti-aliasing filter relative to the lower of the two Nyquist frequencies
/// (rubato's `f_cutoff`): the -6 dB point sits at 98 % of it.
pub const F_CUTOFF: f32 = 0.98;

/// [`SINC_LEN_PER_RATIO`] for [`Filter::Detection`]: 16 samples is 2 ms at 8 kHz.
pub const DETECTION_SINC_LEN_PER_RATIO: usize = 16;

/// [`F_CUTOFF`] for [`Filter::Detection`].
pub const DETECTION_F_CUTOFF: f32 = 0.83;

/// [`CHUNK_MS`] for [`Filter::Detection`].
pub const DETECTION_CHUNK_MS: u32 = 1;

/// Length of the chunks handed to rubato, in milliseconds of input.
pub const CHUNK_MS: u32 = 2;

/// Largest number of sinc phases used for exact (nearest-phase) conversion. 441 phases cover
/// every pair of the usual 8/11.025/16/22.05/24/44.1/48 kHz rates.
pub const MAX_EXACT_PHASES: usize = 512;

/// Phases used when the exact phase count would exceed [`MAX_EXACT_PHASES`].
const INTERPOLATED_PHASES: usize = 256;

/// Errors building a [`Resampler`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// rubato rejected the parameters derived from the two rates.
    #[error("cannot build a {from} to {to} resampler: {source}")]
    Construction {
        /// Input rate.
        from: SampleRate,
        /// Output rate.
        to: SampleRate,
        /// rubato's reason.
        source: rubato::ResamplerConstructionError,
    },
}

/// A streaming mono sample-rate converter. See the [module docs](self) for the design.
pub struct Resampler {
    from: SampleRate,
    to: SampleRate,
    conversion: Conversion,
}

/// How a [`Resampler`] converts.
// The decimator is held inline, not boxed: a call's frame reaches it without first
// waiting for a pointer to load from a cold cache line.
#[allow(clippy::large_enum_variant)]
enum Conversion {
    /// `from == to`: a copy.
    Copy,
    /// [`Filter::Detection`] by an integer factor: our own polyphase decimator.
    Decimate(Decimator),
    /// Everything else: rubato.
    Rubato(Box<Engine>),
}

/// The anti-aliasing filter a [`Resampler`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// For audio people hear (prompts converted to a stream's rate): flat within ±0.1 dB
    /// to 85 % of the lower Nyquist frequency (3.4 kHz at 8 kHz), 72 dB down from 115 %;
    /// 2 ms of group delay.
    Wideband,
    /// For the DTMF detector's 8 kHz input, where every millisecond of delay is latency:
    /// flat within ±0.1 dB to 49 % of the lower Nyquist frequency (1.95 kHz at 8 kHz,
    /// above every keypad tone at +3.5 %), -6 dB at 83 % (3.3 kHz, so tone harmonics
    /// still show), and at least 60 dB down from 117 % (4.7 kHz), so nothing aliases
    /// below 3.3 kHz; 1 ms of group delay.
    Detection,
}

impl Filter {
    /// Filter length in input samples per unit of decimation ratio, rubato's cutoff, and
    /// the chunk length in milliseconds. The detection filter's chunk equals its group
    /// delay, so a detector block never waits for a chunk to fill.
    fn shape(self) -> (usize, f32, u32) {
        match self {
            Filter::Wideband => (SINC_LEN_PER_RATIO, F_CUTOFF, CHUNK_MS),
            Filter::Detection => (
                DETECTION_SINC_LEN_PER_RATIO,
                DETECTION_F_CUTOFF,
                DETECTION_CHUNK_MS,
            ),
        }
    }
}

impl Resampler {
    /// Builds a streaming mono converter with the [`Filter::Wideband`] filter. from == to
    /// is a zero-delay pass-through copy.
    pub fn new(from: SampleRate, to: SampleRate) -> Result<Self, Error> {
        Self::with_filter(from, to, Filter::Wideband)
    }

    /// Builds a streaming mono converter with the given filter. from == to is a
    /// zero-delay pass-through copy; [`Filter::Detection`] at an integer ratio (16, 24,
    /// 48 kHz to 8 kHz) is a polyphase decimator with no chunks, anything else rubato.
    pub fn with_filter(from: SampleRate, to: SampleRate, filter: Filter) -> Result<Self, Error> {
        let (from_hz, to_hz) = (from.hz(), to.hz());
        let conversion = if from == to {
            Conversion::Copy
        } else if filter == Filter::Detection
            && from_hz % to_hz == 0
            && Decimator::supports((from_hz / to_hz) as usize)
        {
            Conversion::Decimate(Decimator::new((from_hz / to_hz) as usize))
        } else {
            Conversion::Rubato(Box::new(Engine::new(from, to, filter)?))
        };
        Ok(Resampler {
            from,
            to,
            conversion,
        })
    }

    /// The input rate.
    pub fn from_rate(&self) -> SampleRate {
        self.from
    }

    /// The output rate.
    pub fn to_rate(&self) -> SampleRate {
        self.to
    }

    /// Upper bound on samples `process` can write for `input_len` input samples (callers size
    /// `out` with it). It does not depend on the resampler's state.
    pub fn max_output_len(&self, input_len: usize) -> usize {
        match &self.conversion {
            Conversion::Copy => input_len,
            Conversion::Decimate(decimator) => decimator.max_output_len(input_len),
            Conversion::Rubato(engine) => engine.max_output_len(input_len),
        }
    }

    /// Upper bound on samples [`flush`](Self::flush) can write (callers size its `out` with
    /// it). It does not depend on the resampler's state.
    pub fn max_flush_len(&self) -> usize {
        match &self.conversion {
            Conversion::Copy => 0,
            Conversion::Decimate(decimator) => decimator.max_flush_len(),
            Conversion::Rubato(engine) => engine.max_flush_chunks * engine.max_chunk_output,
        }
    }

    /// Consumes all of `input` (any length, including 0) and writes converted samples to
    /// `out`, returning how many.
    ///
    /// Output values and the total count after any sequence of calls depend only on the
    /// concatenated input, never on how it was split into calls (chunking invariance). No
    /// allocation after construction.
    ///
    /// # Panics
    ///
    /// If `out` is shorter than [`max_output_len(input.len())`](Self::max_output_len).
    pub fn process(&mut self, input: &[f32], out: &mut [f32]) -> usize {
        assert!(
            out.len() >= self.max_output_len(input.len()),
            "resampler output buffer too short: {} < {}",
            out.len(),
            self.max_output_len(input.len())
        );
        match &mut self.conversion {
            Conversion::Copy => {
                out[..input.len()].copy_from_slice(input);
                input.len()
            }
            Conversion::Decimate(decimator) => decimator.process(input, out),
            Conversion::Rubato(engine) => engine.process(input, out),
        }
    }

    /// End of stream: pushes out what the filter still holds so the output covers the whole
    /// input. Returns count.
    ///
    /// After a flush the output holds every output sample whose position
    /// ([`output_to_input_position`](Self::output_to_input_position)) lies before the end of
    /// the input, and the resampler is [reset](Self::reset), ready for a new stream.
    ///
    /// # Panics
    ///
    /// If `out` is shorter than [`max_flush_len()`](Self::max_flush_len).
    pub fn flush(&mut self, out: &mut [f32]) -> usize {
        assert!(
            out.len() >= self.max_flush_len(),
            "resampler flush buffer too short: {} < {}",
            out.len(),
            self.max_flush_len()
        );
        match &mut self.conversion {
            Conversion::Copy => 0,
            Conversion::Decimate(decimator) => decimator.flush(out),
            Conversion::Rubato(engine) => engine.flush(out),
        }
    }

    /// Maps an output sample index (counted from the start of the stream) to the input
    /// position (in input samples, fractional) it represents, accounting for the filter
    /// delay, so detector positions can be reported in input time.
    ///
    /// The stream starts at construction and again after each [`reset`](Self::reset) or
    /// [`flush`](Self::flush); indices and positions count from there.
    ///
    /// The map is `output_index * from / to + offset`, where the offset (less than one
    /// output sample period) is the phase of rubato's output grid after the start-up
    /// samples are dropped (1 input sample for the integer decimator).
    pub fn output_to_input_position(&self, output_index: f64) -> f64 {
        match &self.conversion {
            Conversion::Copy => output_index,
            Conversion::Decimate(decimator) => decimator.output_to_input_position(output_index),
            Conversion::Rubato(engine) => {
                output_index * engine.input_per_output + engine.first_position
            }
        }
    }

    /// Input samples consumed when output `outputs - 1` is written (`outputs` at least 1),
    /// the same for any chunking of the input: `Some` for a pass-through and the integer
    /// decimator, whose outputs are written as soon as their input is in; `None` for
    /// rubato, whose outputs wait for its fixed chunks.
    pub fn input_at_output(&self, outputs: u64) -> Option<u64> {
        match &self.conversion {
            Conversion::Copy => Some(outputs),
            Conversion::Decimate(decimator) => Some(decimator.input_at_output(outputs)),
            Conversion::Rubato(_) => None,
        }
    }

    /// Total delay in input samples between an input sample arriving and the output sample
    /// that represents it being written (filter group delay + internal chunk buffering,
    /// worst case). Used to account for latency.
    ///
    /// This is an upper bound that exceeds the true worst case by at most one sample.
    pub fn latency_input_samples(&self) -> usize {
        match &self.conversion {
            Conversion::Copy => 0,
            Conversion::Decimate(decimator) => decimator.latency_input_samples(),
            Conversion::Rubato(engine) => engine.latency,
        }
    }

    /// Input samples per rubato chunk (1 or 2 ms of input by filter; 0 for a pass-through,
    /// 1 for the integer decimator, which has no chunks).
    ///
    /// A caller that always hands over whole multiples of it never waits on a partial chunk:
    /// after each call the output then reaches to within
    /// `latency_input_samples() - (chunk_len() - 1)` input samples of the newest input (the
    /// group delay plus about one sample). The 10 and 20 ms frames of every integer-kHz rate
    /// are such multiples.
    pub fn chunk_len(&self) -> usize {
        match &self.conversion {
            Conversion::Copy => 0,
            Conversion::Decimate(_) => 1,
            Conversion::Rubato(engine) => engine.chunk,
        }
    }

    /// Forgets the stream: clears the filter history and any buffered input, and restarts
    /// the sample counts, as if newly built.
    pub fn reset(&mut self) {
        match &mut self.conversion {
            Conversion::Copy => {}
            Conversion::Decimate(decimator) => decimator.reset(),
            Conversion::Rubato(engine) => engine.reset(),
        }
    }
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("latency_input_samples", &self.latency_input_samples())
            .finish()
    }
}
