//! A wake gate: polls a group of seldom-ready futures only after one of them asked to be
//! woken, not every time the task runs.
//!
//! A socket task runs once per inbound frame (50 times a second per call) and, in a
//! plain `select!`, polls every branch each time: the shutdown and fence watches take a
//! lock shared by every call, the control channel and the timer re-register their
//! wakers. Behind a [`Gate`], each of those is polled once, with a waker that opens the
//! gate, and then only again once that waker fired or the gate was opened by hand (the
//! group returned something and there may be more, or a timer was reset). A frame then
//! costs the gate one atomic swap on the call's own memory: the task's waker is
//! registered again only when the gate was opened (a wake takes it) or the task's waker
//! changed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Wake, Waker};

use futures_util::task::AtomicWaker;

/// See the module docs.
pub(super) struct Gate {
    inner: Arc<Inner>,
    /// The waker the group's futures are polled with.
    waker: Waker,
    /// The task waker last registered in [`Inner::task`]; while the gate stays closed no
    /// wake has taken it, so it need not be registered again.
    registered: Option<Waker>,
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
        Gate {
            inner,
            waker,
            registered: None,
        }
    }

    /// A waker that opens the gate and wakes the task polling it, for a source of wakes
    /// outside the group's futures.
    pub(super) fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Makes the next [`Gate::take`] say the group must be polled (after changing one of
    /// its futures in a way that may need a new poll, such as a timer's reset, or when
    /// the group was not polled to the end).
    pub(super) fn open(&self) {
        self.inner.open.store(true, Ordering::Release);
    }

    /// Whether the group must be polled now (one of its futures asked, or the gate was
    /// opened by hand); closes the gate. Makes sure a later wake reaches the task `cx`
    /// belongs to. Poll the group's futures with [`Gate::context`].
    pub(super) fn take(&mut self, cx: &Context<'_>) -> bool {
        let opened = self.inner.open.swap(false, Ordering::AcqRel);
        let same_task = (self.registered.as_ref()).is_some_and(|w| w.will_wake(cx.waker()));
        if opened || !same_task {
            // Registered before the group is polled, so a wake during the poll reaches
            // the task. While the gate stays closed no wake has taken the waker.
            self.inner.task.register(cx.waker());
        }
        if !same_task {
            self.registered = Some(cx.waker().clone());
        }
        opened
    }

    /// The context to poll the group's futures with: their wakes open the gate.
    pub(super) fn context(&self) -> Context<'_> {
        Context::from_waker(&self.waker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::task::Poll;

    /// Polls `group` behind `gate` as the socket loop does.
    fn poll<T>(
        gate: &mut Gate,
        cx: &Context<'_>,
        group: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        if !gate.take(cx) {
            return Poll::Pending;
        }
        let result = group(&mut gate.context());
        if result.is_ready() {
            gate.open();
        }
        result
    }
    use std::pin::pin;
    use std::sync::atomic::AtomicUsize;

    /// A task waker that counts its wakes.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A task waker counting its wakes, and the count.
    fn counting_waker() -> (Waker, Arc<Count>) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (Waker::from(count.clone()), count)
    }

    #[test]
    fn polls_the_group_only_when_woken_or_after_a_result() {
        let (task, count) = counting_waker();
        let mut cx = Context::from_waker(&task);
        let mut gate = Gate::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
        let polls = AtomicUsize::new(0);
        let mut poll_rx = |gate: &mut Gate, cx: &mut Context<'_>| {
            poll(gate, cx, |cx| {
                polls.fetch_add(1, Ordering::SeqCst);
                rx.poll_recv(cx)
            })
        };
        assert_eq!(
            poll_rx(&mut gate, &mut cx),
            Poll::Pending,
            "first poll registers"
        );
        assert_eq!(poll_rx(&mut gate, &mut cx), Poll::Pending);
        assert_eq!(polls.load(Ordering::SeqCst), 1, "closed until woken");
        tx.send(7).unwrap();
        tx.send(8).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "the send woke the task");
        assert_eq!(poll_rx(&mut gate, &mut cx), Poll::Ready(Some(7)));
        assert_eq!(
            poll_rx(&mut gate, &mut cx),
            Poll::Ready(Some(8)),
            "open after a result"
        );
        assert_eq!(poll_rx(&mut gate, &mut cx), Poll::Pending);
        assert_eq!(poll_rx(&mut gate, &mut cx), Poll::Pending);
        assert_eq!(polls.load(Ordering::SeqCst), 4);
        tx.send(9).unwrap();
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            2,
            "woken again after closed polls"
        );
        assert_eq!(poll_rx(&mut gate, &mut cx), Poll::Ready(Some(9)));
        assert_eq!(poll_rx(&mut gate, &mut cx), Poll::Pending);
        gate.open();
        assert_eq!(poll_rx(&mut gate, &mut cx), Poll::Pending);
        assert_eq!(polls.load(Ordering::SeqCst), 7, "opened by hand");
    }

    #[test]
    fn a_new_task_waker_is_the_one_woken() {
        let (first, first_count) = counting_waker();
        let (second, second_count) = counting_waker();
        let mut gate = Gate::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
        let mut poll_rx = |gate: &mut Gate, task: &Waker| {
            poll(gate, &Context::from_waker(task), |cx| rx.poll_recv(cx))
        };
        assert_eq!(poll_rx(&mut gate, &first), Poll::Pending);
        assert_eq!(
            poll_rx(&mut gate, &second),
            Poll::Pending,
            "closed, but a new waker"
        );
        tx.send(1).unwrap();
        assert_eq!(first_count.0.load(Ordering::SeqCst), 0);
        assert_eq!(second_count.0.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_behind_the_gate_fires() {
        let mut gate = Gate::new();
        let mut sleep = pin!(tokio::time::sleep(std::time::Duration::from_secs(5)));
        let started = tokio::time::Instant::now();
        poll_fn(|cx| poll(&mut gate, cx, |cx| sleep.as_mut().poll(cx))).await;
        assert_eq!(started.elapsed(), std::time::Duration::from_secs(5));
    }
}
