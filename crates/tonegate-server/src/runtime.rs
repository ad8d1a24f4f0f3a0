//! The tokio runtime a serving process runs on.
//!
//! Under load most of a server's cost beyond the work itself is waking up: a worker with
//! nothing to do sleeps in `epoll`, the next frame (one per call every 20 ms) wakes it,
//! it handles that frame and perhaps a few more, and sleeps again; each round trip is a
//! context switch, an `epoll_wait` and often a futex wake of the other workers. A worker
//! that first lingers for [`Config::wake_coalesce_us`] before it sleeps finds every
//! socket that became ready meanwhile waiting when it polls, and serves them in one
//! round: as a network card coalesces interrupts, it trades a bounded delay (at most the
//! linger, for what arrives while every worker lingers) for far fewer wake-ups. The
//! linger is a sleep, not a spin: it uses no CPU.

use std::time::Duration;

use super::Config;

/// Longest linger [`Config::wake_coalesce_us`] may set (checked when the server binds):
/// one 20 ms frame.
pub(crate) const MAX_WAKE_COALESCE: Duration = Duration::from_millis(20);

/// A multi-threaded runtime, one worker per available core, whose idle workers linger
/// for `config.wake_coalesce_us` before they sleep (none at 0).
pub fn runtime(config: &Config) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    let linger = Duration::from_micros(config.wake_coalesce_us);
    if !linger.is_zero() {
        builder.on_thread_park(move || std::thread::sleep(linger));
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Sockets, timers and tasks from other threads all reach a runtime whose workers
    /// linger: each kind of wake-up gets its task served.
    #[test]
    fn a_lingering_runtime_serves_io_timers_and_remote_wakes() {
        let config = Config {
            wake_coalesce_us: 2_000,
            ..Config::default()
        };
        let runtime = runtime(&config).unwrap();
        let echoed = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let server = tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buffer = [0u8; 5];
                socket.read_exact(&mut buffer).await.unwrap();
                socket.write_all(&buffer).await.unwrap();
            });
            // A timer, long enough for the idle workers to linger and go to sleep.
            tokio::time::sleep(Duration::from_millis(5)).await;
            let mut client = tokio::net::TcpStream::connect(address).await.unwrap();
            client.write_all(b"hello").await.unwrap();
            let mut echoed = [0u8; 5];
            client.read_exact(&mut echoed).await.unwrap();
            server.await.unwrap();
            echoed
        });
        assert_eq!(&echoed, b"hello");
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let remote = std::thread::spawn(move || sender.send(7).unwrap());
        assert_eq!(runtime.block_on(async { receiver.await.unwrap() }), 7);
        remote.join().unwrap();
    }
}
