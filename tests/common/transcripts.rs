//! The app's side of live transcription: a WebSocket server (tokio-tungstenite) that
//! takes one connection, as `transcription_url`, and hands over the text frames it
//! receives.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// The text frames of the endpoint's connection, then `None` when it closed.
pub(crate) type Frames = mpsc::UnboundedReceiver<Option<String>>;

/// A WebSocket endpoint on loopback taking one connection (a later one is refused:
/// nobody listens any more); its address and what arrives.
pub(crate) async fn endpoint() -> (SocketAddr, Frames) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        drop(listener);
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        while let Some(Ok(message)) = ws.next().await {
            match message {
                Message::Text(text) => {
                    let _ = tx.send(Some(text.to_string()));
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = tx.send(None);
    });
    (addr, rx)
}

/// The next frame (`None`: the connection closed), within 60 s.
pub(crate) async fn next_frame(frames: &mut Frames) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(60), frames.recv())
        .await
        .expect("a frame within 60 s")
        .expect("the endpoint task runs")
}
