//! This node's copy of the stream: one ordered consumer from the node's start on copies
//! every event (of every node) into the node's [`Memory`] log, numbered by stream
//! sequence, from which the node's SSE streams read.
//!
//! The consumer survives NATS restarts (async-nats makes it again from the last
//! sequence it delivered). A sequence seen already (a consumer made again from the
//! start) is skipped; a jump (events the stream dropped before this node read them) cuts
//! the node's live subscribers off at the first missing id, so they resume and are told
//! what they missed, and the memory starts again after the jump.

use std::sync::Arc;

use async_nats::jetstream::consumer::push;
use futures_util::StreamExt;

use super::Log;
use crate::event_log::memory::Memory;

/// Copies `messages` into `memory` until the connection is closed.
pub(super) async fn follow(mut messages: push::Ordered, log: Log, memory: Arc<Memory>) {
    while let Some(message) = messages.next().await {
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                // The consumer is made again on its own.
                tracing::debug!("reading the event stream: {e}");
                continue;
            }
        };
        let Ok(id) = message.info().map(|i| i.stream_sequence) else {
            continue;
        };
        let next = memory.next_id();
        if id < next {
            continue;
        }
        if id > next {
            tracing::warn!(
                missed = id - next,
                "the event stream dropped events before this node read them; live streams are cut off"
            );
            memory.lost(id - next);
            memory.start_at(id);
        }
        match log.entry(&message, id) {
            Some(entry) => memory.append_numbered(&[entry]),
            // Not an event: numbering goes on past it.
            None => memory.restore(Vec::new(), id + 1),
        }
    }
    tracing::debug!("the event stream's consumer ended");
}
