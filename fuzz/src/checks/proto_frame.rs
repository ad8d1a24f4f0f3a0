//! `proto_frame`: the inbound frame parsers of the three audio-socket dialects.

use tonegate_core::proto::{self, Dialect, Error, Inbound, Parser, Request, acs, raw, twilio};

/// The dialects, each parsed on every input.
const DIALECTS: [Dialect; 3] = [Dialect::Acs, Dialect::Twilio, Dialect::Raw];

/// Stream id the outbound builders are given when the check needs one.
const STREAM_SID: &str = "MZ00000000000000000000000000000000";

/// Every dialect's parser, on the input as a text frame (invalid UTF-8 replaced, as a
/// WebSocket text frame cannot hold it) and as a binary frame:
/// - never panics, and parsing is deterministic: into a fresh payload buffer and into
///   one that already holds an earlier frame's audio, the results are equal;
/// - an error carries a close code of 1003, 1007 or 1008 and a non-empty code;
/// - binary frames are audio, byte for byte, in the raw dialect and `UnexpectedBinary`
///   in the others;
/// - an accepted frame rebuilt with the dialect's builder parses back the same (ACS and
///   Twilio audio, Twilio marks); a digit spelt as its character parses back to itself;
///   an accepted Twilio or ACS stream id goes into outbound frames as valid JSON; raw
///   text frames are never audio, and a raw `sendDigits` holds 1 to
///   `raw::MAX_SEND_DIGITS` digits;
/// - the outbound builders take the input itself (as a stream id, mark name and
///   payload) and their frames parse back to exactly that;
/// - `Dialect::detect` is deterministic.
pub fn proto_frame(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    assert_eq!(
        Dialect::detect(&text),
        Dialect::detect(&text),
        "Dialect::detect is deterministic"
    );
    for dialect in DIALECTS {
        let parser = Parser::new(dialect);
        let (mut fresh, mut used) = (Vec::new(), Vec::new());
        if let Some(earlier) = earlier_audio(dialect) {
            let earlier = parser.parse_text(earlier, &mut used);
            assert!(matches!(earlier, Ok(Inbound::Audio(_))));
        }
        let first = parser.parse_text(&text, &mut fresh);
        let second = parser.parse_text(&text, &mut used);
        assert_eq!(first, second, "{dialect}: parsing is deterministic");
        match first {
            Ok(inbound) => check_accepted(dialect, &inbound),
            Err(e) => check_error(e),
        }
        check_binary(dialect, data);
    }
    check_builders(&text, data);
}

/// A valid audio frame with an 8-byte payload, parsed first so the parser's payload
/// buffer is not empty; `None` for the raw dialect (binary audio, no buffer).
fn earlier_audio(dialect: Dialect) -> Option<&'static str> {
    match dialect {
        Dialect::Acs => Some(r#"{"kind":"AudioData","audioData":{"data":"AQIDBAUGBwg="}}"#),
        Dialect::Twilio => Some(r#"{"event":"media","media":{"payload":"AQIDBAUGBwg="}}"#),
        Dialect::Raw => None,
    }
}

fn check_error(e: Error) {
    assert!(
        matches!(e.close_code(), 1003 | 1007 | 1008),
        "{e:?}: close code {}",
        e.close_code()
    );
    assert!(!e.code().is_empty());
    assert!(!e.to_string().is_empty());
}

fn check_binary(dialect: Dialect, data: &[u8]) {
    let parsed = Parser::new(dialect).parse_binary(data);
    match dialect {
        Dialect::Raw => match parsed {
            Ok(Inbound::Audio(audio)) => {
                assert_eq!(audio.payload, data, "raw binary frames are audio unchanged");
                assert_eq!(
                    (audio.participant, audio.timestamp_ms, audio.sequence),
                    (None, None, None)
                );
            }
            other => panic!("raw binary frame parsed as {other:?}"),
        },
        _ => assert_eq!(
            parsed,
            Err(Error::UnexpectedBinary),
            "{dialect} binary frame"
        ),
    }
}

/// The properties of a frame `dialect` accepted.
fn check_accepted(dialect: Dialect, inbound: &Inbound<'_>) {
    match inbound {
        Inbound::Audio(audio) => {
            let rebuilt = match dialect {
                Dialect::Acs => acs::audio_frame(audio.payload),
                Dialect::Twilio => twilio::media(STREAM_SID, audio.payload),
                Dialect::Raw => panic!("raw text frame parsed as audio"),
            };
            assert_eq!(
                audio_payload(dialect, &rebuilt),
                audio.payload,
                "{dialect}: audio rebuilt with the builder parses back the same"
            );
        }
        Inbound::Start(start) => {
            if let Some(sid) = &start.stream_id {
                assert!(audio_payload(Dialect::Twilio, &twilio::media(sid, &[])).is_empty());
            }
        }
        Inbound::Digit { digit } => {
            let spelt = digit.as_char().to_string();
            assert_eq!(proto::parse_digit(&spelt), Some(*digit));
        }
        Inbound::Mark { name } => {
            assert_eq!(dialect, Dialect::Twilio, "only Twilio reports marks");
            assert_eq!(mark_name(&twilio::mark(STREAM_SID, name)), **name);
        }
        Inbound::Request(request) => {
            assert_eq!(dialect, Dialect::Raw, "only raw clients send requests");
            if let Request::SendDigits { digits, .. } = request {
                assert!((1..=raw::MAX_SEND_DIGITS).contains(&digits.len()));
            }
        }
        Inbound::Stop | Inbound::Ignored | Inbound::Unknown => {}
    }
}

/// The builders, fed the input itself, make frames that parse back to exactly it.
fn check_builders(text: &str, data: &[u8]) {
    assert_eq!(audio_payload(Dialect::Acs, &acs::audio_frame(data)), data);
    assert_eq!(
        audio_payload(Dialect::Twilio, &twilio::media(text, data)),
        data
    );
    assert_eq!(mark_name(&twilio::mark(text, text)), text);
    let clear: serde_json::Value =
        serde_json::from_str(&twilio::clear(text)).expect("clear frame is JSON");
    assert_eq!(clear["streamSid"], text);
}

/// The payload of an outbound audio frame, parsed as the dialect's inbound audio.
fn audio_payload(dialect: Dialect, frame: &str) -> Vec<u8> {
    match Parser::new(dialect).parse_text(frame, &mut Vec::new()) {
        Ok(Inbound::Audio(audio)) => audio.payload.to_vec(),
        other => panic!("{dialect} builder frame {frame:?} parses as {other:?}"),
    }
}

/// The name of a Twilio mark frame, parsed as an inbound mark.
fn mark_name(frame: &str) -> String {
    match Parser::new(Dialect::Twilio).parse_text(frame, &mut Vec::new()) {
        Ok(Inbound::Mark { name }) => name.into_owned(),
        other => panic!("mark frame {frame:?} parses as {other:?}"),
    }
}
