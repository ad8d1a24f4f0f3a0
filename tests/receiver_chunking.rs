//! Chunking invariance: feeding a signal in any chunk sizes yields the same events, bit
//! for bit (digits, positions, levels), as feeding it whole, at every input rate.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tonegate::SampleRate;
use tonegate::dsp::Digit;
use tonegate::dsp::dtmf::{Config, Event};
use tonegate::dsp::tone::{Cadence, render_digits};
use tonegate::receiver::Receiver;

fn events(rate: SampleRate, signal: &[f32], chunk_sizes: &mut dyn FnMut() -> usize) -> Vec<Event> {
    let mut receiver = Receiver::new(rate, Config::default()).unwrap();
    let mut events = Vec::new();
    let mut rest = signal;
    while !rest.is_empty() {
        let take = chunk_sizes().clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(take);
        receiver.process(chunk, &mut |e| events.push(e));
        rest = tail;
    }
    receiver.flush(&mut |e| events.push(e));
    events
}

#[test]
fn any_chunking_gives_identical_events() {
    let digits: Vec<Digit> = "8D*0#"
        .chars()
        .map(|c| Digit::from_char(c).unwrap())
        .collect();
    for hz in [8_000, 16_000, 24_000, 44_100, 48_000] {
        let rate = SampleRate::new(hz).unwrap();
        let cadence = Cadence {
            on: std::time::Duration::from_millis(45),
            off: std::time::Duration::from_millis(41),
            level_dbm0: -17.0,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(u64::from(hz));
        let mut signal = vec![0.0f32; rng.random_range(0..2_000)];
        signal.extend(render_digits(&digits, cadence, rate).unwrap());
        for sample in &mut signal {
            *sample += rng.random_range(-0.01..0.01);
        }
        let whole = events(rate, &signal, &mut || usize::MAX);
        assert_eq!(
            whole
                .iter()
                .filter(|e| matches!(e, Event::Pressed(_)))
                .count(),
            digits.len(),
            "{hz} Hz"
        );
        for _ in 0..4 {
            let max = rng.random_range(1..3_000);
            let chunked = events(rate, &signal, &mut || rng.random_range(1..=max));
            assert_eq!(chunked, whole, "{hz} Hz, chunks up to {max}");
        }
        let single = events(rate, &signal, &mut || 1);
        assert_eq!(single, whole, "{hz} Hz, one sample at a time");
    }
}
