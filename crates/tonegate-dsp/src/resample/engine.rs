//! The rubato engine behind a converting [`Resampler`](super::Resampler): fixed input
//! chunks, a pending partial chunk, start-up samples dropped, and the exact position map.

use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::{
    Async, FixedAsync, Resampler as _, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

use super::{Error, Filter, INTERPOLATED_PHASES, MAX_EXACT_PHASES};
use crate::SampleRate;

/// State of a converting (`from != to`) resampler.
pub(super) struct Engine {
    rubato: Async<f32>,
    /// Input samples per rubato chunk.
    pub(super) chunk: usize,
    /// A partial chunk waiting for more input; only `pending[..pending_len]` is live.
    pending: Box<[f32]>,
    pending_len: usize,
    /// Most output samples one chunk can yield.
    pub(super) max_chunk_output: usize,
    /// Most chunks `flush` can need.
    pub(super) max_flush_chunks: usize,
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
    pub(super) input_per_output: f64,
    pub(super) first_position: f64,
    pub(super) latency: usize,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Engine {
    pub(super) fn new(from: SampleRate, to: SampleRate, filter: Filter) -> Result<Self, Error> {
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

    pub(super) fn max_output_len(&self, input_len: usize) -> usize {
        input_len.div_ceil(self.chunk) * self.max_chunk_output
    }

    pub(super) fn process(&mut self, input: &[f32], out: &mut [f32]) -> usize {
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

    pub(super) fn flush(&mut self, out: &mut [f32]) -> usize {
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

    pub(super) fn reset(&mut self) {
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
