//! `GET /metrics` of a server that has served nothing yet, read with a real Prometheus
//! text parser: every family is there from the start with HELP and TYPE, labelled
//! counters start at 0 for each known label value, the process and build-info metrics
//! are present, and no two families share a name (also not once OpenMetrics strips a
//! counter's `_total`).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use prometheus_parse::{Scrape, Value};
use tonegate::server::Config;

/// The families the exposition must hold, with their type.
const FAMILIES: &[(&str, &str)] = &[
    ("tonegate_active_sessions", "gauge"),
    ("tonegate_sessions_total", "counter"),
    ("tonegate_sessions_rejected_total", "counter"),
    ("tonegate_frames_total", "counter"),
    ("tonegate_bytes_total", "counter"),
    ("tonegate_digits_total", "counter"),
    ("tonegate_event_latency_seconds", "histogram"),
    ("tonegate_tls_handshake_failures_total", "counter"),
    ("tonegate_stream_auth_failures_total", "counter"),
    ("tonegate_connections", "gauge"),
    ("tonegate_connections_shed_total", "counter"),
    ("tonegate_header_timeouts_total", "counter"),
    ("tonegate_callback_refused_total", "counter"),
    ("tonegate_webhook_queued_bytes", "gauge"),
    ("tonegate_webhook_queues", "gauge"),
    ("tonegate_webhook_dropped_total", "counter"),
    ("tonegate_sse_subscribers", "gauge"),
    ("tonegate_sse_buffered_bytes", "gauge"),
    ("tonegate_sse_missed_events_total", "counter"),
    ("tonegate_build_info", "gauge"),
    ("process_cpu_seconds_total", "counter"),
    ("process_resident_memory_bytes", "gauge"),
    ("process_open_fds", "gauge"),
    ("process_max_fds", "gauge"),
    ("process_start_time_seconds", "gauge"),
];

/// The text of `/metrics` on a fresh server.
async fn fresh_metrics() -> String {
    let server = start(Config::default()).await;
    let (status, text) = http_get(server.addr, "/metrics").await;
    assert_eq!(status, 200);
    server.handle.shutdown();
    text
}

/// `# TYPE` lines: family name to type, refusing a family declared twice.
fn declared_types(text: &str) -> BTreeMap<String, String> {
    let mut types = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            let earlier = types.insert(name.to_owned(), kind.to_owned());
            assert!(earlier.is_none(), "{name} declared twice");
        }
    }
    types
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of the sample of `metric` whose labels are `labels` (all of them).
fn sample(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<Value> {
    scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == metric
                && s.labels.len() == labels.len()
                && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        })
        .map(|s| s.value.clone())
}

#[tokio::test]
async fn every_family_is_there_from_the_start_with_help_and_type() {
    let text = fresh_metrics().await;
    let types = declared_types(&text);
    let scrape = parse(&text);
    for (family, kind) in FAMILIES {
        assert_eq!(
            types.get(*family).map(String::as_str),
            Some(*kind),
            "{family} as a {kind}:\n{text}"
        );
        let help = scrape.docs.get(*family).map(String::as_str).unwrap_or("");
        assert!(!help.trim().is_empty(), "{family} has no HELP");
        assert!(
            scrape.samples.iter().any(|s| s.metric == *family),
            "{family} has no sample"
        );
    }
    for family in types.keys() {
        assert!(scrape.docs.contains_key(family), "{family} has no HELP");
    }
}

#[tokio::test]
async fn labelled_counters_start_at_zero_for_known_labels() {
    let scrape = parse(&fresh_metrics().await);
    let zero = Some(Value::Counter(0.0));
    for dialect in ["acs", "twilio", "raw"] {
        let labels = [("dialect", dialect)];
        assert_eq!(sample(&scrape, "tonegate_sessions_total", &labels), zero);
        for direction in ["in", "out"] {
            let labels = [("dialect", dialect), ("direction", direction)];
            assert_eq!(sample(&scrape, "tonegate_frames_total", &labels), zero);
            assert_eq!(sample(&scrape, "tonegate_bytes_total", &labels), zero);
        }
    }
    for source in ["inband", "platform", "both"] {
        let labels = [("source", source)];
        assert_eq!(sample(&scrape, "tonegate_digits_total", &labels), zero);
    }
    for reason in ["queueBytes", "queueFull", "undeliverable", "callEnded"] {
        let labels = [("reason", reason)];
        assert_eq!(
            sample(&scrape, "tonegate_webhook_dropped_total", &labels),
            zero,
            "webhook drops are counted under their own name"
        );
    }
    assert_eq!(
        sample(&scrape, "tonegate_active_sessions", &[]),
        Some(Value::Gauge(0.0))
    );
}

#[tokio::test]
async fn build_info_names_the_version_and_compiler() {
    let scrape = parse(&fresh_metrics().await);
    let info = scrape
        .samples
        .iter()
        .find(|s| s.metric == "tonegate_build_info")
        .expect("tonegate_build_info");
    assert_eq!(info.value, Value::Gauge(1.0));
    assert_eq!(info.labels.get("version"), Some(env!("CARGO_PKG_VERSION")));
    let rustc = info.labels.get("rustc").expect("a rustc label");
    assert!(
        rustc.split('.').count() >= 3 && rustc.starts_with(|c: char| c.is_ascii_digit()),
        "rustc={rustc}"
    );
}

#[tokio::test]
async fn no_two_families_share_a_name() {
    let types = declared_types(&fresh_metrics().await);
    // OpenMetrics names a counter's family without `_total`, and a histogram's series
    // add `_bucket`, `_sum` and `_count`: none of these may be another family's name.
    let mut names = BTreeSet::new();
    for (family, kind) in &types {
        let base = match kind.as_str() {
            "counter" => family.strip_suffix("_total").unwrap_or(family),
            _ => family,
        };
        assert!(names.insert(base.to_owned()), "{base} used twice");
    }
    for (family, kind) in &types {
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                let series = format!("{family}{suffix}");
                assert!(!names.contains(&series), "{series} clashes");
            }
        }
    }
}
