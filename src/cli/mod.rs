//! Command-line interface (binary only; anyhow lives here).

mod serve;

use clap::{Parser, Subcommand};

/// tonegate: a real-time media engine for IVRs.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the audio WebSockets, events and metrics.
    Serve(serve::Args),
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
    }
}
