//! Streaming DTMF detector for one channel at the analysis rate (8 kHz).
//!
//! # How it decides
//! The [`goertzel::Bank`] measures the eight keypad frequencies over 4 ms blocks with a
//! common phase reference. Every block, the detector sums the last five blocks into a
//! 20 ms window and asks whether that window holds exactly one row tone and one column
//! tone:
//! - each tone at least `min_level_dbm0`, measured after correcting the window for the
//!   tone's own frequency offset, so levels do not sag at the deviation limits;
//! - the strongest tone of each group stands `min_relative_peak_db` above the others;
//! - twist within `max_normal_twist_db` / `max_reverse_twist_db`;
//! - frequency offset (from the phase advance of the window between blocks) within
//!   `max_frequency_deviation`: this is what separates 1.5 % tones from 3.5 % ones,
//!   which a 20 ms filter's bandwidth alone cannot;
//! - the pair holds at least `min_pair_share` of the window's energy (speech and music
//!   spread theirs).
//!
//! Timing comes from the 4 ms blocks, not the window: when a window first qualifies,
//! the detector walks back through the block history to the tone's onset, interpolating
//! within the first block by its share of the full-block magnitude. It reports the digit
//! as soon as the tone has lasted `min_tone_ms` and is still on, so the report lands
//! about `min_tone_ms` after onset whatever the tone's level. A digit ends when its tones
//! have been absent for `release_ms`; shorter dropouts are bridged.
//!
//! Positions are sample indices at the analysis rate, counted from the start of the
//! stream; feeding the same samples in any chunking gives the same events.

mod analysis;
mod config;
mod detector;
mod trace;

pub use config::{Config, ConfigError, Profile, UnknownProfile};
pub use detector::Detector;
pub use trace::{Block, Rejection, Verdict};

use super::goertzel;
use super::keypad::{COLUMN_HZ, Digit, ROW_HZ};

/// The rate the detector analyses, in hertz.
pub const ANALYSIS_RATE: u32 = 8_000;
/// Samples per analysis block (4 ms).
pub const BLOCK_LEN: usize = 32;
/// Samples per half block (2 ms): a candidate whose tone only lacks duration is checked
/// again halfway through the next block, so a digit is reported within 2 ms of reaching
/// `min_tone_ms` rather than 4.
pub const HALF_BLOCK: usize = BLOCK_LEN / 2;
/// Blocks per decision window (20 ms).
const WINDOW_BLOCKS: usize = 5;
const WINDOW_LEN: usize = BLOCK_LEN * WINDOW_BLOCKS;
/// Blocks of history kept (32 ms): the deepest look back, the onset search's, rounded up
/// to a power of two. More would only be more memory for every frame to pass through.
const HISTORY_BLOCKS: usize = 8;
/// A block holds a tone when its magnitude is at least this share of a full block's.
const PRESENT_FRACTION: f32 = 0.5;
/// A candidate is confirmed only while the newest two blocks hold at least this share.
const CONFIRM_FRACTION: f32 = 0.75;
/// How far back from its first qualifying window a tone's onset is looked for (24 ms): a
/// window qualifies once a tone fills four fifths of it, so a real onset lies within
/// this reach, while speech that merely carries energy near both frequencies for
/// longer does not earn an early onset.
const ONSET_SEARCH_BLOCKS: usize = 6;
/// Qualified windows a candidate needs before it is confirmed; past that, block-level
/// presence can stand in for a window that spans a dropout.
const SUSTAINED_WINDOWS: u32 = 2;
/// A window qualifies only if sound fills at least this share of it (four of its five
/// blocks): a shorter span cannot resolve neighbouring keys.
const MIN_FILL: f32 = 0.8;
/// Before confirmation, a candidate survives dropouts up to this many blocks (20 ms, ETSI).
const CANDIDATE_BRIDGE_BLOCKS: u64 = 5;

/// A digit as reported when it is confirmed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Keypress {
    /// The key.
    pub digit: Digit,
    /// Estimated tone onset, in analysis samples from the start of the stream.
    pub start: f64,
    /// Samples consumed when the digit was reported (the report's position).
    pub detected: u64,
    /// Measured level of the row (low group) tone, dBm0.
    pub low_dbm0: f32,
    /// Measured level of the column (high group) tone, dBm0.
    pub high_dbm0: f32,
}

impl Keypress {
    /// Mean of the two tone levels, dBm0.
    pub fn level_dbm0(&self) -> f32 {
        (self.low_dbm0 + self.high_dbm0) / 2.0
    }
}

/// What the detector reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event {
    /// A digit was confirmed; it is still sounding.
    Pressed(Keypress),
    /// The digit's tones stopped at `end` (estimated release, analysis samples).
    Released {
        /// The press being ended, as reported at confirmation.
        keypress: Keypress,
        /// Estimated release position.
        end: f64,
    },
}

/// Blocks of samples kept (32 ms): the window's, and on a quiet line, where the bank's
/// analysis of a block waits until a window is loud enough to need it, every block the
/// history may then be asked about (the block being filled takes the oldest one's slot).
const RECENT_BLOCKS: usize = 8;
/// Keeps the history as deep as the window and the onset search look, and the samples
/// for every block of history that may be analysed late.
const _: () = assert!(
    ONSET_SEARCH_BLOCKS <= HISTORY_BLOCKS
        && WINDOW_BLOCKS <= HISTORY_BLOCKS
        && ONSET_SEARCH_BLOCKS < RECENT_BLOCKS
);

/// Keeps the goertzel module's lane count and the keypad in step.
const _: () = assert!(goertzel::LANES == ROW_HZ.len() + COLUMN_HZ.len());
