//! The in-memory backend: the latest events in a ring bounded in count and bytes
//! ([`Retention`]), for replay; and a live fan-out that hands each appended event to
//! the subscribers that want it, each with its own bounded queue.
//!
//! A subscriber holds at most `event_subscriber_bytes` (and `event_buffer` events) not
//! yet read. One that falls further behind is cut off rather than left to lose events
//! silently: it gets what was queued, then [`Item::CutOff`] naming the first id it did
//! not get. The queued entries are shared with the ring, not copied.
//!
//! Subscribing and appending take the same lock, so a subscriber's replay (taken from
//! the ring) and its live queue (filled from then on) meet with no gap and no duplicate.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use tokio::sync::Notify;

use super::{Backend, CallFilter, Entry, Error, EventId, Item, Record};
use crate::{Config, Metrics};

/// How much of the log is kept for replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retention {
    /// Most events kept.
    pub(crate) max_events: usize,
    /// Most bytes kept ([`Record::size`]).
    pub(crate) max_bytes: usize,
}

impl Retention {
    /// `config`'s `event_log_max_events` and `event_log_max_bytes`.
    pub(crate) fn new(config: &Config) -> Retention {
        Retention {
            max_events: config.event_log_max_events,
            max_bytes: config.event_log_max_bytes,
        }
    }
}

/// Limits of the live subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SubscriberLimits {
    /// Most subscribers at once.
    pub(crate) max_subscribers: usize,
    /// Most bytes queued per subscriber.
    pub(crate) max_bytes: usize,
    /// Most events queued per subscriber.
    pub(crate) max_events: usize,
}

impl SubscriberLimits {
    /// `config`'s `max_event_subscribers`, `event_subscriber_bytes`, `event_buffer`.
    pub(crate) fn new(config: &Config) -> SubscriberLimits {
        SubscriberLimits {
            max_subscribers: config.max_event_subscribers,
            max_bytes: config.event_subscriber_bytes,
            max_events: config.event_buffer.max(1),
        }
    }
}

/// The in-memory log.
pub(crate) struct Memory {
    ring: Mutex<Ring>,
    hub: Arc<Hub>,
}

/// The retained events.
struct Ring {
    entries: VecDeque<Arc<Entry>>,
    /// Sum of the entries' [`Record::size`].
    bytes: usize,
    /// The id the next event gets.
    next_id: EventId,
    retention: Retention,
}

impl Ring {
    /// The first retained id (`next_id` when none is).
    fn first_id(&self) -> EventId {
        self.entries.front().map_or(self.next_id, |e| e.id)
    }

    fn push(&mut self, entry: Arc<Entry>) {
        self.bytes += entry.record.size();
        self.entries.push_back(entry);
        while self.entries.len() > self.retention.max_events
            || (self.bytes > self.retention.max_bytes && self.entries.len() > 1)
        {
            if let Some(old) = self.entries.pop_front() {
                self.bytes -= old.record.size();
            }
        }
    }
}

impl Memory {
    /// An empty log: its first event gets id 1.
    pub(crate) fn new(retention: Retention, limits: SubscriberLimits, metrics: Metrics) -> Memory {
        Memory {
            ring: Mutex::new(Ring {
                entries: VecDeque::new(),
                bytes: 0,
                next_id: 1,
                retention,
            }),
            hub: Arc::new(Hub::new(limits, metrics)),
        }
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `records` at once (no waiting): ids, retention, live subscribers.
    pub(crate) fn append_now(&self, records: Vec<Record>) -> Vec<Arc<Entry>> {
        let mut ring = self.ring();
        let entries: Vec<Arc<Entry>> = records
            .into_iter()
            .zip(ring.next_id..)
            .map(|(record, id)| Arc::new(Entry { id, record }))
            .collect();
        self.push_all(&mut ring, &entries);
        entries
    }

    /// Appends entries numbered already (by a durable backend, from [`Memory::next_id`]).
    pub(crate) fn append_numbered(&self, entries: &[Arc<Entry>]) {
        let mut ring = self.ring();
        self.push_all(&mut ring, entries);
    }

    fn push_all(&self, ring: &mut Ring, entries: &[Arc<Entry>]) {
        for entry in entries {
            debug_assert_eq!(entry.id, ring.next_id, "entries out of order");
            ring.next_id = entry.id + 1;
            ring.push(entry.clone());
            self.hub.publish(entry);
        }
    }

    /// Keeps entries read back from a durable backend for replay; the next event gets
    /// `next_id` (or follows the last entry).
    pub(crate) fn restore(&self, entries: Vec<Arc<Entry>>, next_id: EventId) {
        let mut ring = self.ring();
        for entry in entries {
            ring.next_id = entry.id + 1;
            ring.push(entry);
        }
        ring.next_id = ring.next_id.max(next_id);
    }

    /// The id the next event gets.
    pub(crate) fn next_id(&self) -> EventId {
        self.ring().next_id
    }

    /// The first id retained: a durable backend may drop older ones.
    pub(crate) fn first_id(&self) -> EventId {
        self.ring().first_id()
    }

    /// [`Backend::subscribe`].
    pub(crate) fn subscribe(
        &self,
        from: Option<EventId>,
        filter: CallFilter,
    ) -> Result<BoxStream<'static, Item>, Error> {
        let ring = self.ring();
        let live = self
            .hub
            .subscribe(filter.clone())
            .ok_or(Error::TooManySubscribers)?;
        let mut replay = VecDeque::new();
        if let Some(from) = from {
            let first = ring.first_id();
            let after = from.saturating_add(1);
            if after > ring.next_id {
                replay.push_back(Item::Missed {
                    count: None,
                    resume_from: first,
                });
            } else {
                if after < first {
                    replay.push_back(Item::Missed {
                        count: Some(first - after),
                        resume_from: first,
                    });
                }
                replay.extend(
                    ring.entries
                        .iter()
                        .filter(|e| e.id >= after && filter.admits(&e.record.call_id))
                        .map(|e| Item::Event(e.clone())),
                );
            }
        }
        drop(ring);
        Ok(replay_then_live(replay, live))
    }

    /// The retained events from id `from` on that pass `filter`, then each new one,
    /// with no gap and no duplicate; and the first id the stream can yield (its start).
    /// `from` older than the first retained event starts there; beyond the end, at the
    /// next event. A cluster backend finds the events before the start elsewhere.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    pub(crate) fn subscribe_at(
        &self,
        from: EventId,
        filter: CallFilter,
    ) -> Result<(EventId, BoxStream<'static, Item>), Error> {
        let ring = self.ring();
        let live = self
            .hub
            .subscribe(filter.clone())
            .ok_or(Error::TooManySubscribers)?;
        let start = from.clamp(ring.first_id(), ring.next_id);
        let replay = ring
            .entries
            .iter()
            .filter(|e| e.id >= start && filter.admits(&e.record.call_id))
            .map(|e| Item::Event(e.clone()))
            .collect();
        drop(ring);
        Ok((start, replay_then_live(replay, live)))
    }

    /// Forgets every retained event; the next one gets `next_id` (a cluster backend
    /// following a log numbered elsewhere).
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    pub(crate) fn start_at(&self, next_id: EventId) {
        let mut ring = self.ring();
        ring.entries.clear();
        ring.bytes = 0;
        ring.next_id = next_id;
    }

    /// [`Backend::lost`].
    pub(crate) fn lost(&self, missed: u64) {
        let ring = self.ring();
        self.hub.cut_all(ring.next_id, missed);
    }
}

impl Backend for Memory {
    fn append(&self, records: Vec<Record>) -> BoxFuture<'_, Result<(), Error>> {
        self.append_now(records);
        Box::pin(async { Ok(()) })
    }

    fn subscribe(
        &self,
        from: Option<EventId>,
        filter: CallFilter,
    ) -> Result<BoxStream<'static, Item>, Error> {
        Memory::subscribe(self, from, filter)
    }

    fn lost(&self, missed: u64) {
        Memory::lost(self, missed);
    }
}

/// `replay`, then the items of `live`.
fn replay_then_live(replay: VecDeque<Item>, live: Live) -> BoxStream<'static, Item> {
    Box::pin(futures_util::stream::unfold(
        (replay, live),
        |(mut replay, mut live)| async move {
            let item = match replay.pop_front() {
                Some(item) => item,
                None => live.next().await?,
            };
            Some((item, (replay, live)))
        },
    ))
}

/// Hands every appended event to the live subscribers that want it.
struct Hub {
    subscribers: Mutex<HashMap<u64, Arc<Subscriber>>>,
    next_id: AtomicU64,
    limits: SubscriberLimits,
    metrics: Metrics,
}

/// One subscriber's queue.
struct Subscriber {
    filter: CallFilter,
    queue: Mutex<Queue>,
    wake: Notify,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Arc<Entry>>,
    /// Bytes of the entries in `items`.
    bytes: usize,
    /// Set when the subscriber fell behind: the id of the first event it did not get.
    /// Nothing is queued after that; the subscription ends once `items` are read.
    cut_at: Option<EventId>,
}

impl Hub {
    fn new(limits: SubscriberLimits, metrics: Metrics) -> Hub {
        Hub {
            subscribers: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            limits,
            metrics,
        }
    }

    fn subscribers(&self) -> MutexGuard<'_, HashMap<u64, Arc<Subscriber>>> {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new subscriber; `None` when `max_subscribers` are subscribed.
    fn subscribe(self: &Arc<Self>, filter: CallFilter) -> Option<Live> {
        let mut subscribers = self.subscribers();
        if subscribers.len() >= self.limits.max_subscribers {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let subscriber = Arc::new(Subscriber {
            filter,
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
        });
        subscribers.insert(id, subscriber.clone());
        self.metrics.sse_subscribers.set(subscribers.len() as i64);
        Some(Live {
            hub: self.clone(),
            id,
            subscriber,
            ended: false,
        })
    }

    /// Queues `entry` for every subscriber that wants it; one without room is cut off
    /// at its id.
    fn publish(&self, entry: &Arc<Entry>) {
        let size = entry.record.size();
        let subscribers = self.subscribers();
        for s in subscribers.values() {
            if !s.filter.admits(&entry.record.call_id) {
                continue;
            }
            let mut queue = s.queue.lock().unwrap_or_else(|e| e.into_inner());
            if queue.cut_at.is_some() {
                continue;
            }
            if queue.items.len() < self.limits.max_events
                && queue.bytes + size <= self.limits.max_bytes
            {
                queue.bytes += size;
                queue.items.push_back(entry.clone());
                self.metrics.sse_buffered_bytes.add(size as i64);
            } else {
                queue.cut_at = Some(entry.id);
                self.metrics.sse_missed_events.inc();
                self.metrics.sse_cut_off.inc();
            }
            drop(queue);
            s.wake.notify_one();
        }
    }

    /// Cuts off every subscriber at `id` after `n` events were lost before they had an id.
    fn cut_all(&self, id: EventId, n: u64) {
        let subscribers = self.subscribers();
        for s in subscribers.values() {
            let mut queue = s.queue.lock().unwrap_or_else(|e| e.into_inner());
            if queue.cut_at.is_none() {
                queue.cut_at = Some(id);
                self.metrics.sse_missed_events.inc_by(n);
                self.metrics.sse_cut_off.inc();
            }
            drop(queue);
            s.wake.notify_one();
        }
    }
}

/// A live subscriber's end; unsubscribes (and releases what it queued) on drop.
struct Live {
    hub: Arc<Hub>,
    id: u64,
    subscriber: Arc<Subscriber>,
    /// The cut-off was read.
    ended: bool,
}

impl Live {
    /// The next queued event, or the cut-off once everything queued was read; `None`
    /// after the cut-off.
    async fn next(&mut self) -> Option<Item> {
        if self.ended {
            return None;
        }
        loop {
            let notified = self.subscriber.wake.notified();
            if let Some(item) = self.pop() {
                self.ended = matches!(item, Item::CutOff { .. });
                return Some(item);
            }
            notified.await;
        }
    }

    fn pop(&self) -> Option<Item> {
        let mut queue = self
            .subscriber
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match queue.items.pop_front() {
            Some(entry) => {
                let size = entry.record.size();
                queue.bytes -= size;
                self.hub.metrics.sse_buffered_bytes.sub(size as i64);
                Some(Item::Event(entry))
            }
            None => queue.cut_at.map(|resume_from| Item::CutOff { resume_from }),
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let mut subscribers = self.hub.subscribers();
        subscribers.remove(&self.id);
        self.hub
            .metrics
            .sse_subscribers
            .set(subscribers.len() as i64);
        drop(subscribers);
        let queue = self
            .subscriber
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.hub.metrics.sse_buffered_bytes.sub(queue.bytes as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn record(call: &str, n: u32) -> Record {
        Record {
            call_id: Arc::from(call),
            name: "x".into(),
            data: format!("{{\"n\":{n}}}").into(),
        }
    }

    #[tokio::test]
    async fn restored_entries_are_replayed_and_numbering_goes_on() {
        let log = log(100);
        let old = |id| {
            Arc::new(Entry {
                id,
                record: record("a", id as u32),
            })
        };
        log.restore(vec![old(7), old(8)], 9);
        let mut s = log.subscribe(Some(7), CallFilter::All).unwrap();
        log.append_now(vec![record("a", 9)]);
        assert_eq!(ids(&take(&mut s, 2).await), [8, 9]);
    }

    fn log(max_events: usize) -> Memory {
        Memory::new(
            Retention {
                max_events,
                max_bytes: 1 << 20,
            },
            SubscriberLimits {
                max_subscribers: 8,
                max_bytes: 1 << 20,
                max_events: 1_024,
            },
            Metrics::new(),
        )
    }

    fn ids(items: &[Item]) -> Vec<EventId> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Event(e) => Some(e.id),
                _ => None,
            })
            .collect()
    }

    async fn take(stream: &mut BoxStream<'static, Item>, n: usize) -> Vec<Item> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(stream.next().await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn replays_after_an_id_then_goes_live_without_gap_or_duplicate() {
        let log = log(100);
        log.append_now((1..=5).map(|n| record("a", n)).collect());
        let mut s = log.subscribe(Some(2), CallFilter::All).unwrap();
        log.append_now(vec![record("a", 6)]);
        assert_eq!(ids(&take(&mut s, 4).await), [3, 4, 5, 6]);
    }

    #[tokio::test]
    async fn a_call_filter_replays_and_follows_one_call() {
        let log = log(100);
        log.append_now(vec![record("a", 1), record("b", 2), record("a", 3)]);
        let mut s = log
            .subscribe(Some(0), CallFilter::Call(Arc::from("a")))
            .unwrap();
        log.append_now(vec![record("b", 4), record("a", 5)]);
        assert_eq!(ids(&take(&mut s, 3).await), [1, 3, 5]);
    }

    #[tokio::test]
    async fn an_id_older_than_retention_is_told_as_missed() {
        let log = log(3);
        log.append_now((1..=10).map(|n| record("a", n)).collect());
        let mut s = log.subscribe(Some(4), CallFilter::All).unwrap();
        let items = take(&mut s, 4).await;
        assert_eq!(
            items[0],
            Item::Missed {
                count: Some(3),
                resume_from: 8
            }
        );
        assert_eq!(ids(&items), [8, 9, 10]);
    }

    #[tokio::test]
    async fn an_id_beyond_the_end_is_missed_with_no_count() {
        let log = log(3);
        log.append_now(vec![record("a", 1)]);
        let mut s = log.subscribe(Some(50), CallFilter::All).unwrap();
        log.append_now(vec![record("a", 2)]);
        let items = take(&mut s, 2).await;
        assert_eq!(
            items[0],
            Item::Missed {
                count: None,
                resume_from: 1
            }
        );
        assert_eq!(ids(&items), [2]);
    }

    #[tokio::test]
    async fn subscribe_at_says_where_its_stream_starts() {
        let log = log(3);
        log.append_now((1..=10).map(|n| record("a", n)).collect());
        // Retained: 8, 9, 10.
        let (start, mut s) = log.subscribe_at(9, CallFilter::All).unwrap();
        assert_eq!(start, 9);
        assert_eq!(ids(&take(&mut s, 2).await), [9, 10]);
        let (start, mut s) = log.subscribe_at(2, CallFilter::All).unwrap();
        assert_eq!(start, 8);
        assert_eq!(ids(&take(&mut s, 3).await), [8, 9, 10]);
        let (start, mut s) = log.subscribe_at(50, CallFilter::All).unwrap();
        assert_eq!(start, 11);
        log.append_now(vec![record("a", 11)]);
        assert_eq!(ids(&take(&mut s, 1).await), [11]);
        log.start_at(40);
        let (start, mut s) = log.subscribe_at(1, CallFilter::All).unwrap();
        assert_eq!(start, 40);
        log.append_now(vec![record("a", 40)]);
        assert_eq!(ids(&take(&mut s, 1).await), [40]);
    }

    #[tokio::test]
    async fn retention_is_bounded_in_bytes() {
        let log = Memory::new(
            Retention {
                max_events: 1_000,
                max_bytes: 10 * record("a", 100).size(),
            },
            SubscriberLimits {
                max_subscribers: 1,
                max_bytes: 1,
                max_events: 1,
            },
            Metrics::new(),
        );
        log.append_now((100..200).map(|n| record("a", n)).collect());
        let ring = log.ring();
        assert_eq!(ring.entries.len(), 10);
        assert_eq!(ring.first_id(), 91);
    }
}
