//! The bare-transport baseline of `scripts/load-bench`: the same stack as `tonegate
//! serve` (axum's WebSocket on tokio-tungstenite, multi-thread runtime, TCP_NODELAY) that
//! only parses each ACS `AudioData` frame's JSON and decodes its base64 into a reused
//! buffer. tonegate's cost per call is measured against it. It allocates as `tonegate`
//! does (jemalloc on transparent huge pages): the allocator is part of the transport's
//! cost, and with glibc's malloc this server spends about 5 % more CPU.
//!
//! `cargo run --release --example bare_server -- [ADDR] [READ_BUFFER_BYTES]`
//! (default `127.0.0.1:8090`, 4096: the baseline of issue 12's targets).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::serve::ListenerExt;
use base64::Engine;
use futures_util::SinkExt;
use serde::Deserialize;

/// The part of an ACS frame the baseline reads.
#[derive(Deserialize)]
struct Frame<'a> {
    kind: &'a str,
    #[serde(rename = "audioData", borrow)]
    audio_data: Option<AudioData<'a>>,
}

#[derive(Deserialize)]
struct AudioData<'a> {
    data: Option<&'a str>,
}

/// The allocator of the `tonegate` binary, with the same options (`.cargo/config.toml`).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8090".to_owned())
        .parse()
        .expect("ADDR");
    let read_buffer: usize = args.next().map_or(4_096, |s| s.parse().expect("bytes"));
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(serve(addr, read_buffer));
}

async fn serve(addr: SocketAddr, read_buffer: usize) {
    let app = Router::new().route(
        "/media/acs",
        get(move |upgrade: WebSocketUpgrade| accept(upgrade, read_buffer)),
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("bind")
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    eprintln!("bare_server listening on {addr}, read buffer {read_buffer} bytes");
    axum::serve(listener, app).await.expect("serve");
}

async fn accept(upgrade: WebSocketUpgrade, read_buffer: usize) -> Response {
    upgrade
        .read_buffer_size(read_buffer)
        .on_upgrade(|socket| async move { run(socket).await })
}

async fn run(mut socket: WebSocket) {
    let mut pcm = Vec::new();
    let mut bytes = 0usize;
    while let Some(Ok(message)) = socket.recv().await {
        let Message::Text(text) = message else {
            if matches!(message, Message::Close(_)) {
                // Send the reply tungstenite queued to the peer's close, as tonegate does
                // (sending another close frame would fail and drop the socket unanswered).
                let _ = socket.flush().await;
                break;
            }
            continue;
        };
        let Ok(frame) = serde_json::from_str::<Frame>(text.as_str()) else {
            continue;
        };
        if frame.kind != "AudioData" {
            continue;
        }
        if let Some(data) = frame.audio_data.and_then(|a| a.data) {
            let estimate = base64::decoded_len_estimate(data.len());
            if pcm.len() < estimate {
                pcm.resize(estimate, 0);
            }
            if let Ok(n) = base64::engine::general_purpose::STANDARD.decode_slice(data, &mut pcm) {
                bytes = bytes.wrapping_add(n);
            }
        }
    }
    std::hint::black_box(bytes);
}
