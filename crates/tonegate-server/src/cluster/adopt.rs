//! Adopting a dead node's work. Every node looks on each heartbeat for nodes that are
//! gone: a node whose key was alive at the last look and has lapsed (or was deleted at
//! a graceful stop), or a node without a key whose webhook partition still holds
//! deliveries. One node adopts each (it wins `adopt.<node>` in the locks bucket, renewed
//! while it works that partition) and, in this order:
//! 1. queues the dead node's unsettled deliveries on its own per-call queues (same
//!    bodies, same ids; each is deleted from the partition once settled);
//! 2. removes the dead node's call records, each with compare-and-set (a call that
//!    already reconnected elsewhere has a new revision and is left alone), and for each
//!    one removed publishes the events its lost stream produces, through the normal
//!    event path (SSE and webhooks): ContinuousDtmfRecognitionToneFailed for its running
//!    continuous recognitions. They are queued after the dead node's backlog of the same
//!    call, so each call's order holds.

use std::collections::HashSet;
use std::sync::{Arc, Weak};

use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;

use super::node::{JoinError, Node, bucket, within};
use super::ownership::CallRecord;
use super::webhooks::Hooks;
use crate::State;

/// What a node needs to adopt others.
pub(super) struct Adopter {
    node: Arc<Node>,
    hooks: Arc<Hooks>,
    /// `adopt.<node>` → the adopter's id, expiring after `cluster_node_ttl_ms` unless
    /// renewed.
    locks: kv::Store,
}

/// The nodes an adopter watches, from one look to the next.
#[derive(Default)]
struct Seen {
    /// Nodes alive at the last look.
    alive: HashSet<String>,
    /// Dead nodes this node adopted whose partitions it still works.
    adopted: HashSet<String>,
}

impl Adopter {
    /// Opens (or makes) the locks bucket.
    pub(super) async fn open(
        node: Arc<Node>,
        hooks: Arc<Hooks>,
        replicas: usize,
    ) -> Result<Adopter, JoinError> {
        let js = jetstream::new(node.client.clone());
        let locks = bucket(
            &js,
            &node.names.locks_bucket(),
            "tonegate: which node adopts a dead node's calls and webhooks",
            node.ttl,
            replicas,
        )
        .await?;
        Ok(Adopter { node, hooks, locks })
    }
}

/// Looks for dead nodes on every heartbeat and adopts them, while the server runs and
/// this node serves (a fenced or draining node adopts nothing).
pub(super) async fn watch(adopter: Arc<Adopter>, state: Weak<State>) {
    let node = &adopter.node;
    let mut tick = tokio::time::interval(node.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = Seen::default();
    loop {
        tick.tick().await;
        let Some(state) = state.upgrade() else {
            return;
        };
        if node.is_fenced() || node.draining.load(std::sync::atomic::Ordering::SeqCst) {
            continue;
        }
        if let Err(e) = adopter.look(&state, &mut seen).await {
            tracing::debug!(node = %node.id, "looking for dead nodes failed: {e}");
        }
    }
}

impl Adopter {
    /// One look: renews the locks of partitions still being worked, adopts the dead.
    async fn look(&self, state: &Arc<State>, seen: &mut Seen) -> Result<(), String> {
        let alive = self.live_nodes().await?;
        let partitions = self.hooks.partition_nodes().await?;
        let mut dead: Vec<String> = seen.alive.difference(&alive).cloned().collect();
        for owner in &partitions {
            if !alive.contains(owner) && !dead.contains(owner) {
                dead.push(owner.clone());
            }
        }
        seen.alive = alive;
        seen.adopted.retain(|adopted| partitions.contains(adopted));
        for adopted in &seen.adopted {
            let renew = self
                .locks
                .put(lock_key(adopted), self.node.id.clone().into());
            if let Err(e) = within(self.node.request_timeout, renew).await {
                tracing::warn!(node = %self.node.id, dead = %adopted, "adoption lock not renewed: {e}");
            }
        }
        for gone in dead {
            if gone == self.node.id || seen.adopted.contains(&gone) {
                continue;
            }
            let lock = self
                .locks
                .create(lock_key(&gone), self.node.id.clone().into());
            if within(self.node.request_timeout, lock).await.is_err() {
                // Another node adopts it (or the bucket is unreachable: next look).
                continue;
            }
            self.adopt(state, &gone).await?;
            seen.adopted.insert(gone);
        }
        Ok(())
    }

    /// The ids of the nodes with a live key.
    async fn live_nodes(&self) -> Result<HashSet<String>, String> {
        let limit = self.node.request_timeout;
        let mut keys = within(limit, self.node.nodes.keys()).await?;
        let mut alive = HashSet::new();
        while let Some(key) = keys.next().await {
            alive.insert(key.map_err(|e| e.to_string())?);
        }
        Ok(alive)
    }

    /// Takes over node `dead`'s deliveries and calls (see the module docs).
    async fn adopt(&self, state: &Arc<State>, dead: &str) -> Result<(), String> {
        let kept = self.hooks.partition(dead).await?;
        let deliveries = kept.len();
        let mut calls = crate::webhook::queue_kept(state, self.hooks.known(kept));
        let mut orphans = 0;
        let mut removed = 0;
        for (key, revision, record) in self.records_of(dead).await? {
            if record.sequence > 0 {
                let keep = self.node.lost.put(&key, record.sequence.to_string().into());
                if let Err(e) = within(self.node.request_timeout, keep).await {
                    tracing::warn!(node = %self.node.id, "a lost call's sequenceId not kept: {e}");
                }
            }
            let delete = self.node.calls.delete_expect_revision(&key, Some(revision));
            if within(self.node.request_timeout, delete).await.is_err() {
                // Taken over by a reconnecting socket meanwhile: not lost.
                continue;
            }
            removed += 1;
            for orphan in &record.orphans {
                crate::api::publish_orphan(state, orphan);
                orphans += 1;
                let call: Arc<str> = Arc::from(orphan.call_id());
                if !calls.contains(&call) {
                    calls.push(call);
                }
            }
        }
        // Their calls are over here: each queue gets `webhook_retry_ms`, as any ended
        // call's (unless the call streams on this node again).
        for call in calls {
            if state.registry.dialect(&call).is_none() {
                state.webhook.close(&call);
            }
        }
        tracing::warn!(
            node = %self.node.id,
            dead = %dead,
            deliveries,
            calls = removed,
            events = orphans,
            "adopted a dead node: its webhook deliveries, its calls and their lost-stream events"
        );
        Ok(())
    }

    /// The call records owned by node `dead`: key, revision and record.
    async fn records_of(&self, dead: &str) -> Result<Vec<(String, u64, CallRecord)>, String> {
        let limit = self.node.request_timeout;
        let calls = &self.node.calls;
        let mut keys = within(limit, calls.keys()).await?;
        let mut found = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(|e| e.to_string())?;
            let Some(entry) = within(limit, calls.entry(key.clone())).await? else {
                continue;
            };
            if entry.operation != kv::Operation::Put {
                continue;
            }
            match serde_json::from_slice::<CallRecord>(&entry.value) {
                Ok(record) if record.node == dead => found.push((key, entry.revision, record)),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(node = %self.node.id, "unreadable call record skipped: {e}")
                }
            }
        }
        Ok(found)
    }
}

/// The lock key of adopting node `node`.
fn lock_key(node: &str) -> String {
    format!("adopt.{node}")
}
