//! Media files: reading and writing WAV audio.
//!
//! - [`wav`]: a streaming reader for linear PCM and float WAV files (8/16/24/32-bit
//!   integer, 32-bit float, `WAVE_FORMAT_EXTENSIBLE`) and a 16-bit PCM writer, built
//!   on hound. Any input bytes give an error or audio, never a panic.
//!
//! Encodings hound cannot decode (G.711 mu-law and A-law, ADPCM, ...) make
//! [`wav::WavReader::new`] fail with [`wav::Error::UnsupportedFormat`], which carries the
//! format tag. A reader for those encodings can either act on that error or parse the
//! header itself with [`wav::Header::read`] and dispatch on [`wav::Header::format_tag`].
//!
//! Everything here works on `std::io` readers and writers the caller hands in; samples
//! come out as `f32` with full scale at 1.0, the scale [`crate::dsp::level`] uses.

pub mod g711_wav;
pub mod player;
pub mod wav;
