//! tonegate's sans-IO core: one call's protocol and media-operation logic.
//!
//! Everything here is synchronous code that never touches a socket, a file or the clock:
//! time comes in as a `Duration` since an epoch the caller picks, frames and commands come
//! in as values, and events and outbound audio come out of `poll_output`. The build keeps
//! it so: this crate does not depend on tokio or any network crate.
//!
//! - [`api`]: Call Automation media-operation requests, call properties, CloudEvents.
//! - [`budget`]: flood control for one audio socket (messages and seconds of audio).
//! - [`connection`]: one audio socket in front of its session: dialect detection, flood
//!   control, the idle deadline, the raw request queue, refusals.
//! - [`auth`]: request signatures, call tokens, bearer tokens, JWTs and Twilio
//!   signatures, checked with the time passed in.
//! - [`limits`]: longest free text accepted from peers and API clients.
//! - [`proto`]: wire dialects of the audio WebSocket (ACS, Twilio, raw).
//! - [`player`]: the outbound audio queue of one call (prompts, digits, marks).
//! - [`session`]: one call's state machine (digits, media operations, outbound audio).

pub mod api;
pub mod auth;
pub mod budget;
pub mod connection;
pub mod limits;
pub mod player;
pub mod proto;
mod scratch;
pub mod session;
