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
