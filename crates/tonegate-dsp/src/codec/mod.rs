//! Sample encodings on the wire and in files: 16-bit linear PCM and G.711 mu-law / A-law.
//!
//! Inside tonegate audio is `f32` with full scale 1.0 (= 32768 in 16-bit units). An
//! [`Encoding`] converts whole samples between its byte form and `f32`, writing into buffers
//! the caller provides; nothing here allocates, so it can run per frame on the hot path.
//!
//! - [`g711`]: the scalar mu-law and A-law coders, bit-exact with ITU-T G.711 as implemented
//!   by the ITU-T G.191 reference software.
//! - [`pcm`]: `i16` <-> `f32` conversions and little-endian 16-bit byte helpers.

pub mod g711;
pub mod pcm;

use std::fmt;
use std::str::FromStr;

/// How one sample is stored as bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Signed 16-bit linear PCM, little-endian (2 bytes per sample).
    S16le,
    /// G.711 mu-law (PCMU), 1 byte per sample.
    Ulaw,
    /// G.711 A-law (PCMA), 1 byte per sample.
    Alaw,
}

/// A buffer given to [`Encoding::decode`], [`Encoding::encode`] or a [`pcm`] helper has the
/// wrong size. The details are plain numbers, so making this error never allocates.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The input is not a whole number of samples.
    #[error("{len} bytes is not a whole number of {sample_size}-byte samples")]
    OddByteCount {
        /// Length of the input in bytes.
        len: usize,
        /// Bytes per sample of the encoding.
        sample_size: usize,
    },
    /// The output buffer cannot hold the result. Counts are in elements of the output
    /// buffer: samples when decoding, bytes when encoding.
    #[error("output buffer too short: {needed} elements needed, {available} available")]
    OutputTooShort {
        /// Elements the result needs.
        needed: usize,
        /// Elements the output buffer has.
        available: usize,
    },
}

/// A name given to [`Encoding::from_str`] is not a known encoding.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[error("unknown encoding (expected s16le, ulaw, mulaw, pcmu, alaw or pcma)")]
pub struct ParseEncodingError;

impl Encoding {
    /// Every encoding, in declaration order.
    pub const ALL: [Encoding; 3] = [Encoding::S16le, Encoding::Ulaw, Encoding::Alaw];

    /// Bytes one sample takes: 2 for [`Encoding::S16le`], 1 for G.711.
    pub const fn bytes_per_sample(self) -> usize {
        match self {
            Encoding::S16le => 2,
            Encoding::Ulaw | Encoding::Alaw => 1,
        }
    }

    /// Decodes whole samples from `bytes` into `out` (f32, full scale 1.0 = 32768) and
    /// returns the number of samples written to the front of `out`.
    ///
    /// Fails with [`Error::OddByteCount`] when `bytes.len()` is not a multiple of
    /// [`bytes_per_sample`](Self::bytes_per_sample), and with [`Error::OutputTooShort`]
    /// (counted in samples) when `out` is shorter than the number of samples; `out` is
    /// left untouched then. Never allocates.
    pub fn decode(self, bytes: &[u8], out: &mut [f32]) -> Result<usize, Error> {
        let sample_size = self.bytes_per_sample();
        if !bytes.len().is_multiple_of(sample_size) {
            return Err(Error::OddByteCount {
                len: bytes.len(),
                sample_size,
            });
        }
        let count = bytes.len() / sample_size;
        let out = prefix_mut(out, count)?;
        match self {
            Encoding::S16le => {
                for (sample, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *sample = pcm::i16_to_f32(i16::from_le_bytes([pair[0], pair[1]]));
                }
            }
            Encoding::Ulaw => {
                for (sample, &code) in out.iter_mut().zip(bytes) {
                    *sample = pcm::i16_to_f32(g711::ulaw_to_linear(code));
                }
            }
            Encoding::Alaw => {
                for (sample, &code) in out.iter_mut().zip(bytes) {
                    *sample = pcm::i16_to_f32(g711::alaw_to_linear(code));
                }
            }
        }
        Ok(count)
    }

    /// Encodes `samples` (f32, full scale 1.0 = 32768) into `out` and returns the number
    /// of bytes written to the front of `out`.
    ///
    /// Each sample is first rounded to 16 bits by [`pcm::f32_to_i16`] (round to nearest,
    /// saturating at full scale, NaN as 0), then coded. Fails with
    /// [`Error::OutputTooShort`] (counted in bytes) when `out` cannot hold the result;
    /// `out` is left untouched then. Never allocates.
    pub fn encode(self, samples: &[f32], out: &mut [u8]) -> Result<usize, Error> {
        let len = samples.len() * self.bytes_per_sample();
        let out = prefix_mut(out, len)?;
        match self {
            Encoding::S16le => {
                for (pair, &sample) in out.chunks_exact_mut(2).zip(samples) {
                    pair.copy_from_slice(&pcm::f32_to_i16(sample).to_le_bytes());
                }
            }
            Encoding::Ulaw => {
                for (code, &sample) in out.iter_mut().zip(samples) {
                    *code = g711::linear_to_ulaw(pcm::f32_to_i16(sample));
                }
            }
            Encoding::Alaw => {
                for (code, &sample) in out.iter_mut().zip(samples) {
                    *code = g711::linear_to_alaw(pcm::f32_to_i16(sample));
                }
            }
        }
        Ok(len)
    }
}

/// The first `needed` elements of `out`, or [`Error::OutputTooShort`].
fn prefix_mut<T>(out: &mut [T], needed: usize) -> Result<&mut [T], Error> {
    let available = out.len();
    out.get_mut(..needed)
        .ok_or(Error::OutputTooShort { needed, available })
}

impl fmt::Display for Encoding {
    /// Prints the canonical name: `s16le`, `ulaw` or `alaw`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::S16le => "s16le",
            Encoding::Ulaw => "ulaw",
            Encoding::Alaw => "alaw",
        })
    }
}

impl FromStr for Encoding {
    type Err = ParseEncodingError;

    /// Accepts, ignoring ASCII case, `s16le`; `ulaw`, `mulaw` or `pcmu`; `alaw` or `pcma`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const NAMES: [(&str, Encoding); 6] = [
            ("s16le", Encoding::S16le),
            ("ulaw", Encoding::Ulaw),
            ("mulaw", Encoding::Ulaw),
            ("pcmu", Encoding::Ulaw),
            ("alaw", Encoding::Alaw),
            ("pcma", Encoding::Alaw),
        ];
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|&(_, encoding)| encoding)
            .ok_or(ParseEncodingError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print() {
        for (name, encoding) in [
            ("s16le", Encoding::S16le),
            ("ulaw", Encoding::Ulaw),
            ("mulaw", Encoding::Ulaw),
            ("pcmu", Encoding::Ulaw),
            ("PCMU", Encoding::Ulaw),
            ("alaw", Encoding::Alaw),
            ("pcma", Encoding::Alaw),
            ("ALaw", Encoding::Alaw),
        ] {
            assert_eq!(name.parse::<Encoding>(), Ok(encoding), "{name}");
        }
        for bad in ["", "s16", "u-law", "ulaw ", "pcm", "g711"] {
            assert_eq!(bad.parse::<Encoding>(), Err(ParseEncodingError), "{bad:?}");
        }
        for encoding in Encoding::ALL {
            assert_eq!(encoding.to_string().parse::<Encoding>(), Ok(encoding));
        }
        assert_eq!(Encoding::S16le.to_string(), "s16le");
        assert_eq!(Encoding::Ulaw.to_string(), "ulaw");
        assert_eq!(Encoding::Alaw.to_string(), "alaw");
    }

    #[test]
    fn odd_byte_count_is_an_error() {
        let mut out = [0.0; 8];
        for len in [1, 3, 5, 7] {
            assert_eq!(
                Encoding::S16le.decode(&[0; 8][..len], &mut out),
                Err(Error::OddByteCount {
                    len,
                    sample_size: 2
                })
            );
        }
        assert_eq!(Encoding::S16le.decode(&[], &mut out), Ok(0));
        assert_eq!(Encoding::Ulaw.decode(&[0xFF; 3], &mut out), Ok(3));
    }

    #[test]
    fn short_output_is_an_error_and_leaves_it_untouched() {
        for encoding in Encoding::ALL {
            let bytes = [0x12; 8];
            let samples = 8 / encoding.bytes_per_sample();
            let mut out = [7.0; 8];
            assert_eq!(
                encoding.decode(&bytes, &mut out[..samples - 1]),
                Err(Error::OutputTooShort {
                    needed: samples,
                    available: samples - 1
                })
            );
            assert_eq!(out, [7.0; 8]);
            assert_eq!(
                encoding.decode(&bytes, &mut []),
                Err(Error::OutputTooShort {
                    needed: samples,
                    available: 0
                })
            );

            let mut out = [7; 8];
            assert_eq!(
                encoding.encode(&[0.5; 4], &mut out[..4 * encoding.bytes_per_sample() - 1]),
                Err(Error::OutputTooShort {
                    needed: 4 * encoding.bytes_per_sample(),
                    available: 4 * encoding.bytes_per_sample() - 1
                })
            );
            assert_eq!(out, [7; 8]);
            assert_eq!(encoding.encode(&[], &mut []), Ok(0));
        }
    }

    #[test]
    fn longer_output_is_written_at_the_front() {
        let mut out = [9.0; 4];
        assert_eq!(Encoding::S16le.decode(&[0x00, 0x40], &mut out), Ok(1));
        assert_eq!(out, [0.5, 9.0, 9.0, 9.0]);
        let mut out = [9; 4];
        assert_eq!(Encoding::S16le.encode(&[-0.5], &mut out), Ok(2));
        assert_eq!(out, [0x00, 0xC0, 9, 9]);
    }

    #[test]
    fn s16le_round_trips_every_value() {
        let bytes: Vec<u8> = (i16::MIN..=i16::MAX).flat_map(i16::to_le_bytes).collect();
        let mut samples = vec![0.0; 65_536];
        assert_eq!(Encoding::S16le.decode(&bytes, &mut samples), Ok(65_536));
        assert_eq!(samples[0], -1.0);
        assert_eq!(samples[32_768], 0.0);
        assert_eq!(samples[65_535], 32_767.0 / 32_768.0);
        let mut again = vec![0; bytes.len()];
        assert_eq!(
            Encoding::S16le.encode(&samples, &mut again),
            Ok(bytes.len())
        );
        assert_eq!(again, bytes);
    }

    #[test]
    fn g711_decode_and_encode_use_the_scalar_coders() {
        let codes: Vec<u8> = (0..=255).collect();
        let mut samples = [0.0; 256];
        assert_eq!(Encoding::Ulaw.decode(&codes, &mut samples), Ok(256));
        for (&code, &sample) in codes.iter().zip(&samples) {
            assert_eq!(sample, f32::from(g711::ulaw_to_linear(code)) / 32_768.0);
        }
        let mut again = [0; 256];
        assert_eq!(Encoding::Ulaw.encode(&samples, &mut again), Ok(256));
        for (&code, &back) in codes.iter().zip(&again) {
            assert_eq!(back, g711::linear_to_ulaw(g711::ulaw_to_linear(code)));
        }

        assert_eq!(Encoding::Alaw.decode(&codes, &mut samples), Ok(256));
        for (&code, &sample) in codes.iter().zip(&samples) {
            assert_eq!(sample, f32::from(g711::alaw_to_linear(code)) / 32_768.0);
        }
        assert_eq!(Encoding::Alaw.encode(&samples, &mut again), Ok(256));
        assert_eq!(again[..], codes[..]);
    }

    #[test]
    fn encode_saturates_and_maps_nan_to_zero() {
        let samples = [2.0, -2.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
        let mut out = [0; 5];
        Encoding::Ulaw.encode(&samples, &mut out).unwrap();
        assert_eq!(out, [0x80, 0x00, 0x80, 0x00, 0xFF]);
        Encoding::Alaw.encode(&samples, &mut out).unwrap();
        assert_eq!(out, [0xAA, 0x2A, 0xAA, 0x2A, 0xD5]);
        let mut out = [0; 10];
        Encoding::S16le.encode(&samples, &mut out).unwrap();
        assert_eq!(
            out,
            [0xFF, 0x7F, 0x00, 0x80, 0xFF, 0x7F, 0x00, 0x80, 0x00, 0x00]
        );
    }
}
