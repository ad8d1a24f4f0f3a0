//! `g711_round_trip`: the G.711 and 16-bit PCM coders.

use tonegate_dsp::codec::{self, Encoding, g711, pcm};

/// mu-law's negative zero: decodes to 0, which encodes to 0xFF (positive zero).
const ULAW_NEGATIVE_ZERO: u8 = 0x7F;

/// 16-bit inputs at or beyond this magnitude (as the coder sees it: `x`, or `!x` for
/// negative `x`) saturate mu-law at its largest code (+-32 124): 4 x (8 159 + 1), the top
/// of the largest 14-bit interval.
const ULAW_SATURATION: i32 = 32_636;

/// Codes from `Encoding` round trip; every 16-bit value survives encode-decode within
/// half a quantisation step and encode-decode-encode is stable; S16le is exact; f32
/// input encodes as its rounded, saturated 16-bit value does; odd byte counts and short
/// buffers are errors, never panics.
///
/// The input is used three ways at once: as G.711 codes, as little-endian 16-bit
/// samples (its even-length prefix), and as little-endian `f32` bit patterns.
pub fn g711_round_trip(data: &[u8]) {
    // Decode then encode gives the codes back (mu-law 0x7F comes back as 0xFF).
    for encoding in [Encoding::Ulaw, Encoding::Alaw] {
        let mut samples = vec![f32::NAN; data.len()];
        assert_eq!(encoding.decode(data, &mut samples), Ok(data.len()));
        let mut codes = vec![0u8; data.len()];
        assert_eq!(encoding.encode(&samples, &mut codes), Ok(data.len()));
        for ((&code, &back), &sample) in data.iter().zip(&codes).zip(&samples) {
            let expected = match (encoding, code) {
                (Encoding::Ulaw, ULAW_NEGATIVE_ZERO) => 0xFF,
                _ => code,
            };
            assert_eq!(
                back, expected,
                "g711_round_trip: {encoding} code {code:#04x} decodes to {sample} and encodes to {back:#04x}"
            );
            assert!(
                sample.abs() < 1.0,
                "g711_round_trip: {encoding} decodes to {sample}"
            );
        }
    }

    // 16-bit samples: each one's G.711 properties, and S16le's exact round trip.
    let even = &data[..data.len() & !1];
    let mut linear = vec![0i16; even.len() / 2];
    assert_eq!(pcm::s16le_to_i16(even, &mut linear), Ok(linear.len()));
    for &x in &linear {
        g711_sample(x);
    }
    let mut samples = vec![f32::NAN; linear.len()];
    assert_eq!(Encoding::S16le.decode(even, &mut samples), Ok(linear.len()));
    for (&x, &sample) in linear.iter().zip(&samples) {
        assert_eq!(
            sample,
            pcm::i16_to_f32(x),
            "g711_round_trip: s16le decode of {x}"
        );
    }
    let mut bytes = vec![0u8; even.len()];
    assert_eq!(Encoding::S16le.encode(&samples, &mut bytes), Ok(even.len()));
    assert_eq!(
        bytes, even,
        "g711_round_trip: s16le decode-encode is not exact"
    );

    // Odd byte counts and short buffers are errors that leave the output alone.
    let mut out = vec![0.25f32; data.len()];
    if data.len() % 2 == 1 {
        assert_eq!(
            Encoding::S16le.decode(data, &mut out),
            Err(codec::Error::OddByteCount {
                len: data.len(),
                sample_size: 2
            })
        );
        assert!(
            out.iter().all(|&s| s == 0.25),
            "g711_round_trip: output touched"
        );
    }
    for encoding in Encoding::ALL {
        let needed = even.len() / encoding.bytes_per_sample();
        if needed > 0 {
            assert_eq!(
                encoding.decode(even, &mut out[..needed - 1]),
                Err(codec::Error::OutputTooShort {
                    needed,
                    available: needed - 1
                })
            );
            assert!(
                out.iter().all(|&s| s == 0.25),
                "g711_round_trip: output touched"
            );
        }
    }

    // Arbitrary f32 (NaN, infinities, huge, tiny): every encoding codes the sample as
    // round-to-nearest-even, saturating, NaN-as-zero 16-bit value.
    let floats: Vec<f32> = data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let mut s16 = vec![0u8; floats.len() * 2];
    let mut ulaw = vec![0u8; floats.len()];
    let mut alaw = vec![0u8; floats.len()];
    assert_eq!(Encoding::S16le.encode(&floats, &mut s16), Ok(s16.len()));
    assert_eq!(Encoding::Ulaw.encode(&floats, &mut ulaw), Ok(ulaw.len()));
    assert_eq!(Encoding::Alaw.encode(&floats, &mut alaw), Ok(alaw.len()));
    for (i, &x) in floats.iter().enumerate() {
        // `as` saturates and maps NaN to 0.
        let expected = (x * 32_768.0).round_ties_even() as i16;
        let got = i16::from_le_bytes([s16[2 * i], s16[2 * i + 1]]);
        assert_eq!(got, expected, "g711_round_trip: s16le encode of {x:e}");
        assert_eq!(
            ulaw[i],
            g711::linear_to_ulaw(expected),
            "mu-law encode of {x:e}"
        );
        assert_eq!(
            alaw[i],
            g711::linear_to_alaw(expected),
            "A-law encode of {x:e}"
        );
    }
}

/// One 16-bit value through both G.711 laws via [`Encoding`]: `decode(encode(x))` lies
/// within half the quantisation step of the code's segment from `x` (mu-law inputs
/// beyond its range give its largest code instead), the decoded value encodes to the
/// same code (mu-law -0 excepted, as above), and decode-encode-decode is idempotent.
pub fn g711_sample(x: i16) {
    for encoding in [Encoding::Ulaw, Encoding::Alaw] {
        let code = encode_one(encoding, pcm::i16_to_f32(x));
        let decoded = decode_one(encoding, code);
        let y = pcm::f32_to_i16(decoded);
        assert_eq!(
            pcm::i16_to_f32(y),
            decoded,
            "g711_sample: {encoding} decodes off the 16-bit grid"
        );
        let error = (i32::from(y) - i32::from(x)).abs();
        // The coders take the magnitude of negative input from its ones' complement.
        let magnitude = if x < 0 { i32::from(!x) } else { i32::from(x) };
        let (half_step, saturated) = match encoding {
            Encoding::Ulaw => {
                let exponent = (!code >> 4) & 0x07;
                (4 << exponent, magnitude >= ULAW_SATURATION)
            }
            _ => {
                let exponent = ((code ^ 0x55) >> 4) & 0x07;
                (8 << exponent.saturating_sub(1), false)
            }
        };
        if saturated {
            assert_eq!(
                i32::from(y).abs(),
                32_124,
                "g711_sample: mu-law {x} should saturate"
            );
        } else {
            assert!(
                error <= half_step,
                "g711_sample: {encoding} {x} -> {code:#04x} -> {y}: error {error} > half step {half_step}"
            );
        }

        let again = encode_one(encoding, decoded);
        if encoding == Encoding::Ulaw && code == ULAW_NEGATIVE_ZERO {
            assert_eq!(again, 0xFF, "g711_sample: mu-law -0 re-encodes as +0");
        } else {
            assert_eq!(
                again, code,
                "g711_sample: {encoding} {x} re-encodes differently"
            );
        }
        assert_eq!(
            decode_one(encoding, again).to_bits(),
            decoded.to_bits(),
            "g711_sample: {encoding} encode-decode is not idempotent for {x}"
        );
    }
}

fn encode_one(encoding: Encoding, sample: f32) -> u8 {
    let mut code = [0u8];
    assert_eq!(encoding.encode(&[sample], &mut code), Ok(1));
    code[0]
}

fn decode_one(encoding: Encoding, code: u8) -> f32 {
    let mut sample = [f32::NAN];
    assert_eq!(encoding.decode(&[code], &mut sample), Ok(1));
    sample[0]
}
