//! Helpers for the end-to-end tests: a server on 127.0.0.1:0, a WebSocket client, audio
//! generation and a minimal SSE reader.
#![allow(dead_code)]

pub(crate) mod binary;
pub(crate) mod cluster;
pub(crate) mod event_stream;
pub(crate) mod http_peer;
pub(crate) mod latency;
pub(crate) mod logged;
pub(crate) mod marks;
pub(crate) mod sdk;
pub(crate) mod sdk_speech;
pub(crate) mod speech;
pub(crate) mod tls;
pub(crate) mod transcripts;
pub(crate) mod webhook;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::dsp::Digit;
use tonegate::dsp::tone::{Cadence, render_digits};
use tonegate::server::{Config, Handle, Server};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub(crate) struct TestServer {
    pub addr: SocketAddr,
    pub handle: Handle,
    pub task: tokio::task::JoinHandle<()>,
}

pub(crate) async fn start(mut config: Config) -> TestServer {
    config.listen = "127.0.0.1:0".parse().unwrap();
    // Test servers share the box with parallel tests and builds, whose load is not
    // theirs to refuse calls for: load-based admission is off here (tests/admission.rs
    // turns it on).
    config.admission_max_lag_ms = 0;
    config.admission_max_cpu_percent = 0;
    serve(config).await
}

/// A real server on `config` exactly as given, run in a task.
pub(crate) async fn serve(config: Config) -> TestServer {
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.handle();
    let task = tokio::spawn(async move {
        server.run().await.unwrap();
    });
    TestServer { addr, handle, task }
}

pub(crate) async fn connect(addr: SocketAddr, path: &str) -> Ws {
    let (ws, _) =
        tokio_tungstenite::connect_async_with_config(format!("ws://{addr}{path}"), None, true)
            .await
            .unwrap();
    ws
}

/// The `Authorization` header audio sockets of [`with_callbacks`] servers send.
pub(crate) const STREAM_AUTH: (&str, &str) = ("authorization", "Bearer tonegate-test-stream-token");

/// `config` with audio sockets authenticated by a static token ([`STREAM_AUTH`]) and
/// allowed to name callback URIs on the origins (scheme, host, port) of `receivers`:
/// what a socket needs for its `callbackUri` to be honoured.
pub(crate) fn with_callbacks(config: Config, receivers: &[&str]) -> Config {
    let token = STREAM_AUTH.1.strip_prefix("Bearer ").unwrap();
    allow_callbacks(
        Config {
            stream_auth: tonegate::server::stream_auth::Mode::Token,
            stream_auth_token: Some(token.to_owned()),
            ..config
        },
        receivers,
    )
}

/// `config` whose authenticated audio sockets may name callback URIs on the origins
/// (scheme, host, port) of `receivers`.
pub(crate) fn allow_callbacks(config: Config, receivers: &[&str]) -> Config {
    let origins = receivers.iter().map(|r| {
        let url = reqwest::Url::parse(r).unwrap();
        format!("{}/", url.origin().ascii_serialization())
    });
    Config {
        callback_allow: config
            .callback_allow
            .iter()
            .cloned()
            .chain(origins)
            .collect(),
        ..config
    }
}

/// Waits until `done` holds, checking every 20 ms; panics naming `what` after `limit`.
pub(crate) async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An audio socket sending [`STREAM_AUTH`] (ignored by servers with `stream_auth =
/// none`).
pub(crate) async fn connect_authenticated(addr: SocketAddr, path: &str) -> Ws {
    connect_with_header(addr, path, STREAM_AUTH.0, STREAM_AUTH.1).await
}

pub(crate) async fn connect_with_header(
    addr: SocketAddr,
    path: &str,
    name: &str,
    value: &str,
) -> Ws {
    try_connect_with_headers(addr, path, &[(name, value)])
        .await
        .unwrap()
}

/// A `ws://` connection with extra request headers; the error (e.g. an HTTP 401 with its
/// body) instead of a panic.
pub(crate) async fn try_connect_with_headers(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let request = upgrade_request(&format!("ws://{addr}{path}"), headers);
    let (ws, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(ws)
}

/// A WebSocket upgrade request for `url` with extra `headers`.
pub(crate) fn upgrade_request(
    url: &str,
    headers: &[(&str, &str)],
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    request
}

pub(crate) fn digits(text: &str) -> Vec<Digit> {
    text.chars().map(|c| Digit::from_char(c).unwrap()).collect()
}

/// `lead_ms` of silence, then `text` with the default cadence (100 ms on, 100 ms off),
/// then `tail_ms` of silence. Returns the samples and each digit's onset in ms.
pub(crate) fn signal(
    text: &str,
    rate: SampleRate,
    lead_ms: f64,
    tail_ms: f64,
) -> (Vec<f32>, Vec<f64>) {
    let mut samples = vec![0.0; rate.ms_to_samples(lead_ms)];
    samples.extend(render_digits(&digits(text), Cadence::default(), rate).unwrap());
    samples.extend(vec![0.0; rate.ms_to_samples(tail_ms)]);
    let onsets = (0..text.chars().count())
        .map(|i| lead_ms + i as f64 * 200.0)
        .collect();
    (samples, onsets)
}

pub(crate) fn encode(samples: &[f32], encoding: Encoding) -> Vec<u8> {
    let mut out = vec![0; samples.len() * encoding.bytes_per_sample()];
    let n = encoding.encode(samples, &mut out).unwrap();
    out.truncate(n);
    out
}

pub(crate) fn decode(bytes: &[u8], encoding: Encoding) -> Vec<f32> {
    let mut out = vec![0.0; bytes.len() / encoding.bytes_per_sample()];
    let n = encoding.decode(bytes, &mut out).unwrap();
    out.truncate(n);
    out
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(crate) fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

pub(crate) async fn send_text(ws: &mut Ws, text: impl Into<String>) {
    ws.send(Message::text(text.into())).await.unwrap();
}

pub(crate) async fn send_binary(ws: &mut Ws, bytes: Vec<u8>) {
    ws.send(Message::binary(bytes)).await.unwrap();
}

/// Opens a raw-dialect call: sends `start` with the stream format.
pub(crate) async fn start_raw(ws: &mut Ws, call_id: &str, rate: SampleRate, encoding: Encoding) {
    send_text(
        ws,
        format!(
            r#"{{"type":"start","callId":"{call_id}","encoding":"{encoding}","sampleRate":{}}}"#,
            rate.hz()
        ),
    )
    .await;
}

/// A call streaming in real time: one 20 ms frame per 20 ms, silence or the samples
/// queued on [`LiveCall::audio`] (e.g. [`signal`]).
pub(crate) struct LiveCall {
    /// Samples to play into the inbound audio, in order.
    pub audio: mpsc::UnboundedSender<Vec<f32>>,
    /// Every message the server sent on the socket.
    pub received: mpsc::UnboundedReceiver<Message>,
    /// Messages to send before the next audio frame ([`LiveCall::send`]).
    control: mpsc::UnboundedSender<Message>,
    tasks: [tokio::task::JoinHandle<()>; 2],
}

impl LiveCall {
    /// Sends `start`, then streams frames made by `frame` from `rate` audio; returns once
    /// `handle` lists `call_id`.
    pub(crate) async fn start(
        ws: Ws,
        handle: &Handle,
        call_id: &str,
        start: String,
        rate: SampleRate,
        frame: impl Fn(&[f32]) -> Message + Send + 'static,
    ) -> LiveCall {
        let call = LiveCall::stream(ws, start, rate, frame).await;
        for _ in 0..500 {
            if handle.registry().calls().iter().any(|c| c == call_id) {
                return call;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("call {call_id} never started");
    }

    /// Sends `start`, then streams frames made by `frame` from `rate` audio, without
    /// waiting for the server to list the call (a server of another process).
    pub(crate) async fn stream(
        ws: Ws,
        start: String,
        rate: SampleRate,
        frame: impl Fn(&[f32]) -> Message + Send + 'static,
    ) -> LiveCall {
        let (mut sink, mut stream) = ws.split();
        sink.send(Message::text(start)).await.unwrap();
        let (received_tx, received) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            while let Some(Ok(m)) = stream.next().await {
                let _ = received_tx.send(m);
            }
        });
        let (audio, mut audio_rx) = mpsc::unbounded_channel::<Vec<f32>>();
        let (control, mut control_rx) = mpsc::unbounded_channel::<Message>();
        let per_frame = rate.ms_to_samples(20.0);
        let writer = tokio::spawn(async move {
            let mut queued: Vec<f32> = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                tick.tick().await;
                while let Ok(m) = control_rx.try_recv() {
                    if sink.send(m).await.is_err() {
                        return;
                    }
                }
                while let Ok(s) = audio_rx.try_recv() {
                    queued.extend(s);
                }
                let n = queued.len().min(per_frame);
                let mut samples: Vec<f32> = queued.drain(..n).collect();
                samples.resize(per_frame, 0.0);
                if sink.send(frame(&samples)).await.is_err() {
                    return;
                }
            }
        });
        LiveCall {
            audio,
            received,
            control,
            tasks: [reader, writer],
        }
    }

    /// A raw-dialect call (µ-law, 8 kHz) whose events go to `callback_uri`.
    pub(crate) async fn raw(
        ws: Ws,
        handle: &Handle,
        call_id: &str,
        callback_uri: &str,
    ) -> LiveCall {
        let start = format!(
            r#"{{"type":"start","callId":"{call_id}","encoding":"ulaw","sampleRate":8000,"callbackUri":"{callback_uri}"}}"#
        );
        LiveCall::start(ws, handle, call_id, start, SampleRate::HZ_8000, |f| {
            Message::binary(encode(f, Encoding::Ulaw))
        })
        .await
    }

    /// An ACS call (16 kHz PCM, one participant `4:+15551234567`); the socket must have
    /// been opened with the `x-ms-call-connection-id` header `call_id`.
    pub(crate) async fn acs(ws: Ws, handle: &Handle, call_id: &str) -> LiveCall {
        let start = r#"{"kind":"AudioMetadata","audioMetadata":{"subscriptionId":"live","encoding":"PCM","sampleRate":16000,"channels":1,"length":640}}"#;
        LiveCall::start(ws, handle, call_id, start.to_owned(), SampleRate::HZ_16000, |f| {
            Message::text(format!(
                r#"{{"kind":"AudioData","audioData":{{"participantRawID":"4:+15551234567","data":"{}"}}}}"#,
                b64(&encode(f, Encoding::S16le))
            ))
        })
        .await
    }

    /// Sends `message` (e.g. a play request) on the socket before the next audio frame.
    pub(crate) fn send(&self, message: Message) {
        self.control.send(message).unwrap();
    }

    /// Presses `keys` (100 ms lead, 200 ms tail) in the inbound audio at `rate`.
    pub(crate) fn press(&self, keys: &str, rate: SampleRate) {
        let (samples, _) = signal(keys, rate, 100.0, 200.0);
        self.audio.send(samples).unwrap();
    }

    /// Drops the connection without a close frame, as a network failure would.
    pub(crate) fn lose(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Writes `dir/prompt.wav`: 400 ms of a 440 Hz tone, mono 16-bit 16 kHz (an ACS
/// prompt file).
pub(crate) fn write_prompt(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("prompt.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for n in 0..6_400 {
        let v = (2.0 * std::f32::consts::PI * 440.0 * n as f32 / 16_000.0).sin();
        w.write_sample((v * 8_000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    path
}

/// Sends `samples` as binary raw-dialect frames of `chunk_ms` each, sleeping one chunk's
/// duration after each if `paced`.
pub(crate) async fn send_audio(
    ws: &mut Ws,
    samples: &[f32],
    rate: SampleRate,
    encoding: Encoding,
    chunk_ms: f64,
    paced: bool,
) {
    let bytes = encode(samples, encoding);
    let chunk = rate.ms_to_samples(chunk_ms) * encoding.bytes_per_sample();
    for piece in bytes.chunks(chunk) {
        send_binary(ws, piece.to_vec()).await;
        if paced {
            tokio::time::sleep(Duration::from_secs_f64(chunk_ms / 1000.0)).await;
        }
    }
}

/// The digits of `dtmf` events, in order, as text.
pub(crate) fn keys(presses: &[&Value]) -> String {
    presses
        .iter()
        .map(|e| e["digit"].as_str().unwrap())
        .collect()
}

/// What the client saw until the socket closed.
#[derive(Debug, Default)]
pub(crate) struct Received {
    pub events: Vec<Value>,
    pub texts: Vec<Value>,
    pub binary: Vec<Vec<u8>>,
    pub close: Option<(u16, String)>,
}

impl Received {
    pub(crate) fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["type"] == kind).collect()
    }
}

/// Reads until close (or `limit`), sorting JSON texts with a `type` into `events`.
pub(crate) async fn read_all(ws: &mut Ws, limit: Duration) -> Received {
    let mut got = Received::default();
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    if v.get("type").is_some() { got.events.push(v) } else { got.texts.push(v) }
                }
                Some(Ok(Message::Binary(b))) => got.binary.push(b.to_vec()),
                Some(Ok(Message::Close(frame))) => {
                    got.close = Some(frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.to_string())));
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            _ = &mut deadline => break,
        }
    }
    got
}

/// Reads until a JSON text with `"type": kind` (raw) arrives; returns everything seen.
pub(crate) async fn read_until(ws: &mut Ws, kind: &str, limit: Duration) -> Received {
    read_until_where(ws, kind, limit, |v| v["type"] == kind).await
}

/// Reads until the raw-dialect operation event `name` (`"type": "operation"`) arrives;
/// returns everything seen, that event last.
pub(crate) async fn read_until_operation(ws: &mut Ws, name: &str, limit: Duration) -> Received {
    read_until_where(ws, name, limit, |v| {
        v["type"] == "operation" && v["event"] == name
    })
    .await
}

/// Reads until a JSON text for which `done` holds arrives, or the socket closes;
/// returns everything seen. Panics after `limit`, naming `what`.
pub(crate) async fn read_until_where(
    ws: &mut Ws,
    what: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Received {
    let mut got = Received::default();
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    let finished = done(&v);
                    if v.get("type").is_some() { got.events.push(v) } else { got.texts.push(v) }
                    if finished { break; }
                }
                Some(Ok(Message::Binary(b))) => got.binary.push(b.to_vec()),
                Some(Ok(Message::Close(frame))) => {
                    got.close = Some(frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.to_string())));
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            _ = &mut deadline => panic!("no {what} within {limit:?}; got {got:?}"),
        }
    }
    got
}

/// A minimal SSE client: yields the JSON `data:` payloads.
pub(crate) struct Sse {
    stream: TcpStream,
    buffer: Vec<u8>,
    body: String,
    /// The response's last (empty) chunk came: the stream ended.
    ended: bool,
}

impl Sse {
    pub(crate) async fn connect(addr: SocketAddr, path: &str) -> Sse {
        Sse::connect_with(addr, path, &[]).await
    }

    /// [`Sse::connect`] with extra request `headers` (credentials).
    pub(crate) async fn connect_with(
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Sse {
        match Sse::try_connect(addr, path, headers).await {
            Ok(sse) => sse,
            Err(head) => panic!("event stream refused: {head}"),
        }
    }

    /// Opens an event stream; a refusal is `Err` with the response head (status line
    /// and headers) and body.
    pub(crate) async fn try_connect(
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Sse, String> {
        let stream = TcpStream::connect(addr).await.unwrap();
        Sse::try_connect_on(stream, addr, path, headers).await
    }

    /// [`Sse::try_connect`] on a connected `stream`.
    pub(crate) async fn try_connect_on(
        mut stream: TcpStream,
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Sse, String> {
        let mut request =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut sse = Sse {
            stream,
            buffer: Vec::new(),
            body: String::new(),
            ended: false,
        };
        // Headers.
        loop {
            if let Some(end) = find(&sse.buffer, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&sse.buffer[..end]).to_string();
                if !head.starts_with("HTTP/1.1 200") {
                    // Refusals are short bodies: read what came with the head.
                    let body = String::from_utf8_lossy(&sse.buffer[end + 4..]).to_string();
                    return Err(format!("{head}\r\n\r\n{body}"));
                }
                sse.buffer.drain(..end + 4);
                return Ok(sse);
            }
            sse.fill().await;
        }
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "SSE stream closed");
        self.buffer.extend_from_slice(&chunk[..n]);
    }

    /// The next event's JSON.
    pub(crate) async fn next(&mut self) -> Value {
        self.next_with_id().await.1
    }

    /// The next event's `id:` (if it has one) and JSON; `None` once the stream ended.
    pub(crate) async fn next_or_end(&mut self) -> Option<(Option<u64>, Value)> {
        loop {
            let block = self.next_block().await?;
            let id = block
                .lines()
                .find_map(|l| l.strip_prefix("id: "))
                .map(|id| id.parse().unwrap());
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                return Some((id, serde_json::from_str(data).unwrap()));
            }
        }
    }

    /// The next event's name (`event:`) and its `data:` as sent (events without data
    /// are skipped); `None` once the stream ended.
    pub(crate) async fn next_named(&mut self) -> Option<(String, String)> {
        loop {
            let block = self.next_block().await?;
            let line = |prefix: &str| block.lines().find_map(|l| l.strip_prefix(prefix));
            if let Some(data) = line("data: ") {
                return Some((line("event: ").unwrap_or("").to_owned(), data.to_owned()));
            }
        }
    }

    /// The next event's lines (up to its blank line); `None` once the stream ended.
    async fn next_block(&mut self) -> Option<String> {
        loop {
            self.decode_chunks();
            if let Some(end) = self.body.find("\n\n") {
                return Some(self.body.drain(..end + 2).collect());
            }
            if self.ended {
                return None;
            }
            self.fill().await;
        }
    }

    /// The next event's `id:` and JSON.
    pub(crate) async fn next_with_id(&mut self) -> (Option<u64>, Value) {
        self.next_or_end().await.expect("SSE stream ended")
    }

    /// Moves the whole chunks received into the body.
    fn decode_chunks(&mut self) {
        while let Some(line_end) = find(&self.buffer, b"\r\n") {
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&self.buffer[..line_end]).trim(), 16)
                    .unwrap();
            if self.buffer.len() < line_end + 2 + size + 2 {
                break;
            }
            let data = self.buffer[line_end + 2..line_end + 2 + size].to_vec();
            self.buffer.drain(..line_end + 2 + size + 2);
            self.body.push_str(&String::from_utf8_lossy(&data));
            self.ended |= size == 0;
        }
    }

    /// Events until one of `kind` for `call_id` (inclusive).
    pub(crate) async fn until(&mut self, call_id: &str, kind: &str) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let v = tokio::time::timeout(Duration::from_secs(10), self.next())
                .await
                .expect("SSE event in time");
            let done = v["callId"] == call_id && v["type"] == kind;
            out.push(v);
            if done {
                return out;
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An upgrade's outcome with a refusal turned into the 401's body; other errors panic.
pub(crate) fn unauthorized<T>(
    result: Result<T, tokio_tungstenite::tungstenite::Error>,
) -> Result<T, String> {
    match result {
        Ok(ws) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401, "{response:?}");
            let body = response.body().clone().unwrap_or_default();
            Err(String::from_utf8(body).unwrap())
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// `tonegate_stream_auth_failures_total{reason}` in the `/metrics` text `metrics`.
pub(crate) fn auth_failures(metrics: &str, reason: &str) -> u64 {
    let name = format!("tonegate_stream_auth_failures_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&name)?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
}

/// [`auth_failures`] of `reason`, read from the server's `/metrics` now.
pub(crate) async fn read_auth_failures(server: &TestServer, reason: &str) -> u64 {
    let (_, text) = http_get(server.addr, "/metrics").await;
    auth_failures(&text, reason)
}

/// Plain HTTP GET; returns the body (Content-Length or close-delimited responses).
pub(crate) async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub(crate) fn assert_onsets(events: &[&Value], onsets: &[f64], tolerance_ms: f64) {
    assert_eq!(events.len(), onsets.len(), "{events:?}");
    for (e, onset) in events.iter().zip(onsets) {
        let start = e["startMs"].as_f64().unwrap();
        assert!(
            (start - onset).abs() <= tolerance_ms,
            "start {start} ms vs generated {onset} ms in {e}"
        );
    }
}
