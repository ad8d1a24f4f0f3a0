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

pub mod operations;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::player::{self, Player, Prompt, Source as PlaySource};
use crate::proto::{self, Dialect, Inbound, StreamFormat};
use tonegate_dsp::SampleRate;
use tonegate_dsp::codec::Encoding;
use tonegate_dsp::dsp::tone::Cadence;
use tonegate_dsp::dsp::{Digit, dtmf};
use tonegate_dsp::receiver::Receiver;

use operations::{Action, Operations};
pub use operations::{
    ContinuousDtmfRequest, DtmfResult, HoldRequest, Operation, OperationEvent, OperationEventType,
    OperationMeta, PlayRequest, RecognizeOptions, RecognizeRequest, ResultInformation,
    SendDtmfTonesRequest, SourceFailure, Tone, UnholdRequest,
};

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
    /// Timing and level of digits sent with [`Command::SendDigits`].
    pub cadence: Cadence,
    /// Media operations ([`Command::Operation`]): DTMF buffering, send-DTMF cadence,
    /// default hold music, queue limit.
    pub operations: operations::Config,
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
            cadence: Cadence::default(),
            operations: operations::Config::default(),
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
        }
    }

    /// HTTP status the API layer answers a refused operation with.
    pub fn status(self) -> u16 {
        match self {
            Error::Conflict => 412,
            Error::InvalidArgument(_) => 400,
            Error::QueueFull => 429,
            Error::NotStarted | Error::Ended => 404,
            _ => 400,
        }
    }

    /// Call Automation sub-code (8583 for a conflict, else 0).
    pub fn sub_code(self) -> u32 {
        match self {
            Error::Conflict => 8583,
            _ => 0,
        }
    }

    /// The refusal as ACS result information (for the API layer's error body).
    pub fn result_information(self) -> ResultInformation {
        ResultInformation::new(self.status(), self.sub_code(), self.to_string())
    }
}

/// An event due when outbound audio has played.
#[derive(Debug, Clone)]
enum Due {
    /// Report this event.
    Event(EventKind),
    /// Tell the operations engine its audio `id` has played.
    Operation(Arc<str>),
}

struct Participant {
    id: Option<Arc<str>>,
    receiver: Receiver,
    /// Call position of this participant's first sample.
    offset: u64,
    /// Samples received (including filled gaps).
    position: u64,
    last_sequence: Option<u64>,
    last_frame_len: usize,
}

struct Recent {
    sequence_id: u64,
    digit: Digit,
    participant: usize,
    start: f64,
    end: Option<f64>,
    released_at: Duration,
    platform: bool,
    end_reported: bool,
}

struct Pending {
    digit: Digit,
    position: f64,
    due_time: Duration,
    caused_at: Duration,
}

/// Outbound state that exists once the format is known.
struct Outbound {
    player: Player,
    encoding: Encoding,
    frame_len: usize,
    samples: Vec<f32>,
    bytes: Vec<u8>,
    /// When the first frame since the outbound clock was last reset plays.
    epoch: Duration,
    /// Frames sent since `epoch`.
    frames: u64,
    /// PlayCompleted / Mark events due when their audio has played (ACS, raw).
    scheduled: VecDeque<(Duration, Due)>,
    /// Twilio marks sent and not yet echoed: (wire name, event when echoed).
    awaiting_marks: VecDeque<(String, Due)>,
}

impl Outbound {
    fn frame_time(&self, rate: SampleRate, frames: u64) -> Duration {
        let samples = frames * self.frame_len as u64;
        self.epoch + Duration::from_secs_f64(samples as f64 / f64::from(rate.hz()))
    }
}

/// One call's state machine. See the module docs.
pub struct Session {
    config: Config,
    dialect: Dialect,
    call_id: Arc<str>,
    preset_call_id: bool,
    stream_id: Option<String>,
    format: Option<StreamFormat>,
    participants: Vec<Participant>,
    decoded: Vec<f32>,
    detector_events: Vec<dtmf::Event>,
    next_sequence_id: u64,
    recent: VecDeque<Recent>,
    pending: VecDeque<Pending>,
    outputs: VecDeque<Output>,
    outbound: Option<Outbound>,
    ops: Operations,
    now: Duration,
    ended: bool,
}

const RECENT_KEPT: usize = 32;

impl Session {
    /// A session for a socket of `dialect`. `call_id` is the id known before the first
    /// frame (ACS: the `x-ms-call-connection-id` header); otherwise the start frame's
    /// call id is used, or `fallback_id`.
    pub fn new(
        config: Config,
        dialect: Dialect,
        call_id: Option<String>,
        fallback_id: String,
    ) -> Session {
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
            decoded: Vec::new(),
            detector_events: Vec::with_capacity(8),
            next_sequence_id: 1,
            recent: VecDeque::with_capacity(RECENT_KEPT),
            pending: VecDeque::new(),
            outputs: VecDeque::new(),
            outbound: None,
            ops,
            now: Duration::ZERO,
            ended: false,
        }
    }

    /// The call id (final once the start frame has been handled).
    pub fn call_id(&self) -> &Arc<str> {
        &self.call_id
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
            }
        }
    }

    fn enqueue_operation_audio(&mut self, id: Arc<str>, audio: operations::Audio, looped: bool) {
        let rate = self.rate();
        let cadence = self.ops.config().send_cadence;
        let now = self.now;
        let source = match audio {
            operations::Audio::Prompt(p) => PlaySource::Prompt(if p.rate() == rate {
                p
            } else {
                Prompt::from_samples(player::convert_rate(p.samples(), p.rate(), rate), rate)
            }),
            operations::Audio::Tones(digits) => match PlaySource::digits(&digits, cadence, rate) {
                Ok(s) => s,
                Err(_) => {
                    self.ops.on_audio_canceled(now, &id);
                    return;
                }
            },
        };
        let Some(out) = self.outbound.as_mut() else {
            return;
        };
        if out.player.is_idle() {
            out.epoch = out.frame_time(rate, out.frames).max(now);
            out.frames = 0;
        }
        out.player.enqueue(id, source, looped);
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

    fn emit(&mut self, kind: EventKind) {
        self.outputs.push_back(Output::Event(Event {
            call_id: self.call_id.clone(),
            kind,
            caused_at: self.now,
        }));
    }

    fn rate(&self) -> SampleRate {
        self.format.map_or(SampleRate::HZ_8000, |f| f.rate)
    }

    fn to_ms(&self, samples: f64) -> f64 {
        let ms = self.rate().samples_to_ms(samples);
        (ms * 1000.0).round() / 1000.0
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
        if let Command::Operation(op) = command {
            let seconds = |p: &Prompt| p.len_samples() as f64 / f64::from(p.rate().hz());
            let ok = |s: &[operations::PlaySource]| {
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
        let cadence = self.config.cadence;
        let out = self.outbound.as_mut().ok_or(Error::NotStarted)?;
        let (id, source, looped) = match command {
            Command::Play { id, prompt, looped } => {
                let prompt = if prompt.rate() == rate {
                    prompt
                } else {
                    Prompt::from_samples(
                        player::convert_rate(prompt.samples(), prompt.rate(), rate),
                        rate,
                    )
                };
                (id, PlaySource::Prompt(prompt), looped)
            }
            Command::SendDigits { id, digits } => {
                let source =
                    PlaySource::digits(&digits, cadence, rate).map_err(|_| Error::QueueFull)?;
                (id, source, false)
            }
            Command::Operation(_) => unreachable!("handled above"),
            Command::Stop => {
                self.stop_outbound();
                self.service();
                return Ok(());
            }
            Command::Mark { name } => {
                if out.player.is_idle() {
                    out.epoch = out.frame_time(rate, out.frames).max(self.now);
                    out.frames = 0;
                }
                out.player.enqueue_mark(Arc::from(name));
                self.service();
                return Ok(());
            }
        };
        let length = match &source {
            PlaySource::Prompt(p) => p.len_samples() as f64,
            PlaySource::Digits(d) => d.len_samples() as f64,
        };
        if out.player.queued_samples() as f64 + length > max_queued {
            return Err(Error::QueueFull);
        }
        if out.player.is_idle() {
            out.epoch = out.frame_time(rate, out.frames).max(self.now);
            out.frames = 0;
        }
        out.player.enqueue(Arc::from(id), source, looped);
        self.service();
        Ok(())
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
        for r in &self.recent {
            if r.end.is_some() && !r.end_reported {
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

    fn participant_index(
        &mut self,
        id: Option<&str>,
        timestamp: Option<u64>,
    ) -> Result<usize, Error> {
        if let Some(i) = self.participants.iter().position(|p| p.id.as_deref() == id) {
            return Ok(i);
        }
        if self.participants.len() >= self.config.max_participants {
            return Err(Error::TooManyParticipants(self.config.max_participants));
        }
        let rate = self.rate();
        let offset = match timestamp {
            Some(ms) if self.participants.is_empty() => {
                // Twilio's first timestamps are a few ms; align streams that start later.
                let s = rate.ms_to_samples(ms as f64) as u64;
                if s < rate.ms_to_samples(self.config.frame.as_secs_f64() * 1000.0) as u64 {
                    0
                } else {
                    s
                }
            }
            Some(ms) => rate.ms_to_samples(ms as f64) as u64,
            // Platforms send one frame per participant per 20 ms round: a new
            // participant's first frame belongs to the round the others' latest frames
            // started.
            None => self
                .participants
                .iter()
                .map(|p| (p.offset + p.position).saturating_sub(p.last_frame_len as u64))
                .max()
                .unwrap_or(0),
        };
        let receiver = Receiver::new(rate, self.config.dtmf.clone())
            .map_err(|_| Error::ReceiverUnavailable)?;
        self.participants.push(Participant {
            id: id.map(Arc::from),
            receiver,
            offset,
            position: 0,
            last_sequence: None,
            last_frame_len: 0,
        });
        Ok(self.participants.len() - 1)
    }

    fn handle_audio(&mut self, audio: proto::Audio<'_>) -> Result<(), Error> {
        let Some(format) = self.format else {
            return Err(Error::NotStarted);
        };
        let sample_size = format.encoding.bytes_per_sample();
        if !audio.payload.len().is_multiple_of(sample_size) {
            return Err(Error::OddByteCount {
                len: audio.payload.len(),
                sample_size,
            });
        }
        let count = audio.payload.len() / sample_size;
        let index = self.participant_index(audio.participant.as_deref(), audio.timestamp_ms)?;
        // Gap filling.
        let rate = format.rate;
        let max_gap = rate.ms_to_samples(self.config.max_gap.as_secs_f64() * 1000.0) as u64;
        let gap = {
            let p = &self.participants[index];
            let here = p.offset + p.position;
            if let Some(ms) = audio.timestamp_ms {
                let target = rate.ms_to_samples(ms as f64) as u64;
                let tolerance = (p.last_frame_len.max(count) as u64) / 2;
                if p.position > 0 && target > here + tolerance {
                    target - here
                } else {
                    0
                }
            } else if let (Some(seq), Some(last)) = (audio.sequence, p.last_sequence) {
                seq.saturating_sub(last + 1) * p.last_frame_len as u64
            } else {
                0
            }
        };
        if gap > 0 {
            self.feed_silence(index, gap.min(max_gap));
        }
        if self.decoded.len() < count {
            self.decoded.resize(count, 0.0);
        }
        let decoded = format
            .encoding
            .decode(audio.payload, &mut self.decoded[..count])
            .map_err(|_| Error::OddByteCount {
                len: audio.payload.len(),
                sample_size,
            })?;
        let p = &mut self.participants[index];
        p.last_sequence = audio.sequence.or(p.last_sequence);
        p.last_frame_len = count;
        self.feed(index, decoded, false);
        Ok(())
    }

    fn feed_silence(&mut self, index: usize, mut samples: u64) {
        const CHUNK: usize = 1_024;
        if self.decoded.len() < CHUNK {
            self.decoded.resize(CHUNK, 0.0);
        }
        while samples > 0 {
            let n = (samples as usize).min(CHUNK);
            self.feed(index, n, true);
            samples -= n as u64;
        }
    }

    /// Runs the first `count` samples of `self.decoded` (or silence) through a receiver.
    fn feed(&mut self, index: usize, count: usize, silence: bool) {
        if silence {
            self.decoded[..count].fill(0.0);
        }
        let mut events = std::mem::take(&mut self.detector_events);
        events.clear();
        let p = &mut self.participants[index];
        p.receiver
            .process(&self.decoded[..count], &mut |e| events.push(e));
        p.position += count as u64;
        for event in events.drain(..) {
            self.handle_detector_event(index, event);
        }
        self.detector_events = events;
    }

    fn handle_detector_event(&mut self, index: usize, event: dtmf::Event) {
        let offset = self.participants[index].offset as f64;
        match event {
            dtmf::Event::Pressed(k) => {
                let start = offset + k.start;
                let window = self.window_samples();
                let matched = self
                    .pending
                    .iter()
                    .position(|p| p.digit == k.digit && p.position + window >= start);
                let source = match matched {
                    Some(i) => {
                        self.pending.remove(i);
                        Seen::Both
                    }
                    None => Seen::Inband,
                };
                let sequence_id = self.take_sequence_id();
                if self.recent.len() == RECENT_KEPT {
                    self.recent.pop_front();
                }
                self.recent.push_back(Recent {
                    sequence_id,
                    digit: k.digit,
                    participant: index,
                    start,
                    end: None,
                    released_at: Duration::MAX,
                    platform: source == Seen::Both,
                    end_reported: false,
                });
                let event = DigitEvent {
                    digit: k.digit,
                    sequence_id,
                    participant: self.participants[index].id.clone(),
                    start_ms: self.to_ms(start),
                    detected_ms: self.to_ms(offset + k.detected as f64),
                    level_dbm0: Some((k.level_dbm0() * 10.0).round() / 10.0),
                    source,
                };
                let participant = event.participant.clone();
                self.emit(EventKind::Dtmf(event));
                self.route_digit(k.digit, participant);
            }
            dtmf::Event::Released { keypress, end } => {
                let start = offset + keypress.start;
                let now = self.now;
                if let Some(r) = self
                    .recent
                    .iter_mut()
                    .rev()
                    .find(|r| r.participant == index && r.start == start && r.end.is_none())
                {
                    r.end = Some(offset + end);
                    r.released_at = now;
                }
            }
        }
    }

    fn window_samples(&self) -> f64 {
        self.config.dedupe_window.as_secs_f64() * f64::from(self.rate().hz())
    }

    fn take_sequence_id(&mut self) -> u64 {
        let id = self.next_sequence_id;
        self.next_sequence_id += 1;
        id
    }

    fn handle_platform_digit(&mut self, digit: Digit) -> Result<(), Error> {
        if self.format.is_none() {
            return Err(Error::NotStarted);
        }
        let position = self.position() as f64;
        let window = self.window_samples();
        if let Some(r) = self.recent.iter_mut().rev().find(|r| {
            r.digit == digit
                && !r.platform
                && r.start - window <= position
                && r.end.is_none_or(|end| position <= end + window)
        }) {
            r.platform = true;
            return Ok(());
        }
        self.pending.push_back(Pending {
            digit,
            position,
            due_time: self.now + self.config.platform_hold,
            caused_at: self.now,
        });
        Ok(())
    }

    fn emit_platform_only(&mut self, p: Pending) {
        let sequence_id = self.take_sequence_id();
        let ms = self.to_ms(p.position);
        let saved = self.now;
        self.now = p.caused_at;
        self.emit(EventKind::Dtmf(DigitEvent {
            digit: p.digit,
            sequence_id,
            participant: None,
            start_ms: ms,
            detected_ms: ms,
            level_dbm0: None,
            source: Seen::Platform,
        }));
        self.now = saved;
        self.route_digit(p.digit, None);
    }

    /// Emits `dtmfEnd` for released digits whose dedupe window has passed.
    fn report_ends(&mut self, all: bool) {
        let position = self.position() as f64;
        let window = self.window_samples();
        let window_time = self.config.dedupe_window;
        let now = self.now;
        let mut ready = Vec::new();
        for r in self.recent.iter_mut() {
            if let (Some(end), false) = (r.end, r.end_reported)
                && (all
                    || r.platform
                    || position >= end + window
                    || now >= r.released_at + window_time)
            {
                r.end_reported = true;
                let source = if r.platform { Seen::Both } else { Seen::Inband };
                ready.push((r.digit, r.sequence_id, end, source));
            }
        }
        for (digit, sequence_id, end, source) in ready {
            let end_ms = self.to_ms(end);
            self.emit(EventKind::DtmfEnd {
                digit,
                sequence_id,
                end_ms,
                source,
            });
        }
    }

    fn handle_mark_echo(&mut self, name: &str) {
        let Some(out) = self.outbound.as_mut() else {
            return;
        };
        if let Some(i) = out.awaiting_marks.iter().position(|(n, _)| n == name) {
            // Marks come back in order; anything before this one has played too.
            let done: Vec<_> = out.awaiting_marks.drain(..=i).map(|(_, k)| k).collect();
            for due in done {
                self.handle_due(due);
            }
        }
    }

    fn stop_outbound(&mut self) {
        let Some(out) = self.outbound.as_mut() else {
            return;
        };
        let mut events = Vec::new();
        out.player.clear(&mut |e| events.push(e));
        let mut kinds: Vec<Due> = Vec::new();
        for (_, due) in out.scheduled.drain(..).chain(
            out.awaiting_marks
                .drain(..)
                .map(|(_, k)| (Duration::ZERO, k)),
        ) {
            kinds.push(match due {
                Due::Event(EventKind::PlayCompleted { id }) => {
                    Due::Event(EventKind::PlayCanceled { id })
                }
                other => other,
            });
        }
        out.epoch = self.now;
        out.frames = 0;
        let stop = match self.dialect {
            Dialect::Acs => proto::acs::stop_audio(),
            Dialect::Twilio => proto::twilio::clear(self.stream_id.as_deref().unwrap_or("")),
            Dialect::Raw => r#"{"type":"stopAudio"}"#.to_owned(),
        };
        self.outputs
            .push_back(Output::Transmit(Transmit::Text(stop)));
        for due in kinds {
            match due {
                Due::Event(kind) => self.emit(kind),
                Due::Operation(id) => {
                    self.ops.on_audio_canceled(self.now, &id);
                }
            }
        }
        for e in events {
            self.handle_player_event(e, Duration::ZERO);
        }
        self.apply_ops();
    }

    /// Reports an event whose audio has played.
    fn handle_due(&mut self, due: Due) {
        match due {
            Due::Event(kind) => self.emit(kind),
            Due::Operation(id) => {
                self.ops.on_audio_played(self.now, &id);
                self.apply_ops();
            }
        }
    }

    fn handle_player_event(&mut self, event: player::Event, frame_at: Duration) {
        let rate = self.rate();
        let at = |offset: usize| {
            frame_at + Duration::from_secs_f64(offset as f64 / f64::from(rate.hz()))
        };
        let twilio = self.dialect == Dialect::Twilio;
        match event {
            player::Event::Started { id } if Operations::owns(&id) => {
                self.ops.on_audio_started(&id);
                self.apply_ops();
            }
            player::Event::Canceled { id } if Operations::owns(&id) => {
                self.ops.on_audio_canceled(self.now, &id);
                self.apply_ops();
            }
            player::Event::Finished { id, offset } if Operations::owns(&id) => {
                let due = Due::Operation(id.clone());
                self.after_played(twilio, format!("play:{id}"), due, at(offset));
            }
            player::Event::Started { id } => self.emit(EventKind::PlayStarted { id }),
            player::Event::Canceled { id } => self.emit(EventKind::PlayCanceled { id }),
            player::Event::Finished { id, offset } => {
                let kind = Due::Event(EventKind::PlayCompleted { id: id.clone() });
                self.after_played(twilio, format!("play:{id}"), kind, at(offset));
            }
            player::Event::Mark { name, offset } => {
                let kind = EventKind::Mark { name: name.clone() };
                if frame_at == Duration::ZERO {
                    // Dropped by a stop: report at once.
                    self.emit(kind);
                } else {
                    let due = Due::Event(kind);
                    self.after_played(twilio, format!("mark:{name}"), due, at(offset));
                }
            }
        }
    }

    fn after_played(&mut self, twilio: bool, wire_name: String, kind: Due, due: Duration) {
        let stream_sid = self.stream_id.clone().unwrap_or_default();
        let Some(out) = self.outbound.as_mut() else {
            return;
        };
        if twilio {
            self.outputs
                .push_back(Output::Transmit(Transmit::Text(proto::twilio::mark(
                    &stream_sid,
                    &wire_name,
                ))));
            out.awaiting_marks.push_back((wire_name, kind));
        } else {
            out.scheduled.push_back((due, kind));
        }
    }

    /// Sends due outbound frames, reports due events.
    fn service(&mut self) {
        let now = self.now;
        // Platform digits whose hold has passed.
        let position = self.position() as f64;
        let hold = self.config.platform_hold.as_secs_f64() * f64::from(self.rate().hz());
        while let Some(p) = self.pending.front() {
            if now >= p.due_time || position >= p.position + hold {
                let p = self.pending.pop_front().expect("front exists");
                self.emit_platform_only(p);
            } else {
                break;
            }
        }
        self.report_ends(false);
        let Some(format) = self.format else {
            return;
        };
        let lead = self.config.lead;
        loop {
            let Some(out) = self.outbound.as_mut() else {
                return;
            };
            if out.player.is_idle() {
                break;
            }
            let frame_at = out.frame_time(format.rate, out.frames);
            if frame_at > now + lead {
                break;
            }
            let mut events = Vec::new();
            let written = out.player.fill(&mut out.samples, &mut |e| events.push(e));
            if written == 0 {
                // Only marks were left: report them, send no frame of silence.
                for e in events {
                    self.handle_player_event(e, frame_at.max(Duration::from_nanos(1)));
                }
                continue;
            }
            let n = out
                .encoding
                .encode(&out.samples, &mut out.bytes)
                .unwrap_or(0);
            out.frames += 1;
            let transmit = match self.dialect {
                Dialect::Acs => Transmit::Text(proto::acs::audio_frame(&out.bytes[..n])),
                Dialect::Twilio => Transmit::Text(proto::twilio::media(
                    self.stream_id.as_deref().unwrap_or(""),
                    &out.bytes[..n],
                )),
                Dialect::Raw => Transmit::Binary(out.bytes[..n].to_vec()),
            };
            // Started precedes the frame; completions follow it.
            let (before, after): (Vec<_>, Vec<_>) = events
                .into_iter()
                .partition(|e| matches!(e, player::Event::Started { .. }));
            for e in before {
                self.handle_player_event(e, frame_at);
            }
            self.outputs.push_back(Output::Transmit(transmit));
            for e in after {
                self.handle_player_event(e, frame_at.max(Duration::from_nanos(1)));
            }
        }
        if let Some(out) = self.outbound.as_mut() {
            let mut due = Vec::new();
            while let Some((t, _)) = out.scheduled.front() {
                if *t <= now {
                    due.push(out.scheduled.pop_front().expect("front exists").1);
                } else {
                    break;
                }
            }
            for kind in due {
                self.handle_due(kind);
            }
        }
    }
}
