//! Digit latency over a real socket, for the latency benches: 8 kHz audio fed in 20 ms
//! frames faster than real time, each frame's send time kept, and each digit event
//! dated from the frame that confirmed it.

use std::time::Duration;

use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::Ws;

/// One 20 ms frame of 8 kHz s16le audio, in bytes.
const FRAME_BYTES: usize = 320;

/// Sends `bytes` (8 kHz s16le) on a raw call in 20 ms frames, one every 5 ms (four times
/// real time), then `end`; returns when each frame was sent.
pub(crate) async fn feed_fast(sink: &mut SplitSink<Ws, Message>, bytes: &[u8]) -> Vec<Instant> {
    let mut sent_at = Vec::new();
    for chunk in bytes.chunks(FRAME_BYTES) {
        sink.send(Message::binary(chunk.to_vec())).await.unwrap();
        sent_at.push(Instant::now());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sink.send(Message::text(r#"{"type":"end"}"#)).await.unwrap();
    sent_at
}

/// How long after the frame holding a digit's confirmation (its `detectedMs`) was sent
/// the digit's event arrived (`at`).
pub(crate) fn after_confirming_frame(
    sent_at: &[Instant],
    detected_ms: f64,
    at: Instant,
) -> Duration {
    let frame = ((detected_ms / 20.0).ceil() as usize)
        .saturating_sub(1)
        .min(sent_at.len() - 1);
    at.saturating_duration_since(sent_at[frame])
}

/// The p50 and p99 of `values` (sorted in place).
pub(crate) fn percentiles(values: &mut [Duration]) -> (Duration, Duration) {
    values.sort();
    (
        values[values.len() / 2],
        values[(values.len() * 99).div_ceil(100) - 1],
    )
}
