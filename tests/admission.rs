//! Admission control on a real server: while the event loop runs late, new audio sockets
//! get 503 with `Retry-After` (counted by reason), a call already streaming goes on, and
//! once the loop keeps time again new calls are admitted again.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use tokio_tungstenite::tungstenite;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::server::Config;

/// A server with load-based admission on (lag only: CPU is the test process's, shared
/// with the other tests).
async fn start_with_admission() -> TestServer {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        admission_max_lag_ms: 20,
        admission_max_cpu_percent: 0,
        ..Config::default()
    };
    common::serve(config).await
}

/// Tries an audio socket upgrade: `Ok` if admitted (the socket is closed at once), else
/// the refusal's status and `Retry-After`.
async fn try_open(addr: std::net::SocketAddr) -> Result<(), (u16, Option<String>)> {
    match tokio_tungstenite::connect_async(format!("ws://{addr}/media/raw")).await {
        Ok((mut ws, _)) => {
            let _ = ws.close(None).await;
            Ok(())
        }
        Err(tungstenite::Error::Http(response)) => Err((
            response.status().as_u16(),
            response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned()),
        )),
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

/// The value of the metric line starting with `series` in `/metrics`.
async fn metric(addr: std::net::SocketAddr, series: &str) -> u64 {
    let (_, text) = http_get(addr, "/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics"))
}

// One worker: a task that blocks it makes the event loop late for every task.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_late_event_loop_refuses_new_calls_and_keeps_the_live_one() {
    let server = start_with_admission().await;
    let mut live = connect(server.addr, "/media/raw").await;
    start_raw(&mut live, "live", SampleRate::HZ_8000, Encoding::Ulaw).await;
    read_until(&mut live, "started", Duration::from_secs(10)).await;
    assert_eq!(try_open(server.addr).await, Ok(()), "admitted while idle");

    // Hold the only worker 30 ms at a time.
    let stop = Arc::new(AtomicBool::new(false));
    let hog = tokio::spawn({
        let stop = stop.clone();
        async move {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(30));
                tokio::task::yield_now().await;
            }
        }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let retry_after = loop {
        match try_open(server.addr).await {
            Err((503, retry_after)) => break retry_after,
            Err(other) => panic!("refused with {other:?}"),
            Ok(()) => {}
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never refused while the event loop was late"
        );
    };
    assert_eq!(retry_after.as_deref(), Some("2"));
    let refused = r#"tonegate_admission_refused_total{reason="eventLoopLag"}"#;
    assert!(metric(server.addr, refused).await >= 1);
    assert_eq!(
        metric(
            server.addr,
            r#"tonegate_admission_refused_total{reason="cpu"}"#
        )
        .await,
        0
    );

    // The loop keeps time again: new calls are admitted again.
    stop.store(true, Ordering::Relaxed);
    hog.await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while try_open(server.addr).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still refused once the event loop kept time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The call admitted before the overload was never closed and still finds digits.
    let (samples, _) = signal("159", SampleRate::HZ_8000, 100.0, 300.0);
    send_audio(
        &mut live,
        &samples,
        SampleRate::HZ_8000,
        Encoding::Ulaw,
        20.0,
        false,
    )
    .await;
    let mut found = String::new();
    while found.len() < 3 {
        let got = read_until(&mut live, "dtmf", Duration::from_secs(10)).await;
        assert!(got.close.is_none(), "the live call was closed: {got:?}");
        found.push_str(&keys(&got.of_type("dtmf")));
    }
    assert_eq!(found, "159");
}
