//! The cluster's event log: every node's events in one JetStream stream
//! (`<prefix>_events`, subjects `<prefix>.evt.<call token>`), so any node's SSE streams
//! show every call's events, numbered by the stream's sequence: one total order across
//! the nodes, and ids a client resumes from on any node.
//!
//! - `publish.rs`: the owner of a call puts its events in a bounded outbox, and one task
//!   stores them in the stream (the audio path never waits), retrying with the same
//!   `Nats-Msg-Id`, so a retry after a lost acknowledgement cannot store an event twice;
//! - `follow.rs`: one ordered consumer per node copies the stream into a [`Memory`] log
//!   numbered by stream sequence: the node's live fan-out and its replay of recent ids;
//! - `replay.rs`: a client resuming from an id older than that memory reads the gap
//!   from the stream, then goes on with the memory's live events.
//!
//! With `state_dir`, webhook deliveries are still kept there until settled (the
//! durable outbox), as on a single node; the events themselves are the stream's.
//!
//! A message's payload is the event's SSE JSON, its header `Tonegate-Type` the SSE
//! event name; the call comes from the subject (the token is decoded back).

mod follow;
mod publish;
mod replay;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, push};
use async_nats::jetstream::{self, stream};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

use super::names::Names;
use super::node::Node;
use crate::event_log::durable::Durable;
use crate::event_log::memory::{Memory, Retention, SubscriberLimits};
use crate::event_log::{Backend, CallFilter, Entry, Error, EventId, Item, Outbox, Record};
use crate::{Config, Metrics};

/// The header naming an event's SSE event name.
const TYPE_HEADER: &str = "Tonegate-Type";

/// How long the stream remembers a `Nats-Msg-Id` to drop a repeat (JetStream's default),
/// at most the retention.
const DEDUPE_WINDOW: Duration = Duration::from_secs(120);

/// The stream's settings (from [`Config`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct StreamLimits {
    /// `cluster_event_retention_ms`.
    pub(super) max_age: Duration,
    /// `cluster_event_max_bytes`.
    pub(super) max_bytes: u64,
    /// `cluster_event_outbox_bytes`.
    pub(super) outbox_bytes: usize,
    /// `cluster_replicas`.
    pub(super) replicas: usize,
}

/// The stream of a cluster, as this node reads it.
#[derive(Clone)]
struct Log {
    js: jetstream::Context,
    names: Names,
    stream: String,
    limits: StreamLimits,
}

impl Log {
    /// Makes the stream again (after a NATS server lost it).
    async fn recreate(&self) -> Result<(), String> {
        open_stream(&self.js, &self.names, self.limits).await
    }

    /// The stream's first and last sequence now.
    async fn bounds(&self) -> Result<(EventId, EventId), String> {
        let stream = self
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| e.to_string())?;
        let state = &stream.cached_info().state;
        Ok((state.first_sequence, state.last_sequence))
    }

    /// An ordered consumer of the stream's messages on `subject` from sequence `start`
    /// on, and how many there are now (from `start` to the stream's end).
    async fn ordered(
        &self,
        start: EventId,
        subject: String,
    ) -> Result<(push::Ordered, u64), String> {
        let config = push::OrderedConfig {
            deliver_subject: self.js.client().new_inbox(),
            filter_subject: subject,
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: start.max(1),
            },
            ..Default::default()
        };
        let consumer = self
            .js
            .create_consumer_on_stream(config, &self.stream)
            .await
            .map_err(|e| format!("cannot read the event stream: {e}"))?;
        let pending = consumer.cached_info().num_pending;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| format!("cannot read the event stream: {e}"))?;
        Ok((messages, pending))
    }

    /// An event read from the stream: its call from the subject, its name from the
    /// header. `None` for a message that is not one (logged).
    fn entry(&self, message: &async_nats::Message, id: EventId) -> Option<Arc<Entry>> {
        let call_id = self.names.call_of_event_subject(message.subject.as_str());
        let name = message
            .headers
            .as_ref()
            .and_then(|h| h.get(TYPE_HEADER))
            .map(|v| v.as_str());
        match (call_id, name) {
            (Some(call_id), Some(name)) => Some(Arc::new(Entry {
                id,
                record: Record {
                    call_id: Arc::from(call_id),
                    name: name.into(),
                    data: message.payload.clone(),
                },
            })),
            _ => {
                tracing::warn!(
                    id,
                    "a message in the event stream is not a tonegate event; skipped"
                );
                None
            }
        }
    }
}

/// Makes the events stream (or uses it as it is, if another node made it).
async fn open_stream(
    js: &jetstream::Context,
    names: &Names,
    limits: StreamLimits,
) -> Result<(), String> {
    let config = stream::Config {
        name: names.events_stream(),
        description: Some("tonegate: every call's events, in one order".to_owned()),
        subjects: vec![names.all_events_subject()],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        max_age: limits.max_age,
        max_bytes: i64::try_from(limits.max_bytes).unwrap_or(i64::MAX),
        discard: stream::DiscardPolicy::Old,
        duplicate_window: DEDUPE_WINDOW.min(limits.max_age),
        num_replicas: limits.replicas,
        ..Default::default()
    };
    let made = js.create_stream(config).await.err();
    js.get_stream(names.events_stream())
        .await
        .map(drop)
        .map_err(|e| {
            let name = names.events_stream();
            match made {
                Some(m) if lacks_storage(&m) => format!(
                    "cannot make the event stream {name}: JetStream has less storage left than \
                     cluster_event_max_bytes ({} bytes), which it reserves on disk; lower the \
                     setting or give nats-server more room (max_file_store): {m}",
                    limits.max_bytes
                ),
                made => format!(
                    "cannot open the event stream {name} (is JetStream enabled, nats-server -js?): {}",
                    made.map_or_else(|| e.to_string(), |m| m.to_string())
                ),
            }
        })
}

/// Whether JetStream refused a stream for want of storage.
fn lacks_storage(error: &jetstream::context::CreateStreamError) -> bool {
    use jetstream::ErrorCode;
    use jetstream::context::CreateStreamErrorKind;
    matches!(
        error.kind(),
        CreateStreamErrorKind::JetStream(e)
            if [ErrorCode::STORAGE_RESOURCES_EXCEEDED, ErrorCode::INSUFFICIENT_RESOURCES]
                .contains(&e.error_code())
    )
}

/// The JetStream event log of one node.
pub(crate) struct JetStreamLog {
    log: Log,
    /// This node's copy of the stream's recent events, and its live subscribers.
    memory: Arc<Memory>,
    outbox: Arc<publish::Outbox>,
    /// With `state_dir`: where webhook deliveries are kept until settled, as without a
    /// cluster.
    webhooks: Option<Durable>,
}

impl JetStreamLog {
    /// Opens (or makes) the stream and starts this node's publisher and follower.
    pub(super) async fn open(
        node: &Node,
        limits: StreamLimits,
        config: &Config,
        metrics: &Metrics,
    ) -> Result<JetStreamLog, String> {
        let mut js = jetstream::new(node.client.clone());
        js.set_timeout(node.request_timeout);
        open_stream(&js, &node.names, limits).await?;
        let log = Log {
            js,
            names: node.names.clone(),
            stream: node.names.events_stream(),
            limits,
        };
        let memory = Arc::new(memory_log(config, metrics));
        let webhooks = match &config.state_dir {
            None => None,
            Some(dir) => Some(
                Durable::open(dir, memory_log(config, metrics))
                    .map_err(|e| format!("state_dir {}: {e}", dir.display()))?,
            ),
        };
        let (_, last) = log.bounds().await?;
        memory.start_at(last + 1);
        let (messages, _) = log
            .ordered(last + 1, node.names.all_events_subject())
            .await?;
        tokio::spawn(follow::follow(messages, log.clone(), memory.clone()));
        let outbox = Arc::new(publish::Outbox::new(limits.outbox_bytes, metrics.clone()));
        let publisher = publish::Publisher::new(&node.id, log.clone(), outbox.clone(), metrics);
        tokio::spawn(publisher.run());
        tracing::info!(
            stream = %log.stream,
            next_id = last + 1,
            "event log: the cluster's JetStream stream"
        );
        Ok(JetStreamLog {
            log,
            memory,
            outbox,
            webhooks,
        })
    }

    /// The items after `after`: from this node's memory where it holds them, the rest
    /// from the stream first (see [`Backend::subscribe`]).
    fn resume(
        &self,
        after: EventId,
        filter: CallFilter,
    ) -> Result<BoxStream<'static, Item>, Error> {
        let wanted = after.saturating_add(1);
        let (start, live) = self.memory.subscribe_at(wanted, filter.clone())?;
        if start == wanted {
            return Ok(live);
        }
        let log = self.log.clone();
        let head = async move {
            let before: BoxStream<'static, Item> = match log.bounds().await {
                Err(e) => {
                    tracing::warn!("cannot resume an event stream: {e}");
                    return cut_off(wanted);
                }
                // This node has not seen `after` yet, but the stream has: drop the
                // events up to it from the live ones.
                Ok((_, last)) if start < wanted && after <= last => {
                    return Box::pin(live.filter(move |item| {
                        std::future::ready(!matches!(item, Item::Event(e) if e.id <= after))
                    }));
                }
                // Not an id of this stream (it was made anew).
                Ok(_) if start < wanted => Box::pin(futures_util::stream::iter([Item::Missed {
                    count: None,
                    resume_from: start,
                }])),
                Ok((first, _)) => {
                    let first = first.min(start);
                    let missed = (wanted < first).then(|| Item::Missed {
                        count: Some(first - wanted),
                        resume_from: first,
                    });
                    let gap = replay::between(log, wanted.max(first), start, filter);
                    Box::pin(futures_util::stream::iter(missed).chain(gap))
                }
            };
            Box::pin(before.chain(live)) as BoxStream<'static, Item>
        };
        Ok(Box::pin(futures_util::stream::once(head).flatten()))
    }
}

/// An empty in-memory log with `config`'s retention and subscriber limits.
fn memory_log(config: &Config, metrics: &Metrics) -> Memory {
    Memory::new(
        Retention::new(config),
        SubscriberLimits::new(config),
        metrics.clone(),
    )
}

/// A stream that ends at once, telling its client to resume from `id`.
fn cut_off(id: EventId) -> BoxStream<'static, Item> {
    Box::pin(futures_util::stream::iter([Item::CutOff {
        resume_from: id,
    }]))
}

impl Backend for JetStreamLog {
    fn append(&self, records: Vec<Record>) -> BoxFuture<'_, Result<(), Error>> {
        self.outbox.put(records);
        Box::pin(async { Ok(()) })
    }

    fn subscribe(
        &self,
        from: Option<EventId>,
        filter: CallFilter,
    ) -> Result<BoxStream<'static, Item>, Error> {
        match from {
            None => self.memory.subscribe(None, filter),
            Some(after) => self.resume(after, filter),
        }
    }

    fn lost(&self, missed: u64) {
        self.memory.lost(missed);
    }

    fn outbox(&self) -> Option<&dyn Outbox> {
        self.webhooks.as_ref().map(|d| d as &dyn Outbox)
    }

    fn flush(&self, limit: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if tokio::time::timeout(limit, self.outbox.empty())
                .await
                .is_err()
            {
                tracing::error!(
                    events = self.outbox.len(),
                    "stopping with events not yet stored in the cluster's event stream; they are lost"
                );
            }
        })
    }
}
