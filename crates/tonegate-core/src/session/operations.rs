//! Call Automation media operations, carried out inside one call's [`Session`]
//! (sans-IO: no clock, no IO; time comes in as `now`).
//!
//! The API layer turns REST bodies into an [`Operation`] (with prompts already loaded:
//! `file://` read, `http(s)://` downloaded, decoded into [`Prompt`]s, or a
//! [`SourceFailure`] per source) and hands it to the session as
//! [`Command::Operation`](super::Command::Operation). Results come back as
//! [`EventKind::Operation`](super::EventKind::Operation) events carrying an
//! [`OperationEvent`]: the Call Automation event type, the request's
//! [`OperationMeta`] and a [`ResultInformation`].
//!
//! # Semantics
//! - **Queue.** Play, recognize, send-DTMF and hold run one at a time, first in first
//!   out: the next starts when the previous one's audio has *played* (stream time by
//!   tonegate's pacing clock; Twilio: when its mark comes back) or when it completed.
//! - **Conflicts** (ACS rules): a play to everyone and a recognize may queue behind
//!   anything. A targeted play (`playTo` not empty), send-DTMF and hold are
//!   *exclusive*: one is refused with [`Error::Conflict`](super::Error::Conflict)
//!   (HTTP 412, subCode 8583) while another exclusive one is running or queued.
//! - **interruptCallMediaOperation**: the running operation is canceled (its Canceled
//!   event, its audio stopped at once) and the new one runs now; queued operations stay
//!   queued behind it. A running hold is not interrupted (the new one queues first in
//!   line behind it).
//! - **Recognize (DTMF)**: optional prompt; with `interruptPrompt` the first key stops
//!   it at once (StopAudio / clear). Timers start when the prompt has played (or at once
//!   without a prompt, or at the first key when it interrupts the prompt):
//!   `initialSilenceTimeout` until the first tone (RecognizeFailed 400/8510), then
//!   `interToneTimeout` after each tone (RecognizeCompleted 400/8532 with the tones so
//!   far). `maxTonesToCollect` completes with 200/8531, a stop tone with 200/8514 (the
//!   stop tone is not in the result). Tones of participants other than
//!   `targetParticipant` are ignored on unmixed streams.
//! - **DTMF buffering** (tonegate extension): digits pressed while no recognize is
//!   running (and not delivered to continuous recognition) are kept, up to
//!   [`Config::dtmf_buffer`] digits (further ones are dropped), and feed the next
//!   recognize in order when it starts, before its prompt: a buffered key interrupts an
//!   interruptible prompt before it plays, a buffered stop tone completes at once.
//!   `RecognizeOptions::dtmf_buffering = Some(false)` discards the buffer when that
//!   recognize starts (strict Call Automation behaviour); `Config::dtmf_buffer = 0`
//!   turns buffering off.
//! - **Continuous DTMF**: per target participant (or everyone);
//!   ContinuousDtmfRecognitionToneReceived per key with a per-call `sequenceId` from 1,
//!   gapless over these events (the session's digit `sequenceId` counts every digit,
//!   including ones pressed while continuous recognition was off, so it is not reused).
//! - **Hold**: loops the music (or [`Config::hold_music`], or silence) until unhold.
//! - **cancelAllMediaOperations**: StopAudio / clear, then PlayCanceled,
//!   RecognizeCanceled (400/8508) or SendDtmfTonesFailed (400/8508) for the running and
//!   queued operations, in queue order; a hold ends silently. Continuous DTMF and the
//!   DTMF buffer are not touched.
//! - The stream ending cancels what is left the same way (without StopAudio). A stream
//!   *lost* (dropped connection, idle timeout, protocol error, shutdown; not an orderly
//!   end) also fails every running continuous recognition with
//!   ContinuousDtmfRecognitionToneFailed (500/9999), so the app learns that no more
//!   tones will come.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Error;
use crate::player::{OperationId, Prompt};
use tonegate_dsp::dsp::Digit;
use tonegate_dsp::dsp::tone::Cadence;

/// A DTMF tone by its Call Automation wire name (`zero` ... `nine`, `a` ... `d`,
/// `pound`, `asterisk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Tone {
    Zero,
    One,
    Two,
    Three,
    Four,
    Five,
    Six,
    Seven,
    Eight,
    Nine,
    A,
    B,
    C,
    D,
    Pound,
    Asterisk,
}

impl Tone {
    /// All tones, in the order of their wire names above.
    pub const ALL: [Tone; 16] = [
        Tone::Zero,
        Tone::One,
        Tone::Two,
        Tone::Three,
        Tone::Four,
        Tone::Five,
        Tone::Six,
        Tone::Seven,
        Tone::Eight,
        Tone::Nine,
        Tone::A,
        Tone::B,
        Tone::C,
        Tone::D,
        Tone::Pound,
        Tone::Asterisk,
    ];

    /// The wire name.
    pub fn name(self) -> &'static str {
        self.digit().tone_name()
    }

    /// The key character (`0`-`9`, `A`-`D`, `#`, `*`).
    pub fn as_char(self) -> char {
        b"0123456789ABCD#*"[self as usize] as char
    }

    /// The keypad digit.
    pub fn digit(self) -> Digit {
        Digit::from_char(self.as_char()).expect("every tone is a key")
    }
}

impl From<Digit> for Tone {
    fn from(d: Digit) -> Tone {
        let c = d.as_char();
        Tone::ALL
            .into_iter()
            .find(|t| t.as_char() == c)
            .expect("every key is a tone")
    }
}

impl From<Tone> for Digit {
    fn from(t: Tone) -> Digit {
        t.digit()
    }
}

impl fmt::Display for Tone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Text that is not a tone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a DTMF tone name")]
pub struct NotATone;

impl FromStr for Tone {
    type Err = NotATone;
    /// Accepts the wire names (any case), `hash`/`star`, and key characters.
    fn from_str(s: &str) -> Result<Tone, NotATone> {
        Digit::from_name_or_char(s).map(Tone::from).ok_or(NotATone)
    }
}

/// `resultInformation` of an event (and of a refusal, e.g. 412/8583).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultInformation {
    /// HTTP-like status (200, 400, 412, 500).
    pub code: u16,
    /// Call Automation sub-code (0, 8508, 8510, 8514, 8531, 8532, 8535, 8536, 8583...).
    pub sub_code: u32,
    /// Human-readable message.
    pub message: String,
}

impl ResultInformation {
    /// A result from its parts.
    pub fn new(code: u16, sub_code: u32, message: impl Into<String>) -> ResultInformation {
        ResultInformation {
            code,
            sub_code,
            message: message.into(),
        }
    }

    fn success(message: &str) -> ResultInformation {
        ResultInformation::new(200, 0, message)
    }

    fn canceled() -> ResultInformation {
        ResultInformation::new(400, 8508, "Action failed, the operation was canceled.")
    }
}

/// What every operation carries and gets back on its events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationMeta {
    /// `operationContext`, echoed on every event of the operation.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operation_context: Option<String>,
    /// `operationCallbackUri`: where the API layer delivers this operation's events
    /// (else the call's callback URI).
    #[serde(
        rename = "operationCallbackUri",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub callback_uri: Option<String>,
}

/// Why one play source could not be turned into a [`Prompt`] (decided by the API layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceFailure {
    /// The file is not audio tonegate can read (PlayFailed 400/8535).
    InvalidFormat(String),
    /// The file could not be read or downloaded (PlayFailed 400/8536).
    DownloadFailed(String),
    /// A source kind tonegate does not play (text, ssml): PlayFailed 400/8535.
    Unsupported(String),
}

impl SourceFailure {
    fn result(&self) -> ResultInformation {
        match self {
            SourceFailure::InvalidFormat(m) | SourceFailure::Unsupported(m) => {
                ResultInformation::new(
                    400,
                    8535,
                    format!("Action failed, file format is invalid: {m}"),
                )
            }
            SourceFailure::DownloadFailed(m) => ResultInformation::new(
                400,
                8536,
                format!("Action failed, file could not be downloaded: {m}"),
            ),
        }
    }
}

/// One play source: the decoded prompt (any rate; the session converts it) or why it
/// could not be had.
pub type PlaySource = Result<Prompt, SourceFailure>;

/// `play`.
#[derive(Debug, Clone, Default)]
pub struct PlayRequest {
    /// `playSources`, played in sequence (at least one).
    pub sources: Vec<PlaySource>,
    /// `playTo` raw ids; empty = everyone. The outbound stream is mixed, so a targeted
    /// play is heard by everyone on the stream; it only changes the conflict rules.
    pub play_to: Vec<String>,
    /// `playOptions.loop`: repeat the whole sequence until canceled.
    pub looped: bool,
    /// `interruptCallMediaOperation`.
    pub interrupt_call_media_operation: bool,
    /// Context and callback.
    pub meta: OperationMeta,
}

/// `recognizeOptions` (DTMF), in Rust units. [`RecognizeOptions::default`] holds the
/// Call Automation defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecognizeOptions {
    /// `interruptPrompt`: the first key stops the prompt. Default false.
    pub interrupt_prompt: bool,
    /// `initialSilenceTimeoutInSeconds` (0-300 s; 0 fails at once unless a buffered
    /// tone is there). Default 5 s.
    pub initial_silence_timeout: Duration,
    /// `targetParticipant` raw id (`4:+1555...`); `None`: anyone. Honoured where the
    /// stream says who pressed (ACS unmixed).
    pub target_participant: Option<String>,
    /// `dtmfOptions.interToneTimeoutInSeconds` (1-60 s). Default 2 s.
    pub inter_tone_timeout: Duration,
    /// `dtmfOptions.maxTonesToCollect` (>= 1); `None`: no limit other than
    /// [`MAX_TONES`]. Default `None`.
    pub max_tones_to_collect: Option<u32>,
    /// `dtmfOptions.stopTones`. Default none.
    pub stop_tones: Vec<Tone>,
    /// tonegate's `dtmfBuffering`: `Some(false)` discards digits pressed before this
    /// recognize started; `None`/`Some(true)`: use the buffer (if configured). Default
    /// `None`.
    pub dtmf_buffering: Option<bool>,
}

/// Most tones one recognize collects (completes with 8531 there).
pub const MAX_TONES: usize = 128;
/// Most tones one `sendDtmfTones` may carry.
pub const MAX_SEND_TONES: usize = 18;

impl Default for RecognizeOptions {
    fn default() -> Self {
        RecognizeOptions {
            interrupt_prompt: false,
            initial_silence_timeout: Duration::from_secs(5),
            target_participant: None,
            inter_tone_timeout: Duration::from_secs(2),
            max_tones_to_collect: None,
            stop_tones: Vec::new(),
            dtmf_buffering: None,
        }
    }
}

impl RecognizeOptions {
    /// Checks the ranges of the spec (the API layer may call it to answer 400 early).
    pub fn validate(&self) -> Result<(), Error> {
        if self.initial_silence_timeout > Duration::from_secs(300) {
            return Err(Error::InvalidArgument("initialSilenceTimeoutInSeconds"));
        }
        if self.inter_tone_timeout < Duration::from_secs(1)
            || self.inter_tone_timeout > Duration::from_secs(60)
        {
            return Err(Error::InvalidArgument("interToneTimeoutInSeconds"));
        }
        if self.max_tones_to_collect == Some(0) {
            return Err(Error::InvalidArgument("maxTonesToCollect"));
        }
        Ok(())
    }
}

/// `recognize` with `recognizeInputType: dtmf` (the API layer answers 400 for other
/// input types).
#[derive(Debug, Clone, Default)]
pub struct RecognizeRequest {
    /// `playPrompt` / `playPrompts`, played in sequence before collecting; may be empty.
    pub prompts: Vec<PlaySource>,
    /// `interruptCallMediaOperation`.
    pub interrupt_call_media_operation: bool,
    /// The options.
    pub options: RecognizeOptions,
    /// Context and callback.
    pub meta: OperationMeta,
}

/// `startContinuousDtmfRecognition` / `stopContinuousDtmfRecognition`.
#[derive(Debug, Clone, Default)]
pub struct ContinuousDtmfRequest {
    /// `targetParticipant` raw id; `None`: everyone.
    pub target_participant: Option<String>,
    /// Context and callback.
    pub meta: OperationMeta,
}

/// `sendDtmfTones`.
#[derive(Debug, Clone, Default)]
pub struct SendDtmfTonesRequest {
    /// `tones`, 1 to [`MAX_SEND_TONES`].
    pub tones: Vec<Tone>,
    /// `targetParticipant` raw id (the outbound stream is mixed: informational).
    pub target_participant: Option<String>,
    /// Context and callback.
    pub meta: OperationMeta,
}

/// `hold`.
#[derive(Debug, Clone, Default)]
pub struct HoldRequest {
    /// `targetParticipant` raw id.
    pub target_participant: Option<String>,
    /// `playSourceInfo`: the music, looped; `None`: [`Config::hold_music`] (or
    /// silence). A failed source answers HoldFailed.
    pub music: Option<PlaySource>,
    /// Context and callback.
    pub meta: OperationMeta,
}

/// `unhold`.
#[derive(Debug, Clone, Default)]
pub struct UnholdRequest {
    /// `targetParticipant` raw id; `None` ends any hold.
    pub target_participant: Option<String>,
    /// Context and callback (no event carries it: unhold has none).
    pub meta: OperationMeta,
}

/// A Call Automation media operation.
#[derive(Debug, Clone)]
pub enum Operation {
    /// `play`: events PlayStarted, PlayCompleted, PlayFailed, PlayCanceled.
    Play(PlayRequest),
    /// `recognize` (DTMF): events RecognizeCompleted, RecognizeFailed,
    /// RecognizeCanceled, and PlayStarted / PlayCompleted for a prompt that plays out.
    Recognize(RecognizeRequest),
    /// `startContinuousDtmfRecognition`: ContinuousDtmfRecognitionToneReceived per key.
    StartContinuousDtmf(ContinuousDtmfRequest),
    /// `stopContinuousDtmfRecognition`: ContinuousDtmfRecognitionStopped.
    StopContinuousDtmf(ContinuousDtmfRequest),
    /// `sendDtmfTones`: SendDtmfTonesCompleted once the tones have played, or
    /// SendDtmfTonesFailed.
    SendDtmfTones(SendDtmfTonesRequest),
    /// `hold`: HoldFailed on failure.
    Hold(HoldRequest),
    /// `unhold`: no event.
    Unhold(UnholdRequest),
    /// `cancelAllMediaOperations`: PlayCanceled / RecognizeCanceled /
    /// SendDtmfTonesFailed for what was running or queued.
    CancelAll,
}

/// The Call Automation event type (CloudEvents `type` is
/// `Microsoft.Communication.<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum OperationEventType {
    PlayStarted,
    PlayCompleted,
    PlayFailed,
    PlayCanceled,
    RecognizeCompleted,
    RecognizeFailed,
    RecognizeCanceled,
    ContinuousDtmfRecognitionToneReceived,
    ContinuousDtmfRecognitionToneFailed,
    ContinuousDtmfRecognitionStopped,
    SendDtmfTonesCompleted,
    SendDtmfTonesFailed,
    HoldFailed,
}

impl OperationEventType {
    /// Every event type, in declaration order.
    pub const ALL: [OperationEventType; 13] = [
        OperationEventType::PlayStarted,
        OperationEventType::PlayCompleted,
        OperationEventType::PlayFailed,
        OperationEventType::PlayCanceled,
        OperationEventType::RecognizeCompleted,
        OperationEventType::RecognizeFailed,
        OperationEventType::RecognizeCanceled,
        OperationEventType::ContinuousDtmfRecognitionToneReceived,
        OperationEventType::ContinuousDtmfRecognitionToneFailed,
        OperationEventType::ContinuousDtmfRecognitionStopped,
        OperationEventType::SendDtmfTonesCompleted,
        OperationEventType::SendDtmfTonesFailed,
        OperationEventType::HoldFailed,
    ];

    /// The name (`RecognizeCompleted`).
    pub fn name(self) -> &'static str {
        match self {
            OperationEventType::PlayStarted => "PlayStarted",
            OperationEventType::PlayCompleted => "PlayCompleted",
            OperationEventType::PlayFailed => "PlayFailed",
            OperationEventType::PlayCanceled => "PlayCanceled",
            OperationEventType::RecognizeCompleted => "RecognizeCompleted",
            OperationEventType::RecognizeFailed => "RecognizeFailed",
            OperationEventType::RecognizeCanceled => "RecognizeCanceled",
            OperationEventType::ContinuousDtmfRecognitionToneReceived => {
                "ContinuousDtmfRecognitionToneReceived"
            }
            OperationEventType::ContinuousDtmfRecognitionToneFailed => {
                "ContinuousDtmfRecognitionToneFailed"
            }
            OperationEventType::ContinuousDtmfRecognitionStopped => {
                "ContinuousDtmfRecognitionStopped"
            }
            OperationEventType::SendDtmfTonesCompleted => "SendDtmfTonesCompleted",
            OperationEventType::SendDtmfTonesFailed => "SendDtmfTonesFailed",
            OperationEventType::HoldFailed => "HoldFailed",
        }
    }
}

/// `dtmfResult` of RecognizeCompleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DtmfResult {
    /// The tones, in order, by name (a stop tone is not included).
    pub tones: Vec<Tone>,
}

/// Payload of a media-operation event. Serialises to the fields of the CloudEvent's
/// `data` (plus `event`, the type name); the API layer adds `callConnectionId`,
/// `serverCallId` and `correlationId`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationEvent {
    /// Which event.
    pub event: OperationEventType,
    /// The operation's context and callback URI.
    #[serde(flatten)]
    pub meta: OperationMeta,
    /// Result.
    pub result_information: ResultInformation,
    /// PlayFailed / RecognizeFailed: index of the source that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_play_source_index: Option<usize>,
    /// RecognizeCompleted: always `"dtmf"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recognition_type: Option<&'static str>,
    /// RecognizeCompleted: the tones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dtmf_result: Option<DtmfResult>,
    /// ContinuousDtmfRecognitionToneReceived: the tone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tone: Option<Tone>,
    /// ContinuousDtmfRecognitionToneReceived: per call, gapless from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence_id: Option<u64>,
    /// ContinuousDtmfRecognitionToneReceived: who pressed it (unmixed streams).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participant: Option<Arc<str>>,
}

impl OperationEvent {
    fn new(
        event: OperationEventType,
        meta: &OperationMeta,
        result_information: ResultInformation,
    ) -> OperationEvent {
        OperationEvent {
            event,
            meta: meta.clone(),
            result_information,
            failed_play_source_index: None,
            recognition_type: None,
            dtmf_result: None,
            tone: None,
            sequence_id: None,
            participant: None,
        }
    }
}

/// Media-operation settings (part of the session [`super::Config`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Digits kept while no recognize runs (tonegate's DTMF buffering); 0 turns
    /// buffering off (strict Call Automation behaviour). Default 32.
    pub dtmf_buffer: usize,
    /// Timing and level of `sendDtmfTones`. Default 70 ms on, 70 ms off, -10 dBm0 per
    /// frequency (ITU-T Q.23/Q.24 ranges).
    pub send_cadence: Cadence,
    /// Music for a hold without `playSourceInfo`, at any rate; `None`: silence.
    /// Default `None`.
    pub hold_music: Option<Prompt>,
    /// Most operations running and queued per call; more are refused with
    /// [`Error::QueueFull`]. Default 64.
    pub max_queued: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dtmf_buffer: 32,
            send_cadence: Cadence {
                on: Duration::from_millis(70),
                off: Duration::from_millis(70),
                level_dbm0: -10.0,
            },
            hold_music: None,
            max_queued: 64,
        }
    }
}

/// Audio an operation wants played.
#[derive(Debug, Clone)]
pub(crate) enum Audio {
    /// A prompt (any rate; the session converts it).
    Prompt(Prompt),
    /// DTMF tones with [`Config::send_cadence`].
    Tones(Vec<Digit>),
}

/// What the engine asks the session to do.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// Report this event.
    Emit(OperationEvent),
    /// Stop and flush all outbound audio (StopAudio / clear).
    StopAudio,
    /// Queue audio of operation `id`; report its start, end and cancellation back.
    Enqueue {
        id: OperationId,
        audio: Audio,
        looped: bool,
    },
}

#[derive(Debug)]
enum Phase {
    /// The prompt plays; no timer yet.
    Prompting,
    /// Collecting tones; fails or completes at `deadline`.
    Collecting { deadline: Duration },
}

#[derive(Debug)]
struct Recognize {
    prompt: Option<Prompt>,
    options: RecognizeOptions,
    phase: Phase,
    tones: Vec<Tone>,
    /// The prompt's audio is still in the player.
    prompt_outstanding: bool,
}

#[derive(Debug)]
enum Kind {
    Play {
        prompt: Prompt,
        looped: bool,
        targeted: bool,
    },
    Recognize(Box<Recognize>),
    SendDtmf {
        tones: Vec<Tone>,
    },
    Hold {
        target: Option<String>,
        music: Option<Prompt>,
    },
}

impl Kind {
    fn exclusive(&self) -> bool {
        match self {
            Kind::Play { targeted, .. } => *targeted,
            Kind::Recognize(_) => false,
            Kind::SendDtmf { .. } | Kind::Hold { .. } => true,
        }
    }
}

#[derive(Debug)]
struct Op {
    audio_id: OperationId,
    meta: OperationMeta,
    kind: Kind,
    started: bool,
}

/// The media-operation engine of one call. Pure: it returns [`Action`]s for the
/// session to carry out.
#[derive(Debug)]
pub(crate) struct Operations {
    config: Config,
    /// Front = running (if `started`).
    queue: VecDeque<Op>,
    /// Continuous DTMF targets (`None` = everyone), with the start request's meta.
    continuous: Vec<(Option<String>, OperationMeta)>,
    tone_sequence: u64,
    buffer: VecDeque<(Tone, Option<Arc<str>>)>,
    actions: VecDeque<Action>,
    next_id: u64,
    ended: bool,
}

/// Whether a digit from `participant` counts for `target`.
fn matches(target: Option<&str>, participant: Option<&str>) -> bool {
    match (target, participant) {
        (Some(t), Some(p)) => {
            let strip = |s: &str| s.strip_prefix("4:").unwrap_or(s).to_owned();
            t == p || strip(t) == strip(p)
        }
        _ => true,
    }
}

fn concat(prompts: Vec<Prompt>) -> Prompt {
    if prompts.len() == 1 {
        return prompts.into_iter().next().expect("one prompt");
    }
    let rate = prompts
        .first()
        .map_or(tonegate_dsp::SampleRate::HZ_8000, Prompt::rate);
    let mut samples = Vec::with_capacity(prompts.iter().map(Prompt::len_samples).sum());
    for p in &prompts {
        if p.rate() == rate {
            samples.extend_from_slice(p.samples());
        } else {
            samples.extend(crate::player::convert_rate(p.samples(), p.rate(), rate));
        }
    }
    Prompt::from_samples(samples, rate)
}

/// Splits sources into prompts or the first failure with its index.
fn collect_sources(sources: Vec<PlaySource>) -> Result<Vec<Prompt>, (usize, SourceFailure)> {
    sources
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.map_err(|f| (i, f)))
        .collect()
}

impl Operations {
    pub(crate) fn new(config: Config) -> Operations {
        Operations {
            config,
            queue: VecDeque::new(),
            continuous: Vec::new(),
            tone_sequence: 0,
            buffer: VecDeque::new(),
            actions: VecDeque::new(),
            next_id: 1,
            ended: false,
        }
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The next action for the session.
    pub(crate) fn pop_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    fn emit(&mut self, event: OperationEvent) {
        self.actions.push_back(Action::Emit(event));
    }

    /// Digits waiting for the next recognize.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Takes an operation. Refusals (conflict, bad arguments, queue full) are returned
    /// and have no effect; failures found later are events.
    pub(crate) fn submit(&mut self, now: Duration, operation: Operation) -> Result<(), Error> {
        if self.ended {
            return Err(Error::Ended);
        }
        let (kind, meta, interrupt) = match operation {
            Operation::Play(r) => {
                if r.sources.is_empty() {
                    return Err(Error::InvalidArgument("playSources"));
                }
                self.check_admission(!r.play_to.is_empty())?;
                match collect_sources(r.sources) {
                    Ok(prompts) => (
                        Kind::Play {
                            prompt: concat(prompts),
                            looped: r.looped,
                            targeted: !r.play_to.is_empty(),
                        },
                        r.meta,
                        r.interrupt_call_media_operation,
                    ),
                    Err((index, failure)) => {
                        let mut e = OperationEvent::new(
                            OperationEventType::PlayFailed,
                            &r.meta,
                            failure.result(),
                        );
                        e.failed_play_source_index = Some(index);
                        self.emit(e);
                        return Ok(());
                    }
                }
            }
            Operation::Recognize(r) => {
                r.options.validate()?;
                self.check_admission(false)?;
                let prompt = match collect_sources(r.prompts) {
                    Ok(p) if p.is_empty() => None,
                    Ok(p) => Some(concat(p)),
                    Err((index, failure)) => {
                        let detail = failure.result().message;
                        let mut e = OperationEvent::new(
                            OperationEventType::RecognizeFailed,
                            &r.meta,
                            ResultInformation::new(
                                500,
                                8511,
                                format!(
                                    "Action failed, encountered failure while trying to play the prompt: {detail}"
                                ),
                            ),
                        );
                        e.failed_play_source_index = Some(index);
                        self.emit(e);
                        return Ok(());
                    }
                };
                (
                    Kind::Recognize(Box::new(Recognize {
                        prompt,
                        options: r.options,
                        phase: Phase::Prompting,
                        tones: Vec::new(),
                        prompt_outstanding: false,
                    })),
                    r.meta,
                    r.interrupt_call_media_operation,
                )
            }
            Operation::SendDtmfTones(r) => {
                if r.tones.is_empty() || r.tones.len() > MAX_SEND_TONES {
                    return Err(Error::InvalidArgument("tones"));
                }
                self.check_admission(true)?;
                (Kind::SendDtmf { tones: r.tones }, r.meta, false)
            }
            Operation::Hold(r) => {
                self.check_admission(true)?;
                let music = match r.music {
                    None => self.config.hold_music.clone(),
                    Some(Ok(p)) => Some(p),
                    Some(Err(failure)) => {
                        let mut e = OperationEvent::new(
                            OperationEventType::HoldFailed,
                            &r.meta,
                            failure.result(),
                        );
                        e.failed_play_source_index = Some(0);
                        self.emit(e);
                        return Ok(());
                    }
                };
                (
                    Kind::Hold {
                        target: r.target_participant,
                        music,
                    },
                    r.meta,
                    false,
                )
            }
            Operation::Unhold(r) => {
                self.unhold(now, r.target_participant.as_deref());
                return Ok(());
            }
            Operation::StartContinuousDtmf(r) => {
                if !self
                    .continuous
                    .iter()
                    .any(|(t, _)| *t == r.target_participant)
                {
                    self.continuous.push((r.target_participant, r.meta));
                }
                return Ok(());
            }
            Operation::StopContinuousDtmf(r) => {
                self.continuous.retain(|(t, _)| *t != r.target_participant);
                self.emit(OperationEvent::new(
                    OperationEventType::ContinuousDtmfRecognitionStopped,
                    &r.meta,
                    ResultInformation::success("Continuous DTMF recognition stopped."),
                ));
                return Ok(());
            }
            Operation::CancelAll => {
                self.cancel_all(true);
                return Ok(());
            }
        };
        let audio_id = OperationId(self.next_id);
        self.next_id += 1;
        let op = Op {
            audio_id,
            meta,
            kind,
            started: false,
        };
        if interrupt {
            let running_hold = self
                .queue
                .front()
                .is_some_and(|o| o.started && matches!(o.kind, Kind::Hold { .. }));
            if running_hold {
                self.queue.insert(1, op);
            } else {
                if self.queue.front().is_some_and(|o| o.started) {
                    let running = self.queue.pop_front().expect("front exists");
                    self.actions.push_back(Action::StopAudio);
                    self.cancel_event(running);
                }
                self.queue.push_front(op);
            }
        } else {
            self.queue.push_back(op);
        }
        self.run_next(now);
        Ok(())
    }

    fn check_admission(&self, exclusive: bool) -> Result<(), Error> {
        if self.queue.len() >= self.config.max_queued {
            return Err(Error::QueueFull);
        }
        if exclusive && self.queue.iter().any(|o| o.kind.exclusive()) {
            return Err(Error::Conflict);
        }
        Ok(())
    }

    /// The canceled event of an operation taken off the queue.
    fn cancel_event(&mut self, op: Op) {
        let (event, result) = match op.kind {
            Kind::Play { .. } => (
                OperationEventType::PlayCanceled,
                ResultInformation::canceled(),
            ),
            Kind::Recognize(_) => (
                OperationEventType::RecognizeCanceled,
                ResultInformation::canceled(),
            ),
            Kind::SendDtmf { .. } => (
                OperationEventType::SendDtmfTonesFailed,
                ResultInformation::canceled(),
            ),
            Kind::Hold { .. } => return,
        };
        self.emit(OperationEvent::new(event, &op.meta, result));
    }

    /// Cancels everything (cancelAllMediaOperations; `stop_audio` false at stream end).
    fn cancel_all(&mut self, stop_audio: bool) {
        if stop_audio {
            self.actions.push_back(Action::StopAudio);
        }
        while let Some(op) = self.queue.pop_front() {
            self.cancel_event(op);
        }
    }

    /// The stream was lost: every running continuous recognition fails. Call before
    /// [`Self::end`].
    pub(crate) fn lose(&mut self) {
        if self.ended {
            return;
        }
        for (_, meta) in std::mem::take(&mut self.continuous) {
            self.emit(OperationEvent::new(
                OperationEventType::ContinuousDtmfRecognitionToneFailed,
                &meta,
                ResultInformation::new(
                    500,
                    9999,
                    "The audio stream was lost; continuous DTMF recognition stopped.",
                ),
            ));
        }
    }

    /// The stream ended: cancel what is left; refuse further operations.
    pub(crate) fn end(&mut self) {
        if !self.ended {
            self.cancel_all(false);
            self.ended = true;
        }
    }

    fn unhold(&mut self, now: Duration, target: Option<&str>) {
        let Some(i) = self.queue.iter().position(|o| match &o.kind {
            Kind::Hold { target: t, .. } => {
                target.is_none() || t.is_none() || matches(target, t.as_deref())
            }
            _ => false,
        }) else {
            return;
        };
        let op = self.queue.remove(i).expect("index exists");
        if op.started && matches!(&op.kind, Kind::Hold { music: Some(_), .. }) {
            self.actions.push_back(Action::StopAudio);
        }
        self.run_next(now);
    }

    /// Starts the front operation if it is not running yet.
    fn run_next(&mut self, now: Duration) {
        loop {
            let Some(op) = self.queue.front_mut() else {
                return;
            };
            if op.started {
                return;
            }
            op.started = true;
            let id = op.audio_id;
            match &mut op.kind {
                Kind::Play { prompt, looped, .. } => {
                    let (audio, looped) = (Audio::Prompt(prompt.clone()), *looped);
                    self.actions
                        .push_back(Action::Enqueue { id, audio, looped });
                    return;
                }
                Kind::SendDtmf { tones } => {
                    let audio = Audio::Tones(tones.iter().map(|t| t.digit()).collect());
                    self.actions.push_back(Action::Enqueue {
                        id,
                        audio,
                        looped: false,
                    });
                    return;
                }
                Kind::Hold { music, .. } => {
                    if let Some(music) = music {
                        let audio = Audio::Prompt(music.clone());
                        self.actions.push_back(Action::Enqueue {
                            id,
                            audio,
                            looped: true,
                        });
                    }
                    return;
                }
                Kind::Recognize(r) => {
                    if r.prompt.is_none() {
                        r.phase = Phase::Collecting {
                            deadline: now + r.options.initial_silence_timeout,
                        };
                    }
                    let use_buffer = r.options.dtmf_buffering != Some(false);
                    let target = r.options.target_participant.clone();
                    let buffered: Vec<_> = self.buffer.drain(..).collect();
                    if use_buffer {
                        for (tone, participant) in buffered {
                            if matches(target.as_deref(), participant.as_deref()) {
                                self.recognize_tone(now, tone);
                                if !self.front_is_running_recognize() {
                                    // Completed: later buffered tones are dropped.
                                    break;
                                }
                            }
                        }
                    }
                    if let Some(Op {
                        audio_id,
                        started: true,
                        kind: Kind::Recognize(r),
                        ..
                    }) = self.queue.front_mut()
                    {
                        // Still running: play the prompt unless a buffered key
                        // interrupted it.
                        if let (Phase::Prompting, Some(prompt)) = (&r.phase, r.prompt.take()) {
                            r.prompt_outstanding = true;
                            self.actions.push_back(Action::Enqueue {
                                id: *audio_id,
                                audio: Audio::Prompt(prompt),
                                looped: false,
                            });
                        }
                        return;
                    }
                    // Completed from the buffer: go on with the next operation.
                }
            }
        }
    }

    fn front_is_running_recognize(&self) -> bool {
        self.queue
            .front()
            .is_some_and(|o| o.started && matches!(o.kind, Kind::Recognize(_)))
    }

    /// A digit was reported (after the session's dedupe). `participant` is who
    /// pressed it, where the stream says.
    pub(crate) fn on_digit(&mut self, now: Duration, digit: Digit, participant: Option<&Arc<str>>) {
        if self.ended {
            return;
        }
        let tone = Tone::from(digit);
        let who = participant.map(|p| &**p);
        let mut delivered = false;
        let targets: Vec<OperationMeta> = self
            .continuous
            .iter()
            .filter(|(t, _)| matches(t.as_deref(), who))
            .map(|(_, m)| m.clone())
            .take(1)
            .collect();
        for meta in targets {
            delivered = true;
            self.tone_sequence += 1;
            let mut e = OperationEvent::new(
                OperationEventType::ContinuousDtmfRecognitionToneReceived,
                &meta,
                ResultInformation::success("Success"),
            );
            e.tone = Some(tone);
            e.sequence_id = Some(self.tone_sequence);
            e.participant = participant.cloned();
            self.emit(e);
        }
        if let Some(Op {
            started: true,
            kind: Kind::Recognize(r),
            ..
        }) = self.queue.front()
        {
            if matches(r.options.target_participant.as_deref(), who) {
                self.recognize_tone(now, tone);
                self.run_next(now);
            }
            return;
        }
        if !delivered && self.buffer.len() < self.config.dtmf_buffer {
            self.buffer.push_back((tone, participant.cloned()));
        }
    }

    /// Feeds one tone to the running recognize (front of the queue).
    fn recognize_tone(&mut self, now: Duration, tone: Tone) {
        let Some(Op {
            kind: Kind::Recognize(r),
            ..
        }) = self.queue.front_mut()
        else {
            return;
        };
        if matches!(r.phase, Phase::Prompting) && r.options.interrupt_prompt {
            // Barge-in: stop the prompt now; the timers start with this key.
            if r.prompt_outstanding {
                r.prompt_outstanding = false;
                self.actions.push_back(Action::StopAudio);
            }
            r.phase = Phase::Collecting { deadline: now };
        }
        let result = if r.options.stop_tones.contains(&tone) {
            Some(ResultInformation::new(
                200,
                8514,
                "Action completed as stop tone was detected.",
            ))
        } else {
            r.tones.push(tone);
            let max = r
                .options
                .max_tones_to_collect
                .map_or(MAX_TONES, |m| (m as usize).min(MAX_TONES));
            if r.tones.len() >= max {
                Some(ResultInformation::new(
                    200,
                    8531,
                    "Action completed, max digits received.",
                ))
            } else {
                if let Phase::Collecting { deadline } = &mut r.phase {
                    *deadline = now + r.options.inter_tone_timeout;
                }
                None
            }
        };
        if let Some(result) = result {
            self.finish_recognize(OperationEventType::RecognizeCompleted, result);
        }
    }

    /// Ends the running recognize with an event; stops its prompt if it still plays.
    fn finish_recognize(&mut self, event: OperationEventType, result: ResultInformation) {
        let Some(op) = self.queue.pop_front() else {
            return;
        };
        let Kind::Recognize(r) = op.kind else {
            self.queue.push_front(op);
            return;
        };
        if r.prompt_outstanding {
            self.actions.push_back(Action::StopAudio);
        }
        let mut e = OperationEvent::new(event, &op.meta, result);
        if event == OperationEventType::RecognizeCompleted {
            e.recognition_type = Some("dtmf");
            e.dtmf_result = Some(DtmfResult { tones: r.tones });
        }
        self.emit(e);
    }

    /// The operation audio `id` sent its first frame.
    pub(crate) fn on_audio_started(&mut self, id: OperationId) {
        let Some(op) = self.queue.front() else {
            return;
        };
        if !op.started || op.audio_id != id {
            return;
        }
        if matches!(op.kind, Kind::Play { .. } | Kind::Recognize(_)) {
            let e = OperationEvent::new(
                OperationEventType::PlayStarted,
                &op.meta,
                ResultInformation::success("Action completed successfully."),
            );
            self.emit(e);
        }
    }

    /// The operation audio `id` has played out.
    pub(crate) fn on_audio_played(&mut self, now: Duration, id: OperationId) {
        self.audio_ended(now, id, false);
    }

    /// The operation audio `id` was dropped before it played out (a stop from
    /// elsewhere, e.g. a raw client's `stop`).
    pub(crate) fn on_audio_canceled(&mut self, now: Duration, id: OperationId) {
        self.audio_ended(now, id, true);
    }

    fn audio_ended(&mut self, now: Duration, id: OperationId, canceled: bool) {
        let Some(op) = self.queue.front_mut() else {
            return;
        };
        if !op.started || op.audio_id != id {
            return;
        }
        match &mut op.kind {
            Kind::Play { .. } => {
                let op = self.queue.pop_front().expect("front exists");
                if canceled {
                    self.cancel_event(op);
                } else {
                    self.emit(OperationEvent::new(
                        OperationEventType::PlayCompleted,
                        &op.meta,
                        ResultInformation::success("Action completed successfully."),
                    ));
                }
            }
            Kind::SendDtmf { .. } => {
                let op = self.queue.pop_front().expect("front exists");
                if canceled {
                    self.cancel_event(op);
                } else {
                    self.emit(OperationEvent::new(
                        OperationEventType::SendDtmfTonesCompleted,
                        &op.meta,
                        ResultInformation::success("Action completed successfully."),
                    ));
                }
            }
            Kind::Recognize(r) => {
                if !r.prompt_outstanding {
                    return;
                }
                r.prompt_outstanding = false;
                if let Phase::Prompting = r.phase {
                    let wait = if r.tones.is_empty() {
                        r.options.initial_silence_timeout
                    } else {
                        r.options.inter_tone_timeout
                    };
                    r.phase = Phase::Collecting {
                        deadline: now + wait,
                    };
                }
                if !canceled {
                    let meta = op.meta.clone();
                    self.emit(OperationEvent::new(
                        OperationEventType::PlayCompleted,
                        &meta,
                        ResultInformation::success("Action completed successfully."),
                    ));
                }
            }
            Kind::Hold { music, .. } => {
                // Stopped from elsewhere: the hold goes on in silence.
                *music = None;
            }
        }
        self.run_next(now);
    }

    /// Fires timers due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Duration) {
        while let Some(Op {
            started: true,
            kind: Kind::Recognize(r),
            ..
        }) = self.queue.front()
        {
            let Phase::Collecting { deadline } = r.phase else {
                return;
            };
            if now < deadline {
                return;
            }
            if r.tones.is_empty() {
                self.finish_recognize(
                    OperationEventType::RecognizeFailed,
                    ResultInformation::new(
                        400,
                        8510,
                        "Action failed, initial silence timeout reached.",
                    ),
                );
            } else {
                self.finish_recognize(
                    OperationEventType::RecognizeCompleted,
                    ResultInformation::new(
                        400,
                        8532,
                        "Action failed, inter-digit silence timeout reached.",
                    ),
                );
            }
            self.run_next(now);
        }
    }

    /// When [`Operations::handle_timeout`] should next be called.
    pub(crate) fn deadline(&self) -> Option<Duration> {
        match self.queue.front() {
            Some(Op {
                started: true,
                kind: Kind::Recognize(r),
                ..
            }) => match r.phase {
                Phase::Collecting { deadline } => Some(deadline),
                Phase::Prompting => None,
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
