//! Property checks for tonegate's fuzz targets.
//!
//! Every target in `fuzz_targets/` is one call into [`checks`], which panics when a
//! property fails. `tests/fuzz_regressions.rs` in the main crate includes the same file
//! (`#[path = "../fuzz/src/checks.rs"]`) and replays `fuzz/regressions/<target>/*`
//! through it, so `cargo test` checks every committed crash input without cargo-fuzz.

pub mod checks;
