//! Scratch buffers kept per thread and lent to whichever call the thread serves.
//!
//! A server visits each call's state once per 20 ms frame, by which time other calls have
//! pushed it out of the cache. A frame's decoding buffers (its base64 payload as bytes,
//! then as samples) are written and read once and never needed again, so holding them
//! per call would make every frame pay for a kilobyte or two of cold memory. A thread's
//! buffers stay in its core's cache from one call's frame to the next.

use std::cell::Cell;
use std::thread::LocalKey;

thread_local! {
    static BYTES: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    static SAMPLES: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `use_buffer` with this thread's byte buffer: any length, stale contents.
pub(crate) fn with_bytes<R>(use_buffer: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    lend(&BYTES, use_buffer)
}

/// Runs `use_buffer` with this thread's sample buffer: any length, stale contents.
pub(crate) fn with_samples<R>(use_buffer: impl FnOnce(&mut Vec<f32>) -> R) -> R {
    lend(&SAMPLES, use_buffer)
}

/// Takes the buffer out for `use_buffer` and puts it back after, so a nested call (none
/// today) would get an empty buffer of its own rather than a borrow error.
fn lend<T: Default, R>(key: &'static LocalKey<Cell<T>>, use_buffer: impl FnOnce(&mut T) -> R) -> R {
    let mut buffer = key.take();
    let result = use_buffer(&mut buffer);
    key.set(buffer);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_is_kept_for_the_next_use_on_the_thread() {
        with_bytes(|bytes| bytes.extend_from_slice(b"frame"));
        with_bytes(|bytes| assert_eq!(bytes, b"frame"));
        with_samples(|outer| {
            outer.push(1.0);
            with_samples(|inner| assert!(inner.is_empty(), "a nested use gets its own"));
        });
        with_samples(|samples| assert_eq!(samples, &[1.0]));
        std::thread::spawn(|| with_bytes(|bytes| assert!(bytes.is_empty(), "per thread")))
            .join()
            .unwrap();
    }
}
