//! The `tonegate` command line: `detect`, `generate` and `evaluate`.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::run()
}
