//! A bank of eight single-bin DFT filters evaluated over fixed-length blocks.
//!
//! Each lane measures one frequency. For a block `x[0..len]` starting at absolute
//! sample `n0`, lane `k` yields the complex correlation
//! `X_k = sum_m x[m] * exp(-j * w_k * (n0 + m))`, phase-referenced to the start of the
//! stream. Because every block shares that reference, consecutive blocks can be summed
//! coherently into longer windows and their phase advance measures frequency offset.
//!
//! Two evaluations of the same quantity live here:
//! - [`Bank::process_goertzel`] runs the classic Goertzel recurrence. It is the scalar
//!   reference: short, well known, and independent of any table.
//! - [`Bank::process`] multiplies by a phasor table. The compiler vectorises its eight
//!   lanes; [`Bank::process_blocks`] and [`Bank::process_each`] run several blocks side by
//!   side so their chains of additions overlap. It is the hot path. Tests hold the two
//!   evaluations equal, and the batched one bit-identical to the single one.
//!
//! The tables depend only on the frequencies, the rate and the block length, so every
//! bank built alike shares one (a process-wide cache): a server's calls all read the same
//! 2 KiB, which stay in the cache, instead of each fetching its own from memory.

use std::sync::Arc;

use num_complex::Complex32;

use crate::shared::Shared;

/// Number of filters in a bank.
pub const LANES: usize = 8;

/// Goertzel filter bank for eight frequencies, a fixed block length and a fixed rate.
#[derive(Debug, Clone)]
pub struct Bank {
    block_len: usize,
    /// The phasor tables, shared by every bank of the same frequencies, rate and block
    /// length.
    tables: Arc<Tables>,
    /// Angular frequency per lane, radians per sample.
    omega: [f64; LANES],
    phase: Phase,
}

/// A bank's phasor tables: `block_len` rows of one value per lane.
#[derive(Debug)]
struct Tables {
    /// `cos(w_k * m)` for block position `m`, lane `k`.
    cos: Box<[[f32; LANES]]>,
    /// `-sin(w_k * m)`, same layout.
    sin: Box<[[f32; LANES]]>,
}

/// What a bank's [`Tables`] depend on: the frequencies' and the rate's bits, and the
/// block length.
type TablesKey = ([u32; LANES], u32, usize);

/// The process's phasor tables, one per [`TablesKey`] in use.
static TABLES: Shared<TablesKey, Tables> = Shared::new();

impl Tables {
    /// The tables of lanes at `omega` (radians per sample) over `block_len` samples.
    fn new(omega: [f64; LANES], block_len: usize) -> Tables {
        let table = |trig: fn(f64) -> f64, sign: f64| -> Box<[[f32; LANES]]> {
            (0..block_len)
                .map(|m| omega.map(|w| (sign * trig(w * m as f64)) as f32))
                .collect()
        };
        Tables {
            cos: table(f64::cos, 1.0),
            sin: table(f64::sin, -1.0),
        }
    }
}

/// The stream phase reference that blocks are moved to.
#[derive(Debug, Clone)]
struct Phase {
    /// `exp(-j * w_k * n0)` for the next block's start `n0`, kept in f64 against drift:
    /// real parts, then imaginary parts (split so the eight lanes vectorise).
    rotator: [[f64; LANES]; 2],
    /// `exp(-j * w_k * block_len)`: the rotator's step per block, split the same way.
    rotator_step: [[f64; LANES]; 2],
    blocks_since_normalised: u32,
}

/// Rotators at stream position zero: `exp(0) = 1` in every lane.
const UNIT_ROTATORS: [[f64; LANES]; 2] = [[1.0; LANES], [0.0; LANES]];

/// Blocks between renormalisations of the f64 rotators (drift per block is ~1e-16).
const RENORMALISE_BLOCKS: u32 = 1024;

/// Real parts, imaginary parts, energy and sum of one block's correlations.
type Correlations = ([f32; LANES], [f32; LANES], f32, f32);

/// The analysis of `N` consecutive blocks (correlation, then [`Phase::finish_block`]) into
/// the results, compiled for the CPU the program runs on.
type Analyse<const N: usize> =
    fn(&mut Phase, [&[f32]; N], &[[f32; LANES]], &[[f32; LANES]], &mut [BlockResult; N]);

/// Blocks [`Bank::process_blocks`] correlates in one pass: five of the detector's 4 ms
/// blocks make the 20 ms frame a receiver typically passes, and their ten accumulator
/// vectors fit AVX's sixteen registers.
pub const BATCH: usize = 5;

/// Keeps [`Bank::process_each`]'s arms and [`BATCH`] in step.
const _: () = assert!(BATCH == 5);

/// Multiplies `N` blocks by the phasor tables. Written so the compiler vectorises the
/// eight lanes: two 4-wide SSE registers on any x86-64, one 8-wide AVX register where
/// [`analyse_avx2`] is chosen. Each block's sums are a serial chain of additions (their
/// order fixes the results); running `N` blocks side by side overlaps those chains and
/// shares the table loads.
#[inline(always)]
fn correlate_lanes<const N: usize>(
    blocks: [&[f32]; N],
    cos: &[[f32; LANES]],
    sin: &[[f32; LANES]],
) -> [Correlations; N] {
    let len = cos.len().min(sin.len());
    for block in blocks {
        assert_eq!(block.len(), len, "block length mismatch");
    }
    let mut re = [[0.0f32; LANES]; N];
    let mut im = [[0.0f32; LANES]; N];
    for m in 0..len {
        let (cos, sin) = (&cos[m], &sin[m]);
        for b in 0..N {
            let x = blocks[b][m];
            for k in 0..LANES {
                re[b][k] += x * cos[k];
                im[b][k] += x * sin[k];
            }
        }
    }
    // Energy and sum in a pass of their own: inside the loop above their accumulators
    // would crowd the correlations out of the registers. A plain loop, not inside
    // `from_fn`'s closure, which would not inherit the AVX2 codegen.
    let mut sums = [(0.0f32, 0.0f32); N];
    for (sums, block) in sums.iter_mut().zip(blocks) {
        *sums = energy_and_sum(block);
    }
    std::array::from_fn(|b| (re[b], im[b], sums[b].0, sums[b].1))
}

/// A block's sum of squares and sum, eight samples abreast, as [`BlockResult`] has them
/// (before a non-finite energy turns the block to silence): the same bits whatever the
/// CPU, since the additions keep their order.
#[inline(always)]
pub fn energy_and_sum(block: &[f32]) -> (f32, f32) {
    let (mut squares, mut values) = ([0.0f32; LANES], [0.0f32; LANES]);
    for chunk in block.chunks_exact(LANES) {
        for ((square, value), &x) in squares.iter_mut().zip(&mut values).zip(chunk) {
            *square += x * x;
            *value += x;
        }
    }
    let remainder = block.chunks_exact(LANES).remainder();
    for ((square, value), &x) in squares.iter_mut().zip(&mut values).zip(remainder) {
        *square += x * x;
        *value += x;
    }
    (squares.iter().sum(), values.iter().sum())
}

/// Correlates `N` consecutive blocks and moves them to the stream phase reference.
#[inline(always)]
fn analyse_lanes<const N: usize>(
    phase: &mut Phase,
    blocks: [&[f32]; N],
    cos: &[[f32; LANES]],
    sin: &[[f32; LANES]],
    results: &mut [BlockResult; N],
) {
    // A plain loop rather than `map`, whose closure would not inherit the AVX2 codegen.
    // By reference: iterating the array by value would copy it first.
    let correlations = correlate_lanes(blocks, cos, sin);
    for (result, correlations) in results.iter_mut().zip(&correlations) {
        *result = phase.finish_block(*correlations);
    }
}

fn analyse_portable<const N: usize>(
    phase: &mut Phase,
    blocks: [&[f32]; N],
    cos: &[[f32; LANES]],
    sin: &[[f32; LANES]],
    results: &mut [BlockResult; N],
) {
    analyse_lanes(phase, blocks, cos, sin, results);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn analyse_avx2_unchecked<const N: usize>(
    phase: &mut Phase,
    blocks: [&[f32]; N],
    cos: &[[f32; LANES]],
    sin: &[[f32; LANES]],
    results: &mut [BlockResult; N],
) {
    analyse_lanes(phase, blocks, cos, sin, results);
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // See SAFETY below (resample/decimate.rs dispatches alike).
fn analyse_avx2<const N: usize>(
    phase: &mut Phase,
    blocks: [&[f32]; N],
    cos: &[[f32; LANES]],
    sin: &[[f32; LANES]],
    results: &mut [BlockResult; N],
) {
    // SAFETY: chosen by `best_analyse` only after the CPU reported AVX2.
    unsafe { analyse_avx2_unchecked(phase, blocks, cos, sin, results) }
}

/// The fastest analysis this CPU runs (same arithmetic, same results, wider registers:
/// Rust contracts no `a * b + c` into a fused multiply-add, so AVX2 rounds alike).
fn best_analyse<const N: usize>() -> Analyse<N> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        return analyse_avx2;
    }
    analyse_portable
}

/// What one block produced.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BlockResult {
    /// Complex correlation per lane, referenced to the start of the stream.
    pub bins: [Complex32; LANES],
    /// Sum of squared samples over the block.
    pub energy: f32,
    /// Sum of the samples over the block (its mean times its length).
    pub sum: f32,
}

impl Bank {
    /// Builds a bank for `frequencies` (hertz) at `rate` (hertz) over blocks of `block_len` samples.
    ///
    /// # Panics
    /// If `block_len` is zero; the detector passes a constant.
    pub fn new(frequencies: [f32; LANES], rate: f32, block_len: usize) -> Bank {
        assert!(block_len > 0, "block length must be positive");
        let omega = frequencies.map(|f| std::f64::consts::TAU * f64::from(f) / f64::from(rate));
        let key = (frequencies.map(f32::to_bits), rate.to_bits(), block_len);
        Bank {
            block_len,
            tables: TABLES.get(key, |_| Arc::new(Tables::new(omega, block_len))),
            omega,
            phase: Phase {
                rotator: UNIT_ROTATORS,
                rotator_step: {
                    let step = omega
                        .map(|w| num_complex::Complex64::from_polar(1.0, -w * block_len as f64));
                    [step.map(|z| z.re), step.map(|z| z.im)]
                },
                blocks_since_normalised: 0,
            },
        }
    }

    /// Angular frequency of each lane in radians per sample.
    pub fn omega(&self) -> [f64; LANES] {
        self.omega
    }

    /// Moves the phase reference past `blocks` blocks left unanalysed, exactly as
    /// analysing them would: their results are never asked for.
    pub fn skip(&mut self, blocks: u64) {
        for _ in 0..blocks {
            self.phase.advance();
        }
    }

    /// Restarts the phase reference at stream position zero.
    pub fn reset(&mut self) {
        self.phase.rotator = UNIT_ROTATORS;
        self.phase.blocks_since_normalised = 0;
    }

    /// Analyses the next block of the stream with the phasor table (the hot path).
    ///
    /// # Panics
    /// If `block.len()` differs from the bank's block length.
    pub fn process(&mut self, block: &[f32]) -> BlockResult {
        let mut results = [BlockResult::default()];
        self.analyse([block], &mut results);
        results[0]
    }

    /// Analyses the next [`BATCH`] blocks, `samples` holding them back to back: the same
    /// results, bit for bit, as [`Self::process`] on each in turn, in less time.
    ///
    /// # Panics
    /// If `samples.len()` is not `BATCH` block lengths.
    pub fn process_blocks(&mut self, samples: &[f32]) -> [BlockResult; BATCH] {
        assert_eq!(
            samples.len(),
            BATCH * self.block_len,
            "block length mismatch"
        );
        let blocks = std::array::from_fn(|b| &samples[b * self.block_len..][..self.block_len]);
        let mut results = [BlockResult::default(); BATCH];
        self.analyse(blocks, &mut results);
        results
    }

    /// Analyses the next `blocks.len()` blocks (1 to [`BATCH`], anywhere in memory) into
    /// the start of `results`: the same results, bit for bit, as [`Self::process`] on each
    /// in turn, in less time the more there are.
    ///
    /// # Panics
    /// If there are no blocks or more than [`BATCH`], if a block's length differs from the
    /// bank's block length, or if `results` is shorter than `blocks`.
    pub fn process_each(&mut self, blocks: &[&[f32]], results: &mut [BlockResult]) {
        match blocks.len() {
            1 => self.analyse_into::<1>(blocks, results),
            2 => self.analyse_into::<2>(blocks, results),
            3 => self.analyse_into::<3>(blocks, results),
            4 => self.analyse_into::<4>(blocks, results),
            5 => self.analyse_into::<5>(blocks, results),
            n => panic!("{n} blocks: a batch is 1 to {BATCH}"),
        }
    }

    /// [`Self::process_each`] for `N` blocks.
    fn analyse_into<const N: usize>(&mut self, blocks: &[&[f32]], results: &mut [BlockResult]) {
        let blocks: [&[f32]; N] = blocks.try_into().expect("N blocks");
        let results: &mut [BlockResult; N] = (&mut results[..N]).try_into().expect("N results");
        self.analyse(blocks, results);
    }

    /// Analyses the next `N` blocks into `results` with the fastest code for this CPU.
    fn analyse<const N: usize>(&mut self, blocks: [&[f32]; N], results: &mut [BlockResult; N]) {
        let tables = &*self.tables;
        (best_analyse::<N>())(&mut self.phase, blocks, &tables.cos, &tables.sin, results);
    }

    /// Analyses the next block with the Goertzel recurrence (the scalar reference).
    ///
    /// # Panics
    /// If `block.len()` differs from the bank's block length.
    pub fn process_goertzel(&mut self, block: &[f32]) -> BlockResult {
        assert_eq!(block.len(), self.block_len, "block length mismatch");
        let last = (self.block_len - 1) as f64;
        let (mut energy, mut sum) = (0.0f32, 0.0f32);
        for &x in block {
            energy += x * x;
            sum += x;
        }
        let local = std::array::from_fn(|k| {
            let w = self.omega[k];
            let coeff = (2.0 * w.cos()) as f32;
            let (mut s1, mut s2) = (0.0f32, 0.0f32);
            for &x in block {
                let s0 = x + coeff * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            // y = s1 - exp(-jw) s2 sums x[m] exp(jw(len-1-m)); rotate back to the block start.
            let y = num_complex::Complex64::new(
                f64::from(s1) - w.cos() * f64::from(s2),
                w.sin() * f64::from(s2),
            );
            let x = y * num_complex::Complex64::from_polar(1.0, -w * last);
            Complex32::new(x.re as f32, x.im as f32)
        });
        self.phase
            .finish_block((local.map(|z| z.re), local.map(|z| z.im), energy, sum))
    }
}

impl Phase {
    /// Moves block-relative bins to the stream phase reference and advances it.
    ///
    /// A block holding non-finite values (or values so large their energy overflows)
    /// reads as silence, so one bad sample cannot poison later windows.
    ///
    /// The complex products are written out on split real and imaginary parts, with the
    /// same operations in the same order as `num_complex`'s `*` and `*=`, so the eight
    /// lanes vectorise without changing a bit of the results.
    #[inline(always)]
    fn finish_block(&mut self, (re, im, energy, sum): Correlations) -> BlockResult {
        let [rotator_re, rotator_im] = &self.rotator;
        let result = if energy.is_finite() {
            let turn_re = rotator_re.map(|r| r as f32);
            let turn_im = rotator_im.map(|r| r as f32);
            BlockResult {
                bins: std::array::from_fn(|k| {
                    Complex32::new(
                        re[k] * turn_re[k] - im[k] * turn_im[k],
                        re[k] * turn_im[k] + im[k] * turn_re[k],
                    )
                }),
                energy,
                sum,
            }
        } else {
            BlockResult::default()
        };
        self.advance();
        result
    }

    /// Moves the phase reference to the next block's start.
    #[inline(always)]
    fn advance(&mut self) {
        let [rotator_re, rotator_im] = &mut self.rotator;
        let [step_re, step_im] = &self.rotator_step;
        for k in 0..LANES {
            let (r, i) = (rotator_re[k], rotator_im[k]);
            rotator_re[k] = r * step_re[k] - i * step_im[k];
            rotator_im[k] = i * step_re[k] + r * step_im[k];
        }
        self.blocks_since_normalised += 1;
        if self.blocks_since_normalised == RENORMALISE_BLOCKS {
            self.blocks_since_normalised = 0;
            for (r, i) in rotator_re.iter_mut().zip(rotator_im.iter_mut()) {
                let norm = r.hypot(*i);
                *r /= norm;
                *i /= norm;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FREQS: [f32; LANES] = [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0];

    fn signal(len: usize) -> Vec<f32> {
        // A deterministic mix of tones and a little pseudo-random noise.
        let mut seed = 0x2545_f491_u32;
        (0..len)
            .map(|n| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let noise = (seed as f32 / u32::MAX as f32 - 0.5) * 0.05;
                let t = n as f32 / 8000.0;
                0.3 * (std::f32::consts::TAU * 770.0 * t).sin()
                    + 0.2 * (std::f32::consts::TAU * 1477.0 * t + 0.4).sin()
                    + noise
            })
            .collect()
    }

    #[test]
    fn table_path_matches_the_goertzel_recurrence() {
        let mut fast = Bank::new(FREQS, 8000.0, 32);
        let mut reference = fast.clone();
        for block in signal(32 * 500).chunks(32) {
            let a = fast.process(block);
            let b = reference.process_goertzel(block);
            assert!((a.energy - b.energy).abs() <= 1e-5 * b.energy.max(1.0));
            assert!((a.sum - b.sum).abs() <= 1e-5 * b.energy.max(1.0));
            for k in 0..LANES {
                let scale = 1.0 + b.bins[k].norm();
                assert!(
                    (a.bins[k] - b.bins[k]).norm() < 2e-4 * scale,
                    "lane {k}: {a:?} vs {b:?}"
                );
            }
        }
    }

    #[test]
    fn the_cpu_specific_analysis_matches_the_portable_one_exactly() {
        let mut bank = Bank::new(FREQS, 8000.0, 32);
        for block in signal(32 * 50).chunks(32) {
            let mut phase = bank.phase.clone();
            let tables = &*bank.tables;
            let (mut portable, mut best) = ([BlockResult::default()], [BlockResult::default()]);
            analyse_portable(&mut phase, [block], &tables.cos, &tables.sin, &mut portable);
            (best_analyse())(
                &mut bank.phase,
                [block],
                &tables.cos,
                &tables.sin,
                &mut best,
            );
            assert_eq!(portable, best);
            assert_eq!(phase.rotator, bank.phase.rotator);
        }
    }

    #[test]
    fn a_batch_of_blocks_matches_one_block_at_a_time_exactly() {
        let mut single = Bank::new(FREQS, 8000.0, 32);
        let mut batched = single.clone();
        for batch in signal(32 * BATCH * 300).chunks(32 * BATCH) {
            let one_by_one: Vec<BlockResult> = batch
                .chunks(32)
                .map(|block| single.process(block))
                .collect();
            assert_eq!(batched.process_blocks(batch).to_vec(), one_by_one);
        }
    }

    #[test]
    fn blocks_anywhere_in_any_number_match_one_block_at_a_time_exactly() {
        let mut single = Bank::new(FREQS, 8000.0, 32);
        let mut each = single.clone();
        let samples = signal(32 * 300);
        let blocks: Vec<&[f32]> = samples.chunks(32).rev().collect();
        let mut results = [BlockResult::default(); BATCH];
        for (n, batch) in (1..=BATCH).cycle().zip(blocks.chunks(BATCH)) {
            let batch = &batch[..n.min(batch.len())];
            let one_by_one: Vec<BlockResult> = batch.iter().map(|b| single.process(b)).collect();
            each.process_each(batch, &mut results);
            assert_eq!(results[..batch.len()], one_by_one[..]);
        }
    }

    #[test]
    fn banks_alike_share_one_table_and_others_get_their_own() {
        let (a, b) = (Bank::new(FREQS, 8000.0, 32), Bank::new(FREQS, 8000.0, 32));
        assert!(Arc::ptr_eq(&a.tables, &b.tables));
        let other = Bank::new(FREQS, 16000.0, 32);
        assert!(!Arc::ptr_eq(&a.tables, &other.tables));
        assert_eq!(other.tables.cos.len(), 32);
        assert!(other.tables.sin[1] != a.tables.sin[1]);
    }

    #[test]
    fn consecutive_blocks_sum_to_the_long_window_dft() {
        let x = signal(160);
        let mut bank = Bank::new(FREQS, 8000.0, 32);
        let mut sum = [Complex32::new(0.0, 0.0); LANES];
        for block in x.chunks(32) {
            let r = bank.process(block);
            for (total, bin) in sum.iter_mut().zip(r.bins) {
                *total += bin;
            }
        }
        for (k, f) in FREQS.iter().enumerate() {
            let w = std::f32::consts::TAU * f / 8000.0;
            let direct: Complex32 = x
                .iter()
                .enumerate()
                .map(|(n, &v)| v * Complex32::from_polar(1.0, -w * n as f32))
                .sum();
            assert!((direct - sum[k]).norm() < 1e-3, "lane {k}");
        }
    }

    #[test]
    fn a_sine_on_a_bin_has_magnitude_half_amplitude_times_length() {
        let mut bank = Bank::new(FREQS, 8000.0, 32);
        let block: Vec<f32> = (0..32)
            .map(|n| 0.5 * (std::f32::consts::TAU * 1209.0 * n as f32 / 8000.0).cos())
            .collect();
        let r = bank.process(&block);
        // Within the leakage of the short block's negative-frequency image.
        assert!(
            (r.bins[4].norm() - 0.5 * 32.0 / 2.0).abs() < 0.5,
            "{}",
            r.bins[4].norm()
        );
        assert!(r.bins[0].norm() < 2.0);
    }
}
