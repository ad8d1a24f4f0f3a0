//! Operation tests: play and the operation queue: order, conflicts, sources, loops, Twilio marks.

use super::*;

#[test]
fn exclusive_operations_conflict_with_8583() {
    let mut h = raw();
    let targeted = Operation::Play(PlayRequest {
        sources: vec![Ok(prompt(1_000))],
        play_to: vec!["4:+1555".into()],
        ..PlayRequest::default()
    });
    h.operation(targeted.clone()).unwrap();
    let send = Operation::SendDtmfTones(SendDtmfTonesRequest {
        tones: vec![Tone::One],
        ..SendDtmfTonesRequest::default()
    });
    let err = h.operation(send.clone()).unwrap_err();
    // The server answers it 412 with subCode 8583 (tonegate-server's api.rs).
    assert_eq!(err, session::Error::Conflict);
    assert_eq!(h.operation(targeted), Err(session::Error::Conflict));
    assert_eq!(
        h.operation(Operation::Hold(HoldRequest::default())),
        Err(session::Error::Conflict)
    );
    // Play to everyone and recognize queue behind it.
    h.operation(play(100, "all")).unwrap();
    h.operation(recognize(RecognizeOptions::default())).unwrap();
    // Once the targeted play is done, send-DTMF is accepted again.
    h.run_until(ms(1_000));
    h.operation(Operation::CancelAll).unwrap();
    h.operation(send).unwrap();
}

#[test]
fn plays_queue_and_complete_when_played() {
    let mut h = raw();
    h.operation(play(500, "a")).unwrap();
    h.operation(play(300, "b")).unwrap();
    h.run_until(ms(2_000));
    let events: Vec<_> = h
        .take_operation_events()
        .into_iter()
        .map(|(t, e)| (t, e.event, e.meta.operation_context.unwrap()))
        .collect();
    use OperationEventType::*;
    assert_eq!(
        events,
        vec![
            (ms(0), PlayStarted, "a".to_owned()),
            (ms(500), PlayCompleted, "a".to_owned()),
            (ms(500), PlayStarted, "b".to_owned()),
            (ms(800), PlayCompleted, "b".to_owned()),
        ]
    );
    assert_eq!(h.frames(), 40);
}

#[test]
fn play_sources_play_in_sequence_and_failures_name_the_source() {
    let mut h = raw();
    h.operation(Operation::Play(PlayRequest {
        sources: vec![Ok(prompt(100)), Ok(prompt(200))],
        meta: meta("seq"),
        ..PlayRequest::default()
    }))
    .unwrap();
    h.run_until(ms(1_000));
    let events = h.take_operation_events();
    assert_eq!(events[1].0, ms(300));
    assert_eq!(h.frames(), 15);

    h.operation(Operation::Play(PlayRequest {
        sources: vec![
            Ok(prompt(100)),
            Err(SourceFailure::DownloadFailed("404".into())),
        ],
        meta: meta("bad"),
        ..PlayRequest::default()
    }))
    .unwrap();
    let e = single(&mut h);
    assert_eq!(e.event, OperationEventType::PlayFailed);
    assert_eq!(
        (e.result_information.code, e.result_information.sub_code),
        (400, 8536)
    );
    assert_eq!(e.details.failed_play_source_index, Some(1));
    assert_eq!(e.meta, meta("bad"));

    h.operation(Operation::Play(PlayRequest {
        sources: vec![Err(SourceFailure::InvalidFormat("not a WAV".into()))],
        ..PlayRequest::default()
    }))
    .unwrap();
    let e = single(&mut h);
    assert_eq!(e.result_information.sub_code, 8535);
    assert_eq!(e.details.failed_play_source_index, Some(0));

    // A recognize whose prompt fails: RecognizeFailed 500/8511.
    h.operation(Operation::Recognize(RecognizeRequest {
        prompts: vec![Err(SourceFailure::DownloadFailed("timeout".into()))],
        ..RecognizeRequest::default()
    }))
    .unwrap();
    let e = single(&mut h);
    assert_eq!(e.event, OperationEventType::RecognizeFailed);
    assert_eq!(
        (e.result_information.code, e.result_information.sub_code),
        (500, 8511)
    );
}

#[test]
fn looped_play_runs_until_interrupted_by_another_operation() {
    let mut h = raw();
    h.operation(Operation::Play(PlayRequest {
        sources: vec![Ok(prompt(100)), Ok(prompt(60))],
        looped: true,
        meta: meta("loop"),
        ..PlayRequest::default()
    }))
    .unwrap();
    h.operation(play(100, "queued")).unwrap();
    h.run_until(ms(2_000));
    assert_eq!(
        h.take_operation_kinds(),
        vec![OperationEventType::PlayStarted]
    );
    assert!(h.frames() >= 100);
    h.take_log();
    h.operation(Operation::Recognize(RecognizeRequest {
        interrupt_call_media_operation: true,
        options: RecognizeOptions {
            max_tones_to_collect: Some(1),
            ..RecognizeOptions::default()
        },
        meta: meta("r"),
        ..RecognizeRequest::default()
    }))
    .unwrap();
    let log = h.take_log();
    assert_eq!(log[0], Out::Stop);
    assert_eq!(h.take_operation_kinds(), vec![]);
    let canceled = log
        .iter()
        .find_map(|o| match o {
            Out::Operation(e) => Some(e.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(canceled.event, OperationEventType::PlayCanceled);
    assert_eq!(canceled.meta, meta("loop"));
    // The recognize runs now; the queued play after it.
    h.platform_digit('1');
    h.run_until(ms(2_100));
    let kinds = h.take_operation_kinds();
    assert_eq!(
        kinds,
        vec![
            OperationEventType::RecognizeCompleted,
            OperationEventType::PlayStarted,
            OperationEventType::PlayCompleted
        ]
    );
}

#[test]
fn twilio_play_completes_when_the_mark_comes_back() {
    let mut h = harness(Dialect::Twilio, RATE, config());
    h.operation(play(200, "t")).unwrap();
    h.run_until(ms(1_000));
    assert_eq!(
        h.take_operation_kinds(),
        vec![OperationEventType::PlayStarted]
    );
    h.session
        .handle_frame(
            h.now,
            Inbound::Mark {
                name: Cow::Borrowed("play:tonegate-op-1"),
            },
        )
        .unwrap();
    h.drain();
    assert_eq!(
        h.take_operation_kinds(),
        vec![OperationEventType::PlayCompleted]
    );
}
