//! Paused-clock tests: outbound frames are paced against the clock with the configured
//! lead, and an idle socket is closed after the idle timeout.
//!
//! With a paused clock tokio jumps to the next timer whenever the runtime is idle, even
//! while socket data is in flight. A [`Spinner`] keeps the runtime busy during socket
//! exchanges, so time only moves where the test lets it.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tonegate::server::Config;

struct Spinner(tokio::task::JoinHandle<()>);

fn spin() -> Spinner {
    Spinner(tokio::spawn(async {
        loop {
            tokio::task::yield_now().await;
        }
    }))
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[tokio::test(start_paused = true)]
async fn outbound_frames_are_paced_with_a_lead() {
    // Digits of 100 ms tone and 100 ms pause, which the figures below assume.
    let server = start(Config {
        send_dtmf_on_ms: 100,
        send_dtmf_off_ms: 100,
        ..Config::default()
    })
    .await;
    let spinner = spin();
    let mut ws = connect(server.addr, "/media/raw").await;
    send_text(
        &mut ws,
        r#"{"type":"start","callId":"pace","encoding":"ulaw","sampleRate":8000}"#,
    )
    .await;
    read_until(&mut ws, "started", Duration::from_secs(5)).await;
    let t0 = Instant::now();
    // Two digits: 400 ms = 20 frames of 20 ms; frame k plays at k * 20 ms and is sent
    // 100 ms early.
    send_text(&mut ws, r#"{"type":"sendDigits","id":"d","digits":"12"}"#).await;
    drop(spinner);
    let due = |t: Duration| -> usize {
        (0..20u64)
            .filter(|k| (k * 20).saturating_sub(100) <= t.as_millis() as u64)
            .count()
    };
    let mut frames = 0;
    let mut completed_at = None;
    for step in 0..=45u64 {
        let now = Duration::from_millis(step * 10);
        tokio::time::sleep_until(t0 + now).await;
        let _spinner = spin();
        // Everything due by now arrives, and nothing more.
        while frames < due(now) || (step == 40 && completed_at.is_none()) {
            match ws.next().await.unwrap().unwrap() {
                Message::Binary(b) => {
                    assert_eq!(b.len(), 160);
                    frames += 1;
                }
                Message::Text(t) if t.as_str().contains("playCompleted") => {
                    completed_at = Some(t0.elapsed())
                }
                _ => {}
            }
        }
        assert_eq!(frames, due(now), "at {now:?}");
        for _ in 0..200 {
            tokio::task::yield_now().await;
        }
        if let Some(Ok(Message::Binary(_))) =
            futures_util::FutureExt::now_or_never(ws.next()).flatten()
        {
            panic!("a frame arrived early at {now:?}");
        }
    }
    assert_eq!(frames, 20);
    // Completion is reported when the audio has played (400 ms), not when it was sent.
    assert_eq!(completed_at, Some(Duration::from_millis(400)));
    server.handle.shutdown();
}

#[tokio::test(start_paused = true)]
async fn idle_sockets_are_closed() {
    let server = start(Config {
        idle_timeout_ms: 30_000,
        ..Config::default()
    })
    .await;
    let spinner = spin();
    let mut ws = connect(server.addr, "/media/raw").await;
    send_text(
        &mut ws,
        r#"{"type":"start","callId":"idle","encoding":"ulaw","sampleRate":8000}"#,
    )
    .await;
    read_until(&mut ws, "started", Duration::from_secs(5)).await;
    drop(spinner);
    // Traffic every 20 s keeps it open.
    for i in 0..3 {
        tokio::time::sleep(Duration::from_secs(20)).await;
        let _spinner = spin();
        send_text(&mut ws, format!(r#"{{"type":"mark","name":"k{i}"}}"#)).await;
        read_until(&mut ws, "mark", Duration::from_secs(5)).await;
    }
    let last = Instant::now();
    let got = read_all(&mut ws, Duration::from_secs(120)).await;
    let waited = last.elapsed();
    assert_eq!(
        got.close.as_ref().map(|c| (c.0, c.1.as_str())),
        Some((1001, "idle timeout"))
    );
    // The server closes at 30 s; in paused time the close frame's flight may let the
    // clock jump to the server's 1 s close-handshake guard.
    assert!(
        waited >= Duration::from_secs(30) && waited <= Duration::from_secs(31),
        "{waited:?}"
    );
    assert_eq!(got.of_type("ended").len(), 1);
    server.handle.shutdown();
}
