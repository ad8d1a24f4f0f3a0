//! 16-bit linear PCM: conversions between `i16` and `f32` (full scale 1.0 = 32768) and
//! between `i16` samples and little-endian bytes.

use super::Error;

/// Scale from 16-bit units to f32 full scale.
const SCALE: f32 = 32_768.0;

/// 1.5 * 2^23. Adding it to an `f32` of magnitude at most 2^22 gives a sum in
/// [2^23, 2^24), where the spacing of `f32` values is exactly 1: the addition itself rounds
/// to an integer (to nearest, ties to even, the default rounding mode), and that integer
/// is the difference between the sum's bit pattern and this constant's. Unlike
/// `f32::round_ties_even` plus a saturating cast, this needs no library call on targets
/// without SSE4.1 and about doubles encoding throughput.
const ROUND: f32 = 12_582_912.0;

/// Converts a 16-bit sample to `f32`: `s / 32768`, exact for every value
/// (-32768 gives -1.0, 32767 gives 0.999_969_5).
#[inline]
pub fn i16_to_f32(s: i16) -> f32 {
    f32::from(s) * (1.0 / SCALE)
}

/// Converts an `f32` sample to 16 bits: `x * 32768` rounded to nearest (ties to even),
/// saturating at -32768 and 32767 (infinities included); NaN gives 0.
///
/// Inverse of [`i16_to_f32`]: `f32_to_i16(i16_to_f32(s)) == s` for every `s`.
#[inline]
pub fn f32_to_i16(x: f32) -> i16 {
    // `clamp` passes NaN through, to be caught below.
    let scaled = (x * SCALE).clamp(-SCALE, SCALE - 1.0);
    let rounded = scaled + ROUND;
    if rounded.is_nan() {
        0
    } else {
        // In -32768..=32767, so the truncating cast keeps it whole.
        rounded.to_bits().wrapping_sub(ROUND.to_bits()) as i16
    }
}

/// Reads little-endian 16-bit samples from `bytes` into the front of `out`; returns the
/// number of samples written.
///
/// Fails with [`Error::OddByteCount`] when `bytes.len()` is odd and with
/// [`Error::OutputTooShort`] (counted in samples) when `out` is too short.
pub fn s16le_to_i16(bytes: &[u8], out: &mut [i16]) -> Result<usize, Error> {
    if !bytes.len().is_multiple_of(2) {
        return Err(Error::OddByteCount {
            len: bytes.len(),
            sample_size: 2,
        });
    }
    let count = bytes.len() / 2;
    let available = out.len();
    let out = out.get_mut(..count).ok_or(Error::OutputTooShort {
        needed: count,
        available,
    })?;
    for (sample, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *sample = i16::from_le_bytes([pair[0], pair[1]]);
    }
    Ok(count)
}

/// Writes `samples` as little-endian 16-bit bytes into the front of `out`; returns the
/// number of bytes written.
///
/// Fails with [`Error::OutputTooShort`] (counted in bytes) when `out` is too short.
pub fn i16_to_s16le(samples: &[i16], out: &mut [u8]) -> Result<usize, Error> {
    let len = samples.len() * 2;
    let available = out.len();
    let out = out.get_mut(..len).ok_or(Error::OutputTooShort {
        needed: len,
        available,
    })?;
    for (pair, &sample) in out.chunks_exact_mut(2).zip(samples) {
        pair.copy_from_slice(&sample.to_le_bytes());
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious implementation, as an oracle for the rounding trick.
    fn f32_to_i16_slow(x: f32) -> i16 {
        (x * SCALE).round_ties_even() as i16
    }

    #[test]
    fn extremes_are_exact() {
        assert_eq!(i16_to_f32(i16::MIN), -1.0);
        assert_eq!(i16_to_f32(0), 0.0);
        assert_eq!(i16_to_f32(i16::MAX), 32_767.0 / 32_768.0);
        assert_eq!(i16_to_f32(1), 1.0 / 32_768.0);
        assert_eq!(f32_to_i16(-1.0), i16::MIN);
        assert_eq!(f32_to_i16(1.0), i16::MAX);
        assert_eq!(f32_to_i16(32_767.0 / 32_768.0), i16::MAX);
        assert_eq!(f32_to_i16(0.0), 0);
        assert_eq!(f32_to_i16(-0.0), 0);
    }

    #[test]
    fn saturates_and_maps_nan_to_zero() {
        for (x, want) in [
            (1.5, i16::MAX),
            (-1.5, i16::MIN),
            (1e30, i16::MAX),
            (-1e30, i16::MIN),
            (f32::MAX, i16::MAX),
            (f32::MIN, i16::MIN),
            (f32::INFINITY, i16::MAX),
            (f32::NEG_INFINITY, i16::MIN),
            (f32::NAN, 0),
            (-f32::NAN, 0),
            (f32::from_bits(0x7FC0_1234), 0),
            (-1.0 - f32::EPSILON, i16::MIN),
        ] {
            assert_eq!(f32_to_i16(x), want, "{x}");
        }
    }

    #[test]
    fn rounds_to_nearest_ties_to_even() {
        let unit = 1.0 / SCALE;
        assert_eq!(f32_to_i16(0.5 * unit), 0);
        assert_eq!(f32_to_i16(1.5 * unit), 2);
        assert_eq!(f32_to_i16(2.5 * unit), 2);
        assert_eq!(f32_to_i16(-0.5 * unit), 0);
        assert_eq!(f32_to_i16(-1.5 * unit), -2);
        assert_eq!(f32_to_i16(0.49 * unit), 0);
        assert_eq!(f32_to_i16(0.51 * unit), 1);
        assert_eq!(f32_to_i16(32_766.5 * unit), 32_766);
        assert_eq!(f32_to_i16(32_767.49 * unit), 32_767);
        assert_eq!(f32_to_i16(-32_767.5 * unit), -32_768);
    }

    #[test]
    fn round_trips_every_i16() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(f32_to_i16(i16_to_f32(s)), s);
        }
    }

    #[test]
    fn agrees_with_round_ties_even_near_every_step() {
        // Every i16 value, the half steps either side and their neighbouring floats.
        for s in i32::from(i16::MIN) - 2..=i32::from(i16::MAX) + 2 {
            for offset in [-0.5, 0.0, 0.5] {
                let x = (s as f32 + offset) / SCALE;
                let bits = x.to_bits();
                for bits in [bits, bits.wrapping_sub(1), bits.wrapping_add(1)] {
                    let x = f32::from_bits(bits);
                    assert_eq!(f32_to_i16(x), f32_to_i16_slow(x), "{x:e}");
                }
            }
        }
    }

    #[test]
    fn agrees_with_round_ties_even_on_spread_bit_patterns() {
        // Every 4099th bit pattern covers all exponents, signs and NaN payloads.
        for bits in (0..=u32::MAX).step_by(4_099) {
            let x = f32::from_bits(bits);
            assert_eq!(f32_to_i16(x), f32_to_i16_slow(x), "{bits:#010x}");
        }
    }

    #[test]
    fn s16le_helpers_round_trip_and_check_sizes() {
        let samples = [i16::MIN, -1, 0, 1, i16::MAX];
        let mut bytes = [0; 10];
        assert_eq!(i16_to_s16le(&samples, &mut bytes), Ok(10));
        assert_eq!(bytes, [0x00, 0x80, 0xFF, 0xFF, 0, 0, 1, 0, 0xFF, 0x7F]);
        let mut back = [0; 6];
        assert_eq!(s16le_to_i16(&bytes, &mut back), Ok(5));
        assert_eq!(back[..5], samples);
        assert_eq!(
            s16le_to_i16(&bytes[..9], &mut back),
            Err(Error::OddByteCount {
                len: 9,
                sample_size: 2
            })
        );
        assert_eq!(
            s16le_to_i16(&bytes, &mut back[..4]),
            Err(Error::OutputTooShort {
                needed: 5,
                available: 4
            })
        );
        assert_eq!(
            i16_to_s16le(&samples, &mut bytes[..9]),
            Err(Error::OutputTooShort {
                needed: 10,
                available: 9
            })
        );
    }
}
