//! Placeholder; being written.

pub mod g711_wav;
