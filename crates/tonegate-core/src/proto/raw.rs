//! tonegate's raw dialect (documented in `docs/raw-protocol.md`).
//!
//! Client to tonegate: a text `start` frame, then binary audio frames of any size, and
//! text requests (`play`, `sendDigits`, `stop`, `mark`, `dtmf`, `end`, and the media
//! operations `recognize`, `startContinuousDtmf`, `stopContinuousDtmf`, `cancelAll`) at any time after
//! `start`. tonegate to client: JSON text events (the serialised
//! [`crate::session::Event`], built by [`event`]), `stopAudio` ([`stop_audio`]) and
//! binary outbound audio ([`audio_frame`]).

use std::borrow::Cow;

use serde::Deserialize;

use super::{
    Error, Inbound, PromptSource, Request, SpeechInput, Start, StreamFormat, owned_within,
    parse_digit, sample_rate,
};
use crate::api::model::{RecognizeInput, Speech, SpeechInput as SpokenText};
use crate::api::{ChoiceBody, MAX_END_SILENCE_MS, validate_choices};
use crate::limits::{
    MAX_CONTEXT_CHARS, MAX_ID_CHARS, MAX_NAME_CHARS, MAX_SPEECH_CHARS, MAX_URI_CHARS,
};
use tonegate_dsp::codec::Encoding;
use tonegate_dsp::dsp::Digit;

/// Most digits one `sendDigits` request may carry.
pub const MAX_SEND_DIGITS: usize = 64;

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(
        rename = "callId",
        borrow,
        default,
        deserialize_with = "super::text::optional"
    )]
    call_id: Option<Cow<'a, str>>,
    #[serde(
        rename = "callbackUri",
        borrow,
        default,
        deserialize_with = "super::text::optional"
    )]
    callback_uri: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::text::optional")]
    encoding: Option<Cow<'a, str>>,
    #[serde(rename = "sampleRate", default)]
    sample_rate: Option<u32>,
    #[serde(borrow, default, deserialize_with = "super::text::optional")]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::text::optional")]
    file: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::text::optional")]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::text::optional")]
    ssml: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::text::optional")]
    voice: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::text::optional")]
    locale: Option<Cow<'a, str>>,
    #[serde(rename = "loop", default)]
    looped: Option<bool>,
    #[serde(borrow, default, deserialize_with = "super::text::optional")]
    digits: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::text::optional")]
    digit: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::text::optional")]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::text::optional")]
    context: Option<Cow<'a, str>>,
    #[serde(rename = "maxTones", default)]
    max_tones: Option<u32>,
    #[serde(
        rename = "stopTones",
        borrow,
        default,
        deserialize_with = "super::text::optional"
    )]
    stop_tones: Option<Cow<'a, str>>,
    #[serde(rename = "initialSilenceMs", default)]
    initial_silence_ms: Option<u64>,
    #[serde(rename = "interToneMs", default)]
    inter_tone_ms: Option<u64>,
    #[serde(default)]
    buffering: Option<bool>,
    #[serde(borrow, default, deserialize_with = "super::text::optional")]
    input: Option<Cow<'a, str>>,
    #[serde(default)]
    choices: Option<Vec<ChoiceBody>>,
    #[serde(rename = "endSilenceMs", default)]
    end_silence_ms: Option<u64>,
    #[serde(borrow, default, deserialize_with = "super::text::optional")]
    language: Option<Cow<'a, str>>,
}

/// The speech fields of a `recognize` frame.
fn speech_input(frame: &mut Frame<'_>) -> Result<SpeechInput, Error> {
    let input = match frame.input.as_deref().unwrap_or("dtmf") {
        "dtmf" => RecognizeInput::Dtmf,
        "choices" => RecognizeInput::Choices,
        "speech" => RecognizeInput::Speech,
        "speechOrDtmf" => RecognizeInput::SpeechOrDtmf,
        _ => return Err(Error::InvalidField("input")),
    };
    let bodies = frame.choices.take().unwrap_or_default();
    if input == RecognizeInput::Choices && bodies.is_empty() {
        return Err(Error::MissingField("choices"));
    }
    let choices =
        validate_choices(&bodies, "choices").map_err(|_| Error::InvalidField("choices"))?;
    if frame
        .end_silence_ms
        .is_some_and(|ms| ms == 0 || ms as f64 > MAX_END_SILENCE_MS)
    {
        return Err(Error::InvalidField("endSilenceMs"));
    }
    Ok(SpeechInput {
        input,
        choices,
        end_silence_ms: frame.end_silence_ms,
        language: owned_within(frame.language.take(), "language", MAX_NAME_CHARS)?,
    })
}

/// Parses one inbound raw text frame.
pub fn parse(text: &str) -> Result<Inbound<'_>, Error> {
    let mut frame: Frame<'_> = serde_json::from_str(text)?;
    let id = |c| owned_within(c, "id", MAX_ID_CHARS);
    let context = |c| owned_within(c, "context", MAX_CONTEXT_CHARS);
    match &*frame.kind {
        "start" => {
            let encoding = frame
                .encoding
                .as_deref()
                .ok_or(Error::MissingField("encoding"))?
                .parse::<Encoding>()
                .map_err(|_| Error::UnsupportedEncoding)?;
            let hz = frame.sample_rate.ok_or(Error::MissingField("sampleRate"))?;
            Ok(Inbound::Start(Start {
                call_id: owned_within(frame.call_id, "callId", MAX_ID_CHARS)?,
                callback_uri: owned_within(frame.callback_uri, "callbackUri", MAX_URI_CHARS)?,
                stream_id: None,
                format: StreamFormat {
                    encoding,
                    rate: sample_rate(hz)?,
                },
            }))
        }
        "play" => Ok(Inbound::Request(Request::Play {
            id: id(frame.id.clone())?,
            looped: frame.looped.unwrap_or(false),
            source: prompt_source(frame)?,
        })),
        "sendDigits" => {
            let text = frame.digits.ok_or(Error::MissingField("digits"))?;
            if text.is_empty() || text.chars().count() > MAX_SEND_DIGITS {
                return Err(Error::InvalidField("digits"));
            }
            let digits = text
                .chars()
                .map(Digit::from_char)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| Error::InvalidField("digits"))?;
            Ok(Inbound::Request(Request::SendDigits {
                id: id(frame.id)?,
                digits,
            }))
        }
        "stop" => Ok(Inbound::Request(Request::Stop)),
        "recognize" => {
            let stop_tones = frame
                .stop_tones
                .as_deref()
                .unwrap_or("")
                .chars()
                .map(Digit::from_char)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| Error::InvalidField("stopTones"))?;
            let speech = speech_input(&mut frame)?;
            Ok(Inbound::Request(Request::Recognize {
                speech,
                context: context(frame.context)?,
                max_tones: frame.max_tones,
                stop_tones,
                initial_silence_ms: frame.initial_silence_ms,
                inter_tone_ms: frame.inter_tone_ms,
                buffering: frame.buffering,
            }))
        }
        "startContinuousDtmf" | "stopContinuousDtmf" => {
            Ok(Inbound::Request(Request::ContinuousDtmf {
                on: frame.kind == "startContinuousDtmf",
                context: context(frame.context)?,
            }))
        }
        "cancelAll" => Ok(Inbound::Request(Request::CancelAll)),
        "mark" => Ok(Inbound::Request(Request::Mark {
            name: owned_within(frame.name, "name", MAX_ID_CHARS)?
                .ok_or(Error::MissingField("name"))?,
        })),
        "dtmf" => {
            let text = frame.digit.ok_or(Error::MissingField("digit"))?;
            let digit = parse_digit(&text).ok_or(Error::InvalidField("digit"))?;
            Ok(Inbound::Digit { digit })
        }
        "end" => Ok(Inbound::Stop),
        _ => Ok(Inbound::Unknown),
    }
}

/// What a `play` frame plays: exactly one of `file`, `text` and `ssml` (with `voice`
/// and `locale` for speech).
fn prompt_source(frame: Frame<'_>) -> Result<PromptSource, Error> {
    let file = owned_within(frame.file, "file", MAX_URI_CHARS)?;
    let text = owned_within(frame.text, "text", MAX_SPEECH_CHARS)?;
    let ssml = owned_within(frame.ssml, "ssml", MAX_SPEECH_CHARS)?;
    let input = match (file, text, ssml) {
        (Some(file), None, None) => return Ok(PromptSource::File(file)),
        (None, Some(text), None) => SpokenText::Text(text),
        (None, None, Some(ssml)) => SpokenText::Ssml(ssml),
        (None, None, None) => return Err(Error::MissingField("file")),
        _ => return Err(Error::InvalidField("play: give one of file, text, ssml")),
    };
    if input.as_str().trim().is_empty() {
        return Err(Error::InvalidField(match input {
            SpokenText::Text(_) => "text",
            SpokenText::Ssml(_) => "ssml",
        }));
    }
    let name = |value: Option<Cow<'_, str>>, field| {
        owned_within(value, field, MAX_NAME_CHARS)
            .map(|v| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
    };
    Ok(PromptSource::Speech(Speech {
        input,
        voice_name: name(frame.voice, "voice")?,
        source_locale: name(frame.locale, "locale")?,
    }))
}

/// An event for the client: its JSON as a text frame.
pub fn event(event: &impl serde::Serialize) -> String {
    // The events tonegate sends have string keys and finite numbers, so this cannot
    // fail; an empty object would still be a valid frame.
    serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned())
}

/// Tells the client to drop outbound audio it has buffered (barge-in):
/// `{"type":"stopAudio"}`.
pub fn stop_audio() -> String {
    r#"{"type":"stopAudio"}"#.to_owned()
}

/// Outbound audio: the encoded samples as they are, in a binary frame.
pub fn audio_frame(payload: &[u8]) -> Vec<u8> {
    payload.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn play_takes_text_or_ssml_for_the_speech_engine() {
        let source = |json: &str| match parse(json) {
            Ok(Inbound::Request(Request::Play { source, .. })) => Ok(source),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(
            source(r#"{"type":"play","text":"press one","voice":"en-gb","locale":"en-GB"}"#),
            Ok(PromptSource::Speech(Speech {
                input: SpokenText::Text("press one".to_owned()),
                voice_name: Some("en-gb".to_owned()),
                source_locale: Some("en-GB".to_owned()),
            }))
        );
        assert_eq!(
            source(r#"{"type":"play","ssml":"<speak>hi</speak>","voice":" "}"#),
            Ok(PromptSource::Speech(Speech {
                input: SpokenText::Ssml("<speak>hi</speak>".to_owned()),
                voice_name: None,
                source_locale: None,
            }))
        );
        assert_eq!(
            source(r#"{"type":"play"}"#),
            Err(Error::MissingField("file"))
        );
        assert!(matches!(
            source(r#"{"type":"play","file":"a.wav","text":"hi"}"#),
            Err(Error::InvalidField(_))
        ));
        assert_eq!(
            source(r#"{"type":"play","text":"  "}"#),
            Err(Error::InvalidField("text"))
        );
        let long = format!(
            r#"{{"type":"play","text":"{}"}}"#,
            "x".repeat(MAX_SPEECH_CHARS + 1)
        );
        assert_eq!(
            source(&long),
            Err(Error::TooLong {
                field: "text",
                max: MAX_SPEECH_CHARS
            })
        );
    }

    #[test]
    fn a_speech_recognize_carries_its_choices_and_timings() {
        let text = r#"{"type":"recognize","context":"menu","input":"choices","endSilenceMs":600,
            "language":"en-US","choices":[{"label":"Sales","phrases":["Sales"],"tone":"1"}]}"#;
        let Inbound::Request(Request::Recognize { speech, .. }) = parse(text).unwrap() else {
            panic!("a recognize");
        };
        assert_eq!(speech.input, RecognizeInput::Choices);
        assert_eq!(speech.choices[0].phrases, vec!["sales".to_owned()]);
        assert_eq!(speech.end_silence_ms, Some(600));
        assert_eq!(speech.language.as_deref(), Some("en-US"));
        for (bad, field) in [
            (r#"{"type":"recognize","input":"voice"}"#, "input"),
            (r#"{"type":"recognize","input":"choices"}"#, "choices"),
            (
                r#"{"type":"recognize","input":"choices","choices":[{"label":"x","phrases":["a;b"]}]}"#,
                "choices",
            ),
            (
                r#"{"type":"recognize","input":"speech","endSilenceMs":0}"#,
                "endSilenceMs",
            ),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(
                matches!(err, Error::InvalidField(f) | Error::MissingField(f) if f == field),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn parses_frames() {
        match parse(r#"{"type":"start","callId":"c1","encoding":"ulaw","sampleRate":8000}"#)
            .unwrap()
        {
            Inbound::Start(s) => {
                assert_eq!(s.call_id.as_deref(), Some("c1"));
                assert_eq!(s.format.encoding, Encoding::Ulaw);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(r#"{"type":"sendDigits","digits":"12#"}"#),
            Ok(Inbound::Request(Request::SendDigits { digits, .. })) if digits.len() == 3
        ));
        assert_eq!(
            parse(r#"{"type":"sendDigits","digits":"12x"}"#),
            Err(Error::InvalidField("digits"))
        );
        assert_eq!(
            parse(r#"{"type":"start","encoding":"s16le","sampleRate":4000}"#),
            Err(Error::UnsupportedRate(4_000))
        );
        assert_eq!(
            parse(r#"{"type":"start","encoding":"opus","sampleRate":8000}"#),
            Err(Error::UnsupportedEncoding)
        );
        assert_eq!(parse(r#"{"type":"bogus"}"#), Ok(Inbound::Unknown));
        assert!(matches!(
            parse(r#"{"type":"play","file":"a.wav"}"#),
            Ok(Inbound::Request(Request::Play { source: PromptSource::File(f), .. })) if f == "a.wav"
        ));
        assert!(matches!(parse("nope"), Err(Error::MalformedJson { .. })));
    }
}
