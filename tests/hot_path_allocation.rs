//! The hot paths do not allocate: tone generation, WAV reading (linear PCM and G.711;
//! its allocations also do not grow with sizes a header claims), resampling, and the DTMF
//! receiver at every input rate.

// A counting global allocator needs unsafe: it wraps `System` one call at a time.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;
use std::time::Duration;

use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::dsp::Digit;
use tonegate::dsp::tone::{Cadence, DigitSender, Oscillator, Tone};
use tonegate::media::wav::{self, WavReader};

/// Counts this thread's allocations and allocated bytes.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static BYTES: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        BYTES.with(|n| n.set(n.get() + layout.size()));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        BYTES.with(|n| n.set(n.get() + new_size));
        // SAFETY: `ptr` came from this allocator with this layout; forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns the number of allocations and bytes it made on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let (count, bytes) = (ALLOCATIONS.with(Cell::get), BYTES.with(Cell::get));
    let result = f();
    (
        result,
        ALLOCATIONS.with(Cell::get) - count,
        BYTES.with(Cell::get) - bytes,
    )
}

#[test]
fn generating_tones_and_digits_does_not_allocate() {
    let rate = SampleRate::HZ_16000;
    let digits: Vec<Digit> = "0123456789*#"
        .chars()
        .map(|c| Digit::from_char(c).unwrap())
        .collect();
    let cadence = Cadence {
        on: Duration::from_millis(50),
        off: Duration::from_millis(30),
        level_dbm0: -6.0,
    };
    let mut sender = DigitSender::new(&digits, cadence, rate).unwrap();
    let mut oscillator = Oscillator::new(&Tone::single(1_004.0, -10.0), rate).unwrap();
    let mut frame = [0.0f32; 320];
    let ((), count, _) = allocations(|| {
        while sender.process(&mut frame) > 0 {
            oscillator.process(&mut frame);
        }
    });
    assert!(sender.is_finished());
    assert_eq!(count, 0);
}

#[test]
fn reading_frames_does_not_allocate() {
    let signal: Vec<f32> = (0..16_000)
        .map(|i| ((i % 200) as f32 - 100.0) / 128.0)
        .collect();
    for encoding in Encoding::ALL {
        let mut bytes = Vec::new();
        wav::write_wav(&mut bytes, 8_000, 2, encoding, &signal).unwrap();

        let mut reader = WavReader::new(Cursor::new(&bytes)).unwrap();
        let mut buf = [0.0f32; 2 * 160];
        let (frames, count, _) = allocations(|| {
            let mut frames = 0;
            while let Ok(n @ 1..) = reader.read_frames(&mut buf) {
                frames += n;
            }
            frames
        });
        assert_eq!(frames, 8_000, "{encoding}");
        assert_eq!(count, 0, "{encoding}");

        // Cut mid-file: the truncation error is built without allocating either.
        let mut reader = WavReader::new(Cursor::new(&bytes[..1_001])).unwrap();
        let (result, count, _) = allocations(|| {
            while let Ok(1..) = reader.read_frames(&mut buf) {}
            reader.read_frames(&mut buf)
        });
        assert_eq!(result.unwrap(), 0, "{encoding}");
        assert_eq!(count, 0, "{encoding}");
    }
}

#[test]
fn opening_allocates_the_same_whatever_sizes_the_header_claims() {
    /// A file in the format of the 16-byte `fmt` body whose data chunk, after an unknown
    /// chunk of `junk_len` bytes announcing `junk_claim`, announces `data_claim` bytes but
    /// holds 4.
    fn file(fmt: &[u8; 16], junk_claim: u32, junk_len: usize, data_claim: u32) -> Vec<u8> {
        let mut bytes = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0".to_vec();
        bytes.extend_from_slice(fmt);
        bytes.extend_from_slice(b"junk");
        bytes.extend_from_slice(&junk_claim.to_le_bytes());
        bytes.resize(bytes.len() + junk_len, 0x55);
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&data_claim.to_le_bytes());
        bytes.extend_from_slice(&[0, 64, 0, 192]);
        bytes
    }

    // 16-bit PCM, and mu-law; mono at 8 kHz.
    let pcm = b"\x01\0\x01\0\x40\x1f\0\0\x80\x3e\0\0\x02\0\x10\0";
    let mulaw = b"\x07\0\x01\0\x40\x1f\0\0\x40\x1f\0\0\x01\0\x08\0";
    for (fmt, frames) in [(pcm, 2), (mulaw, 4)] {
        let small = file(fmt, 4, 4, 4);
        let (reader, _, baseline) = allocations(|| WavReader::new(Cursor::new(&small)));
        assert_eq!(reader.unwrap().len_frames(), frames);
        assert!(baseline <= 16 * 1024, "{baseline} bytes");

        for bytes in [
            file(fmt, 4, 4, u32::MAX),
            file(fmt, 1 << 20, 1 << 20, u32::MAX - 1),
        ] {
            let (reader, _, allocated) = allocations(|| WavReader::new(Cursor::new(&bytes)));
            assert!(reader.unwrap().len_frames() > 1 << 30);
            assert_eq!(allocated, baseline);
        }
        // An unknown chunk claiming 4 GiB in a small file.
        let bytes = file(fmt, u32::MAX, 16, 4);
        let (reader, _, allocated) = allocations(|| WavReader::new(Cursor::new(&bytes)));
        assert!(matches!(reader, Err(wav::Error::CorruptHeader(_))));
        assert!(allocated <= baseline);
    }
}

#[test]
fn receiving_digits_does_not_allocate_at_any_rate() {
    use tonegate::dsp::dtmf::{Config, Event};
    use tonegate::dsp::tone::render_digits;
    use tonegate::receiver::Receiver;

    for hz in [8_000, 16_000, 24_000, 44_100, 48_000] {
        let rate = SampleRate::new(hz).unwrap();
        let digits: Vec<Digit> = "159#"
            .chars()
            .map(|c| Digit::from_char(c).unwrap())
            .collect();
        let signal = render_digits(&digits, Cadence::default(), rate).unwrap();
        let mut receiver = Receiver::new(rate, Config::default()).unwrap();
        let mut pressed = [None; 8];
        let mut count = 0;
        let mut on_event = |event: Event| {
            if let Event::Pressed(keypress) = event {
                pressed[count] = Some(keypress.digit);
                count += 1;
            }
        };
        let ((), allocations, _) = allocations(|| {
            for chunk in signal.chunks(160) {
                receiver.process(chunk, &mut on_event);
            }
            receiver.flush(&mut on_event);
        });
        assert_eq!(allocations, 0, "{hz} Hz");
        assert_eq!(count, 4, "{hz} Hz: the receiver must still work");
    }
}

#[test]
fn resampling_does_not_allocate() {
    use tonegate::resample::Resampler;

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
        let ((), count, _) = allocations(|| {
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
