//! Live transcription through the session: requests and their events, each utterance
//! handed out with its place on the audio timeline, and the server's status answers.

use super::speech::{codes, stream};
use super::*;
use crate::session::transcription::{TranscriptionOutput, TranscriptionStatus};

fn request(action: TranscriptionAction, locale: Option<&str>) -> Operation {
    Operation::Transcription(TranscriptionRequest {
        action,
        locale: locale.map(str::to_owned),
        speech_model_endpoint_id: None,
        meta: meta("t1"),
    })
}

fn outputs(h: &mut Harness) -> Vec<TranscriptionOutput> {
    std::iter::from_fn(|| h.session.poll_transcription()).collect()
}

fn update(e: &OperationEvent) -> (&str, &str) {
    let u = e
        .details
        .transcription_update
        .as_ref()
        .expect("transcriptionUpdate");
    (&u.transcription_status, &u.transcription_status_details)
}

#[test]
fn a_started_transcription_hands_out_each_utterance_with_its_offset() {
    let mut h = raw();
    stream(&mut h, 500, 0..0);
    h.operation(request(TranscriptionAction::Start, Some("en-GB")))
        .unwrap();
    let [TranscriptionOutput::Start { id, locale, .. }] = &outputs(&mut h)[..] else {
        panic!("one start")
    };
    assert_eq!(locale, "en-GB");
    assert!(
        h.take_operation_events().is_empty(),
        "started only once connected"
    );
    h.session
        .handle_transcription_status(h.now, *id, TranscriptionStatus::Connected);
    h.drain();
    let events = h.take_operation_events();
    assert_eq!(events.len(), 1);
    let started = &events[0].1;
    assert_eq!(started.event, OperationEventType::TranscriptionStarted);
    assert_eq!(codes(started), (200, 0));
    assert_eq!(
        update(started),
        ("transcriptionStarted", "subscriptionStarted")
    );
    assert_eq!(started.meta, meta("t1"));

    // Two utterances: 1.0-1.6 s and 5.6-6.0 s; each ends 800 ms after its speech.
    stream(&mut h, 5_000, 1_000..1_600);
    let jobs = outputs(&mut h);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    stream(&mut h, 7_000, 5_600..6_000);
    let jobs2 = outputs(&mut h);
    let offsets: Vec<(u64, u64)> = jobs
        .iter()
        .chain(&jobs2)
        .map(|o| match o {
            TranscriptionOutput::Utterance(j) => {
                assert_eq!((j.id, j.rate, j.locale.as_str()), (*id, RATE, "en-GB"));
                (j.offset.as_millis() as u64, j.samples.len() as u64 / 8)
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(offsets.len(), 2, "{offsets:?}");
    // From 300 ms before the onset (the pre-roll, plus up to the 60 ms that confirm
    // it), the speech and 300 ms after.
    assert!((640..=700).contains(&offsets[0].0), "{offsets:?}");
    assert!((1_180..=1_230).contains(&offsets[0].1), "{offsets:?}");
    assert!((5_240..=5_300).contains(&offsets[1].0), "{offsets:?}");
    assert!((980..=1_030).contains(&offsets[1].1), "{offsets:?}");

    h.operation(request(TranscriptionAction::Update, Some("en-US")))
        .unwrap();
    h.operation(request(TranscriptionAction::Stop, None))
        .unwrap();
    let kinds: Vec<_> = h
        .take_operation_events()
        .into_iter()
        .map(|(_, e)| (e.event, update(&e).1.to_owned()))
        .collect();
    assert_eq!(
        kinds,
        [
            (
                OperationEventType::TranscriptionUpdated,
                "transcriptionLocaleUpdated".to_owned()
            ),
            (
                OperationEventType::TranscriptionStopped,
                "subscriptionStopped".to_owned()
            )
        ]
    );
    assert_eq!(outputs(&mut h), [TranscriptionOutput::Stop { id: *id }]);
    // Speech after the stop is not transcribed.
    stream(&mut h, 9_000, 7_200..7_800);
    assert!(outputs(&mut h).is_empty());
}

#[test]
fn requests_out_of_turn_are_refused_and_a_failed_connection_ends_it() {
    let mut h = raw();
    stream(&mut h, 100, 0..0);
    for action in [TranscriptionAction::Stop, TranscriptionAction::Update] {
        assert!(matches!(
            h.operation(request(action, None)),
            Err(session::Error::Transcription(_))
        ));
    }
    h.operation(request(TranscriptionAction::Start, None))
        .unwrap();
    assert!(matches!(
        h.operation(request(TranscriptionAction::Start, None)),
        Err(session::Error::Transcription(_))
    ));
    let [TranscriptionOutput::Start { id, locale, .. }] = &outputs(&mut h)[..] else {
        panic!("one start")
    };
    assert_eq!(locale, "en-US", "the default locale");
    let failure = TranscriptionStatus::Failed {
        details: "streamConnectionUnsuccessful",
        message: "connection refused".into(),
    };
    // An answer about another transcription is ignored.
    h.session
        .handle_transcription_status(h.now, id + 1, failure.clone());
    h.session.handle_transcription_status(h.now, *id, failure);
    h.drain();
    let events = h.take_operation_events();
    assert_eq!(events.len(), 1);
    let failed = &events[0].1;
    assert_eq!(failed.event, OperationEventType::TranscriptionFailed);
    assert_eq!(codes(failed), (500, 9999));
    assert_eq!(
        update(failed),
        ("transcriptionFailed", "streamConnectionUnsuccessful")
    );
    assert_eq!(outputs(&mut h), [TranscriptionOutput::Stop { id: *id }]);
    // It can start again.
    h.operation(request(TranscriptionAction::Start, None))
        .unwrap();
}
