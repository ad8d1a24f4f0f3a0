//! The window tests: whether the newest 20 ms hold one valid tone pair, and the
//! correlations and helpers they are computed with.

use num_complex::Complex32;

use super::detector::recent_block;
use super::goertzel::LANES;
use super::trace::{Rejection, Verdict};
use super::{BLOCK_LEN, Detector, Digit, MIN_FILL, WINDOW_BLOCKS, WINDOW_LEN};
use crate::dsp::level;

/// A window that holds one valid tone pair.
#[derive(Debug, Clone, Copy)]
pub(super) struct Qualified {
    pub(super) digit: Digit,
    /// Magnitude a full block would have for each tone (low, high).
    pub(super) full_block: [f32; 2],
    pub(super) levels_dbm0: [f32; 2],
    /// Peak amplitude of each tone.
    pub(super) peaks: [f32; 2],
    /// Measured frequency of each tone, radians per sample.
    pub(super) frequencies: [f32; 2],
    /// Share of the window that sound fills.
    pub(super) fill: f32,
}

impl Detector {
    /// Whether neither tone of a qualified window carries a second harmonic: speech, song
    /// and animal calls do, DTMF tones do not (Q.23 keeps them 20 dB down). Run once per
    /// confirmation, so its direct correlations cost nothing per sample.
    ///
    /// A low tone's harmonic can fall within two bins of the high tone (1394 Hz next to
    /// 1336 Hz for `2`), where the 20 ms window leaks the high tone strongly. Both tones'
    /// leakage is therefore predicted from their measured amplitude and frequency and
    /// subtracted before the harmonic is judged.
    pub(super) fn harmonics_clear(&self, qualified: &Qualified) -> bool {
        let [low, high] = qualified.frequencies;
        let [low_tone, high_tone, low_harmonic, high_harmonic] =
            self.window_correlations([low, high, 2.0 * low, 2.0 * high]);
        let tones = [(low, low_tone), (high, high_tone)];
        [(low, low_harmonic), (high, high_harmonic)]
            .into_iter()
            .zip(qualified.peaks)
            .all(|((omega, mut residual), peak)| {
                let harmonic = 2.0 * omega;
                for &(tone, correlation) in &tones {
                    residual -= correlation * dirichlet(tone - harmonic) / WINDOW_LEN as f32;
                }
                let harmonic_peak = 2.0 * residual.norm() / (WINDOW_LEN as f32 * qualified.fill);
                harmonic_peak <= self.max_harmonic_ratio * peak
            })
    }

    /// The window's correlations with `exp(-j omega n)` for four `omegas`, n = 0 at its
    /// oldest sample, computed directly from the samples (only as a candidate nears
    /// confirmation, so rarely), in the side-by-side segments of [`Correlations`].
    fn window_correlations(&self, omegas: [f32; 4]) -> [Complex32; 4] {
        // Oldest block first, from their slots in `recent`.
        let mut window = [0.0f32; WINDOW_LEN];
        let first = self.blocks_done - WINDOW_BLOCKS as u64;
        for (block, samples) in (first..).zip(window.chunks_exact_mut(BLOCK_LEN)) {
            samples.copy_from_slice(recent_block(&self.recent, block));
        }
        let mut correlations = Correlations::new(omegas);
        correlations.add(&window);
        correlations.sums()
    }

    /// Checks the newest 20 ms window: the pair it holds, or what it was instead
    /// ([`Verdict::Nothing`] or [`Verdict::Rejected`]).
    pub(super) fn qualify_window(&self) -> Result<Qualified, Verdict> {
        let Some(energy) = self.window_energy() else {
            return Err(Verdict::Nothing);
        };
        let mut window = [Complex32::new(0.0, 0.0); LANES];
        for ago in 0..WINDOW_BLOCKS {
            for (sum, bin) in window.iter_mut().zip(self.block_ago(ago).bins) {
                *sum += bin;
            }
        }
        self.check_pair(&window, energy)
    }

    /// The newest window's energy, if it is whole and loud enough to hold a tone pair.
    /// By Cauchy-Schwarz no bin of the window exceeds `WINDOW_LEN` times its energy (the
    /// factor 2 covers rounding), so a quieter window fails the level gate of
    /// `check_pair` whatever its bins: silence between digits stops here.
    pub(super) fn window_energy(&self) -> Option<f32> {
        if self.blocks_done < WINDOW_BLOCKS as u64 {
            return None;
        }
        let mut energy = 0.0f32;
        for ago in 0..WINDOW_BLOCKS {
            energy += self.energy_ago(ago);
        }
        let below_gate = 2.0 * WINDOW_LEN as f32 * energy < self.min_window_power;
        (!below_gate).then_some(energy)
    }

    /// Frequency offset of `lane` in radians per sample, from the phase advance between
    /// the window's first four blocks and its last four. The lag between the two spans is
    /// taken between their energy centroids rather than assumed to be one block, so a
    /// window that the tone only partly fills (at onset, release, or around a dropout)
    /// reads the offset without bias.
    fn frequency_offset(&self, lane: usize, window: Complex32, lag_blocks: f32) -> f32 {
        let newest = self.block_ago(0).bins[lane];
        let oldest = self.block_ago(WINDOW_BLOCKS - 1).bins[lane];
        let advance = ((window - newest).conj() * (window - oldest)).arg();
        advance / (lag_blocks.max(0.25) * BLOCK_LEN as f32)
    }

    /// Blocks between the energy centroids of the window's first four blocks and its last
    /// four: the lag [`Self::frequency_offset`] divides by.
    fn span_lag_blocks(&self) -> f32 {
        let centroid = |ages: std::ops::Range<usize>| {
            let (mut weighted, mut total) = (0.0f32, 0.0f32);
            for age in ages {
                let energy = self.block_ago(WINDOW_BLOCKS - 1 - age).energy;
                weighted += age as f32 * energy;
                total += energy;
            }
            weighted / total.max(f32::MIN_POSITIVE)
        };
        centroid(1..WINDOW_BLOCKS) - centroid(0..WINDOW_BLOCKS - 1)
    }

    fn check_pair(&self, window: &[Complex32; LANES], energy: f32) -> Result<Qualified, Verdict> {
        let power = window.map(|w| w.norm_sqr());
        let row = strongest(&power[..4]);
        let column = 4 + strongest(&power[4..]);
        // Cheap gates first: most blocks of speech, music and silence stop here.
        // Tone energy in the window is 2|W|^2/N; deviation can cost up to ~4 dB before correction.
        // (Both sides times N, so no division slows the common rejection.)
        let pair_energy_n = 2.0 * (power[row] + power[column]);
        if pair_energy_n < 0.4 * self.config.min_pair_share * energy * WINDOW_LEN as f32 {
            return Err(Verdict::Nothing);
        }
        if power[row].min(power[column]) < self.min_window_power {
            return Err(Verdict::Nothing);
        }
        let stands_out = |best: usize, group: std::ops::Range<usize>| {
            group
                .filter(|&k| k != best)
                .all(|k| power[best] >= self.min_relative_peak * power[k])
        };
        if !stands_out(row, 0..4) || !stands_out(column, 4..8) {
            return Err(Verdict::Nothing);
        }
        // From here on the window looks like a key: a failed test is a rejection.
        let digit = Digit::from_position(row, column - 4);
        let rejected = |reason| Verdict::Rejected { digit, reason };
        // Frequency offset from the window's phase advance per block.
        let omega = self.bank.omega();
        let fill = self.fill();
        if fill < MIN_FILL {
            // A tone's onset or end: not yet (or no longer) a whole window of it.
            return Err(Verdict::Nothing);
        }
        let lag_blocks = self.span_lag_blocks();
        let mut peaks = [0.0f32; 2];
        let mut offsets = [0.0f32; 2];
        let mut tone_energy = 0.0f32;
        for (slot, lane) in [row, column].into_iter().enumerate() {
            let offset = self.frequency_offset(lane, window[lane], lag_blocks);
            if offset.abs() > self.config.max_frequency_deviation * omega[lane] as f32 {
                return Err(rejected(Rejection::FrequencyOffset));
            }
            offsets[slot] = offset;
            // A sine of peak A over n samples sums to A n / 2 and holds A^2 n / 2 of energy.
            let sounding = WINDOW_LEN as f32 * fill;
            peaks[slot] = 2.0 * self.derotated_magnitude(lane, offset) / sounding;
            tone_energy += peaks[slot] * peaks[slot] * sounding / 2.0;
        }
        let levels_dbm0 = peaks.map(level::peak_to_dbm0);
        if levels_dbm0[0].min(levels_dbm0[1]) < self.config.min_level_dbm0 {
            return Err(rejected(Rejection::Level));
        }
        let twist = levels_dbm0[1] - levels_dbm0[0];
        if twist < -self.config.max_normal_twist_db || twist > self.config.max_reverse_twist_db {
            return Err(rejected(Rejection::Twist));
        }
        if tone_energy < self.config.min_pair_share * energy {
            return Err(rejected(Rejection::EnergyShare));
        }
        Ok(Qualified {
            digit,
            full_block: peaks.map(|peak| peak * BLOCK_LEN as f32 / 2.0),
            levels_dbm0,
            peaks,
            frequencies: std::array::from_fn(|slot| {
                omega[[row, column][slot]] as f32 + offsets[slot]
            }),
            fill,
        })
    }

    /// Window magnitude of `lane` after undoing a frequency offset of `offset` rad/sample.
    fn derotated_magnitude(&self, lane: usize, offset: f32) -> f32 {
        // Only the magnitude matters, so the oldest block can keep its phase; each newer
        // block turns back by one more block's advance.
        let step = Complex32::from_polar(1.0, -offset * BLOCK_LEN as f32);
        let mut turn = Complex32::new(1.0, 0.0);
        let mut sum = Complex32::new(0.0, 0.0);
        for ago in (0..WINDOW_BLOCKS).rev() {
            sum += self.block_ago(ago).bins[lane] * turn;
            turn *= step;
        }
        magnitude(sum)
    }

    /// Share of the window that sound fills: 1 for steady sound throughout, m/5 for sound
    /// in m of the 5 blocks (after an onset, inside a dropout). Read from block energies,
    /// which a tone pair keeps steady, unlike single-frequency bins that the other tone's
    /// leakage makes wobble.
    fn fill(&self) -> f32 {
        let (mut energies, mut squares) = (0.0f32, 0.0f32);
        for ago in 0..WINDOW_BLOCKS {
            let energy = self.block_ago(ago).energy;
            energies += energy;
            squares += energy * energy;
        }
        if squares > 0.0 {
            energies * energies / (WINDOW_BLOCKS as f32 * squares)
        } else {
            0.0
        }
    }
}

/// Segments of the window whose correlations run side by side in
/// [`Correlations::add`]: each is a serial chain of complex products, so running several
/// overlaps their latencies.
const SEGMENTS: usize = 4;
/// Samples per segment.
const SEGMENT_LEN: usize = WINDOW_LEN / SEGMENTS;
/// Four frequencies times the segments: one lane each.
const CORRELATION_LANES: usize = 4 * SEGMENTS;

/// Four running correlations `sum x[n] exp(-j omega n)` over a window, each split into
/// [`SEGMENTS`] segments whose sums add up at the end. Real and imaginary parts are kept
/// apart so the compiler keeps the lanes in vector registers. Each lane performs the same
/// operations as `sum += phasor * x; phasor *= step` on [`Complex32`].
struct Correlations {
    phasor_re: [f32; CORRELATION_LANES],
    phasor_im: [f32; CORRELATION_LANES],
    sum_re: [f32; CORRELATION_LANES],
    sum_im: [f32; CORRELATION_LANES],
    step_re: [f32; CORRELATION_LANES],
    step_im: [f32; CORRELATION_LANES],
}

impl Correlations {
    /// Starts the correlations with `exp(-j omega n)` for four `omegas`: lane
    /// `4 * segment + k` holds frequency `k` from the segment's first sample on.
    fn new(omegas: [f32; 4]) -> Correlations {
        let steps = omegas.map(|omega| Complex32::from_polar(1.0, -omega));
        // A segment starts SEGMENT_LEN steps after the one before.
        let segment_steps = steps.map(|step| step.powu(SEGMENT_LEN as u32));
        let phasors: [Complex32; CORRELATION_LANES] =
            std::array::from_fn(|lane| segment_steps[lane % 4].powu((lane / 4) as u32));
        let steps: [Complex32; CORRELATION_LANES] = std::array::from_fn(|lane| steps[lane % 4]);
        Correlations {
            phasor_re: phasors.map(|z| z.re),
            phasor_im: phasors.map(|z| z.im),
            sum_re: [0.0; CORRELATION_LANES],
            sum_im: [0.0; CORRELATION_LANES],
            step_re: steps.map(|z| z.re),
            step_im: steps.map(|z| z.im),
        }
    }

    /// Correlates the whole window, oldest sample first.
    #[inline(always)]
    fn add(&mut self, window: &[f32; WINDOW_LEN]) {
        for n in 0..SEGMENT_LEN {
            let x: [f32; CORRELATION_LANES] =
                std::array::from_fn(|lane| window[(lane / 4) * SEGMENT_LEN + n]);
            for (k, &x) in x.iter().enumerate() {
                let (re, im) = (self.phasor_re[k], self.phasor_im[k]);
                self.sum_re[k] += re * x;
                self.sum_im[k] += im * x;
                self.phasor_re[k] = re * self.step_re[k] - im * self.step_im[k];
                self.phasor_im[k] = im * self.step_re[k] + re * self.step_im[k];
            }
        }
    }

    /// The four correlations over the whole window.
    fn sums(&self) -> [Complex32; 4] {
        std::array::from_fn(|k| {
            (0..SEGMENTS).fold(Complex32::default(), |total, segment| {
                let lane = 4 * segment + k;
                total + Complex32::new(self.sum_re[lane], self.sum_im[lane])
            })
        })
    }
}

/// `|z|` without `hypot`'s care for overflow (the detector's values are far from it),
/// which costs more than the rest of a block's bookkeeping.
pub(super) fn magnitude(z: Complex32) -> f32 {
    z.norm_sqr().sqrt()
}

/// `sum_{n<N} exp(j delta n)` for the window length N: how a complex tone `delta`
/// radians per sample away from a probe frequency shows in the probe's correlation.
fn dirichlet(delta: f32) -> Complex32 {
    let n = WINDOW_LEN as f32;
    let half = delta / 2.0;
    let magnitude = if half.sin().abs() < 1e-6 {
        n
    } else {
        (n * half).sin() / half.sin()
    };
    Complex32::from_polar(magnitude, half * (n - 1.0))
}

/// Index of the largest value (the first, if several are equal). Written as selects
/// rather than branches: in noise the winner is random, and mispredicted branches cost
/// more here than the rest of the window's cheap gates.
fn strongest(values: &[f32]) -> usize {
    let (mut best, mut best_value) = (0, values[0]);
    for (k, &v) in values.iter().enumerate().skip(1) {
        let better = v > best_value;
        best = if better { k } else { best };
        best_value = if better { v } else { best_value };
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(samples: &[f32], omega: f32) -> Complex32 {
        samples
            .iter()
            .enumerate()
            .map(|(n, &x)| x * Complex32::from_polar(1.0, -omega * n as f32))
            .sum()
    }

    #[test]
    fn segmented_correlations_match_direct_sums() {
        let samples: [f32; WINDOW_LEN] =
            std::array::from_fn(|n| (n as f32 * 0.61).sin() + 0.3 * (n as f32 * 1.7).cos());
        let omegas = [0.55, 0.61, 1.2, 1.7];
        let mut correlations = Correlations::new(omegas);
        correlations.add(&samples);
        for (omega, got) in omegas.into_iter().zip(correlations.sums()) {
            let expected = direct(&samples, omega);
            assert!(
                (got - expected).norm() < 1e-3,
                "{omega}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn dirichlet_is_the_window_sum_of_an_offset_tone() {
        assert!((dirichlet(0.0) - Complex32::new(WINDOW_LEN as f32, 0.0)).norm() < 1e-3);
        for delta in [0.01f32, 0.1, -0.3, 1.0] {
            let expected: Complex32 = (0..WINDOW_LEN)
                .map(|n| Complex32::from_polar(1.0, delta * n as f32))
                .sum();
            let got = dirichlet(delta);
            assert!(
                (got - expected).norm() < 1e-2 * WINDOW_LEN as f32,
                "{delta}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn strongest_is_the_first_largest() {
        assert_eq!(strongest(&[1.0, 3.0, 2.0, 3.0]), 1);
        assert_eq!(strongest(&[5.0, 1.0]), 0);
        assert_eq!(strongest(&[0.0, 0.0, 0.0, 0.5]), 3);
    }
}
