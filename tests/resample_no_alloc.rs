//! `Resampler::process` and `flush` never allocate: a counting global allocator watches the
//! hot path of every kind of converter (pass-through, exact polyphase, interpolated phases).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tonegate::SampleRate;
use tonegate::resample::Resampler;

struct Counting;

thread_local! {
    // Const-initialised, so reading them never allocates.
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCHING.with(Cell::get) {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if WATCHING.with(Cell::get) {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made on this thread while running `f`.
fn allocations_during(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|n| n.set(0));
    WATCHING.with(|w| w.set(true));
    f();
    WATCHING.with(|w| w.set(false));
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn process_flush_and_reset_do_not_allocate() {
    for (from, to) in [
        (16_000, 8_000),
        (48_000, 8_000),
        (44_100, 8_000),
        (8_000, 24_000),
        (44_101, 8_000),
        (8_000, 8_000),
    ] {
        let mut r =
            Resampler::new(SampleRate::new(from).unwrap(), SampleRate::new(to).unwrap()).unwrap();
        let input: Vec<f32> = (0..from as usize / 10)
            .map(|n| (n % 50) as f32 / 50.0)
            .collect();
        let mut out = vec![0.0f32; r.max_output_len(input.len()).max(r.max_flush_len())];
        let count = allocations_during(|| {
            for frame in input.chunks(from as usize / 50 + 3) {
                r.process(frame, &mut out);
            }
            r.process(&[], &mut out);
            r.flush(&mut out);
            r.process(&input, &mut out);
            r.reset();
            r.process(&input[..7], &mut out);
        });
        assert_eq!(count, 0, "{from} -> {to} allocated {count} times");
    }
}
