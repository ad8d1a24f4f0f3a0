//! A wake gate: polls a group of seldom-ready futures only after one of them asked to be
//! woken, not every time the task runs.
//!
//! A socket task runs once per inbound frame (50 times a second per call) and, in a
//! plain `select!`, polls every branch each time: the shutdown and fence watches take a
//! lock shared by every call, the control channel and the timer re-register their
//! wakers. Behind a [`Gate`], each of those is polled once, with a waker that opens the
//! gate, and then only again once that waker fired or the group returned something
//! (there may be more). A frame then costs the gate one waker registration and one
//! atomic swap, on the call's own memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// See the module docs.
pub(super) struct Gate {
    inner: Arc<Inner>,
    /// The waker the group's futures are polled with.
    waker: Waker,
}

struct Inner {
    /// A future of the group asked to be polled (or it has not been polled yet).
    open: AtomicBool,
    /// The task polling the gate.
    task: AtomicWaker,
}

impl Wake for Inner {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.open.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl Gate {
    /// An open gate (the group's first poll registers their wakers).
    pub(super) fn new() -> Gate {
        let inner = Arc::new(Inner {
            open: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        let waker = Waker::from(inner.clone());
        Gate { inner, waker }
    }

    /// Makes the next [`Gate::poll`] poll the group (after changing one of its futures
    /// in a way that may need a new poll, such as a timer's reset).
    pub(super) fn open(&self) {
        self.inner.open.store(true, Ordering::Release);
    }

    /// Polls the group with `poll_group` if the gate is open, else returns `Pending`
    /// (the task is woken when a future of the group asks).
    pub(super) fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        poll_group: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.inner.task.register(cx.waker());
        if !self.inner.open.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let result = poll_group(&mut Context::from_waker(&self.waker));
        if result.is_ready() {
            // Another of the group (or the same channel) may be ready as well.
            self.open();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::pin::pin;
    use std::sync::atomic::AtomicUsize;

    /// A task waker that counts its wakes.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn polls_the_group_only_when_woken_or_after_a_result() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let task = Waker::from(count.clone());
        let mut cx = Context::from_waker(&task);
        let gate = Gate::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
        let polls = AtomicUsize::new(0);
        let mut poll = |cx: &mut Context<'_>| {
            gate.poll(cx, |cx| {
                polls.fetch_add(1, Ordering::SeqCst);
                rx.poll_recv(cx)
            })
        };
        assert_eq!(poll(&mut cx), Poll::Pending, "first poll registers");
        assert_eq!(poll(&mut cx), Poll::Pending);
        assert_eq!(polls.load(Ordering::SeqCst), 1, "closed until woken");
        tx.send(7).unwrap();
        tx.send(8).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "the send woke the task");
        assert_eq!(poll(&mut cx), Poll::Ready(Some(7)));
        assert_eq!(poll(&mut cx), Poll::Ready(Some(8)), "open after a result");
        assert_eq!(poll(&mut cx), Poll::Pending);
        assert_eq!(poll(&mut cx), Poll::Pending);
        assert_eq!(polls.load(Ordering::SeqCst), 4);
        gate.open();
        assert_eq!(poll(&mut cx), Poll::Pending);
        assert_eq!(polls.load(Ordering::SeqCst), 5, "opened by hand");
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_behind_the_gate_fires() {
        let gate = Gate::new();
        let mut sleep = pin!(tokio::time::sleep(std::time::Duration::from_secs(5)));
        let started = tokio::time::Instant::now();
        poll_fn(|cx| gate.poll(cx, |cx| sleep.as_mut().poll(cx))).await;
        assert_eq!(started.elapsed(), std::time::Duration::from_secs(5));
    }
}
