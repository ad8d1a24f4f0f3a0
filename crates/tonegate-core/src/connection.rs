//! One audio socket in front of its [`Session`], sans IO: every decision the socket
//! task used to make with branches.
//!
//! A [`Connection`] takes the socket's messages ([`Connection::handle_message`]), the
//! outcome of prompt loads ([`Connection::handle_prompt`]), commands from the
//! media-operation API ([`Connection::handle_command`], [`Connection::submit`]) and
//! timer expiries ([`Connection::handle_timeout`]), each with `now` since the caller's
//! epoch. After every input, drain [`Connection::poll_output`] until
//! [`Output::Timeout`]. What it decides:
//!
//! - the dialect, from the path or else from the first frame (then the session
//!   exists; before, there is none);
//! - flood control: messages and seconds of audio against a [`Budget`];
//! - the idle timeout: one more deadline, measured from the peer's last message;
//! - the start frame's callback URI (its shape here, the server's policy through
//!   [`Host`]);
//! - the raw request queue: requests run in order, each after the prompt load before
//!   it, mapped to commands by [`session::request::map`];
//! - refusals: an error event (a raw client also gets it on the socket), then
//!   [`Output::Close`] with the close code.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::budget::{self, Budget};
use crate::player::Prompt;
use crate::proto::{self, Dialect, Inbound, Parser, Request};
use crate::session::request::{Load, Mapped};
use crate::session::speech::{SpeechJob, SpeechOutcome};
use crate::session::transcription::{TranscriptionOutput, TranscriptionStatus};
use crate::session::{self, Command, Event, EventKind, Session, Transmit};
use tonegate_dsp::SampleRate;

/// Settings of every audio socket.
#[derive(Debug, Clone)]
pub struct Config {
    /// The call's session (shared by every call: read on each frame, one copy stays
    /// in the cache).
    pub session: Arc<session::Config>,
    /// Flood control.
    pub budget: budget::Limits,
    /// Longest silence from the peer before the socket is closed with 1001 (server
    /// default 30 s).
    pub idle_timeout: Duration,
    /// Longest message the transport accepts, bytes (only quoted in the refusal of a
    /// longer one; the transport enforces it).
    pub max_frame_bytes: usize,
    /// Most raw requests waiting behind a prompt load. Default 64.
    pub max_pending_requests: usize,
}

/// Most raw requests waiting behind a prompt load, unless configured otherwise.
pub const MAX_PENDING_REQUESTS: usize = 64;

/// One message from the peer.
#[derive(Debug, Clone, Copy)]
pub enum Message<'a> {
    /// A text message.
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

/// What the server decides about a socket that the connection cannot: whether a
/// callback URI its start frame names may be used.
pub trait Host {
    /// Why a callback URI is refused.
    type Refusal: fmt::Display;

    /// Checks a well-formed http(s) `uri` against the server's policy; the URI to use.
    fn check_callback(&mut self, uri: &str) -> Result<String, Self::Refusal>;
}

/// Why a socket closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The stream ended in order.
    Ended,
    /// The peer was silent for the idle timeout.
    Idle,
    /// The input was refused; its error event (this code) went out before.
    Refused(&'static str),
}

/// Close the socket (then [`Connection::finish`] and drain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    /// WebSocket close code.
    pub code: u16,
    /// Close reason (at most 123 bytes, as the protocol allows).
    pub reason: String,
    /// Why.
    pub cause: Cause,
}

/// A prompt a raw `play` needs, to load and hand back with [`Connection::handle_prompt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptLoad {
    /// The play request.
    pub load: Load,
    /// The stream rate the prompt is wanted at.
    pub rate: SampleRate,
}

/// Why a prompt could not be loaded, as the client may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadFailure {
    /// Machine-readable code.
    pub code: &'static str,
    /// Message for the client (no server paths).
    pub message: String,
}

/// What [`Connection::poll_output`] yields.
#[derive(Debug, Clone)]
pub enum Output {
    /// Send this frame to the peer.
    Transmit(Transmit),
    /// Report this event.
    Event(Event),
    /// Load this prompt; later raw requests wait for it.
    Load(PromptLoad),
    /// Close the socket.
    Close(Close),
    /// Nothing more now; call [`Connection::handle_timeout`] at this time (`None`: the
    /// connection is closing).
    Timeout(Option<Duration>),
}

/// Longest close reason sent, bytes (the protocol allows 123).
const MAX_REASON_BYTES: usize = 120;

// The session is held inline, not boxed: a frame then reaches it, and the receivers
// behind it, without first waiting for a pointer to load from a cold cache line.
#[allow(clippy::large_enum_variant)]
enum Phase {
    /// No frame yet on a socket whose dialect comes from its first frame.
    Detecting,
    /// The dialect is known; the session runs.
    Streaming { parser: Parser, session: Session },
    /// The call was refused: its session was dropped unflushed.
    Refused(Dialect),
}

/// One audio socket's state. See the module docs.
pub struct Connection {
    config: Arc<Config>,
    phase: Phase,
    /// The call id known before the first frame, until the session takes it.
    preset_call_id: Option<String>,
    /// Makes the fallback call id unique: `<dialect>-<suffix>`.
    fallback_suffix: String,
    callback_uri: Option<String>,
    budget: Budget,
    last_input: Duration,
    requests: VecDeque<Request>,
    next_request: u64,
    loading: bool,
    outputs: VecDeque<Output>,
    closing: bool,
}

impl Connection {
    /// A socket opened at `now`, of `dialect` if its path named one. `call_id` is the id
    /// known before the first frame (ACS header); `fallback_suffix` makes the id of a
    /// call that names none unique; `callback_uri` is where its events go unless its
    /// start frame names another.
    pub fn new(
        config: impl Into<Arc<Config>>,
        dialect: Option<Dialect>,
        call_id: Option<String>,
        fallback_suffix: String,
        callback_uri: Option<String>,
        now: Duration,
    ) -> Connection {
        let config = config.into();
        let budget = Budget::new(config.budget, now);
        let mut connection = Connection {
            config,
            phase: Phase::Detecting,
            preset_call_id: call_id,
            fallback_suffix,
            callback_uri,
            budget,
            last_input: now,
            requests: VecDeque::new(),
            next_request: 1,
            loading: false,
            outputs: VecDeque::new(),
            closing: false,
        };
        if let Some(dialect) = dialect {
            connection.start(dialect);
        }
        connection
    }

    /// The dialect, once known.
    pub fn dialect(&self) -> Option<Dialect> {
        match &self.phase {
            Phase::Detecting => None,
            Phase::Streaming { parser, .. } => Some(parser.dialect()),
            Phase::Refused(dialect) => Some(*dialect),
        }
    }

    /// The session, while the call streams.
    pub fn session(&self) -> Option<&Session> {
        match &self.phase {
            Phase::Streaming { session, .. } => Some(session),
            _ => None,
        }
    }

    /// [`Session::resume_continuous_sequence`] of the call's session, while it streams.
    pub fn resume_continuous_sequence(&mut self, last: u64) {
        if let Phase::Streaming { session, .. } = &mut self.phase {
            session.resume_continuous_sequence(last);
        }
    }

    /// [`Session::set_feature_tap`] of the call's session, while it streams.
    pub fn set_feature_tap(&mut self, on: bool) {
        if let Phase::Streaming { session, .. } = &mut self.phase {
            session.set_feature_tap(on);
        }
    }

    /// [`Session::drain_features`] of the call's session, while it streams.
    pub fn drain_features(&mut self, out: &mut Vec<u8>) -> u64 {
        match &mut self.phase {
            Phase::Streaming { session, .. } => session.drain_features(out),
            _ => 0,
        }
    }

    /// The call id (`unknown` before the dialect is known or after a refusal).
    pub fn call_id(&self) -> Arc<str> {
        self.session()
            .map_or_else(|| Arc::from("unknown"), |s| s.call_id().clone())
    }

    /// Where the call's events go: the start frame's callback URI, else the one given
    /// to [`Connection::new`].
    pub fn callback_uri(&self) -> Option<&str> {
        self.callback_uri.as_deref()
    }

    fn start(&mut self, dialect: Dialect) {
        let fallback = format!("{}-{}", dialect.as_str(), self.fallback_suffix);
        let session = Session::new(
            Arc::clone(&self.config.session),
            dialect,
            self.preset_call_id.take(),
            fallback,
        );
        self.phase = Phase::Streaming {
            parser: Parser::new(dialect),
            session,
        };
    }

    /// Starts loading the state a message works on beyond the connection itself into the
    /// cache: each participant's record with its receiver (see `tonegate_dsp::cache`).
    /// The connection, with its session inline, is prefetched by its holder, with the
    /// rest of the holder's state. Call it when the socket wakes, before reading the
    /// message, so the loads overlap the read and the parse instead of following each
    /// other.
    pub fn prefetch_participants(&self) {
        if let Phase::Streaming { session, .. } = &self.phase {
            session.prefetch();
        }
    }

    /// Handles one message from the peer (ping and pong are not messages).
    pub fn handle_message(&mut self, now: Duration, message: Message<'_>, host: &mut impl Host) {
        if self.closing {
            return;
        }
        self.last_input = self.last_input.max(now);
        if let Err(flood) = self.budget.admit_message(now) {
            return self.refuse(now, flood.code(), flood.close_code(), flood.to_string());
        }
        if let Phase::Detecting = self.phase {
            let Message::Text(text) = message else {
                let message = "the first frame on /media must be JSON text";
                return self.refuse(now, "unexpectedBinary", 1003, message.to_owned());
            };
            match Dialect::detect(text) {
                Some(dialect) => self.start(dialect),
                None => {
                    let message = "cannot tell the dialect from the first frame";
                    return self.refuse(now, "unknownDialect", 1007, message.to_owned());
                }
            }
        }
        crate::scratch::with_bytes(|payload| self.handle_frame(now, message, host, payload));
    }

    /// Parses a message of a streaming socket, decoding its audio into `payload`, and
    /// hands the frame to the session.
    fn handle_frame(
        &mut self,
        now: Duration,
        message: Message<'_>,
        host: &mut impl Host,
        payload: &mut Vec<u8>,
    ) {
        let Phase::Streaming { parser, session } = &mut self.phase else {
            return;
        };
        let parsed = match message {
            Message::Text(text) => parser.parse_text(text, payload),
            Message::Binary(bytes) => parser.parse_binary(bytes),
        };
        let frame = match parsed {
            Ok(frame) => frame,
            Err(e) => return self.refuse(now, e.code(), e.close_code(), e.to_string()),
        };
        let result = match frame {
            Inbound::Request(request) => return self.queue_request(now, request),
            Inbound::Audio(audio) => {
                if let Some(format) = session.format() {
                    let samples = audio.payload.len() / format.encoding.bytes_per_sample();
                    let heard = session.participant_count();
                    if let Err(flood) = self.budget.admit_audio(now, samples, format.rate, heard) {
                        let code = flood.close_code();
                        return self.refuse(now, flood.code(), code, flood.to_string());
                    }
                }
                session.handle_frame(now, Inbound::Audio(audio))
            }
            Inbound::Start(start) => {
                if let Some(uri) = &start.callback_uri {
                    if let Err(why) = crate::api::check_http_url(uri) {
                        let message = format!("callbackUri {why}");
                        return self.refuse(now, "badCallbackUri", 1007, message);
                    }
                    match host.check_callback(uri) {
                        Ok(checked) => self.callback_uri = Some(checked),
                        Err(refusal) => {
                            let message = refusal.to_string();
                            return self.refuse(now, "callbackRefused", 1008, message);
                        }
                    }
                }
                session.handle_frame(now, Inbound::Start(start))
            }
            frame => session.handle_frame(now, frame),
        };
        let ended = session.is_ended();
        if let Err(e) = result {
            return self.refuse(now, e.code(), e.close_code(), e.to_string());
        }
        if ended {
            self.close(1000, "stream ended".to_owned(), Cause::Ended);
        }
    }

    /// The transport refused a message longer than `max_frame_bytes` (from its header,
    /// unread).
    pub fn handle_oversize(&mut self, now: Duration) {
        let message = format!(
            "message exceeds max_frame_bytes ({})",
            self.config.max_frame_bytes
        );
        self.refuse(now, "frameTooLarge", 1009, message);
    }

    /// Hands a loaded prompt (or why it could not be loaded) to the raw `play` that
    /// asked for it, then runs the requests that waited.
    pub fn handle_prompt(
        &mut self,
        now: Duration,
        load: Load,
        prompt: Result<Prompt, LoadFailure>,
    ) {
        self.loading = false;
        match prompt {
            Ok(prompt) => {
                let Load { id, looped, .. } = load;
                self.submit(now, Command::Play { id, prompt, looped });
            }
            Err(failure) => {
                let message = format!("play {}: {}", load.id, failure.message);
                self.report_error(now, failure.code, message);
            }
        }
        self.next_requests(now);
    }

    /// Hands a command to the session; a refusal is the caller's to report.
    pub fn handle_command(
        &mut self,
        now: Duration,
        command: Command,
    ) -> Result<(), session::Error> {
        match &mut self.phase {
            Phase::Streaming { session, .. } => session.handle_command(now, command),
            _ => Err(session::Error::NotStarted),
        }
    }

    /// The next utterance the session wants recognised (drain after every input).
    pub fn poll_speech_job(&mut self) -> Option<SpeechJob> {
        match &mut self.phase {
            Phase::Streaming { session, .. } => session.poll_speech_job(),
            _ => None,
        }
    }

    /// What the server must do for the call's live transcription next (drain after
    /// every input).
    pub fn poll_transcription(&mut self) -> Option<TranscriptionOutput> {
        match &mut self.phase {
            Phase::Streaming { session, .. } => session.poll_transcription(),
            _ => None,
        }
    }

    /// The server's word on the transcription `id`'s WebSocket.
    pub fn handle_transcription_status(
        &mut self,
        now: Duration,
        id: u64,
        status: TranscriptionStatus,
    ) {
        if let Phase::Streaming { session, .. } = &mut self.phase {
            session.handle_transcription_status(now, id, status);
        }
    }

    /// The recogniser's answer to a [`SpeechJob`].
    pub fn handle_speech_outcome(&mut self, now: Duration, id: u64, outcome: SpeechOutcome) {
        if let Phase::Streaming { session, .. } = &mut self.phase {
            session.handle_speech_outcome(now, id, outcome);
        }
    }

    /// Hands a command to the session; a refusal is reported as an error event.
    pub fn submit(&mut self, now: Duration, command: Command) {
        if let Err(e) = self.handle_command(now, command) {
            self.report_error(now, e.code(), e.to_string());
        }
    }

    /// Handles the passing of time: the idle timeout, then the session's timers.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.closing {
            return;
        }
        if now >= self.idle_deadline() {
            return self.close(1001, "idle timeout".to_owned(), Cause::Idle);
        }
        if let Phase::Streaming { session, .. } = &mut self.phase {
            session.handle_timeout(now);
        }
    }

    /// Refuses the call the session started (it is another's, or the credential is for
    /// another call): the session is dropped unflushed, so nothing it did reaches the
    /// call's events; an error event, then [`Output::Close`] with 1008.
    pub fn refuse_call(&mut self, now: Duration, code: &'static str, message: &str) {
        if let Some(dialect) = self.dialect() {
            self.phase = Phase::Refused(dialect);
        }
        self.refuse(now, code, 1008, message.to_owned());
    }

    /// Ends the session: in order (`lost` false) or lost (dropped connection, error,
    /// timeout). Its last events follow from [`Connection::poll_output`].
    pub fn finish(&mut self, lost: bool) {
        self.closing = true;
        if let Phase::Streaming { session, .. } = &mut self.phase {
            if lost {
                session.lose();
            } else {
                session.finish();
            }
        }
    }

    /// The next output. Drain until [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        let mut session_deadline = None;
        if let Phase::Streaming { session, .. } = &mut self.phase {
            match session.poll_output() {
                session::Output::Transmit(transmit) => return Output::Transmit(transmit),
                session::Output::Event(event) => return Output::Event(event),
                session::Output::Timeout(deadline) => session_deadline = deadline,
            }
        }
        if let Some(output) = self.outputs.pop_front() {
            return output;
        }
        if self.closing {
            return Output::Timeout(None);
        }
        let idle = self.idle_deadline();
        Output::Timeout(Some(session_deadline.map_or(idle, |d| d.min(idle))))
    }

    /// When the peer's silence reaches the idle timeout.
    fn idle_deadline(&self) -> Duration {
        self.last_input + self.config.idle_timeout
    }

    /// Queues a raw request; requests run in order, each after the prompt load before
    /// it.
    fn queue_request(&mut self, now: Duration, request: Request) {
        let max = self.config.max_pending_requests;
        if self.requests.len() >= max {
            return self.refuse(
                now,
                "flood",
                1008,
                format!("more than {max} requests pending"),
            );
        }
        self.requests.push_back(request);
        self.next_requests(now);
    }

    fn next_requests(&mut self, now: Duration) {
        while !self.loading && !self.closing {
            let Some(request) = self.requests.pop_front() else {
                break;
            };
            self.start_request(now, request);
        }
    }

    fn start_request(&mut self, now: Duration, request: Request) {
        let Some(format) = self.session().and_then(Session::format) else {
            return self.report_error(now, "notStarted", "send start before requests".to_owned());
        };
        let n = self.next_request;
        self.next_request += 1;
        match session::request::map(request, n) {
            Mapped::Load(load) => {
                self.loading = true;
                let rate = format.rate;
                self.outputs
                    .push_back(Output::Load(PromptLoad { load, rate }));
            }
            Mapped::Command(command) => self.submit(now, command),
        }
    }

    /// Reports a problem as an error event (a raw client also gets it on the socket).
    fn report_error(&mut self, now: Duration, code: &'static str, message: String) {
        let dialect = match &mut self.phase {
            Phase::Streaming { session, .. } => return session.report_error(now, code, message),
            Phase::Detecting => None,
            Phase::Refused(dialect) => Some(*dialect),
        };
        let event = Event {
            call_id: Arc::from("unknown"),
            kind: EventKind::Error { code, message },
            caused_at: now,
        };
        let frame = (dialect == Some(Dialect::Raw)).then(|| proto::raw::event(&event));
        self.outputs.push_back(Output::Event(event));
        if let Some(frame) = frame {
            self.outputs
                .push_back(Output::Transmit(Transmit::Text(frame)));
        }
    }

    /// Reports `message` as an error event, then closes with `code`.
    fn refuse(&mut self, now: Duration, error: &'static str, code: u16, message: String) {
        let mut reason = message.clone();
        while reason.len() > MAX_REASON_BYTES {
            reason.pop();
        }
        self.report_error(now, error, message);
        self.close(code, reason, Cause::Refused(error));
    }

    fn close(&mut self, code: u16, reason: String, cause: Cause) {
        if !self.closing {
            self.closing = true;
            self.outputs.push_back(Output::Close(Close {
                code,
                reason,
                cause,
            }));
        }
    }
}

#[cfg(test)]
mod tests;
