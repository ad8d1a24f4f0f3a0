//! Real HTTP peers of the server for the end-to-end tests: an axum server on
//! 127.0.0.1:0 (plain, or TLS with the test PKI) that records every request it gets (a
//! webhook receiver, a prompt host), a client that signs media-operation API requests as
//! the SDKs do, and a raw-dialect call to drive.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tonegate::SampleRate;
use tonegate::auth::request_signature as auth;
use tonegate::codec::Encoding;
use tonegate::media::wav::write_wav;

use super::tls::Pki;
use super::{Ws, decode, read_until_operation, send_binary, send_text};

/// One request as the peer received it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// When the request (headers and body) had arrived.
    pub at: Instant,
    /// The URI path, without the query.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The status answered; `None` while the handler has not answered (or never did).
    pub status: Option<u16>,
}

impl Seen {
    /// The request's body as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A running HTTP peer serving a test's routes and recording every request.
pub(crate) struct Peer {
    /// Where it listens.
    pub addr: SocketAddr,
    scheme: &'static str,
    log: Log,
}

impl Peer {
    /// Serves `routes` over plain HTTP.
    pub(crate) async fn serve(routes: Router) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (app, log) = recorded(routes);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Peer {
            addr,
            scheme: "http",
            log,
        }
    }

    /// Serves `routes` over HTTPS with `pki`'s server certificate.
    pub(crate) async fn serve_tls(routes: Router, pki: &Pki) -> Peer {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let listener = TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(pki.server_config()),
        };
        let (app, log) = recorded(routes);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Peer {
            addr,
            scheme: "https",
            log,
        }
    }

    /// The absolute URL of `path` on this peer.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    /// Every request so far, in arrival order.
    pub(crate) fn requests(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }

    /// How many requests for `path` arrived.
    pub(crate) fn count(&self, path: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .count()
    }

    /// Waits (polling, up to `limit`) until `done` finds what it wants in the requests.
    pub(crate) async fn wait_for<T>(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&[Seen]) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(t) = done(&self.log.lock().unwrap()) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "{what} not seen within {limit:?}; requests: {:#?}",
                self.requests()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// `routes` with every request recorded in the returned log.
fn recorded(routes: Router) -> (Router, Log) {
    let log = Log::default();
    let app = routes.layer(axum::middleware::from_fn_with_state(log.clone(), record));
    (app, log)
}

async fn record(State(log): State<Log>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let index = {
        let mut log = log.lock().unwrap();
        log.push(Seen {
            at: Instant::now(),
            path: parts.uri.path().to_owned(),
            headers: parts.headers.clone(),
            body: body.clone(),
            status: None,
        });
        log.len() - 1
    };
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    log.lock().unwrap()[index].status = Some(response.status().as_u16());
    response
}

/// Accepts TCP connections and completes their TLS handshakes, one at a time.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A media-operation API client signing requests with HMAC-SHA256 as the SDKs do.
/// The server refuses a signature it has seen (a replay), and a signature covers the
/// date to the second: like a careful client, this one never sends a byte-identical
/// request twice, but waits for the next second instead.
pub(crate) struct ApiClient {
    http: reqwest::Client,
    addr: SocketAddr,
    key: Vec<u8>,
    /// Every `authorization` sent.
    sent: Mutex<std::collections::HashSet<String>>,
}

impl ApiClient {
    /// A client of the server at `addr` holding access key `key` (raw bytes).
    pub(crate) fn new(addr: SocketAddr, key: &[u8]) -> ApiClient {
        ApiClient {
            http: reqwest::Client::new(),
            addr,
            key: key.to_vec(),
            sent: Mutex::default(),
        }
    }

    /// Sends a signed request; `tweak` may spoil the date, body hash or authorization
    /// before they go out. Returns the status and the JSON body (`Null` if none).
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        body: &str,
        tweak: impl FnOnce(&mut String, &mut String, &mut String),
    ) -> (u16, Value) {
        let (status, _, body) = self.exchange(method, path, body, tweak).await;
        (status, body)
    }

    /// [`ApiClient::send`], also returning the response headers.
    pub(crate) async fn exchange(
        &self,
        method: &str,
        path: &str,
        body: &str,
        tweak: impl FnOnce(&mut String, &mut String, &mut String),
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let [mut date, mut hash, mut authorization] = loop {
            let headers = signed_headers(&self.key, method, path, self.addr, body).map(|(_, v)| v);
            if self.sent.lock().unwrap().insert(headers[2].clone()) {
                break headers;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        tweak(&mut date, &mut hash, &mut authorization);
        let url = format!("http://{}{path}", self.addr);
        let request = if method == "GET" {
            self.http.get(url)
        } else {
            self.http.post(url).body(body.to_owned())
        };
        let response = request
            .header("x-ms-date", date)
            .header("x-ms-content-sha256", hash)
            .header("authorization", authorization)
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    /// `POST /calling/callConnections/{call}:{op}` with a JSON body, signed.
    pub(crate) async fn operation(&self, call: &str, op: &str, body: &Value) -> (u16, Value) {
        let path = format!("/calling/callConnections/{call}:{op}?api-version=2026-03-12");
        self.send("POST", &path, &body.to_string(), |_, _, _| {})
            .await
    }

    /// `POST /calling/callConnections/{call_id}:play` with `body`; returns the status.
    pub(crate) async fn play(&self, call_id: &str, body: &Value) -> u16 {
        let (status, reply) = self.operation(call_id, "play", body).await;
        assert!(status < 500, "play answered {status}: {reply}");
        status
    }

    /// Plays `sources` on `call_id` and reads `ws` until the operation event `outcome`
    /// (`PlayCompleted`, `PlayFailed`), for at most `limit`; returns the operation events
    /// and the samples played, decoded as `encoding`.
    pub(crate) async fn play_and_hear(
        &self,
        ws: &mut Ws,
        call_id: &str,
        sources: Vec<Value>,
        outcome: &str,
        encoding: Encoding,
        limit: Duration,
    ) -> (Vec<Value>, Vec<f32>) {
        let body = serde_json::json!({"playSources": sources, "operationContext": outcome});
        assert_eq!(self.play(call_id, &body).await, 202);
        let got = read_until_operation(ws, outcome, limit).await;
        let events = got
            .events
            .into_iter()
            .filter(|e| e["type"] == "operation")
            .collect();
        (events, decode(&got.binary.concat(), encoding))
    }
}

/// The headers of a request signed now with `key` as the SDKs sign: `x-ms-date`,
/// `x-ms-content-sha256` and `authorization`, for the server at `addr`.
pub(crate) fn signed_headers(
    key: &[u8],
    method: &str,
    path: &str,
    addr: SocketAddr,
    body: &str,
) -> [(&'static str, String); 3] {
    #[allow(clippy::disallowed_methods)]
    let date = httpdate::fmt_http_date(SystemTime::now());
    let host = addr.to_string();
    let authorization = auth::sign(key, method, path, &date, &host, body.as_bytes());
    [
        ("x-ms-date", date),
        ("x-ms-content-sha256", auth::content_hash(body.as_bytes())),
        ("authorization", authorization),
    ]
}

/// Opens a raw-dialect call `call_id` (events to `callback_uri` if given; the socket
/// sends [`super::STREAM_AUTH`]), sends a frame of silence, and waits until the server
/// lists the call.
pub(crate) async fn open_call(
    server: &super::TestServer,
    call_id: &str,
    encoding: Encoding,
    rate: SampleRate,
    callback_uri: Option<&str>,
) -> Ws {
    let mut ws = super::connect_authenticated(server.addr, "/media/raw").await;
    let mut start = serde_json::json!({
        "type": "start",
        "callId": call_id,
        "encoding": encoding.to_string(),
        "sampleRate": rate.hz(),
    });
    if let Some(uri) = callback_uri {
        start["callbackUri"] = uri.into();
    }
    send_text(&mut ws, start.to_string()).await;
    let silence = vec![0.0; rate.ms_to_samples(20.0)];
    send_binary(&mut ws, super::encode(&silence, encoding)).await;
    for _ in 0..500 {
        if server
            .handle
            .registry()
            .calls()
            .iter()
            .any(|c| c == call_id)
        {
            return ws;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("call {call_id} never registered");
}

/// A mono 16-bit WAV file of `samples` at `hz`.
pub(crate) fn wav(hz: u32, samples: &[f32]) -> Vec<u8> {
    let mut file = std::io::Cursor::new(Vec::new());
    write_wav(&mut file, hz, 1, Encoding::S16le, samples).unwrap();
    file.into_inner()
}

/// `ms` of a sine at `freq` Hz, amplitude 0.25, sampled at `hz`.
pub(crate) fn sine(freq: f32, ms: usize, hz: u32) -> Vec<f32> {
    (0..hz as usize * ms / 1_000)
        .map(|n| 0.25 * (n as f32 * freq * std::f32::consts::TAU / hz as f32).sin())
        .collect()
}
