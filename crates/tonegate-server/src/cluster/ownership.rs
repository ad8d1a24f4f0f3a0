//! Call ownership: a call belongs to the node whose socket streams it, recorded in the
//! calls bucket with compare-and-set (a key is created only if absent, and taken over
//! only at the revision read), and released when the socket ends.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::node::{Node, within};
use super::{ClaimRefusal, forward, names};
use crate::State;
use crate::api::Orphan;

/// A call's record in the calls bucket.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CallRecord {
    /// The owner's node id.
    pub(super) node: String,
    /// What another node publishes if the owner dies with the call (kept current by
    /// the owner).
    #[serde(default)]
    pub(super) orphans: Vec<Orphan>,
    /// The `sequenceId` of the call's last ContinuousDtmfRecognitionToneReceived (kept
    /// current by the owner), so a call that moves carries on after it.
    #[serde(default)]
    pub(super) sequence: u64,
}

/// What the owner keeps current in its call's record.
#[derive(Debug, Clone, Default, PartialEq)]
struct Current {
    orphans: Vec<Orphan>,
    sequence: u64,
}

impl CallRecord {
    fn to_bytes(&self) -> axum::body::Bytes {
        serde_json::to_vec(self).unwrap_or_default().into()
    }
}

/// A call this node owns: the task answering its forwarded requests and the one keeping
/// its record current. Released with [`release`].
pub(super) struct Held {
    answering: tokio::task::JoinHandle<()>,
    /// What the record should hold; dropped to stop the recorder.
    current: watch::Sender<Current>,
    /// The `sequenceId` the call's continuous DTMF carries on after (0: it starts anew).
    pub(super) resumed: u64,
    /// Ends once the last wanted record is written; gives the key and its revision.
    recorder: tokio::task::JoinHandle<(String, u64)>,
}

impl Held {
    /// Asks for the call's record to hold `orphans` and the last continuous-DTMF
    /// `sequence` (written in the background).
    pub(super) fn note(&self, orphans: Vec<Orphan>, sequence: u64) {
        let wanted = Current { orphans, sequence };
        self.current.send_if_modified(|held| {
            let changed = *held != wanted;
            *held = wanted;
            changed
        });
    }
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
        orphans: Vec::new(),
        sequence: 0,
    };
    let value = record.to_bytes();
    let limit = node.request_timeout;
    let (revision, resumed) = match within(limit, node.calls.create(&key, value.clone())).await {
        Ok(revision) => (revision, take_lost_sequence(node, &key).await),
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
            let (owner, sequence) = serde_json::from_slice::<CallRecord>(&entry.value)
                .map(|r| (r.node, r.sequence))
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
            let revision = within(limit, node.calls.update(&key, value, entry.revision))
                .await
                .map_err(|_| ClaimRefusal::Duplicate)?;
            (revision, sequence)
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
    let (current, wanted) = watch::channel(Current::default());
    let recorder = tokio::spawn(keep_current(node.clone(), key, revision, wanted));
    Ok(Held {
        answering,
        current,
        resumed,
        recorder,
    })
}

/// The last continuous-DTMF `sequenceId` of a call whose node died with it (the adopter
/// kept it in the lost bucket), forgotten once read; 0 when there is none.
async fn take_lost_sequence(node: &Node, key: &str) -> u64 {
    let Ok(Some(value)) = within(node.request_timeout, node.lost.get(key)).await else {
        return 0;
    };
    let _ = within(node.request_timeout, node.lost.delete(key)).await;
    std::str::from_utf8(&value)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Keeps the call's record current: writes each new set of orphans (the latest, when
/// several came meanwhile) at the revision it last wrote, until `wanted`'s sender is
/// dropped. A write another node's takeover refused ends it.
async fn keep_current(
    node: Arc<Node>,
    key: String,
    mut revision: u64,
    mut wanted: watch::Receiver<Current>,
) -> (String, u64) {
    while wanted.changed().await.is_ok() {
        let Current { orphans, sequence } = wanted.borrow_and_update().clone();
        let record = CallRecord {
            node: node.id.clone(),
            orphans,
            sequence,
        };
        let update = node.calls.update(&key, record.to_bytes(), revision);
        match within(node.request_timeout, update).await {
            Ok(next) => revision = next,
            Err(e) => {
                tracing::warn!(node = %node.id, "call record not updated: {e}");
                break;
            }
        }
    }
    (key, revision)
}

/// Stops answering for the call and deletes its record, unless another node has taken
/// it over since (its revision moved on).
pub(super) async fn release(node: &Node, held: Held) {
    held.answering.abort();
    drop(held.current);
    let Ok((key, revision)) = held.recorder.await else {
        return;
    };
    let delete = node.calls.delete_expect_revision(&key, Some(revision));
    if let Err(e) = within(node.request_timeout, delete).await {
        tracing::debug!(node = %node.id, "call record not released: {e}");
    }
}
