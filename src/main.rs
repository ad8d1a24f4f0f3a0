//! The `tonegate` command line: `detect`, `generate` and `evaluate`.

mod cli;

use std::process::ExitCode;

/// jemalloc with its arenas on transparent huge pages (options in `.cargo/config.toml`):
/// each call's state is visited once per 20 ms frame, cold in the cache and the TLB.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    cli::run()
}
