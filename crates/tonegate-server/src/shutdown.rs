//! Graceful shutdown: the signal that starts it, and waiting for the last session task
//! to end (mini-redis style: each task holds a clone of one `mpsc::Sender`; when the
//! server drops the original, the receiver ends with the last task).

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

/// The live session tasks.
pub(crate) struct Sessions {
    /// Cloned into each task; dropped when shutdown begins.
    sender: Mutex<Option<mpsc::Sender<()>>>,
    /// Ends when every clone of `sender` is dropped.
    done: tokio::sync::Mutex<mpsc::Receiver<()>>,
}

/// Held by a session task until it ends.
pub(crate) struct Token {
    _held: mpsc::Sender<()>,
}

impl Sessions {
    pub(crate) fn new() -> Sessions {
        let (sender, done) = mpsc::channel(1);
        Sessions {
            sender: Mutex::new(Some(sender)),
            done: tokio::sync::Mutex::new(done),
        }
    }

    /// A token for a new session task; `None` once shutdown has begun.
    pub(crate) fn token(&self) -> Option<Token> {
        let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        sender.clone().map(|held| Token { _held: held })
    }

    /// Stops handing out tokens and waits until the last task has ended, or `grace`
    /// has passed.
    pub(crate) async fn wait_all(&self, grace: Duration) {
        drop(self.sender.lock().unwrap_or_else(|e| e.into_inner()).take());
        let mut done = self.done.lock().await;
        let _ = tokio::time::timeout(grace, done.recv()).await;
    }
}

/// Resolves once shutdown has been asked for.
pub(crate) async fn shutting_down(receiver: &mut watch::Receiver<bool>) {
    let _ = receiver.wait_for(|s| *s).await;
}

/// Waits for SIGINT or (Unix) SIGTERM; returns its name.
pub(crate) async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => "SIGINT",
                    _ = term.recv() => "SIGTERM",
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
