//! Logging of `tonegate serve`, by the usual conventions: lines go to stderr, filtered by
//! `TONEGATE_LOG` (default `info`); plain text, coloured only when stderr is a terminal
//! and `NO_COLOR` is unset or empty; or one JSON object per line (`log_format = "json"`),
//! never coloured.

use std::ffi::OsString;
use std::io::IsTerminal;

use tonegate::server::LogFormat;

/// Starts logging to stderr in `format`.
pub(super) fn start(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TONEGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR"),
    );
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(colour).init(),
        LogFormat::Json => logs.json().with_ansi(false).init(),
    }
}

/// Whether text lines are coloured: only on a terminal, and not when `NO_COLOR` holds a
/// value (<https://no-color.org>).
fn colour(terminal: bool, no_color: Option<OsString>) -> bool {
    terminal && no_color.is_none_or(|value| value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(
            colour(true, Some(OsString::new())),
            "empty NO_COLOR is unset"
        );
        assert!(!colour(true, Some(OsString::from("1"))));
        assert!(!colour(false, None));
        assert!(!colour(false, Some(OsString::from("1"))));
    }
}
