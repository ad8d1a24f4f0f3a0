//! G.711 mu-law and A-law companding, bit-exact with ITU-T G.711 as implemented by the
//! ITU-T G.191 Software Tool Library (`g711.c`).
//!
//! Linear samples are 16-bit. G.711 itself is defined on 14-bit (mu-law) and 13-bit (A-law)
//! uniform codes; like G.191, the encoders take the 14 or 13 most significant bits in
//! sign-magnitude form (the magnitude of a negative `x` is taken from `!x`, its ones'
//! complement), which puts every G.711 decision value on a 16-bit integer boundary. They do
//! not round first: rounding to 14 or 13 bits would move every decision value by half a
//! step (see `testdata/g711/README.md`). The decoders return the middle of each
//! quantisation interval, scaled to 16 bits.
//!
//! All four directions are table lookups; the tables (256 entries to decode, 16,384 and
//! 4,096 to encode, indexed by the bits that matter) are computed at compile time by
//! `const fn` transcriptions of the G.191 routines.
//!
//! Consequences worth knowing:
//! - `linear_to_*(!x) == linear_to_*(x) ^ 0x80` for every `x`: the coders are symmetric
//!   in the 16-bit two's-complement grid.
//! - mu-law has two codes for zero, 0xFF (+0) and 0x7F (-0); both decode to 0, and
//!   encoding 0 gives 0xFF, so 0x7F is the one code that does not survive a decode-encode
//!   round trip. Inputs -4..=-1 encode to 0x7F.
//! - A-law has no zero code: 0xD5 and 0x55 decode to +8 and -8.

/// mu-law bias in 16-bit units (33 in 14-bit units).
const ULAW_BIAS: i32 = 0x84;

/// 16-bit linear value of every mu-law code, built at compile time.
const ULAW_TO_LINEAR: [i16; 256] = ulaw_table();

/// 16-bit linear value of every A-law code, built at compile time.
const ALAW_TO_LINEAR: [i16; 256] = alaw_table();

/// Expands one mu-law code (G.191 `ulaw_expand`).
const fn ulaw_expand(code: u8) -> i16 {
    // mu-law is sent with every bit inverted; then bit 7 set means negative.
    let code = !code;
    let exponent = (code >> 4) & 0x07;
    let mantissa = (code & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    let linear = if code & 0x80 != 0 {
        -magnitude
    } else {
        magnitude
    };
    linear as i16
}

/// Expands one A-law code (G.191 `alaw_expand`).
const fn alaw_expand(code: u8) -> i16 {
    // A-law is sent with the even bits inverted; then bit 7 set means positive.
    let code = code ^ 0x55;
    let exponent = (code >> 4) & 0x07;
    let mantissa = (code & 0x0F) as i32;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    let linear = if code & 0x80 != 0 {
        magnitude
    } else {
        -magnitude
    };
    linear as i16
}

/// Builds [`ULAW_TO_LINEAR`].
const fn ulaw_table() -> [i16; 256] {
    let mut table = [0; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = ulaw_expand(code as u8);
        code += 1;
    }
    table
}

/// Builds [`ALAW_TO_LINEAR`].
const fn alaw_table() -> [i16; 256] {
    let mut table = [0; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = alaw_expand(code as u8);
        code += 1;
    }
    table
}

/// Decodes a mu-law code to a 16-bit linear sample (range -32124..=32124).
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TO_LINEAR[usize::from(code)]
}

/// Decodes an A-law code to a 16-bit linear sample (range -32256..=32256).
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(code)]
}

/// mu-law code of every 16-bit input, indexed by `(x >> 2) + 8192`: the code depends only
/// on the 14 most significant bits. Built at compile time by [`ulaw_compress`].
static LINEAR_TO_ULAW: [u8; 1 << 14] = ulaw_encode_table();

/// A-law code of every 16-bit input, indexed by `(x >> 4) + 2048`: the code depends only on
/// the 12 most significant bits. Built at compile time by [`alaw_compress`].
static LINEAR_TO_ALAW: [u8; 1 << 12] = alaw_encode_table();

/// Compresses one sample to mu-law (G.191 `ulaw_compress`, branch-free).
const fn ulaw_compress(sample: i16) -> u8 {
    let x = sample as i32;
    // All ones for negative input, else zero; `x ^ sign` is then `!x` or `x`.
    let sign = x >> 31;
    let magnitude = ((x ^ sign) >> 2) as u32; // 14-bit magnitude, 0..=8191
    let biased = if magnitude + 33 < 0x1FFF {
        magnitude + 33
    } else {
        0x1FFF
    };
    let exponent = u32::BITS - (biased >> 6).leading_zeros(); // 0..=7
    let mantissa = (biased >> (exponent + 1)) & 0x0F;
    // Inverted code: 0x7F for negative (sign bit 0 after inversion), 0xFF for positive.
    let invert = 0x7F | (!sign as u32 & 0x80);
    ((exponent << 4 | mantissa) ^ invert) as u8
}

/// Compresses one sample to A-law (G.191 `alaw_compress`, branch-free).
const fn alaw_compress(sample: i16) -> u8 {
    let x = sample as i32;
    // All ones for negative input, else zero; `x ^ sign` is then `!x` or `x`.
    let sign = x >> 31;
    let magnitude = ((x ^ sign) >> 4) as u32; // 12-bit magnitude, 0..=2047
    let exponent = u32::BITS - (magnitude >> 4).leading_zeros(); // 0..=7
    // Segments 0 and 1 share the step size; above, drop the leading 1 of the mantissa.
    let mantissa = (magnitude >> exponent.saturating_sub(1)) & 0x0F;
    // Toggle the even bits; set the sign bit for positive input.
    let toggle = 0x55 | (!sign as u32 & 0x80);
    ((exponent << 4 | mantissa) ^ toggle) as u8
}

/// Builds [`LINEAR_TO_ULAW`].
const fn ulaw_encode_table() -> [u8; 1 << 14] {
    let mut table = [0; 1 << 14];
    let mut i = 0;
    while i < table.len() {
        table[i] = ulaw_compress(((i as i32 - 8192) << 2) as i16);
        i += 1;
    }
    table
}

/// Builds [`LINEAR_TO_ALAW`].
const fn alaw_encode_table() -> [u8; 1 << 12] {
    let mut table = [0; 1 << 12];
    let mut i = 0;
    while i < table.len() {
        table[i] = alaw_compress(((i as i32 - 2048) << 4) as i16);
        i += 1;
    }
    table
}

/// Encodes a 16-bit linear sample as mu-law (G.191 `ulaw_compress`), saturating beyond
/// the largest code.
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    LINEAR_TO_ULAW[((sample >> 2) + 8192) as usize]
}

/// Encodes a 16-bit linear sample as A-law (G.191 `alaw_compress`).
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    LINEAR_TO_ALAW[((sample >> 4) + 2048) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// G.191 `ulaw_compress`, transcribed loop for loop, as a slow oracle.
    fn ulaw_compress_loop(x: i16) -> u8 {
        let absno = (if x < 0 { (!x >> 2) + 33 } else { (x >> 2) + 33 }).min(0x1FFF);
        let mut i = absno >> 6;
        let mut segno = 1;
        while i != 0 {
            segno += 1;
            i >>= 1;
        }
        let high = 8 - segno;
        let low = 15 - ((absno >> segno) & 0x0F);
        let code = (high << 4 | low) as u8;
        if x >= 0 { code | 0x80 } else { code }
    }

    /// G.191 `alaw_compress`, transcribed loop for loop, as a slow oracle.
    fn alaw_compress_loop(x: i16) -> u8 {
        let mut ix = if x < 0 { !x >> 4 } else { x >> 4 };
        if ix > 15 {
            let mut iexp = 1;
            while ix > 16 + 15 {
                ix >>= 1;
                iexp += 1;
            }
            ix -= 16;
            ix += iexp << 4;
        }
        if x >= 0 {
            ix |= 0x80;
        }
        (ix ^ 0x55) as u8
    }

    #[test]
    fn encoders_match_the_g191_loops() {
        for x in i16::MIN..=i16::MAX {
            assert_eq!(linear_to_ulaw(x), ulaw_compress_loop(x), "mu-law {x}");
            assert_eq!(ulaw_compress(x), ulaw_compress_loop(x), "mu-law {x}");
            assert_eq!(linear_to_alaw(x), alaw_compress_loop(x), "A-law {x}");
            assert_eq!(alaw_compress(x), alaw_compress_loop(x), "A-law {x}");
        }
    }

    #[test]
    fn known_values() {
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0xFE), 8);
        assert_eq!(ulaw_to_linear(0x80), 32_124);
        assert_eq!(ulaw_to_linear(0x00), -32_124);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32_256);
        assert_eq!(alaw_to_linear(0x2A), -32_256);
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    }

    #[test]
    fn encoders_are_symmetric_under_ones_complement() {
        for x in i16::MIN..=i16::MAX {
            assert_eq!(linear_to_ulaw(!x), linear_to_ulaw(x) ^ 0x80, "{x}");
            assert_eq!(linear_to_alaw(!x), linear_to_alaw(x) ^ 0x80, "{x}");
        }
    }

    #[test]
    fn encoders_are_monotonic() {
        // Codes ordered by decoded value never go backwards as the input rises.
        for x in i16::MIN..i16::MAX {
            assert!(ulaw_to_linear(linear_to_ulaw(x)) <= ulaw_to_linear(linear_to_ulaw(x + 1)));
            assert!(alaw_to_linear(linear_to_alaw(x)) <= alaw_to_linear(linear_to_alaw(x + 1)));
        }
    }
}
