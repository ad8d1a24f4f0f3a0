//! `api_request`: the media-operation API's request bodies, read and validated.

use std::fmt::Debug;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tonegate_core::api::model::OperationMeta;
use tonegate_core::api::{
    self, ApiError, ContinuousDtmfBody, HoldBody, MAX_SEND_TONES, PlayBody, PlaySourceRef,
    RecognizeBody, SendDtmfTonesBody, UnholdBody, parse_body,
};
use tonegate_core::limits::{MAX_NAME_CHARS, MAX_SPEECH_CHARS, fits};

/// The input as the body of every media operation, read as the server reads it
/// (`parse_body`) and validated:
/// - never panics, and reading and validating are deterministic;
/// - an all-whitespace body reads as the empty request; a body that does not read is a
///   400 `BadRequest` saying so; every validation error is a 400 `BadRequest` with a
///   message;
/// - what validates is within the API's limits: an `operationCallbackUri` passes
///   `check_http_url` (no other scheme can steer the server's webhooks), file play
///   sources are `file://`, `http://` or `https://` URIs with a cache key, text and
///   SSML sources are non-blank and within the speech and name limits, `sendDtmfTones`
///   holds 1 to `MAX_SEND_TONES` tones, recognize timeouts lie in 0-300 s (initial
///   silence) and 1-60 s (between tones) and `maxTonesToCollect` is at least 1.
pub fn api_request(data: &[u8]) {
    if let Some(play) = read_and_validate::<PlayBody, _>(data, PlayBody::validate) {
        assert!(!play.sources.is_empty());
        play.sources.iter().for_each(check_source);
        check_meta(&play.meta);
    }
    if let Some(r) = read_and_validate::<RecognizeBody, _>(data, RecognizeBody::validate) {
        let options = &r.options;
        assert!(options.initial_silence_timeout <= Duration::from_secs(300));
        assert!(
            (Duration::from_secs(1)..=Duration::from_secs(60))
                .contains(&options.inter_tone_timeout)
        );
        assert!(options.max_tones_to_collect.is_none_or(|n| n >= 1));
        r.prompts.iter().for_each(check_source);
        check_meta(&r.meta);
    }
    if let Some(c) = read_and_validate::<ContinuousDtmfBody, _>(data, ContinuousDtmfBody::validate)
    {
        check_meta(&c.meta);
    }
    if let Some(s) = read_and_validate::<SendDtmfTonesBody, _>(data, SendDtmfTonesBody::validate) {
        assert!((1..=MAX_SEND_TONES).contains(&s.tones.len()));
        check_meta(&s.meta);
    }
    if let Some(h) = read_and_validate::<HoldBody, _>(data, HoldBody::validate) {
        h.music.iter().for_each(check_source);
        check_meta(&h.meta);
    }
    if let Some(u) = read_and_validate::<UnholdBody, _>(data, UnholdBody::validate) {
        check_meta(&u.meta);
    }
}

/// Reads `data` as `T` and validates it, twice, checking the error properties; the
/// validated request, if any.
fn read_and_validate<T, V>(data: &[u8], validate: fn(&T) -> Result<V, ApiError>) -> Option<V>
where
    T: DeserializeOwned + Default + PartialEq + Debug,
    V: PartialEq + Debug,
{
    let read: Result<T, ApiError> = parse_body(data);
    assert_eq!(read, parse_body(data), "reading a body is deterministic");
    let request = match read {
        Ok(request) => request,
        Err(e) => {
            assert_bad_request(&e);
            assert!(e.message.starts_with("request body is not valid"), "{e}");
            return None;
        }
    };
    if data.iter().all(u8::is_ascii_whitespace) {
        assert_eq!(request, T::default(), "a blank body is the empty request");
    }
    let validated = validate(&request);
    assert_eq!(validated, validate(&request), "validation is deterministic");
    validated.map_err(|e| assert_bad_request(&e)).ok()
}

fn assert_bad_request(e: &ApiError) {
    assert_eq!(
        (e.status, e.code, e.sub_code),
        (400, "BadRequest", None),
        "{e}"
    );
    assert!(!e.message.is_empty());
}

fn check_meta(meta: &OperationMeta) {
    if let Some(uri) = &meta.callback_uri {
        assert!(
            api::check_http_url(uri).is_ok(),
            "operationCallbackUri {uri:?}"
        );
    }
}

fn check_source(source: &PlaySourceRef) {
    let file = match source {
        PlaySourceRef::File(file) => file,
        PlaySourceRef::Speech(speech) => {
            let text = speech.input.as_str();
            assert!(!text.trim().is_empty(), "blank speech");
            assert!(fits(text, MAX_SPEECH_CHARS), "speech over the limit");
            for name in [&speech.voice_name, &speech.source_locale]
                .into_iter()
                .flatten()
            {
                assert!(fits(name, MAX_NAME_CHARS), "voice or locale over the limit");
            }
            return;
        }
    };
    let scheme = file
        .uri
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase());
    assert!(
        matches!(scheme.as_deref(), Some("file" | "http" | "https")),
        "play source {:?}",
        file.uri
    );
    assert!(!file.cache_key.is_empty());
}
