//! Asking the CPU to bring a call's state into the cache ahead of use.
//!
//! A server visits each call's state once per 20 ms frame, by which time other calls have
//! pushed it out of the cache; read in the order the code needs it, each cache line then
//! costs a full trip to memory, one after the other. Asked for all at once when the
//! frame arrives, the lines load together while the frame's text is parsed.

/// Bytes per cache line on the CPUs we run on.
const LINE: usize = 64;

/// Starts loading every cache line of `value` (no effect where prefetching is not
/// available). Reads nothing, so it cannot fault or change a result.
#[inline]
pub fn prefetch<T: ?Sized>(value: &T) {
    let start = std::ptr::from_ref(value).cast::<u8>();
    for offset in (0..size_of_val(value)).step_by(LINE) {
        prefetch_line(start.wrapping_add(offset));
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // See SAFETY below.
#[inline]
fn prefetch_line(line: *const u8) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    // SAFETY: a prefetch is a hint: it never faults, whatever the address, and reads
    // nothing the program sees. SSE, which it needs, is part of x86_64.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(line.cast()) }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn prefetch_line(_line: *const u8) {}
