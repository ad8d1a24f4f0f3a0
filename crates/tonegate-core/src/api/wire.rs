//! The HTTP bodies of the media operations as they come off the wire, read leniently
//! (every field optional, unknown ones ignored), and their validation into the
//! [`model`](super::model) with play sources as [`PlaySourceRef`]s.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ApiError;
use super::model::{
    Choice, ContinuousDtmfRequest, HoldRequest, MAX_SEND_TONES, Operation, OperationMeta,
    PlayRequest, RecognizeInput, RecognizeOptions, RecognizeRequest, SendDtmfTonesRequest, Speech,
    SpeechInput, Tone, TranscriptionAction, TranscriptionRequest, UnholdRequest,
};
use crate::limits::{
    MAX_CONTEXT_CHARS, MAX_ID_CHARS, MAX_NAME_CHARS, MAX_SPEECH_CHARS, MAX_URI_CHARS, fits,
};

/// Reads a request body as JSON into `T`; an empty or all-whitespace body is `T`'s
/// default (every field absent), as the SDKs send for operations without options.
pub fn parse_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid: {e}")))
}

/// Reads and validates the body of the operation `name` (`play`, `recognize`,
/// `startContinuousDtmfRecognition`, `stopContinuousDtmfRecognition`, `sendDtmfTones`,
/// `cancelAllMediaOperations`, `hold`, `unhold`, `startTranscription`,
/// `stopTranscription`, `updateTranscription`); an unknown name is a 404.
pub fn read_operation(name: &str, body: &[u8]) -> Result<Operation<PlaySourceRef>, ApiError> {
    Ok(match name {
        "play" => Operation::Play(parse_body::<PlayBody>(body)?.validate()?),
        "recognize" => Operation::Recognize(parse_body::<RecognizeBody>(body)?.validate()?),
        "startContinuousDtmfRecognition" => {
            Operation::StartContinuousDtmf(parse_body::<ContinuousDtmfBody>(body)?.validate()?)
        }
        "stopContinuousDtmfRecognition" => {
            Operation::StopContinuousDtmf(parse_body::<ContinuousDtmfBody>(body)?.validate()?)
        }
        "sendDtmfTones" => {
            Operation::SendDtmfTones(parse_body::<SendDtmfTonesBody>(body)?.validate()?)
        }
        "cancelAllMediaOperations" => Operation::CancelAll,
        "hold" => Operation::Hold(parse_body::<HoldBody>(body)?.validate()?),
        "unhold" => Operation::Unhold(parse_body::<UnholdBody>(body)?.validate()?),
        "startTranscription" => transcription(TranscriptionAction::Start, body)?,
        "stopTranscription" => transcription(TranscriptionAction::Stop, body)?,
        "updateTranscription" => transcription(TranscriptionAction::Update, body)?,
        _ => return Err(ApiError::not_found(format!("unknown operation {name}"))),
    })
}

/// A transcription request's body, checked.
fn transcription(
    action: TranscriptionAction,
    body: &[u8],
) -> Result<Operation<PlaySourceRef>, ApiError> {
    let body = parse_body::<TranscriptionBody>(body)?;
    if let Some(locale) = &body.locale {
        bounded(locale, "locale", MAX_NAME_CHARS)?;
    }
    if let Some(id) = &body.speech_model_endpoint_id {
        bounded(id, "speechModelEndpointId", MAX_ID_CHARS)?;
    }
    Ok(Operation::Transcription(TranscriptionRequest {
        action,
        locale: body.locale,
        speech_model_endpoint_id: body.speech_model_endpoint_id,
        meta: checked_meta(&body.meta)?,
    }))
}

/// Body of `:startTranscription`, `:stopTranscription` and `:updateTranscription`
/// (stop takes only the context and callback).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TranscriptionBody {
    /// BCP 47 locale (start, update).
    #[serde(default)]
    locale: Option<String>,
    /// A custom speech model (accepted, not used).
    #[serde(default)]
    speech_model_endpoint_id: Option<String>,
    /// `operationContext` and `operationCallbackUri`.
    #[serde(flatten)]
    meta: OperationMeta,
}

/// Refuses `value` of `field` when it is longer than `max` characters.
fn bounded(value: &str, field: &str, max: usize) -> Result<(), ApiError> {
    if fits(value, max) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{field} is longer than {max} characters"
        )))
    }
}

/// The tones `names` (the error names a bad tone by index only: tones are secrets).
fn tones(field: &str, names: &[String]) -> Result<Vec<Tone>, ApiError> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            name.parse::<Tone>().map_err(|_| {
                ApiError::bad_request(format!(
                    "{field}[{i}]: unknown tone (expected zero-nine, a-d, pound, asterisk)"
                ))
            })
        })
        .collect()
}

/// The operation's meta with `operationContext`'s length and `operationCallbackUri`
/// checked.
fn checked_meta(meta: &OperationMeta) -> Result<OperationMeta, ApiError> {
    if let Some(context) = &meta.operation_context {
        bounded(context, "operationContext", MAX_CONTEXT_CHARS)?;
    }
    if let Some(uri) = &meta.callback_uri {
        bounded(uri, "operationCallbackUri", MAX_URI_CHARS)?;
        super::check_http_url(uri)
            .map_err(|why| ApiError::bad_request(format!("operationCallbackUri {why}")))?;
    }
    Ok(meta.clone())
}

fn required<'a, T>(value: &'a Option<T>, field: &str) -> Result<&'a T, ApiError> {
    value
        .as_ref()
        .ok_or_else(|| ApiError::bad_request(format!("{field} is required")))
}

fn seconds(
    value: Option<f64>,
    field: &str,
    min: f64,
    max: f64,
    default: f64,
) -> Result<Duration, ApiError> {
    let v = value.unwrap_or(default);
    if !v.is_finite() || v < min || v > max {
        return Err(ApiError::bad_request(format!(
            "{field} must be between {min} and {max} seconds (got {v})"
        )));
    }
    Ok(Duration::from_secs_f64(v))
}

/// A communication identifier (`{"rawId": "4:+1555...", "phoneNumber": {...}}`, ...).
/// Only the raw id matters to tonegate; it is derived from the typed form if absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identifier {
    /// Raw id: `4:` phone number, `8:acs:` ACS user, `28:` Teams app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_id: Option<String>,
    /// Identifier kind (`phoneNumber`, `communicationUser`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `{"value": "+1555..."}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<serde_json::Value>,
    /// `{"id": "8:acs:..."}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub communication_user: Option<serde_json::Value>,
}

impl Identifier {
    /// An identifier of just a raw id, with the kind its prefix implies.
    pub fn from_raw_id(raw_id: &str) -> Identifier {
        let (kind, phone, user) = if let Some(number) = raw_id.strip_prefix("4:") {
            (
                "phoneNumber",
                Some(serde_json::json!({ "value": number })),
                None,
            )
        } else if raw_id.starts_with("8:") {
            (
                "communicationUser",
                None,
                Some(serde_json::json!({ "id": raw_id })),
            )
        } else {
            ("unknown", None, None)
        };
        Identifier {
            raw_id: Some(raw_id.to_owned()),
            kind: Some(kind.to_owned()),
            phone_number: phone,
            communication_user: user,
        }
    }

    /// The raw id (given or derived) of the identifier in `field`, refused when longer
    /// than [`MAX_ID_CHARS`]; `Ok(None)` if it has none.
    fn bounded_raw(&self, field: &str) -> Result<Option<String>, ApiError> {
        let raw = self.raw();
        if let Some(r) = &raw {
            bounded(r, &format!("{field}.rawId"), MAX_ID_CHARS)?;
        }
        Ok(raw)
    }

    /// The raw id, given or derived.
    pub fn raw(&self) -> Option<String> {
        if let Some(r) = self.raw_id.as_ref().filter(|r| !r.is_empty()) {
            return Some(r.clone());
        }
        if let Some(v) = self
            .phone_number
            .as_ref()
            .and_then(|p| p.get("value"))
            .and_then(|v| v.as_str())
        {
            return Some(format!("4:{v}"));
        }
        self.communication_user
            .as_ref()
            .and_then(|u| u.get("id"))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    }

    fn require_raw(target: &Option<Identifier>, field: &str) -> Result<String, ApiError> {
        required(target, field)?.bounded_raw(field)?.ok_or_else(|| {
            ApiError::bad_request(format!(
                "{field}.rawId is required (or phoneNumber.value / communicationUser.id)"
            ))
        })
    }
}

/// `{"uri": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileSource {
    /// `file://...` or `http(s)://...`.
    #[serde(default)]
    pub uri: Option<String>,
}

/// `{"text": "...", "sourceLocale": ..., "voiceName": ...}` (`TextSource`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextSourceBody {
    /// What to say; required.
    #[serde(default)]
    pub text: Option<String>,
    /// Language, e.g. `en-US`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_locale: Option<String>,
    /// Voice, e.g. `en-US-JennyNeural` or `en-gb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_name: Option<String>,
    /// `male` / `female`: accepted and ignored (the voice decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_kind: Option<serde_json::Value>,
    /// An Azure custom voice deployment: accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_voice_endpoint_id: Option<serde_json::Value>,
}

/// `{"ssmlText": "<speak>...</speak>"}` (`SsmlSource`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SsmlSourceBody {
    /// The SSML document; required.
    #[serde(default)]
    pub ssml_text: Option<String>,
    /// An Azure custom voice deployment: accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_voice_endpoint_id: Option<serde_json::Value>,
}

/// One play source: `{"kind": "file", "file": {"uri": ...}}`, `{"kind": "text", "text":
/// {...}}` or `{"kind": "ssml", "ssml": {...}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaySource {
    /// `file`, `text` or `ssml`.
    #[serde(default)]
    pub kind: Option<String>,
    /// For `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileSource>,
    /// For `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextSourceBody>,
    /// For `ssml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssml: Option<SsmlSourceBody>,
    /// Cache key for the downloaded audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play_source_cache_id: Option<String>,
}

/// A validated file play source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// `file://` or `http(s)://` URI.
    pub uri: String,
    /// Cache key (`playSourceCacheId`, else the URI).
    pub cache_key: String,
}

/// A validated play source: a file to read or fetch, or speech to synthesise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaySourceRef {
    /// A WAV file.
    File(FileRef),
    /// Text or SSML for the speech engine.
    Speech(Speech),
}

impl PlaySourceRef {
    /// The URI of a file source; `None` for speech.
    pub fn uri(&self) -> Option<&str> {
        match self {
            PlaySourceRef::File(f) => Some(&f.uri),
            PlaySourceRef::Speech(_) => None,
        }
    }
}

/// `value` of `field`, required, non-blank and at most [`MAX_SPEECH_CHARS`] long.
fn speech_input(value: Option<&String>, field: &str) -> Result<String, ApiError> {
    let text = value
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("{field} is required")))?;
    bounded(text, field, MAX_SPEECH_CHARS)?;
    Ok(text.clone())
}

/// `value` of the optional name `field`, at most [`MAX_NAME_CHARS`] long; blank is none.
fn speech_name(value: Option<&String>, field: &str) -> Result<Option<String>, ApiError> {
    let Some(name) = value.filter(|n| !n.trim().is_empty()) else {
        return Ok(None);
    };
    bounded(name, field, MAX_NAME_CHARS)?;
    Ok(Some(name.trim().to_owned()))
}

impl TextSourceBody {
    fn validate(&self, field: &str) -> Result<Speech, ApiError> {
        Ok(Speech {
            input: SpeechInput::Text(speech_input(self.text.as_ref(), &format!("{field}.text"))?),
            voice_name: speech_name(self.voice_name.as_ref(), &format!("{field}.voiceName"))?,
            source_locale: speech_name(
                self.source_locale.as_ref(),
                &format!("{field}.sourceLocale"),
            )?,
        })
    }
}

impl SsmlSourceBody {
    fn validate(&self, field: &str) -> Result<Speech, ApiError> {
        let ssml = speech_input(self.ssml_text.as_ref(), &format!("{field}.ssmlText"))?;
        if !ssml.trim_start().starts_with('<') {
            return Err(ApiError::bad_request(format!(
                "{field}.ssmlText must be an SSML document (<speak>...</speak>)"
            )));
        }
        Ok(Speech {
            input: SpeechInput::Ssml(ssml),
            voice_name: None,
            source_locale: None,
        })
    }
}

impl PlaySource {
    fn validate(&self, field: &str) -> Result<PlaySourceRef, ApiError> {
        let kind = self
            .kind
            .as_deref()
            .or(if self.file.is_some() {
                Some("file")
            } else if self.text.is_some() {
                Some("text")
            } else if self.ssml.is_some() {
                Some("ssml")
            } else {
                None
            })
            .ok_or_else(|| ApiError::bad_request(format!("{field}.kind is required")))?;
        bounded(kind, &format!("{field}.kind"), MAX_NAME_CHARS)?;
        if let Some(id) = &self.play_source_cache_id {
            bounded(id, &format!("{field}.playSourceCacheId"), MAX_ID_CHARS)?;
        }
        match kind.to_ascii_lowercase().as_str() {
            "file" => self.validate_file(field).map(PlaySourceRef::File),
            "text" => {
                let text = self.text.as_ref().ok_or_else(|| {
                    ApiError::bad_request(format!("{field}.text.text is required"))
                })?;
                text.validate(&format!("{field}.text"))
                    .map(PlaySourceRef::Speech)
            }
            "ssml" => {
                let ssml = self.ssml.as_ref().ok_or_else(|| {
                    ApiError::bad_request(format!("{field}.ssml.ssmlText is required"))
                })?;
                ssml.validate(&format!("{field}.ssml"))
                    .map(PlaySourceRef::Speech)
            }
            other => Err(ApiError::bad_request(format!(
                "{field}.kind \"{other}\" is not supported; use \"file\", \"text\" or \"ssml\""
            ))),
        }
    }

    fn validate_file(&self, field: &str) -> Result<FileRef, ApiError> {
        let uri = self
            .file
            .as_ref()
            .and_then(|f| f.uri.clone())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ApiError::bad_request(format!("{field}.file.uri is required")))?;
        bounded(&uri, &format!("{field}.file.uri"), MAX_URI_CHARS)?;
        let lower = uri.to_ascii_lowercase();
        if !(lower.starts_with("file://")
            || lower.starts_with("http://")
            || lower.starts_with("https://"))
        {
            return Err(ApiError::bad_request(format!(
                "{field}.file.uri must be a file://, http:// or https:// URI (got \"{uri}\")"
            )));
        }
        let cache_key = self
            .play_source_cache_id
            .clone()
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| uri.clone());
        Ok(FileRef { uri, cache_key })
    }
}

/// `playOptions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayOptions {
    /// Repeat until canceled.
    #[serde(default, rename = "loop")]
    pub looped: Option<bool>,
}

/// Body of `:play`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayBody {
    /// Required, at least one.
    #[serde(default)]
    pub play_sources: Option<Vec<PlaySource>>,
    /// Empty: everyone.
    #[serde(default)]
    pub play_to: Option<Vec<Identifier>>,
    /// Loop.
    #[serde(default)]
    pub play_options: Option<PlayOptions>,
    /// Cancel what is playing first.
    #[serde(default)]
    pub interrupt_call_media_operation: Option<bool>,
    /// `operationContext` and `operationCallbackUri`.
    #[serde(flatten)]
    pub meta: OperationMeta,
}

fn play_sources(sources: &[PlaySource], field: &str) -> Result<Vec<PlaySourceRef>, ApiError> {
    sources
        .iter()
        .enumerate()
        .map(|(i, s)| s.validate(&format!("{field}[{i}]")))
        .collect()
}

impl PlayBody {
    /// Checks the body.
    pub fn validate(&self) -> Result<PlayRequest<PlaySourceRef>, ApiError> {
        let sources = required(&self.play_sources, "playSources")?;
        if sources.is_empty() {
            return Err(ApiError::bad_request(
                "playSources must hold at least one play source",
            ));
        }
        let sources = play_sources(sources, "playSources")?;
        let play_to = self
            .play_to
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, t)| {
                t.bounded_raw(&format!("playTo[{i}]"))?
                    .ok_or_else(|| ApiError::bad_request(format!("playTo[{i}].rawId is required")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PlayRequest {
            sources,
            play_to,
            looped: self
                .play_options
                .as_ref()
                .and_then(|o| o.looped)
                .unwrap_or(false),
            interrupt_call_media_operation: self.interrupt_call_media_operation.unwrap_or(false),
            meta: checked_meta(&self.meta)?,
        })
    }
}

/// `recognizeOptions.dtmfOptions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DtmfOptions {
    /// 1-60 s, default 2.
    #[serde(default)]
    pub inter_tone_timeout_in_seconds: Option<f64>,
    /// At least 1; absent: no limit.
    #[serde(default)]
    pub max_tones_to_collect: Option<i64>,
    /// Tones that end collection.
    #[serde(default)]
    pub stop_tones: Option<Vec<String>>,
}

/// One of `recognizeOptions.choices`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChoiceBody {
    /// Required: reported in `choiceResult.label`.
    #[serde(default)]
    pub label: Option<String>,
    /// Required, at least one: words that select the choice.
    #[serde(default)]
    pub phrases: Option<Vec<String>>,
    /// A key that selects the choice.
    #[serde(default)]
    pub tone: Option<String>,
}

/// `recognizeOptions.speechOptions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpeechOptionsBody {
    /// Silence that ends an utterance, ms (1-`MAX_END_SILENCE_MS`, default 1000).
    #[serde(default)]
    pub end_silence_timeout_in_ms: Option<f64>,
}

/// Most `choices` in one recognize.
const MAX_CHOICES: usize = 10;
/// Most phrases per choice.
const MAX_PHRASES: usize = 20;
/// Longest phrase, characters.
const MAX_PHRASE_CHARS: usize = 100;
/// Longest `endSilenceTimeoutInMs`.
pub(crate) const MAX_END_SILENCE_MS: f64 = 10_000.0;

/// A phrase as the recogniser takes it: lower-case words of letters and apostrophes,
/// single spaces; anything else is refused (it would be grammar syntax).
fn phrase(text: &str, field: &str) -> Result<String, ApiError> {
    bounded(text, field, MAX_PHRASE_CHARS)?;
    if !text
        .chars()
        .all(|c| c.is_alphabetic() || c == '\'' || c.is_whitespace())
    {
        return Err(ApiError::bad_request(format!(
            "{field} may hold only letters, apostrophes and spaces (got \"{text}\")"
        )));
    }
    let words: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
    if words.is_empty() {
        return Err(ApiError::bad_request(format!("{field} is empty")));
    }
    Ok(words.join(" "))
}

/// Checks `choices` (at most [`MAX_CHOICES`]); errors name `field[i]...`.
pub(crate) fn validate_choices(
    choices: &[ChoiceBody],
    field: &str,
) -> Result<Vec<Choice>, ApiError> {
    if choices.len() > MAX_CHOICES {
        return Err(ApiError::bad_request(format!(
            "{field} must hold 1 to {MAX_CHOICES} choices"
        )));
    }
    choices
        .iter()
        .enumerate()
        .map(|(i, c)| c.validate(&format!("{field}[{i}]")))
        .collect()
}

impl ChoiceBody {
    fn validate(&self, field: &str) -> Result<Choice, ApiError> {
        let label = required(&self.label, &format!("{field}.label"))?;
        bounded(label, &format!("{field}.label"), MAX_ID_CHARS)?;
        let phrases = self.phrases.as_deref().unwrap_or(&[]);
        if phrases.is_empty() || phrases.len() > MAX_PHRASES {
            return Err(ApiError::bad_request(format!(
                "{field}.phrases must hold 1 to {MAX_PHRASES} phrases"
            )));
        }
        let phrases = phrases
            .iter()
            .enumerate()
            .map(|(i, p)| phrase(p, &format!("{field}.phrases[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let tone = self
            .tone
            .as_ref()
            .map(|t| tones(&format!("{field}.tone"), std::slice::from_ref(t)).map(|v| v[0]))
            .transpose()?;
        Ok(Choice {
            label: label.clone(),
            phrases,
            tone,
        })
    }
}

/// `recognizeOptions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecognizeOptionsBody {
    /// A digit stops the prompt.
    #[serde(default)]
    pub interrupt_prompt: Option<bool>,
    /// 0-300 s, default 5.
    #[serde(default)]
    pub initial_silence_timeout_in_seconds: Option<f64>,
    /// Required.
    #[serde(default)]
    pub target_participant: Option<Identifier>,
    /// DTMF settings.
    #[serde(default)]
    pub dtmf_options: Option<DtmfOptions>,
    /// tonegate extension: `false` discards digits pressed before the recognize
    /// started (strict Call Automation); default: they feed it.
    #[serde(default)]
    pub dtmf_buffering: Option<bool>,
    /// For `choices`: 1 to [`MAX_CHOICES`].
    #[serde(default)]
    pub choices: Option<Vec<ChoiceBody>>,
    /// For `speech` and `speechOrDtmf`.
    #[serde(default)]
    pub speech_options: Option<SpeechOptionsBody>,
    /// BCP 47 language of the speech (the engine's default when absent).
    #[serde(default)]
    pub speech_language: Option<String>,
    /// A custom model (accepted and ignored: tonegate's engines have none).
    #[serde(default)]
    pub speech_recognition_model_endpoint_id: Option<String>,
}

/// Body of `:recognize`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecognizeBody {
    /// Required: `dtmf` (others refused).
    #[serde(default)]
    pub recognize_input_type: Option<String>,
    /// One prompt.
    #[serde(default)]
    pub play_prompt: Option<PlaySource>,
    /// Several prompts.
    #[serde(default)]
    pub play_prompts: Option<Vec<PlaySource>>,
    /// Cancel what is playing first.
    #[serde(default)]
    pub interrupt_call_media_operation: Option<bool>,
    /// Required.
    #[serde(default)]
    pub recognize_options: Option<RecognizeOptionsBody>,
    /// `operationContext` and `operationCallbackUri`.
    #[serde(flatten)]
    pub meta: OperationMeta,
}

impl RecognizeBody {
    /// Checks the body.
    pub fn validate(&self) -> Result<RecognizeRequest<PlaySourceRef>, ApiError> {
        let kind = required(&self.recognize_input_type, "recognizeInputType")?;
        bounded(kind, "recognizeInputType", MAX_NAME_CHARS)?;
        let input = match kind.to_ascii_lowercase().as_str() {
            "dtmf" => RecognizeInput::Dtmf,
            "speech" => RecognizeInput::Speech,
            "speechordtmf" => RecognizeInput::SpeechOrDtmf,
            "choices" => RecognizeInput::Choices,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "recognizeInputType \"{kind}\" is unknown; use dtmf, speech, speechOrDtmf or choices"
                )));
            }
        };
        let options = required(&self.recognize_options, "recognizeOptions")?;
        let choices = options.choices.as_deref().unwrap_or(&[]);
        if input == RecognizeInput::Choices && choices.is_empty() {
            return Err(ApiError::bad_request(format!(
                "recognizeOptions.choices must hold 1 to {MAX_CHOICES} choices for recognizeInputType choices"
            )));
        }
        let choices = validate_choices(choices, "recognizeOptions.choices")?;
        let end_silence_ms = options
            .speech_options
            .as_ref()
            .and_then(|o| o.end_silence_timeout_in_ms)
            .unwrap_or(1_000.0);
        if !end_silence_ms.is_finite() || !(1.0..=MAX_END_SILENCE_MS).contains(&end_silence_ms) {
            return Err(ApiError::bad_request(format!(
                "recognizeOptions.speechOptions.endSilenceTimeoutInMs must be between 1 and {MAX_END_SILENCE_MS} ms (got {end_silence_ms})"
            )));
        }
        if let Some(language) = &options.speech_language {
            bounded(language, "recognizeOptions.speechLanguage", MAX_NAME_CHARS)?;
        }
        let target = Identifier::require_raw(
            &options.target_participant,
            "recognizeOptions.targetParticipant",
        )?;
        let initial_silence_timeout = seconds(
            options.initial_silence_timeout_in_seconds,
            "recognizeOptions.initialSilenceTimeoutInSeconds",
            0.0,
            300.0,
            5.0,
        )?;
        let dtmf = options.dtmf_options.clone().unwrap_or_default();
        let inter_tone_timeout = seconds(
            dtmf.inter_tone_timeout_in_seconds,
            "recognizeOptions.dtmfOptions.interToneTimeoutInSeconds",
            1.0,
            60.0,
            2.0,
        )?;
        let max_tones = dtmf
            .max_tones_to_collect
            .map(|n| {
                u32::try_from(n).ok().filter(|&n| n >= 1).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "recognizeOptions.dtmfOptions.maxTonesToCollect must be at least 1 (got {n})"
                    ))
                })
            })
            .transpose()?;
        let stop_tones = tones(
            "recognizeOptions.dtmfOptions.stopTones",
            dtmf.stop_tones.as_deref().unwrap_or(&[]),
        )?;
        let mut prompts = Vec::new();
        if let Some(p) = &self.play_prompt {
            prompts.push(p.validate("playPrompt")?);
        }
        if let Some(ps) = &self.play_prompts {
            prompts.extend(play_sources(ps, "playPrompts")?);
        }
        Ok(RecognizeRequest {
            prompts,
            interrupt_call_media_operation: self.interrupt_call_media_operation.unwrap_or(false),
            options: RecognizeOptions {
                interrupt_prompt: options.interrupt_prompt.unwrap_or(false),
                initial_silence_timeout,
                target_participant: Some(target),
                inter_tone_timeout,
                max_tones_to_collect: max_tones,
                stop_tones,
                dtmf_buffering: options.dtmf_buffering,
                input,
                choices,
                end_silence_timeout: Duration::from_secs_f64(end_silence_ms / 1_000.0),
                speech_language: options.speech_language.clone(),
            },
            meta: checked_meta(&self.meta)?,
        })
    }
}

/// Body of `:startContinuousDtmfRecognition` and `:stopContinuousDtmfRecognition`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContinuousDtmfBody {
    /// Required.
    #[serde(default)]
    pub target_participant: Option<Identifier>,
    /// `operationContext` and `operationCallbackUri`.
    #[serde(flatten)]
    pub meta: OperationMeta,
}

impl ContinuousDtmfBody {
    /// Checks the body.
    pub fn validate(&self) -> Result<ContinuousDtmfRequest, ApiError> {
        Ok(ContinuousDtmfRequest {
            target_participant: Some(Identifier::require_raw(
                &self.target_participant,
                "targetParticipant",
            )?),
            meta: checked_meta(&self.meta)?,
        })
    }
}

/// Body of `:sendDtmfTones`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendDtmfTonesBody {
    /// Required, 1 to 18 tones.
    #[serde(default)]
    pub tones: Option<Vec<String>>,
    /// Required.
    #[serde(default)]
    pub target_participant: Option<Identifier>,
    /// `operationContext` and `operationCallbackUri`.
    #[serde(flatten)]
    pub meta: OperationMeta,
}

impl SendDtmfTonesBody {
    /// Checks the body.
    pub fn validate(&self) -> Result<SendDtmfTonesRequest, ApiError> {
        let names = required(&self.tones, "tones")?;
        if names.is_empty() {
            return Err(ApiError::bad_request("tones must hold at least one tone"));
        }
        if names.len() > MAX_SEND_TONES {
            return Err(ApiError::bad_request(format!(
                "tones holds {} tones; at most {MAX_SEND_TONES} may be sent at once",
                names.len()
            )));
        }
        Ok(SendDtmfTonesRequest {
            tones: tones("tones", names)?,
            target_participant: Some(Identifier::require_raw(
                &self.target_participant,
                "targetParticipant",
            )?),
            meta: checked_meta(&self.meta)?,
        })
    }
}

/// Body of `:hold`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HoldBody {
    /// Required.
    #[serde(default)]
    pub target_participant: Option<Identifier>,
    /// Music on hold, looped.
    #[serde(default)]
    pub play_source_info: Option<PlaySource>,
    /// `operationContext` and `operationCallbackUri`.
    #[serde(flatten)]
    pub meta: OperationMeta,
}

impl HoldBody {
    /// Checks the body.
    pub fn validate(&self) -> Result<HoldRequest<PlaySourceRef>, ApiError> {
        Ok(HoldRequest {
            target_participant: Some(Identifier::require_raw(
                &self.target_participant,
                "targetParticipant",
            )?),
            music: self
                .play_source_info
                .as_ref()
                .map(|p| p.validate("playSourceInfo"))
                .transpose()?,
            meta: checked_meta(&self.meta)?,
        })
    }
}

/// Body of `:unhold`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnholdBody {
    /// Required.
    #[serde(default)]
    pub target_participant: Option<Identifier>,
    /// `operationContext` and `operationCallbackUri`.
    #[serde(flatten)]
    pub meta: OperationMeta,
}

impl UnholdBody {
    /// Checks the body.
    pub fn validate(&self) -> Result<UnholdRequest, ApiError> {
        Ok(UnholdRequest {
            target_participant: Some(Identifier::require_raw(
                &self.target_participant,
                "targetParticipant",
            )?),
            meta: checked_meta(&self.meta)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: serde::de::DeserializeOwned>(json: &str) -> T {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn sdk_recognize_body_validates() {
        let r: RecognizeBody = parse(
            r#"{"recognizeInputType":"dtmf","playPrompt":{"kind":"file","file":{"uri":"file:///tmp/p.wav"}},
             "interruptCallMediaOperation":false,
             "recognizeOptions":{"interruptPrompt":true,"initialSilenceTimeoutInSeconds":5,
               "targetParticipant":{"rawId":"4:+15551234567","phoneNumber":{"value":"+15551234567"}},
               "dtmfOptions":{"interToneTimeoutInSeconds":3,"maxTonesToCollect":4,"stopTones":["pound"]}},
             "operationContext":"r1"}"#,
        );
        let r = r.validate().unwrap();
        assert_eq!(
            r.options.target_participant.as_deref(),
            Some("4:+15551234567")
        );
        assert_eq!(r.options.max_tones_to_collect, Some(4));
        assert_eq!(r.options.inter_tone_timeout, Duration::from_secs(3));
        assert_eq!(r.options.stop_tones, vec![Tone::Pound]);
        assert_eq!(r.prompts[0].uri(), Some("file:///tmp/p.wav"));
        assert!(r.options.interrupt_prompt);
    }

    #[test]
    fn a_choices_recognize_carries_its_choices_as_lower_case_words() {
        let body = r#"{"recognizeInputType":"choices","recognizeOptions":{
            "targetParticipant":{"rawId":"4:+1"},"interruptPrompt":true,
            "speechOptions":{"endSilenceTimeoutInMs":700},"speechLanguage":"en-US",
            "choices":[{"label":"Sales","phrases":["Sales","buy  something"],"tone":"one"},
                       {"label":"Support","phrases":["support"]}]}}"#;
        let r = parse::<RecognizeBody>(body).validate().unwrap();
        assert_eq!(r.options.input, RecognizeInput::Choices);
        assert_eq!(r.options.end_silence_timeout, Duration::from_millis(700));
        assert_eq!(r.options.speech_language.as_deref(), Some("en-US"));
        assert_eq!(
            r.options.choices,
            vec![
                Choice {
                    label: "Sales".to_owned(),
                    phrases: vec!["sales".to_owned(), "buy something".to_owned()],
                    tone: Some(Tone::One),
                },
                Choice {
                    label: "Support".to_owned(),
                    phrases: vec!["support".to_owned()],
                    tone: None,
                },
            ]
        );
        let speech = r#"{"recognizeInputType":"speechOrDtmf","recognizeOptions":{"targetParticipant":{"rawId":"4:+1"}}}"#;
        let r = parse::<RecognizeBody>(speech).validate().unwrap();
        assert_eq!(r.options.input, RecognizeInput::SpeechOrDtmf);
        assert_eq!(r.options.end_silence_timeout, Duration::from_secs(1));
    }

    #[test]
    fn choices_that_could_break_a_grammar_or_memory_are_refused() {
        let msg = |options: &str| {
            let body = format!(
                r#"{{"recognizeInputType":"choices","recognizeOptions":{{"targetParticipant":{{"rawId":"4:+1"}},{options}}}}}"#
            );
            parse::<RecognizeBody>(&body)
                .validate()
                .unwrap_err()
                .message
        };
        assert!(msg(r#""choices":[]"#).contains("1 to 10 choices"));
        assert!(msg(r#""choices":[{"phrases":["a"]}]"#).contains("choices[0].label is required"));
        assert!(
            msg(r#""choices":[{"label":"x","phrases":[]}]"#)
                .contains("choices[0].phrases must hold")
        );
        assert!(
            msg(r#""choices":[{"label":"x","phrases":["<a> = b;"]}]"#)
                .contains("choices[0].phrases[0] may hold only letters")
        );
        assert!(msg(r#""choices":[{"label":"x","phrases":["   "]}]"#).contains("is empty"));
        let many = [r#"{"label":"x","phrases":["a"]}"#; 11].join(",");
        assert!(msg(&format!(r#""choices":[{many}]"#)).contains("1 to 10 choices"));
        assert!(
            msg(r#""choices":[{"label":"x","phrases":["a"]}],"speechOptions":{"endSilenceTimeoutInMs":0}"#)
                .contains("endSilenceTimeoutInMs must be between")
        );
    }

    #[test]
    fn errors_name_the_field() {
        let msg = |json: &str| parse::<RecognizeBody>(json).validate().unwrap_err().message;
        assert!(msg("{}").contains("recognizeInputType is required"));
        assert!(msg(r#"{"recognizeInputType":"speech"}"#).contains("recognizeOptions is required"));
        assert!(msg(r#"{"recognizeInputType":"voice"}"#).contains("unknown"));
        assert!(msg(r#"{"recognizeInputType":"dtmf"}"#).contains("recognizeOptions is required"));
        assert!(
            msg(r#"{"recognizeInputType":"dtmf","recognizeOptions":{}}"#)
                .contains("recognizeOptions.targetParticipant is required")
        );
        let base = r#"{"recognizeInputType":"dtmf","recognizeOptions":{"targetParticipant":{"rawId":"4:+1"},"#;
        assert!(
            msg(&format!("{base}\"initialSilenceTimeoutInSeconds\":301}}}}"))
                .contains("initialSilenceTimeoutInSeconds")
        );
        assert!(
            msg(&format!(
                "{base}\"dtmfOptions\":{{\"interToneTimeoutInSeconds\":0}}}}}}"
            ))
            .contains("interToneTimeoutInSeconds")
        );
        assert!(
            msg(&format!(
                "{base}\"dtmfOptions\":{{\"stopTones\":[\"pound\",\"ten\"]}}}}}}"
            ))
            .contains("stopTones[1]: unknown tone (")
        );
        let send = |json: &str| {
            parse::<SendDtmfTonesBody>(json)
                .validate()
                .unwrap_err()
                .message
        };
        let many = vec!["one"; 19];
        let json = serde_json::json!({"tones": many, "targetParticipant": {"rawId": "4:+1"}});
        assert!(send(&json.to_string()).contains("at most 18"));
        assert!(send(r#"{"tones":["one"]}"#).contains("targetParticipant is required"));
        assert!(send(r#"{"targetParticipant":{"rawId":"x"}}"#).contains("tones is required"));
        let play = |json: &str| parse::<PlayBody>(json).validate().unwrap_err().message;
        assert!(play("{}").contains("playSources is required"));
        assert!(
            play(r#"{"playSources":[{"kind":"text","text":{}}]}"#)
                .contains("playSources[0].text.text is required")
        );
        assert!(
            play(r#"{"playSources":[{"kind":"file","file":{"uri":"file:///a.wav"}},{"kind":"ssml","ssml":{"ssmlText":"x"}}]}"#)
                .contains("playSources[1].ssml.ssmlText must be an SSML document")
        );
        assert!(
            play(r#"{"playSources":[{"kind":"video"}]}"#)
                .contains("playSources[0].kind \"video\" is not supported")
        );
        assert!(
            play(r#"{"playSources":[{"kind":"file","file":{}}]}"#)
                .contains("playSources[0].file.uri")
        );
    }

    #[test]
    fn free_text_is_bounded() {
        let target = serde_json::json!({"rawId": "4:+1"});
        let long = |n: usize| "x".repeat(n);
        let send = |body: serde_json::Value| {
            serde_json::from_value::<SendDtmfTonesBody>(body)
                .unwrap()
                .validate()
                .map(|_| ())
                .map_err(|e| e.message)
        };
        let context = |n| serde_json::json!({"tones": ["one"], "targetParticipant": target, "operationContext": long(n)});
        assert!(send(context(MAX_CONTEXT_CHARS)).is_ok());
        let err = send(context(MAX_CONTEXT_CHARS + 1)).unwrap_err();
        assert_eq!(err, "operationContext is longer than 4096 characters");
        let raw = serde_json::json!({"tones": ["one"], "targetParticipant": {"rawId": long(MAX_ID_CHARS + 1)}});
        assert!(
            send(raw)
                .unwrap_err()
                .contains("targetParticipant.rawId is longer than 256")
        );
        let phone = serde_json::json!({"tones": ["one"], "targetParticipant": {"phoneNumber": {"value": long(MAX_ID_CHARS)}}});
        assert!(send(phone).unwrap_err().contains("targetParticipant.rawId"));
        let play = |body: serde_json::Value| {
            serde_json::from_value::<PlayBody>(body)
                .unwrap()
                .validate()
                .unwrap_err()
                .message
        };
        let file = |uri: String, cache: String| serde_json::json!({"playSources": [{"kind": "file", "file": {"uri": uri}, "playSourceCacheId": cache}]});
        assert!(
            play(file(
                format!("https://x/{}", long(MAX_URI_CHARS)),
                "c".into()
            ))
            .contains("playSources[0].file.uri is longer than 2048")
        );
        assert!(
            play(file("https://x/a.wav".into(), long(MAX_ID_CHARS + 1)))
                .contains("playSources[0].playSourceCacheId is longer")
        );
        let to = serde_json::json!({"playSources": [{"kind": "file", "file": {"uri": "file:///a.wav"}}], "playTo": [{"rawId": long(MAX_ID_CHARS + 1)}]});
        assert!(play(to).contains("playTo[0].rawId is longer"));
        let kind = serde_json::json!({"recognizeInputType": long(MAX_NAME_CHARS + 1)});
        let err = serde_json::from_value::<RecognizeBody>(kind)
            .unwrap()
            .validate()
            .unwrap_err()
            .message;
        assert!(
            err.contains("recognizeInputType is longer than 64"),
            "{err}"
        );
    }

    #[test]
    fn text_and_ssml_sources_validate_into_speech() {
        // As the Python SDK 1.6.0 sends a TextSource and an SsmlSource.
        let play: PlayBody = parse(
            r#"{"playSources":[
                {"kind":"text","text":{"text":"Press one for sales","sourceLocale":"en-US",
                  "voiceKind":"female","voiceName":"en-US-JennyNeural","customVoiceEndpointId":"x"}},
                {"kind":"ssml","ssml":{"ssmlText":"<speak>Hi <break time=\"1s\"/></speak>"},
                  "playSourceCacheId":"ignored"}]}"#,
        );
        let sources = play.validate().unwrap().sources;
        assert_eq!(
            sources[0],
            PlaySourceRef::Speech(Speech {
                input: SpeechInput::Text("Press one for sales".to_owned()),
                voice_name: Some("en-US-JennyNeural".to_owned()),
                source_locale: Some("en-US".to_owned()),
            })
        );
        assert_eq!(
            sources[1],
            PlaySourceRef::Speech(Speech {
                input: SpeechInput::Ssml(r#"<speak>Hi <break time="1s"/></speak>"#.to_owned()),
                voice_name: None,
                source_locale: None,
            })
        );
        assert_eq!(sources[0].uri(), None);
        // The kind may be left out where the payload says it; blank names are none.
        let bare: PlayBody =
            parse(r#"{"playSources":[{"text":{"text":"hi","voiceName":" ","sourceLocale":""}}]}"#);
        assert_eq!(
            bare.validate().unwrap().sources,
            vec![PlaySourceRef::Speech(Speech::text("hi"))]
        );
        // Everywhere a play source is taken: a recognize's prompts and hold music.
        let recognize: RecognizeBody = parse(
            r#"{"recognizeInputType":"dtmf","playPrompts":[{"kind":"text","text":{"text":"a"}}],
                "playPrompt":{"kind":"ssml","ssml":{"ssmlText":"<speak>b</speak>"}},
                "recognizeOptions":{"targetParticipant":{"rawId":"4:+1"}}}"#,
        );
        assert_eq!(recognize.validate().unwrap().prompts.len(), 2);
        let hold: HoldBody = parse(
            r#"{"targetParticipant":{"rawId":"4:+1"},"playSourceInfo":{"kind":"text","text":{"text":"hold on"}}}"#,
        );
        assert_eq!(
            hold.validate().unwrap().music,
            Some(PlaySourceRef::Speech(Speech::text("hold on")))
        );
    }

    #[test]
    fn speech_sources_are_bounded_and_name_the_field() {
        let play = |source: serde_json::Value| {
            serde_json::from_value::<PlayBody>(serde_json::json!({ "playSources": [source] }))
                .unwrap()
                .validate()
                .map(|_| ())
                .map_err(|e| e.message)
        };
        let text = |t: String| serde_json::json!({"kind": "text", "text": {"text": t}});
        assert!(play(text("x".repeat(MAX_SPEECH_CHARS))).is_ok());
        assert_eq!(
            play(text("x".repeat(MAX_SPEECH_CHARS + 1))).unwrap_err(),
            "playSources[0].text.text is longer than 4096 characters"
        );
        assert!(
            play(text("  ".to_owned()))
                .unwrap_err()
                .contains("playSources[0].text.text is required")
        );
        let ssml = |t: String| serde_json::json!({"kind": "ssml", "ssml": {"ssmlText": t}});
        let long = format!("<speak>{}</speak>", "x".repeat(MAX_SPEECH_CHARS));
        assert!(
            play(ssml(long))
                .unwrap_err()
                .contains("playSources[0].ssml.ssmlText is longer than 4096")
        );
        let voice = serde_json::json!({"kind": "text", "text": {"text": "hi", "voiceName": "v".repeat(MAX_NAME_CHARS + 1)}});
        assert!(
            play(voice)
                .unwrap_err()
                .contains("playSources[0].text.voiceName is longer than 64")
        );
        let locale = serde_json::json!({"kind": "text", "text": {"text": "hi", "sourceLocale": "l".repeat(MAX_NAME_CHARS + 1)}});
        assert!(play(locale).unwrap_err().contains("sourceLocale"));
        assert!(
            play(serde_json::json!({"kind": "ssml"}))
                .unwrap_err()
                .contains("playSources[0].ssml.ssmlText is required")
        );
    }

    #[test]
    fn identifiers_derive_raw_ids() {
        let id: Identifier = parse(r#"{"kind":"phoneNumber","phoneNumber":{"value":"+1555"}}"#);
        assert_eq!(id.raw().unwrap(), "4:+1555");
        let id: Identifier = parse(r#"{"communicationUser":{"id":"8:acs:x"}}"#);
        assert_eq!(id.raw().unwrap(), "8:acs:x");
        assert_eq!(Identifier::from_raw_id("4:+1").raw().unwrap(), "4:+1");
    }

    #[test]
    fn transcription_bodies_read_as_the_sdks_send_them() {
        let body = br#"{"locale":"en-GB","speechModelEndpointId":"m1","operationContext":"t1","operationCallbackUri":"https://app/t"}"#;
        let Operation::Transcription(r) = read_operation("startTranscription", body).unwrap()
        else {
            panic!("a transcription request")
        };
        assert_eq!(r.action, TranscriptionAction::Start);
        assert_eq!(r.locale.as_deref(), Some("en-GB"));
        assert_eq!(r.speech_model_endpoint_id.as_deref(), Some("m1"));
        assert_eq!(r.meta.operation_context.as_deref(), Some("t1"));
        let Operation::Transcription(r) = read_operation("stopTranscription", b"").unwrap() else {
            panic!("a transcription request")
        };
        assert_eq!((r.action, r.locale), (TranscriptionAction::Stop, None));
        let long = format!(r#"{{"locale":"{}"}}"#, "x".repeat(MAX_NAME_CHARS + 1));
        let err = read_operation("updateTranscription", long.as_bytes()).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.message.contains("locale"), "{}", err.message);
        let bad = br#"{"operationCallbackUri":"ftp://x"}"#;
        assert_eq!(
            read_operation("startTranscription", bad)
                .unwrap_err()
                .status,
            400
        );
    }
}
