//! Command-line parsing and dispatch. Errors become one line on stderr and exit code 2.

mod detect;
mod docs;
mod evaluate;
mod generate;
mod input;
mod logging;
mod output;
mod plot;
mod replay;
mod serve;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand, ValueEnum};
use tonegate::codec::Encoding;
use tonegate::dsp::dtmf::Profile;

/// Real-time media engine for IVRs: DTMF detection on call audio.
#[derive(Debug, Parser)]
#[command(name = "tonegate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Find DTMF digits in WAV files or headerless audio.
    Detect(DetectArgs),
    /// Write a WAV file of DTMF digits.
    Generate(GenerateArgs),
    /// Run the built-in receiver compliance suite (ITU-T Q.24 conditions, noise, call progress).
    Evaluate(EvaluateArgs),
    /// Serve the audio WebSockets, events and metrics.
    Serve(serve::Args),
    /// Play a call into a server (tonegate or another) as ACS, Twilio or raw would, from
    /// WAV files or generated digits; print the events and each digit's latency.
    Replay(Box<replay::args::Args>),
    /// Print a token limited to one call (event stream or audio socket), signed with the
    /// access key (TONEGATE_ACCESS_KEY or --config).
    Token(token::Args),
    /// Print a shell completion script, e.g. `tonegate completions bash >
    /// /etc/bash_completion.d/tonegate`.
    Completions(docs::CompletionsArgs),
    /// Print the manual page (roff), e.g. `tonegate man | man -l -`; with --dir, write one
    /// page per command there.
    Man(docs::ManArgs),
}

/// The names `--encoding` accepts.
const ENCODING_NAMES: [&str; 6] = ["s16le", "ulaw", "mulaw", "pcmu", "alaw", "pcma"];

/// Parses `--encoding`, listing the accepted names in `--help` and in errors.
fn encoding_parser() -> impl TypedValueParser<Value = Encoding> {
    PossibleValuesParser::new(ENCODING_NAMES).try_map(|name| name.parse::<Encoding>())
}

/// How `detect` prints digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DetectFormat {
    /// A readable table.
    Text,
    /// One JSON object per digit and line.
    Jsonl,
}

/// Arguments of `tonegate detect`.
#[derive(Debug, clap::Args)]
struct DetectArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = DetectFormat::Text)]
    format: DetectFormat,
    /// Channel to analyse (0-based), or `all`.
    #[arg(long, default_value = "all")]
    channel: ChannelSelection,
    /// Input is headerless audio (needs --rate and --encoding).
    #[arg(long, requires_all = ["rate", "encoding"])]
    raw: bool,
    /// Sample rate of headerless input, Hz (8000-48000).
    #[arg(long, requires = "raw")]
    rate: Option<u32>,
    /// Encoding of headerless input.
    #[arg(long, requires = "raw", value_parser = encoding_parser())]
    encoding: Option<Encoding>,
    /// Detector settings: `default` (real calls), `strict` (closer to Q.24's limits) or
    /// `noisy` (catches tones in heavy noise, at some risk of false digits).
    #[arg(long, default_value_t = Profile::Default)]
    profile: Profile,
    /// Also draw what the detector heard into this file (`.svg` or `.png`): spectrogram,
    /// tone levels, digits and rejected windows. One input file; its first selected
    /// channel; at most 10 minutes.
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// Files to analyse; `-` reads standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Which channels `detect` analyses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChannelSelection {
    All,
    One(u16),
}

impl std::str::FromStr for ChannelSelection {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("all") {
            return Ok(ChannelSelection::All);
        }
        s.parse()
            .map(ChannelSelection::One)
            .map_err(|_| format!("expected a channel number or `all`, got `{s}`"))
    }
}

/// Arguments of `tonegate generate`.
#[derive(Debug, clap::Args)]
struct GenerateArgs {
    /// Digits to key: 0-9, *, #, A-D.
    digits: String,
    /// Output WAV file.
    #[arg(short, long)]
    output: PathBuf,
    /// Sample rate, Hz (8000-48000).
    #[arg(long, default_value_t = 8_000)]
    rate: u32,
    /// Tone duration per digit, ms.
    #[arg(long, default_value_t = 70.0)]
    on_ms: f64,
    /// Silence after each digit, ms.
    #[arg(long, default_value_t = 70.0)]
    off_ms: f64,
    /// Level of each of the two tones, dBm0.
    #[arg(long, default_value_t = -10.0, allow_negative_numbers = true)]
    level_dbm0: f32,
    /// Sample encoding of the WAV file.
    #[arg(long, default_value = "s16le", value_parser = encoding_parser())]
    encoding: Encoding,
}

/// How `evaluate` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    /// A readable table.
    Text,
    /// One JSON document.
    Json,
}

/// Arguments of `tonegate evaluate`.
#[derive(Debug, clap::Args)]
struct EvaluateArgs {
    /// Input rate the suite runs at, Hz (8000-48000).
    #[arg(long, default_value_t = 16_000)]
    rate: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
    /// Detector settings: `default`, `strict` or `noisy` (see `detect --help`).
    #[arg(long, default_value_t = Profile::Default)]
    profile: Profile,
    /// A directory of 8 kHz speech WAV files (searched recursively) to mix under tones
    /// in extra rows, e.g. /usr/share/asterisk/sounds/en_US_f_Allison.
    #[arg(long)]
    speech: Option<PathBuf>,
    /// A directory of 8 kHz music WAV files to mix under tones, e.g. /usr/share/asterisk/moh.
    #[arg(long)]
    music: Option<PathBuf>,
    /// Add rows with tones passed through AMR-NB, GSM-FR and IMA ADPCM (needs `sox` with
    /// AMR-NB support on the PATH, e.g. Debian's `sox` and `libsox-fmt-all`).
    #[arg(long)]
    codecs: bool,
    /// Also draw what the detector heard in every condition, one PNG per condition in
    /// this directory (created if missing).
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
}

/// Parses the command line and runs the command.
pub(crate) fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Detect(args) => detect::run(&args),
        Command::Generate(args) => generate::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Evaluate(args) => evaluate::run(&args),
        Command::Serve(args) => serve::run(args).map(|()| ExitCode::SUCCESS),
        Command::Token(args) => token::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Replay(args) => replay::run(&args),
        Command::Completions(args) => docs::completions(&args).map(|()| ExitCode::SUCCESS),
        Command::Man(args) => docs::man(&args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("tonegate: {}", error_line(&error));
            ExitCode::from(2)
        }
    }
}

/// `error` and its causes on one line, each said once: a cause whose text the line
/// already holds (an error that prints its source) is left out.
pub(crate) fn error_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_said_once() {
        let io = std::io::Error::other("Is a directory (os error 21)");
        let error = anyhow::Error::new(io)
            .context("WAV I/O error: Is a directory (os error 21)")
            .context("keys");
        assert_eq!(
            error_line(&error),
            "keys: WAV I/O error: Is a directory (os error 21)"
        );
    }
}
