//! Twilio Media Streams frames, as Twilio sends and accepts them on the audio WebSocket.
//!
//! Inbound events: `connected`, `start`, `media`, `dtmf`, `mark`, `stop`. Outbound:
//! `media`, `mark`, `clear`, each carrying the `streamSid`.

use std::borrow::Cow;

use serde::Deserialize;

use super::{
    Audio, Error, Inbound, Start, StreamFormat, decode_base64, owned_within, parse_digit,
    sample_rate,
};
use crate::limits::MAX_ID_CHARS;
use tonegate_dsp::codec::Encoding;

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(
        rename = "sequenceNumber",
        borrow,
        default,
        deserialize_with = "super::text::optional"
    )]
    sequence_number: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    start: Option<StartBody<'a>>,
    #[serde(borrow, default)]
    media: Option<Media<'a>>,
    #[serde(borrow, default)]
    dtmf: Option<Dtmf<'a>>,
    #[serde(borrow, default)]
    mark: Option<Mark<'a>>,
    #[serde(
        rename = "streamSid",
        borrow,
        default,
        deserialize_with = "super::text::optional"
    )]
    stream_sid: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct StartBody<'a> {
    #[serde(
        rename = "streamSid",
        borrow,
        default,
        deserialize_with = "super::text::optional"
    )]
    stream_sid: Option<Cow<'a, str>>,
    #[serde(
        rename = "callSid",
        borrow,
        default,
        deserialize_with = "super::text::optional"
    )]
    call_sid: Option<Cow<'a, str>>,
    #[serde(rename = "customParameters", default)]
    custom_parameters: Option<std::collections::HashMap<String, serde_json::Value>>,
    #[serde(rename = "mediaFormat", borrow)]
    media_format: Option<MediaFormat<'a>>,
}

#[derive(Deserialize)]
struct MediaFormat<'a> {
    #[serde(borrow, default, deserialize_with = "super::text::optional")]
    encoding: Option<Cow<'a, str>>,
    #[serde(rename = "sampleRate")]
    sample_rate: Option<u32>,
    channels: Option<u32>,
}

#[derive(Deserialize)]
struct Media<'a> {
    #[serde(borrow, default, deserialize_with = "super::text::optional")]
    track: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::text::optional")]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::text::optional")]
    payload: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Dtmf<'a> {
    #[serde(borrow, default, deserialize_with = "super::text::optional")]
    digit: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Mark<'a> {
    #[serde(borrow, default, deserialize_with = "super::text::optional")]
    name: Option<Cow<'a, str>>,
}

fn number(text: Option<&str>, field: &'static str) -> Result<Option<u64>, Error> {
    text.map(|t| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| Error::InvalidField(field))
    })
    .transpose()
}

/// Parses one inbound Twilio text frame; base64 audio is decoded into `scratch`.
pub fn parse<'a>(text: &'a str, scratch: &'a mut Vec<u8>) -> Result<Inbound<'a>, Error> {
    let frame: Frame<'a> = serde_json::from_str(text)?;
    match &*frame.event {
        "connected" => Ok(Inbound::Ignored),
        "start" => {
            let start = frame.start.ok_or(Error::MissingField("start"))?;
            let format = start
                .media_format
                .ok_or(Error::MissingField("start.mediaFormat"))?;
            let encoding = match format.encoding.as_deref() {
                Some("audio/x-mulaw") | None => Encoding::Ulaw,
                Some("audio/x-alaw") => Encoding::Alaw,
                Some(_) => return Err(Error::UnsupportedEncoding),
            };
            match format.channels {
                None | Some(1) => {}
                Some(n) => return Err(Error::UnsupportedChannels(n)),
            }
            let rate = sample_rate(format.sample_rate.unwrap_or(8_000))?;
            Ok(Inbound::Start(Start {
                callback_uri: start
                    .custom_parameters
                    .as_ref()
                    .and_then(|p| p.get("callbackUri"))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned),
                call_id: owned_within(start.call_sid, "start.callSid", MAX_ID_CHARS)?,
                stream_id: owned_within(
                    start.stream_sid.or(frame.stream_sid),
                    "start.streamSid",
                    MAX_ID_CHARS,
                )?,
                format: StreamFormat { encoding, rate },
            }))
        }
        "media" => {
            let media = frame.media.ok_or(Error::MissingField("media"))?;
            let payload = media.payload.ok_or(Error::MissingField("media.payload"))?;
            let decoded = decode_base64(&payload, scratch, "media.payload")?;
            let participant = match media.track {
                Some(t) if t == "outbound" || t == "outbound_track" => {
                    Some(Cow::Borrowed("outbound"))
                }
                _ => None,
            };
            Ok(Inbound::Audio(Audio {
                participant,
                payload: decoded,
                timestamp_ms: number(media.timestamp.as_deref(), "media.timestamp")?,
                sequence: number(frame.sequence_number.as_deref(), "sequenceNumber")?,
            }))
        }
        "dtmf" => {
            let dtmf = frame.dtmf.ok_or(Error::MissingField("dtmf"))?;
            let text = dtmf.digit.ok_or(Error::MissingField("dtmf.digit"))?;
            let digit = parse_digit(&text).ok_or(Error::InvalidField("dtmf.digit"))?;
            Ok(Inbound::Digit { digit })
        }
        "mark" => {
            let mark = frame.mark.ok_or(Error::MissingField("mark"))?;
            let name = mark.name.ok_or(Error::MissingField("mark.name"))?;
            Ok(Inbound::Mark { name })
        }
        "stop" => Ok(Inbound::Stop),
        _ => Ok(Inbound::Unknown),
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// Outbound audio: `{"event":"media","streamSid":...,"media":{"payload":"<base64>"}}`.
pub fn media(stream_sid: &str, payload: &[u8]) -> String {
    let data = super::encode_base64(payload);
    let sid = json_string(stream_sid);
    let mut out = String::with_capacity(data.len() + sid.len() + 64);
    out.push_str(r#"{"event":"media","streamSid":"#);
    out.push_str(&sid);
    out.push_str(r#","media":{"payload":""#);
    out.push_str(&data);
    out.push_str(r#""}}"#);
    out
}

/// Outbound mark: `{"event":"mark","streamSid":...,"mark":{"name":...}}`.
pub fn mark(stream_sid: &str, name: &str) -> String {
    format!(
        r#"{{"event":"mark","streamSid":{},"mark":{{"name":{}}}}}"#,
        json_string(stream_sid),
        json_string(name)
    )
}

/// Outbound barge-in: `{"event":"clear","streamSid":...}`.
pub fn clear(stream_sid: &str) -> String {
    format!(
        r#"{{"event":"clear","streamSid":{}}}"#,
        json_string(stream_sid)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stream() {
        let mut s = Vec::new();
        assert_eq!(
            parse(
                r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#,
                &mut s
            ),
            Ok(Inbound::Ignored)
        );
        let start = r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC1","streamSid":"MZ1","callSid":"CA1","tracks":["inbound"],"customParameters":{},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZ1"}"#;
        match parse(start, &mut s).unwrap() {
            Inbound::Start(st) => {
                assert_eq!(st.call_id.as_deref(), Some("CA1"));
                assert_eq!(st.stream_id.as_deref(), Some("MZ1"));
                assert_eq!(st.format.encoding, Encoding::Ulaw);
            }
            other => panic!("{other:?}"),
        }
        let media = r#"{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"/w=="},"streamSid":"MZ1"}"#;
        match parse(media, &mut s).unwrap() {
            Inbound::Audio(a) => {
                assert_eq!(a.payload, &[0xFF]);
                assert_eq!(a.timestamp_ms, Some(5));
                assert_eq!(a.sequence, Some(3));
                assert_eq!(a.participant, None);
            }
            other => panic!("{other:?}"),
        }
        let dtmf = r#"{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}"#;
        assert!(matches!(parse(dtmf, &mut s), Ok(Inbound::Digit { .. })));
        let mark =
            r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"p1"}}"#;
        assert!(matches!(parse(mark, &mut s), Ok(Inbound::Mark { name }) if name == "p1"));
        assert_eq!(
            parse(r#"{"event":"stop","stop":{}}"#, &mut s),
            Ok(Inbound::Stop)
        );
    }

    #[test]
    fn rejects_bad_numbers_and_payloads() {
        let mut s = Vec::new();
        let bad_seq = r#"{"event":"media","sequenceNumber":"x","media":{"payload":""}}"#;
        assert_eq!(
            parse(bad_seq, &mut s),
            Err(Error::InvalidField("sequenceNumber"))
        );
        let bad_b64 = r#"{"event":"media","media":{"payload":"@@@"}}"#;
        assert_eq!(
            parse(bad_b64, &mut s),
            Err(Error::InvalidBase64("media.payload"))
        );
    }

    #[test]
    fn builds_outbound_frames() {
        let v: serde_json::Value = serde_json::from_str(&media("MZ\"1", &[0xFF])).unwrap();
        assert_eq!(v["streamSid"], "MZ\"1");
        assert_eq!(v["media"]["payload"], "/w==");
        let v: serde_json::Value = serde_json::from_str(&mark("MZ1", "m")).unwrap();
        assert_eq!(v["mark"]["name"], "m");
        let v: serde_json::Value = serde_json::from_str(&clear("MZ1")).unwrap();
        assert_eq!(v["event"], "clear");
    }
}
