//! Storing this node's events in the stream: a bounded outbox, and one task publishing
//! from it.
//!
//! Each event gets a `Nats-Msg-Id` when it is put (`<node id>-<8 random hex>-<n>`), kept
//! on every retry, so the stream drops a repeat of an event it stored but whose
//! acknowledgement was lost (within its two-minute dedupe window).
//!
//! Order: a call's next event is published only once its previous one is acknowledged,
//! so its events are stored in the order its session made them, also when a publish
//! fails and is retried (a pipelined later event could otherwise overtake it); the
//! events of different calls are published side by side (up to [`WINDOW`]).
//!
//! Bound: the outbox holds at most `cluster_event_outbox_bytes` of events waiting (NATS
//! away, or slower than the calls). An event that finds it full is dropped: logged (once
//! per spell) and counted in `tonegate_cluster_events_dropped_total`, never silently.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::Notify;

use super::{Log, TYPE_HEADER};
use crate::Metrics;
use crate::event_log::Record;

/// Most calls with a publish in flight at once.
const WINDOW: usize = 1_024;

/// The first wait before a failed publish is tried again; it doubles up to
/// [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(50);

/// The longest wait between tries of a failed publish.
const RETRY_MAX: Duration = Duration::from_secs(1);

/// An event waiting to be stored.
#[derive(Clone)]
struct Pending {
    /// Its number in this process (the end of its `Nats-Msg-Id`).
    number: u64,
    record: Record,
}

/// One call's events waiting, oldest first.
#[derive(Default)]
struct CallQueue {
    events: VecDeque<Pending>,
    /// The first event is being published.
    busy: bool,
}

#[derive(Default)]
struct Queue {
    calls: HashMap<Arc<str>, CallQueue>,
    /// Calls with an event waiting and none in flight, in the order they became so.
    ready: VecDeque<Arc<str>>,
    /// Bytes of the events waiting ([`Record::size`]).
    bytes: usize,
    /// Events waiting.
    len: usize,
    /// The next event's number.
    next: u64,
    /// Events were dropped since the outbox last had room (logged once per spell).
    dropping: bool,
}

/// The events waiting to be stored, per call.
pub(super) struct Outbox {
    queue: Mutex<Queue>,
    /// Wakes the publisher when an event is put.
    put: Notify,
    /// Wakes [`Outbox::empty`] waiters when an event is stored.
    stored: Notify,
    max_bytes: usize,
    metrics: Metrics,
}

/// An event handed to the publisher.
struct Job {
    call_id: Arc<str>,
    event: Pending,
    /// Tries so far.
    tries: u32,
}

impl Outbox {
    /// An empty outbox holding at most `max_bytes`.
    pub(super) fn new(max_bytes: usize, metrics: Metrics) -> Outbox {
        Outbox {
            queue: Mutex::new(Queue {
                next: 1,
                ..Queue::default()
            }),
            put: Notify::new(),
            stored: Notify::new(),
            max_bytes,
            metrics,
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `records` in, in order; those that find the outbox full are dropped (logged
    /// and counted).
    pub(super) fn put(&self, records: Vec<Record>) {
        let mut queue = self.queue();
        let mut dropped = 0u64;
        for record in records {
            let size = record.size();
            if queue.bytes + size > self.max_bytes {
                dropped += 1;
                continue;
            }
            let number = queue.next;
            queue.next += 1;
            queue.bytes += size;
            queue.len += 1;
            self.metrics.cluster_event_outbox_bytes.add(size as i64);
            let call_id = record.call_id.clone();
            let call = queue.calls.entry(call_id.clone()).or_default();
            call.events.push_back(Pending { number, record });
            if call.events.len() == 1 && !call.busy {
                queue.ready.push_back(call_id);
            }
        }
        if dropped > 0 {
            self.metrics.cluster_events_dropped.inc_by(dropped);
            if !std::mem::replace(&mut queue.dropping, true) {
                tracing::error!(
                    dropped,
                    waiting = queue.len,
                    max_bytes = self.max_bytes,
                    "the cluster event outbox is full (NATS away or too slow): events are dropped \
                     until it has room (cluster_event_outbox_bytes; counted in \
                     tonegate_cluster_events_dropped_total)"
                );
            }
        }
        drop(queue);
        self.put.notify_one();
    }

    /// The next event to publish: the oldest of a call with none in flight.
    fn take(&self) -> Option<Job> {
        let mut queue = self.queue();
        let call_id = queue.ready.pop_front()?;
        let call = queue.calls.get_mut(&call_id)?;
        call.busy = true;
        let event = call.events.front()?.clone();
        Some(Job {
            call_id,
            event,
            tries: 0,
        })
    }

    /// The call's event in flight is stored (or given up): its next one may go.
    fn done(&self, call_id: &Arc<str>) {
        let mut queue = self.queue();
        let Some(call) = queue.calls.get_mut(call_id) else {
            return;
        };
        call.busy = false;
        let size = call.events.pop_front().map_or(0, |e| e.record.size());
        let more = !call.events.is_empty();
        if more {
            queue.ready.push_back(call_id.clone());
        } else {
            queue.calls.remove(call_id);
        }
        queue.bytes -= size;
        queue.len -= 1;
        self.metrics.cluster_event_outbox_bytes.sub(size as i64);
        if queue.dropping && queue.bytes <= self.max_bytes / 2 {
            queue.dropping = false;
            tracing::warn!("the cluster event outbox has room again");
        }
        drop(queue);
        self.stored.notify_waiters();
    }

    /// Events waiting.
    pub(super) fn len(&self) -> usize {
        self.queue().len
    }

    /// Resolves once no event is waiting.
    pub(super) async fn empty(&self) {
        loop {
            let stored = self.stored.notified();
            if self.len() == 0 {
                return;
            }
            stored.await;
        }
    }
}

/// Why a publish failed.
enum Failure {
    /// Worth trying again (NATS away, no answer in time, the stream being made).
    Transient(String),
    /// Never storable (larger than NATS carries).
    Permanent(String),
}

/// The task storing the outbox's events in the stream.
pub(super) struct Publisher {
    log: Log,
    outbox: Arc<Outbox>,
    /// `<node id>-<8 random hex>-`: this process's `Nats-Msg-Id` prefix.
    id_prefix: String,
    metrics: Metrics,
}

impl Publisher {
    /// The publisher of `node_id`'s events from `outbox` into the stream of `log`.
    pub(super) fn new(node_id: &str, log: Log, outbox: Arc<Outbox>, metrics: &Metrics) -> Self {
        // A process restarted with the same node id numbers its events from 1 again:
        // the random part keeps their ids apart from the last process's.
        let id_prefix = format!("{node_id}-{:08x}-", rand::random::<u32>());
        Publisher {
            log,
            outbox,
            id_prefix,
            metrics: metrics.clone(),
        }
    }

    /// Publishes for ever: up to [`WINDOW`] calls' events at once, one per call, each
    /// retried until stored.
    pub(super) async fn run(self) {
        let this = Arc::new(self);
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < WINDOW {
                let Some(job) = this.outbox.take() else { break };
                in_flight.push(this.clone().attempt(job, Duration::ZERO));
            }
            let put = this.outbox.put.notified();
            tokio::select! {
                Some((mut job, result)) = in_flight.next() => match result {
                    Ok(()) => this.outbox.done(&job.call_id),
                    Err(Failure::Permanent(e)) => {
                        this.metrics.cluster_events_dropped.inc();
                        tracing::error!(event = %job.event.record.name, "an event cannot be stored in the cluster's event stream; dropped: {e}");
                        this.outbox.done(&job.call_id);
                    }
                    Err(Failure::Transient(e)) => {
                        this.metrics.cluster_event_retries.inc();
                        if job.tries == 1 {
                            tracing::warn!("storing an event in the cluster's event stream failed; retrying: {e}");
                        }
                        let wait = RETRY_FIRST
                            .saturating_mul(1 << job.tries.min(8))
                            .min(RETRY_MAX);
                        job.tries += 1;
                        in_flight.push(this.clone().attempt(job, wait));
                    }
                },
                _ = put => {}
            }
        }
    }

    /// Publishes `job`'s event after `wait`, and waits for its acknowledgement.
    async fn attempt(self: Arc<Self>, mut job: Job, wait: Duration) -> (Job, Result<(), Failure>) {
        tokio::time::sleep(wait).await;
        job.tries += 1;
        let result = self.publish(&job).await;
        (job, result)
    }

    async fn publish(&self, job: &Job) -> Result<(), Failure> {
        let client = self.log.js.client();
        if client.connection_state() != async_nats::connection::State::Connected {
            // Sent now, it would only wait in the client's buffer; tried again later.
            return Err(Failure::Transient("not connected to NATS".to_owned()));
        }
        let record = &job.event.record;
        let message = PublishMessage::build()
            .payload(record.data.clone())
            .message_id(format!("{}{}", self.id_prefix, job.event.number))
            .header(TYPE_HEADER, &*record.name);
        let subject = self.log.names.event_subject(&record.call_id);
        let ack = match self.log.js.send_publish(subject, message).await {
            Ok(ack) => ack,
            Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                return Err(Failure::Permanent(e.to_string()));
            }
            Err(e) => return Err(Failure::Transient(e.to_string())),
        };
        match ack.await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == PublishErrorKind::StreamNotFound => {
                // The stream is gone (a NATS server started without its store): make it
                // again and try once more.
                if let Err(made) = self.log.recreate().await {
                    tracing::warn!("{made}");
                }
                Err(Failure::Transient(e.to_string()))
            }
            Err(e) => Err(Failure::Transient(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(call: &str, n: u32) -> Record {
        Record {
            call_id: Arc::from(call),
            name: "mark".into(),
            data: format!("{{\"n\":{n}}}").into(),
        }
    }

    /// The call and payload of the next event to publish, if any.
    fn take(outbox: &Outbox) -> Option<(String, String)> {
        let job = outbox.take()?;
        let data = String::from_utf8(job.event.record.data.to_vec()).unwrap();
        Some((job.call_id.to_string(), data))
    }

    #[test]
    fn one_event_per_call_in_flight_in_order() {
        let outbox = Outbox::new(1 << 20, Metrics::new());
        outbox.put(vec![record("a", 1), record("a", 2), record("b", 3)]);
        let a: Arc<str> = Arc::from("a");
        assert_eq!(take(&outbox), Some(("a".into(), r#"{"n":1}"#.into())));
        assert_eq!(take(&outbox), Some(("b".into(), r#"{"n":3}"#.into())));
        // a's second waits for its first.
        assert_eq!(take(&outbox), None);
        outbox.done(&a);
        assert_eq!(take(&outbox), Some(("a".into(), r#"{"n":2}"#.into())));
        assert_eq!(outbox.len(), 2);
    }

    #[test]
    fn a_full_outbox_drops_and_counts() {
        let metrics = Metrics::new();
        let size = record("a", 1).size();
        let outbox = Outbox::new(3 * size, metrics.clone());
        outbox.put((1..=5).map(|n| record("a", n)).collect());
        assert_eq!(outbox.len(), 3);
        assert_eq!(metrics.cluster_events_dropped.get(), 2);
        assert_eq!(metrics.cluster_event_outbox_bytes.get(), 3 * size as i64);
        let a: Arc<str> = Arc::from("a");
        for n in 1..=3 {
            assert_eq!(take(&outbox), Some(("a".into(), format!("{{\"n\":{n}}}"))));
            outbox.done(&a);
        }
        assert_eq!(outbox.len(), 0);
        assert_eq!(metrics.cluster_event_outbox_bytes.get(), 0);
        // Room again: kept.
        outbox.put(vec![record("a", 6)]);
        assert_eq!(outbox.len(), 1);
        assert_eq!(metrics.cluster_events_dropped.get(), 2);
    }
}
