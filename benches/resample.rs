//! Throughput of `resample::Resampler` on the paths a call takes: 16/24/48 kHz streams down
//! to the detector's 8 kHz (`detection/*`: the detection filter, our polyphase decimator;
//! `resample/*`: the wideband filter through rubato), and 8 kHz prompts up to a 16 kHz
//! stream. Each iteration converts one second of audio handed over in 20 ms frames, as a
//! live stream arrives; throughput is in input samples.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tonegate::SampleRate;
use tonegate::resample::{Filter, Resampler};

fn convert_one_second(c: &mut Criterion) {
    let wideband = [
        (SampleRate::HZ_16000, SampleRate::HZ_8000),
        (SampleRate::HZ_24000, SampleRate::HZ_8000),
        (SampleRate::HZ_48000, SampleRate::HZ_8000),
        (SampleRate::HZ_8000, SampleRate::HZ_16000),
    ];
    bench_paths(c, "resample", Filter::Wideband, &wideband);
    bench_paths(c, "detection", Filter::Detection, &wideband[..3]);
}

fn bench_paths(c: &mut Criterion, name: &str, filter: Filter, paths: &[(SampleRate, SampleRate)]) {
    let mut group = c.benchmark_group(name);
    for &(from, to) in paths {
        let len = from.hz() as usize;
        // A 1 kHz tone over quiet noise-like content, so no value is special.
        let input: Vec<f32> = (0..len)
            .map(|n| {
                let t = n as f32 / from.hz() as f32;
                0.5 * (std::f32::consts::TAU * 1_000.0 * t).sin()
                    + 0.01 * ((n * 7_919) % 97) as f32 / 97.0
            })
            .collect();
        let frame = from.ms_to_samples(20.0);
        let mut resampler = Resampler::with_filter(from, to, filter).expect("supported rates");
        let mut out = vec![0.0f32; resampler.max_output_len(frame)];
        group.throughput(Throughput::Elements(len as u64));
        group.bench_function(
            format!("{}k_to_{}k", from.hz() / 1000, to.hz() / 1000),
            |b| {
                b.iter(|| {
                    let mut made = 0;
                    for chunk in black_box(&input).chunks(frame) {
                        made += resampler.process(chunk, &mut out);
                        black_box(&out);
                    }
                    made
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, convert_one_second);
criterion_main!(benches);
