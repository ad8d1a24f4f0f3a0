//! The DTMF keypad: sixteen keys, each a pair of one row (low group) and one column
//! (high group) frequency.

use std::fmt;
use std::str::FromStr;

/// Row (low group) frequencies in hertz.
pub const ROW_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// Column (high group) frequencies in hertz.
pub const COLUMN_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

const LAYOUT: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// One DTMF key: `0`-`9`, `*`, `#`, `A`-`D`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digit {
    row: u8,
    column: u8,
}

/// A character that is not a DTMF key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a DTMF key (expected 0-9, *, #, A-D)")]
pub struct NotADigit(pub char);

impl Digit {
    /// All sixteen keys in keypad order.
    pub const ALL: [Digit; 16] = {
        let mut all = [Digit { row: 0, column: 0 }; 16];
        let mut i = 0;
        while i < 16 {
            all[i] = Digit {
                row: (i / 4) as u8,
                column: (i % 4) as u8,
            };
            i += 1;
        }
        all
    };

    /// The key at `row` (0-3, low group) and `column` (0-3, high group).
    ///
    /// # Panics
    /// If either index is above 3; callers index with the bank's own 0-3 positions.
    pub fn from_position(row: usize, column: usize) -> Digit {
        assert!(row < 4 && column < 4, "keypad position out of range");
        Digit {
            row: row as u8,
            column: column as u8,
        }
    }

    /// Parses a key character (lower-case `a`-`d` accepted).
    pub fn from_char(c: char) -> Result<Digit, NotADigit> {
        let upper = c.to_ascii_uppercase();
        for (row, keys) in LAYOUT.iter().enumerate() {
            if let Some(column) = keys.iter().position(|&k| k == upper) {
                return Ok(Digit::from_position(row, column));
            }
        }
        Err(NotADigit(c))
    }

    /// The key's character.
    pub fn as_char(self) -> char {
        LAYOUT[usize::from(self.row)][usize::from(self.column)]
    }

    /// Row index, 0-3.
    pub fn row(self) -> usize {
        usize::from(self.row)
    }

    /// Column index, 0-3.
    pub fn column(self) -> usize {
        usize::from(self.column)
    }

    /// The (low, high) frequency pair in hertz.
    pub fn frequencies(self) -> (f32, f32) {
        (ROW_HZ[self.row()], COLUMN_HZ[self.column()])
    }
}

/// Keys by the names Call Automation gives them on the wire, with the aliases platforms use.
const NAMES: [(&str, char); 18] = [
    ("zero", '0'),
    ("one", '1'),
    ("two", '2'),
    ("three", '3'),
    ("four", '4'),
    ("five", '5'),
    ("six", '6'),
    ("seven", '7'),
    ("eight", '8'),
    ("nine", '9'),
    ("a", 'A'),
    ("b", 'B'),
    ("c", 'C'),
    ("d", 'D'),
    ("pound", '#'),
    ("asterisk", '*'),
    ("hash", '#'),
    ("star", '*'),
];

impl Digit {
    /// The key's Call Automation tone name: `zero` ... `nine`, `a` ... `d`, `pound`,
    /// `asterisk`.
    pub fn tone_name(self) -> &'static str {
        let c = self.as_char();
        NAMES
            .iter()
            .find(|&&(_, key)| key == c)
            .map(|&(name, _)| name)
            .expect("every key has a name")
    }

    /// Parses a key as platforms spell it: its character (`0`-`9`, `*`, `#`, `A`-`D`, any
    /// case) or its tone name (`one`, `pound`, also `hash` and `star`; any case).
    pub fn from_name_or_char(text: &str) -> Option<Digit> {
        let mut chars = text.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            return Digit::from_char(c).ok();
        }
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(text))
            .and_then(|&(_, c)| Digit::from_char(c).ok())
    }
}

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

impl FromStr for Digit {
    type Err = NotADigit;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Digit::from_char(c),
            (Some(c), Some(_)) | (None, Some(c)) => Err(NotADigit(c)),
            (None, None) => Err(NotADigit(' ')),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_round_trips_through_its_character() {
        for digit in Digit::ALL {
            assert_eq!(Digit::from_char(digit.as_char()), Ok(digit));
        }
        assert_eq!(
            Digit::from_char('5').unwrap().frequencies(),
            (770.0, 1336.0)
        );
        assert_eq!(
            Digit::from_char('d').unwrap().frequencies(),
            (941.0, 1633.0)
        );
        assert_eq!(Digit::from_char('x'), Err(NotADigit('x')));
    }

    #[test]
    fn every_key_round_trips_through_its_tone_name() {
        for digit in Digit::ALL {
            assert_eq!(Digit::from_name_or_char(digit.tone_name()), Some(digit));
            assert_eq!(Digit::from_name_or_char(&digit.to_string()), Some(digit));
        }
        assert_eq!(Digit::from_char('#').unwrap().tone_name(), "pound");
        assert_eq!(Digit::from_name_or_char("STAR"), Digit::from_char('*').ok());
        assert_eq!(Digit::from_name_or_char("eleven"), None);
        assert_eq!(Digit::from_name_or_char(""), None);
    }
}
