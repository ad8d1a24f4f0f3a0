//! A sample rate that tonegate supports (8 to 48 kHz).

use std::fmt;

/// A sample rate in hertz, between [`SampleRate::MIN`] and [`SampleRate::MAX`] inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SampleRate(u32);

/// The rate given is outside the supported range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unsupported sample rate {0} Hz (supported: 8000 to 48000 Hz)")]
pub struct SampleRateError(pub u32);

impl SampleRate {
    /// Lowest supported rate.
    pub const MIN: u32 = 8_000;
    /// Highest supported rate.
    pub const MAX: u32 = 48_000;
    /// Narrowband telephony (G.711).
    pub const HZ_8000: SampleRate = SampleRate(8_000);
    /// Wideband (ACS default).
    pub const HZ_16000: SampleRate = SampleRate(16_000);
    /// ACS high-quality stream rate.
    pub const HZ_24000: SampleRate = SampleRate(24_000);
    /// Studio rate.
    pub const HZ_48000: SampleRate = SampleRate(48_000);

    /// Checks that `hz` is within the supported range.
    pub fn new(hz: u32) -> Result<Self, SampleRateError> {
        if (Self::MIN..=Self::MAX).contains(&hz) {
            Ok(SampleRate(hz))
        } else {
            Err(SampleRateError(hz))
        }
    }

    /// The rate in hertz.
    pub fn hz(self) -> u32 {
        self.0
    }

    /// Converts a sample count at this rate to milliseconds.
    pub fn samples_to_ms(self, samples: f64) -> f64 {
        samples * 1000.0 / f64::from(self.0)
    }

    /// Converts a duration in milliseconds to a whole number of samples at this rate.
    pub fn ms_to_samples(self, ms: f64) -> usize {
        (ms * f64::from(self.0) / 1000.0).round().max(0.0) as usize
    }
}

impl fmt::Display for SampleRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Hz", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_supported_range() {
        assert!(SampleRate::new(7_999).is_err());
        assert!(SampleRate::new(48_001).is_err());
        assert_eq!(SampleRate::new(8_000).unwrap().hz(), 8_000);
        assert_eq!(SampleRate::new(44_100).unwrap().hz(), 44_100);
    }

    #[test]
    fn converts_between_samples_and_ms() {
        let rate = SampleRate::HZ_16000;
        assert_eq!(rate.ms_to_samples(20.0), 320);
        assert_eq!(rate.samples_to_ms(160.0), 10.0);
    }
}
