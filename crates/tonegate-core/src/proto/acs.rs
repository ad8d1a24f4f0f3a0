//! ACS media streaming frames, as ACS sends and accepts them on the audio WebSocket.
//!
//! Inbound: `{"kind": "AudioMetadata" | "AudioData" | "DtmfData" | ..., "<kindCamel>": {...}}`.
//! Keys are read in camelCase or PascalCase. Outbound frames use the PascalCase form of
//! the .NET SDK.

use std::borrow::Cow;

use serde::Deserialize;

use super::{
    Audio, Error, Inbound, Start, StreamFormat, decode_base64, owned_within, parse_digit,
    sample_rate,
};
use crate::limits::{MAX_ID_CHARS, fits};
use tonegate_dsp::codec::Encoding;

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(alias = "Kind", borrow)]
    kind: Cow<'a, str>,
    #[serde(rename = "audioMetadata", alias = "AudioMetadata", borrow, default)]
    audio_metadata: Option<Metadata<'a>>,
    #[serde(rename = "audioData", alias = "AudioData", borrow, default)]
    audio_data: Option<Data<'a>>,
    #[serde(rename = "dtmfData", alias = "DtmfData", borrow, default)]
    dtmf_data: Option<Dtmf<'a>>,
}

#[derive(Deserialize)]
struct Metadata<'a> {
    #[serde(
        rename = "subscriptionId",
        alias = "SubscriptionId",
        borrow,
        default,
        deserialize_with = "super::text::optional"
    )]
    subscription_id: Option<Cow<'a, str>>,
    #[serde(
        alias = "Encoding",
        borrow,
        default,
        deserialize_with = "super::text::optional"
    )]
    encoding: Option<Cow<'a, str>>,
    #[serde(rename = "sampleRate", alias = "SampleRate")]
    sample_rate: Option<u32>,
    #[serde(alias = "Channels", default)]
    channels: Option<u32>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(
        alias = "Data",
        borrow,
        default,
        deserialize_with = "super::text::optional"
    )]
    data: Option<Cow<'a, str>>,
    #[serde(
        rename = "participantRawID",
        alias = "participantRawId",
        alias = "ParticipantRawID",
        alias = "ParticipantRawId",
        borrow,
        default,
        deserialize_with = "super::text::optional"
    )]
    participant: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Dtmf<'a> {
    #[serde(
        alias = "Data",
        borrow,
        default,
        deserialize_with = "super::text::optional"
    )]
    data: Option<Cow<'a, str>>,
}

/// Parses one inbound ACS text frame; base64 audio is decoded into `scratch`.
pub fn parse<'a>(text: &'a str, scratch: &'a mut Vec<u8>) -> Result<Inbound<'a>, Error> {
    let frame: Frame<'a> = serde_json::from_str(text)?;
    match &*frame.kind {
        "AudioMetadata" => {
            let meta = frame
                .audio_metadata
                .ok_or(Error::MissingField("audioMetadata"))?;
            let encoding = match meta.encoding.as_deref() {
                None => Encoding::S16le,
                Some(e) if e.eq_ignore_ascii_case("pcm") => Encoding::S16le,
                Some(_) => return Err(Error::UnsupportedEncoding),
            };
            let hz = meta
                .sample_rate
                .ok_or(Error::MissingField("audioMetadata.sampleRate"))?;
            match meta.channels {
                None | Some(1) => {}
                Some(n) => return Err(Error::UnsupportedChannels(n)),
            }
            Ok(Inbound::Start(Start {
                call_id: None,
                callback_uri: None,
                stream_id: owned_within(meta.subscription_id, "subscriptionId", MAX_ID_CHARS)?,
                format: StreamFormat {
                    encoding,
                    rate: sample_rate(hz)?,
                },
            }))
        }
        "AudioData" => {
            let data = frame.audio_data.ok_or(Error::MissingField("audioData"))?;
            let payload = data.data.ok_or(Error::MissingField("audioData.data"))?;
            if let Some(p) = &data.participant
                && !fits(p, MAX_ID_CHARS)
            {
                return Err(Error::TooLong {
                    field: "audioData.participantRawID",
                    max: MAX_ID_CHARS,
                });
            }
            let decoded = decode_base64(&payload, scratch, "audioData.data")?;
            Ok(Inbound::Audio(Audio {
                participant: data.participant,
                payload: decoded,
                timestamp_ms: None,
                sequence: None,
            }))
        }
        "DtmfData" => {
            let dtmf = frame.dtmf_data.ok_or(Error::MissingField("dtmfData"))?;
            let text = dtmf.data.ok_or(Error::MissingField("dtmfData.data"))?;
            let digit = parse_digit(&text).ok_or(Error::InvalidField("dtmfData.data"))?;
            Ok(Inbound::Digit { digit })
        }
        "TranscriptionMetadata" | "TranscriptionData" => Ok(Inbound::Ignored),
        _ => Ok(Inbound::Unknown),
    }
}

/// Outbound audio: `{"Kind":"AudioData","AudioData":{"Data":"<base64>"},"StopAudio":null}`.
pub fn audio_frame(payload: &[u8]) -> String {
    let data = super::encode_base64(payload);
    let mut out = String::with_capacity(data.len() + 64);
    out.push_str(r#"{"Kind":"AudioData","AudioData":{"Data":""#);
    out.push_str(&data);
    out.push_str(r#""},"StopAudio":null}"#);
    out
}

/// Outbound barge-in: `{"Kind":"StopAudio","AudioData":null,"StopAudio":{}}`.
pub fn stop_audio() -> String {
    r#"{"Kind":"StopAudio","AudioData":null,"StopAudio":{}}"#.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spec_examples() {
        let mut scratch = Vec::new();
        let meta = r#"{"kind":"AudioMetadata","audioMetadata":{"subscriptionId":"89e8cb59-b991-48b0-b154-1db84f16a077","encoding":"PCM","sampleRate":16000,"channels":1,"length":640}}"#;
        match parse(meta, &mut scratch).unwrap() {
            Inbound::Start(s) => {
                assert_eq!(s.format.rate.hz(), 16_000);
                assert_eq!(s.format.encoding, Encoding::S16le);
                assert_eq!(
                    s.stream_id.as_deref(),
                    Some("89e8cb59-b991-48b0-b154-1db84f16a077")
                );
            }
            other => panic!("{other:?}"),
        }
        let audio = r#"{"kind":"AudioData","audioData":{"timestamp":"2024-11-15T19:16:12.925Z","participantRawID":"4:+15551234567","data":"AAABAA==","silent":false}}"#;
        match parse(audio, &mut scratch).unwrap() {
            Inbound::Audio(a) => {
                assert_eq!(a.payload, &[0, 0, 1, 0]);
                assert_eq!(a.participant.as_deref(), Some("4:+15551234567"));
            }
            other => panic!("{other:?}"),
        }
        let dtmf = r#"{"kind":"DtmfData","dtmfData":{"data":"pound"}}"#;
        assert!(
            matches!(parse(dtmf, &mut scratch).unwrap(), Inbound::Digit { digit } if digit.as_char() == '#')
        );
    }

    #[test]
    fn rejects_bad_frames() {
        let mut s = Vec::new();
        assert!(matches!(
            parse("{", &mut s),
            Err(Error::MalformedJson { .. })
        ));
        assert_eq!(
            parse(r#"{"kind":"AudioData","audioData":{"data":"!!"}}"#, &mut s),
            Err(Error::InvalidBase64("audioData.data"))
        );
        assert_eq!(
            parse(
                r#"{"kind":"AudioMetadata","audioMetadata":{"encoding":"PCM","sampleRate":96000}}"#,
                &mut s
            ),
            Err(Error::UnsupportedRate(96_000))
        );
        assert_eq!(
            parse(r#"{"kind":"Transcription"}"#, &mut s),
            Ok(Inbound::Unknown)
        );
        assert_eq!(
            parse(
                r#"{"kind":"TranscriptionData","transcriptionData":{}}"#,
                &mut s
            ),
            Ok(Inbound::Ignored)
        );
    }

    #[test]
    fn builds_outbound_frames() {
        let v: serde_json::Value = serde_json::from_str(&audio_frame(&[1, 2, 3])).unwrap();
        assert_eq!(v["Kind"], "AudioData");
        assert_eq!(v["AudioData"]["Data"], "AQID");
        let v: serde_json::Value = serde_json::from_str(&stop_audio()).unwrap();
        assert_eq!(v["Kind"], "StopAudio");
    }
}
