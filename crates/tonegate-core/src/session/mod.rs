//! One call's sans-IO state machine.
//!
//! A [`Session`] takes parsed inbound frames ([`Session::handle_frame`]), commands
//! ([`Session::handle_command`]) and timer expiries ([`Session::handle_timeout`]), each
//! with the current time as a [`Duration`] since an epoch the caller picks; it never
//! reads a clock or touches a socket. After every input, drain [`Session::poll_output`]
//! until it returns [`Output::Timeout`]: outbound wire frames ([`Output::Transmit`]),
//! events ([`Output::Event`]), and finally the time at which to call
//! [`Session::handle_timeout`].
//!
//! What it does:
//! - keeps the stream format and a DTMF receiver per participant (ACS unmixed streams:
//!   one per `participantRawID`; Twilio: one per track);
//! - fills gaps the platform's timestamps reveal with silence, so positions stay true;
//! - merges in-band digits with digits the platform reports, deduplicating a key seen
//!   both ways within the tone's span, and numbers them with a gapless `sequenceId`
//!   from 1;
//! - plays prompts and DTMF digits out in 20 ms frames paced against the clock with a
//!   lead, stops them on request (ACS `StopAudio`, Twilio `clear`, raw `stopAudio`) and
//!   reports when they have played (Twilio: when its `mark` comes back).
//!
//! Positions and times in events are milliseconds of stream time: samples received
//! (including filled gaps) divided by the rate, from the first audio frame.

mod digits;
pub mod features;
mod inbound;
pub mod operations;
mod outbound;
pub mod request;
pub mod speech;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod transcription;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::player::{self, Owner, Player, Prompt};
use crate::proto::{self, Dialect, Inbound, StreamFormat};
use tonegate_dsp::SampleRate;
use tonegate_dsp::codec::Encoding;
use tonegate_dsp::dsp::tone::Cadence;
use tonegate_dsp::dsp::{Digit, dtmf};

pub use crate::api::model::{
    ContinuousDtmfRequest, DtmfResult, HoldRequest, LoadedSource, Operation, OperationEvent,
    OperationEventType, OperationMeta, PlayRequest, RecognizeOptions, RecognizeRequest,
    ResultInformation, SendDtmfTonesRequest, SourceFailure, Tone, UnholdRequest,
};
use digits::{Pending, RECENT_KEPT, Recent};
use features::FeatureTap;
use inbound::Participant;
pub use operations::OperationsConfig;
use operations::{Action, Audio, Operations};
use outbound::{Due, Outbound};

/// Session settings. Durations are stream or wall time as noted.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Detector thresholds.
    pub dtmf: dtmf::Config,
    /// How far ahead of real time outbound audio is sent. Default 100 ms.
    pub lead: Duration,
    /// Outbound frame length. Default 20 ms.
    pub frame: Duration,
    /// How long a platform-reported digit waits for the same key in-band before it is
    /// reported alone (stream time, or wall time if audio stops). Default 250 ms.
    pub platform_hold: Duration,
    /// How far apart a platform report and an in-band tone of the same key may be and
    /// still count as one keypress. Default 300 ms.
    pub dedupe_window: Duration,
    /// Longest gap filled with silence at once. Default 10 s.
    pub max_gap: Duration,
    /// Most outbound audio that may be queued. Default 10 min.
    pub max_queued_audio: Duration,
    /// Most participants (receivers) per call. Default 8.
    pub max_participants: usize,
    /// Timing and level of sent digits: a client's [`Command::SendDigits`] and
    /// `sendDtmfTones`. Default 70 ms on, 70 ms off, -10 dBm0 per frequency (ITU-T
    /// Q.23/Q.24 ranges).
    pub cadence: Cadence,
    /// Media operations ([`Command::Operation`]): DTMF buffering, default hold music,
    /// queue limit.
    pub operations: OperationsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dtmf: dtmf::Config::default(),
            lead: Duration::from_millis(100),
            frame: Duration::from_millis(20),
            platform_hold: Duration::from_millis(250),
            dedupe_window: Duration::from_millis(300),
            max_gap: Duration::from_secs(10),
            max_queued_audio: Duration::from_secs(600),
            max_participants: 8,
            cadence: Cadence {
                on: Duration::from_millis(70),
                off: Duration::from_millis(70),
                level_dbm0: -10.0,
            },
            operations: OperationsConfig::default(),
        }
    }
}

/// A media operation for the call.
///
/// [`Command::Operation`] carries the Call Automation operations (play, recognize,
/// continuous DTMF, send DTMF, hold, unhold, cancel all; see [`operations`]); their
/// results come back as [`EventKind::Operation`]. The other variants are the raw
/// dialect's requests, reported with the plain `play*`/`mark` events.
#[derive(Debug, Clone)]
pub enum Command {
    /// A Call Automation media operation. Refusals come back from
    /// [`Session::handle_command`]: [`Error::Conflict`] (412/8583),
    /// [`Error::InvalidArgument`] (400), [`Error::QueueFull`]; everything else is
    /// reported by events.
    Operation(Operation),
    /// Queue a prompt.
    Play {
        /// Id reported in the play events.
        id: String,
        /// The audio (converted to the stream rate if it is not at it).
        prompt: Prompt,
        /// Repeat until stopped.
        looped: bool,
    },
    /// Queue DTMF digits as audio.
    SendDigits {
        /// Id reported in the play events.
        id: String,
        /// The digits.
        digits: Vec<Digit>,
    },
    /// Drop queued and playing audio (barge-in).
    Stop,
    /// Report a `mark` event once the audio queued before it has played.
    Mark {
        /// Mark name.
        name: String,
    },
}

/// A wire frame to send on the call's socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

/// What [`Session::poll_output`] yields.
#[derive(Debug, Clone)]
pub enum Output {
    /// Send this frame.
    Transmit(Transmit),
    /// Report this event.
    Event(Event),
    /// Nothing more now; call [`Session::handle_timeout`] at this time (`None`: only
    /// when new input arrives).
    Timeout(Option<Duration>),
}

/// How a digit was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Seen {
    /// Detected in the audio.
    Inband,
    /// Reported by the platform only.
    Platform,
    /// Both.
    Both,
}

impl Seen {
    /// Every way a digit can be seen.
    pub const ALL: [Seen; 3] = [Seen::Inband, Seen::Platform, Seen::Both];

    /// Lower-case name, as serialized (`inband`, `platform`, `both`).
    pub fn as_str(self) -> &'static str {
        match self {
            Seen::Inband => "inband",
            Seen::Platform => "platform",
            Seen::Both => "both",
        }
    }
}

/// A digit, as first reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DigitEvent {
    /// The key, as a one-character string.
    #[serde(serialize_with = "digit_str")]
    pub digit: Digit,
    /// Per-call sequence number, gapless from 1.
    pub sequence_id: u64,
    /// Participant whose audio held the tone (ACS `participantRawID`, Twilio
    /// `outbound` track), if not the main stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participant: Option<Arc<str>>,
    /// Estimated onset, ms of stream time (platform-only: when the report arrived).
    pub start_ms: f64,
    /// Stream time when the digit was confirmed.
    pub detected_ms: f64,
    /// Mean tone level, dBm0 (in-band only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level_dbm0: Option<f32>,
    /// How it was seen.
    pub source: Seen,
}

fn digit_str<S: serde::Serializer>(d: &Digit, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 4];
    s.serialize_str(d.as_char().encode_utf8(&mut buf))
}

/// What an event says.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum EventKind {
    /// The stream started.
    #[serde(rename_all = "camelCase")]
    Started {
        /// Dialect of the socket.
        dialect: &'static str,
        /// Wire encoding.
        encoding: &'static str,
        /// Stream rate, Hz.
        sample_rate: u32,
        /// Platform stream id, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        stream_id: Option<String>,
    },
    /// A digit was pressed.
    Dtmf(DigitEvent),
    /// A digit reported by [`EventKind::Dtmf`] ended (in-band digits only).
    #[serde(rename_all = "camelCase")]
    DtmfEnd {
        /// The key.
        #[serde(serialize_with = "digit_str")]
        digit: Digit,
        /// The digit's sequence id.
        sequence_id: u64,
        /// Estimated release, ms of stream time.
        end_ms: f64,
        /// How it was seen, final (a platform report may have come since).
        source: Seen,
    },
    /// The first frame of an outbound item was sent.
    PlayStarted {
        /// Item id.
        id: Arc<str>,
    },
    /// The item has played out.
    PlayCompleted {
        /// Item id.
        id: Arc<str>,
    },
    /// The item was stopped before it played out.
    PlayCanceled {
        /// Item id.
        id: Arc<str>,
    },
    /// The audio queued before a mark has played.
    Mark {
        /// Mark name.
        name: Arc<str>,
    },
    /// A Call Automation media-operation event (serialised with `"type":"operation"`
    /// and `"event":"<name>"`).
    Operation(OperationEvent),
    /// Something went wrong that did not end the session.
    Error {
        /// Machine-readable code.
        code: &'static str,
        /// Human-readable detail.
        message: String,
    },
    /// The stream ended.
    Ended,
}

impl EventKind {
    /// The `type` the event serialises with (`started`, `dtmf`, ...): the SSE event
    /// name.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Started { .. } => "started",
            EventKind::Dtmf(_) => "dtmf",
            EventKind::DtmfEnd { .. } => "dtmfEnd",
            EventKind::PlayStarted { .. } => "playStarted",
            EventKind::PlayCompleted { .. } => "playCompleted",
            EventKind::PlayCanceled { .. } => "playCanceled",
            EventKind::Mark { .. } => "mark",
            EventKind::Operation(_) => "operation",
            EventKind::Error { .. } => "error",
            EventKind::Ended => "ended",
        }
    }
}

/// An event of one call.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The call.
    pub call_id: Arc<str>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
    /// The `now` of the input that caused the event (for latency measurement).
    #[serde(skip)]
    pub caused_at: Duration,
}

/// Why an input was refused. Fatal for [`Session::handle_frame`] (close the socket with
/// [`Error::close_code`]); for commands, only that command fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Audio, a digit or a command before the start frame.
    #[error("no start frame yet")]
    NotStarted,
    /// A second start frame with a different format.
    #[error("stream format changed mid-stream")]
    FormatChanged,
    /// The audio payload is not a whole number of samples.
    #[error("{len} bytes is not a whole number of {sample_size}-byte samples")]
    OddByteCount {
        /// Payload bytes.
        len: usize,
        /// Bytes per sample.
        sample_size: usize,
    },
    /// More participants than allowed.
    #[error("more than {0} participants")]
    TooManyParticipants(usize),
    /// The outbound queue would exceed its limit.
    #[error("outbound audio queue full")]
    QueueFull,
    /// The stream already ended.
    #[error("stream already ended")]
    Ended,
    /// No DTMF receiver could be built for the stream's rate.
    #[error("cannot analyse audio at this rate")]
    ReceiverUnavailable,
    /// The operation conflicts with one running or queued (HTTP 412, subCode 8583).
    #[error("the operation conflicts with a media operation already running or queued")]
    Conflict,
    /// A field of the operation is out of range or missing (HTTP 400).
    #[error("invalid value for {0}")]
    InvalidArgument(&'static str),
    /// A transcription request that does not fit the transcription's state (HTTP 400).
    #[error(transparent)]
    Transcription(#[from] transcription::Refusal),
}

impl Error {
    /// WebSocket close code that fits the error.
    pub fn close_code(self) -> u16 {
        match self {
            Error::OddByteCount { .. } => 1007,
            Error::ReceiverUnavailable => 1011,
            _ => 1008,
        }
    }

    /// Short machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            Error::NotStarted => "notStarted",
            Error::FormatChanged => "formatChanged",
            Error::OddByteCount { .. } => "oddByteCount",
            Error::TooManyParticipants(_) => "tooManyParticipants",
            Error::QueueFull => "queueFull",
            Error::Ended => "ended",
            Error::ReceiverUnavailable => "receiverUnavailable",
            Error::Conflict => "conflict",
            Error::InvalidArgument(_) => "invalidArgument",
            Error::Transcription(_) => "transcription",
        }
    }
}

/// One call's state machine. See the module docs.
pub struct Session {
    config: Arc<Config>,
    dialect: Dialect,
    call_id: Arc<str>,
    preset_call_id: bool,
    stream_id: Option<String>,
    format: Option<StreamFormat>,
    participants: Vec<Participant>,
    detector_events: Vec<dtmf::Event>,
    next_sequence_id: u64,
    recent: VecDeque<Recent>,
    /// Digits in `recent` whose `dtmfEnd` is not reported yet.
    ends_pending: usize,
    pending: VecDeque<Pending>,
    outputs: VecDeque<Output>,
    outbound: Option<Outbound>,
    ops: Operations,
    speech_jobs: VecDeque<speech::SpeechJob>,
    transcription: transcription::Transcription,
    now: Duration,
    ended: bool,
    /// The block features of inbound audio and the outbound frames' levels, while
    /// someone watches.
    features: Option<FeatureTap>,
}

impl Session {
    /// A session for a socket of `dialect`. `call_id` is the id known before the first
    /// frame (ACS: the `x-ms-call-connection-id` header); otherwise the start frame's
    /// call id is used, or `fallback_id`.
    pub fn new(
        config: impl Into<Arc<Config>>,
        dialect: Dialect,
        call_id: Option<String>,
        fallback_id: String,
    ) -> Session {
        let config = config.into();
        let preset_call_id = call_id.is_some();
        let ops = Operations::new(config.operations.clone());
        Session {
            config,
            dialect,
            call_id: Arc::from(call_id.unwrap_or(fallback_id)),
            preset_call_id,
            stream_id: None,
            format: None,
            participants: Vec::new(),
            detector_events: Vec::with_capacity(8),
            next_sequence_id: 1,
            recent: VecDeque::with_capacity(RECENT_KEPT),
            ends_pending: 0,
            pending: VecDeque::new(),
            outputs: VecDeque::new(),
            outbound: None,
            ops,
            speech_jobs: VecDeque::new(),
            transcription: transcription::Transcription::default(),
            now: Duration::ZERO,
            ended: false,
            features: None,
        }
    }

    /// The call id (final once the start frame has been handled).
    pub fn call_id(&self) -> &Arc<str> {
        &self.call_id
    }

    /// The requests of the continuous DTMF recognitions running now, in the order they
    /// started: what [`ContinuousDtmfRecognitionToneFailed`](crate::api::EventName)
    /// would fail if the stream were lost.
    pub fn continuous_recognitions(
        &self,
    ) -> impl Iterator<Item = &crate::api::model::OperationMeta> {
        self.ops.continuous()
    }

    /// The ids of the call's queued media operations (the running one first).
    pub fn queued_operations(&self) -> impl Iterator<Item = crate::player::OperationId> {
        self.ops.queued()
    }

    /// The operation events losing the stream now would produce: what another server
    /// sends for the call if this one dies with it.
    pub fn lost_events(&self) -> Vec<crate::api::model::OperationEvent> {
        self.ops.lost_events()
    }

    /// The `sequenceId` of the call's last ContinuousDtmfRecognitionToneReceived (0:
    /// none yet).
    pub fn continuous_sequence(&self) -> u64 {
        self.ops.tone_sequence()
    }

    /// Continues the call's continuous-DTMF `sequenceId`s after `last`, for a call that
    /// streamed elsewhere before this session (never goes back).
    pub fn resume_continuous_sequence(&mut self, last: u64) {
        self.ops.resume_tone_sequence(last);
    }

    /// The stream format, once started.
    pub fn format(&self) -> Option<StreamFormat> {
        self.format
    }

    /// The dialect.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Whether the stream has ended.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Participants heard so far (ACS `participantRawID`, Twilio track; `None`: the main
    /// stream), in the order first heard.
    pub fn participants(&self) -> impl Iterator<Item = Option<&str>> {
        self.participants.iter().map(|p| p.id.as_deref())
    }

    /// Turns the feature tap on or off (see [`features`]): on, every 4 ms block of
    /// inbound audio and every outbound frame sent leaves a record for
    /// [`Session::drain_features`]; off (the start),
    /// none is built. Turning it on again starts afresh.
    pub fn set_feature_tap(&mut self, on: bool) {
        match (on, self.features.is_some()) {
            (true, false) => self.features = Some(FeatureTap::new()),
            (false, true) => self.features = None,
            _ => {}
        }
    }

    /// Appends the block records gathered since the last drain to `out` (nothing while
    /// the tap is off); returns how many did not fit and were dropped.
    pub fn drain_features(&mut self, out: &mut Vec<u8>) -> u64 {
        self.features.as_mut().map_or(0, |tap| tap.drain(out))
    }

    /// How many participants have been heard.
    pub fn participant_count(&self) -> usize {
        self.participants.len()
    }

    /// Stream time so far (longest participant), in samples.
    pub fn position(&self) -> u64 {
        self.participants
            .iter()
            .map(|p| p.offset + p.position)
            .max()
            .unwrap_or(0)
    }

    fn advance(&mut self, now: Duration) {
        self.now = self.now.max(now);
        if !self.ended {
            // Operation timers that have passed fire before the new input counts.
            self.ops.handle_timeout(self.now);
            self.apply_ops();
        }
    }

    /// Carries out what the operations engine asked for.
    fn apply_ops(&mut self) {
        while let Some(action) = self.ops.pop_action() {
            match action {
                Action::Emit(e) => self.emit(EventKind::Operation(e)),
                Action::StopAudio => self.stop_outbound(),
                Action::Enqueue { id, audio, looped } => {
                    self.enqueue_operation_audio(id, audio, looped);
                }
                Action::Recognize(job) => self.speech_jobs.push_back(job),
            }
        }
    }

    /// Hands a reported digit to the operations engine.
    fn route_digit(&mut self, digit: Digit, participant: Option<Arc<str>>) {
        let participant = match self.dialect {
            // Twilio's only other track is our own outbound audio.
            Dialect::Twilio if participant.is_some() => return,
            Dialect::Acs => participant,
            _ => None,
        };
        self.ops.on_digit(self.now, digit, participant.as_ref());
        self.apply_ops();
    }

    /// Reports an event; a raw client also gets it on its socket, right after.
    fn emit(&mut self, kind: EventKind) {
        let event = Event {
            call_id: self.call_id.clone(),
            kind,
            caused_at: self.now,
        };
        let frame = (self.dialect == Dialect::Raw).then(|| proto::raw::event(&event));
        self.outputs.push_back(Output::Event(event));
        if let Some(frame) = frame {
            self.outputs
                .push_back(Output::Transmit(Transmit::Text(frame)));
        }
    }

    /// Reports a problem that does not end the session (a refused request, a prompt
    /// that could not be loaded) as an [`EventKind::Error`] event.
    pub fn report_error(&mut self, now: Duration, code: &'static str, message: String) {
        self.now = self.now.max(now);
        self.emit(EventKind::Error { code, message });
    }

    fn rate(&self) -> SampleRate {
        self.format.map_or(SampleRate::HZ_8000, |f| f.rate)
    }

    fn to_ms(&self, samples: f64) -> f64 {
        let ms = self.rate().samples_to_ms(samples);
        (ms * 1000.0).round() / 1000.0
    }

    /// Reports what is due at `self.now`: platform digits past their hold, digit ends,
    /// outbound frames within the lead and events whose audio has played.
    fn service(&mut self) {
        self.release_platform_digits();
        self.report_ends(false);
        self.send_due_audio();
    }

    /// Handles one parsed inbound frame. An error is fatal for the stream.
    pub fn handle_frame(&mut self, now: Duration, frame: Inbound<'_>) -> Result<(), Error> {
        self.advance(now);
        if self.ended {
            return Err(Error::Ended);
        }
        let result = match frame {
            Inbound::Start(start) => self.handle_start(start),
            Inbound::Audio(audio) => self.handle_audio(audio),
            Inbound::Digit { digit } => self.handle_platform_digit(digit),
            Inbound::Mark { name } => {
                self.handle_mark_echo(&name);
                Ok(())
            }
            Inbound::Stop => {
                self.finish();
                Ok(())
            }
            Inbound::Request(_) | Inbound::Ignored => Ok(()),
            Inbound::Unknown => {
                self.emit(EventKind::Error {
                    code: "unknownKind",
                    message: "frame of an unknown kind ignored".to_owned(),
                });
                Ok(())
            }
        };
        self.service();
        result
    }

    /// Handles a media operation. An error fails only this command.
    pub fn handle_command(&mut self, now: Duration, command: Command) -> Result<(), Error> {
        self.advance(now);
        if self.ended {
            return Err(Error::Ended);
        }
        let Some(format) = self.format else {
            return Err(Error::NotStarted);
        };
        let rate = format.rate;
        let max_queued = self.config.max_queued_audio.as_secs_f64() * f64::from(rate.hz());
        if let Command::Operation(Operation::Transcription(request)) = command {
            if let Some(e) = self.transcription.handle_request(request)? {
                self.emit(EventKind::Operation(e));
            }
            return Ok(());
        }
        if let Command::Operation(op) = command {
            let seconds = |p: &Prompt| p.len_samples() as f64 / f64::from(p.rate().hz());
            let ok = |s: &[LoadedSource]| {
                s.iter()
                    .filter_map(|s| s.as_ref().ok())
                    .map(seconds)
                    .sum::<f64>()
            };
            let length = match &op {
                Operation::Play(r) => ok(&r.sources),
                Operation::Recognize(r) => ok(&r.prompts),
                _ => 0.0,
            };
            if length * f64::from(rate.hz()) > max_queued {
                return Err(Error::QueueFull);
            }
            self.ops.submit(self.now, op)?;
            self.apply_ops();
            self.service();
            return Ok(());
        }
        let (owner, audio, looped) = match command {
            Command::Play { id, prompt, looped } => (id, Audio::Prompt(prompt), looped),
            Command::SendDigits { id, digits } => (id, Audio::Tones(digits), false),
            Command::Operation(_) => unreachable!("handled above"),
            Command::Stop => {
                self.stop_outbound();
                self.service();
                return Ok(());
            }
            Command::Mark { name } => {
                let out = self.outbound.as_mut().ok_or(Error::NotStarted)?;
                out.restart_if_idle(rate, self.now);
                out.player.enqueue_mark(Arc::from(name));
                self.service();
                return Ok(());
            }
        };
        let source = self.play_source(audio).map_err(|_| Error::QueueFull)?;
        let out = self.outbound.as_ref().ok_or(Error::NotStarted)?;
        if (out.player.queued_samples() + source.len_samples() as u64) as f64 > max_queued {
            return Err(Error::QueueFull);
        }
        self.enqueue(Owner::Client(Arc::from(owner)), source, looped);
        self.service();
        Ok(())
    }

    /// The next utterance to recognise (drain after every input, like
    /// [`Session::poll_output`]); its outcome goes to [`Session::handle_speech_outcome`].
    pub fn poll_speech_job(&mut self) -> Option<speech::SpeechJob> {
        self.speech_jobs.pop_front()
    }

    /// The recogniser's answer to the [`speech::SpeechJob`] `id`: completes or fails the
    /// recognize that asked (a stale answer is ignored).
    pub fn handle_speech_outcome(
        &mut self,
        now: Duration,
        id: u64,
        outcome: speech::SpeechOutcome,
    ) {
        self.advance(now);
        if self.ended {
            return;
        }
        self.ops.on_speech_outcome(self.now, id, outcome);
        self.apply_ops();
        self.service();
    }

    /// What the server must do for the call's live transcription next (drain after
    /// every input, like [`Session::poll_output`]); see [`transcription`].
    pub fn poll_transcription(&mut self) -> Option<transcription::TranscriptionOutput> {
        self.transcription.poll()
    }

    /// The server's word on the transcription `id` (its WebSocket connected, or
    /// failed): TranscriptionStarted or TranscriptionFailed.
    pub fn handle_transcription_status(
        &mut self,
        now: Duration,
        id: u64,
        status: transcription::TranscriptionStatus,
    ) {
        self.advance(now);
        if self.ended {
            return;
        }
        if let Some(e) = self.transcription.handle_status(id, status) {
            self.emit(EventKind::Operation(e));
        }
    }

    /// Handles the passing of time (call at the deadline from [`Output::Timeout`]).
    pub fn handle_timeout(&mut self, now: Duration) {
        self.advance(now);
        self.service();
    }

    /// Ends a stream that was lost rather than ended in order (dropped connection,
    /// timeout, error): running continuous recognitions fail, then as [`Self::finish`].
    pub fn lose(&mut self) {
        self.end(true);
    }

    /// Ends the stream as if the platform had said stop: flushes the receivers and
    /// pending platform digits and emits `ended`. Idempotent.
    pub fn finish(&mut self) {
        self.end(false);
    }

    fn end(&mut self, lost: bool) {
        if self.ended {
            return;
        }
        for index in 0..self.participants.len() {
            let mut events = std::mem::take(&mut self.detector_events);
            events.clear();
            self.participants[index]
                .receiver
                .flush(&mut |e| events.push(e));
            for event in events.drain(..) {
                self.handle_detector_event(index, event);
            }
            self.detector_events = events;
        }
        while let Some(p) = self.pending.pop_front() {
            self.emit_platform_only(p);
        }
        for r in self.recent.iter_mut() {
            if r.end.is_none() {
                r.end = Some(r.start);
            }
        }
        self.report_ends(true);
        if lost {
            self.ops.lose();
        }
        self.transcription.end();
        self.ops.end();
        self.apply_ops();
        if let Some(out) = self.outbound.as_mut() {
            let mut events = Vec::new();
            out.player.clear(&mut |e| events.push(e));
            let scheduled: Vec<_> = out.scheduled.drain(..).map(|(_, k)| k).collect();
            for due in scheduled {
                if let Due::Event(kind) = due {
                    self.emit(kind);
                }
            }
            for e in events {
                self.handle_player_event(e, Duration::ZERO);
            }
        }
        self.ended = true;
        self.emit(EventKind::Ended);
    }

    /// The next output. Drain until [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        if let Some(o) = self.outputs.pop_front() {
            return o;
        }
        Output::Timeout(self.deadline())
    }

    fn deadline(&self) -> Option<Duration> {
        if self.ended {
            return None;
        }
        let mut next: Option<Duration> = None;
        let mut consider = |t: Duration| next = Some(next.map_or(t, |n| n.min(t)));
        if let Some(p) = self.pending.front() {
            consider(p.due_time);
        }
        for r in self.unreported_ends().map(|i| &self.recent[i]) {
            if r.end.is_some() {
                consider(r.released_at + self.config.dedupe_window);
            }
        }
        if let (Some(out), Some(format)) = (&self.outbound, self.format) {
            if !out.player.is_idle() {
                let at = out.frame_time(format.rate, out.frames);
                consider(at.saturating_sub(self.config.lead));
            }
            if let Some((t, _)) = out.scheduled.front() {
                consider(*t);
            }
        }
        if let Some(t) = self.ops.deadline() {
            consider(t);
        }
        next
    }

    fn handle_start(&mut self, start: proto::Start) -> Result<(), Error> {
        if let Some(format) = self.format {
            return if format == start.format {
                Ok(())
            } else {
                Err(Error::FormatChanged)
            };
        }
        if !self.preset_call_id
            && let Some(id) = start.call_id.clone().or_else(|| start.stream_id.clone())
        {
            self.call_id = Arc::from(id);
        }
        self.stream_id = start.stream_id.clone();
        self.format = Some(start.format);
        let rate = start.format.rate;
        let frame_len = rate
            .ms_to_samples(self.config.frame.as_secs_f64() * 1000.0)
            .max(1);
        self.outbound = Some(Outbound {
            player: Player::new(rate),
            encoding: start.format.encoding,
            frame_len,
            samples: vec![0.0; frame_len],
            bytes: vec![0; player::encoded_len(start.format.encoding, frame_len)],
            epoch: self.now,
            frames: 0,
            scheduled: VecDeque::new(),
            awaiting_marks: VecDeque::new(),
        });
        self.emit(EventKind::Started {
            dialect: self.dialect.as_str(),
            encoding: match start.format.encoding {
                Encoding::S16le => "s16le",
                Encoding::Ulaw => "ulaw",
                Encoding::Alaw => "alaw",
            },
            sample_rate: rate.hz(),
            stream_id: start.stream_id,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests;
