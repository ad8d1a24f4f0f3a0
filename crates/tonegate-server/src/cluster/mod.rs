//! Cluster mode: several `tonegate serve` nodes sharing one NATS server (JetStream on),
//! so that any node answers the API for any call (see docs/cluster.md).
//!
//! - membership (`node.rs`): each node keeps a key alive in the nodes bucket; a node
//!   that cannot renew it fences itself (closes its calls, takes none);
//! - ownership (`ownership.rs`): a call belongs to the node its socket streams to,
//!   recorded with compare-and-set, released when the socket ends;
//! - forwarding (`forward.rs`): a REST request for a call owned elsewhere goes to the
//!   owner over NATS request-reply and its answer is relayed;
//! - webhooks (`webhooks.rs`): every delivery is kept in a JetStream stream, in this
//!   node's partition, until it is settled;
//! - adoption (`adopt.rs`): when a node dies, one other node delivers its unsettled
//!   webhooks, publishes the events its lost streams produce and removes its calls.
//!
//! Switched on by [`Config::cluster_nats_url`] in a build with the `cluster` feature.
//! Otherwise [`Cluster`] is a single node: every call is local and every hook below
//! does nothing, so single-process behaviour is unchanged.

#[cfg(feature = "cluster")]
mod adopt;
#[cfg(feature = "cluster")]
mod events;
#[cfg(feature = "cluster")]
mod forward;
#[cfg(feature = "cluster")]
mod names;
#[cfg(feature = "cluster")]
mod node;
#[cfg(feature = "cluster")]
mod node_id;
#[cfg(feature = "cluster")]
mod ownership;
#[cfg(feature = "cluster")]
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::response::Response;
use tokio::sync::watch;

use super::{Config, State};

/// The cluster settings of [`Config`], checked.
#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
struct Settings {
    url: String,
    node_id: Option<String>,
    prefix: String,
    request_timeout: Duration,
    heartbeat: Duration,
    ttl: Duration,
    replicas: usize,
    events: EventSettings,
    /// How long an unsettled webhook delivery is kept in JetStream.
    hook_max_age: Duration,
}

/// The settings of the cluster's event stream.
#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
#[derive(Debug, Clone, Copy)]
struct EventSettings {
    retention: Duration,
    max_bytes: u64,
    outbox_bytes: usize,
}

impl Settings {
    /// `config`'s cluster settings, `None` without `cluster_nats_url`; the error names
    /// the setting at fault.
    fn from_config(config: &Config) -> Result<Option<Settings>, String> {
        let Some(url) = config.cluster_nats_url.clone() else {
            return Ok(None);
        };
        if let Some(id) = &config.cluster_node_id
            && !is_plain(id, 64)
        {
            return Err(
                "cluster_node_id must be 1 to 64 characters of A-Z, a-z, 0-9 and -".to_owned(),
            );
        }
        if !is_plain(&config.cluster_prefix, 32) {
            return Err(
                "cluster_prefix must be 1 to 32 characters of A-Z, a-z, 0-9 and -".to_owned(),
            );
        }
        if config.cluster_request_timeout_ms == 0 || config.cluster_heartbeat_ms == 0 {
            return Err(
                "cluster_request_timeout_ms and cluster_heartbeat_ms must be at least 1".to_owned(),
            );
        }
        if config.cluster_node_ttl_ms < 2 * config.cluster_heartbeat_ms {
            return Err(
                "cluster_node_ttl_ms must be at least twice cluster_heartbeat_ms".to_owned(),
            );
        }
        if !(1..=5).contains(&config.cluster_replicas) {
            return Err("cluster_replicas must be 1 to 5".to_owned());
        }
        if config.cluster_event_retention_ms < 1_000 {
            return Err("cluster_event_retention_ms must be at least 1000".to_owned());
        }
        if config.cluster_event_max_bytes < 1 << 20 || config.cluster_event_outbox_bytes == 0 {
            return Err(
                "cluster_event_max_bytes must be at least 1048576 and cluster_event_outbox_bytes at least 1"
                    .to_owned(),
            );
        }
        Ok(Some(Settings {
            url,
            node_id: config.cluster_node_id.clone(),
            prefix: config.cluster_prefix.clone(),
            request_timeout: Duration::from_millis(config.cluster_request_timeout_ms),
            heartbeat: Duration::from_millis(config.cluster_heartbeat_ms),
            ttl: Duration::from_millis(config.cluster_node_ttl_ms),
            replicas: config.cluster_replicas,
            events: EventSettings {
                retention: Duration::from_millis(config.cluster_event_retention_ms),
                max_bytes: config.cluster_event_max_bytes,
                outbox_bytes: config.cluster_event_outbox_bytes,
            },
            hook_max_age: hook_max_age(config.webhook_retry_ms),
        }))
    }
}

/// How long JetStream keeps an unsettled webhook delivery: twice the retry window (a
/// delivery may be retried by its node, then again by the node that adopts it) and an
/// hour for a cluster to notice a dead node.
fn hook_max_age(webhook_retry_ms: u64) -> Duration {
    Duration::from_millis(webhook_retry_ms.saturating_mul(2)) + Duration::from_secs(3_600)
}

/// Whether `name` (a node id or a prefix) is 1 to `max` characters of `[A-Za-z0-9-]`,
/// so it is usable as it is in subjects, keys and bucket names.
fn is_plain(name: &str, max: usize) -> bool {
    (1..=max).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// This node's place in the cluster, or a single node.
pub(crate) struct Cluster {
    #[cfg(feature = "cluster")]
    node: Option<Arc<node::Node>>,
    /// The event stream's settings, with a node.
    #[cfg(feature = "cluster")]
    events: Option<events::StreamLimits>,
    /// The webhook outbox of a cluster node.
    #[cfg(feature = "cluster")]
    hooks: Option<Arc<webhooks::Hooks>>,
    /// What a cluster node adopts dead nodes with.
    #[cfg(feature = "cluster")]
    adopter: Option<Arc<adopt::Adopter>>,
    /// Never changes on a single node (the fence of a cluster node is its own).
    unfenced: watch::Sender<bool>,
}

/// Why a socket may not own the call it started (only a cluster node refuses).
#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ClaimRefusal {
    /// A socket on another live node streams the call.
    #[error("this call is already streaming on another node")]
    Duplicate,
    /// The cluster could not be asked (the reason says why).
    #[error("the cluster cannot record this call's owner: {0}")]
    Unavailable(String),
}

/// A call this node owns, until [`Cluster::release`].
pub(crate) struct Claim {
    #[cfg(feature = "cluster")]
    held: Option<ownership::Held>,
}

impl Claim {
    /// The continuous-DTMF `sequenceId` the call carries on after: the last one it had
    /// on a node that died with it; 0 (start anew) otherwise.
    pub(crate) fn resumed_sequence(&self) -> u64 {
        #[cfg(feature = "cluster")]
        if let Some(held) = &self.held {
            return held.resumed;
        }
        0
    }
}

/// What became of a request forwarded to a call's owner (only a cluster node forwards).
#[cfg_attr(not(feature = "cluster"), allow(dead_code))]
pub(crate) enum Forwarded {
    /// The owner's answer, to relay as it is.
    Reply(Response),
    /// No node owns the call, or its owner is dead.
    NoOwner,
    /// The owner is alive but did not answer in time.
    Unreachable,
    /// The request is larger than NATS carries.
    TooLarge,
}

impl Cluster {
    /// Joins the cluster of [`Config::cluster_nats_url`], or makes a single node without
    /// it. The error names the setting or says what NATS answered.
    pub(crate) async fn join(config: &Config) -> Result<Cluster, String> {
        let settings = Settings::from_config(config)?;
        let unfenced = watch::channel(false).0;
        #[cfg(feature = "cluster")]
        {
            let events = settings.as_ref().map(|s| events::StreamLimits {
                max_age: s.events.retention,
                max_bytes: s.events.max_bytes,
                outbox_bytes: s.events.outbox_bytes,
                replicas: s.replicas,
            });
            let (node, hooks, adopter) = match settings {
                None => (None, None, None),
                Some(settings) => {
                    let node = Arc::new(
                        node::Node::join(&settings)
                            .await
                            .map_err(|e| e.to_string())?,
                    );
                    let hooks = webhooks::Hooks::open(
                        &async_nats::jetstream::new(node.client.clone()),
                        &node.names,
                        &node.id,
                        settings.hook_max_age,
                        settings.replicas,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                    let hooks = Arc::new(hooks);
                    let adopter =
                        adopt::Adopter::open(node.clone(), hooks.clone(), settings.replicas)
                            .await
                            .map_err(|e| e.to_string())?;
                    tracing::info!(
                        node = %node.id,
                        prefix = %settings.prefix,
                        pending_webhooks = hooks.pending(),
                        "joined the cluster"
                    );
                    tokio::spawn(node.clone().beat());
                    (Some(node), Some(hooks), Some(Arc::new(adopter)))
                }
            };
            Ok(Cluster {
                node,
                events,
                hooks,
                adopter,
                unfenced,
            })
        }
        #[cfg(not(feature = "cluster"))]
        match settings {
            None => Ok(Cluster { unfenced }),
            Some(_) => Err(
                "cluster_nats_url is set, but this build has no cluster support (build with the `cluster` feature)"
                    .to_owned(),
            ),
        }
    }

    /// The cluster's event log (every node's events in one JetStream stream); `None` on
    /// a single node. The error says what NATS answered.
    pub(crate) async fn event_log(
        &self,
        config: &Config,
        metrics: &crate::Metrics,
    ) -> Result<Option<Arc<dyn crate::event_log::Backend>>, String> {
        #[cfg(feature = "cluster")]
        if let (Some(node), Some(limits)) = (&self.node, self.events) {
            let log = events::JetStreamLog::open(node, limits, config, metrics).await?;
            return Ok(Some(Arc::new(log)));
        }
        let _ = (config, metrics);
        Ok(None)
    }

    /// Where a cluster node keeps its webhook deliveries until settled; `None` on a
    /// single node.
    pub(crate) fn outbox(&self) -> Option<&dyn crate::event_log::Outbox> {
        #[cfg(feature = "cluster")]
        if let Some(hooks) = &self.hooks {
            return Some(&**hooks);
        }
        None
    }

    /// Resolves to `true` when this node is fenced; `false` again once it may serve.
    pub(crate) fn fence(&self) -> watch::Receiver<bool> {
        #[cfg(feature = "cluster")]
        if let Some(node) = &self.node {
            return node.fenced.subscribe();
        }
        self.unfenced.subscribe()
    }

    /// Why this node takes no new audio socket now (draining or fenced), if it does not.
    pub(crate) fn refusal(&self) -> Option<&'static str> {
        #[cfg(feature = "cluster")]
        if let Some(node) = &self.node {
            if node.draining.load(std::sync::atomic::Ordering::SeqCst) {
                return Some("draining: this node is stopping");
            }
            if node.is_fenced() {
                return Some("fenced: this node lost contact with the cluster");
            }
        }
        None
    }

    /// Whether this node is draining (`/healthz` answers 503).
    pub(crate) fn is_draining(&self) -> bool {
        #[cfg(feature = "cluster")]
        if let Some(node) = &self.node {
            return node.draining.load(std::sync::atomic::Ordering::SeqCst);
        }
        false
    }

    /// Records this node as the owner of `call_id` (a single node owns every call).
    pub(crate) async fn claim(
        &self,
        state: &Arc<State>,
        call_id: &Arc<str>,
    ) -> Result<Claim, ClaimRefusal> {
        #[cfg(feature = "cluster")]
        if let Some(node) = &self.node {
            let held = ownership::claim(node, state, call_id).await?;
            return Ok(Claim { held: Some(held) });
        }
        let _ = (state, call_id);
        Ok(Claim {
            #[cfg(feature = "cluster")]
            held: None,
        })
    }

    /// Keeps `claim`'s record saying what another node publishes if this one dies with
    /// the call, and the `sequence` of its last continuous-DTMF tone.
    pub(crate) fn note_call(&self, claim: &Claim, orphans: Vec<crate::api::Orphan>, sequence: u64) {
        #[cfg(feature = "cluster")]
        if let Some(held) = &claim.held {
            held.note(orphans, sequence);
        }
        #[cfg(not(feature = "cluster"))]
        let _ = (claim, orphans, sequence);
    }

    /// Starts watching for dead nodes to adopt (a cluster node only).
    pub(crate) fn start_adopting(&self, state: &Arc<State>) {
        #[cfg(feature = "cluster")]
        if let Some(adopter) = &self.adopter {
            tokio::spawn(adopt::watch(adopter.clone(), Arc::downgrade(state)));
        }
        #[cfg(not(feature = "cluster"))]
        let _ = state;
    }

    /// Gives up a call's ownership (its socket ended).
    pub(crate) async fn release(&self, claim: Claim) {
        #[cfg(feature = "cluster")]
        if let (Some(node), Some(held)) = (&self.node, claim.held) {
            ownership::release(node, held).await;
        }
        #[cfg(not(feature = "cluster"))]
        let _ = claim;
    }

    /// Sends operation `op` (or `get`) of a call this node does not hold to its owner;
    /// `None` on a single node.
    pub(crate) async fn forward(&self, call_id: &str, op: &str, body: Bytes) -> Option<Forwarded> {
        #[cfg(feature = "cluster")]
        if let Some(node) = &self.node {
            return Some(forward::request(node, call_id, op, body).await);
        }
        let _ = (call_id, op, body);
        None
    }

    /// Stops taking calls: the node's record and `/healthz` say `draining`.
    pub(crate) async fn drain(&self) {
        #[cfg(feature = "cluster")]
        if let Some(node) = &self.node {
            node.drain().await;
        }
    }

    /// Whether this node is part of a cluster.
    pub(crate) fn is_clustered(&self) -> bool {
        #[cfg(feature = "cluster")]
        return self.node.is_some();
        #[cfg(not(feature = "cluster"))]
        false
    }

    /// Leaves the cluster at the end of a graceful stop.
    pub(crate) async fn leave(&self) {
        #[cfg(feature = "cluster")]
        if let Some(node) = &self.node {
            node.leave().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change to a clustered configuration.
    type Change = fn(&mut Config);

    fn clustered(change: impl FnOnce(&mut Config)) -> Result<Option<Settings>, String> {
        let mut config = Config {
            cluster_nats_url: Some("nats://127.0.0.1:4222".to_owned()),
            ..Config::default()
        };
        change(&mut config);
        Settings::from_config(&config)
    }

    #[test]
    fn plain_names() {
        assert!(is_plain("n1", 64));
        assert!(!is_plain("", 64));
        assert!(!is_plain("a.b", 64));
        assert!(!is_plain("a_b", 64));
        assert!(!is_plain("abc", 2));
    }

    #[test]
    fn no_url_is_a_single_node() {
        assert!(Settings::from_config(&Config::default()).unwrap().is_none());
    }

    #[test]
    fn bad_cluster_settings_name_themselves() {
        assert!(clustered(|_| {}).unwrap().is_some());
        let cases: [(Change, &str); 8] = [
            (
                |c| c.cluster_node_id = Some("a.b".to_owned()),
                "cluster_node_id",
            ),
            (|c| c.cluster_prefix = "x>".to_owned(), "cluster_prefix"),
            (|c| c.cluster_heartbeat_ms = 0, "cluster_heartbeat_ms"),
            (
                |c| c.cluster_node_ttl_ms = c.cluster_heartbeat_ms,
                "cluster_node_ttl_ms",
            ),
            (|c| c.cluster_replicas = 0, "cluster_replicas"),
            (
                |c| c.cluster_event_retention_ms = 999,
                "cluster_event_retention_ms",
            ),
            (
                |c| c.cluster_event_max_bytes = 1_000,
                "cluster_event_max_bytes",
            ),
            (
                |c| c.cluster_event_outbox_bytes = 0,
                "cluster_event_outbox_bytes",
            ),
        ];
        for (change, name) in cases {
            let err = clustered(change).err().unwrap();
            assert!(err.contains(name), "{err} should name {name}");
        }
    }
}
