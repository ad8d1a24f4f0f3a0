//! Tests of the resampler: chunking invariance, filter response, positions, latency.

use super::*;
use std::f64::consts::PI;

fn rate(hz: u32) -> SampleRate {
    SampleRate::new(hz).unwrap()
}

fn resampler(from: u32, to: u32) -> Resampler {
    Resampler::new(rate(from), rate(to)).unwrap()
}

/// xorshift64*: small deterministic PRNG for test signals and chunk sizes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }

    fn signal(&mut self, len: usize) -> Vec<f32> {
        (0..len)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
            .collect()
    }
}

fn sine(fs: u32, freq: f64, amp: f64, len: usize) -> Vec<f32> {
    (0..len)
        .map(|n| (amp * (2.0 * PI * freq * n as f64 / f64::from(fs)).sin()) as f32)
        .collect()
}

/// Converts `input` given as the listed chunks, then flushes.
fn convert_in_chunks(r: &mut Resampler, input: &[f32], sizes: &[usize]) -> Vec<f32> {
    let mut result = Vec::new();
    let mut rest = input;
    for &size in sizes {
        let (now, later) = rest.split_at(size.min(rest.len()));
        let mut out = vec![0.0; r.max_output_len(now.len())];
        let n = r.process(now, &mut out);
        result.extend_from_slice(&out[..n]);
        rest = later;
    }
    assert!(rest.is_empty());
    let mut out = vec![0.0; r.max_flush_len()];
    let n = r.flush(&mut out);
    result.extend_from_slice(&out[..n]);
    result
}

fn convert(r: &mut Resampler, input: &[f32]) -> Vec<f32> {
    convert_in_chunks(r, input, &[input.len()])
}

/// Amplitude and phase (radians, of a sine) of the `freq` component of `y` sampled at
/// `fs`; `y` must hold a whole number of cycles.
fn tone(y: &[f32], fs: f64, freq: f64, first_index: usize) -> (f64, f64) {
    let (mut s, mut c) = (0.0, 0.0);
    for (k, &v) in y.iter().enumerate() {
        let theta = 2.0 * PI * freq * (first_index + k) as f64 / fs;
        s += f64::from(v) * theta.sin();
        c += f64::from(v) * theta.cos();
    }
    let n = y.len() as f64;
    ((s * s + c * c).sqrt() * 2.0 / n, c.atan2(s))
}

fn rms(y: &[f32]) -> f64 {
    (y.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / y.len() as f64).sqrt()
}

fn db(ratio: f64) -> f64 {
    20.0 * ratio.log10()
}

const PATHS: [(u32, u32); 9] = [
    (16_000, 8_000),
    (24_000, 8_000),
    (48_000, 8_000),
    (44_100, 8_000),
    (11_025, 8_000),
    (8_000, 16_000),
    (8_000, 24_000),
    (8_000, 44_100),
    (44_100, 16_000),
];

#[test]
fn any_chunking_gives_identical_output() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for (from, to) in PATHS.into_iter().chain([(44_101, 8_000), (8_000, 8_000)]) {
        let input = rng.signal(from as usize / 2 + 37);
        let whole = convert(&mut resampler(from, to), &input);
        for _ in 0..4 {
            let mut sizes = Vec::new();
            let mut left = input.len();
            while left > 0 {
                let size = match rng.below(4) {
                    0 => 0,
                    1 => rng.below(4),
                    2 => rng.below(100),
                    _ => rng.below(1_500),
                }
                .min(left);
                sizes.push(size);
                left -= size;
            }
            let split = convert_in_chunks(&mut resampler(from, to), &input, &sizes);
            assert!(
                whole
                    .iter()
                    .map(|v| v.to_bits())
                    .eq(split.iter().map(|v| v.to_bits())),
                "{from} -> {to}: chunked output differs ({} vs {} samples)",
                whole.len(),
                split.len()
            );
        }
    }
}

#[test]
fn passband_is_flat_to_3400_hz() {
    for (from, to) in PATHS {
        for freq in [300.0, 1_000.0, 2_000.0, 3_300.0, 3_400.0] {
            let mut r = resampler(from, to);
            let out = convert(&mut r, &sine(from, freq, 0.5, from as usize));
            // Half a second in the middle: whole cycles, far from both ends.
            let (start, len) = (to as usize / 4, to as usize / 2);
            let (amp, _) = tone(&out[start..start + len], f64::from(to), freq, start);
            let gain = db(amp / 0.5);
            assert!(
                gain.abs() <= 0.1,
                "{from} -> {to} at {freq} Hz: {gain:.3} dB"
            );
        }
    }
}

#[test]
fn detection_filter_is_flat_over_the_keypad_and_rejects_aliases_below_3300_hz() {
    for from in [16_000, 24_000, 48_000, 44_100, 11_025] {
        let rate = |hz| SampleRate::new(hz).unwrap();
        let detection =
            || Resampler::with_filter(rate(from), rate(8_000), Filter::Detection).unwrap();
        for freq in [650.0, 1_000.0, 1_700.0, 1_950.0] {
            let out = convert(&mut detection(), &sine(from, freq, 0.5, from as usize));
            let (start, len) = (2_000, 4_000);
            let (amp, _) = tone(&out[start..start + len], 8_000.0, freq, start);
            let gain = db(amp / 0.5);
            assert!(gain.abs() <= 0.1, "{from} at {freq} Hz: {gain:.3} dB");
        }
        let mut freq = 4_700.0;
        while freq < f64::from(from) / 2.0 {
            let input = sine(from, freq, 0.5, from as usize / 5);
            let out = convert(&mut detection(), &input);
            let level = db(rms(&out[300..out.len() - 300]) / rms(&input));
            assert!(level <= -60.0, "{from} at {freq} Hz: {level:.1} dB");
            freq += if from <= 16_000 { 100.0 } else { 300.0 };
        }
        // Half the wideband filter's delay, and no wait for a chunk to fill.
        let r = detection();
        let limit = from as usize * 23 / 10_000 + 1; // 2.3 ms, against 4.1 ms for wideband
        assert!(
            r.latency_input_samples() <= limit,
            "{from}: {}",
            r.latency_input_samples()
        );
    }
}

#[test]
fn decimation_rejects_everything_that_would_alias_below_3400_hz() {
    for from in [16_000, 24_000, 48_000, 44_100, 11_025] {
        let mut freq = 4_600.0;
        while freq < f64::from(from) / 2.0 {
            let mut r = resampler(from, 8_000);
            let input = sine(from, freq, 0.5, from as usize / 5);
            let out = convert(&mut r, &input);
            // Skip the start and end transients (the filter is at most 24 ms long here).
            let level = db(rms(&out[300..out.len() - 300]) / rms(&input));
            assert!(level <= -60.0, "{from} -> 8000 at {freq} Hz: {level:.1} dB");
            freq += if from <= 16_000 { 100.0 } else { 300.0 };
        }
    }
}

#[test]
fn sixteen_k_five_k_tone_is_60_db_down() {
    let mut r = resampler(16_000, 8_000);
    let input = sine(16_000, 5_000.0, 0.5, 16_000);
    let out = convert(&mut r, &input);
    let level = db(rms(&out[400..out.len() - 400]) / rms(&input));
    assert!(level <= -60.0, "{level:.1} dB");
}

#[test]
fn interpolation_rejects_images() {
    for (from, to) in [
        (8_000, 16_000),
        (8_000, 24_000),
        (8_000, 44_100),
        (16_000, 48_000),
    ] {
        let mut freq = 200.0;
        while freq <= 3_400.0 * f64::from(from) / 8_000.0 {
            let mut r = resampler(from, to);
            let out = convert(&mut r, &sine(from, freq, 0.5, from as usize));
            let (start, len) = (to as usize / 4, to as usize / 2);
            let window = &out[start..start + len];
            let (amp, phase) = tone(window, f64::from(to), freq, start);
            // Everything but the tone itself is an image (or noise).
            let residual: Vec<f32> = window
                .iter()
                .enumerate()
                .map(|(k, &v)| {
                    let theta = 2.0 * PI * freq * (start + k) as f64 / f64::from(to);
                    v - (amp * (theta + phase).sin()) as f32
                })
                .collect();
            let level = db(rms(&residual) / (amp / 2f64.sqrt()));
            assert!(
                level <= -60.0,
                "{from} -> {to} at {freq} Hz: images at {level:.1} dB"
            );
            freq += 200.0;
        }
    }
}

/// Measures timing with a steady tone: after mapping each output sample to its input
/// position, the tone's phase must match the input's. A timing error of e input samples
/// shows as a phase error of 2 pi f e / fs.
#[test]
fn positions_match_input_time_to_a_hundredth_of_a_sample() {
    for (from, to) in PATHS {
        for freq in [1_000.0, 3_000.0] {
            let mut r = resampler(from, to);
            let out = convert(&mut r, &sine(from, freq, 0.5, from as usize));
            let (start, len) = (to as usize / 4, to as usize / 2);
            let (mut s, mut c) = (0.0, 0.0);
            for (i, &v) in out.iter().enumerate().skip(start).take(len) {
                let t = r.output_to_input_position(i as f64);
                let theta = 2.0 * PI * freq * t / f64::from(from);
                s += f64::from(v) * theta.sin();
                c += f64::from(v) * theta.cos();
            }
            let error = c.atan2(s) / (2.0 * PI * freq) * f64::from(from);
            assert!(
                error.abs() < 0.01,
                "{from} -> {to} at {freq} Hz: timing off by {error:.4} input samples"
            );
        }
    }
}

/// An impulse comes out as the (symmetric) filter response centred on the impulse; the
/// centroid of the output, mapped back, finds the impulse.
#[test]
fn impulse_maps_back_to_its_input_position() {
    for (from, to) in PATHS {
        for at in [1_000, 1_001, 1_002, 1_003, 1_010, 1_111] {
            let mut input = vec![0.0f32; 3_000];
            input[at] = 1.0;
            let mut r = resampler(from, to);
            let out = convert(&mut r, &input);
            let (mut weight, mut moment) = (0.0, 0.0);
            for (i, &v) in out.iter().enumerate() {
                weight += f64::from(v);
                moment += f64::from(v) * r.output_to_input_position(i as f64);
            }
            let found = moment / weight;
            assert!(
                (found - at as f64).abs() < 0.02,
                "{from} -> {to}: impulse at {at} found at {found:.4}"
            );
        }
    }
}

/// A tone burst that starts at input sample `onset` (zero before it) has a step envelope
/// whose band-limited edge lies half-way between samples `onset - 1` and `onset`. The
/// burst is converted twice, in cosine and in sine phase, which together form a complex
/// tone; demodulating that at the tone frequency, with each output sample's mapped input
/// position, leaves the envelope convolved with the filter. Its real part is the step
/// response of the symmetric filter weighted by the even `cos`, so it crosses half its
/// final level exactly at the edge.
///
/// Tolerance: the output samples that step only once per output period (`from / to`
/// input samples: 6 at 48 kHz to 8 kHz, where the whole rise spans about two periods), and
/// interpolating between them is good to about 5 % of a period. So the test allows a
/// tenth of an output period (0.2 to 0.6 input samples when decimating, within the 1-sample
/// goal); a delay off by one output sample would miss by ten times that. The steady-tone
/// phase test above checks positions more finely.
#[test]
fn tone_burst_onset_maps_back_to_the_input_onset() {
    let freq = 1_000.0;
    for (from, to) in PATHS {
        for onset in [2_000usize, 2_001, 2_003] {
            let omega = 2.0 * PI * freq / f64::from(from);
            let burst = |phase: f64| -> Vec<f32> {
                (0..4_000)
                    .map(|n: usize| match n.checked_sub(onset) {
                        Some(k) => (0.5 * (omega * k as f64 + phase).cos()) as f32,
                        None => 0.0,
                    })
                    .collect()
            };
            let mut r = resampler(from, to);
            let cos_out = convert(&mut r, &burst(0.0));
            let sin_out = convert(&mut r, &burst(-PI / 2.0));
            let envelope: Vec<(f64, f64)> = (0..cos_out.len())
                .map(|i| {
                    let t = r.output_to_input_position(i as f64);
                    let theta = omega * (t - onset as f64);
                    let level =
                        f64::from(cos_out[i]) * theta.cos() + f64::from(sin_out[i]) * theta.sin();
                    (t, level)
                })
                .collect();
            let settled = &envelope[envelope.len() / 2..envelope.len() * 3 / 4];
            let half =
                settled.iter().map(|&(_, level)| level).sum::<f64>() / settled.len() as f64 / 2.0;
            // The crossing lies between points k - 1 and k; interpolate with the cubic
            // through the four points around it (Lagrange), solved by bisection.
            let k = envelope
                .iter()
                .position(|&(_, level)| level >= half)
                .unwrap();
            let points = &envelope[k - 2..k + 2];
            let cubic = |t: f64| -> f64 {
                points
                    .iter()
                    .enumerate()
                    .map(|(a, &(ta, ea))| {
                        let basis: f64 = points
                            .iter()
                            .enumerate()
                            .filter(|&(b, _)| b != a)
                            .map(|(_, &(tb, _))| (t - tb) / (ta - tb))
                            .product();
                        ea * basis
                    })
                    .sum()
            };
            let (mut lo, mut hi) = (points[1].0, points[2].0);
            for _ in 0..60 {
                let mid = 0.5 * (lo + hi);
                if cubic(mid) < half {
                    lo = mid
                } else {
                    hi = mid
                }
            }
            let found = 0.5 * (lo + hi);
            let edge = onset as f64 - 0.5;
            let tolerance = 0.1 * f64::from(from) / f64::from(to);
            assert!(
                (found - edge).abs() < tolerance,
                "{from} -> {to}: edge at {edge} found at {found:.3}"
            );
        }
    }
}

#[test]
fn identity_is_an_exact_copy_with_no_delay() {
    let mut r = resampler(8_000, 8_000);
    assert_eq!(r.latency_input_samples(), 0);
    assert_eq!(r.output_to_input_position(123.5), 123.5);
    assert_eq!(r.max_flush_len(), 0);
    let input = Rng(7).signal(1_000);
    let mut out = vec![0.0; r.max_output_len(input.len())];
    assert_eq!(r.process(&input, &mut out), input.len());
    assert_eq!(out, input);
    assert_eq!(r.flush(&mut []), 0);
}

#[test]
fn flush_covers_the_whole_input() {
    for (from, to) in PATHS {
        for len in [0, 1, 5, 100, 999, 8_000, 44_100] {
            let mut r = resampler(from, to);
            let out = convert(&mut r, &vec![0.25; len]);
            let expected = len as f64 * f64::from(to) / f64::from(from);
            assert!(
                (out.len() as f64 - expected).abs() <= 1.0,
                "{from} -> {to}, {len} in: {} out, expected {expected:.2}",
                out.len()
            );
            // The last output sample represents a position inside the input, and the
            // next one would not.
            if let Some(last) = out.len().checked_sub(1) {
                assert!(r.output_to_input_position(last as f64) < len as f64);
            }
            assert!(r.output_to_input_position(out.len() as f64) >= len as f64);
        }
    }
}

#[test]
fn flush_resets_for_the_next_stream() {
    let input = Rng(3).signal(5_000);
    let mut r = resampler(24_000, 8_000);
    let first = convert(&mut r, &input);
    let second = convert(&mut r, &input);
    assert_eq!(first, second);
}

#[test]
fn reset_forgets_the_stream() {
    let mut rng = Rng(11);
    let (noise, input) = (rng.signal(777), rng.signal(5_000));
    let mut r = resampler(48_000, 8_000);
    let mut out = vec![0.0; r.max_output_len(noise.len())];
    r.process(&noise, &mut out);
    r.reset();
    assert_eq!(
        convert(&mut r, &input),
        convert(&mut resampler(48_000, 8_000), &input)
    );
}

/// Feeds one sample at a time and measures, for every input sample, how many more input
/// samples arrive before the output sample representing it (the first at or after it)
/// is written.
#[test]
fn latency_is_a_tight_worst_case_bound() {
    for (from, to) in PATHS.into_iter().chain([(44_101, 8_000)]) {
        let mut r = resampler(from, to);
        let len = 3 * from as usize / 10;
        let mut written_after = Vec::new();
        let mut out = vec![0.0; r.max_output_len(1)];
        for n in 0..len {
            let made = r.process(&[0.0], &mut out);
            written_after.extend(std::iter::repeat_n(n, made));
        }
        let mut worst = 0;
        let mut i = 0;
        for n in 0..len {
            while r.output_to_input_position(i as f64) < n as f64 {
                i += 1;
            }
            let Some(&when) = written_after.get(i) else {
                break;
            };
            worst = worst.max(when - n);
        }
        let bound = r.latency_input_samples();
        assert!(
            worst <= bound && worst + 1 >= bound,
            "{from} -> {to}: measured worst {worst}, reported {bound}"
        );
    }
}

#[test]
fn small_output_buffers_are_enough() {
    // Every call sized exactly with max_output_len / max_flush_len (rubato checks its
    // own buffer needs, so an undersized bound would panic there).
    let mut rng = Rng(99);
    for (from, to) in PATHS.into_iter().chain([(44_101, 8_000), (48_000, 47_999)]) {
        let mut r = resampler(from, to);
        for _ in 0..200 {
            let len = rng.below(200);
            let input = rng.signal(len);
            let mut out = vec![0.0; r.max_output_len(input.len())];
            r.process(&input, &mut out);
        }
        let mut out = vec![0.0; r.max_flush_len()];
        r.flush(&mut out);
    }
}

#[test]
#[should_panic(expected = "output buffer too short")]
fn undersized_output_panics_with_a_clear_message() {
    let mut r = resampler(16_000, 8_000);
    r.process(&[0.0; 320], &mut [0.0; 10]);
}

#[test]
fn reports_its_rates_and_delays() {
    let r = resampler(16_000, 8_000);
    assert_eq!(r.from_rate(), SampleRate::HZ_16000);
    assert_eq!(r.to_rate(), SampleRate::HZ_8000);
    assert_eq!(r.chunk_len(), 32);
    for (from, to) in [
        (16_000, 8_000),
        (24_000, 8_000),
        (48_000, 8_000),
        (8_000, 16_000),
    ] {
        let r = resampler(from, to);
        let ms = |samples: usize| samples as f64 * 1000.0 / f64::from(from);
        let worst = r.latency_input_samples();
        let aligned = worst - (r.chunk_len() - 1);
        eprintln!(
            "{from} -> {to}: chunk {}, worst-case latency {worst} ({:.2} ms), \
             frame-aligned lag {aligned} ({:.2} ms), output 0 at input {:.3}",
            r.chunk_len(),
            ms(worst),
            ms(aligned),
            r.output_to_input_position(0.0)
        );
        // 2 ms of group delay plus at most one 2 ms chunk and a couple of samples.
        assert!(ms(worst) <= 4.2, "{from} -> {to}: {:.2} ms", ms(worst));
        assert!(ms(aligned) <= 2.2, "{from} -> {to}: {:.2} ms", ms(aligned));
    }
}

/// Fed whole 20 ms frames, the output after every call reaches to within the aligned lag
/// of the newest input sample.
#[test]
fn frame_aligned_input_lags_by_the_group_delay_only() {
    for (from, to) in [
        (16_000, 8_000),
        (24_000, 8_000),
        (48_000, 8_000),
        (8_000, 16_000),
    ] {
        let mut r = resampler(from, to);
        let frame = from as usize / 50;
        assert_eq!(frame % r.chunk_len(), 0);
        let lag_bound = (r.latency_input_samples() - (r.chunk_len() - 1)) as f64;
        let mut out = vec![0.0; r.max_output_len(frame)];
        let mut produced = 0;
        let mut worst: f64 = 0.0;
        for k in 1..=50 {
            produced += r.process(&vec![0.1; frame], &mut out);
            let newest = (k * frame - 1) as f64;
            let lag = newest - r.output_to_input_position((produced - 1) as f64);
            worst = worst.max(lag);
        }
        assert!(
            worst <= lag_bound && worst > lag_bound - 2.0 * f64::from(from) / f64::from(to),
            "{from} -> {to}: lag {worst}, bound {lag_bound}"
        );
    }
}

/// The integer ratios the detector's decimator takes (32 and 40 kHz included).
const DECIMATION_RATES: [u32; 5] = [16_000, 24_000, 32_000, 40_000, 48_000];

fn detection(from: u32) -> Resampler {
    Resampler::with_filter(rate(from), rate(8_000), Filter::Detection).unwrap()
}

/// rubato's resampler with the detection filter, as the detection path used before the
/// decimator: the reference it must match.
fn rubato_detection(from: u32) -> Resampler {
    let engine = Engine::new(rate(from), rate(8_000), Filter::Detection).unwrap();
    Resampler {
        from: rate(from),
        to: rate(8_000),
        conversion: Conversion::Rubato(Box::new(engine)),
    }
}

#[test]
fn decimator_matches_rubatos_detection_filter() {
    let mut rng = Rng(0xdec1_0a7e);
    for from in DECIMATION_RATES {
        let input = rng.signal(from as usize / 3 + 11);
        let (mut ours, mut theirs) = (detection(from), rubato_detection(from));
        let (a, b) = (convert(&mut ours, &input), convert(&mut theirs, &input));
        assert_eq!(a.len(), b.len(), "{from}: output length");
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "{from}: differs from rubato by {worst}");
        for i in [0.0, 1.0, 1_000.5] {
            assert_eq!(
                ours.output_to_input_position(i),
                theirs.output_to_input_position(i),
                "{from}: position of output {i}"
            );
        }
        // No chunk latency: at most the filter's half-length plus one output period.
        assert!(ours.latency_input_samples() < theirs.latency_input_samples());
    }
}

#[test]
fn decimator_gives_identical_output_for_any_chunking() {
    let mut rng = Rng(0x5eed_dec1);
    for from in DECIMATION_RATES {
        let input = rng.signal(from as usize / 4 + 5);
        let whole = convert(&mut detection(from), &input);
        let mut r = detection(from);
        for _ in 0..6 {
            let mut sizes = Vec::new();
            let mut left = input.len();
            while left > 0 {
                let size = match rng.below(4) {
                    0 => 0,
                    1 => rng.below(4),
                    2 => rng.below(200),
                    _ => rng.below(3_000),
                }
                .min(left);
                sizes.push(size);
                left -= size;
            }
            // The same resampler each time: flush must have reset it.
            let split = convert_in_chunks(&mut r, &input, &sizes);
            assert!(
                whole
                    .iter()
                    .map(|v| v.to_bits())
                    .eq(split.iter().map(|v| v.to_bits())),
                "{from}: chunked output differs"
            );
        }
        // Exactly the outputs that represent input before its end.
        let end = input.len() as f64;
        assert!(r.output_to_input_position((whole.len() - 1) as f64) < end);
        assert!(r.output_to_input_position(whole.len() as f64) >= end);
    }
}

/// Each output appears at the input position [`Resampler::input_at_output`] says, fed
/// one sample at a time, and the worst wait for the output representing a sample is
/// exactly [`Resampler::latency_input_samples`]: the half-length of the filter, about 1 ms.
#[test]
fn decimator_writes_each_output_as_soon_as_its_input_is_in() {
    for from in DECIMATION_RATES {
        let mut r = detection(from);
        let mut out = vec![0.0; r.max_output_len(1)];
        // written_at[i]: index of the input sample whose arrival wrote output i.
        let mut written_at = Vec::new();
        for n in 0..3_000u64 {
            let made = r.process(&[0.25], &mut out);
            written_at.extend(std::iter::repeat_n(n, made));
            if made > 0 {
                let outputs = written_at.len() as u64;
                assert_eq!(r.input_at_output(outputs), Some(n + 1), "{from}");
            }
        }
        let mut worst = 0;
        let mut i = 0;
        for n in 0..2_900u64 {
            while r.output_to_input_position(i as f64) < n as f64 {
                i += 1;
            }
            worst = worst.max(written_at[i] - n);
        }
        assert_eq!(worst as usize, r.latency_input_samples(), "{from}");
        let ms = worst as f64 * 1_000.0 / f64::from(from);
        assert!(ms <= 1.2, "{from}: {ms:.2} ms");
    }
}

#[test]
fn decimator_positions_match_input_time() {
    for from in DECIMATION_RATES {
        let freq = 1_000.0;
        let mut r = detection(from);
        let out = convert(&mut r, &sine(from, freq, 0.5, from as usize));
        let (mut s, mut c) = (0.0, 0.0);
        for (i, &v) in out.iter().enumerate().skip(2_000).take(4_000) {
            let t = r.output_to_input_position(i as f64);
            let theta = 2.0 * PI * freq * t / f64::from(from);
            s += f64::from(v) * theta.sin();
            c += f64::from(v) * theta.cos();
        }
        let error = c.atan2(s) / (2.0 * PI * freq) * f64::from(from);
        assert!(
            error.abs() < 0.01,
            "{from}: timing off by {error:.4} samples"
        );
    }
}
