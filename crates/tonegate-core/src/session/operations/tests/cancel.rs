//! Operation tests: cancelAllMediaOperations, a raw stop and the stream end: what is canceled and how.

use super::*;

#[test]
fn cancel_all_stops_audio_and_cancels_running_and_queued_operations() {
    let mut h = raw();
    h.operation(play(1_000, "p1")).unwrap();
    h.operation(recognize(RecognizeOptions::default())).unwrap();
    h.operation(Operation::SendDtmfTones(SendDtmfTonesRequest {
        tones: vec![Tone::One],
        meta: meta("s"),
        ..SendDtmfTonesRequest::default()
    }))
    .unwrap();
    h.run_until(ms(300));
    assert_eq!(
        h.take_operation_kinds(),
        vec![OperationEventType::PlayStarted]
    );
    h.take_log();
    h.operation(Operation::CancelAll).unwrap();
    let log = h.take_log();
    assert_eq!(log[0], Out::Stop);
    let kinds: Vec<_> = log
        .iter()
        .filter_map(|o| match o {
            Out::Operation(e) => Some((e.event, e.result_information.sub_code)),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (OperationEventType::PlayCanceled, 8508),
            (OperationEventType::RecognizeCanceled, 8508),
            (OperationEventType::SendDtmfTonesFailed, 8508),
        ]
    );
    h.run_until(ms(10_000));
    assert!(h.take_operation_events().is_empty());
    assert_eq!(h.frames(), 0);
}

#[test]
fn cancel_all_cancels_a_recognize_waiting_for_keys() {
    let mut h = raw();
    h.operation(recognize(RecognizeOptions::default())).unwrap();
    h.platform_digit('1');
    h.operation(Operation::CancelAll).unwrap();
    let e = single(&mut h);
    assert_eq!(e.event, OperationEventType::RecognizeCanceled);
    assert_eq!(
        (e.result_information.code, e.result_information.sub_code),
        (400, 8508)
    );
    h.run_until(ms(10_000));
    assert!(h.take_operation_events().is_empty());
}

#[test]
fn raw_stop_cancels_the_running_play() {
    let mut h = raw();
    h.operation(play(1_000, "p")).unwrap();
    h.run_until(ms(200));
    h.take_operation_events();
    h.session.handle_command(h.now, Command::Stop).unwrap();
    h.drain();
    assert_eq!(
        h.take_operation_kinds(),
        vec![OperationEventType::PlayCanceled]
    );
}

#[test]
fn stream_end_cancels_what_is_left() {
    let mut h = raw();
    h.operation(play(1_000, "p")).unwrap();
    h.operation(recognize(RecognizeOptions::default())).unwrap();
    h.run_until(ms(100));
    h.take_operation_events();
    h.session.finish();
    h.drain();
    assert_eq!(
        h.take_operation_kinds(),
        vec![
            OperationEventType::PlayCanceled,
            OperationEventType::RecognizeCanceled
        ]
    );
    assert_eq!(h.operation(play(100, "late")), Err(session::Error::Ended));
}
