//! The signal the detector benches run on.

use std::time::Duration;

use tonegate::SampleRate;
use tonegate::dsp::Digit;
use tonegate::dsp::tone::{Cadence, render_digits};

/// `seconds` of keyed digits (70 ms on, 73 ms off: half the time in tone) over faint
/// noise, at `rate`.
pub(crate) fn keyed_digits(rate: SampleRate, seconds: usize) -> Vec<f32> {
    let digits: Vec<Digit> = "0123456"
        .chars()
        .map(|c| Digit::from_char(c).unwrap())
        .collect();
    let cadence = Cadence {
        on: Duration::from_millis(70),
        off: Duration::from_millis(73),
        level_dbm0: -10.0,
    };
    let mut second = render_digits(&digits, cadence, rate).unwrap();
    second.resize(rate.hz() as usize, 0.0);
    let mut seed = 0x9e37_79b9_u32;
    let mut samples = Vec::with_capacity(second.len() * seconds);
    for _ in 0..seconds {
        samples.extend(second.iter().map(|x| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            x + (seed >> 8) as f32 / (1u32 << 24) as f32 * 0.002 - 0.001
        }));
    }
    samples
}

/// `seconds` of a load-bench call: one 80 ms key (both tones at -10 dBm0) every 2 s in
/// white noise at -50 dBm0 over 0-4 kHz (uniform, seeded), at `rate`.
pub(crate) fn sparse_digits(rate: SampleRate, seconds: usize) -> Vec<f32> {
    let cadence = Cadence {
        on: Duration::from_millis(80),
        off: Duration::from_millis(0),
        level_dbm0: -10.0,
    };
    let period = rate.hz() as usize * 2;
    let band_power = tonegate::dsp::level::dbm0_to_peak(-50.0).powi(2) / 2.0;
    let amplitude = (3.0 * band_power * rate.hz() as f32 / 8_000.0).sqrt();
    let mut seed = 0x9e37_79b9_u32;
    let mut samples = Vec::with_capacity(rate.hz() as usize * seconds);
    for n in 0..seconds.div_ceil(2) {
        let digit = Digit::from_char(b"0123456789*#ABCD"[n % 16] as char).unwrap();
        let mut period_samples = render_digits(&[digit], cadence, rate).unwrap();
        period_samples.resize(period, 0.0);
        samples.extend(period_samples.iter().map(|x| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            x + ((seed >> 8) as f32 / (1u32 << 23) as f32 - 1.0) * amplitude
        }));
    }
    samples.truncate(rate.hz() as usize * seconds);
    samples
}
