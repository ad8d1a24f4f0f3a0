//! One audio WebSocket, in the shape of mini-redis's `Handler`: a loop over the
//! socket, the call's control channel, the connection's deadline and shutdown feeds a
//! sans-IO [`Connection`] and carries what it outputs to the socket, the event bus, the
//! registry, the metrics and the logs. Every decision with branches is the
//! connection's (see `tonegate_core::connection`).

mod gate;

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use self::gate::Gate;
use super::cluster::{Claim, ClaimRefusal};
use super::log_text::{Escaped, Secret};
use super::metrics::StreamCounters;
use super::registry::{CallInfo, ClaimError, Control};
use super::{Config, State, StreamParams, callback_policy, prompts};
use tonegate_core::connection::{self, Cause, Connection, Host, LoadFailure, PromptLoad};
use tonegate_core::proto::Dialect;
use tonegate_core::session::speech::{SpeechJob, SpeechOutcome};
use tonegate_core::session::{Event, EventKind, Seen, Transmit};

/// Audio sockets' read and write buffers, bytes: room for one 20 ms frame of ACS JSON up
/// to 24 kHz (about 1.1 KB at 16 kHz, 1.5 KB at 24 kHz), Twilio, or raw binary up to
/// 48 kHz; a larger message takes more reads and grows the read buffer to its size, up
/// to [`Config::max_frame_bytes`]. tungstenite zero-fills the free part of the read buffer
/// before every read, so each KiB here costs a memset per frame as well as memory per
/// call (8 KiB measured 7 % of the server's CPU at 500 calls; 2 KiB against 4 KiB, A/B
/// at 1,000 16 kHz calls, about 4 % less CPU).
const WS_BUFFER_BYTES: usize = 2 << 10;

/// Longest wait for either side's close frame to go out or come in.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Commands and prompt loads waiting for one socket's task.
const CONTROL_QUEUE: usize = 64;

/// The transport settings of every audio socket, in one place. Messages longer than
/// `max_frame_bytes` are refused from their frame header, before the payload is read.
pub(super) fn configure(upgrade: WebSocketUpgrade, config: &Config) -> WebSocketUpgrade {
    upgrade
        .max_message_size(config.max_frame_bytes)
        .max_frame_size(config.max_frame_bytes)
        .read_buffer_size(WS_BUFFER_BYTES)
        .write_buffer_size(WS_BUFFER_BYTES)
}

/// What the upgrade established about the peer.
pub(super) struct Peer {
    /// The ACS `x-ms-call-connection-id` header.
    pub(super) call_id: Option<String>,
    /// The ACS `x-ms-call-correlation-id` header.
    pub(super) correlation_id: Option<String>,
    /// The only call this socket may stream, when its credential is limited to one.
    pub(super) bound_call: Option<Arc<str>>,
    /// What the socket URL's query set (its `callbackUri` already checked).
    pub(super) params: StreamParams,
    /// Whether the upgrade passed a credential check: only then may the start frame
    /// name a callback URI.
    pub(super) authenticated: bool,
}

/// How the socket ends.
enum End {
    /// Close with this code and reason (after flushing the session).
    Close(u16, String),
    /// The peer is gone: flush the session, no close frame. `lost` unless the peer
    /// closed in order.
    Gone { lost: bool },
    /// The peer sent a close frame: send the transport's queued reply, then as `Gone`.
    PeerClosed { orderly: bool },
}

struct Handler {
    state: Arc<State>,
    socket: WebSocket,
    socket_id: u64,
    conn: Connection,
    peer: Peer,
    control_tx: mpsc::Sender<Box<Control>>,
    /// What the media-operation API sees of the call, once it is registered.
    info: Option<Arc<CallInfo>>,
    /// This node's ownership of the call in a cluster, once it is registered.
    claim: Option<Claim>,
    /// The continuous recognitions last written to the call's cluster record.
    orphans_seen: Vec<tonegate_core::api::model::OperationMeta>,
    /// The continuous-DTMF `sequenceId` last written to the call's cluster record.
    sequence_seen: u64,
    /// The queued operations last written to the call's cluster record.
    queued_seen: Vec<tonegate_core::player::OperationId>,
    /// Participants in `info` (the session's count when last looked).
    participants_seen: usize,
    /// The dialect's metric label (`auto` until it is known).
    label: &'static str,
    /// The traffic counters of `label`.
    counters: StreamCounters,
    /// The peer cannot be written to any more: outputs still go to the event bus and
    /// webhooks, nothing to the socket.
    peer_gone: bool,
    /// The call's feature stream for the monitor, once it is registered.
    tap: Option<Arc<super::monitor::Tap>>,
    /// Whether the session's feature tap is on (someone watched when the tap last woke
    /// the task).
    tapping: bool,
    /// Wakes the task and opens its gate of seldom-ready inputs (given to the tap, which
    /// wakes it when a watcher arrives or leaves).
    gate_waker: std::task::Waker,
    /// Block records drained from the session, reused.
    features: Vec<u8>,
    /// The call's live transcription, while one runs.
    transcription: super::transcription::Links,
}

/// Serves one audio socket until it closes.
pub(super) async fn run(
    state: Arc<State>,
    socket: WebSocket,
    dialect: Option<Dialect>,
    mut peer: Peer,
) {
    let socket_id = state.next_socket.fetch_add(1, Ordering::SeqCst) as u64;
    let (control_tx, mut control_rx) = mpsc::channel(CONTROL_QUEUE);
    let conn = Connection::new(
        state.connection_config.clone(),
        dialect,
        peer.call_id.take(),
        format!("{socket_id}-{:08x}", rand::random::<u32>()),
        peer.params.callback_uri.clone(),
        state.now(),
    );
    let mut shutdown = state.shutdown.clone();
    let mut fence = state.cluster.fence();
    let counters = state.metrics.stream_counters("auto");
    // The inputs other than the socket are polled behind a gate, only when one of them
    // woke the task (see `gate`): a frame polls the socket and one atomic flag.
    let mut gate = Gate::new();
    let mut h = Handler {
        state,
        socket,
        socket_id,
        conn,
        peer,
        control_tx,
        info: None,
        claim: None,
        orphans_seen: Vec::new(),
        sequence_seen: 0,
        queued_seen: Vec::new(),
        participants_seen: 0,
        label: "auto",
        counters,
        peer_gone: false,
        tap: None,
        tapping: false,
        gate_waker: gate.waker(),
        features: Vec::new(),
        transcription: Default::default(),
    };
    h.note_dialect();
    // One shutdown wait, one fence wait and one timer for the socket's life, not one of
    // each per message: creating them registers with the shared signals and the timer
    // wheel, and dropping them unregisters (locks shared by every call, per frame).
    let shutdown = super::shutting_down(&mut shutdown);
    tokio::pin!(shutdown);
    let fenced = super::shutting_down(&mut fence);
    tokio::pin!(fenced);
    let timer = tokio::time::sleep_until(h.state.instant(Duration::ZERO));
    tokio::pin!(timer);
    // Whether the timer holds one of the connection's deadlines (not only the placeholder).
    let mut armed = false;
    // Whether the timer fired since it was last set (kept here: reading the timer's own
    // state costs one more cold cache line per message).
    let mut fired = true;
    let end = loop {
        let deadline = match h.drain().await {
            Ok(deadline) => deadline,
            Err(end) => break end,
        };
        if let Some(deadline) = deadline {
            let wake = h.state.instant(deadline);
            // Every message moves the idle deadline later: the timer is left where it
            // is then, fires early at worst (the connection checks what is due), and is
            // set again after. Only an earlier deadline moves it.
            if !armed || fired || wake < timer.deadline() {
                timer.as_mut().reset(wake);
                fired = false;
                gate.open();
            }
        }
        armed = deadline.is_some();
        // The socket before the timer, so the idle timeout measures the peer's silence,
        // not the server's lateness; the stop signals first of all.
        let woke = poll_fn(|cx| {
            // Most wakes are a frame: its call's state loads while the socket is read.
            h.prefetch();
            tonegate_dsp::cache::prefetch(&*timer);
            let opened = gate.take(cx);
            if opened {
                let mut group = gate.context();
                if shutdown.as_mut().poll(&mut group).is_ready() {
                    return Poll::Ready(Woke::Stop("server shutting down"));
                }
                if fenced.as_mut().poll(&mut group).is_ready() {
                    return Poll::Ready(Woke::Stop("node fenced: lost contact with the cluster"));
                }
            }
            if let Poll::Ready(message) = h.socket.poll_next_unpin(cx) {
                if opened {
                    // The rest of the group waits for the next turn.
                    gate.open();
                }
                return Poll::Ready(Woke::Message(message));
            }
            if !opened {
                return Poll::Pending;
            }
            let mut group = gate.context();
            let woke = if let Poll::Ready(Some(control)) = control_rx.poll_recv(&mut group) {
                Woke::Control(control)
            } else if h.tap.as_ref().is_some_and(|tap| tap.watched() != h.tapping) {
                Woke::Watchers
            } else if deadline.is_some() && timer.as_mut().poll(&mut group).is_ready() {
                Woke::Timer
            } else {
                return Poll::Pending;
            };
            // Another of the group (or the same channel) may be ready as well.
            gate.open();
            Poll::Ready(woke)
        })
        .await;
        match woke {
            Woke::Stop(why) => break End::Close(1001, why.to_owned()),
            Woke::Message(message) => {
                if let Some(end) = h.on_message(message) {
                    break end;
                }
            }
            Woke::Control(control) => h.on_control(*control),
            Woke::Watchers => h.switch_features(),
            Woke::Timer => {
                fired = true;
                h.conn.handle_timeout(h.state.now());
            }
        }
    };
    // Boxed, as the claim below: each call's task holds its future for the call's whole
    // life, sized for the largest state it can be in. The socket's end and the claim in
    // the cluster run once per call; inline they made it 15.6 KB, boxed 4.3 KB.
    Box::pin(h.end(end)).await;
}

/// What woke the socket task.
enum Woke {
    /// The server shuts down or the node was fenced: close with this reason.
    Stop(&'static str),
    /// A message from the peer (or the end of the socket).
    Message(Option<Result<Message, axum::Error>>),
    /// A message from the API or a background job.
    Control(Box<Control>),
    /// A monitor watcher arrived or left.
    Watchers,
    /// One of the connection's deadlines is due.
    Timer,
}

/// The server's callback policy for the URI a start frame names.
struct CallbackCheck<'a> {
    state: &'a State,
    authenticated: bool,
}

impl Host for CallbackCheck<'_> {
    type Refusal = callback_policy::Refusal;

    fn check_callback(&mut self, uri: &str) -> Result<String, callback_policy::Refusal> {
        super::upgrade::socket_callback(self.state, uri, self.authenticated)
    }
}

/// Whether the transport refused a message for its size (over `max_frame_bytes`).
fn is_oversize(error: axum::Error) -> bool {
    use tungstenite::error::{CapacityError, Error};
    matches!(
        error.into_inner().downcast_ref::<Error>(),
        Some(Error::Capacity(CapacityError::MessageTooLong { .. }))
    )
}

impl Handler {
    /// Starts loading what a frame works on into the cache: the handler, with the
    /// connection and its session inline (its fields around the connection are read by
    /// every frame too), and each participant's receiver.
    fn prefetch(&self) {
        tonegate_dsp::cache::prefetch(self);
        self.conn.prefetch_participants();
    }

    /// Feeds one socket message to the connection; `Some` when the peer is gone. Nothing
    /// here waits (a peer's close is flushed in [`Handler::end`]), so the task's state
    /// holds no future of it.
    fn on_message(&mut self, message: Option<Result<Message, axum::Error>>) -> Option<End> {
        let now = self.state.now();
        let message = match message {
            None => return Some(End::Gone { lost: true }),
            Some(Err(e)) => {
                let text = e.to_string();
                if is_oversize(e) {
                    self.conn.handle_oversize(now);
                    return None;
                }
                tracing::debug!(call_id = %Escaped(&self.conn.call_id()), "socket error: {}", Escaped(&text));
                return Some(End::Gone { lost: true });
            }
            Some(Ok(m)) => m,
        };
        let mut host = CallbackCheck {
            state: &self.state,
            authenticated: self.peer.authenticated,
        };
        let len = match &message {
            Message::Text(t) => {
                let input = connection::Message::Text(t.as_str());
                self.conn.handle_message(now, input, &mut host);
                t.len()
            }
            Message::Binary(b) => {
                self.conn
                    .handle_message(now, connection::Message::Binary(b), &mut host);
                b.len()
            }
            Message::Close(frame) => {
                let orderly = frame.as_ref().is_none_or(|f| f.code == 1000);
                return Some(End::PeerClosed { orderly });
            }
            Message::Ping(_) | Message::Pong(_) => return None,
        };
        self.counters.count_in(len);
        self.note_dialect();
        self.note_participants();
        self.forward_features();
        None
    }

    /// Turns the session's feature tap on or off as the monitor's watchers say.
    fn switch_features(&mut self) {
        let watched = self.tap.as_ref().is_some_and(|tap| tap.watched());
        self.conn.set_feature_tap(watched);
        self.tapping = watched;
    }

    /// Hands the block records the message produced to the call's monitor watchers.
    /// Nobody watching costs nothing: the session builds no records.
    fn forward_features(&mut self) {
        let Some(tap) = self.tap.as_ref().filter(|_| self.tapping) else {
            return;
        };
        self.features.clear();
        let dropped = self.conn.drain_features(&mut self.features);
        if dropped > 0 {
            tracing::debug!(call_id = %Escaped(&self.conn.call_id()), dropped, "feature records dropped");
        }
        if !self.features.is_empty() {
            tap.send(axum::body::Bytes::copy_from_slice(&self.features));
        }
    }

    fn on_control(&mut self, control: Control) {
        let now = self.state.now();
        match control {
            Control::Command(command) => self.conn.submit(now, command),
            Control::Request(command, reply) => {
                let _ = reply.send(self.conn.handle_command(now, command));
            }
            Control::Loaded { load, prompt } => {
                let prompt = prompt.map_err(|failure| {
                    tracing::warn!(call_id = %Escaped(&self.conn.call_id()), code = failure.code(), "play not possible: {}", Escaped(&failure.to_string()));
                    LoadFailure {
                        code: failure.code(),
                        message: failure.public_message().to_owned(),
                    }
                });
                self.conn.handle_prompt(now, load, prompt);
            }
            Control::Recognized { id, outcome } => {
                self.conn.handle_speech_outcome(now, id, outcome);
            }
            Control::Transcription { id, status } => {
                self.conn.handle_transcription_status(now, id, status);
            }
        }
    }

    /// Carries the connection's outputs away: its next deadline, or how the socket
    /// ends.
    async fn drain(&mut self) -> Result<Option<Duration>, End> {
        while let Some(job) = self.conn.poll_speech_job() {
            self.recognize(job);
        }
        while let Some(output) = self.conn.poll_transcription() {
            if let Some(info) = &self.info {
                (self.transcription).handle(&self.state, info, &self.control_tx, output);
            }
        }
        loop {
            match self.conn.poll_output() {
                connection::Output::Timeout(_) if self.peer_gone => {
                    return Err(End::Gone { lost: true });
                }
                connection::Output::Timeout(deadline) => {
                    self.note_call();
                    return Ok(deadline);
                }
                connection::Output::Transmit(transmit) => self.transmit(transmit).await,
                connection::Output::Event(event) => self.deliver(event).await,
                connection::Output::Load(load) => self.load(load),
                connection::Output::Close(close) => {
                    if close.cause == Cause::Idle {
                        tracing::info!(call_id = %Escaped(&self.conn.call_id()), "closing idle socket");
                        self.count_error("idleTimeout");
                    }
                    return Err(End::Close(close.code, close.reason));
                }
            }
        }
    }

    /// Sends a frame to the peer unless it is gone; a failed write marks it gone.
    async fn transmit(&mut self, transmit: Transmit) {
        if self.peer_gone {
            return;
        }
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
        self.counters.count_out(len);
        if self.socket.send(message).await.is_err() {
            self.peer_gone = true;
        }
    }

    /// Recognises an utterance off the socket task; the outcome comes back as
    /// [`Control::Recognized`].
    fn recognize(&self, job: SpeechJob) {
        let control = self.control_tx.clone();
        let id = job.id;
        let recognizer = self.state.recognizer.clone();
        tokio::spawn(async move {
            let outcome = match recognizer {
                Ok(recognizer) => recognizer.recognize(job).await,
                Err(reason) => SpeechOutcome::Failed(reason),
            };
            let _ = control
                .send(Box::new(Control::Recognized { id, outcome }))
                .await;
        });
    }

    /// Loads (or synthesises) a raw client's prompt off the socket task; the result
    /// comes back as [`Control::Loaded`].
    fn load(&self, PromptLoad { load, rate }: PromptLoad) {
        let state = self.state.clone();
        let control = self.control_tx.clone();
        tokio::spawn(async move {
            let prompt = prompts::load_prompt(&state, &load.source, rate).await;
            let _ = control
                .send(Box::new(Control::Loaded { load, prompt }))
                .await;
        });
    }

    async fn deliver(&mut self, event: Event) {
        if let EventKind::Started {
            encoding,
            stream_id,
            ..
        } = &event.kind
            // Boxed: see the end of `run`.
            && let Err(refusal) = Box::pin(self.claim(&event.call_id, encoding, stream_id)).await
        {
            let message = refusal.to_string();
            return self
                .conn
                .refuse_call(self.state.now(), refusal.code(), &message);
        }
        match &event.kind {
            EventKind::Error { code, message } => {
                tracing::warn!(call_id = %Escaped(&event.call_id), dialect = self.label, code, "{}", Escaped(message));
                self.count_error(code);
            }
            EventKind::Dtmf(digit) => {
                let source = digit.source.as_str();
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
            _ => {}
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
    }

    /// Registers the call the session started (and, in a cluster, records this node as
    /// its owner), unless the credential is for another call or another socket streams
    /// it.
    async fn claim(
        &mut self,
        call_id: &Arc<str>,
        encoding: &'static str,
        stream_id: &Option<String>,
    ) -> Result<(), ClaimError> {
        if self.peer.bound_call.as_ref().is_some_and(|b| b != call_id) {
            return Err(ClaimError::OtherCall);
        }
        let dialect = self.conn.dialect().unwrap_or(Dialect::Raw);
        let format = self.conn.session().and_then(|s| s.format());
        let info = Arc::new(CallInfo {
            dialect,
            call_id: call_id.clone(),
            stream_id: stream_id.clone(),
            server_call_id: self.peer.params.server_call_id.clone(),
            encoding,
            rate: format.map_or(tonegate_dsp::SampleRate::HZ_8000, |f| f.rate),
            correlation_id: self.peer.correlation_id.clone(),
            callback_uri: self.conn.callback_uri().map(str::to_owned),
            participants: std::sync::Mutex::new(Vec::new()),
            started: self.state.now(),
        });
        let control = self.control_tx.clone();
        self.state
            .registry
            .claim(self.socket_id, info.clone(), control)?;
        match self.state.cluster.claim(&self.state, call_id).await {
            Ok(claim) => {
                self.conn
                    .resume_continuous_sequence(claim.resumed_sequence());
                self.claim = Some(claim);
            }
            Err(refusal) => {
                self.state.registry.remove(call_id, self.socket_id);
                tracing::warn!(call_id = %Escaped(call_id), "refusing the call: {refusal}");
                return Err(match refusal {
                    ClaimRefusal::Duplicate => ClaimError::Duplicate,
                    ClaimRefusal::Unavailable(_) => ClaimError::ClusterUnavailable,
                });
            }
        }
        self.info = Some(info);
        self.tap = Some(self.state.monitor.open(call_id, self.gate_waker.clone()));
        tracing::info!(call_id = %Escaped(call_id), dialect = dialect.as_str(), "stream started");
        Ok(())
    }

    /// In a cluster, keeps the call's record saying what another node sends if this one
    /// dies with the call (its running continuous recognitions fail, its queued
    /// operations are canceled), and its last continuous-DTMF `sequenceId`; written only
    /// when they change.
    fn note_call(&mut self) {
        if !self.state.cluster.is_clustered() {
            return;
        }
        let (Some(claim), Some(info), Some(session)) =
            (&self.claim, &self.info, self.conn.session())
        else {
            return;
        };
        let sequence = session.continuous_sequence();
        if sequence == self.sequence_seen
            && session
                .continuous_recognitions()
                .eq(self.orphans_seen.iter())
            && session
                .queued_operations()
                .eq(self.queued_seen.iter().copied())
        {
            return;
        }
        self.sequence_seen = sequence;
        self.orphans_seen = session.continuous_recognitions().cloned().collect();
        self.queued_seen = session.queued_operations().collect();
        let orphans = super::api::orphans(&self.state, info, session.lost_events());
        self.state.cluster.note_call(claim, orphans, sequence);
    }

    /// Counts the session once its dialect is known.
    fn note_dialect(&mut self) {
        if self.label != "auto" {
            return;
        }
        if let Some(dialect) = self.conn.dialect() {
            self.label = dialect.as_str();
            self.counters = self.state.metrics.stream_counters(self.label);
            let sessions = &self.state.metrics.sessions_total;
            sessions.with_label_values(&[self.label]).inc();
        }
    }

    /// Records new participants for the call properties (only when the count changes).
    fn note_participants(&mut self) {
        let (Some(session), Some(info)) = (self.conn.session(), self.info.as_ref()) else {
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

    fn count_error(&self, code: &str) {
        self.state.metrics.errors.with_label_values(&[code]).inc();
    }

    /// Flushes the session, closes the socket and leaves the registry.
    async fn end(mut self, end: End) {
        match end {
            End::PeerClosed { orderly } => {
                // The transport queued the reply to the peer's close: send it before the
                // socket is dropped, so the peer sees an orderly close.
                let _ = tokio::time::timeout(CLOSE_WAIT, self.socket.flush()).await;
                self.peer_gone = true;
                self.finish(!orderly).await;
            }
            End::Gone { lost } => {
                self.peer_gone = true;
                self.finish(lost).await;
            }
            End::Close(code, reason) => {
                self.finish(code != 1000).await;
                self.close(code, reason).await;
            }
        }
        if let Some(info) = &self.info {
            self.state.registry.remove(&info.call_id, self.socket_id);
            if let Some(tap) = self.tap.take() {
                self.state.monitor.close(&info.call_id, &tap);
            }
        }
        if let Some(claim) = self.claim.take() {
            self.state.cluster.release(claim).await;
        }
    }

    /// Flushes the session (pending digits, `ended`); `lost` when the stream did not
    /// end in order.
    async fn finish(&mut self, lost: bool) {
        self.conn.finish(lost);
        let _ = self.drain().await;
        if let Some(info) = &self.info {
            tracing::info!(call_id = %Escaped(&info.call_id), "stream ended");
        }
    }

    /// Sends a close frame and waits briefly for the peer's.
    async fn close(&mut self, code: u16, reason: String) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
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
