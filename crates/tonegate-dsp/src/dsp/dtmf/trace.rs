//! What the detector saw in each 4 ms block, for people looking at it (plots, the live
//! monitor): the block's tone powers and energy, and what became of the window that
//! ends with it. Handed out by [`Detector::process_observed`](super::Detector::process_observed)
//! and [`Receiver::process_observed`](crate::receiver::Receiver::process_observed);
//! the plain `process` builds none of it.

use super::{BLOCK_LEN, Digit};

/// Why a window that looked like a digit (one row tone and one column tone standing
/// out of their groups) was not taken as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// A tone was further from its nominal frequency than `max_frequency_deviation`.
    FrequencyOffset,
    /// A tone was below `min_level_dbm0`.
    Level,
    /// The level difference of the two tones was outside the twist limits.
    Twist,
    /// The pair held less than `min_pair_share` of the window's energy.
    EnergyShare,
    /// A tone carried a second harmonic (speech, song): `min_harmonic_rejection_db`.
    Harmonics,
    /// The candidate stopped before it lasted `min_tone_ms`.
    TooShort,
}

impl Rejection {
    /// Every reason, in a fixed order (for legends).
    pub const ALL: [Rejection; 6] = [
        Rejection::FrequencyOffset,
        Rejection::Level,
        Rejection::Twist,
        Rejection::EnergyShare,
        Rejection::Harmonics,
        Rejection::TooShort,
    ];

    /// A short name: `frequency offset`, `level`, `twist`, `energy share`, `harmonics`,
    /// `too short`.
    pub fn name(self) -> &'static str {
        match self {
            Rejection::FrequencyOffset => "frequency offset",
            Rejection::Level => "level",
            Rejection::Twist => "twist",
            Rejection::EnergyShare => "energy share",
            Rejection::Harmonics => "harmonics",
            Rejection::TooShort => "too short",
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the detector made of the 20 ms window ending with a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verdict {
    /// Nothing like a digit: silence, or no tone pair standing out.
    #[default]
    Nothing,
    /// The window held this key's pair and passed every test.
    Qualified(Digit),
    /// The sounding digit's tones still held (the window test was not needed).
    Holding(Digit),
    /// The window looked like this key but failed a test.
    Rejected {
        /// The key the pair would have been.
        digit: Digit,
        /// The test it failed.
        reason: Rejection,
    },
}

/// One analysed 4 ms block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Block {
    /// Position of the block's end, in samples from the start of the stream (at the
    /// analysis rate from the detector, at the input rate from a receiver).
    pub end: f64,
    /// Power of each keypad tone (rows 697-941 Hz, then columns 1209-1633 Hz) over the
    /// 20 ms window ending with the block, as the window test measures it, scaled to
    /// one block: a steady sine of peak `A` reads `(A * 32 / 2)^2`.
    pub tone_power: [f32; 8],
    /// Sum of squared samples over the block, without its mean.
    pub energy: f32,
    /// What became of the window ending here.
    pub verdict: Verdict,
}

impl Block {
    /// Samples per block at the analysis rate.
    pub const LEN: usize = BLOCK_LEN;

    /// Level of tone `lane` in dB relative to a full-scale sine filling the block
    /// (0 dB), floored at -120.
    pub fn tone_db(&self, lane: usize) -> f32 {
        let full_scale = (BLOCK_LEN as f32 / 2.0).powi(2);
        power_db(self.tone_power[lane] / full_scale)
    }

    /// Broadband level of the block in dB relative to a full-scale sine (0 dB), floored
    /// at -120.
    pub fn level_db(&self) -> f32 {
        power_db(self.energy / (BLOCK_LEN as f32 / 2.0))
    }
}

/// `10 log10(ratio)`, floored at -120 dB.
fn power_db(ratio: f32) -> f32 {
    if ratio > 1e-12 {
        10.0 * ratio.log10()
    } else {
        -120.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_scale_sine_reads_zero_db() {
        let block = Block {
            end: 32.0,
            tone_power: [(16.0f32).powi(2); 8],
            energy: 16.0,
            verdict: Verdict::Nothing,
        };
        assert!(block.tone_db(3).abs() < 1e-4);
        assert!(block.level_db().abs() < 1e-4);
        let silent = Block {
            tone_power: [0.0; 8],
            energy: 0.0,
            ..block
        };
        assert_eq!(silent.level_db(), -120.0);
    }
}
