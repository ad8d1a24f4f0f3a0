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

use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::{
    Async, FixedAsync, Resampler as _, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

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
    engine: Option<Box<Engine>>,
}

/// State of a converting (`from != to`) resampler.
struct Engine {
    rubato: Async<f32>,
    /// Input samples per rubato chunk.
    chunk: usize,
    /// A partial chunk waiting for more input; only `pending[..pending_len]` is live.
    pending: Box<[f32]>,
    pending_len: usize,
    /// Most output samples one chunk can yield.
    max_chunk_output: usize,
    /// Most chunks `flush` can need.
    max_flush_chunks: usize,
    /// Start-up output samples to drop (`lead` at the start of a stream).
    lead: usize,
    to_drop: usize,
    /// Input samples consumed and output samples written since the start of the stream.
    consumed: u64,
    produced: u64,
    /// Exact timing, in units of `1 / position_den` input samples: output `i` represents input
    /// position `(i * position_step + position_offset) / position_den`.
    position_step: u128,
    position_offset: u128,
    position_den: u128,
    /// The same map in input samples: `i * input_per_output + first_position`.
    input_per_output: f64,
    first_position: f64,
    latency: usize,
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
    /// zero-delay pass-through copy.
    pub fn with_filter(from: SampleRate, to: SampleRate, filter: Filter) -> Result<Self, Error> {
        let engine = if from == to {
            None
        } else {
            Some(Box::new(Engine::new(from, to, filter)?))
        };
        Ok(Resampler { from, to, engine })
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
        match &self.engine {
            None => input_len,
            Some(engine) => engine.max_output_len(input_len),
        }
    }

    /// Upper bound on samples [`flush`](Self::flush) can write (callers size its `out` with
    /// it). It does not depend on the resampler's state.
    pub fn max_flush_len(&self) -> usize {
        match &self.engine {
            None => 0,
            Some(engine) => engine.max_flush_chunks * engine.max_chunk_output,
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
        match &mut self.engine {
            None => {
                out[..input.len()].copy_from_slice(input);
                input.len()
            }
            Some(engine) => engine.process(input, out),
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
        match &mut self.engine {
            None => 0,
            Some(engine) => engine.flush(out),
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
    /// samples are dropped.
    pub fn output_to_input_position(&self, output_index: f64) -> f64 {
        match &self.engine {
            None => output_index,
            Some(engine) => output_index * engine.input_per_output + engine.first_position,
        }
    }

    /// Total delay in input samples between an input sample arriving and the output sample
    /// that represents it being written (filter group delay + internal chunk buffering,
    /// worst case). Used to account for latency.
    ///
    /// This is an upper bound that exceeds the true worst case by at most one sample.
    pub fn latency_input_samples(&self) -> usize {
        self.engine.as_ref().map_or(0, |engine| engine.latency)
    }

    /// Input samples per rubato chunk (1 or 2 ms of input by filter; 0 for a pass-through).
    ///
    /// A caller that always hands over whole multiples of it never waits on a partial chunk:
    /// after each call the output then reaches to within
    /// `latency_input_samples() - (chunk_len() - 1)` input samples of the newest input (the
    /// group delay plus about one sample). The 10 and 20 ms frames of every integer-kHz rate
    /// are such multiples.
    pub fn chunk_len(&self) -> usize {
        self.engine.as_ref().map_or(0, |engine| engine.chunk)
    }

    /// Forgets the stream: clears the filter history and any buffered input, and restarts
    /// the sample counts, as if newly built.
    pub fn reset(&mut self) {
        if let Some(engine) = &mut self.engine {
            engine.reset();
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

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Engine {
    fn new(from: SampleRate, to: SampleRate, filter: Filter) -> Result<Self, Error> {
        let (from_hz, to_hz) = (u64::from(from.hz()), u64::from(to.hz()));
        let (sinc_len_per_ratio, f_cutoff, chunk_ms) = filter.shape();
        // Output instants fall on a grid of `1 / (to / gcd)` input samples.
        let to_red = to_hz / gcd(from_hz, to_hz);
        let exact = to_red as usize <= MAX_EXACT_PHASES;
        let (phases, interpolation) = if exact {
            (to_red as usize, SincInterpolationType::Nearest)
        } else {
            (INTERPOLATED_PHASES, SincInterpolationType::Cubic)
        };
        // Filter length scales with the decimation ratio so that the transition band stays
        // fixed relative to the output Nyquist frequency.
        let sinc_len = (sinc_len_per_ratio as u64 * from_hz.max(to_hz))
            .div_ceil(to_hz)
            .next_multiple_of(8) as usize;
        let chunk = (from_hz * u64::from(chunk_ms)).div_ceil(1000) as usize;
        let params = SincInterpolationParameters {
            sinc_len,
            f_cutoff: Some(f_cutoff),
            oversampling_factor: phases,
            interpolation,
            window: WindowFunction::Blackman,
        };
        let rubato = Async::<f32>::new_sinc(
            to_hz as f64 / from_hz as f64,
            1.0,
            &params,
            chunk,
            1,
            FixedAsync::Input,
        )
        .map_err(|source| Error::Construction { from, to, source })?;

        // Timing. rubato computes stream output k (counting the start-up samples) from a
        // `sinc_len` window whose centre lies at input position
        // `(k + 1) * from / to + 1 / phases - sinc_len / 2`
        // (its interpolation index starts at `1 - sinc_len` and each sinc phase `s` is centred
        // at `sinc_len / 2 - 1 + (s + 1) / phases` within the window). In units of
        // `1 / (to * phases)` input samples that is `(k + 1) * step + to - half * den`.
        let phases = phases as u128;
        let (from_u, to_u) = (u128::from(from_hz), u128::from(to_hz));
        let den = to_u * phases;
        let step = from_u * phases;
        let half = (sinc_len / 2) as u128;
        // Drop the outputs centred before input sample 0: `lead` is the smallest count with
        // `(lead + 1) * step + to >= half * den`.
        let lead = (half * den - to_u).div_ceil(step).saturating_sub(1);
        let offset = (lead + 1) * step + to_u - half * den;

        // rubato emits stream output k once the chunk holding input sample
        // `ceil(centre + sinc_len / 2 + 1 - 1 / phases)` is complete. The output representing
        // input sample n is centred less than one output period after n (at most
        // `from / to - 1 / phases` after it on the exact grid), so the last input it waits
        // for is at most `ceil(from / to + sinc_len / 2 + 1 - grid / phases)` after n, plus up
        // to `chunk - 1` samples until the chunk completes.
        let grid: u128 = if exact { 2 } else { 1 };
        let latency = ((step + (half + 1) * den - grid * to_u).div_ceil(den)) as usize + chunk - 1;

        // At the end of a stream the last needed output waits for input up to
        // `end + sinc_len / 2 + 1`, which takes at most this many chunks from the pending one.
        let max_flush_chunks = (sinc_len / 2 + chunk + 1).div_ceil(chunk);
        let max_chunk_output = (chunk as u64 * to_hz / from_hz) as usize + 1;

        Ok(Engine {
            rubato,
            chunk,
            pending: vec![0.0; chunk].into_boxed_slice(),
            pending_len: 0,
            max_chunk_output,
            max_flush_chunks,
            lead: lead as usize,
            to_drop: lead as usize,
            consumed: 0,
            produced: 0,
            position_step: step,
            position_offset: offset,
            position_den: den,
            input_per_output: from_hz as f64 / to_hz as f64,
            first_position: offset as f64 / den as f64,
            latency,
        })
    }

    fn max_output_len(&self, input_len: usize) -> usize {
        input_len.div_ceil(self.chunk) * self.max_chunk_output
    }

    fn process(&mut self, input: &[f32], out: &mut [f32]) -> usize {
        let mut written = 0;
        let mut rest = input;
        if self.pending_len > 0 {
            let take = rest.len().min(self.chunk - self.pending_len);
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&rest[..take]);
            self.pending_len += take;
            rest = &rest[take..];
            if self.pending_len < self.chunk {
                self.consumed += input.len() as u64;
                return 0;
            }
            written += run_chunk(
                &mut self.rubato,
                &mut self.to_drop,
                &self.pending,
                &mut out[written..],
            );
            self.pending_len = 0;
        }
        let mut whole = rest.chunks_exact(self.chunk);
        for chunk in &mut whole {
            written += run_chunk(
                &mut self.rubato,
                &mut self.to_drop,
                chunk,
                &mut out[written..],
            );
        }
        let tail = whole.remainder();
        self.pending[..tail.len()].copy_from_slice(tail);
        self.pending_len = tail.len();
        self.consumed += input.len() as u64;
        self.produced += written as u64;
        written
    }

    /// Output samples whose position lies before input sample `consumed`.
    fn outputs_covering_input(&self) -> u64 {
        let end = u128::from(self.consumed) * self.position_den;
        if end <= self.position_offset {
            return 0;
        }
        (end - self.position_offset).div_ceil(self.position_step) as u64
    }

    fn flush(&mut self, out: &mut [f32]) -> usize {
        let target = self.outputs_covering_input();
        let mut written = 0usize;
        while self.produced + (written as u64) < target {
            // The first pass pads the pending partial chunk; later passes are all zeros.
            self.pending[self.pending_len..].fill(0.0);
            self.pending_len = 0;
            written += run_chunk(
                &mut self.rubato,
                &mut self.to_drop,
                &self.pending,
                &mut out[written..],
            );
        }
        let needed = (target - self.produced) as usize;
        self.reset();
        needed
    }

    fn reset(&mut self) {
        self.rubato.reset();
        self.pending_len = 0;
        self.to_drop = self.lead;
        self.consumed = 0;
        self.produced = 0;
    }
}

/// Runs one full chunk through rubato into the front of `out`, drops start-up samples still
/// owed, and returns how many samples it kept.
fn run_chunk(
    rubato: &mut Async<f32>,
    to_drop: &mut usize,
    chunk: &[f32],
    out: &mut [f32],
) -> usize {
    let input = SequentialSlice::new(chunk, 1, chunk.len()).expect("mono slice");
    let out_len = out.len();
    let mut output = SequentialSlice::new_mut(&mut *out, 1, out_len).expect("mono slice");
    let (_, made) = rubato
        .process_into_buffer(&input, &mut output, None)
        .expect("chunk and output sized in Engine::new");
    if *to_drop == 0 {
        return made;
    }
    let dropped = made.min(*to_drop);
    *to_drop -= dropped;
    out.copy_within(dropped..made, 0);
    made - dropped
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn rate(hz: u32) -> SampleRate {
        SampleRate::new(hz).unwrap()
    }

    fn resampler(from: u32, to: u32) -> Resampler {
        Resampler::new(rate(from), rate(to)).unwrap()
    }

    /// xorshift64*: small deterministic PRNG for test signals and chunk sizes.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> usize {
            (self.next() % n) as usize
        }

        fn signal(&mut self, len: usize) -> Vec<f32> {
            (0..len)
                .map(|_| (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
                .collect()
        }
    }

    fn sine(fs: u32, freq: f64, amp: f64, len: usize) -> Vec<f32> {
        (0..len)
            .map(|n| (amp * (2.0 * PI * freq * n as f64 / f64::from(fs)).sin()) as f32)
            .collect()
    }

    /// Converts `input` given as the listed chunks, then flushes.
    fn convert_in_chunks(r: &mut Resampler, input: &[f32], sizes: &[usize]) -> Vec<f32> {
        let mut result = Vec::new();
        let mut rest = input;
        for &size in sizes {
            let (now, later) = rest.split_at(size.min(rest.len()));
            let mut out = vec![0.0; r.max_output_len(now.len())];
            let n = r.process(now, &mut out);
            result.extend_from_slice(&out[..n]);
            rest = later;
        }
        assert!(rest.is_empty());
        let mut out = vec![0.0; r.max_flush_len()];
        let n = r.flush(&mut out);
        result.extend_from_slice(&out[..n]);
        result
    }

    fn convert(r: &mut Resampler, input: &[f32]) -> Vec<f32> {
        convert_in_chunks(r, input, &[input.len()])
    }

    /// Amplitude and phase (radians, of a sine) of the `freq` component of `y` sampled at
    /// `fs`; `y` must hold a whole number of cycles.
    fn tone(y: &[f32], fs: f64, freq: f64, first_index: usize) -> (f64, f64) {
        let (mut s, mut c) = (0.0, 0.0);
        for (k, &v) in y.iter().enumerate() {
            let theta = 2.0 * PI * freq * (first_index + k) as f64 / fs;
            s += f64::from(v) * theta.sin();
            c += f64::from(v) * theta.cos();
        }
        let n = y.len() as f64;
        ((s * s + c * c).sqrt() * 2.0 / n, c.atan2(s))
    }

    fn rms(y: &[f32]) -> f64 {
        (y.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / y.len() as f64).sqrt()
    }

    fn db(ratio: f64) -> f64 {
        20.0 * ratio.log10()
    }

    const PATHS: [(u32, u32); 9] = [
        (16_000, 8_000),
        (24_000, 8_000),
        (48_000, 8_000),
        (44_100, 8_000),
        (11_025, 8_000),
        (8_000, 16_000),
        (8_000, 24_000),
        (8_000, 44_100),
        (44_100, 16_000),
    ];

    #[test]
    fn any_chunking_gives_identical_output() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        for (from, to) in PATHS.into_iter().chain([(44_101, 8_000), (8_000, 8_000)]) {
            let input = rng.signal(from as usize / 2 + 37);
            let whole = convert(&mut resampler(from, to), &input);
            for _ in 0..4 {
                let mut sizes = Vec::new();
                let mut left = input.len();
                while left > 0 {
                    let size = match rng.below(4) {
                        0 => 0,
                        1 => rng.below(4),
                        2 => rng.below(100),
                        _ => rng.below(1_500),
                    }
                    .min(left);
                    sizes.push(size);
                    left -= size;
                }
                let split = convert_in_chunks(&mut resampler(from, to), &input, &sizes);
                assert!(
                    whole
                        .iter()
                        .map(|v| v.to_bits())
                        .eq(split.iter().map(|v| v.to_bits())),
                    "{from} -> {to}: chunked output differs ({} vs {} samples)",
                    whole.len(),
                    split.len()
                );
            }
        }
    }

    #[test]
    fn passband_is_flat_to_3400_hz() {
        for (from, to) in PATHS {
            for freq in [300.0, 1_000.0, 2_000.0, 3_300.0, 3_400.0] {
                let mut r = resampler(from, to);
                let out = convert(&mut r, &sine(from, freq, 0.5, from as usize));
                // Half a second in the middle: whole cycles, far from both ends.
                let (start, len) = (to as usize / 4, to as usize / 2);
                let (amp, _) = tone(&out[start..start + len], f64::from(to), freq, start);
                let gain = db(amp / 0.5);
                assert!(
                    gain.abs() <= 0.1,
                    "{from} -> {to} at {freq} Hz: {gain:.3} dB"
                );
            }
        }
    }

    #[test]
    fn detection_filter_is_flat_over_the_keypad_and_rejects_aliases_below_3300_hz() {
        for from in [16_000, 24_000, 48_000, 44_100, 11_025] {
            let rate = |hz| SampleRate::new(hz).unwrap();
            let detection =
                || Resampler::with_filter(rate(from), rate(8_000), Filter::Detection).unwrap();
            for freq in [650.0, 1_000.0, 1_700.0, 1_950.0] {
                let out = convert(&mut detection(), &sine(from, freq, 0.5, from as usize));
                let (start, len) = (2_000, 4_000);
                let (amp, _) = tone(&out[start..start + len], 8_000.0, freq, start);
                let gain = db(amp / 0.5);
                assert!(gain.abs() <= 0.1, "{from} at {freq} Hz: {gain:.3} dB");
            }
            let mut freq = 4_700.0;
            while freq < f64::from(from) / 2.0 {
                let input = sine(from, freq, 0.5, from as usize / 5);
                let out = convert(&mut detection(), &input);
                let level = db(rms(&out[300..out.len() - 300]) / rms(&input));
                assert!(level <= -60.0, "{from} at {freq} Hz: {level:.1} dB");
                freq += if from <= 16_000 { 100.0 } else { 300.0 };
            }
            // Half the wideband filter's delay, and no wait for a chunk to fill.
            let r = detection();
            let limit = from as usize * 23 / 10_000 + 1; // 2.3 ms, against 4.1 ms for wideband
            assert!(
                r.latency_input_samples() <= limit,
                "{from}: {}",
                r.latency_input_samples()
            );
        }
    }

    #[test]
    fn decimation_rejects_everything_that_would_alias_below_3400_hz() {
        for from in [16_000, 24_000, 48_000, 44_100, 11_025] {
            let mut freq = 4_600.0;
            while freq < f64::from(from) / 2.0 {
                let mut r = resampler(from, 8_000);
                let input = sine(from, freq, 0.5, from as usize / 5);
                let out = convert(&mut r, &input);
                // Skip the start and end transients (the filter is at most 24 ms long here).
                let level = db(rms(&out[300..out.len() - 300]) / rms(&input));
                assert!(level <= -60.0, "{from} -> 8000 at {freq} Hz: {level:.1} dB");
                freq += if from <= 16_000 { 100.0 } else { 300.0 };
            }
        }
    }

    #[test]
    fn sixteen_k_five_k_tone_is_60_db_down() {
        let mut r = resampler(16_000, 8_000);
        let input = sine(16_000, 5_000.0, 0.5, 16_000);
        let out = convert(&mut r, &input);
        let level = db(rms(&out[400..out.len() - 400]) / rms(&input));
        assert!(level <= -60.0, "{level:.1} dB");
    }

    #[test]
    fn interpolation_rejects_images() {
        for (from, to) in [
            (8_000, 16_000),
            (8_000, 24_000),
            (8_000, 44_100),
            (16_000, 48_000),
        ] {
            let mut freq = 200.0;
            while freq <= 3_400.0 * f64::from(from) / 8_000.0 {
                let mut r = resampler(from, to);
                let out = convert(&mut r, &sine(from, freq, 0.5, from as usize));
                let (start, len) = (to as usize / 4, to as usize / 2);
                let window = &out[start..start + len];
                let (amp, phase) = tone(window, f64::from(to), freq, start);
                // Everything but the tone itself is an image (or noise).
                let residual: Vec<f32> = window
                    .iter()
                    .enumerate()
                    .map(|(k, &v)| {
                        let theta = 2.0 * PI * freq * (start + k) as f64 / f64::from(to);
                        v - (amp * (theta + phase).sin()) as f32
                    })
                    .collect();
                let level = db(rms(&residual) / (amp / 2f64.sqrt()));
                assert!(
                    level <= -60.0,
                    "{from} -> {to} at {freq} Hz: images at {level:.1} dB"
                );
                freq += 200.0;
            }
        }
    }

    /// Measures timing with a steady tone: after mapping each output sample to its input
    /// position, the tone's phase must match the input's. A timing error of e input samples
    /// shows as a phase error of 2 pi f e / fs.
    #[test]
    fn positions_match_input_time_to_a_hundredth_of_a_sample() {
        for (from, to) in PATHS {
            for freq in [1_000.0, 3_000.0] {
                let mut r = resampler(from, to);
                let out = convert(&mut r, &sine(from, freq, 0.5, from as usize));
                let (start, len) = (to as usize / 4, to as usize / 2);
                let (mut s, mut c) = (0.0, 0.0);
                for (i, &v) in out.iter().enumerate().skip(start).take(len) {
                    let t = r.output_to_input_position(i as f64);
                    let theta = 2.0 * PI * freq * t / f64::from(from);
                    s += f64::from(v) * theta.sin();
                    c += f64::from(v) * theta.cos();
                }
                let error = c.atan2(s) / (2.0 * PI * freq) * f64::from(from);
                assert!(
                    error.abs() < 0.01,
                    "{from} -> {to} at {freq} Hz: timing off by {error:.4} input samples"
                );
            }
        }
    }

    /// An impulse comes out as the (symmetric) filter response centred on the impulse; the
    /// centroid of the output, mapped back, finds the impulse.
    #[test]
    fn impulse_maps_back_to_its_input_position() {
        for (from, to) in PATHS {
            for at in [1_000, 1_001, 1_002, 1_003, 1_010, 1_111] {
                let mut input = vec![0.0f32; 3_000];
                input[at] = 1.0;
                let mut r = resampler(from, to);
                let out = convert(&mut r, &input);
                let (mut weight, mut moment) = (0.0, 0.0);
                for (i, &v) in out.iter().enumerate() {
                    weight += f64::from(v);
                    moment += f64::from(v) * r.output_to_input_position(i as f64);
                }
                let found = moment / weight;
                assert!(
                    (found - at as f64).abs() < 0.02,
                    "{from} -> {to}: impulse at {at} found at {found:.4}"
                );
            }
        }
    }

    /// A tone burst that starts at input sample `onset` (zero before it) has a step envelope
    /// whose band-limited edge lies half-way between samples `onset - 1` and `onset`. The
    /// burst is converted twice, in cosine and in sine phase, which together form a complex
    /// tone; demodulating that at the tone frequency, with each output sample's mapped input
    /// position, leaves the envelope convolved with the filter. Its real part is the step
    /// response of the symmetric filter weighted by the even `cos`, so it crosses half its
    /// final level exactly at the edge.
    ///
    /// Tolerance: the output samples that step only once per output period (`from / to`
    /// input samples: 6 at 48 kHz to 8 kHz, where the whole rise spans about two periods), and
    /// interpolating between them is good to about 5 % of a period. So the test allows a
    /// tenth of an output period (0.2 to 0.6 input samples when decimating, within the 1-sample
    /// goal); a delay off by one output sample would miss by ten times that. The steady-tone
    /// phase test above checks positions more finely.
    #[test]
    fn tone_burst_onset_maps_back_to_the_input_onset() {
        let freq = 1_000.0;
        for (from, to) in PATHS {
            for onset in [2_000usize, 2_001, 2_003] {
                let omega = 2.0 * PI * freq / f64::from(from);
                let burst = |phase: f64| -> Vec<f32> {
                    (0..4_000)
                        .map(|n: usize| match n.checked_sub(onset) {
                            Some(k) => (0.5 * (omega * k as f64 + phase).cos()) as f32,
                            None => 0.0,
                        })
                        .collect()
                };
                let mut r = resampler(from, to);
                let cos_out = convert(&mut r, &burst(0.0));
                let sin_out = convert(&mut r, &burst(-PI / 2.0));
                let envelope: Vec<(f64, f64)> = (0..cos_out.len())
                    .map(|i| {
                        let t = r.output_to_input_position(i as f64);
                        let theta = omega * (t - onset as f64);
                        let level = f64::from(cos_out[i]) * theta.cos()
                            + f64::from(sin_out[i]) * theta.sin();
                        (t, level)
                    })
                    .collect();
                let settled = &envelope[envelope.len() / 2..envelope.len() * 3 / 4];
                let half = settled.iter().map(|&(_, level)| level).sum::<f64>()
                    / settled.len() as f64
                    / 2.0;
                // The crossing lies between points k - 1 and k; interpolate with the cubic
                // through the four points around it (Lagrange), solved by bisection.
                let k = envelope
                    .iter()
                    .position(|&(_, level)| level >= half)
                    .unwrap();
                let points = &envelope[k - 2..k + 2];
                let cubic = |t: f64| -> f64 {
                    points
                        .iter()
                        .enumerate()
                        .map(|(a, &(ta, ea))| {
                            let basis: f64 = points
                                .iter()
                                .enumerate()
                                .filter(|&(b, _)| b != a)
                                .map(|(_, &(tb, _))| (t - tb) / (ta - tb))
                                .product();
                            ea * basis
                        })
                        .sum()
                };
                let (mut lo, mut hi) = (points[1].0, points[2].0);
                for _ in 0..60 {
                    let mid = 0.5 * (lo + hi);
                    if cubic(mid) < half {
                        lo = mid
                    } else {
                        hi = mid
                    }
                }
                let found = 0.5 * (lo + hi);
                let edge = onset as f64 - 0.5;
                let tolerance = 0.1 * f64::from(from) / f64::from(to);
                assert!(
                    (found - edge).abs() < tolerance,
                    "{from} -> {to}: edge at {edge} found at {found:.3}"
                );
            }
        }
    }

    #[test]
    fn identity_is_an_exact_copy_with_no_delay() {
        let mut r = resampler(8_000, 8_000);
        assert_eq!(r.latency_input_samples(), 0);
        assert_eq!(r.output_to_input_position(123.5), 123.5);
        assert_eq!(r.max_flush_len(), 0);
        let input = Rng(7).signal(1_000);
        let mut out = vec![0.0; r.max_output_len(input.len())];
        assert_eq!(r.process(&input, &mut out), input.len());
        assert_eq!(out, input);
        assert_eq!(r.flush(&mut []), 0);
    }

    #[test]
    fn flush_covers_the_whole_input() {
        for (from, to) in PATHS {
            for len in [0, 1, 5, 100, 999, 8_000, 44_100] {
                let mut r = resampler(from, to);
                let out = convert(&mut r, &vec![0.25; len]);
                let expected = len as f64 * f64::from(to) / f64::from(from);
                assert!(
                    (out.len() as f64 - expected).abs() <= 1.0,
                    "{from} -> {to}, {len} in: {} out, expected {expected:.2}",
                    out.len()
                );
                // The last output sample represents a position inside the input, and the
                // next one would not.
                if let Some(last) = out.len().checked_sub(1) {
                    assert!(r.output_to_input_position(last as f64) < len as f64);
                }
                assert!(r.output_to_input_position(out.len() as f64) >= len as f64);
            }
        }
    }

    #[test]
    fn flush_resets_for_the_next_stream() {
        let input = Rng(3).signal(5_000);
        let mut r = resampler(24_000, 8_000);
        let first = convert(&mut r, &input);
        let second = convert(&mut r, &input);
        assert_eq!(first, second);
    }

    #[test]
    fn reset_forgets_the_stream() {
        let mut rng = Rng(11);
        let (noise, input) = (rng.signal(777), rng.signal(5_000));
        let mut r = resampler(48_000, 8_000);
        let mut out = vec![0.0; r.max_output_len(noise.len())];
        r.process(&noise, &mut out);
        r.reset();
        assert_eq!(
            convert(&mut r, &input),
            convert(&mut resampler(48_000, 8_000), &input)
        );
    }

    /// Feeds one sample at a time and measures, for every input sample, how many more input
    /// samples arrive before the output sample representing it (the first at or after it)
    /// is written.
    #[test]
    fn latency_is_a_tight_worst_case_bound() {
        for (from, to) in PATHS.into_iter().chain([(44_101, 8_000)]) {
            let mut r = resampler(from, to);
            let len = 3 * from as usize / 10;
            let mut written_after = Vec::new();
            let mut out = vec![0.0; r.max_output_len(1)];
            for n in 0..len {
                let made = r.process(&[0.0], &mut out);
                written_after.extend(std::iter::repeat_n(n, made));
            }
            let mut worst = 0;
            let mut i = 0;
            for n in 0..len {
                while r.output_to_input_position(i as f64) < n as f64 {
                    i += 1;
                }
                let Some(&when) = written_after.get(i) else {
                    break;
                };
                worst = worst.max(when - n);
            }
            let bound = r.latency_input_samples();
            assert!(
                worst <= bound && worst + 1 >= bound,
                "{from} -> {to}: measured worst {worst}, reported {bound}"
            );
        }
    }

    #[test]
    fn small_output_buffers_are_enough() {
        // Every call sized exactly with max_output_len / max_flush_len (rubato checks its
        // own buffer needs, so an undersized bound would panic there).
        let mut rng = Rng(99);
        for (from, to) in PATHS.into_iter().chain([(44_101, 8_000), (48_000, 47_999)]) {
            let mut r = resampler(from, to);
            for _ in 0..200 {
                let len = rng.below(200);
                let input = rng.signal(len);
                let mut out = vec![0.0; r.max_output_len(input.len())];
                r.process(&input, &mut out);
            }
            let mut out = vec![0.0; r.max_flush_len()];
            r.flush(&mut out);
        }
    }

    #[test]
    #[should_panic(expected = "output buffer too short")]
    fn undersized_output_panics_with_a_clear_message() {
        let mut r = resampler(16_000, 8_000);
        r.process(&[0.0; 320], &mut [0.0; 10]);
    }

    #[test]
    fn reports_its_rates_and_delays() {
        let r = resampler(16_000, 8_000);
        assert_eq!(r.from_rate(), SampleRate::HZ_16000);
        assert_eq!(r.to_rate(), SampleRate::HZ_8000);
        assert_eq!(r.chunk_len(), 32);
        for (from, to) in [
            (16_000, 8_000),
            (24_000, 8_000),
            (48_000, 8_000),
            (8_000, 16_000),
        ] {
            let r = resampler(from, to);
            let ms = |samples: usize| samples as f64 * 1000.0 / f64::from(from);
            let worst = r.latency_input_samples();
            let aligned = worst - (r.chunk_len() - 1);
            eprintln!(
                "{from} -> {to}: chunk {}, worst-case latency {worst} ({:.2} ms), \
                 frame-aligned lag {aligned} ({:.2} ms), output 0 at input {:.3}",
                r.chunk_len(),
                ms(worst),
                ms(aligned),
                r.output_to_input_position(0.0)
            );
            // 2 ms of group delay plus at most one 2 ms chunk and a couple of samples.
            assert!(ms(worst) <= 4.2, "{from} -> {to}: {:.2} ms", ms(worst));
            assert!(ms(aligned) <= 2.2, "{from} -> {to}: {:.2} ms", ms(aligned));
        }
    }

    /// Fed whole 20 ms frames, the output after every call reaches to within the aligned lag
    /// of the newest input sample.
    #[test]
    fn frame_aligned_input_lags_by_the_group_delay_only() {
        for (from, to) in [
            (16_000, 8_000),
            (24_000, 8_000),
            (48_000, 8_000),
            (8_000, 16_000),
        ] {
            let mut r = resampler(from, to);
            let frame = from as usize / 50;
            assert_eq!(frame % r.chunk_len(), 0);
            let lag_bound = (r.latency_input_samples() - (r.chunk_len() - 1)) as f64;
            let mut out = vec![0.0; r.max_output_len(frame)];
            let mut produced = 0;
            let mut worst: f64 = 0.0;
            for k in 1..=50 {
                produced += r.process(&vec![0.1; frame], &mut out);
                let newest = (k * frame - 1) as f64;
                let lag = newest - r.output_to_input_position((produced - 1) as f64);
                worst = worst.max(lag);
            }
            assert!(
                worst <= lag_bound && worst > lag_bound - 2.0 * f64::from(from) / f64::from(to),
                "{from} -> {to}: lag {worst}, bound {lag_bound}"
            );
        }
    }
}
