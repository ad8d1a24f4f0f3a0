//! Signal processing: level reference, keypad, Goertzel filter bank, DTMF detector and
//! tone generator. All of it is allocation-free after construction.

pub mod dtmf;
pub mod goertzel;
pub mod keypad;
pub mod level;
pub mod tone;

pub use keypad::Digit;
