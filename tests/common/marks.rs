//! A raw-dialect call driven by `mark` commands: each comes back as a `mark` event on
//! the socket and on the event streams, which makes events on demand.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tonegate::SampleRate;
use tonegate::codec::Encoding;

use super::{Ws, connect, encode, send_binary, start_raw};

/// A raw call (µ-law, 8 kHz) whose `mark` commands make its events.
pub(crate) struct MarkingCall {
    sink: futures_util::stream::SplitSink<Ws, Message>,
    _reader: tokio::task::JoinHandle<()>,
}

impl MarkingCall {
    /// Starts call `call_id` on the server at `addr` with one frame of silence.
    pub(crate) async fn open(addr: SocketAddr, call_id: &str) -> MarkingCall {
        let mut ws = connect(addr, "/media/raw").await;
        start_raw(&mut ws, call_id, SampleRate::HZ_8000, Encoding::Ulaw).await;
        send_binary(&mut ws, encode(&[0.0; 160], Encoding::Ulaw)).await;
        let (sink, mut stream) = ws.split();
        // Read what the server sends, so the session never waits on this client.
        let reader = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
        MarkingCall {
            sink,
            _reader: reader,
        }
    }

    /// Asks for a mark event named `name`.
    pub(crate) async fn mark(&mut self, name: &str) {
        let text = format!(r#"{{"type":"mark","name":"{name}"}}"#);
        self.sink.send(Message::text(text)).await.unwrap();
    }

    /// Asks for marks `<prefix><i>` for each `i` in `range`.
    pub(crate) async fn marks(&mut self, prefix: &str, range: std::ops::Range<usize>) {
        for i in range {
            self.mark(&format!("{prefix}{i}")).await;
        }
    }
}
