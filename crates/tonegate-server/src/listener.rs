//! The accept loop (after mini-redis's `Listener`): every accepted connection takes a
//! permit of `max_connections` and, until its TLS handshake and first request head are
//! done, one of its peer's `max_pending_connections_per_ip`. A connection over either
//! limit is closed at once and counted, so the connections already open are served on
//! and accepting never stops. Each connection is served HTTP/1.1 by hyper on its own
//! task, with `header_read_timeout_ms` for every request head (the first one and those
//! of kept-alive connections). Plain TCP and TLS differ only in the handshake first.
//!
//! A connection's permit lives in its stream, so an audio socket keeps it for as long
//! as the WebSocket lives, past the HTTP upgrade.
//!
//! On shutdown the loop stops accepting (the port refuses connections from then on),
//! asks each connection to finish its current request and close, and returns once all
//! have closed. Audio sockets close themselves (1001); SSE streams end when the server
//! says so.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use prometheus::IntGauge;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_rustls::rustls::ServerConfig;

use super::tls::Handshaker;
use super::{State, set_nodelay, shutting_down};

/// Descriptors kept free beside the connections, at least: listener, prompt and WAV
/// files, webhook and download connections, JWKS fetches.
const MIN_SPARE_FILES: u64 = 64;

/// Why an accepted connection was closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shed {
    /// `max_connections` were open.
    MaxConnections,
    /// Its peer had `max_pending_connections_per_ip` connections still in their TLS
    /// handshake or first request head.
    PendingPerIp,
}

impl Shed {
    /// Every reason, for the metric's labels.
    pub(super) const ALL: [Shed; 2] = [Shed::MaxConnections, Shed::PendingPerIp];

    /// The metric label.
    pub(super) fn code(self) -> &'static str {
        match self {
            Shed::MaxConnections => "maxConnections",
            Shed::PendingPerIp => "pendingPerIp",
        }
    }

    fn setting(self) -> &'static str {
        match self {
            Shed::MaxConnections => "max_connections",
            Shed::PendingPerIp => "max_pending_connections_per_ip",
        }
    }
}

/// The server's accept loop.
pub(super) struct Listener {
    tcp: TcpListener,
    tls: Option<Arc<Handshaker>>,
    state: Arc<State>,
    permits: Arc<Semaphore>,
    pending: Arc<PendingPeers>,
    http: http1::Builder,
    /// The last accepted connection was shed: one log line per run of sheds.
    shedding: bool,
}

impl Listener {
    /// A loop accepting on `tcp`, with a TLS handshake first when `tls` is given.
    pub(super) fn new(
        tcp: TcpListener,
        tls: Option<Arc<ServerConfig>>,
        state: Arc<State>,
    ) -> Listener {
        let config = &state.config;
        let max_connections =
            fit_to_open_file_limit(config.max_connections).min(Semaphore::MAX_PERMITS);
        let tls = tls.map(|tls| {
            Arc::new(Handshaker::new(
                tls,
                Duration::from_millis(config.tls_handshake_timeout_ms),
                config.max_tls_handshakes,
                state.metrics.clone(),
            ))
        });
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(Duration::from_millis(config.header_read_timeout_ms))
            .max_buf_size(config.max_request_head_bytes);
        Listener {
            tcp,
            tls,
            permits: Arc::new(Semaphore::new(max_connections)),
            pending: Arc::new(PendingPeers::new(config.max_pending_connections_per_ip)),
            http,
            shedding: false,
            state,
        }
    }

    /// Accepts until shutdown, then waits for every connection to close.
    pub(super) async fn run(mut self, router: Router) {
        // Each connection holds a sender; `recv` ends once all are dropped.
        let (done, mut all_done) = mpsc::channel::<()>(1);
        let mut shutdown = self.state.shutdown.clone();
        loop {
            let accepted = tokio::select! {
                _ = shutting_down(&mut shutdown) => break,
                accepted = self.tcp.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            };
            // Shed: `tcp` is dropped here, which closes it.
            let Some(admission) = self.admit(peer) else {
                continue;
            };
            let connection = Connection {
                state: self.state.clone(),
                tls: self.tls.clone(),
                http: self.http.clone(),
                router: router.clone(),
                peer,
                _done: done.clone(),
            };
            tokio::spawn(connection.serve(tcp, admission));
        }
        drop(self.tcp);
        drop(done);
        let _ = all_done.recv().await;
    }

    /// A connection's permit and pending slot, or `None` (counted, logged) if it is over
    /// a limit.
    fn admit(&mut self, peer: SocketAddr) -> Option<Admission> {
        let shed = match self.permits.clone().try_acquire_owned() {
            Err(_) => Shed::MaxConnections,
            Ok(permit) => match self.pending.enter(peer.ip()) {
                Some(pending) => {
                    self.shedding = false;
                    let slot = Slot::new(permit, self.state.metrics.connections.clone());
                    return Some(Admission { slot, pending });
                }
                None => Shed::PendingPerIp,
            },
        };
        self.state
            .metrics
            .connections_shed
            .with_label_values(&[shed.code()])
            .inc();
        if !self.shedding {
            self.shedding = true;
            tracing::warn!(
                %peer,
                limit = shed.setting(),
                "closing new connections over the limit (counted in tonegate_connections_shed_total)"
            );
        }
        None
    }
}

/// What an admitted connection holds.
struct Admission {
    slot: Slot,
    pending: Pending,
}

/// One connection's task.
struct Connection {
    state: Arc<State>,
    tls: Option<Arc<Handshaker>>,
    http: http1::Builder,
    router: Router,
    peer: SocketAddr,
    /// Dropped when the connection ends (see [`Listener::run`]).
    _done: mpsc::Sender<()>,
}

impl Connection {
    async fn serve(self, tcp: TcpStream, admission: Admission) {
        set_nodelay(&tcp);
        delay_acks(&tcp);
        let Admission { slot, pending } = admission;
        let Some(tls) = &self.tls else {
            return self
                .serve_http(
                    Tracked {
                        io: tcp,
                        _slot: slot,
                    },
                    pending,
                )
                .await;
        };
        let mut shutdown = self.state.shutdown.clone();
        let stream = tokio::select! {
            stream = tls.handshake(tcp, self.peer) => stream,
            _ = shutting_down(&mut shutdown) => None,
        };
        if let Some(stream) = stream {
            self.serve_http(
                Tracked {
                    io: stream,
                    _slot: slot,
                },
                pending,
            )
            .await;
        }
    }

    async fn serve_http<IO>(&self, io: Tracked<IO>, pending: Pending)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = Service {
            router: TowerToHyperService::new(self.router.clone()),
            pending,
        };
        let connection = self
            .http
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(connection);
        let mut shutdown = self.state.shutdown.clone();
        let result = tokio::select! {
            result = connection.as_mut() => result,
            _ = shutting_down(&mut shutdown) => {
                connection.as_mut().graceful_shutdown();
                connection.as_mut().await
            }
        };
        match result {
            Ok(()) => {}
            Err(e) if e.is_timeout() => {
                self.state.metrics.header_timeouts.inc();
                tracing::debug!(peer = %self.peer, "closing a connection: no request head in time");
            }
            Err(e) => tracing::debug!(peer = %self.peer, "connection error: {e}"),
        }
    }
}

/// The router, seen by hyper; the first request ends the connection's pending time.
struct Service {
    router: TowerToHyperService<Router>,
    pending: Pending,
}

impl<R> hyper::service::Service<R> for Service
where
    TowerToHyperService<Router>: hyper::service::Service<R>,
{
    type Response = <TowerToHyperService<Router> as hyper::service::Service<R>>::Response;
    type Error = <TowerToHyperService<Router> as hyper::service::Service<R>>::Error;
    type Future = <TowerToHyperService<Router> as hyper::service::Service<R>>::Future;

    fn call(&self, request: R) -> Self::Future {
        self.pending.release();
        self.router.call(request)
    }
}

/// A connection permit, shown in the `tonegate_connections` gauge while held.
struct Slot {
    _permit: OwnedSemaphorePermit,
    gauge: IntGauge,
}

impl Slot {
    fn new(permit: OwnedSemaphorePermit, gauge: IntGauge) -> Slot {
        gauge.inc();
        Slot {
            _permit: permit,
            gauge,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// A connection's stream holding its [`Slot`], freed when the stream is dropped.
struct Tracked<IO> {
    io: IO,
    _slot: Slot,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tracked<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Tracked<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Connections per peer still in their TLS handshake or first request head.
struct PendingPeers {
    limit: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

impl PendingPeers {
    fn new(limit: usize) -> PendingPeers {
        PendingPeers {
            limit,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// A pending slot of `ip`'s peer, or `None` if it holds `limit` already.
    fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<Pending> {
        let peer = peer_key(ip);
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(peer).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Pending {
            peers: self.clone(),
            peer,
            released: AtomicBool::new(false),
        })
    }

    fn leave(&self, peer: IpAddr) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&peer) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&peer);
            }
        }
    }
}

/// One connection's pending slot: released by the first request, or on drop.
struct Pending {
    peers: Arc<PendingPeers>,
    peer: IpAddr,
    released: AtomicBool,
}

impl Pending {
    fn release(&self) {
        if !self.released.swap(true, Ordering::Relaxed) {
            self.peers.leave(self.peer);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.release();
    }
}

/// Who a peer is, for the per-peer limit: its IPv4 address, or the /64 of its IPv6
/// address (one subscriber's share).
fn peer_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::from(u64::MAX)))),
        },
    }
}

/// Raises the open-file soft limit to the hard limit where allowed, and returns
/// `configured` or, if lower, a cap that keeps a quarter of that limit (at least
/// [`MIN_SPARE_FILES`]) free for everything else. Says what it did in the log.
fn fit_to_open_file_limit(configured: usize) -> usize {
    let soft_limit = || rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft);
    let before = soft_limit();
    let limit = match rlimit::increase_nofile_limit(u64::MAX).or_else(|e| {
        tracing::debug!("cannot raise the open-file limit: {e}");
        soft_limit()
    }) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(
                max_connections = configured,
                "cannot read the open-file limit: {e}"
            );
            return configured;
        }
    };
    if let Ok(before) = before
        && before < limit
    {
        tracing::info!(from = before, to = limit, "raised the open-file limit");
    }
    let spare = (limit / 4).max(MIN_SPARE_FILES);
    let fits = usize::try_from(limit.saturating_sub(spare))
        .unwrap_or(usize::MAX)
        .max(1);
    if configured > fits {
        tracing::warn!(
            configured,
            lowered_to = fits,
            open_file_limit = limit,
            "max_connections lowered to stay below the open-file limit"
        );
        return fits;
    }
    tracing::info!(
        max_connections = configured,
        open_file_limit = limit,
        "connection cap"
    );
    configured
}

/// Puts the connection in delayed-ACK mode (Linux `TCP_QUICKACK` off). An audio socket
/// only reads: out of that mode the kernel acknowledges each ~1 KB frame as the socket
/// task reads it, one more segment sent (and, over loopback, received) per frame on the
/// server's CPU (about a tenth of it at 300 calls in `scripts/load-bench`). In it, the
/// ACK goes out with the next frame's arrival, every second frame, as for the axum
/// baseline's sockets. The kernel leaves the mode by itself when a delayed ACK is
/// missed, so a peer that waits for its ACKs (Nagle) is held back at most once.
fn delay_acks(tcp: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(e) = tcp.set_quickack(false) {
        tracing::debug!("cannot turn TCP_QUICKACK off: {e}");
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = tcp;
}

/// As axum's own TCP listener does: a connection that died in the backlog is skipped;
/// anything else (out of file descriptors) is logged and retried after a second.
async fn accept_error(e: io::Error) {
    use io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!("accept error: {e}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_ipv4_addresses_and_ipv6_slash_64s() {
        let key = |s: &str| peer_key(s.parse().unwrap());
        assert_eq!(key("192.0.2.7"), key("192.0.2.7"));
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::2"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }

    #[test]
    fn a_peer_holds_at_most_the_limit_until_released() {
        let peers = Arc::new(PendingPeers::new(2));
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let first = peers.enter(ip).unwrap();
        let _second = peers.enter(ip).unwrap();
        assert!(peers.enter(ip).is_none(), "over the limit");
        assert!(peers.enter("192.0.2.8".parse().unwrap()).is_some());
        first.release();
        let _third = peers.enter(ip).expect("released by the first request");
        drop(first);
        assert!(
            peers.enter(ip).is_none(),
            "a second release frees nothing more"
        );
    }
}
