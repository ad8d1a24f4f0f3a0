//! `tonegate completions SHELL` and `tonegate man`: generated from the clap definition,
//! so they always match the flags.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;

/// Flags of `tonegate completions`.
#[derive(Debug, clap::Args)]
pub(super) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: Shell,
}

/// Flags of `tonegate man`.
#[derive(Debug, clap::Args)]
pub(super) struct ManArgs {
    /// Write `tonegate.1` and one page per command (`tonegate-serve.1`, ...) into this
    /// directory instead of printing `tonegate.1`.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Prints the completion script.
pub(super) fn completions(args: &CompletionsArgs) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    clap_complete::generate(args.shell, &mut Cli::command(), "tonegate", &mut out);
    out.flush().context("cannot write the script")
}

/// Prints the manual page, or writes every page into `--dir`.
pub(super) fn man(args: &ManArgs) -> anyhow::Result<()> {
    let command = Cli::command();
    match &args.dir {
        Some(dir) => clap_mangen::generate_to(command, dir)
            .with_context(|| format!("cannot write the pages into {}", dir.display())),
        None => {
            let mut out = io::stdout().lock();
            clap_mangen::Man::new(command)
                .render(&mut out)
                .and_then(|()| out.flush())
                .context("cannot write the page")
        }
    }
}
