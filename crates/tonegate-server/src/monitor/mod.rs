//! The live monitor: a page (`GET /monitor`) that shows the live calls and, for one
//! call, what the detector hears, fed by the SSE event stream and a per-call feature
//! stream.
//!
//! - `GET /monitor`, `/monitor/monitor.js`, `/monitor/monitor.css`: the page, embedded in
//!   the binary; it holds no data and needs no credential.
//! - `GET /v1/monitor/calls`: the live calls as JSON (call id, dialect, encoding, rate,
//!   participants, duration).
//! - `GET /v1/monitor/calls/{callId}/features`: server-sent events `features`, each the
//!   base64 of the 16-byte records of `tonegate_core::session::features` (inbound
//!   blocks, and outbound frames' levels) gathered up to one inbound socket message; `lagged` (data: records' messages lost) when the watcher
//!   fell [`Config::monitor_buffer_frames`](super::Config::monitor_buffer_frames)
//!   behind; the stream ends with the call.
//!
//! Both data routes take the event streams' credentials (see `events.rs`); a call token
//! of scope `events` reads its own call's features. The features are tone and level
//! figures per 4 ms block and a level per outbound frame, never audio. A call's session builds them only while someone
//! watches: a watcher arriving or leaving wakes the call's socket task, which then reads
//! [`Tap::watched`], so an unwatched call pays nothing per socket message.

mod routes;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use axum::body::Bytes;
use tokio::sync::broadcast;

pub(crate) use routes::router;

/// One live call's feature stream.
pub(crate) struct Tap {
    sender: broadcast::Sender<Bytes>,
    /// Feature streams open on this call (shared with their [`Watch`]es, so the
    /// sender, and with it their streams, ends with the call).
    watchers: Arc<Watchers>,
}

/// A call's count of feature streams, and the socket task to tell when it changes.
struct Watchers {
    count: AtomicUsize,
    socket: Waker,
}

impl Watchers {
    /// Counts a watcher in and tells the socket task.
    fn arrived(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.socket.wake_by_ref();
    }

    /// Counts a watcher out and tells the socket task.
    fn left(&self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
        self.socket.wake_by_ref();
    }
}

impl Tap {
    /// Whether anyone watches: the socket task turns the session's tap on or off by it
    /// when woken by a change.
    pub(crate) fn watched(&self) -> bool {
        self.watchers.count.load(Ordering::Relaxed) > 0
    }

    /// Hands one message of block records to every watcher.
    pub(crate) fn send(&self, records: Bytes) {
        let _ = self.sender.send(records);
    }
}

/// The live calls' feature streams, by call id.
pub(crate) struct Taps {
    calls: Mutex<HashMap<Arc<str>, Arc<Tap>>>,
    /// [`Config::monitor_buffer_frames`](super::Config::monitor_buffer_frames).
    buffer: usize,
    /// Feature streams open, against `max_watchers`.
    watching: Arc<AtomicUsize>,
    max_watchers: usize,
}

/// A watcher's hold on a call's feature stream; counts as a watcher until dropped.
pub(crate) struct Watch {
    pub(crate) receiver: broadcast::Receiver<Bytes>,
    /// The call's [`Tap::watchers`].
    watchers: Arc<Watchers>,
    watching: Arc<AtomicUsize>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.watchers.left();
        self.watching.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a feature stream could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WatchError {
    /// No socket streams this call.
    #[error("no such call")]
    NoSuchCall,
    /// [`Config::max_monitor_watchers`](super::Config::max_monitor_watchers) reached.
    #[error("too many monitor watchers")]
    Full,
}

impl Taps {
    pub(crate) fn new(config: &super::Config) -> Taps {
        Taps {
            calls: Mutex::new(HashMap::new()),
            buffer: config.monitor_buffer_frames.max(1),
            watching: Arc::new(AtomicUsize::new(0)),
            max_watchers: config.max_monitor_watchers,
        }
    }

    /// The feature stream of a call that started streaming; `socket` wakes the call's
    /// socket task when a watcher arrives or leaves.
    pub(crate) fn open(&self, call_id: &Arc<str>, socket: Waker) -> Arc<Tap> {
        let tap = Arc::new(Tap {
            sender: broadcast::channel(self.buffer).0,
            watchers: Arc::new(Watchers {
                count: AtomicUsize::new(0),
                socket,
            }),
        });
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.insert(call_id.clone(), tap.clone());
        tap
    }

    /// Ends a call's feature stream (its watchers' streams end once drained).
    pub(crate) fn close(&self, call_id: &str, tap: &Arc<Tap>) {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        if calls.get(call_id).is_some_and(|t| Arc::ptr_eq(t, tap)) {
            calls.remove(call_id);
        }
    }

    /// Starts watching a call's features.
    pub(crate) fn watch(&self, call_id: &str) -> Result<Watch, WatchError> {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let tap = calls.get(call_id).ok_or(WatchError::NoSuchCall)?.clone();
        drop(calls);
        let admitted = self
            .watching
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max_watchers).then_some(n + 1)
            });
        if admitted.is_err() {
            return Err(WatchError::Full);
        }
        tap.watchers.arrived();
        Ok(Watch {
            receiver: tap.sender.subscribe(),
            watchers: tap.watchers.clone(),
            watching: self.watching.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taps(max_watchers: usize) -> Taps {
        Taps::new(&super::super::Config {
            max_monitor_watchers: max_watchers,
            monitor_buffer_frames: 2,
            ..super::super::Config::default()
        })
    }

    /// A socket task's waker that counts its wakes.
    struct Socket(AtomicUsize);

    impl std::task::Wake for Socket {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn socket() -> (Waker, Arc<Socket>) {
        let socket = Arc::new(Socket(AtomicUsize::new(0)));
        (Waker::from(socket.clone()), socket)
    }

    #[test]
    fn a_call_is_watched_while_a_watch_lives() {
        let taps = taps(4);
        let call: Arc<str> = Arc::from("call-1");
        let (waker, socket) = socket();
        let tap = taps.open(&call, waker);
        assert!(!tap.watched());
        let watch = taps.watch("call-1").unwrap();
        assert!(tap.watched());
        assert_eq!(
            socket.0.load(Ordering::SeqCst),
            1,
            "the arrival woke the socket"
        );
        drop(watch);
        assert!(!tap.watched());
        assert_eq!(socket.0.load(Ordering::SeqCst), 2, "the departure woke it");
        assert_eq!(taps.watch("other").err(), Some(WatchError::NoSuchCall));
        let mut last = taps.watch("call-1").unwrap();
        taps.close("call-1", &tap);
        assert_eq!(taps.watch("call-1").err(), Some(WatchError::NoSuchCall));
        drop(tap);
        assert!(
            matches!(
                last.receiver.try_recv(),
                Err(broadcast::error::TryRecvError::Closed)
            ),
            "a watcher's stream ends with the call"
        );
    }

    #[test]
    fn watchers_are_capped_and_each_holds_a_bounded_queue() {
        let taps = taps(1);
        let tap = taps.open(&Arc::from("call-1"), socket().0);
        let mut watch = taps.watch("call-1").unwrap();
        assert_eq!(taps.watch("call-1").err(), Some(WatchError::Full));
        for n in 0..5u8 {
            tap.send(Bytes::from(vec![n]));
        }
        assert!(matches!(
            watch.receiver.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(3))
        ));
        assert_eq!(watch.receiver.try_recv().unwrap(), Bytes::from(vec![3]));
    }
}
