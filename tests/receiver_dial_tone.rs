//! The first key of a number keyed over dial tone: dial tone (350 + 440 Hz at -13 dBm0
//! each, the North American precise dial tone) sounds for half a second and on through
//! the whole first key, then stops; the rest of the number follows without it. At
//! telephone key levels every key is found once, the first at its true onset, at every
//! input rate; and dial tone alone gives nothing. `tonegate evaluate` sweeps the key
//! level down to where the first key is lost (its `first keys ... under dial tone` rows).

use tonegate::SampleRate;
use tonegate::dsp::dtmf::{Config, Event, Keypress};
use tonegate::dsp::keypad::Digit;
use tonegate::dsp::tone::{Component, Oscillator, Tone};
use tonegate::receiver::Receiver;

const DIAL_LEAD_MS: f64 = 500.0;
const KEY_MS: f64 = 100.0;
const PAUSE_MS: f64 = 100.0;

/// Adds `tone` to `samples[from..to]`.
fn add(samples: &mut [f32], tone: &Tone, rate: SampleRate, from: usize, to: usize) {
    let mut sound = vec![0.0; to - from];
    Oscillator::new(tone, rate).unwrap().process(&mut sound);
    for (sample, x) in samples[from..to].iter_mut().zip(sound) {
        *sample += x;
    }
}

/// The number `digits` keyed at -8 / -6 dBm0 (low / high group), the first key over dial
/// tone; returns the signal and each key's onset in samples.
fn number_over_dial_tone(digits: &str, rate: SampleRate) -> (Vec<f32>, Vec<usize>) {
    let ms = |ms: f64| rate.ms_to_samples(ms);
    let dial = Tone::dual(Component::new(350.0, -13.0), Component::new(440.0, -13.0));
    let period = ms(KEY_MS) + ms(PAUSE_MS);
    let onsets: Vec<usize> = (0..digits.len())
        .map(|k| ms(DIAL_LEAD_MS) + k * period)
        .collect();
    let mut samples = vec![0.0; ms(DIAL_LEAD_MS) + digits.len() * period + ms(200.0)];
    add(&mut samples, &dial, rate, 0, onsets[0] + ms(KEY_MS));
    for (c, &onset) in digits.chars().zip(&onsets) {
        let key = Tone::dtmf(Digit::from_char(c).unwrap(), -8.0).with_twist(2.0);
        add(&mut samples, &key, rate, onset, onset + ms(KEY_MS));
    }
    (samples, onsets)
}

fn pressed(samples: &[f32], rate: SampleRate) -> Vec<Keypress> {
    let mut receiver = Receiver::new(rate, Config::default()).unwrap();
    let mut pressed = Vec::new();
    let mut collect = |event| {
        if let Event::Pressed(keypress) = event {
            pressed.push(keypress);
        }
    };
    // 20 ms frames, as a stream delivers them.
    for frame in samples.chunks(rate.hz() as usize / 50) {
        receiver.process(frame, &mut collect);
    }
    receiver.flush(&mut collect);
    pressed
}

#[test]
fn the_first_key_over_dial_tone_is_found_at_its_onset_at_every_rate() {
    for hz in [8_000, 16_000, 24_000, 48_000] {
        let rate = SampleRate::new(hz).unwrap();
        for digits in ["1234", "5069", "*#AD"] {
            let (samples, onsets) = number_over_dial_tone(digits, rate);
            let pressed = pressed(&samples, rate);
            let found: String = pressed.iter().map(|k| k.digit.to_string()).collect();
            assert_eq!(found, digits, "{hz} Hz");
            for (keypress, &onset) in pressed.iter().zip(&onsets) {
                let error_ms = rate.samples_to_ms(keypress.start - onset as f64);
                assert!(
                    error_ms.abs() < 3.0,
                    "{hz} Hz {digits}: onset off by {error_ms} ms"
                );
            }
        }
    }
}

#[test]
fn dial_tone_alone_gives_no_digit() {
    let rate = SampleRate::HZ_8000;
    let mut samples = vec![0.0; rate.ms_to_samples(3_000.0)];
    let dial = Tone::dual(Component::new(350.0, -13.0), Component::new(440.0, -13.0));
    let len = samples.len();
    add(&mut samples, &dial, rate, 0, len);
    assert!(pressed(&samples, rate).is_empty());
}
