//! Digits, sans-IO with explicit time and exact positions: a key the platform reports
//! and the tone in the audio are one digit; a platform-only report waits
//! `platform_hold` for its tone; gaps the platform's timestamps reveal are filled so
//! positions stay true; participants keep their own positions.

use std::time::Duration;

use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::dsp::Digit;
use tonegate::dsp::tone::{Cadence, render_digits};
use tonegate::proto::{Dialect, StreamFormat};
use tonegate::session::testing::TestSession;
use tonegate::session::{Config, DigitEvent, Error, EventKind, Seen};

const RATE: SampleRate = SampleRate::HZ_8000;
/// Samples in a 20 ms frame at 8 kHz.
const FRAME: usize = 160;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn session(dialect: Dialect, encoding: Encoding) -> TestSession {
    let format = StreamFormat {
        encoding,
        rate: RATE,
    };
    TestSession::new(dialect, format, Config::default())
}

/// `len_ms` of audio with a 100 ms tone of `key` starting at `at_ms`.
fn signal(len_ms: u64, key: char, at_ms: u64) -> Vec<f32> {
    let cadence = Cadence {
        on: ms(100),
        off: ms(0),
        level_dbm0: -10.0,
    };
    let tone = render_digits(&[Digit::from_char(key).unwrap()], cadence, RATE).unwrap();
    let mut samples = vec![0.0; RATE.ms_to_samples(len_ms as f64)];
    let start = RATE.ms_to_samples(at_ms as f64);
    samples[start..start + tone.len()].copy_from_slice(&tone);
    samples
}

/// The digit events (time, event) so far.
fn digits(t: &mut TestSession) -> Vec<(Duration, DigitEvent)> {
    t.take_events()
        .into_iter()
        .filter_map(|(at, e)| match e {
            EventKind::Dtmf(d) => Some((at, d)),
            _ => None,
        })
        .collect()
}

/// Feeds `samples` as 20 ms frames in stream time from `t.now`, with Twilio-style
/// timestamps from `timestamp_ms` if given; `on_frame` runs before each frame.
fn feed(
    t: &mut TestSession,
    samples: &[f32],
    timestamp_ms: Option<u64>,
    mut on_frame: impl FnMut(&mut TestSession, usize),
) {
    let start = t.now;
    for (k, frame) in samples.chunks(FRAME).enumerate() {
        t.run_until(start + ms(20 * k as u64));
        on_frame(t, k);
        t.audio(None, timestamp_ms.map(|ts| ts + 20 * k as u64), frame)
            .unwrap();
    }
}

#[test]
fn a_platform_report_and_its_tone_are_one_digit() {
    let mut t = session(Dialect::Acs, Encoding::S16le);
    // The platform reports the key as its tone starts (frame 5, 100 ms).
    feed(&mut t, &signal(1_000, '5', 100), None, |t, k| {
        if k == 5 {
            t.platform_digit('5');
        }
    });
    t.run_until(ms(2_000));
    let events: Vec<EventKind> = t.take_events().into_iter().map(|(_, e)| e).collect();
    let found: Vec<&DigitEvent> = events
        .iter()
        .filter_map(|e| match e {
            EventKind::Dtmf(d) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    let d = found[0];
    assert_eq!(
        (d.digit.as_char(), d.sequence_id, d.source),
        ('5', 1, Seen::Both)
    );
    assert!((d.start_ms - 100.0).abs() <= 10.0, "{d:?}");
    let ends: Vec<Seen> = events
        .iter()
        .filter_map(|e| match e {
            EventKind::DtmfEnd { source, .. } => Some(*source),
            _ => None,
        })
        .collect();
    assert_eq!(ends, vec![Seen::Both]);
}

#[test]
fn a_platform_only_digit_is_reported_after_the_hold_at_its_report_position() {
    let mut t = session(Dialect::Acs, Encoding::S16le);
    // Silence; the platform reports 7 at 400 ms of stream time.
    feed(&mut t, &vec![0.0; 8_000], None, |t, k| {
        if k == 20 {
            t.platform_digit('7');
        }
    });
    let found = digits(&mut t);
    assert_eq!(found.len(), 1, "{found:?}");
    let (at, d) = &found[0];
    assert_eq!((d.digit.as_char(), d.source), ('7', Seen::Platform));
    assert_eq!((d.start_ms, d.detected_ms), (400.0, 400.0));
    // Reported once `platform_hold` (250 ms) of audio has passed without its tone.
    assert_eq!(*at, ms(400 + 240));
    assert_eq!(d.level_dbm0, None);
}

#[test]
fn different_keys_from_the_platform_and_the_audio_are_two_digits() {
    let mut t = session(Dialect::Acs, Encoding::S16le);
    feed(&mut t, &signal(1_500, '1', 100), None, |t, k| {
        if k == 5 {
            t.platform_digit('2');
        }
    });
    let found = digits(&mut t);
    let keys: Vec<(char, u64, Seen)> = found
        .iter()
        .map(|(_, d)| (d.digit.as_char(), d.sequence_id, d.source))
        .collect();
    assert_eq!(keys, vec![('1', 1, Seen::Inband), ('2', 2, Seen::Platform)]);
}

/// The start of the one digit in `samples` fed as Twilio frames, the timestamps
/// jumping by `gap_ms` after frame `at_frame`.
fn start_after_gap(samples: &[f32], at_frame: usize, gap_ms: u64) -> f64 {
    let mut t = session(Dialect::Twilio, Encoding::Ulaw);
    for (k, frame) in samples.chunks(FRAME).enumerate() {
        let jump = if k >= at_frame { gap_ms } else { 0 };
        let timestamp = 20 * k as u64 + jump;
        t.run_until(ms(timestamp));
        t.audio(None, Some(timestamp), frame).unwrap();
    }
    t.session.finish();
    t.drain();
    let found = digits(&mut t);
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].1.start_ms
}

#[test]
fn gaps_in_the_timestamps_are_filled_so_positions_stay_true() {
    let audio = signal(1_000, '8', 300);
    let contiguous = start_after_gap(&audio, 5, 0);
    assert!((contiguous - 300.0).abs() <= 10.0, "{contiguous}");
    // 940 ms missing after frame 5: every later position moves by exactly that (to
    // the microsecond the events are rounded to).
    let shifted = start_after_gap(&audio, 5, 940);
    assert!(
        (shifted - (contiguous + 940.0)).abs() < 1e-6,
        "{shifted} vs {contiguous}"
    );
}

#[test]
fn participants_whose_ids_differ_late_or_by_length_are_told_apart() {
    let mut t = session(Dialect::Acs, Encoding::S16le);
    let quiet = vec![0.0; FRAME];
    // ACS user ids share a long prefix; a prefix of another id is a different id.
    let user = |n: u32| format!("8:acs:0d6f5c1e-1111-2222-3333-444455556666_0000000{n}");
    let ids = [
        user(1),
        user(2),
        user(1)[..24].to_owned(),
        user(1)[..25].to_owned(),
    ];
    for round in 0..3 {
        t.run_until(ms(20 * round + 20));
        for id in &ids {
            t.audio(Some(id), None, &quiet).unwrap();
        }
        t.audio(None, None, &quiet).unwrap();
    }
    let heard: Vec<Option<&str>> = t.session.participants().collect();
    let mut expected: Vec<Option<&str>> = ids.iter().map(|id| Some(id.as_str())).collect();
    expected.push(None);
    assert_eq!(heard, expected);
}

#[test]
fn each_participant_is_heard_on_its_own_and_the_number_is_bounded() {
    let mut t = session(Dialect::Acs, Encoding::S16le);
    let a = vec![0.0; 16_000];
    let b = signal(2_000, '4', 500);
    // Participant B joins at 200 ms; both then send a frame per 20 ms round.
    for k in 0..100 {
        t.run_until(ms(20 * k as u64 + 20));
        t.audio(Some("4:+1555000001"), None, &a[k * FRAME..(k + 1) * FRAME])
            .unwrap();
        if k >= 10 {
            let j = k - 10;
            t.audio(Some("4:+1555000002"), None, &b[j * FRAME..(j + 1) * FRAME])
                .unwrap();
        }
    }
    let found = digits(&mut t);
    assert_eq!(found.len(), 1, "{found:?}");
    let d = &found[0].1;
    assert_eq!(d.participant.as_deref(), Some("4:+1555000002"));
    // B's 500 ms is the call's 700 ms: B's first frame belongs to the 200 ms round.
    assert!((d.start_ms - 700.0).abs() <= 10.0, "{d:?}");
    let heard: Vec<Option<&str>> = t.session.participants().collect();
    assert_eq!(heard, vec![Some("4:+1555000001"), Some("4:+1555000002")]);
    // Up to `max_participants` (8); the ninth is refused.
    for n in 3..=8 {
        t.audio(Some(&format!("4:+155500000{n}")), None, &a[..FRAME])
            .unwrap();
    }
    assert_eq!(
        t.audio(Some("4:+1555000009"), None, &a[..FRAME]),
        Err(Error::TooManyParticipants(8))
    );
}
