//! The event log's cost, in memory, on disk (`state_dir`, redb) and in a cluster (the
//! JetStream stream of `cluster_nats_url`, on a `nats-server -js` this bench starts on
//! loopback, as the cluster tests do), on a real server over loopback:
//! - latency: a call streams digits 4x faster than real time, frame by frame; for each
//!   digit, the time from the send of the frame that completes it to its `dtmf` event on
//!   the SSE stream, and how much later that is than the same event on the call's own
//!   socket (which does not go through the log): p50 and p99;
//! - throughput (criterion): events per second through the log to an SSE client, 1000
//!   `mark` events of one raw call per iteration (and, for JetStream, of ten calls in
//!   turn).
//!
//! `cargo bench --bench event_log`. The JetStream runs need the `nats-server` program
//! (Debian package `nats-server`); without it they are skipped, saying so.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::cluster::Nats;
use common::event_stream::EventStream;
use common::*;
use criterion::{Criterion, Throughput};
use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::server::Config;

/// Events per throughput iteration.
const BATCH: usize = 1_000;

/// The server settings of one backend (`state_dir`, `cluster_nats_url` or neither), with
/// room for the bursts.
fn config(state_dir: Option<PathBuf>, cluster_nats_url: Option<String>) -> Config {
    Config {
        state_dir,
        cluster_nats_url,
        max_frames_per_second: 1_000_000,
        max_frame_burst: 1_000_000,
        event_buffer: 100_000,
        event_subscriber_bytes: 64 << 20,
        ..Config::default()
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let dir = std::env::temp_dir().join(format!("tonegate-bench-{}", std::process::id()));
    let nats = has_nats_server().then(|| runtime.block_on(Nats::start()));
    let mut backends = vec!["memory", "redb"];
    match &nats {
        Some(_) => backends.push("jetstream"),
        None => println!(
            "jetstream: skipped: the nats-server program is not installed (apt-get install nats-server)"
        ),
    }
    // A fresh state directory for each server; every JetStream server on the one NATS.
    let settings = |backend: &str, run: &str| match backend {
        "redb" => config(Some(dir.join(format!("{backend}-{run}"))), None),
        "jetstream" => config(None, nats.as_ref().map(Nats::url)),
        _ => config(None, None),
    };
    for name in &backends {
        runtime.block_on(digit_to_sse_latency(name, settings(name, "latency")));
    }
    let mut criterion = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let mut group = criterion.benchmark_group("event_log");
    group.throughput(Throughput::Elements(BATCH as u64));
    // A call's events are stored in the stream one after another (each once the one
    // before is acknowledged); calls go side by side: so JetStream with ten calls too.
    let mut runs: Vec<(String, &str, usize)> =
        backends.iter().map(|b| (b.to_string(), *b, 1)).collect();
    if nats.is_some() {
        runs.push(("jetstream, 10 calls".to_owned(), "jetstream", 10));
    }
    for (label, name, calls) in &runs {
        let mut marks = runtime.block_on(Marks::open(settings(name, "throughput"), *calls));
        group.bench_function(label.as_str(), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        marks.batch().await;
                    }
                    start.elapsed()
                })
            });
        });
        runtime.block_on(marks.close());
    }
    group.finish();
    criterion.final_summary();
    drop(nats);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether the `nats-server` program runs.
fn has_nats_server() -> bool {
    std::process::Command::new("nats-server")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Raw calls asking for marks and an SSE client of every call reading them.
struct Marks {
    server: TestServer,
    sinks: Vec<futures_util::stream::SplitSink<Ws, Message>>,
    sse: EventStream,
    next: usize,
}

impl Marks {
    /// `calls` calls on a server with `config`.
    async fn open(config: Config, calls: usize) -> Marks {
        let server = start(config).await;
        let sse = EventStream::open(&format!("http://{}/v1/events", server.addr), &[]).await;
        let mut sinks = Vec::new();
        for call in 0..calls {
            let mut ws = connect(server.addr, "/media/raw").await;
            start_raw(
                &mut ws,
                &format!("t{call}"),
                SampleRate::HZ_8000,
                Encoding::Ulaw,
            )
            .await;
            send_binary(&mut ws, encode(&[0.0; 160], Encoding::Ulaw)).await;
            let (sink, mut stream) = ws.split();
            tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
            sinks.push(sink);
        }
        Marks {
            server,
            sinks,
            sse,
            next: 0,
        }
    }

    /// Asks for [`BATCH`] marks, spread over the calls in turn, and reads them off the
    /// SSE stream.
    async fn batch(&mut self) {
        for i in 0..BATCH {
            let text = format!(r#"{{"type":"mark","name":"m{}"}}"#, self.next);
            let sink = i % self.sinks.len();
            self.sinks[sink].send(Message::text(text)).await.unwrap();
            self.next += 1;
        }
        let mut left = BATCH;
        while left > 0 {
            if self.sse.next().await.data["type"] == "mark" {
                left -= 1;
            }
        }
    }

    async fn close(self) {
        self.server.handle.shutdown();
        let _ = self.server.task.await;
    }
}

async fn digit_to_sse_latency(name: &str, config: Config) {
    let server = start(config).await;
    let mut sse =
        EventStream::open(&format!("http://{}/v1/calls/lat/events", server.addr), &[]).await;
    let mut ws = connect(server.addr, "/media/raw").await;
    start_raw(&mut ws, "lat", SampleRate::HZ_8000, Encoding::S16le).await;
    let keys = "0123456789*#ABCD".repeat(5);
    let (samples, _) = signal(&keys, SampleRate::HZ_8000, 100.0, 200.0);
    let bytes = encode(&samples, Encoding::S16le);
    let (mut sink, mut stream) = ws.split();
    let socket = tokio::spawn(async move {
        let mut arrivals = Vec::new();
        while let Some(Ok(m)) = stream.next().await {
            if let Message::Text(t) = m {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "dtmf" {
                    arrivals.push(Instant::now());
                }
                if v["type"] == "ended" {
                    break;
                }
            }
        }
        arrivals
    });
    let digits = keys.len();
    let events = tokio::spawn(async move {
        let mut arrivals = Vec::new();
        while arrivals.len() < digits {
            let m = sse.next().await;
            if m.data["type"] == "dtmf" {
                arrivals.push((Instant::now(), m.data["detectedMs"].as_f64().unwrap()));
            }
        }
        arrivals
    });
    let sent_at = latency::feed_fast(&mut sink, &bytes).await;
    let on_socket = socket.await.unwrap();
    let on_sse = events.await.unwrap();
    assert_eq!(on_sse.len(), digits, "every digit on the event stream");
    assert_eq!(on_socket.len(), digits, "every digit on the socket");
    let mut latencies = Vec::new();
    let mut added = Vec::new();
    for ((at, detected_ms), socket_at) in on_sse.iter().zip(&on_socket) {
        latencies.push(latency::after_confirming_frame(&sent_at, *detected_ms, *at));
        added.push(at.saturating_duration_since(*socket_at));
    }
    let (p50, p99) = latency::percentiles(&mut latencies);
    let (added50, added99) = latency::percentiles(&mut added);
    println!(
        "{name}: digit to SSE event p50 {p50:?}, p99 {p99:?}; later than on the socket by p50 \
         {added50:?}, p99 {added99:?} ({digits} digits)"
    );
    server.handle.shutdown();
    let _ = server.task.await;
}
