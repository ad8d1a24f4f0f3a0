//! Signal processing: level reference, keypad, Goertzel filter bank, DTMF detector, tone
//! generator and voice activity detector. All of it is allocation-free after construction.

pub mod dtmf;
pub mod goertzel;
pub mod keypad;
pub mod level;
pub mod tone;
pub mod vad;

pub use keypad::Digit;
