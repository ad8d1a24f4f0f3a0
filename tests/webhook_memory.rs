//! Webhook queues cannot hold memory without bound: with a receiver that never answers,
//! an ended call's queue gets `webhook_retry_ms` more and is then dropped (counted) and
//! gone, and all queues together never hold more than `webhook_queue_bytes`; events over
//! it are dropped and counted, while the SSE streams still carry them.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::post;
use common::http_peer::Peer;
use common::*;
use tonegate::server::{Config, Handle};

const LIMIT: Duration = Duration::from_secs(30);

/// A receiver that takes every POST and never answers.
async fn hanging_receiver() -> Peer {
    Peer::serve(Router::new().route("/events", post(std::future::pending::<()>))).await
}

/// `tonegate_webhook_dropped_total{reason}`.
fn dropped(handle: &Handle, reason: &str) -> u64 {
    handle
        .metrics()
        .webhook_dropped
        .with_label_values(&[reason])
        .get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_calls_free_their_webhook_queues() {
    let peer = hanging_receiver().await;
    let server = start(Config {
        callback_uri: Some(peer.url("/events")),
        webhook_timeout_ms: 600_000,
        webhook_retry_ms: 1_000,
        ..Config::default()
    })
    .await;
    let metrics = server.handle.metrics().clone();
    let mut calls = Vec::new();
    let mut events = 0;
    for call_id in ["held-1", "held-2"] {
        let mut ws = connect(server.addr, "/media/raw").await;
        start_raw(
            &mut ws,
            call_id,
            tonegate::SampleRate::HZ_8000,
            tonegate::codec::Encoding::Ulaw,
        )
        .await;
        events += webhook::press_continuous(&mut ws, "123").await.len() as u64;
        calls.push(ws);
    }
    // Both queues hold their events: the first POST of each hangs.
    peer.wait_for("a POST of each call", LIMIT, |log| {
        (log.len() == 2).then_some(())
    })
    .await;
    assert_eq!(metrics.webhook_queues.get(), 2);
    assert!(metrics.webhook_queued_bytes.get() > 0);

    for mut ws in calls {
        ws.close(None).await.unwrap();
    }
    // Within webhook_retry_ms of the end (waited for generously), the queues and their
    // bytes are gone, every undelivered event counted.
    wait_until("the queues to be dropped", LIMIT, || {
        metrics.webhook_queues.get() == 0
    })
    .await;
    assert_eq!(metrics.webhook_queued_bytes.get(), 0);
    assert_eq!(dropped(&server.handle, "callEnded"), events);
    assert_eq!(peer.requests().len(), 2, "nothing retried after the end");
    server.handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_webhook_bytes_are_capped() {
    let peer = hanging_receiver().await;
    let server = start(Config {
        callback_uri: Some(peer.url("/events")),
        webhook_queue_bytes: 1_500,
        webhook_timeout_ms: 600_000,
        ..Config::default()
    })
    .await;
    let mut cloud = server.handle.cloud_events();
    let mut ws = connect(server.addr, "/media/raw").await;
    start_raw(
        &mut ws,
        "capped",
        tonegate::SampleRate::HZ_8000,
        tonegate::codec::Encoding::Ulaw,
    )
    .await;
    let reported = webhook::press_continuous(&mut ws, "123456").await;
    // The SSE side loses nothing.
    for _ in &reported {
        tokio::time::timeout(LIMIT, cloud.recv())
            .await
            .unwrap()
            .unwrap();
    }

    wait_until("an event dropped at the cap", LIMIT, || {
        dropped(&server.handle, "queueBytes") > 0
    })
    .await;
    let dropped = dropped(&server.handle, "queueBytes");
    assert!(
        dropped < reported.len() as u64,
        "{dropped} of {reported:?} dropped"
    );
    let queued = server.handle.metrics().webhook_queued_bytes.get();
    assert!((1..=1_500).contains(&queued), "{queued} bytes queued");
    server.handle.shutdown();
}
