//! The event log: every event a call produces (its session events and the CloudEvents
//! of the media-operation API) is appended to one log, which gives them a total order
//! and ids ([`EventId`], increasing by one per event across all calls). The SSE streams
//! read it: from an id on (replaying what a reconnecting client missed), then live.
//!
//! The log is a [`Backend`] behind the [`EventLog`] handle, so a second backend (a
//! broker shared by several servers) can stand in for the embedded one:
//! - [`memory::Memory`]: the events in a ring bounded in count and bytes
//!   ([`memory::Retention`]), and a live fan-out with a bounded queue per subscriber;
//! - [`durable::Durable`] (with `state_dir`): the same, with every event on disk before
//!   it is sent, and an [`Outbox`] keeping webhook deliveries until they are settled.
//!
//! One task ([`append_all`]) takes the events off the server's event channels,
//! serialises each once and appends it; the audio path never waits for the log.

pub(crate) mod durable;
pub(crate) mod memory;

use std::sync::Arc;

use axum::body::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::TryRecvError;

use crate::cluster::Cluster;
use crate::{Config, Metrics};
use tonegate_core::api::CloudEvent;
use tonegate_core::session::Event;

/// An event's place in the log: 1 for the first event, one more for each next one.
pub(crate) type EventId = u64;

/// One event as appended: whose it is, its SSE event name and its JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// The call it belongs to.
    pub(crate) call_id: Arc<str>,
    /// The SSE event name: a session event's `type`, a CloudEvent's `type`.
    pub(crate) name: Box<str>,
    /// The event as JSON (what an SSE `data:` line carries).
    pub(crate) data: Bytes,
}

impl Record {
    /// A session event of a call.
    pub(crate) fn session(event: &Event) -> Record {
        Record {
            call_id: event.call_id.clone(),
            name: event.kind.name().into(),
            data: to_json(event),
        }
    }

    /// A CloudEvent of the media-operation API.
    pub(crate) fn cloud(event: &CloudEvent) -> Record {
        Record {
            call_id: Arc::from(event.data.call_connection_id.as_str()),
            name: event.kind.as_str().into(),
            data: to_json(event),
        }
    }

    /// Bytes it takes, roughly: what retention and subscriber queues count.
    pub(crate) fn size(&self) -> usize {
        /// The fixed part of an entry and of its SSE frame (`id: `, `event: `, ...).
        const OVERHEAD: usize = 64;
        self.data.len() + self.name.len() + self.call_id.len() + OVERHEAD
    }
}

/// Serialises an event; these types cannot fail to serialise (string keys, no
/// non-finite floats), and an empty object stands in if one ever did.
fn to_json(event: &impl serde::Serialize) -> Bytes {
    serde_json::to_vec(event).map_or_else(|_| Bytes::from_static(b"{}"), Bytes::from)
}

/// A record with its id.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Its place in the log.
    pub(crate) id: EventId,
    /// The event.
    pub(crate) record: Record,
}

/// Which calls' events a subscriber reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallFilter {
    /// Every call's.
    All,
    /// One call's.
    Call(Arc<str>),
}

impl CallFilter {
    /// Whether an event of `call_id` passes.
    pub(crate) fn admits(&self, call_id: &str) -> bool {
        match self {
            CallFilter::All => true,
            CallFilter::Call(c) => &**c == call_id,
        }
    }
}

/// What a subscription yields, in log order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// An event.
    Event(Arc<Entry>),
    /// Events the subscriber asked for are no longer retained; the next event it gets
    /// is at `resume_from` or later. `count` is how many ids were skipped (events of
    /// every call: a one-call stream missed at most that many), `None` when unknown
    /// (the id asked for is beyond the log's end: the log was started anew).
    Missed {
        /// Ids skipped, if known.
        count: Option<u64>,
        /// The first id still retained.
        resume_from: EventId,
    },
    /// The subscriber fell too far behind the live events: `resume_from` is the first
    /// id it did not get. The last item of the subscription.
    CutOff {
        /// The first id not sent.
        resume_from: EventId,
    },
}

/// Why the log refused something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Error {
    /// `max_event_subscribers` subscriptions are open already.
    #[error("too many event subscribers")]
    TooManySubscribers,
    /// The backend failed (storage, broker); the message says how.
    #[error("event log: {0}")]
    Backend(String),
}

/// A log backend. Appends are in call order: the ids of one `append` are consecutive
/// and follow every earlier append's.
pub(crate) trait Backend: Send + Sync + 'static {
    /// Appends `records` in order (a broker backend numbers them once it has them).
    fn append(&self, records: Vec<Record>) -> BoxFuture<'_, Result<(), Error>>;

    /// The retained events after `from` that pass `filter` (none with `None`: live
    /// events only), then each new one as it is appended, with no gap and no duplicate
    /// between the two. An [`Item::Missed`] comes first when events after `from` are no
    /// longer retained. [`Error::TooManySubscribers`] at `max_event_subscribers`.
    fn subscribe(
        &self,
        from: Option<EventId>,
        filter: CallFilter,
    ) -> Result<BoxStream<'static, Item>, Error>;

    /// `missed` events never reached the log (the appender fell behind the sessions):
    /// every live subscriber is cut off at the next id.
    fn lost(&self, missed: u64);

    /// Where webhook deliveries are kept until settled; `None`: only in memory.
    fn outbox(&self) -> Option<&dyn Outbox> {
        None
    }

    /// Resolves once every event appended so far is where every node can read it, or
    /// after `limit` (a graceful stop); at once for a log in this process.
    fn flush(&self, limit: std::time::Duration) -> BoxFuture<'_, ()> {
        let _ = limit;
        Box::pin(async {})
    }
}

/// A webhook delivery as kept until it is settled, to be sent again (with the same
/// CloudEvent id) after a restart.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredDelivery {
    /// The call whose event it is.
    pub(crate) call_id: String,
    /// Where it is POSTed.
    pub(crate) url: String,
    /// An audio socket named `url` (so its host's addresses are screened).
    pub(crate) socket_origin: bool,
    /// The CloudEvent id (`webhook-id`).
    pub(crate) id: String,
    /// The event's name, for logs.
    pub(crate) name: String,
    /// The POST body (a JSON array of the one CloudEvent).
    pub(crate) body: String,
}

/// The answer to [`Outbox::put`] once the delivery is durable (or could not be kept).
pub(crate) type Durable = tokio::sync::oneshot::Receiver<Result<(), Error>>;

/// Webhook deliveries kept until settled (delivered, refused for good, or given up).
pub(crate) trait Outbox: Send + Sync {
    /// Keeps `delivery`: its key, and the answer once it is durable.
    fn put(&self, delivery: &StoredDelivery) -> (u64, Durable);

    /// Forgets the delivery `key`.
    fn settle(&self, key: u64);

    /// The deliveries kept when the server started (in the order they were put); once.
    fn take_pending(&self) -> Vec<(u64, StoredDelivery)>;

    /// Resolves once every put and settlement made so far is durable.
    fn flush(&self) -> BoxFuture<'static, ()>;
}

/// The server's event log.
#[derive(Clone)]
pub(crate) struct EventLog {
    backend: Arc<dyn Backend>,
}

impl EventLog {
    /// A log on `backend`.
    pub(crate) fn new(backend: Arc<dyn Backend>) -> EventLog {
        EventLog { backend }
    }

    /// [`Backend::subscribe`].
    pub(crate) fn subscribe(
        &self,
        from: Option<EventId>,
        filter: CallFilter,
    ) -> Result<BoxStream<'static, Item>, Error> {
        self.backend.subscribe(from, filter)
    }

    /// [`Backend::outbox`].
    pub(crate) fn outbox(&self) -> Option<&dyn Outbox> {
        self.backend.outbox()
    }

    /// [`Backend::append`].
    pub(crate) async fn append(&self, records: Vec<Record>) -> Result<(), Error> {
        self.backend.append(records).await
    }

    /// [`Backend::flush`].
    pub(crate) async fn flush(&self, limit: std::time::Duration) {
        self.backend.flush(limit).await;
    }
}

/// The log `config` asks for: the cluster's (with `cluster_nats_url`), in memory, or
/// durable under `state_dir`. The error names the setting, or says what NATS answered.
pub(crate) async fn open(
    config: &Config,
    metrics: &Metrics,
    cluster: &Cluster,
) -> Result<EventLog, String> {
    if let Some(backend) = cluster.event_log(config, metrics).await? {
        if config.state_dir.is_some() {
            tracing::info!(
                "cluster mode: events are kept in the cluster's event stream and webhook deliveries in its webhook stream; state_dir is not used for either"
            );
        }
        return Ok(EventLog::new(backend));
    }
    let memory = memory::Memory::new(
        memory::Retention::new(config),
        memory::SubscriberLimits::new(config),
        metrics.clone(),
    );
    let backend: Arc<dyn Backend> = match &config.state_dir {
        None => Arc::new(memory),
        Some(dir) => Arc::new(
            durable::Durable::open(dir, memory)
                .map_err(|e| format!("state_dir {}: {e}", dir.display()))?,
        ),
    };
    Ok(EventLog::new(backend))
}

/// Most events appended at once (one write to a durable backend).
const BATCH: usize = 256;

/// Appends every session event and CloudEvent, in the order received, until the
/// server's event channels close. Session events go first when both are waiting (as
/// they always have).
pub(crate) async fn append_all(
    log: EventLog,
    mut events: broadcast::Receiver<Arc<Event>>,
    mut cloud: broadcast::Receiver<Arc<CloudEvent>>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let first = tokio::select! {
            biased;
            r = events.recv() => r.map(|e| Record::session(&e)),
            r = cloud.recv() => r.map(|e| Record::cloud(&e)),
        };
        match first {
            Ok(record) => batch.push(record),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "event streams fell behind; subscribers are cut off"
                );
                log.backend.lost(n);
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
        // Whatever else is waiting goes in the same append.
        let mut lagged = 0;
        while batch.len() < BATCH {
            let next = match events.try_recv() {
                Err(TryRecvError::Empty | TryRecvError::Closed) => {
                    cloud.try_recv().map(|e| Record::cloud(&e))
                }
                r => r.map(|e| Record::session(&e)),
            };
            match next {
                Ok(record) => batch.push(record),
                Err(TryRecvError::Lagged(n)) => {
                    lagged += n;
                    break;
                }
                Err(_) => break,
            }
        }
        let records = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
        let n = records.len() as u64;
        if let Err(e) = log.append(records).await {
            tracing::error!(events = n, "events not appended to the event log: {e}");
            lagged += n;
        }
        if lagged > 0 {
            tracing::warn!(
                missed = lagged,
                "event streams fell behind; subscribers are cut off"
            );
            log.backend.lost(lagged);
        }
    }
}
