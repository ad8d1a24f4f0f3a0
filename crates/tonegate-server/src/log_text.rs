//! What log lines may carry of what peers send.
//!
//! A caller's digits are secrets, and so are the tones and `operationContext` an app
//! sends: they reach the log only with [`Config::log_digits`](super::Config). Text a
//! peer chose (call ids, names) is logged through [`Escaped`], so a control character in
//! it cannot start a forged line or drive a terminal.

use std::fmt;

/// Displays peer-chosen text with control characters escaped (`\n`, `\u{1b}`, ...) and
/// everything else as is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// Displays a secret (a digit, tones, an `operationContext`) escaped when `reveal`,
/// else as `<redacted>`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Secret<T> {
    /// The secret.
    pub value: T,
    /// [`Config::log_digits`](super::Config).
    pub reveal: bool,
}

impl<T: fmt::Display> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reveal {
            Escaped(&self.value.to_string()).fmt(f)
        } else {
            f.write_str("<redacted>")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        let forged = "call-1\n2026-01-01T00:00:00Z INFO digit=5\u{1b}[2J\t";
        let shown = Escaped(forged).to_string();
        assert!(!shown.chars().any(char::is_control), "{shown}");
        assert_eq!(
            shown,
            "call-1\\n2026-01-01T00:00:00Z INFO digit=5\\u{1b}[2J\\t"
        );
        assert_eq!(Escaped("4:+1555 é").to_string(), "4:+1555 é");
    }

    #[test]
    fn secrets_show_only_when_asked() {
        let hidden = Secret {
            value: '4',
            reveal: false,
        };
        assert_eq!(hidden.to_string(), "<redacted>");
        let shown = Secret {
            value: "12\n34",
            reveal: true,
        };
        assert_eq!(shown.to_string(), "12\\n34");
    }
}
