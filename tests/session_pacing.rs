//! Outbound pacing, sans-IO with explicit time: each 20 ms frame goes out `lead` (100 ms)
//! before it plays, completion is reported when the audio has played (not when it was
//! sent), and the frames carry exactly the samples queued.

use std::time::Duration;

use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::dsp::Digit;
use tonegate::dsp::tone::render_digits;
use tonegate::media::player::Prompt;
use tonegate::proto::{Dialect, StreamFormat};
use tonegate::session::testing::TestSession;
use tonegate::session::{Command, Config, EventKind};

const FORMAT: StreamFormat = StreamFormat {
    encoding: Encoding::S16le,
    rate: SampleRate::HZ_8000,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The times of the client play events (`playStarted` ... ) and marks, by name.
fn play_events(t: &mut TestSession) -> Vec<(Duration, String)> {
    t.take_events()
        .into_iter()
        .filter_map(|(at, e)| match e {
            EventKind::PlayStarted { id } => Some((at, format!("started {id}"))),
            EventKind::PlayCompleted { id } => Some((at, format!("completed {id}"))),
            EventKind::Mark { name } => Some((at, format!("mark {name}"))),
            _ => None,
        })
        .collect()
}

#[test]
fn frames_go_out_a_lead_ahead_and_completion_waits_for_the_audio() {
    let mut t = TestSession::new(Dialect::Raw, FORMAT, Config::default());
    t.take_events();
    // Two digits at 70 ms on, 70 ms off: 280 ms, 14 frames.
    let digits = vec![
        Digit::from_char('1').unwrap(),
        Digit::from_char('2').unwrap(),
    ];
    t.command(Command::SendDigits {
        id: "d".into(),
        digits: digits.clone(),
    })
    .unwrap();
    t.command(Command::Mark { name: "m".into() }).unwrap();
    t.run_until(ms(1_000));
    let sent: Vec<Duration> = t.take_frames().into_iter().map(|(at, _)| at).collect();
    // Frame k plays at k * 20 ms and is sent at k * 20 ms - 100 ms (at once if that
    // has passed).
    let expected: Vec<Duration> = (0..14u64)
        .map(|k| ms((k * 20).saturating_sub(100)))
        .collect();
    assert_eq!(sent, expected);
    assert_eq!(
        play_events(&mut t),
        vec![
            (ms(0), "started d".to_owned()),
            (ms(280), "completed d".to_owned()),
            (ms(280), "mark m".to_owned()),
        ]
    );
}

#[test]
fn sent_frames_hold_exactly_the_queued_samples() {
    let mut t = TestSession::new(Dialect::Raw, FORMAT, Config::default());
    // A 50 ms ramp at 16 kHz, converted once to the stream's 8 kHz; then a digit
    // (70 ms tone, 70 ms pause).
    let ramp: Vec<f32> = (0..800).map(|n| n as f32 / 1_600.0).collect();
    let prompt = Prompt::from_samples(ramp, SampleRate::HZ_16000);
    t.command(Command::Play {
        id: "p".into(),
        prompt: prompt.clone(),
        looped: false,
    })
    .unwrap();
    let digit = vec![Digit::from_char('#').unwrap()];
    t.command(Command::SendDigits {
        id: "d".into(),
        digits: digit.clone(),
    })
    .unwrap();
    t.run_until(ms(1_000));
    let sent = t.take_sent_audio();
    let converted =
        tonegate::media::player::convert_rate(prompt.samples(), SampleRate::HZ_16000, FORMAT.rate);
    let tones = render_digits(&digit, Config::default().cadence, FORMAT.rate).unwrap();
    // The prompt went out at once (within the lead), its last frame padded with
    // silence; the digits, queued after the player ran dry, start on the next frame.
    let mut queued = converted.clone();
    queued.resize(converted.len().div_ceil(160) * 160, 0.0);
    queued.extend(&tones);
    assert_eq!(sent.len(), queued.len().div_ceil(160) * 160);
    for (n, (s, q)) in sent.iter().zip(&queued).enumerate() {
        assert!((s - q).abs() <= 1.0 / 32_768.0, "sample {n}: {s} vs {q}");
    }
    assert!(sent[queued.len()..].iter().all(|&s| s == 0.0));
}

#[test]
fn audio_queued_after_a_pause_is_paced_from_when_it_arrives() {
    let mut t = TestSession::new(Dialect::Raw, FORMAT, Config::default());
    let digits = vec![Digit::from_char('9').unwrap()];
    t.command(Command::SendDigits {
        id: "a".into(),
        digits: digits.clone(),
    })
    .unwrap();
    t.run_until(ms(500));
    t.take_frames();
    t.take_events();
    // Idle since 140 ms: the next item plays from 500 ms, not from where the first ended.
    t.command(Command::SendDigits {
        id: "b".into(),
        digits,
    })
    .unwrap();
    t.run_until(ms(1_000));
    let sent: Vec<Duration> = t.take_frames().into_iter().map(|(at, _)| at).collect();
    let expected: Vec<Duration> = (0..7u64)
        .map(|k| ms((500 + k * 20).saturating_sub(100).max(500)))
        .collect();
    assert_eq!(sent, expected);
    assert_eq!(
        play_events(&mut t),
        vec![
            (ms(500), "started b".to_owned()),
            (ms(640), "completed b".to_owned()),
        ]
    );
}
