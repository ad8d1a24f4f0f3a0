//! Media files: reading and writing WAV audio.
//!
//! - [`wav`]: a streaming reader for linear PCM, float and G.711 WAV files (8/16/24/32-bit
//!   integer, 32-bit float, mu-law and A-law; plain or `WAVE_FORMAT_EXTENSIBLE`) built on
//!   hound and [`crate::codec`], and a writer for 16-bit PCM, mu-law and A-law with the
//!   headers sox writes. Any input bytes give an error or audio, never a panic.
//!
//! Encodings the reader does not decode (ADPCM, 64-bit float, ...) make
//! [`wav::WavReader::new`] fail with [`wav::Error::UnsupportedFormat`], which carries the
//! format tag. A reader for those encodings can either act on that error or parse the
//! header itself with [`wav::Header::read`] and dispatch on [`wav::Header::format_tag`].
//!
//! Everything here works on `std::io` readers and writers the caller hands in; samples
//! come out as `f32` with full scale at 1.0, the scale [`crate::dsp::level`] uses.

pub mod player;
pub mod wav;
