//! The level reference: 0 dBm0 in tonegate's normalised sample scale.
//!
//! Samples are `f32` with full scale at 1.0 (16-bit PCM divided by 32 768). The G.711
//! digital milliwatt puts 0 dBm0 at a sine peak of 3.14 dB below full scale, about
//! 22 800 in 16-bit linear PCM. Every generator, threshold and report uses this module.

/// Peak amplitude of a 0 dBm0 sine, relative to full scale (10^(-3.14/20)).
pub const DBM0_PEAK: f32 = 0.696_626_6;

/// Peak amplitude of a sine at `dbm0`.
pub fn dbm0_to_peak(dbm0: f32) -> f32 {
    DBM0_PEAK * 10f32.powf(dbm0 / 20.0)
}

/// Level in dBm0 of a sine with the given peak amplitude.
pub fn peak_to_dbm0(peak: f32) -> f32 {
    20.0 * (peak.max(1e-12) / DBM0_PEAK).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_dbm0_is_the_digital_milliwatt() {
        let peak_16bit = dbm0_to_peak(0.0) * 32_768.0;
        assert!((peak_16bit - 22_827.0).abs() < 2.0, "{peak_16bit}");
    }

    #[test]
    fn conversions_are_inverse() {
        for dbm0 in [-55.0, -25.0, -10.0, 0.0, 3.0] {
            assert!((peak_to_dbm0(dbm0_to_peak(dbm0)) - dbm0).abs() < 1e-4);
        }
    }
}
