//! Text-to-speech play sources (`TextSource`, `SsmlSource`, a raw `play` with `text` or
//! `ssml`) and why one could not be synthesised.
//!
//! The core only names what to say; the server's speech engine turns it into a
//! [`Prompt`](crate::player::Prompt) like any file, so sessions never see the
//! difference.

use super::ResultInformation;

/// What to say.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SpeechInput {
    /// Plain text (`TextSource.text`, raw `text`).
    Text(String),
    /// An SSML document (`SsmlSource.ssmlText`, raw `ssml`).
    Ssml(String),
}

impl SpeechInput {
    /// The text or SSML as given.
    pub fn as_str(&self) -> &str {
        match self {
            SpeechInput::Text(t) | SpeechInput::Ssml(t) => t,
        }
    }
}

/// A text-to-speech play source, validated: the input within
/// [`MAX_SPEECH_CHARS`](crate::limits::MAX_SPEECH_CHARS), the names within
/// [`MAX_NAME_CHARS`](crate::limits::MAX_NAME_CHARS).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Speech {
    /// Text or SSML.
    pub input: SpeechInput,
    /// `voiceName` (an ACS neural voice such as `en-US-JennyNeural`, or an engine's own
    /// voice name); `None`: from the locale, else the engine's default.
    pub voice_name: Option<String>,
    /// `sourceLocale` (`en-US`); `None`: the voice's.
    pub source_locale: Option<String>,
}

impl Speech {
    /// Plain `text` in the default voice.
    pub fn text(text: impl Into<String>) -> Speech {
        Speech {
            input: SpeechInput::Text(text.into()),
            voice_name: None,
            source_locale: None,
        }
    }
}

/// Why speech could not be synthesised, in the classes Call Automation reports with
/// sub-code 8565 (its speech-service failures). Each message is for the client: it
/// never repeats the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpeechFailure {
    /// The input was refused, or no engine can run (400/8565).
    BadRequest(String),
    /// The speech service refused tonegate's credentials (401/8565).
    Unauthorized(String),
    /// Synthesis took longer than allowed (408/8565).
    TimedOut(String),
    /// Too many syntheses at once (429/8565).
    Busy(String),
}

impl SpeechFailure {
    /// The message, without the class.
    pub fn message(&self) -> &str {
        match self {
            SpeechFailure::BadRequest(m)
            | SpeechFailure::Unauthorized(m)
            | SpeechFailure::TimedOut(m)
            | SpeechFailure::Busy(m) => m,
        }
    }

    /// The `resultInformation` of the PlayFailed it causes.
    pub fn result(&self) -> ResultInformation {
        let (code, what, detail) = match self {
            SpeechFailure::BadRequest(m) => (400, "bad request to the speech engine", m),
            SpeechFailure::Unauthorized(m) => (401, "speech engine authentication error", m),
            SpeechFailure::TimedOut(m) => (408, "request to the speech engine timed out", m),
            SpeechFailure::Busy(m) => (429, "too many concurrent speech requests", m),
        };
        ResultInformation::new(code, 8565, format!("Action failed, {what}: {detail}"))
    }
}
