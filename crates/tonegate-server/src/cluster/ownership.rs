//! Call ownership: a call belongs to the node whose socket streams it, recorded in the
//! calls bucket with compare-and-set (a key is created only if absent, and taken over
//! only at the revision read), and released when the socket ends.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::node::{Node, within};
use super::{ClaimRefusal, forward, names};
use crate::State;

/// A call's record in the calls bucket.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CallRecord {
    /// The owner's node id.
    pub(super) node: String,
}

/// A call this node owns: its key's revision and the task answering its forwarded
/// requests. Released with [`release`].
pub(super) struct Held {
    key: String,
    revision: u64,
    answering: tokio::task::JoinHandle<()>,
}

/// Records this node as `call_id`'s owner and starts answering its forwarded requests.
/// A record left by a node that is no longer alive is taken over; one of a live node
/// means another socket streams the call.
pub(super) async fn claim(
    node: &Arc<Node>,
    state: &Arc<State>,
    call_id: &Arc<str>,
) -> Result<Held, ClaimRefusal> {
    if node.is_fenced() {
        return Err(ClaimRefusal::Unavailable("this node is fenced".to_owned()));
    }
    let key = names::call_token(call_id);
    let record = CallRecord {
        node: node.id.clone(),
    };
    let value: axum::body::Bytes = serde_json::to_vec(&record).unwrap_or_default().into();
    let limit = node.request_timeout;
    let revision = match within(limit, node.calls.create(&key, value.clone())).await {
        Ok(revision) => revision,
        Err(_) => {
            // Taken (or the create failed): look at who holds it.
            let entry = within(limit, node.calls.entry(key.clone()))
                .await
                .map_err(ClaimRefusal::Unavailable)?;
            let Some(entry) = entry else {
                return Err(ClaimRefusal::Unavailable(
                    "the call's record changed while it was claimed".to_owned(),
                ));
            };
            let owner = serde_json::from_slice::<CallRecord>(&entry.value)
                .map(|r| r.node)
                .unwrap_or_default();
            if owner != node.id
                && node
                    .is_alive(&owner)
                    .await
                    .map_err(ClaimRefusal::Unavailable)?
            {
                return Err(ClaimRefusal::Duplicate);
            }
            tracing::info!(node = %node.id, previous = %owner, "taking over a call whose owner is gone");
            within(limit, node.calls.update(&key, value, entry.revision))
                .await
                .map_err(|_| ClaimRefusal::Duplicate)?
        }
    };
    let answering = match forward::answer(node, state, call_id).await {
        Ok(task) => task,
        Err(e) => {
            let _ = within(
                limit,
                node.calls.delete_expect_revision(&key, Some(revision)),
            )
            .await;
            return Err(ClaimRefusal::Unavailable(e));
        }
    };
    Ok(Held {
        key,
        revision,
        answering,
    })
}

/// Stops answering for the call and deletes its record, unless another node has taken
/// it over since (its revision moved on).
pub(super) async fn release(node: &Node, held: Held) {
    held.answering.abort();
    let delete = node
        .calls
        .delete_expect_revision(&held.key, Some(held.revision));
    if let Err(e) = within(node.request_timeout, delete).await {
        tracing::debug!(node = %node.id, "call record not released: {e}");
    }
}
