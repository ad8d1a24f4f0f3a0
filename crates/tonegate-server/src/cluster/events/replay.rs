//! A resuming client's events that this node's memory no longer holds: read from the
//! stream with an ordered consumer of its own (every call's subjects, or the one call's).

use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::{Log, cut_off};
use crate::event_log::{CallFilter, EventId, Item};

/// How long a replay may wait for its next message before it gives up (the client is
/// cut off, told to resume from the first id it did not get).
const STALL: std::time::Duration = std::time::Duration::from_secs(10);

/// The events of the stream passing `filter` with ids from `from` up to (not
/// including) `until`.
pub(super) fn between(
    log: Log,
    from: EventId,
    until: EventId,
    filter: CallFilter,
) -> BoxStream<'static, Item> {
    if from >= until {
        return Box::pin(futures_util::stream::empty());
    }
    let subject = match &filter {
        CallFilter::All => log.names.all_events_subject(),
        CallFilter::Call(call_id) => log.names.event_subject(call_id),
    };
    let start = async move {
        let (messages, pending) = match log.ordered(from, subject).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!("cannot replay events to a resuming stream: {e}");
                return cut_off(from);
            }
        };
        if pending == 0 {
            return Box::pin(futures_util::stream::empty()) as BoxStream<'static, Item>;
        }
        Box::pin(futures_util::stream::unfold(
            Some((messages, log, from)),
            move |state| async move {
                let (mut messages, log, next) = state?;
                loop {
                    let message = match tokio::time::timeout(STALL, messages.next()).await {
                        Ok(Some(Ok(message))) => message,
                        Ok(Some(Err(e))) => {
                            tracing::debug!("replaying the event stream: {e}");
                            continue;
                        }
                        Ok(None) | Err(_) => {
                            tracing::warn!(
                                "a replay of the event stream stalled; the stream is cut off"
                            );
                            return Some((Item::CutOff { resume_from: next }, None));
                        }
                    };
                    let Ok(info) = message.info().map(|i| (i.stream_sequence, i.pending)) else {
                        continue;
                    };
                    let (id, pending) = info;
                    if id >= until {
                        return None;
                    }
                    let entry = (id >= next).then(|| log.entry(&message, id)).flatten();
                    let Some(entry) = entry else {
                        if pending == 0 {
                            return None;
                        }
                        continue;
                    };
                    let state = (pending > 0).then_some((messages, log, id + 1));
                    return Some((Item::Event(entry), state));
                }
            },
        ))
    };
    Box::pin(futures_util::stream::once(start).flatten())
}
