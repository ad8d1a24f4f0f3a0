//! This node's membership: the NATS connection, the two key-value buckets, and the
//! heartbeat that keeps this node's key alive (and fences the node when it cannot).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use axum::body::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::names::Names;
use super::{Settings, node_id};

/// How long a call whose node died may reconnect and carry on with its continuous-DTMF
/// `sequenceId`s.
pub(super) const LOST_FOR: Duration = Duration::from_secs(3_600);

/// A node's record in the nodes bucket; the key's age is its liveness.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct NodeRecord {
    /// `serving`, or `draining` once it stopped taking calls.
    pub(super) state: String,
}

/// One member of the cluster.
pub(super) struct Node {
    /// This node's id.
    pub(super) id: String,
    pub(super) names: Names,
    pub(super) client: async_nats::Client,
    /// Live nodes: `<node id>` → [`NodeRecord`], expiring after `cluster_node_ttl_ms`.
    pub(super) nodes: kv::Store,
    /// Call owners: `<call token>` → [`super::ownership::CallRecord`].
    pub(super) calls: kv::Store,
    /// Calls whose node died with them: `<call token>` → their last continuous-DTMF
    /// `sequenceId`, for [`LOST_FOR`].
    pub(super) lost: kv::Store,
    /// How long a forwarded request or a key-value operation may take.
    pub(super) request_timeout: Duration,
    /// How often this node renews its key.
    pub(super) heartbeat: Duration,
    /// How long a node's key lives without renewal.
    pub(super) ttl: Duration,
    /// Set once this node stops taking calls (SIGTERM).
    pub(super) draining: AtomicBool,
    /// `true` while this node could not renew its heartbeat: it serves no call then.
    pub(super) fenced: watch::Sender<bool>,
}

/// Why joining the cluster failed (start-up only).
#[derive(Debug, thiserror::Error)]
pub(super) enum JoinError {
    /// The NATS server could not be reached.
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// `cluster_nats_url` without credentials.
        url: String,
        /// The client's error.
        reason: String,
    },
    /// JetStream is off on the NATS server, or a bucket could not be made.
    #[error(
        "cannot open the key-value bucket {bucket} (is JetStream enabled, nats-server -js?): {reason}"
    )]
    Bucket {
        /// The bucket's name.
        bucket: String,
        /// The server's answer.
        reason: String,
    },
    /// Another live node already uses this node id.
    #[error("cluster_node_id {0} is already used by a live node")]
    IdInUse(String),
}

impl Node {
    /// Connects, opens (or makes) the buckets and writes this node's first heartbeat.
    pub(super) async fn join(settings: &Settings) -> Result<Node, JoinError> {
        let id = settings.node_id.clone().unwrap_or_else(node_id::generate);
        let names = Names::new(&settings.prefix);
        let client = async_nats::ConnectOptions::new()
            .name(format!("tonegate {id}"))
            .connection_timeout(settings.request_timeout)
            .request_timeout(Some(settings.request_timeout))
            // Keep trying for ever: a NATS restart must not end the node.
            .max_reconnects(None)
            .connect(settings.url.as_str())
            .await
            .map_err(|e| JoinError::Connect {
                url: redact(&settings.url),
                reason: e.to_string(),
            })?;
        let js = jetstream::new(client.clone());
        let nodes = bucket(
            &js,
            &names.nodes_bucket(),
            "tonegate: live nodes (the key's age is the heartbeat)",
            settings.ttl,
            settings.replicas,
        )
        .await?;
        let calls = bucket(
            &js,
            &names.calls_bucket(),
            "tonegate: which node owns each live call",
            Duration::ZERO,
            settings.replicas,
        )
        .await?;
        let lost = bucket(
            &js,
            &names.lost_bucket(),
            "tonegate: the last sequenceId of calls whose node died",
            LOST_FOR,
            settings.replicas,
        )
        .await?;
        let node = Node {
            id,
            names,
            client,
            nodes,
            calls,
            lost,
            request_timeout: settings.request_timeout,
            heartbeat: settings.heartbeat,
            ttl: settings.ttl,
            draining: AtomicBool::new(false),
            fenced: watch::channel(false).0,
        };
        node.register().await?;
        Ok(node)
    }

    /// Creates this node's key. A key left by an earlier process with this id (a node
    /// restarted within the TTL) is waited out, up to the TTL and a heartbeat; a key that
    /// stays is a live node with the same id.
    async fn register(&self) -> Result<(), JoinError> {
        let tries = (self.ttl.as_millis() / self.heartbeat.as_millis().max(1)) as u32 + 2;
        for _ in 0..tries {
            match self.nodes.create(&self.id, self.record("serving")).await {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                    tokio::time::sleep(self.heartbeat).await;
                }
                Err(e) => {
                    return Err(JoinError::Bucket {
                        bucket: self.names.nodes_bucket(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        Err(JoinError::IdInUse(self.id.clone()))
    }

    fn record(&self, state: &str) -> Bytes {
        let record = NodeRecord {
            state: state.to_owned(),
        };
        serde_json::to_vec(&record).unwrap_or_default().into()
    }

    /// Renews this node's key every `cluster_heartbeat_ms`. A node that has not renewed
    /// it for `cluster_node_ttl_ms` less one heartbeat fences itself (before any other
    /// node may take its calls over), and serves again once a renewal succeeds.
    pub(super) async fn beat(self: Arc<Node>) {
        let mut tick = tokio::time::interval(self.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let fence_after = self.ttl.saturating_sub(self.heartbeat);
        let mut failing = Duration::ZERO;
        loop {
            tick.tick().await;
            let state = if self.draining.load(Ordering::SeqCst) {
                "draining"
            } else {
                "serving"
            };
            let put = self.nodes.put(&self.id, self.record(state));
            match within(self.heartbeat, put).await {
                Ok(_) => {
                    failing = Duration::ZERO;
                    if self
                        .fenced
                        .send_if_modified(|f| std::mem::replace(f, false))
                    {
                        tracing::warn!(node = %self.id, "heartbeat renewed: serving calls again");
                    }
                }
                Err(e) => {
                    failing += self.heartbeat;
                    tracing::debug!(node = %self.id, "heartbeat failed: {e}");
                }
            }
            if failing >= fence_after
                && self
                    .fenced
                    .send_if_modified(|f| !std::mem::replace(f, true))
            {
                tracing::error!(
                    node = %self.id,
                    failing_ms = failing.as_millis() as u64,
                    "fenced: cannot renew the cluster heartbeat; closing this node's calls and refusing new ones"
                );
            }
        }
    }

    /// Marks this node draining (its record says so at once).
    pub(super) async fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        let put = self.nodes.put(&self.id, self.record("draining"));
        if let Err(e) = within(self.request_timeout, put).await {
            tracing::warn!(node = %self.id, "cannot mark this node draining: {e}");
        }
    }

    /// Leaves the cluster: deletes this node's key so the others see it gone at once.
    pub(super) async fn leave(&self) {
        if let Err(e) = within(self.request_timeout, self.nodes.delete(&self.id)).await {
            tracing::warn!(node = %self.id, "cannot remove this node's key ({e}); it expires on its own");
        }
        let _ = tokio::time::timeout(self.request_timeout, self.client.flush()).await;
    }

    /// Whether node `id` has a live key.
    pub(super) async fn is_alive(&self, id: &str) -> Result<bool, String> {
        let found = within(self.request_timeout, self.nodes.get(id)).await?;
        Ok(found.is_some())
    }

    /// Whether this node is fenced now.
    pub(super) fn is_fenced(&self) -> bool {
        *self.fenced.borrow()
    }
}

/// `operation`'s result within `limit`; its error, or the time-out, as a message.
pub(super) async fn within<T, E: std::fmt::Display>(
    limit: Duration,
    operation: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, operation).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", limit.as_millis())),
    }
}

/// Opens key-value bucket `name` (entries expire after `max_age`; zero: never), making
/// it if it does not exist. Made as its stream, with the settings async-nats's
/// `create_key_value` gives one (history 1): that call first reads the account's
/// JetStream limits in a shape nats-server 2.9 (Debian 12's) does not send, and fails
/// there. A bucket another node made with other settings is used as it is.
pub(super) async fn bucket(
    js: &jetstream::Context,
    name: &str,
    description: &str,
    max_age: Duration,
    replicas: usize,
) -> Result<kv::Store, JoinError> {
    let config = stream::Config {
        name: format!("KV_{name}"),
        description: Some(description.to_owned()),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        max_age,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    };
    let made = js.create_stream(config).await.err();
    js.get_key_value(name).await.map_err(|e| JoinError::Bucket {
        bucket: name.to_owned(),
        reason: made.map_or_else(|| e.to_string(), |m| m.to_string()),
    })
}

/// `url` without a password (for messages).
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(redact("nats://u:p@h:4222"), "nats://***@h:4222");
        assert_eq!(redact("nats://h:4222"), "nats://h:4222");
    }
}
