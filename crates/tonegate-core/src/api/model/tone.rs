//! DTMF tones by their Call Automation names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use tonegate_dsp::dsp::Digit;

/// A DTMF tone by its Call Automation wire name (`zero` ... `nine`, `a` ... `d`,
/// `pound`, `asterisk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Tone {
    Zero,
    One,
    Two,
    Three,
    Four,
    Five,
    Six,
    Seven,
    Eight,
    Nine,
    A,
    B,
    C,
    D,
    Pound,
    Asterisk,
}

impl Tone {
    /// All tones, in the order of their wire names above.
    pub const ALL: [Tone; 16] = [
        Tone::Zero,
        Tone::One,
        Tone::Two,
        Tone::Three,
        Tone::Four,
        Tone::Five,
        Tone::Six,
        Tone::Seven,
        Tone::Eight,
        Tone::Nine,
        Tone::A,
        Tone::B,
        Tone::C,
        Tone::D,
        Tone::Pound,
        Tone::Asterisk,
    ];

    /// The wire name.
    pub fn name(self) -> &'static str {
        self.digit().tone_name()
    }

    /// The key character (`0`-`9`, `A`-`D`, `#`, `*`).
    pub fn as_char(self) -> char {
        b"0123456789ABCD#*"[self as usize] as char
    }

    /// The keypad digit.
    pub fn digit(self) -> Digit {
        Digit::from_char(self.as_char()).expect("every tone is a key")
    }
}

impl From<Digit> for Tone {
    fn from(d: Digit) -> Tone {
        let c = d.as_char();
        Tone::ALL
            .into_iter()
            .find(|t| t.as_char() == c)
            .expect("every key is a tone")
    }
}

impl From<Tone> for Digit {
    fn from(t: Tone) -> Digit {
        t.digit()
    }
}

impl fmt::Display for Tone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Text that is not a tone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a DTMF tone name")]
pub struct NotATone;

impl FromStr for Tone {
    type Err = NotATone;
    /// Accepts the wire names (any case), `hash`/`star`, and key characters.
    fn from_str(s: &str) -> Result<Tone, NotATone> {
        Digit::from_name_or_char(s).map(Tone::from).ok_or(NotATone)
    }
}
