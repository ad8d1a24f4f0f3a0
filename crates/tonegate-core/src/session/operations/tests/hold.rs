//! Operation tests: hold and unhold: looped music, default music, queueing behind a hold.

use super::*;

#[test]
fn hold_loops_music_until_unhold_and_queues_others() {
    let mut h = raw();
    h.operation(Operation::Hold(HoldRequest {
        target_participant: Some("4:+1555".into()),
        music: Some(Ok(prompt(100))),
        meta: meta("h"),
    }))
    .unwrap();
    h.operation(play(200, "after")).unwrap();
    h.run_until(ms(3_000));
    // Music all along (150 frames), and no play yet.
    assert!(h.frames() >= 150, "{}", h.frames());
    assert!(h.take_operation_events().is_empty());
    // Exclusive operations conflict with the hold.
    let send = Operation::SendDtmfTones(SendDtmfTonesRequest {
        tones: vec![Tone::One],
        ..SendDtmfTonesRequest::default()
    });
    assert_eq!(h.operation(send), Err(session::Error::Conflict));
    h.take_log();
    h.operation(Operation::Unhold(UnholdRequest {
        target_participant: Some("4:+1555".into()),
        meta: OperationMeta::default(),
    }))
    .unwrap();
    let log = h.take_log();
    assert_eq!(log[0], Out::Stop);
    assert!(log.contains(&Out::Operation(OperationEvent::new(
        OperationEventType::PlayStarted,
        &meta("after"),
        ResultInformation::success("Action completed successfully."),
    ))));
    h.run_until(ms(3_200));
    assert_eq!(
        h.take_operation_kinds(),
        vec![OperationEventType::PlayCompleted]
    );
}

#[test]
fn hold_without_music_uses_the_configured_default_or_silence() {
    let mut config = config();
    config.operations.hold_music = Some(prompt(40));
    let mut h = harness(Dialect::Raw, RATE, config);
    h.operation(Operation::Hold(HoldRequest::default()))
        .unwrap();
    h.run_until(ms(1_000));
    assert!(h.frames() >= 50);

    let mut h = raw();
    h.operation(Operation::Hold(HoldRequest::default()))
        .unwrap();
    h.run_until(ms(1_000));
    assert_eq!(h.frames(), 0);
    // A failed music source is HoldFailed.
    h.operation(Operation::Unhold(UnholdRequest::default()))
        .unwrap();
    h.operation(Operation::Hold(HoldRequest {
        music: Some(Err(SourceFailure::DownloadFailed("404".into()))),
        ..HoldRequest::default()
    }))
    .unwrap();
    let e = single(&mut h);
    assert_eq!(e.event, OperationEventType::HoldFailed);
    assert_eq!(e.result_information.sub_code, 8536);
}
