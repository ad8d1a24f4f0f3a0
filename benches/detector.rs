//! Detector throughput: the Goertzel block, the 8 kHz detector, and the whole receiver
//! (resampler + detector) at 16 and 24 kHz, over one second of keyed digits in noise.
//! Throughput is in input samples, so criterion reports samples per second; divide by
//! the rate for x real time per core.

mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tonegate::SampleRate;
use tonegate::dsp::dtmf::{BLOCK_LEN, Config, Detector};
use tonegate::dsp::goertzel::Bank;
use tonegate::dsp::keypad::{COLUMN_HZ, ROW_HZ};
use tonegate::receiver::Receiver;

fn goertzel_block(c: &mut Criterion) {
    let frequencies: [f32; 8] = std::array::from_fn(|k| [ROW_HZ, COLUMN_HZ].concat()[k]);
    let mut bank = Bank::new(frequencies, 8_000.0, BLOCK_LEN);
    let samples = common::keyed_digits(SampleRate::HZ_8000, 1);
    let block = &samples[..BLOCK_LEN];
    let mut group = c.benchmark_group("goertzel_block");
    group.throughput(Throughput::Elements(BLOCK_LEN as u64));
    group.bench_function("table", |b| {
        b.iter(|| black_box(bank.process(black_box(block))))
    });
    group.bench_function("recurrence_reference", |b| {
        b.iter(|| black_box(bank.process_goertzel(black_box(block))))
    });
    group.finish();
}

fn detector(c: &mut Criterion) {
    let mut group = c.benchmark_group("detector_one_second");
    let samples = common::keyed_digits(SampleRate::HZ_8000, 1);
    group.throughput(Throughput::Elements(samples.len() as u64));
    let mut detector = Detector::new(Config::default()).unwrap();
    group.bench_function("8000", |b| {
        b.iter(|| {
            let mut digits = 0;
            detector.process(black_box(&samples), &mut |_| digits += 1);
            black_box(digits)
        })
    });
    for hz in [8_000, 16_000, 24_000, 48_000] {
        let rate = SampleRate::new(hz).unwrap();
        let samples = common::keyed_digits(rate, 1);
        let mut receiver = Receiver::new(rate, Config::default()).unwrap();
        group.throughput(Throughput::Elements(samples.len() as u64));
        group.bench_function(format!("receiver_{hz}"), |b| {
            b.iter(|| {
                let mut digits = 0;
                for frame in black_box(&samples).chunks(rate.hz() as usize / 50) {
                    receiver.process(frame, &mut |_| digits += 1);
                }
                black_box(digits)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, goertzel_block, detector);
criterion_main!(benches);
