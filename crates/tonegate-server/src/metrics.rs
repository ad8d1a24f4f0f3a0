//! Prometheus metrics of one server (its own registry, so servers in one process, as in
//! tests, do not share counters).
//!
//! Every family is exposed from the start: counters whose label values are known in
//! advance (dialects, directions, digit sources, refusal reasons) begin at 0 for each.
//! Beside the server's own: `tonegate_build_info` and, on Linux, the `process_*`
//! metrics.

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use tonegate_core::proto::Dialect;
use tonegate_core::session::Seen;

/// The server's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Open audio sockets (`tonegate_active_sessions`).
    pub active_sessions: IntGauge,
    /// Audio sockets accepted, by dialect.
    pub sessions_total: IntCounterVec,
    /// Sockets refused because `max_sessions` were open.
    pub sessions_rejected: IntCounter,
    /// WebSocket messages, by dialect and direction (`in`, `out`).
    pub frames: IntCounterVec,
    /// WebSocket payload bytes, by dialect and direction.
    pub bytes: IntCounterVec,
    /// Digits reported, by how they were seen.
    pub digits: IntCounterVec,
    /// Rejected inbound frames and closed sockets, by error code.
    pub errors: IntCounterVec,
    /// Time from the input that caused an event to the event being written out.
    pub event_latency: Histogram,
    /// TLS handshakes that failed, by reason (`error`, `timeout`).
    pub tls_handshake_failures: IntCounterVec,
    /// Audio socket upgrades refused with 401, by reason
    /// ([`Refusal::code`](super::stream_auth::Refusal::code)).
    pub stream_auth_failures: IntCounterVec,
    /// Open connections (HTTP, SSE, audio sockets, TLS handshakes).
    pub connections: IntGauge,
    /// Connections closed as soon as they were accepted, by reason (`maxConnections`,
    /// `pendingPerIp`).
    pub connections_shed: IntCounterVec,
    /// Connections closed for not sending a whole request head in time.
    pub header_timeouts: IntCounter,
    /// Callback URIs named by audio sockets and not honoured, by reason
    /// (`callback_policy::Refusal::code`, or `resolvedPrivate` at delivery).
    pub callback_refused: IntCounterVec,
    /// Webhook bytes queued for delivery, all calls together.
    pub webhook_queued_bytes: IntGauge,
    /// Per-call webhook queues (each with its delivery task) alive.
    pub webhook_queues: IntGauge,
    /// Open SSE event streams.
    pub sse_subscribers: IntGauge,
    /// Bytes of events queued for SSE subscribers and not yet written.
    pub sse_buffered_bytes: IntGauge,
    /// Events an SSE subscriber missed because it fell behind.
    pub sse_missed_events: IntCounter,
    /// Webhook events given up, by reason ([`Dropped::code`](super::webhook::Dropped::code)).
    pub webhook_dropped: IntCounterVec,
    /// SSE streams closed because their subscriber fell behind.
    pub sse_cut_off: IntCounter,
    /// Audio sockets refused with 503 by admission control, by reason (`maxSessions`,
    /// `eventLoopLag`, `cpu`).
    pub admission_refused: IntCounterVec,
    /// How late the event loop ran over the last second (90th percentile), seconds.
    pub event_loop_lag: Gauge,
    /// The process's CPU time over the last second, as a share of the cores it may use.
    pub cpu_share: Gauge,
    /// Speech syntheses run, by engine (`espeak`, `http`) and outcome (`ok`, `failed`).
    pub tts_syntheses: IntCounterVec,
    /// Speech plays served from the synthesis cache.
    pub tts_cache_hits: IntCounter,
    /// Bytes of this node's events waiting to be stored in the cluster's event stream.
    pub cluster_event_outbox_bytes: IntGauge,
    /// Events never stored in the cluster's event stream (its outbox was full, or the
    /// event is larger than NATS carries).
    pub cluster_events_dropped: IntCounter,
    /// Publishes to the cluster's event stream tried again after a failure.
    pub cluster_event_retries: IntCounter,
}

/// Directions of the frame and byte counters.
const DIRECTIONS: [&str; 2] = ["in", "out"];

impl Metrics {
    /// Fresh metrics in a new registry.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let active_sessions =
            IntGauge::new("tonegate_active_sessions", "Open audio sockets").expect("valid");
        let sessions_total = IntCounterVec::new(
            Opts::new("tonegate_sessions_total", "Audio sockets accepted"),
            &["dialect"],
        )
        .expect("valid");
        let sessions_rejected = IntCounter::new(
            "tonegate_sessions_rejected_total",
            "Audio sockets refused at max_sessions",
        )
        .expect("valid");
        let frames = IntCounterVec::new(
            Opts::new("tonegate_frames_total", "WebSocket messages"),
            &["dialect", "direction"],
        )
        .expect("valid");
        let bytes = IntCounterVec::new(
            Opts::new("tonegate_bytes_total", "WebSocket payload bytes"),
            &["dialect", "direction"],
        )
        .expect("valid");
        let digits = IntCounterVec::new(
            Opts::new("tonegate_digits_total", "Digits reported"),
            &["source"],
        )
        .expect("valid");
        for dialect in Dialect::ALL.map(Dialect::as_str) {
            sessions_total.with_label_values(&[dialect]);
            for direction in DIRECTIONS {
                frames.with_label_values(&[dialect, direction]);
                bytes.with_label_values(&[dialect, direction]);
            }
        }
        for source in Seen::ALL.map(Seen::as_str) {
            digits.with_label_values(&[source]);
        }
        let errors = IntCounterVec::new(
            Opts::new(
                "tonegate_decode_errors_total",
                "Rejected frames and sockets closed for bad input",
            ),
            &["code"],
        )
        .expect("valid");
        // The frame decode errors; other codes (floods, timeouts...) appear on first use.
        for code in tonegate_core::proto::Error::CODES {
            errors.with_label_values(&[code]);
        }
        let event_latency = Histogram::with_opts(
            HistogramOpts::new(
                "tonegate_event_latency_seconds",
                "From the frame that caused an event to the event being written",
            )
            .buckets(vec![
                0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1,
            ]),
        )
        .expect("valid");
        let tls_handshake_failures = IntCounterVec::new(
            Opts::new(
                "tonegate_tls_handshake_failures_total",
                "TLS handshakes that failed or timed out",
            ),
            &["reason"],
        )
        .expect("valid");
        for reason in ["error", "timeout"] {
            tls_handshake_failures.with_label_values(&[reason]);
        }
        let stream_auth_failures = IntCounterVec::new(
            Opts::new(
                "tonegate_stream_auth_failures_total",
                "Audio socket upgrades refused as not authenticated",
            ),
            &["reason"],
        )
        .expect("valid");
        for refusal in super::stream_auth::Refusal::ALL {
            stream_auth_failures.with_label_values(&[refusal.code()]);
        }
        let connections = IntGauge::new("tonegate_connections", "Open connections").expect("valid");
        let connections_shed = IntCounterVec::new(
            Opts::new(
                "tonegate_connections_shed_total",
                "Connections closed as soon as they were accepted",
            ),
            &["reason"],
        )
        .expect("valid");
        for shed in super::listener::Shed::ALL {
            connections_shed.with_label_values(&[shed.code()]);
        }
        let header_timeouts = IntCounter::new(
            "tonegate_header_timeouts_total",
            "Connections closed for not sending a whole request head in time",
        )
        .expect("valid");
        let callback_refused = IntCounterVec::new(
            Opts::new(
                "tonegate_callback_refused_total",
                "Callback URIs named by audio sockets and not honoured",
            ),
            &["reason"],
        )
        .expect("valid");
        for refusal in super::callback_policy::Refusal::ALL {
            callback_refused.with_label_values(&[refusal.code()]);
        }
        callback_refused.with_label_values(&[super::callback_policy::RESOLVED_PRIVATE]);
        let webhook_queued_bytes = IntGauge::new(
            "tonegate_webhook_queued_bytes",
            "Webhook bytes queued for delivery",
        )
        .expect("valid");
        let webhook_queues =
            IntGauge::new("tonegate_webhook_queues", "Per-call webhook queues alive")
                .expect("valid");
        let sse_subscribers =
            IntGauge::new("tonegate_sse_subscribers", "Open SSE event streams").expect("valid");
        let sse_buffered_bytes = IntGauge::new(
            "tonegate_sse_buffered_bytes",
            "Bytes of events queued for SSE subscribers, not yet written",
        )
        .expect("valid");
        let sse_missed_events = IntCounter::new(
            "tonegate_sse_missed_events_total",
            "Events SSE subscribers missed by falling behind",
        )
        .expect("valid");
        let webhook_dropped = IntCounterVec::new(
            Opts::new(
                "tonegate_webhook_dropped_total",
                "Webhook events given up (queue full, call ended, or not deliverable)",
            ),
            &["reason"],
        )
        .expect("valid");
        let sse_cut_off = IntCounter::new(
            "tonegate_sse_cut_off_total",
            "SSE streams closed because their subscriber fell behind",
        )
        .expect("valid");
        let admission_refused = IntCounterVec::new(
            Opts::new(
                "tonegate_admission_refused_total",
                "Audio sockets refused with 503 by admission control",
            ),
            &["reason"],
        )
        .expect("valid");
        let cluster_event_outbox_bytes = IntGauge::new(
            "tonegate_cluster_event_outbox_bytes",
            "Bytes of this node's events waiting to be stored in the cluster's event stream",
        )
        .expect("valid");
        let cluster_events_dropped = IntCounter::new(
            "tonegate_cluster_events_dropped_total",
            "Events never stored in the cluster's event stream (outbox full, or too large)",
        )
        .expect("valid");
        let cluster_event_retries = IntCounter::new(
            "tonegate_cluster_event_retries_total",
            "Publishes to the cluster's event stream tried again after a failure",
        )
        .expect("valid");
        for dropped in super::webhook::Dropped::ALL {
            webhook_dropped.with_label_values(&[dropped.code()]);
        }
        for refusal in super::admission::Refusal::ALL {
            admission_refused.with_label_values(&[refusal.code()]);
        }
        let event_loop_lag = Gauge::new(
            "tonegate_event_loop_lag_seconds",
            "How late the event loop ran over the last second (90th percentile)",
        )
        .expect("valid");
        let cpu_share = Gauge::new(
            "tonegate_cpu_share",
            "Process CPU time over the last second, share of the available cores",
        )
        .expect("valid");
        let tts_syntheses = IntCounterVec::new(
            Opts::new("tonegate_tts_syntheses_total", "Speech syntheses run"),
            &["engine", "outcome"],
        )
        .expect("valid");
        for engine in ["espeak", "http"] {
            for outcome in ["ok", "failed"] {
                tts_syntheses.with_label_values(&[engine, outcome]);
            }
        }
        let tts_cache_hits = IntCounter::new(
            "tonegate_tts_cache_hits_total",
            "Speech plays served from the synthesis cache",
        )
        .expect("valid");
        for c in [
            Box::new(active_sessions.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(sessions_total.clone()),
            Box::new(sessions_rejected.clone()),
            Box::new(frames.clone()),
            Box::new(bytes.clone()),
            Box::new(digits.clone()),
            Box::new(errors.clone()),
            Box::new(event_latency.clone()),
            Box::new(tls_handshake_failures.clone()),
            Box::new(stream_auth_failures.clone()),
            Box::new(connections.clone()),
            Box::new(connections_shed.clone()),
            Box::new(header_timeouts.clone()),
            Box::new(callback_refused.clone()),
            Box::new(webhook_queued_bytes.clone()),
            Box::new(webhook_queues.clone()),
            Box::new(sse_subscribers.clone()),
            Box::new(sse_buffered_bytes.clone()),
            Box::new(sse_missed_events.clone()),
            Box::new(webhook_dropped.clone()),
            Box::new(build_info()),
            Box::new(sse_cut_off.clone()),
            Box::new(admission_refused.clone()),
            Box::new(event_loop_lag.clone()),
            Box::new(cpu_share.clone()),
            Box::new(tts_syntheses.clone()),
            Box::new(tts_cache_hits.clone()),
            Box::new(cluster_event_outbox_bytes.clone()),
            Box::new(cluster_events_dropped.clone()),
            Box::new(cluster_event_retries.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        // The process's CPU time, memory, open files and start time (read from /proc).
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("unique metric names");
        Metrics {
            registry,
            active_sessions,
            sessions_total,
            sessions_rejected,
            frames,
            bytes,
            digits,
            errors,
            event_latency,
            tls_handshake_failures,
            stream_auth_failures,
            connections,
            connections_shed,
            header_timeouts,
            callback_refused,
            webhook_queued_bytes,
            webhook_queues,
            sse_subscribers,
            sse_buffered_bytes,
            sse_missed_events,
            webhook_dropped,
            sse_cut_off,
            admission_refused,
            event_loop_lag,
            cpu_share,
            tts_syntheses,
            tts_cache_hits,
            cluster_event_outbox_bytes,
            cluster_events_dropped,
            cluster_event_retries,
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// `tonegate_build_info{version, rustc} 1`: which build is running.
fn build_info() -> IntGauge {
    let opts = Opts::new(
        "tonegate_build_info",
        "The running build: tonegate version and the rustc that compiled it; always 1",
    )
    .const_label("version", env!("CARGO_PKG_VERSION"))
    .const_label("rustc", env!("TONEGATE_RUSTC_VERSION"));
    let info = IntGauge::with_opts(opts).expect("valid");
    info.set(1);
    info
}

/// One audio socket's traffic counters, looked up once per dialect label instead of per
/// frame (a label lookup hashes the labels under a lock).
///
/// Inbound messages are tallied on the socket and added to the shared counters once per
/// [`INBOUND_TALLY`] messages and when dropped: the shared counters are atomics every
/// call's socket writes, so a per-frame add would move their cache line between cores
/// 50 times a second per call. A scrape sees a live call's inbound traffic at most
/// [`INBOUND_TALLY`] messages (about a second of audio) late.
pub(crate) struct StreamCounters {
    /// Messages in.
    frames_in: IntCounter,
    /// Payload bytes in.
    bytes_in: IntCounter,
    /// Messages out.
    frames_out: IntCounter,
    /// Payload bytes out.
    bytes_out: IntCounter,
    /// Messages in not yet added to `frames_in`.
    tally_frames: u64,
    /// Bytes in not yet added to `bytes_in`.
    tally_bytes: u64,
}

/// Inbound messages a socket tallies before adding them to the shared counters.
const INBOUND_TALLY: u64 = 50;

impl StreamCounters {
    /// Counts one message in of `len` bytes.
    pub(crate) fn count_in(&mut self, len: usize) {
        self.tally_frames += 1;
        self.tally_bytes += len as u64;
        if self.tally_frames >= INBOUND_TALLY {
            self.flush_in();
        }
    }

    /// Counts one message out of `len` bytes.
    pub(crate) fn count_out(&self, len: usize) {
        self.frames_out.inc();
        self.bytes_out.inc_by(len as u64);
    }

    /// Adds the tallied inbound messages to the shared counters.
    fn flush_in(&mut self) {
        self.frames_in
            .inc_by(std::mem::take(&mut self.tally_frames));
        self.bytes_in.inc_by(std::mem::take(&mut self.tally_bytes));
    }
}

impl Drop for StreamCounters {
    fn drop(&mut self) {
        self.flush_in();
    }
}

impl Metrics {
    /// The traffic counters of sockets of dialect `label`.
    pub(crate) fn stream_counters(&self, label: &str) -> StreamCounters {
        StreamCounters {
            frames_in: self.frames.with_label_values(&[label, "in"]),
            bytes_in: self.bytes.with_label_values(&[label, "in"]),
            frames_out: self.frames.with_label_values(&[label, "out"]),
            bytes_out: self.bytes.with_label_values(&[label, "out"]),
            tally_frames: 0,
            tally_bytes: 0,
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_traffic_reaches_the_shared_counters_per_tally_and_at_close() {
        let metrics = Metrics::new();
        let frames = metrics.frames.with_label_values(&["acs", "in"]);
        let bytes = metrics.bytes.with_label_values(&["acs", "in"]);
        let mut counters = metrics.stream_counters("acs");
        for _ in 0..INBOUND_TALLY - 1 {
            counters.count_in(10);
        }
        assert_eq!((frames.get(), bytes.get()), (0, 0), "still tallied");
        counters.count_in(10);
        assert_eq!((frames.get(), bytes.get()), (50, 500));
        counters.count_in(7);
        counters.count_in(3);
        drop(counters);
        assert_eq!((frames.get(), bytes.get()), (52, 510), "the rest at close");
    }
}
