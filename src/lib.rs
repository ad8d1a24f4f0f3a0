//! tonegate: a real-time media engine for IVRs.
//!
//! The crate is a sans-IO core: everything here is synchronous code that never touches
//! a socket, a file handle it did not get from its caller, or the clock.
//!
//! - [`api`]: Call Automation media-operation requests, call properties, CloudEvents.
//! - [`codec`]: G.711 mu-law / A-law and linear PCM conversions.
//! - [`resample`]: streaming sample-rate conversion (wraps rubato).
//! - [`dsp`]: Goertzel filter bank, DTMF detector, tone generator, level reference.
//! - [`receiver`]: a DTMF receiver for one channel at any input rate (resampler + detector).
//! - [`media`]: WAV reading and writing.
//! - [`limits`]: longest free text accepted from peers and API clients.
//! - [`proto`]: wire dialects of the audio WebSocket (ACS, Twilio, raw).
//! - [`session`]: one call's sans-IO state machine (digits, outbound audio).
//! - [`server`]: the tokio shell: WebSocket endpoints, HTTP API, metrics.
//! - [`evaluate`]: the built-in receiver compliance suite.

pub mod api;
pub mod codec;
pub mod dsp;
pub mod evaluate;
pub mod limits;
pub mod media;
pub mod proto;
pub mod receiver;
pub mod resample;
mod sample_rate;
pub mod server;
pub mod session;

pub use sample_rate::{SampleRate, SampleRateError};
