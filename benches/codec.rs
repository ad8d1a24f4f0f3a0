//! G.711 throughput: one second of 8 kHz audio per iteration, reported in samples per second.
//!
//! `ulaw` and `alaw` time the hot-path entry points (`Encoding::decode` to f32 and
//! `Encoding::encode` from f32); `ulaw_i16` and `alaw_i16` time the scalar coders alone.

use std::f32::consts::TAU;
use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use tonegate::codec::{Encoding, g711, pcm};

/// One second at 8 kHz.
const SAMPLES: usize = 8_000;

/// DTMF digit 5 (770 Hz + 1336 Hz) peaking at -6 dBFS, so codes span many segments.
fn signal() -> Vec<f32> {
    (0..SAMPLES)
        .map(|n| {
            let t = n as f32 / 8_000.0;
            0.25 * ((TAU * 770.0 * t).sin() + (TAU * 1336.0 * t).sin())
        })
        .collect()
}

/// Times `encoding.decode` and the scalar decoder `to_linear` over `codes`.
fn bench_decode(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    encoding: Encoding,
    to_linear: impl Fn(u8) -> i16,
    codes: &[u8],
) {
    let mut out = vec![0.0f32; codes.len()];
    group.bench_function(name, |b| {
        b.iter(|| encoding.decode(black_box(codes), black_box(&mut out)))
    });
    let mut linear = vec![0i16; codes.len()];
    group.bench_function(format!("{name}_i16"), |b| {
        b.iter(|| {
            for (l, &code) in linear.iter_mut().zip(black_box(codes)) {
                *l = to_linear(code);
            }
            black_box(&mut linear);
        })
    });
}

/// Times `encoding.encode` over `samples` and the scalar encoder `to_code` over the same
/// samples as i16.
fn bench_encode(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    encoding: Encoding,
    to_code: impl Fn(i16) -> u8,
    samples: &[f32],
) {
    let mut codes = vec![0u8; samples.len()];
    group.bench_function(name, |b| {
        b.iter(|| encoding.encode(black_box(samples), black_box(&mut codes)))
    });
    let linear: Vec<i16> = samples.iter().map(|&x| pcm::f32_to_i16(x)).collect();
    group.bench_function(format!("{name}_i16"), |b| {
        b.iter(|| {
            for (code, &x) in codes.iter_mut().zip(black_box(&linear)) {
                *code = to_code(x);
            }
            black_box(&mut codes);
        })
    });
}

fn decode(c: &mut Criterion) {
    let samples = signal();
    let mut ulaw = vec![0; SAMPLES];
    Encoding::Ulaw.encode(&samples, &mut ulaw).unwrap();
    let mut alaw = vec![0; SAMPLES];
    Encoding::Alaw.encode(&samples, &mut alaw).unwrap();

    let mut group = c.benchmark_group("g711_decode");
    group.throughput(Throughput::Elements(SAMPLES as u64));
    bench_decode(
        &mut group,
        "ulaw",
        Encoding::Ulaw,
        g711::ulaw_to_linear,
        &ulaw,
    );
    bench_decode(
        &mut group,
        "alaw",
        Encoding::Alaw,
        g711::alaw_to_linear,
        &alaw,
    );
    group.finish();
}

fn encode(c: &mut Criterion) {
    let samples = signal();
    let mut group = c.benchmark_group("g711_encode");
    group.throughput(Throughput::Elements(SAMPLES as u64));
    bench_encode(
        &mut group,
        "ulaw",
        Encoding::Ulaw,
        g711::linear_to_ulaw,
        &samples,
    );
    bench_encode(
        &mut group,
        "alaw",
        Encoding::Alaw,
        g711::linear_to_alaw,
        &samples,
    );
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
