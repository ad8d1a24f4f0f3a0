//! Operation tests: speech input (choices, speech, speechOrDtmf): voice activity,
//! the utterance handed out as a speech job, the outcome's events and codes, and voice
//! barge-in, all on the audio timeline.

use super::*;
use crate::session::speech::{Grammar, SpeechJob, SpeechOutcome};

/// A voice-like buzz (pitch wandering around 140 Hz, harmonics), about -20 dBm0.
fn voice_sample(i: u64) -> f32 {
    let t = i as f32 / 8_000.0;
    // The integral of 140 + 30 sin(3t) Hz.
    let phase = 2.0 * std::f32::consts::PI * (140.0 * t - 10.0 * (t * 3.0).cos());
    (1..8)
        .map(|h| (phase * h as f32).sin() / h as f32)
        .sum::<f32>()
        * 0.05
}

/// Streams 20 ms frames from the harness's time to `until`, voiced inside `voiced`
/// (ms of stream time); each frame is handed over when it has been heard.
pub(super) fn stream(h: &mut Harness, until: u64, voiced: std::ops::Range<u64>) {
    let mut frame = vec![0.0f32; 160];
    while h.now < ms(until) {
        let start = h.now.as_millis() as u64;
        for (k, s) in frame.iter_mut().enumerate() {
            let i = start * 8 + k as u64;
            *s = if voiced.contains(&(i / 8)) {
                voice_sample(i)
            } else {
                0.0
            };
        }
        h.run_until(ms(start + 20));
        h.audio(None, None, &frame).unwrap();
    }
}

fn choices() -> Vec<Choice> {
    vec![
        Choice {
            label: "Sales".into(),
            phrases: vec!["sales".into(), "buy something".into()],
            tone: Some(Tone::One),
        },
        Choice {
            label: "Support".into(),
            phrases: vec!["support".into()],
            tone: Some(Tone::Two),
        },
    ]
}

fn listen(input: RecognizeInput) -> RecognizeOptions {
    RecognizeOptions {
        input,
        choices: if input == RecognizeInput::Choices {
            choices()
        } else {
            Vec::new()
        },
        end_silence_timeout: ms(500),
        ..RecognizeOptions::default()
    }
}

fn job(h: &mut Harness) -> SpeechJob {
    let job = h
        .session
        .poll_speech_job()
        .expect("an utterance to recognise");
    assert!(h.session.poll_speech_job().is_none());
    job
}

fn answer(h: &mut Harness, id: u64, outcome: SpeechOutcome) -> OperationEvent {
    h.session.handle_speech_outcome(h.now, id, outcome);
    h.drain();
    single(h)
}

pub(super) fn codes(e: &OperationEvent) -> (u16, u32) {
    (e.result_information.code, e.result_information.sub_code)
}

#[test]
fn a_said_choice_is_handed_out_after_the_end_silence_and_completes_with_its_label() {
    let mut h = raw();
    h.operation(recognize(listen(RecognizeInput::Choices)))
        .unwrap();
    // Speech from 1.0 to 1.6 s; the utterance is over 500 ms of silence later.
    stream(&mut h, 2_080, 1_000..1_600);
    assert!(
        h.session.poll_speech_job().is_none(),
        "not before the end silence"
    );
    stream(&mut h, 2_140, 1_000..1_600);
    let job = job(&mut h);
    assert_eq!(
        job.grammar,
        Grammar::Choices(vec![
            vec!["sales".to_owned(), "buy something".to_owned()],
            vec!["support".to_owned()]
        ])
    );
    assert_eq!(job.rate, RATE);
    // 300 ms before the onset, the speech, 300 ms after it (to within a 10 ms block).
    let len_ms = job.samples.len() as u64 / 8;
    assert!((1_180..=1_230).contains(&len_ms), "{len_ms} ms");
    // The initial-silence timer (5 s) stopped at the onset.
    h.run_until(ms(8_000));
    assert!(h.take_operation_events().is_empty());
    let e = answer(
        &mut h,
        job.id,
        SpeechOutcome::Choice {
            index: 1,
            phrase: "support".into(),
            confidence: 0.9,
        },
    );
    assert_eq!(e.event, OperationEventType::RecognizeCompleted);
    assert_eq!(codes(&e), (200, 8545));
    assert_eq!(e.details.recognition_type, Some(RecognitionType::Choices));
    assert_eq!(
        e.details.choice_result,
        Some(Box::new(ChoiceResult {
            label: "Support".into(),
            recognized_phrase: Some("support".into()),
            confidence: Some(0.9),
        }))
    );
    assert_eq!(e.meta, meta("r1"));
}

#[test]
fn each_speech_failure_has_its_code() {
    let cases = [
        (RecognizeInput::Choices, SpeechOutcome::NoMatch, (400, 8547)),
        (
            RecognizeInput::Choices,
            SpeechOutcome::Text {
                text: "pizza".into(),
                confidence: 0.5,
            },
            (400, 8547),
        ),
        (RecognizeInput::Speech, SpeechOutcome::NoMatch, (400, 8563)),
        (
            RecognizeInput::Speech,
            SpeechOutcome::Text {
                text: " ".into(),
                confidence: 0.0,
            },
            (400, 8563),
        ),
        (
            RecognizeInput::SpeechOrDtmf,
            SpeechOutcome::Busy,
            (503, 8583),
        ),
        (
            RecognizeInput::Speech,
            SpeechOutcome::Failed("exited".into()),
            (500, 8564),
        ),
    ];
    for (input, outcome, want) in cases {
        let mut h = raw();
        h.operation(recognize(listen(input))).unwrap();
        stream(&mut h, 2_000, 500..900);
        let id = job(&mut h).id;
        let e = answer(&mut h, id, outcome.clone());
        assert_eq!(e.event, OperationEventType::RecognizeFailed, "{outcome:?}");
        assert_eq!(codes(&e), want, "{input:?} {outcome:?}");
    }
}

#[test]
fn free_speech_completes_with_the_words() {
    let mut h = raw();
    h.operation(recognize(listen(RecognizeInput::Speech)))
        .unwrap();
    stream(&mut h, 2_000, 300..1_000);
    let job = job(&mut h);
    assert_eq!(job.grammar, Grammar::FreeText);
    let e = answer(
        &mut h,
        job.id,
        SpeechOutcome::Text {
            text: "i want my balance".into(),
            confidence: 0.7,
        },
    );
    assert_eq!(codes(&e), (200, 8545));
    assert_eq!(e.details.recognition_type, Some(RecognitionType::Speech));
    assert_eq!(
        e.details.speech_result,
        Some(Box::new(SpeechResult {
            speech: "i want my balance".into(),
            confidence: Some(0.7)
        }))
    );
    assert_eq!(e.details.dtmf_result, None);
}

#[test]
fn silence_fails_with_the_initial_silence_code() {
    let mut h = raw();
    h.operation(recognize(listen(RecognizeInput::Speech)))
        .unwrap();
    stream(&mut h, 4_980, 0..0);
    assert!(h.take_operation_events().is_empty());
    stream(&mut h, 5_020, 0..0);
    let e = single(&mut h);
    assert_eq!(e.event, OperationEventType::RecognizeFailed);
    assert_eq!(codes(&e), (400, 8510));
    assert!(h.session.poll_speech_job().is_none());
}

#[test]
fn speech_or_dtmf_takes_whichever_comes_first() {
    // Keys first: completes as a DTMF recognize.
    let mut h = raw();
    h.operation(recognize(RecognizeOptions {
        max_tones_to_collect: Some(1),
        ..listen(RecognizeInput::SpeechOrDtmf)
    }))
    .unwrap();
    stream(&mut h, 400, 0..0);
    h.platform_digit('7');
    let e = single(&mut h);
    assert_eq!(codes(&e), (200, 8531));
    assert_eq!(e.details.recognition_type, Some(RecognitionType::Dtmf));
    // Speech first: keys while the caller speaks do not count; the speech does.
    let mut h = raw();
    h.operation(recognize(listen(RecognizeInput::SpeechOrDtmf)))
        .unwrap();
    stream(&mut h, 700, 400..1_200);
    h.platform_digit('7');
    stream(&mut h, 1_800, 400..1_200);
    let id = job(&mut h).id;
    let e = answer(
        &mut h,
        id,
        SpeechOutcome::Text {
            text: "agent".into(),
            confidence: 0.8,
        },
    );
    assert_eq!(e.details.recognition_type, Some(RecognitionType::Speech));
}

#[test]
fn a_choice_tone_selects_it_with_8533_and_another_key_fails_with_8534() {
    let mut h = raw();
    h.operation(recognize(listen(RecognizeInput::Choices)))
        .unwrap();
    h.platform_digit('1');
    let e = single(&mut h);
    // Call Automation's RecognizeDtmfOptionMatched.
    assert_eq!(codes(&e), (200, 8533));
    assert_eq!(e.details.choice_result.unwrap().label, "Sales");
    h.operation(recognize(listen(RecognizeInput::Choices)))
        .unwrap();
    h.platform_digit('9');
    let e = single(&mut h);
    assert_eq!(e.event, OperationEventType::RecognizeFailed);
    assert_eq!(codes(&e), (400, 8534));
}

#[test]
fn speech_stops_an_interruptible_prompt_within_300_ms_of_its_onset() {
    let onset = 1_230;
    // Find when StopAudio went out, on the audio timeline (stream ms heard by then).
    let mut h = raw();
    h.operation(recognize_with_prompt(
        RecognizeOptions {
            interrupt_prompt: true,
            ..listen(RecognizeInput::Choices)
        },
        5_000,
    ))
    .unwrap();
    let mut stopped_at = None;
    while h.now < ms(2_000) && stopped_at.is_none() {
        let next = h.now.as_millis() as u64 + 20;
        stream(&mut h, next, onset..2_000);
        if h.take_log().contains(&Out::Stop) {
            stopped_at = Some(h.session.position() / 8);
        }
    }
    let stopped_at = stopped_at.expect("the prompt was stopped");
    assert!(
        stopped_at >= onset && stopped_at - onset <= 300,
        "stopped {} ms after the onset",
        stopped_at.saturating_sub(onset)
    );
    // No PlayCompleted for the cut prompt; the recognize goes on and hands out the
    // utterance.
    stream(&mut h, 2_700, onset..2_000);
    assert!(
        !h.take_operation_kinds()
            .contains(&OperationEventType::PlayCompleted)
    );
    assert!(h.session.poll_speech_job().is_some());
}

#[test]
fn speech_does_not_stop_a_prompt_without_interrupt_prompt() {
    let mut h = raw();
    h.operation(recognize_with_prompt(listen(RecognizeInput::Speech), 1_000))
        .unwrap();
    stream(&mut h, 1_500, 100..900);
    assert!(!h.take_log().contains(&Out::Stop));
    assert!(
        h.session.poll_speech_job().is_none(),
        "speech during the prompt is not heard"
    );
}

#[test]
fn an_outcome_for_a_canceled_recognize_is_ignored() {
    let mut h = raw();
    h.operation(recognize(listen(RecognizeInput::Speech)))
        .unwrap();
    stream(&mut h, 2_000, 300..800);
    let id = job(&mut h).id;
    h.operation(Operation::CancelAll).unwrap();
    assert_eq!(
        h.take_operation_kinds(),
        vec![OperationEventType::RecognizeCanceled]
    );
    h.session.handle_speech_outcome(
        h.now,
        id,
        SpeechOutcome::Text {
            text: "late".into(),
            confidence: 1.0,
        },
    );
    h.drain();
    assert!(h.take_operation_events().is_empty());
}

#[test]
fn a_keys_tone_tail_does_not_start_the_next_speech_recognize() {
    // A DTMF recognize for one key; the caller holds the key 250 ms, and the app asks
    // for a speech recognize as soon as the key completes the first: the rest of the
    // tone must not count as the caller speaking.
    let mut h = raw();
    h.operation(recognize(RecognizeOptions {
        max_tones_to_collect: Some(1),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    let cadence = tonegate_dsp::dsp::tone::Cadence {
        on: ms(250),
        off: ms(0),
        level_dbm0: -10.0,
    };
    let tone = render_digits(&[Digit::from_char('5').unwrap()], cadence, RATE).unwrap();
    let audio = [vec![0.0f32; 8 * 200], tone, vec![0.0; 8 * 3_000]].concat();
    let mut second = false;
    for (i, frame) in audio.chunks(160).enumerate() {
        h.run_until(ms(i as u64 * 20 + 20));
        h.audio(None, None, frame).unwrap();
        if second {
            continue;
        }
        let events = h.take_operation_events();
        if let Some((_, done)) = events.first() {
            assert_eq!(done.event, OperationEventType::RecognizeCompleted);
            assert!(i * 20 < 200 + 250, "the key was detected while it sounded");
            let options = RecognizeOptions {
                initial_silence_timeout: ms(2_000),
                ..listen(RecognizeInput::Speech)
            };
            h.operation(recognize(options)).unwrap();
            second = true;
        }
    }
    assert!(second, "the key completed the first recognize");
    assert!(
        h.session.poll_speech_job().is_none(),
        "the tone taken for speech"
    );
    let e = single(&mut h);
    assert_eq!(e.event, OperationEventType::RecognizeFailed);
    assert_eq!(codes(&e), (400, 8510));
}
