//! Operation tests: continuous DTMF recognition: per-call tone numbering, targets, a lost stream.

use super::*;

#[test]
fn continuous_dtmf_numbers_tones_gaplessly_and_reports_stop() {
    let mut h = raw();
    h.platform_digit('1'); // before start: no event, no sequence number used
    let start = ContinuousDtmfRequest {
        target_participant: None,
        meta: meta("c"),
    };
    h.operation(Operation::StartContinuousDtmf(start.clone()))
        .unwrap();
    h.platform_digit('2');
    h.platform_digit('#');
    h.operation(Operation::StopContinuousDtmf(start.clone()))
        .unwrap();
    h.platform_digit('3');
    h.operation(Operation::StartContinuousDtmf(start.clone()))
        .unwrap();
    h.platform_digit('*');
    let events = h.take_operation_bodies();
    let summary: Vec<_> = events
        .iter()
        .map(|e| (e.event, e.details.tone, e.details.sequence_id))
        .collect();
    use OperationEventType::*;
    assert_eq!(
        summary,
        vec![
            (
                ContinuousDtmfRecognitionToneReceived,
                Some(Tone::Two),
                Some(1)
            ),
            (
                ContinuousDtmfRecognitionToneReceived,
                Some(Tone::Pound),
                Some(2)
            ),
            (ContinuousDtmfRecognitionStopped, None, None),
            (
                ContinuousDtmfRecognitionToneReceived,
                Some(Tone::Asterisk),
                Some(3)
            ),
        ]
    );
    assert!(events.iter().all(|e| e.meta == meta("c")));
    assert_eq!(events[0].result_information.code, 200);
}

#[test]
fn a_lost_stream_fails_running_continuous_recognition_and_an_orderly_end_does_not() {
    let start = |context: &str| {
        Operation::StartContinuousDtmf(ContinuousDtmfRequest {
            target_participant: None,
            meta: meta(context),
        })
    };
    let mut lost = raw();
    lost.operation(start("c")).unwrap();
    lost.platform_digit('5');
    lost.session.lose();
    lost.drain();
    let events = lost.take_operation_bodies();
    let kinds: Vec<_> = events.iter().map(|e| e.event).collect();
    use OperationEventType::*;
    assert_eq!(
        kinds,
        vec![
            ContinuousDtmfRecognitionToneReceived,
            ContinuousDtmfRecognitionToneFailed
        ]
    );
    assert_eq!(events[1].meta, meta("c"));
    assert_eq!(
        (
            events[1].result_information.code,
            events[1].result_information.sub_code
        ),
        (500, 9999)
    );

    let mut ended = raw();
    ended.operation(start("c")).unwrap();
    ended.session.finish();
    ended.drain();
    assert!(ended.take_operation_events().is_empty());

    // Stopped before the loss: nothing to fail.
    let mut stopped = raw();
    stopped.operation(start("c")).unwrap();
    stopped
        .operation(Operation::StopContinuousDtmf(ContinuousDtmfRequest {
            target_participant: None,
            meta: meta("c"),
        }))
        .unwrap();
    stopped.session.lose();
    stopped.drain();
    let kinds: Vec<_> = stopped
        .take_operation_events()
        .into_iter()
        .map(|(_, e)| e.event)
        .collect();
    assert_eq!(kinds, vec![ContinuousDtmfRecognitionStopped]);
}

#[test]
fn continuous_dtmf_per_target_participant() {
    let mut h = harness(Dialect::Acs, SampleRate::HZ_16000, config());
    h.operation(Operation::StartContinuousDtmf(ContinuousDtmfRequest {
        target_participant: Some("4:+1555000002".into()),
        meta: meta("c"),
    }))
    .unwrap();
    unmixed_audio(&mut h, 1_200, &[(200, '1')], &[(600, '6')]);
    let events = h.take_operation_events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1.details.tone, Some(Tone::Six));
    assert_eq!(
        events[0].1.details.participant.as_deref(),
        Some("4:+1555000002")
    );
}

#[test]
fn lost_events_are_what_losing_the_stream_would_emit() {
    let mut h = raw();
    h.operation(Operation::StartContinuousDtmf(ContinuousDtmfRequest {
        target_participant: None,
        meta: meta("c"),
    }))
    .unwrap();
    h.operation(play(10_000, "p1")).unwrap();
    h.operation(play(10_000, "p2")).unwrap();
    h.drain();
    h.take_operation_events();
    let foreseen = h.session.lost_events();
    assert_eq!(h.session.queued_operations().count(), 2);
    h.session.lose();
    h.session.finish();
    h.drain();
    let emitted = h.take_operation_bodies();
    use OperationEventType::*;
    let kinds: Vec<_> = foreseen.iter().map(|e| e.event).collect();
    assert_eq!(
        kinds,
        vec![
            ContinuousDtmfRecognitionToneFailed,
            PlayCanceled,
            PlayCanceled
        ]
    );
    assert_eq!(foreseen, emitted);
    assert!(h.session.lost_events().is_empty());
}

#[test]
fn a_resumed_call_numbers_tones_after_the_last_sequence_id() {
    let mut h = raw();
    h.session.resume_continuous_sequence(7);
    h.session.resume_continuous_sequence(3); // never goes back
    h.operation(Operation::StartContinuousDtmf(ContinuousDtmfRequest {
        target_participant: None,
        meta: meta("c"),
    }))
    .unwrap();
    h.platform_digit('4');
    let event = single(&mut h);
    assert_eq!(event.details.sequence_id, Some(8));
    assert_eq!(h.session.continuous_sequence(), 8);
}
