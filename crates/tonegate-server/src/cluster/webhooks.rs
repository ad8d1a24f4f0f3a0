//! The cluster's webhook outbox: every delivery a node queues is kept in one JetStream
//! stream until it is settled, under `<prefix>.hook.<node>.<call token>` (one partition
//! per node), with the CloudEvent id as `Nats-Msg-Id`.
//!
//! The stream is a ledger, not a feed: the node that queued a delivery POSTs it from
//! memory with the existing per-call FIFO (order, signing, backoff), exactly as with
//! `state_dir`, and deletes it from the stream once settled. So the stream holds exactly
//! the unfinished deliveries, one node works each partition (its owner while it lives,
//! then the one node that adopts it), and the happy path adds no hop between an event
//! and its POST, only the wait for JetStream's store acknowledgement before the first
//! POST. No consumer holds a message in flight, so no redelivery can overtake the FIFO
//! and no acknowledgement deadline needs renewing while a POST is retried.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use axum::body::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::names::Names;
use crate::event_log::{Durable, Error, Outbox, StoredDelivery};

/// Most operations handled in one round (publishes pipelined, then their acks awaited).
const BATCH: usize = 256;
/// Attempts to store one delivery before it is sent unkept.
const ATTEMPTS: u32 = 3;

/// Work for the writer task, in the order the webhook code asks for it.
enum Op {
    /// Store a delivery; answer once JetStream has it.
    Put {
        key: u64,
        subject: String,
        id: String,
        payload: Bytes,
        done: oneshot::Sender<Result<(), Error>>,
    },
    /// A delivery already in the stream (kept from before, or adopted) now has `key`.
    Known { key: u64, sequence: u64 },
    /// Delete a settled delivery.
    Settle(u64),
    /// Answer once everything asked before is done.
    Flush(oneshot::Sender<()>),
}

/// Webhook deliveries kept in JetStream (see the module docs).
pub(super) struct Hooks {
    node: String,
    names: Names,
    stream: stream::Stream,
    writer: mpsc::UnboundedSender<Op>,
    next_key: AtomicU64,
    /// This node's partition as found at start (a node restarted with its id), once.
    pending: Mutex<Vec<(u64, StoredDelivery)>>,
}

/// Why the outbox could not be opened (start-up only).
#[derive(Debug, thiserror::Error)]
#[error("cannot open the webhook stream {stream}: {reason}")]
pub(super) struct OpenError {
    stream: String,
    reason: String,
}

impl Hooks {
    /// Opens (or makes) the stream, reads what this node's partition still holds and
    /// starts the writer task. Deliveries are kept for `max_age` at most.
    pub(super) async fn open(
        js: &jetstream::Context,
        names: &Names,
        node: &str,
        max_age: Duration,
        replicas: usize,
    ) -> Result<Hooks, OpenError> {
        let name = names.hooks_stream();
        let failed = |reason: String| OpenError {
            stream: name.clone(),
            reason,
        };
        let config = stream::Config {
            name: name.clone(),
            description: Some("tonegate: webhook deliveries not settled yet".to_owned()),
            subjects: vec![names.hooks_subjects()],
            max_age,
            storage: stream::StorageType::File,
            num_replicas: replicas,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        let made = js.create_stream(config).await.err();
        let stream = js
            .get_stream(&name)
            .await
            .map_err(|e| failed(made.map_or_else(|| e.to_string(), |m| m.to_string())))?;
        let kept = read_partition(&stream, &names.hook_partition(node))
            .await
            .map_err(failed)?;
        let (writer, ops) = mpsc::unbounded_channel();
        tokio::spawn(write(js.clone(), stream.clone(), ops));
        let hooks = Hooks {
            node: node.to_owned(),
            names: names.clone(),
            stream,
            writer,
            next_key: AtomicU64::new(1),
            pending: Mutex::new(Vec::new()),
        };
        let pending = hooks.known(kept);
        *hooks.pending.lock().unwrap_or_else(|e| e.into_inner()) = pending;
        Ok(hooks)
    }

    /// How many deliveries this node's partition held at start (not taken yet).
    pub(super) fn pending(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Keys for deliveries found in the stream at `sequence`s: settling a key deletes
    /// its message.
    pub(super) fn known(&self, found: Vec<(u64, StoredDelivery)>) -> Vec<(u64, StoredDelivery)> {
        found
            .into_iter()
            .map(|(sequence, delivery)| {
                let key = self.next_key.fetch_add(1, Ordering::SeqCst);
                let _ = self.writer.send(Op::Known { key, sequence });
                (key, delivery)
            })
            .collect()
    }

    /// The deliveries still in node `node`'s partition, in the order they were queued.
    pub(super) async fn partition(&self, node: &str) -> Result<Vec<(u64, StoredDelivery)>, String> {
        read_partition(&self.stream, &self.names.hook_partition(node)).await
    }

    /// The nodes whose partitions hold deliveries.
    pub(super) async fn partition_nodes(&self) -> Result<Vec<String>, String> {
        let mut info = self
            .stream
            .info_with_subjects(self.names.hooks_subjects())
            .await
            .map_err(|e| e.to_string())?;
        let mut nodes = Vec::new();
        while let Some(item) = info.next().await {
            let (subject, _) = item.map_err(|e| e.to_string())?;
            if let Some(node) = self.names.hook_partition_node(&subject)
                && !nodes.contains(&node)
            {
                nodes.push(node);
            }
        }
        Ok(nodes)
    }
}

impl Outbox for Hooks {
    fn put(&self, delivery: &StoredDelivery) -> (u64, Durable) {
        let key = self.next_key.fetch_add(1, Ordering::SeqCst);
        let (done, durable) = oneshot::channel();
        let op = Op::Put {
            key,
            subject: self.names.hook_subject(&self.node, &delivery.call_id),
            id: delivery.id.clone(),
            payload: serde_json::to_vec(delivery).unwrap_or_default().into(),
            done,
        };
        if let Err(mpsc::error::SendError(Op::Put { done, .. })) = self.writer.send(op) {
            let _ = done.send(Err(Error::Backend(
                "the webhook stream's writer has stopped".into(),
            )));
        }
        (key, durable)
    }

    fn settle(&self, key: u64) {
        let _ = self.writer.send(Op::Settle(key));
    }

    fn take_pending(&self) -> Vec<(u64, StoredDelivery)> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn flush(&self) -> BoxFuture<'static, ()> {
        let (tx, rx) = oneshot::channel();
        let _ = self.writer.send(Op::Flush(tx));
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

/// Works through the operations in order: each round publishes its deliveries back to
/// back (one connection keeps their order in the stream), awaits their acks, then
/// deletes what was settled and answers flushes.
async fn write(
    js: jetstream::Context,
    stream: stream::Stream,
    mut ops: mpsc::UnboundedReceiver<Op>,
) {
    let mut sequences: HashMap<u64, u64> = HashMap::new();
    let mut round = Vec::with_capacity(BATCH);
    while ops.recv_many(&mut round, BATCH).await > 0 {
        let mut stored = Vec::new();
        let mut after = Vec::new();
        for op in round.drain(..) {
            match op {
                Op::Put {
                    key,
                    subject,
                    id,
                    payload,
                    done,
                } => {
                    let first = publish(&js, &subject, &id, &payload).await;
                    stored.push((key, subject, id, payload, done, first));
                }
                other => after.push(other),
            }
        }
        for (key, subject, id, payload, done, first) in stored {
            let result = match first {
                Ok(ack) => match ack.await {
                    Ok(ack) => Ok(ack.sequence),
                    Err(e) => retry(&js, &subject, &id, &payload, e.to_string()).await,
                },
                Err(e) => retry(&js, &subject, &id, &payload, e).await,
            };
            let _ = done.send(match result {
                Ok(sequence) => {
                    sequences.insert(key, sequence);
                    Ok(())
                }
                Err(e) => Err(Error::Backend(e)),
            });
        }
        let mut deletes = Vec::new();
        for op in after {
            match op {
                Op::Known { key, sequence } => {
                    sequences.insert(key, sequence);
                }
                Op::Settle(key) => {
                    if let Some(sequence) = sequences.remove(&key) {
                        deletes.push(sequence);
                    }
                }
                Op::Flush(done) => {
                    delete_all(&stream, std::mem::take(&mut deletes)).await;
                    let _ = done.send(());
                }
                Op::Put { .. } => unreachable!("puts are taken out above"),
            }
        }
        delete_all(&stream, deletes).await;
    }
}

/// Sends one delivery to the stream; the ack comes later.
async fn publish(
    js: &jetstream::Context,
    subject: &str,
    id: &str,
    payload: &Bytes,
) -> Result<jetstream::context::PublishAckFuture, String> {
    let message = jetstream::message::PublishMessage::build()
        .payload(payload.clone())
        .message_id(id);
    js.send_publish(subject.to_owned(), message)
        .await
        .map_err(|e| e.to_string())
}

/// Stores a delivery whose first attempt failed (`error`), trying again with the same
/// message id (so a lost ack cannot store it twice); its stream sequence.
async fn retry(
    js: &jetstream::Context,
    subject: &str,
    id: &str,
    payload: &Bytes,
    mut error: String,
) -> Result<u64, String> {
    for attempt in 1..ATTEMPTS {
        tracing::warn!(
            attempt,
            "webhook delivery not stored in JetStream yet: {error}"
        );
        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
        match publish(js, subject, id, payload).await {
            Ok(ack) => match ack.await {
                Ok(ack) => return Ok(ack.sequence),
                Err(e) => error = e.to_string(),
            },
            Err(e) => error = e,
        }
    }
    Err(error)
}

/// Deletes settled deliveries, all requests at once.
async fn delete_all(stream: &stream::Stream, sequences: Vec<u64>) {
    let deletes = sequences.into_iter().map(|sequence| async move {
        if let Err(e) = stream.delete_message(sequence).await {
            tracing::warn!(
                sequence,
                "settled webhook delivery not deleted from JetStream: {e}"
            );
        }
    });
    futures_util::future::join_all(deletes).await;
}

/// Every delivery on `filter` (one partition), with its stream sequence, in stream order.
async fn read_partition(
    stream: &stream::Stream,
    filter: &str,
) -> Result<Vec<(u64, StoredDelivery)>, String> {
    let config = consumer::pull::Config {
        filter_subject: filter.to_owned(),
        deliver_policy: consumer::DeliverPolicy::All,
        ack_policy: consumer::AckPolicy::None,
        inactive_threshold: Duration::from_secs(30),
        ..Default::default()
    };
    let reader = stream
        .create_consumer(config)
        .await
        .map_err(|e| e.to_string())?;
    let mut left = reader.cached_info().num_pending;
    let mut found = Vec::new();
    while left > 0 {
        let mut batch = reader
            .fetch()
            .max_messages(BATCH.min(left as usize))
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .map_err(|e| e.to_string())?;
        let mut got = 0;
        while let Some(message) = batch.next().await {
            let message = message.map_err(|e| e.to_string())?;
            got += 1;
            let sequence = message.info().map_err(|e| e.to_string())?.stream_sequence;
            match serde_json::from_slice::<StoredDelivery>(&message.payload) {
                Ok(delivery) => found.push((sequence, delivery)),
                Err(e) => tracing::error!(
                    sequence,
                    "unreadable webhook delivery in JetStream; skipped: {e}"
                ),
            }
        }
        if got == 0 {
            break;
        }
        left = left.saturating_sub(got);
    }
    let name = reader.cached_info().name.clone();
    let _ = stream.delete_consumer(&name).await;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::super::names::call_token;
    use super::*;

    #[test]
    fn subjects_name_the_node_and_the_call() {
        let names = Names::new("tg");
        assert_eq!(
            names.hook_subject("n1", "a.b"),
            format!("tg.hook.n1.{}", call_token("a.b"))
        );
        assert_eq!(names.hook_partition("n1"), "tg.hook.n1.>");
        assert_eq!(
            names.hook_partition_node("tg.hook.n-2.CA1"),
            Some("n-2".to_owned())
        );
        assert_eq!(names.hook_partition_node("tg.evt.n1.CA1"), None);
    }
}
