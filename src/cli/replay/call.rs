//! One call: open its event stream (SSE), connect, stream the audio paced, end the
//! stream, collect the events, match the digits.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::clock;
use super::events::{self, Inbox, Received, Sse};
use super::latency::{Matched, match_digits};
use super::script::{FRAME, Script};
use super::wire::{Call, Wire};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Largest message taken from the server, bytes.
const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Read buffer of the audio socket, bytes.
const READ_BUFFER_BYTES: usize = 4 << 10;

/// Longest wait for a connection (TCP, TLS and upgrade).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// What every call of a run shares.
pub(crate) struct Shared {
    /// The frames.
    pub wire: Wire,
    /// The audio and its digits.
    pub script: Arc<Script>,
    /// TLS settings for `wss://`.
    pub connector: Option<Connector>,
    /// Where the calls' events are read.
    pub events: Events,
    /// Seconds of audio per second of real time; `None`: as fast as the socket takes.
    pub speed: Option<f64>,
    /// How long to wait for the last events after the audio.
    pub wait: Duration,
    /// Print each event as it arrives.
    pub print_events: bool,
    /// The run's start: each call's frame clock ticks at `epoch + phase + k * FRAME`.
    pub epoch: Instant,
}

/// Where the calls' events come from (in-band events are read in every case).
pub(crate) enum Events {
    /// Only on the audio socket.
    InBand,
    /// Each call's own server-sent event stream.
    PerCall(SseSource),
    /// One stream of every call, read into this inbox by one task.
    Shared(Arc<Inbox>),
    /// Not read: no digit is checked.
    Ignored,
}

/// The server-sent event streams.
pub(crate) struct SseSource {
    /// HTTP client (with the run's TLS roots).
    pub client: reqwest::Client,
    /// `http(s)://host:port`.
    pub base: String,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The socket or event stream could not be opened.
    Connect(String),
    /// The server refused the upgrade with 503: it is busy (admission control).
    Busy(String),
    /// The stream broke or the server closed it with an error.
    Stream(String),
}

/// How one call went.
#[derive(Debug)]
pub(crate) struct Report {
    /// Its digits (all missed if it failed before streaming).
    pub matched: Matched,
    /// Why it failed, if it did.
    pub failure: Option<Failure>,
}

/// Runs `call` to its end.
pub(crate) async fn run(call: Call, shared: Arc<Shared>) -> Report {
    let mut sent_at = vec![None; shared.script.expected.len()];
    let (mut received, failure) = stream(&call, &shared, &mut sent_at).await;
    let expected = match &shared.events {
        Events::Ignored => &[][..],
        Events::Shared(inbox) => {
            // The stream's last events may still be on their way.
            tokio::time::sleep(shared.wait).await;
            received.extend(inbox.take(&call.id));
            &shared.script.expected
        }
        Events::InBand | Events::PerCall(_) => &shared.script.expected,
    };
    Report {
        matched: match_digits(&call.id, expected, &sent_at, &received),
        failure,
    }
}

/// The call's events and its failure, if any.
async fn stream(
    call: &Call,
    shared: &Shared,
    sent_at: &mut [Option<Instant>],
) -> (Vec<Received>, Option<Failure>) {
    let started = clock::now();
    let sse = match &shared.events {
        Events::InBand | Events::Shared(_) | Events::Ignored => None,
        Events::PerCall(source) => {
            match Sse::open(
                &source.client,
                &source.base,
                Some(&call.id),
                call.events_token.as_deref(),
            )
            .await
            {
                Ok(sse) => Some(sse),
                Err(e) => {
                    return (
                        Vec::new(),
                        Some(Failure::Connect(crate::cli::error_line(&e))),
                    );
                }
            }
        }
    };
    let socket = match connect(call, shared).await {
        Ok(socket) => socket,
        Err(failure) => return (Vec::new(), Some(failure)),
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let print = |event: &Received| {
        if shared.print_events {
            let ms = event.at.saturating_duration_since(started).as_secs_f64() * 1000.0;
            println!("{:>9.1} ms  {}  {}", ms, call.id, event.text);
        }
    };
    let on_socket = async {
        let result = play(socket, call, shared, sent_at, &print).await;
        let _ = done_tx.send(());
        result
    };
    let on_sse = async {
        match sse {
            None => Ok(Vec::new()),
            Some(sse) => events::read_sse(sse, done_rx, shared.wait, &mut |e| print(e)).await,
        }
    };
    let ((mut received, error), sse_result) = tokio::join!(on_socket, on_sse);
    let mut failure = error.map(Failure::Stream);
    match sse_result {
        Ok(more) => received.extend(more),
        Err(e) => {
            failure.get_or_insert(Failure::Stream(crate::cli::error_line(&e)));
        }
    }
    (received, failure)
}

/// Opens the audio socket.
async fn connect(call: &Call, shared: &Shared) -> Result<Socket, Failure> {
    let url = shared.wire.url();
    let request = shared
        .wire
        .request(call)
        .map_err(|e| Failure::Connect(crate::cli::error_line(&e)))?;
    // Events are small: a server's message over 1 MiB is refused, not buffered. The
    // read buffer only holds the server's few small messages (tungstenite's default
    // 128 KiB would be zero-filled on every read, thousands of times over in a load run).
    let limits = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES))
        .read_buffer_size(READ_BUFFER_BYTES);
    let connecting = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(limits),
        true,
        shared.connector.clone(),
    );
    let refused = |message: String| Err(Failure::Connect(message));
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Err(_) => refused(format!("{url}: no connection within {CONNECT_TIMEOUT:?}")),
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(Error::Http(response))) => {
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let message = format!(
                "{url}: the server refused the connection: HTTP {}{}{}",
                response.status(),
                if body.trim().is_empty() { "" } else { ": " },
                body.trim()
            );
            if response.status() == 503 {
                Err(Failure::Busy(message))
            } else {
                refused(message)
            }
        }
        Ok(Err(Error::Protocol(ProtocolError::HandshakeIncomplete))) => refused(format!(
            "{url}: the server closed the connection before answering the upgrade \
             (a connection limit? tonegate: max_pending_connections_per_ip, max_connections)"
        )),
        Ok(Err(e)) => {
            let text = e.to_string();
            // rustls's name for a self-signed certificate made with openssl's defaults.
            let hint = if text.contains("CaUsedAsEndEntity") {
                " (the server's certificate is marked as a CA: make it with \
                 basicConstraints=critical,CA:FALSE)"
            } else {
                ""
            };
            refused(format!("{url}: {text}{hint}"))
        }
    }
}

/// Streams the audio and reads the socket's events until the stream is over; the
/// events, and the error that ended it early, if one did.
async fn play(
    mut socket: Socket,
    call: &Call,
    shared: &Shared,
    sent_at: &mut [Option<Instant>],
    print: &impl Fn(&Received),
) -> (Vec<Received>, Option<String>) {
    let mut received = Vec::new();
    for message in shared.wire.opening(call) {
        if let Err(e) = socket.send(message).await {
            return (received, Some(format!("sending the start: {e}")));
        }
    }
    let expected = &shared.script.expected;
    let mut next_digit = 0;
    let t0 = first_tick(shared.epoch + call.phase, clock::now());
    let mut frame = 0;
    while frame < shared.wire.media.len() {
        let due = shared
            .speed
            .map_or(t0, |speed| t0 + FRAME.mul_f64(frame as f64 / speed));
        tokio::select! {
            biased;
            message = socket.next() => {
                if let Some(end) = take(message, &mut received, print) {
                    return (received, end.err());
                }
            }
            _ = tokio::time::sleep_until(due) => {
                if let Err(e) = socket.send(shared.wire.media[frame].clone()).await {
                    return (received, Some(format!("sending audio: {e}")));
                }
                let now = clock::now();
                while next_digit < expected.len() && expected[next_digit].frame <= frame {
                    sent_at[next_digit] = Some(now);
                    next_digit += 1;
                }
                frame += 1;
            }
        }
    }
    let closing = match shared.wire.closing(call) {
        Some(message) => socket.send(message).await,
        None => {
            let frame = CloseFrame {
                code: 1000.into(),
                reason: "end of call".into(),
            };
            socket.close(Some(frame)).await
        }
    };
    if let Err(e) = closing {
        return (received, Some(format!("ending the stream: {e}")));
    }
    let deadline = clock::now() + shared.wait;
    loop {
        let Ok(message) = tokio::time::timeout_at(deadline, socket.next()).await else {
            let _ = socket.close(None).await;
            return (received, None);
        };
        if let Some(end) = take(message, &mut received, print) {
            return (received, end.err());
        }
    }
}

/// The first tick at or after `now` of a frame clock that ticked at `origin`.
fn first_tick(origin: Instant, now: Instant) -> Instant {
    let since = now.saturating_duration_since(origin);
    let frames = since.as_nanos().div_ceil(FRAME.as_nanos());
    origin + FRAME * u32::try_from(frames).unwrap_or(u32::MAX)
}

/// Records an inbound message; `Some` when the socket is done (`Err`: with an error).
fn take(
    message: Option<Result<Message, Error>>,
    received: &mut Vec<Received>,
    print: &impl Fn(&Received),
) -> Option<Result<(), String>> {
    match message {
        None => Some(Ok(())),
        Some(Err(e)) => Some(Err(format!("the connection failed: {e}"))),
        Some(Ok(Message::Text(text))) => {
            let event = Received {
                at: clock::now(),
                meaning: events::parse(&text),
                text: text.to_string(),
            };
            print(&event);
            received.push(event);
            None
        }
        Some(Ok(Message::Close(Some(frame)))) if u16::from(frame.code) != 1000 => {
            Some(Err(format!(
                "the server closed the stream: {} {}",
                u16::from(frame.code),
                frame.reason
            )))
        }
        Some(Ok(Message::Close(_))) => Some(Ok(())),
        Some(Ok(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_tick_is_on_the_calls_frame_clock() {
        let origin = Instant::now();
        let ms = |n: u64| Duration::from_millis(n);
        assert_eq!(first_tick(origin, origin), origin);
        assert_eq!(first_tick(origin + ms(5), origin), origin + ms(5));
        assert_eq!(first_tick(origin, origin + ms(1)), origin + ms(20));
        assert_eq!(first_tick(origin, origin + ms(40)), origin + ms(40));
        assert_eq!(first_tick(origin, origin + ms(41)), origin + ms(60));
    }
}
