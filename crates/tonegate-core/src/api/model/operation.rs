//! The media operations and their requests.
//!
//! Each request with audio is generic over how its play sources are held: as
//! validated references from the HTTP body ([`PlaySourceRef`](crate::api::PlaySourceRef))
//! or, by default, loaded for the session ([`LoadedSource`]).
//! [`Operation::map_sources`] turns one into the other.

use std::time::Duration;

use super::{LoadedSource, OperationMeta, Tone};

/// `play`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayRequest<S = LoadedSource> {
    /// `playSources`, played in sequence (at least one).
    pub sources: Vec<S>,
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

impl<S> Default for PlayRequest<S> {
    fn default() -> Self {
        PlayRequest {
            sources: Vec::new(),
            play_to: Vec::new(),
            looped: false,
            interrupt_call_media_operation: false,
            meta: OperationMeta::default(),
        }
    }
}

/// `recognizeInputType`: what the caller may answer with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RecognizeInput {
    /// Keys only.
    #[default]
    Dtmf,
    /// One of [`RecognizeOptions::choices`], said or keyed (a choice's `tone`).
    Choices,
    /// Free speech, ended by [`RecognizeOptions::end_silence_timeout`].
    Speech,
    /// Speech or keys, whichever the caller uses first.
    SpeechOrDtmf,
}

impl RecognizeInput {
    /// Whether the recognize listens for voice.
    pub fn listens(self) -> bool {
        !matches!(self, RecognizeInput::Dtmf)
    }

    /// The wire name (`speechOrDtmf`).
    pub fn name(self) -> &'static str {
        match self {
            RecognizeInput::Dtmf => "dtmf",
            RecognizeInput::Choices => "choices",
            RecognizeInput::Speech => "speech",
            RecognizeInput::SpeechOrDtmf => "speechOrDtmf",
        }
    }

    /// Whether keys are collected as tones (`dtmfResult`).
    pub fn collects_tones(self) -> bool {
        matches!(self, RecognizeInput::Dtmf | RecognizeInput::SpeechOrDtmf)
    }
}

/// One of `recognizeOptions.choices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// `label`, reported in `choiceResult`.
    pub label: String,
    /// `phrases` that select it (lower-case words, validated by the API layer).
    pub phrases: Vec<String>,
    /// `tone`: a key that selects it too.
    pub tone: Option<Tone>,
}

/// `recognizeOptions`, in Rust units. [`RecognizeOptions::default`] holds the Call
/// Automation defaults.
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
    /// `recognizeInputType`. Default [`RecognizeInput::Dtmf`].
    pub input: RecognizeInput,
    /// `choices` (for [`RecognizeInput::Choices`]). Default none.
    pub choices: Vec<Choice>,
    /// `speechOptions.endSilenceTimeoutInMs`: silence that ends an utterance. Default 1 s.
    pub end_silence_timeout: Duration,
    /// `speechLanguage` (BCP 47); `None`: the engine's default. Default `None`.
    pub speech_language: Option<String>,
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
            input: RecognizeInput::Dtmf,
            choices: Vec::new(),
            end_silence_timeout: Duration::from_secs(1),
            speech_language: None,
        }
    }
}

/// `recognize`: keys, speech or choices, as [`RecognizeOptions::input`] says.
#[derive(Debug, Clone, PartialEq)]
pub struct RecognizeRequest<S = LoadedSource> {
    /// `playPrompt` / `playPrompts`, played in sequence before collecting; may be empty.
    pub prompts: Vec<S>,
    /// `interruptCallMediaOperation`.
    pub interrupt_call_media_operation: bool,
    /// The options.
    pub options: RecognizeOptions,
    /// Context and callback.
    pub meta: OperationMeta,
}

impl<S> Default for RecognizeRequest<S> {
    fn default() -> Self {
        RecognizeRequest {
            prompts: Vec::new(),
            interrupt_call_media_operation: false,
            options: RecognizeOptions::default(),
            meta: OperationMeta::default(),
        }
    }
}

/// `startContinuousDtmfRecognition` / `stopContinuousDtmfRecognition`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContinuousDtmfRequest {
    /// `targetParticipant` raw id; `None`: everyone.
    pub target_participant: Option<String>,
    /// Context and callback.
    pub meta: OperationMeta,
}

/// `sendDtmfTones`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendDtmfTonesRequest {
    /// `tones`, 1 to [`MAX_SEND_TONES`].
    pub tones: Vec<Tone>,
    /// `targetParticipant` raw id (the outbound stream is mixed: informational).
    pub target_participant: Option<String>,
    /// Context and callback.
    pub meta: OperationMeta,
}

/// `hold`.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldRequest<S = LoadedSource> {
    /// `targetParticipant` raw id.
    pub target_participant: Option<String>,
    /// `playSourceInfo`: the music, looped; `None`: the session's default hold music
    /// (or silence). A failed source answers HoldFailed.
    pub music: Option<S>,
    /// Context and callback.
    pub meta: OperationMeta,
}

impl<S> Default for HoldRequest<S> {
    fn default() -> Self {
        HoldRequest {
            target_participant: None,
            music: None,
            meta: OperationMeta::default(),
        }
    }
}

/// `unhold`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnholdRequest {
    /// `targetParticipant` raw id; `None` ends any hold.
    pub target_participant: Option<String>,
    /// Context and callback (no event carries it: unhold has none).
    pub meta: OperationMeta,
}

/// A Call Automation media operation, its play sources held as `S`.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation<S = LoadedSource> {
    /// `play`: events PlayStarted, PlayCompleted, PlayFailed, PlayCanceled.
    Play(PlayRequest<S>),
    /// `recognize`: events RecognizeCompleted, RecognizeFailed,
    /// RecognizeCanceled, and PlayStarted / PlayCompleted for a prompt that plays out.
    Recognize(RecognizeRequest<S>),
    /// `startContinuousDtmfRecognition`: ContinuousDtmfRecognitionToneReceived per key.
    StartContinuousDtmf(ContinuousDtmfRequest),
    /// `stopContinuousDtmfRecognition`: ContinuousDtmfRecognitionStopped.
    StopContinuousDtmf(ContinuousDtmfRequest),
    /// `sendDtmfTones`: SendDtmfTonesCompleted once the tones have played, or
    /// SendDtmfTonesFailed.
    SendDtmfTones(SendDtmfTonesRequest),
    /// `hold`: HoldFailed on failure.
    Hold(HoldRequest<S>),
    /// `unhold`: no event.
    Unhold(UnholdRequest),
    /// `cancelAllMediaOperations`: PlayCanceled / RecognizeCanceled /
    /// SendDtmfTonesFailed for what was running or queued.
    CancelAll,
    /// `startTranscription`, `stopTranscription`, `updateTranscription`:
    /// TranscriptionStarted, TranscriptionStopped, TranscriptionUpdated,
    /// TranscriptionFailed.
    Transcription(super::TranscriptionRequest),
}

impl<S> Operation<S> {
    /// The operation's play sources in order: a play's sources, a recognize's prompts,
    /// a hold's music.
    pub fn sources(&self) -> &[S] {
        match self {
            Operation::Play(r) => &r.sources,
            Operation::Recognize(r) => &r.prompts,
            Operation::Hold(r) => r.music.as_slice(),
            Operation::StartContinuousDtmf(_)
            | Operation::StopContinuousDtmf(_)
            | Operation::SendDtmfTones(_)
            | Operation::Unhold(_)
            | Operation::CancelAll
            | Operation::Transcription(_) => &[],
        }
    }

    /// The same operation with each play source replaced by `f(source)`, in the order
    /// of [`Operation::sources`] (e.g. references by the audio they load).
    pub fn map_sources<T>(self, mut f: impl FnMut(S) -> T) -> Operation<T> {
        match self {
            Operation::Play(r) => Operation::Play(PlayRequest {
                sources: r.sources.into_iter().map(f).collect(),
                play_to: r.play_to,
                looped: r.looped,
                interrupt_call_media_operation: r.interrupt_call_media_operation,
                meta: r.meta,
            }),
            Operation::Recognize(r) => Operation::Recognize(RecognizeRequest {
                prompts: r.prompts.into_iter().map(f).collect(),
                interrupt_call_media_operation: r.interrupt_call_media_operation,
                options: r.options,
                meta: r.meta,
            }),
            Operation::Hold(r) => Operation::Hold(HoldRequest {
                target_participant: r.target_participant,
                music: r.music.map(&mut f),
                meta: r.meta,
            }),
            Operation::StartContinuousDtmf(r) => Operation::StartContinuousDtmf(r),
            Operation::StopContinuousDtmf(r) => Operation::StopContinuousDtmf(r),
            Operation::SendDtmfTones(r) => Operation::SendDtmfTones(r),
            Operation::Unhold(r) => Operation::Unhold(r),
            Operation::CancelAll => Operation::CancelAll,
            Operation::Transcription(r) => Operation::Transcription(r),
        }
    }
}
