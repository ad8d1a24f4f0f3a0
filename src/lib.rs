//! tonegate: a real-time media engine for IVRs.
//!
//! This crate is the `tonegate` command and a facade over the three floors of the
//! workspace, so one dependency reaches all of them:
//!
//! - [`tonegate_dsp`]: samples to digits ([`codec`], [`dsp`], [`resample`], [`receiver`],
//!   [`media::wav`], [`evaluate`]); no IO, no clock, no async runtime.
//! - [`tonegate_core`]: one call's sans-IO state machine ([`proto`], [`session`],
//!   [`media::player`], the Call Automation model in [`api`], credential checks in
//!   [`auth`], [`limits`]; one audio socket in front of its session in [`connection`],
//!   flood control in [`budget`]).
//! - [`tonegate_server`]: the tokio shell ([`server`]): sockets, HTTP API, webhooks, metrics.
//! - [`tonegate_plot`]: pictures of what the detector heard ([`plot`]), for `--plot`.

pub use tonegate_core::{api, auth, budget, connection, limits, proto, session};
pub use tonegate_dsp::{SampleRate, SampleRateError, codec, dsp, evaluate, receiver, resample};
pub use tonegate_plot as plot;
pub use tonegate_server as server;

/// Media files and the outbound player.
pub mod media {
    pub use tonegate_core::player;
    pub use tonegate_dsp::wav;
}
