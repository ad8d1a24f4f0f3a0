//! `resampler_chunking`: the resampler fed in any chunking.

use tonegate_dsp::SampleRate;
use tonegate_dsp::codec::pcm;
use tonegate_dsp::resample::{Filter, Resampler};

use super::Input;

/// The rates `resampler_chunking` converts between.
const RATES: [u32; 7] = [8_000, 11_025, 16_000, 22_050, 24_000, 44_100, 48_000];

/// Longest input signal a resampler input builds, in input samples.
const MAX_RESAMPLE_INPUT: usize = 4_096;

/// The resampler's output does not depend on chunking: for any pair of rates, either
/// filter, and any input, feeding it whole and in fuzzed chunk sizes (including empty
/// chunks) gives bit-identical output (`process` outputs and the `flush` tail
/// concatenated); no call writes more than `max_output_len` / `max_flush_len`; every
/// output is finite; `flush` leaves exactly the output samples whose position lies before
/// the end of the input; and a resampler that was flushed, or reset mid-stream, gives the
/// same output again. Equal rates copy the input unchanged.
///
/// Input: from-rate and to-rate indices (mod 7, into 8 000, 11 025, 16 000, 22 050,
/// 24 000, 44 100, 48 000), flags (bit 0: the detection filter; bit 1: also check a reset
/// after the first chunk), gain (0 to 2), signal length (u16, mod 4 097), a count byte
/// (mod 16) and that many chunk-size bytes (0 to 199, or 200 + k for k x 173), then
/// little-endian `i16` samples, cycled to the signal length and scaled by the gain.
pub fn resampler_chunking(data: &[u8]) {
    let mut input = Input::new(data);
    let from = rate_at(input.u8());
    let to = rate_at(input.u8());
    let flags = input.u8();
    let filter = if flags & 1 == 0 {
        Filter::Wideband
    } else {
        Filter::Detection
    };
    let gain = input.f32_in(0.0, 2.0);
    let len = usize::from(input.u16()) % (MAX_RESAMPLE_INPUT + 1);
    let chunks = input.chunk_sizes(173, &[1, 96, 0, 441, 7, 160]);
    let raw: Vec<f32> = input
        .bytes(usize::MAX)
        .chunks_exact(2)
        .map(|b| pcm::i16_to_f32(i16::from_le_bytes([b[0], b[1]])) * gain)
        .collect();
    let signal: Vec<f32> = if raw.is_empty() {
        vec![0.0; len]
    } else {
        raw.iter().copied().cycle().take(len).collect()
    };

    let mut resampler = Resampler::with_filter(from, to, filter).expect("supported rates");
    let whole = run_resampler(&mut resampler, &signal, &[]);
    if from == to {
        let bits: Vec<u32> = signal.iter().map(|s| s.to_bits()).collect();
        assert_eq!(
            whole, bits,
            "resampler_chunking: {from} pass-through changes samples"
        );
    }

    // Exactly the output samples that represent input before the end of the input.
    let end = signal.len() as f64;
    let position = |i: usize| resampler.output_to_input_position(i as f64);
    if let Some(last) = whole.len().checked_sub(1) {
        assert!(
            position(last) < end + 1e-6,
            "resampler_chunking: {from} -> {to}: output {last} at input {} is past the end {end}",
            position(last)
        );
    }
    assert!(
        position(whole.len()) >= end - 1e-6,
        "resampler_chunking: {from} -> {to}: {} outputs stop short of input {end} (next at {})",
        whole.len(),
        position(whole.len())
    );

    // Chunked, on the same resampler: `flush` must have reset it (construction is the
    // expensive part of a run, so the fresh start is not rebuilt).
    let chunked = run_resampler(&mut resampler, &signal, &chunks);
    assert_eq!(
        whole.len(),
        chunked.len(),
        "resampler_chunking: {from} -> {to}: chunks {chunks:?} change the output length"
    );
    if let Some(i) = whole.iter().zip(&chunked).position(|(a, b)| a != b) {
        panic!(
            "resampler_chunking: {from} -> {to} ({filter:?}): chunks {chunks:?} change output {i}: {} vs {}",
            f32::from_bits(whole[i]),
            f32::from_bits(chunked[i])
        );
    }

    // Reset mid-stream starts over too.
    if flags & 2 != 0 {
        let prefix = &signal[..chunks[0].min(signal.len())];
        let mut scratch = vec![0.0; resampler.max_output_len(prefix.len())];
        resampler.process(prefix, &mut scratch);
        resampler.reset();
        let after_reset = run_resampler(&mut resampler, &signal, &[]);
        assert_eq!(
            whole, after_reset,
            "resampler_chunking: {from} -> {to}: output differs after reset"
        );
    }
}

fn rate_at(index: u8) -> SampleRate {
    SampleRate::new(RATES[usize::from(index) % RATES.len()]).expect("supported rate")
}

/// Feeds `signal` in `chunks` (cycled; whole when empty), then flushes; returns the
/// output as bits. Every call gets an output buffer of exactly the documented bound.
fn run_resampler(resampler: &mut Resampler, signal: &[f32], chunks: &[usize]) -> Vec<u32> {
    let mut output = Vec::new();
    let mut out = Vec::new();
    let mut feed = |resampler: &mut Resampler, chunk: &[f32]| {
        let bound = resampler.max_output_len(chunk.len());
        out.clear();
        out.resize(bound, f32::NAN);
        let written = resampler.process(chunk, &mut out);
        assert!(
            written <= bound,
            "resampler_chunking: process wrote {written} > max_output_len {bound}"
        );
        output.extend(out[..written].iter().map(|s| s.to_bits()));
    };
    if chunks.is_empty() {
        feed(resampler, signal);
    } else {
        let mut rest = signal;
        for &size in chunks.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (head, tail) = rest.split_at(size.min(rest.len()));
            feed(resampler, head);
            rest = tail;
        }
    }
    let bound = resampler.max_flush_len();
    let mut tail = vec![f32::NAN; bound];
    let written = resampler.flush(&mut tail);
    assert!(
        written <= bound,
        "resampler_chunking: flush wrote {written} > max_flush_len {bound}"
    );
    output.extend(tail[..written].iter().map(|s| s.to_bits()));
    for &bits in &output {
        let sample = f32::from_bits(bits);
        assert!(sample.is_finite(), "resampler_chunking: output {sample}");
    }
    output
}
