//! One audio WebSocket: moves frames, commands and time into a [`Session`] and carries
//! its outputs to the socket, the event bus and the metrics.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::SinkExt;
use tokio::sync::mpsc;

use super::budget::TokenBucket;
use super::log_text::{Escaped, Secret};
use super::metrics::StreamCounters;
use super::{CallInfo, Control, Entry, State, StreamParams, prompts};
use tonegate_core::proto::{Dialect, Inbound, Parser, Request};
use tonegate_core::session::{
    Command, ContinuousDtmfRequest, Event, EventKind, Operation, OperationMeta, Output,
    RecognizeOptions, RecognizeRequest, Seen, Session, Tone, Transmit,
};

/// Longest wait for either side's close frame to go out or come in.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

enum Flow {
    Continue,
    /// Close the socket with this code and reason (after flushing the session).
    Close(u16, Cow<'static, str>),
    /// The peer is gone: flush the session, no close frame. `lost` unless the peer
    /// closed in order (close code 1000 or none).
    Gone {
        lost: bool,
    },
}

struct Conn {
    state: Arc<State>,
    socket: WebSocket,
    socket_id: u64,
    header_call_id: Option<String>,
    correlation_id: Option<String>,
    /// The only call this socket may stream, when its credential is limited to one.
    bound_call: Option<Arc<str>>,
    /// The call's own event destination: the start frame's `callbackUri`, else the
    /// socket URL's.
    callback_uri: Option<String>,
    /// What the socket URL's query set (its `callbackUri` already checked).
    params: StreamParams,
    /// Whether the upgrade passed a credential check: only then may the start frame
    /// name a callback URI.
    authenticated: bool,
    /// What the media-operation API sees of the call, once it started.
    info: Option<Arc<CallInfo>>,
    /// Participants in `info` (the session's count when last looked).
    participants_seen: usize,
    parser: Option<Parser>,
    session: Option<Session>,
    registered: Option<Arc<str>>,
    control_tx: mpsc::Sender<Control>,
    deadline: Option<Duration>,
    last_input: Duration,
    /// Inbound messages (`max_frames_per_second`, `max_frame_burst`).
    frames: TokenBucket,
    /// Inbound audio, in seconds of stream time (`max_audio_speed`,
    /// `max_audio_burst_ms`).
    audio: TokenBucket,
    label: &'static str,
    /// The traffic counters of `label`.
    counters: StreamCounters,
    next_request: u64,
    /// Raw requests not yet handed to the session, in order.
    requests: std::collections::VecDeque<Request>,
    /// A prompt is being loaded; later requests wait for it.
    loading: bool,
    /// The peer cannot be written to any more: outputs still go to the event bus and
    /// webhooks, nothing to the socket.
    peer_gone: bool,
}

pub(super) async fn run(
    state: Arc<State>,
    socket: WebSocket,
    dialect: Option<Dialect>,
    (header_call_id, correlation_id, bound_call): (
        Option<String>,
        Option<String>,
        Option<Arc<str>>,
    ),
    params: StreamParams,
    authenticated: bool,
) {
    let socket_id = state.next_socket.fetch_add(1, Ordering::SeqCst) as u64;
    let (control_tx, mut control_rx) = mpsc::channel(64);
    let now = state.now();
    let frame_burst = f64::from(state.config.max_frame_burst.max(1));
    let audio_burst = Duration::from_millis(state.config.max_audio_burst_ms).as_secs_f64();
    let mut conn = Conn {
        socket,
        socket_id,
        header_call_id,
        correlation_id,
        bound_call,
        callback_uri: None,
        params,
        authenticated,
        info: None,
        participants_seen: 0,
        parser: None,
        session: None,
        registered: None,
        control_tx,
        deadline: None,
        last_input: now,
        frames: TokenBucket::full(frame_burst, now),
        audio: TokenBucket::full(audio_burst, now),
        label: dialect.map_or("auto", Dialect::as_str),
        counters: state
            .metrics
            .stream_counters(dialect.map_or("auto", Dialect::as_str)),
        next_request: 1,
        requests: std::collections::VecDeque::new(),
        loading: false,
        peer_gone: false,
        state,
    };
    if let Some(d) = dialect {
        conn.start_session(d);
    }
    let mut shutdown = conn.state.shutdown.clone();
    let idle = Duration::from_millis(conn.state.config.idle_timeout_ms);
    loop {
        let idle_at = conn.last_input + idle;
        let wake = conn.deadline.map_or(idle_at, |d| d.min(idle_at));
        let wake = conn.state.instant(wake);
        let flow = tokio::select! {
            message = conn.socket.recv() => conn.on_message(message).await,
            Some(control) = control_rx.recv() => conn.on_control(control).await,
            _ = tokio::time::sleep_until(wake) => conn.on_timer().await,
            _ = super::shutting_down(&mut shutdown) => Flow::Close(1001, Cow::Borrowed("server shutting down")),
        };
        match flow {
            Flow::Continue => {}
            Flow::Close(code, reason) => {
                conn.close(code, reason).await;
                break;
            }
            Flow::Gone { lost } => {
                conn.peer_gone = true;
                conn.finish(lost).await;
                break;
            }
        }
    }
    if let Some(id) = conn.registered.take() {
        conn.state.registry.remove(&id, conn.socket_id);
    }
}

impl Conn {
    fn start_session(&mut self, dialect: Dialect) {
        self.label = dialect.as_str();
        self.counters = self.state.metrics.stream_counters(self.label);
        self.state
            .metrics
            .sessions_total
            .with_label_values(&[self.label])
            .inc();
        self.parser = Some(Parser::new(dialect));
        let fallback = format!(
            "{}-{}-{:08x}",
            dialect.as_str(),
            self.socket_id,
            rand::random::<u32>()
        );
        self.session = Some(Session::new(
            self.state.session_config.clone(),
            dialect,
            self.header_call_id.clone(),
            fallback,
        ));
    }

    fn dialect(&self) -> Option<Dialect> {
        self.parser.as_ref().map(Parser::dialect)
    }

    fn call_id(&self) -> Arc<str> {
        self.session
            .as_ref()
            .map_or_else(|| Arc::from("unknown"), |s| s.call_id().clone())
    }

    fn count_error(&self, code: &'static str) {
        self.state.metrics.errors.with_label_values(&[code]).inc();
    }

    /// Logs, counts and (raw dialect) reports a problem; returns the close flow.
    async fn refuse(&mut self, code: &'static str, close: u16, message: String) -> Flow {
        tracing::warn!(call_id = %Escaped(&self.call_id()), dialect = self.label, code, close, "{}", Escaped(&message));
        self.count_error(code);
        self.report_error(code, message.clone()).await;
        let mut reason = message;
        // Close reasons are limited to 123 bytes.
        while reason.len() > 120 {
            reason.pop();
        }
        Flow::Close(close, Cow::Owned(reason))
    }

    async fn report_error(&mut self, code: &'static str, message: String) {
        let event = Event {
            call_id: self.call_id(),
            kind: EventKind::Error { code, message },
            caused_at: self.state.now(),
        };
        if self.dialect() == Some(Dialect::Raw) {
            let json = serde_json::to_string(&event).unwrap_or_default();
            let _ = self.socket.send(Message::Text(json.into())).await;
        }
        let _ = self.state.events.send(Arc::new(event));
    }

    /// Takes one inbound message from the frame budget; `false` when over it.
    fn take_token(&mut self, now: Duration) -> bool {
        let rate = f64::from(self.state.config.max_frames_per_second);
        self.frames.take(now, rate, 1.0)
    }

    async fn on_message(&mut self, message: Option<Result<Message, axum::Error>>) -> Flow {
        let message = match message {
            None => return Flow::Gone { lost: true },
            Some(Err(e)) => {
                let text = e.to_string();
                // The transport refused a message over max_frame_bytes from its header
                // (its payload is never read).
                if text.contains("Message too long") {
                    let message = format!(
                        "message exceeds max_frame_bytes ({})",
                        self.state.config.max_frame_bytes
                    );
                    return self.refuse("frameTooLarge", 1009, message).await;
                }
                tracing::debug!(call_id = %Escaped(&self.call_id()), "socket error: {}", Escaped(&text));
                return Flow::Gone { lost: true };
            }
            Some(Ok(m)) => m,
        };
        let now = self.state.now();
        let (is_text, len) = match &message {
            Message::Text(t) => (true, t.len()),
            Message::Binary(b) => (false, b.len()),
            Message::Close(frame) => {
                // The transport queued the reply to the peer's close: send it before the
                // socket is dropped, so the peer sees an orderly close.
                let _ = tokio::time::timeout(CLOSE_WAIT, self.socket.flush()).await;
                let orderly = frame.as_ref().is_none_or(|f| f.code == 1000);
                return Flow::Gone { lost: !orderly };
            }
            Message::Ping(_) | Message::Pong(_) => return Flow::Continue,
        };
        self.last_input = now;
        self.counters.frames_in.inc();
        self.counters.bytes_in.inc_by(len as u64);
        if !self.take_token(now) {
            let message = format!(
                "flood: more than {} frames per second",
                self.state.config.max_frames_per_second
            );
            return self.refuse("flood", 1008, message).await;
        }
        if self.parser.is_none() {
            let Message::Text(text) = &message else {
                return self
                    .refuse(
                        "unexpectedBinary",
                        1003,
                        "the first frame on /media must be JSON text".to_owned(),
                    )
                    .await;
            };
            match Dialect::detect(text) {
                Some(d) => self.start_session(d),
                None => {
                    return self
                        .refuse(
                            "unknownDialect",
                            1007,
                            "cannot tell the dialect from the first frame".to_owned(),
                        )
                        .await;
                }
            }
        }
        let (Some(parser), Some(session)) = (self.parser.as_mut(), self.session.as_mut()) else {
            return Flow::Gone { lost: true };
        };
        let parsed = match &message {
            Message::Text(t) => parser.parse_text(t.as_str()),
            Message::Binary(b) => parser.parse_binary(b),
            _ => return Flow::Continue,
        };
        let _ = is_text;
        let frame = match parsed {
            Ok(f) => f,
            Err(e) => {
                let code = e.code();
                return self.refuse(code, e.close_code(), e.to_string()).await;
            }
        };
        if let Inbound::Audio(audio) = &frame
            && let Some(format) = session.format()
        {
            // Seconds of audio against a budget of max_audio_speed x real time for each
            // participant heard (unmixed ACS audio carries several at once).
            let samples = audio.payload.len() / format.encoding.bytes_per_sample();
            let seconds = samples as f64 / f64::from(format.rate.hz());
            let speed = f64::from(self.state.config.max_audio_speed);
            let rate = speed * session.participant_count().max(1) as f64;
            if !self.audio.take(now, rate, seconds) {
                let message = format!(
                    "audio arrives faster than {speed}x real time (max_audio_speed) \
                     beyond a burst of max_audio_burst_ms"
                );
                return self.refuse("audioFlood", 1008, message).await;
            }
        }
        let result = match frame {
            Inbound::Request(request) => {
                let request = request.clone();
                return self.on_request(request).await;
            }
            Inbound::Unknown => {
                tracing::warn!(call_id = %Escaped(session.call_id()), dialect = self.label, "ignoring a frame of unknown kind");
                self.state
                    .metrics
                    .errors
                    .with_label_values(&["unknownKind"])
                    .inc();
                session.handle_frame(now, Inbound::Unknown)
            }
            Inbound::Start(start) => {
                let named = match &start.callback_uri {
                    None => None,
                    Some(uri) => {
                        if let Err(why) = tonegate_core::api::check_http_url(uri) {
                            let message = format!("callbackUri {why}");
                            return self.refuse("badCallbackUri", 1007, message).await;
                        }
                        match super::socket_callback(&self.state, uri, self.authenticated) {
                            Ok(checked) => Some(checked),
                            Err(refusal) => {
                                let message = refusal.to_string();
                                return self.refuse("callbackRefused", 1008, message).await;
                            }
                        }
                    }
                };
                self.callback_uri = named.or_else(|| self.params.callback_uri.clone());
                session.handle_frame(now, Inbound::Start(start))
            }
            frame => session.handle_frame(now, frame),
        };
        self.note_participants();
        if let Err(e) = result {
            return self.refuse(e.code(), e.close_code(), e.to_string()).await;
        }
        if let Some(flow) = self.drain().await {
            return flow;
        }
        if self.session.as_ref().is_some_and(Session::is_ended) {
            return Flow::Close(1000, Cow::Borrowed("stream ended"));
        }
        Flow::Continue
    }

    /// Queues a raw request; requests are handled in order, each waiting for a prompt
    /// load before it.
    async fn on_request(&mut self, request: Request) -> Flow {
        if self.requests.len() >= 64 {
            return self
                .refuse("flood", 1008, "more than 64 requests pending".to_owned())
                .await;
        }
        self.requests.push_back(request);
        self.next_requests().await
    }

    async fn next_requests(&mut self) -> Flow {
        while !self.loading {
            let Some(request) = self.requests.pop_front() else {
                break;
            };
            if let Flow::Close(code, reason) = self.start_request(request).await {
                return Flow::Close(code, reason);
            }
        }
        Flow::Continue
    }

    async fn start_request(&mut self, request: Request) -> Flow {
        let Some(session) = self.session.as_ref() else {
            return Flow::Continue;
        };
        let Some(format) = session.format() else {
            self.report_error("notStarted", "send start before requests".to_owned())
                .await;
            return Flow::Continue;
        };
        let n = self.next_request;
        self.next_request += 1;
        let command = match request {
            Request::Play { id, file, looped } => {
                let id = id.unwrap_or_else(|| format!("play-{n}"));
                let state = self.state.clone();
                let control = self.control_tx.clone();
                self.loading = true;
                tokio::spawn(async move {
                    let message = match prompts::load(&state, file, format.rate).await {
                        Ok(prompt) => Control::Loaded(Command::Play { id, prompt, looped }),
                        Err(failure) => Control::LoadFailed { id, failure },
                    };
                    let _ = control.send(message).await;
                });
                return Flow::Continue;
            }
            Request::SendDigits { id, digits } => Command::SendDigits {
                id: id.unwrap_or_else(|| format!("digits-{n}")),
                digits,
            },
            Request::Stop => Command::Stop,
            Request::Mark { name } => Command::Mark { name },
            Request::Recognize {
                context,
                max_tones,
                stop_tones,
                initial_silence_ms,
                inter_tone_ms,
                buffering,
            } => {
                let defaults = RecognizeOptions::default();
                Command::Operation(Operation::Recognize(RecognizeRequest {
                    options: RecognizeOptions {
                        initial_silence_timeout: initial_silence_ms
                            .map_or(defaults.initial_silence_timeout, Duration::from_millis),
                        inter_tone_timeout: inter_tone_ms
                            .map_or(defaults.inter_tone_timeout, Duration::from_millis),
                        max_tones_to_collect: max_tones,
                        stop_tones: stop_tones.into_iter().map(Tone::from).collect(),
                        dtmf_buffering: buffering,
                        ..defaults
                    },
                    meta: OperationMeta {
                        operation_context: context,
                        callback_uri: None,
                    },
                    ..RecognizeRequest::default()
                }))
            }
            Request::ContinuousDtmf { context, on } => {
                let request = ContinuousDtmfRequest {
                    target_participant: None,
                    meta: OperationMeta {
                        operation_context: context,
                        callback_uri: None,
                    },
                };
                Command::Operation(if on {
                    Operation::StartContinuousDtmf(request)
                } else {
                    Operation::StopContinuousDtmf(request)
                })
            }
            Request::CancelAll => Command::Operation(Operation::CancelAll),
        };
        self.on_control(Control::Command(command)).await
    }

    async fn on_control(&mut self, control: Control) -> Flow {
        let now = self.state.now();
        match control {
            Control::Loaded(command) => {
                self.loading = false;
                let flow = Box::pin(self.on_control(Control::Command(command))).await;
                if let Flow::Continue = flow {
                    return Box::pin(self.next_requests()).await;
                }
                return flow;
            }
            Control::LoadFailed { id, failure } => {
                self.loading = false;
                let code = failure.code();
                tracing::warn!(call_id = %Escaped(&self.call_id()), code, "play not possible: {}", Escaped(&failure.to_string()));
                let message = format!("play {id}: {}", failure.public_message());
                self.report_error(code, message).await;
                return Box::pin(self.next_requests()).await;
            }
            Control::Request(command, reply) => {
                let result = match self.session.as_mut() {
                    Some(session) => session.handle_command(now, command),
                    None => Err(tonegate_core::session::Error::NotStarted),
                };
                let _ = reply.send(result);
            }
            Control::Command(command) => {
                let Some(session) = self.session.as_mut() else {
                    return Flow::Continue;
                };
                if let Err(e) = session.handle_command(now, command) {
                    tracing::warn!(call_id = %Escaped(session.call_id()), "command refused: {e}");
                    self.report_error(e.code(), e.to_string()).await;
                }
            }
        }
        self.drain().await.unwrap_or(Flow::Continue)
    }

    async fn on_timer(&mut self) -> Flow {
        let now = self.state.now();
        let idle = Duration::from_millis(self.state.config.idle_timeout_ms);
        if now >= self.last_input + idle {
            tracing::info!(call_id = %Escaped(&self.call_id()), "closing idle socket");
            self.count_error("idleTimeout");
            return Flow::Close(1001, Cow::Borrowed("idle timeout"));
        }
        if let Some(session) = self.session.as_mut() {
            session.handle_timeout(now);
        }
        self.drain().await.unwrap_or(Flow::Continue)
    }

    /// Carries the session's outputs away; `Some` when the socket must close.
    async fn drain(&mut self) -> Option<Flow> {
        loop {
            let Some(session) = self.session.as_mut() else {
                self.deadline = None;
                return None;
            };
            match session.poll_output() {
                Output::Timeout(deadline) => {
                    self.deadline = deadline;
                    return self.peer_gone.then_some(Flow::Gone { lost: true });
                }
                // Nobody to send audio to any more: only events still matter.
                Output::Transmit(_) if self.peer_gone => {}
                Output::Transmit(transmit) => {
                    let (message, len) = match transmit {
                        Transmit::Text(t) => {
                            let len = t.len();
                            (Message::Text(t.into()), len)
                        }
                        Transmit::Binary(b) => {
                            let len = b.len();
                            (Message::Binary(b.into()), len)
                        }
                    };
                    self.counters.frames_out.inc();
                    self.counters.bytes_out.inc_by(len as u64);
                    self.send_to_peer(message).await;
                }
                Output::Event(event) => {
                    if let Some(flow) = self.deliver(event).await {
                        return Some(flow);
                    }
                }
            }
        }
    }

    /// Writes to the socket unless the peer is gone; a failed write marks it gone.
    async fn send_to_peer(&mut self, message: Message) {
        if !self.peer_gone && self.socket.send(message).await.is_err() {
            self.peer_gone = true;
        }
    }

    /// Records new participants for the call properties (only when the count changes).
    fn note_participants(&mut self) {
        let (Some(session), Some(info)) = (self.session.as_ref(), self.info.as_ref()) else {
            return;
        };
        let count = session.participant_count();
        if count == self.participants_seen {
            return;
        }
        self.participants_seen = count;
        let mut seen = info.participants.lock().unwrap_or_else(|e| e.into_inner());
        *seen = session.participants().flatten().map(Arc::from).collect();
    }

    /// Registers the call this socket named in its start, unless its credential is for
    /// another call or another socket streams it: then the refusal's code and message.
    /// A refused socket's session is dropped unflushed, so nothing it did reaches the
    /// other call's events or webhooks.
    fn claim(
        &mut self,
        call_id: &Arc<str>,
        encoding: &'static str,
        stream_id: &Option<String>,
    ) -> Option<(&'static str, &'static str)> {
        let refusal = if self.bound_call.as_ref().is_some_and(|b| b != call_id) {
            ("callNotAuthorized", "the credential is for another call")
        } else {
            let dialect = self.dialect().unwrap_or(Dialect::Raw);
            let rate = self
                .session
                .as_ref()
                .and_then(|s| s.format())
                .map_or(tonegate_dsp::SampleRate::HZ_8000, |f| f.rate);
            let info = Arc::new(CallInfo {
                dialect,
                call_id: call_id.clone(),
                stream_id: stream_id.clone(),
                server_call_id: self.params.server_call_id.clone(),
                encoding,
                rate,
                correlation_id: self.correlation_id.clone(),
                callback_uri: self.callback_uri.clone(),
                participants: std::sync::Mutex::new(Vec::new()),
            });
            let entry = Entry {
                id: self.socket_id,
                dialect,
                control: self.control_tx.clone(),
                info: info.clone(),
            };
            if self.state.registry.insert(call_id.clone(), entry) {
                self.info = Some(info);
                self.registered = Some(call_id.clone());
                tracing::info!(call_id = %Escaped(call_id), dialect = dialect.as_str(), "stream started");
                return None;
            }
            ("duplicateCallId", "this call is already streaming")
        };
        self.session = None;
        Some(refusal)
    }

    async fn deliver(&mut self, event: Event) -> Option<Flow> {
        if let EventKind::Started {
            encoding,
            stream_id,
            ..
        } = &event.kind
            && let Some((code, message)) = self.claim(&event.call_id, encoding, stream_id)
        {
            return Some(self.refuse(code, 1008, message.to_owned()).await);
        }
        if self.dialect() == Some(Dialect::Raw) {
            let json = serde_json::to_string(&event).unwrap_or_default();
            self.send_to_peer(Message::Text(json.into())).await;
        }
        if let EventKind::Dtmf(digit) = &event.kind {
            let source = match digit.source {
                Seen::Inband => "inband",
                Seen::Platform => "platform",
                Seen::Both => "both",
            };
            self.state.metrics.digits.with_label_values(&[source]).inc();
            tracing::info!(
                call_id = %Escaped(&event.call_id),
                digit = %Secret { value: digit.digit.as_char(), reveal: self.state.config.log_digits },
                sequence_id = digit.sequence_id,
                start_ms = digit.start_ms,
                source,
                "digit"
            );
        }
        if let Some(info) = &self.info {
            super::api::on_session_event(&self.state, info, &event);
        }
        let inband = matches!(&event.kind, EventKind::Dtmf(d) if d.source != Seen::Platform);
        let caused_at = event.caused_at;
        let _ = self.state.events.send(Arc::new(event));
        if inband {
            let latency = self.state.now().saturating_sub(caused_at);
            self.state
                .metrics
                .event_latency
                .observe(latency.as_secs_f64());
        }
        None
    }

    /// Flushes the session (pending digits, `ended`) without a close frame; `lost`
    /// when the stream did not end in order.
    async fn finish(&mut self, lost: bool) {
        if let Some(session) = self.session.as_mut() {
            if lost {
                session.lose();
            } else {
                session.finish();
            }
        }
        let _ = self.drain().await;
        if let Some(id) = &self.registered {
            tracing::info!(call_id = %Escaped(id), "stream ended");
        }
    }

    /// Flushes the session, sends a close frame and waits briefly for the peer's.
    async fn close(&mut self, code: u16, reason: Cow<'static, str>) {
        self.finish(code != 1000).await;
        let frame = CloseFrame {
            code,
            reason: reason.as_ref().into(),
        };
        if self.peer_gone || self.socket.send(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        // Read until the peer's close (or CLOSE_WAIT) so the close frame is not lost to a
        // reset.
        let wait = tokio::time::sleep(CLOSE_WAIT);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                m = self.socket.recv() => match m {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
                _ = &mut wait => break,
            }
        }
    }
}
