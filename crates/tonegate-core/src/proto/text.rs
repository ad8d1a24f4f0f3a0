//! Optional string fields borrowed from the frame's text.
//!
//! serde borrows a `Cow<str>` field from the input only when the field is a bare `Cow`;
//! inside an `Option` it copies every string into a new `String`: for an audio frame,
//! its whole base64 payload, once per frame. Fields read with [`optional`] borrow the
//! string where it has no escape sequences and copy it only where it has.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{Error, Visitor};

/// Reads an optional JSON string (`null` or absent: `None`; with `#[serde(default)]`),
/// borrowed from the input unless it has escape sequences.
pub(crate) fn optional<'de: 'a, 'a, D>(deserializer: D) -> Result<Option<Cow<'a, str>>, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_option(OptionalText)
}

/// Visits `null` or a string.
struct OptionalText;

impl<'de> Visitor<'de> for OptionalText {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or null")
    }

    fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(Text).map(Some)
    }
}

/// Visits a string, borrowing it when the input allows.
struct Text;

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(text))
    }

    fn visit_str<E: Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text.to_owned()))
    }

    fn visit_string<E: Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize)]
    struct Frame<'a> {
        #[serde(borrow, default, deserialize_with = "optional")]
        data: Option<Cow<'a, str>>,
    }

    fn parse(json: &str) -> Option<Cow<'_, str>> {
        serde_json::from_str::<Frame<'_>>(json).unwrap().data
    }

    #[test]
    fn plain_strings_are_borrowed_from_the_input() {
        assert!(matches!(
            parse(r#"{"data":"AAEC/+=="}"#),
            Some(Cow::Borrowed("AAEC/+=="))
        ));
    }

    #[test]
    fn escaped_strings_are_unescaped_into_a_copy() {
        assert!(matches!(parse(r#"{"data":"AA\/EC"}"#), Some(Cow::Owned(s)) if s == "AA/EC"));
    }

    #[test]
    fn null_and_absent_are_none() {
        assert!(parse(r#"{"data":null}"#).is_none());
        assert!(parse("{}").is_none());
    }

    #[test]
    fn other_types_are_an_error() {
        assert!(serde_json::from_str::<Frame<'_>>(r#"{"data":5}"#).is_err());
    }
}
