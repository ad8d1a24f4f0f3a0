//! Wire dialects of the audio WebSocket: pure parsing of inbound frames into one
//! [`Inbound`] type and building of outbound frames. No IO, no clock, no panics on any
//! input.
//!
//! - [`acs`]: Azure Communication Services media streaming (JSON text frames).
//! - [`twilio`]: Twilio Media Streams (JSON text frames).
//! - [`raw`]: tonegate's own dialect: a JSON `start` frame, then binary audio
//!   (see `docs/raw-protocol.md`).
//! - [`stream_params`]: per-call settings in the audio socket URL's query.
//!
//! [`Parser`] decodes base64 payloads into a buffer the caller lends and reuses, so
//! parsing an audio frame allocates nothing once the buffer has grown to the frame size.

pub mod acs;
pub mod raw;
pub mod stream_params;
mod text;
pub mod twilio;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use crate::api::model::Speech;
use tonegate_dsp::SampleRate;
use tonegate_dsp::codec::Encoding;
use tonegate_dsp::dsp::Digit;

/// Which platform's framing a socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Azure Communication Services.
    Acs,
    /// Twilio Media Streams.
    Twilio,
    /// tonegate's raw dialect.
    Raw,
}

impl Dialect {
    /// Every dialect.
    pub const ALL: [Dialect; 3] = [Dialect::Acs, Dialect::Twilio, Dialect::Raw];

    /// Lower-case name (`acs`, `twilio`, `raw`).
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Acs => "acs",
            Dialect::Twilio => "twilio",
            Dialect::Raw => "raw",
        }
    }

    /// Guesses the dialect from the first frame of a socket: a JSON object with `kind`
    /// is ACS, with `event` Twilio, with `type` raw. `None` when it cannot tell.
    pub fn detect(first_text: &str) -> Option<Dialect> {
        #[derive(Deserialize)]
        struct Probe<'a> {
            #[serde(alias = "Kind", borrow, default, deserialize_with = "text::optional")]
            kind: Option<Cow<'a, str>>,
            #[serde(borrow, default, deserialize_with = "text::optional")]
            event: Option<Cow<'a, str>>,
            #[serde(rename = "type", borrow, default, deserialize_with = "text::optional")]
            kind_raw: Option<Cow<'a, str>>,
        }
        let probe: Probe<'_> = serde_json::from_str(first_text).ok()?;
        match (probe.kind, probe.event, probe.kind_raw) {
            (Some(_), _, _) => Some(Dialect::Acs),
            (None, Some(_), _) => Some(Dialect::Twilio),
            (None, None, Some(_)) => Some(Dialect::Raw),
            _ => None,
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Dialect {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "acs" => Ok(Dialect::Acs),
            "twilio" => Ok(Dialect::Twilio),
            "raw" => Ok(Dialect::Raw),
            _ => Err(()),
        }
    }
}

/// Encoding and rate of a stream's audio (mono).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamFormat {
    /// Sample encoding on the wire.
    pub encoding: Encoding,
    /// Samples per second.
    pub rate: SampleRate,
}

/// The stream's opening frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// Call identifier the frame carries (Twilio `callSid`, raw `callId`; ACS has none
    /// in-band, its call id comes from the `x-ms-call-connection-id` header).
    pub call_id: Option<String>,
    /// Stream identifier (Twilio `streamSid`, ACS `subscriptionId`).
    pub stream_id: Option<String>,
    /// Where the call's media-operation events go (raw `callbackUri`, Twilio custom
    /// parameter `callbackUri`; ACS has none in-band).
    pub callback_uri: Option<String>,
    /// Audio format.
    pub format: StreamFormat,
}

/// One frame of audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audio<'a> {
    /// Who is speaking: ACS `participantRawID` (unmixed), Twilio track name, or `None`.
    pub participant: Option<Cow<'a, str>>,
    /// Encoded samples (already base64-decoded).
    pub payload: &'a [u8],
    /// Platform timestamp of the frame's first sample, ms since stream start (Twilio).
    pub timestamp_ms: Option<u64>,
    /// Frame counter (Twilio `sequenceNumber`).
    pub sequence: Option<u64>,
}

/// What a raw `play` plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptSource {
    /// A WAV file (path relative to the server's prompt root).
    File(String),
    /// Text or SSML for the server's speech engine.
    Speech(Speech),
}

/// What an outbound-audio request from a raw client asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Play a WAV file or synthesised speech.
    Play {
        /// Client's id for the prompt, echoed in events.
        id: Option<String>,
        /// What to play.
        source: PromptSource,
        /// Repeat until stopped.
        looped: bool,
    },
    /// Send DTMF digits as audio.
    SendDigits {
        /// Client's id, echoed in events.
        id: Option<String>,
        /// The digits.
        digits: Vec<Digit>,
    },
    /// Drop queued and playing outbound audio.
    Stop,
    /// Report `name` when the audio queued before it has played.
    Mark {
        /// Mark name.
        name: String,
    },
    /// Collect DTMF digits (a Call Automation DTMF recognize without prompt).
    Recognize {
        /// Echoed as `operationContext`.
        context: Option<String>,
        /// `maxTonesToCollect`.
        max_tones: Option<u32>,
        /// `stopTones`.
        stop_tones: Vec<Digit>,
        /// `initialSilenceTimeoutInSeconds`, in ms.
        initial_silence_ms: Option<u64>,
        /// `interToneTimeoutInSeconds`, in ms.
        inter_tone_ms: Option<u64>,
        /// tonegate's `dtmfBuffering`.
        buffering: Option<bool>,
        /// What the caller may answer with besides keys.
        speech: SpeechInput,
    },
    /// Start (`on`) or stop continuous DTMF recognition.
    ContinuousDtmf {
        /// Echoed as `operationContext`.
        context: Option<String>,
        /// Start or stop.
        on: bool,
    },
    /// Cancel all media operations.
    CancelAll,
}

/// The speech part of a raw `recognize` (`input`, `choices`, `endSilenceMs`,
/// `language`); [`Default`] is a DTMF recognize.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpeechInput {
    /// `input`: `dtmf` (default), `choices`, `speech` or `speechOrDtmf`.
    pub input: crate::api::model::RecognizeInput,
    /// `choices`, validated like Call Automation's.
    pub choices: Vec<crate::api::model::Choice>,
    /// `endSilenceMs`: silence that ends an utterance.
    pub end_silence_ms: Option<u64>,
    /// `language` (BCP 47).
    pub language: Option<String>,
}

/// One parsed inbound frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound<'a> {
    /// Stream start: call id and format.
    Start(Start),
    /// Audio samples.
    Audio(Audio<'a>),
    /// A digit the platform detected itself (ACS `DtmfData`, Twilio `dtmf`).
    Digit {
        /// The key.
        digit: Digit,
    },
    /// The platform says the audio queued before this mark has played (Twilio).
    Mark {
        /// Mark name.
        name: Cow<'a, str>,
    },
    /// A raw client's request for outbound audio.
    Request(Request),
    /// End of the stream.
    Stop,
    /// A frame that carries nothing tonegate uses (Twilio `connected`, ACS transcription).
    Ignored,
    /// A frame of a kind this dialect does not know; logged, then skipped.
    Unknown,
}

/// Why a frame was rejected. Holds only static strings and numbers, so it never
/// allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The text is not a JSON object of the expected shape.
    #[error("malformed JSON at line {line} column {column}")]
    MalformedJson {
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
    },
    /// A required field is missing.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// A field has a value tonegate cannot use.
    #[error("invalid value for {0}")]
    InvalidField(&'static str),
    /// A payload is not valid base64.
    #[error("invalid base64 in {0}")]
    InvalidBase64(&'static str),
    /// The stream's encoding is not supported.
    #[error("unsupported encoding")]
    UnsupportedEncoding,
    /// The stream's rate is outside 8-48 kHz.
    #[error("unsupported sample rate {0} Hz (8000 to 48000 supported)")]
    UnsupportedRate(u32),
    /// Only mono streams are supported.
    #[error("unsupported channel count {0} (only 1)")]
    UnsupportedChannels(u32),
    /// A binary frame where the dialect only has text frames.
    #[error("binary frame where a text frame was expected")]
    UnexpectedBinary,
    /// A text frame that needed to be binary, or binary before `start` (raw).
    #[error("audio before the start frame")]
    AudioBeforeStart,
    /// A free-text field is longer than its limit ([`crate::limits`]).
    #[error("{field} is longer than {max} characters")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its limit, characters.
        max: usize,
    },
}

impl Error {
    /// WebSocket close code that fits the error.
    pub fn close_code(self) -> u16 {
        match self {
            Error::UnsupportedEncoding
            | Error::UnsupportedRate(_)
            | Error::UnsupportedChannels(_)
            | Error::UnexpectedBinary => 1003,
            Error::AudioBeforeStart | Error::TooLong { .. } => 1008,
            _ => 1007,
        }
    }

    /// Every [`Error::code`], so counters can start at 0 for each.
    pub const CODES: [&'static str; 10] = [
        "malformedJson",
        "missingField",
        "invalidField",
        "invalidBase64",
        "unsupportedEncoding",
        "unsupportedRate",
        "unsupportedChannels",
        "unexpectedBinary",
        "audioBeforeStart",
        "textTooLong",
    ];

    /// Short machine-readable code for error events and metrics labels.
    pub fn code(self) -> &'static str {
        match self {
            Error::MalformedJson { .. } => "malformedJson",
            Error::MissingField(_) => "missingField",
            Error::InvalidField(_) => "invalidField",
            Error::InvalidBase64(_) => "invalidBase64",
            Error::UnsupportedEncoding => "unsupportedEncoding",
            Error::UnsupportedRate(_) => "unsupportedRate",
            Error::UnsupportedChannels(_) => "unsupportedChannels",
            Error::UnexpectedBinary => "unexpectedBinary",
            Error::AudioBeforeStart => "audioBeforeStart",
            Error::TooLong { .. } => "textTooLong",
        }
    }
}

/// `value` of `field` as an owned string, refused when longer than `max` characters.
fn owned_within(
    value: Option<Cow<'_, str>>,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, Error> {
    match value {
        Some(text) if !crate::limits::fits(&text, max) => Err(Error::TooLong { field, max }),
        other => Ok(other.map(Cow::into_owned)),
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::MalformedJson {
            line: e.line(),
            column: e.column(),
        }
    }
}

/// Parses one dialect's inbound frames.
#[derive(Debug)]
pub struct Parser {
    dialect: Dialect,
}

impl Parser {
    /// A parser for `dialect`.
    pub fn new(dialect: Dialect) -> Parser {
        Parser { dialect }
    }

    /// The dialect parsed.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Parses a text frame; base64 audio is decoded into `scratch`, a buffer reused
    /// frame after frame (see [`decode_base64`]).
    pub fn parse_text<'a>(
        &self,
        text: &'a str,
        scratch: &'a mut Vec<u8>,
    ) -> Result<Inbound<'a>, Error> {
        match self.dialect {
            Dialect::Acs => acs::parse(text, scratch),
            Dialect::Twilio => twilio::parse(text, scratch),
            Dialect::Raw => raw::parse(text),
        }
    }

    /// Parses a binary frame: audio in the raw dialect, an error in the others.
    pub fn parse_binary<'a>(&self, bytes: &'a [u8]) -> Result<Inbound<'a>, Error> {
        match self.dialect {
            Dialect::Raw => Ok(Inbound::Audio(Audio {
                participant: None,
                payload: bytes,
                timestamp_ms: None,
                sequence: None,
            })),
            _ => Err(Error::UnexpectedBinary),
        }
    }
}

/// Decodes standard base64 into the front of `out` and returns the decoded bytes.
///
/// `out` is a buffer reused frame after frame: it is zero-filled only when it has to grow
/// (to the largest payload seen), never per frame, and bytes past the payload are stale.
/// The SIMD decoder (`base64-simd`) is used because this runs on every audio frame.
pub(crate) fn decode_base64<'a>(
    text: &str,
    out: &'a mut Vec<u8>,
    field: &'static str,
) -> Result<&'a [u8], Error> {
    let base64 = base64_simd::STANDARD;
    let invalid = |_| Error::InvalidBase64(field);
    let len = base64.decoded_length(text.as_bytes()).map_err(invalid)?;
    if out.len() < len {
        out.resize(len, 0);
    }
    let decoded = (base64.decode(
        text.as_bytes(),
        base64_simd::Out::from_slice(&mut out[..len]),
    ))
    .map_err(invalid)?;
    Ok(decoded)
}

/// Encodes bytes as standard base64.
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Parses a digit as platforms spell it: one of `0-9 * # A-D` (any case), or an ACS
/// tone name (`zero` ... `nine`, `a` ... `d`, `pound`, `asterisk`).
pub fn parse_digit(text: &str) -> Option<Digit> {
    Digit::from_name_or_char(text)
}

fn sample_rate(hz: u32) -> Result<SampleRate, Error> {
    SampleRate::new(hz).map_err(|_| Error::UnsupportedRate(hz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_payloads_decode_as_the_reference_decoder_does() {
        use base64::Engine;
        let reference = base64::engine::general_purpose::STANDARD;
        let mut out = Vec::new();
        // Every length up to two frames of 48 kHz audio, bytes from a simple generator.
        let mut state = 0x2545_f491_u32;
        for len in 0..4_000 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    state as u8
                })
                .collect();
            let text = reference.encode(&bytes);
            assert_eq!(decode_base64(&text, &mut out, "f").unwrap(), &bytes[..]);
        }
        // Bad input is refused by both decoders.
        for bad in [
            "A", "AB==", "AB=", "AB=C", "AB?=", "ABC", "AB==AB==", "AB\nCD", "ABC=A", "AB",
        ] {
            assert!(reference.decode(bad).is_err(), "{bad}");
            assert!(
                matches!(
                    decode_base64(bad, &mut out, "f"),
                    Err(Error::InvalidBase64("f"))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn codes_lists_every_error_code() {
        let one_of_each = [
            Error::MalformedJson { line: 1, column: 1 },
            Error::MissingField("f"),
            Error::InvalidField("f"),
            Error::InvalidBase64("f"),
            Error::UnsupportedEncoding,
            Error::UnsupportedRate(1),
            Error::UnsupportedChannels(2),
            Error::UnexpectedBinary,
            Error::AudioBeforeStart,
            Error::TooLong { field: "f", max: 1 },
        ];
        // A new variant fails to compile here until it is added above and to CODES.
        for error in one_of_each {
            match error {
                Error::MalformedJson { .. }
                | Error::MissingField(_)
                | Error::InvalidField(_)
                | Error::InvalidBase64(_)
                | Error::UnsupportedEncoding
                | Error::UnsupportedRate(_)
                | Error::UnsupportedChannels(_)
                | Error::UnexpectedBinary
                | Error::AudioBeforeStart
                | Error::TooLong { .. } => {}
            }
        }
        assert_eq!(one_of_each.map(Error::code), Error::CODES);
    }

    #[test]
    fn detects_dialects() {
        assert_eq!(
            Dialect::detect(r#"{"kind":"AudioMetadata"}"#),
            Some(Dialect::Acs)
        );
        assert_eq!(
            Dialect::detect(r#"{"event":"connected"}"#),
            Some(Dialect::Twilio)
        );
        assert_eq!(Dialect::detect(r#"{"type":"start"}"#), Some(Dialect::Raw));
        assert_eq!(Dialect::detect("{"), None);
        assert_eq!(Dialect::detect("[]"), None);
    }

    #[test]
    fn parses_digit_spellings() {
        for (text, c) in [
            ("5", '5'),
            ("#", '#'),
            ("pound", '#'),
            ("Asterisk", '*'),
            ("d", 'D'),
        ] {
            assert_eq!(parse_digit(text).map(|d| d.as_char()), Some(c), "{text}");
        }
        assert_eq!(parse_digit("x"), None);
        assert_eq!(parse_digit(""), None);
        assert_eq!(parse_digit("eleven"), None);
    }
}
