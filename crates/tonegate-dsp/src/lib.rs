//! tonegate's signal processing floor: everything from audio samples to DTMF digits.
//!
//! Synchronous code on caller buffers, with no IO of its own beyond the `std::io` readers
//! and writers a caller hands in, no clock and no async runtime; the build keeps it so
//! (this crate does not depend on tokio or any network crate).
//!
//! - [`codec`]: G.711 mu-law / A-law and linear PCM conversions.
//! - [`resample`]: streaming sample-rate conversion (wraps rubato).
//! - [`dsp`]: Goertzel filter bank, DTMF detector, tone generator, level reference.
//! - [`receiver`]: a DTMF receiver for one channel at any input rate (resampler + detector).
//! - [`wav`]: WAV reading and writing.
//! - [`evaluate`]: the built-in receiver compliance suite.

pub mod cache;
pub mod codec;
pub mod dsp;
pub mod evaluate;
pub mod receiver;
pub mod resample;
mod sample_rate;
mod shared;
pub mod wav;

pub use sample_rate::{SampleRate, SampleRateError};
