//! Operation tests: recognize: timers, stop tones, prompts and barge-in, DTMF buffering, target participants.

use super::*;

#[test]
fn initial_silence_timeout_fails_with_8510() {
    let mut h = raw();
    h.operation(recognize(RecognizeOptions::default())).unwrap();
    h.run_until(ms(4_999));
    assert!(h.take_operation_events().is_empty());
    h.run_until(ms(5_000));
    let e = single(&mut h);
    assert_eq!(e.event, OperationEventType::RecognizeFailed);
    assert_eq!(
        (e.result_information.code, e.result_information.sub_code),
        (400, 8510)
    );
    assert_eq!(e.meta, meta("r1"));
    assert!(matches!(h.session.poll_output(), Output::Timeout(None)));
}

#[test]
fn inter_tone_timeout_completes_with_the_tones_so_far() {
    let mut h = raw();
    h.operation(recognize(RecognizeOptions {
        inter_tone_timeout: ms(3_000),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    h.run_until(ms(4_000));
    h.platform_digit('1');
    h.run_until(ms(6_000));
    h.platform_digit('#');
    h.run_until(ms(8_999));
    assert!(h.take_operation_events().is_empty());
    h.run_until(ms(9_000));
    let e = single(&mut h);
    assert_eq!(e.event, OperationEventType::RecognizeCompleted);
    assert_eq!(
        (e.result_information.code, e.result_information.sub_code),
        (400, 8532)
    );
    assert_eq!(e.details.recognition_type, Some(RecognitionType::Dtmf));
    assert_eq!(
        e.details.dtmf_result.unwrap().tones,
        tones(&["one", "pound"])
    );
}

#[test]
fn inter_tone_timeout_without_tones_is_the_initial_silence_failure() {
    // Without any tone, only the initial timeout can fire (8510); 8532 never fails
    // without tones.
    let mut h = raw();
    h.operation(recognize(RecognizeOptions {
        initial_silence_timeout: ms(1_000),
        inter_tone_timeout: ms(5_000),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    h.run_until(ms(1_000));
    let e = single(&mut h);
    assert_eq!(e.event, OperationEventType::RecognizeFailed);
    assert_eq!(e.result_information.sub_code, 8510);
    assert!(e.details.dtmf_result.is_none());
}

#[test]
fn max_tones_completes_with_8531() {
    let mut h = raw();
    h.operation(recognize(RecognizeOptions {
        max_tones_to_collect: Some(3),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    for c in ['4', '2'] {
        h.run_until(h.now + ms(500));
        h.platform_digit(c);
    }
    assert!(h.take_operation_events().is_empty());
    h.platform_digit('7');
    let e = single(&mut h);
    assert_eq!(e.event, OperationEventType::RecognizeCompleted);
    assert_eq!(
        (e.result_information.code, e.result_information.sub_code),
        (200, 8531)
    );
    assert_eq!(
        e.details.dtmf_result.unwrap().tones,
        tones(&["four", "two", "seven"])
    );
    // Nothing is left running: the next key is buffered, not reported.
    h.platform_digit('9');
    assert!(h.take_operation_events().is_empty());
    assert_eq!(h.session.ops.buffered(), 1);
}

#[test]
fn stop_tone_completes_with_8514_and_is_not_in_the_result() {
    let mut h = raw();
    h.operation(recognize(RecognizeOptions {
        stop_tones: tones(&["pound", "asterisk"]),
        max_tones_to_collect: Some(10),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    h.platform_digit('1');
    h.platform_digit('2');
    h.platform_digit('*');
    let e = single(&mut h);
    assert_eq!(
        (e.result_information.code, e.result_information.sub_code),
        (200, 8514)
    );
    assert_eq!(e.details.dtmf_result.unwrap().tones, tones(&["one", "two"]));
}

#[test]
fn timers_start_when_the_prompt_has_played() {
    let mut h = raw();
    h.operation(recognize_with_prompt(
        RecognizeOptions {
            initial_silence_timeout: ms(2_000),
            ..RecognizeOptions::default()
        },
        1_000,
    ))
    .unwrap();
    h.run_until(ms(2_500));
    let events = h.take_operation_events();
    let kinds: Vec<_> = events.iter().map(|(_, e)| e.event).collect();
    assert_eq!(
        kinds,
        vec![
            OperationEventType::PlayStarted,
            OperationEventType::PlayCompleted
        ]
    );
    // Completed when the last frame has played (1 s), not when it was sent.
    assert_eq!(events[1].0, ms(1_000));
    assert_eq!(events[1].1.meta, meta("r1"));
    assert_eq!(h.frames(), 50);
    h.run_until(ms(2_999));
    assert!(h.take_operation_events().is_empty());
    h.run_until(ms(3_000));
    assert_eq!(single(&mut h).result_information.sub_code, 8510);
}

#[test]
fn keys_during_an_uninterruptible_prompt_are_collected_and_timers_wait() {
    let mut h = raw();
    h.operation(recognize_with_prompt(
        RecognizeOptions {
            max_tones_to_collect: Some(5),
            ..RecognizeOptions::default()
        },
        1_000,
    ))
    .unwrap();
    h.run_until(ms(300));
    h.platform_digit('5');
    h.run_until(ms(1_000));
    // No StopAudio, the prompt played out.
    assert!(!h.take_log().contains(&Out::Stop));
    // Inter-tone timer from the prompt's end: 1 s + 2 s.
    h.run_until(ms(2_999));
    h.take_operation_events();
    h.run_until(ms(3_000));
    let e = single(&mut h);
    assert_eq!(e.result_information.sub_code, 8532);
    assert_eq!(e.details.dtmf_result.unwrap().tones, tones(&["five"]));
}

#[test]
fn interrupt_prompt_sends_stop_audio_at_once_and_starts_the_timers() {
    let mut h = raw();
    h.operation(recognize_with_prompt(
        RecognizeOptions {
            interrupt_prompt: true,
            max_tones_to_collect: Some(4),
            ..RecognizeOptions::default()
        },
        3_000,
    ))
    .unwrap();
    h.run_until(ms(500));
    assert_eq!(
        h.take_operation_kinds(),
        vec![OperationEventType::PlayStarted]
    );
    h.take_log();
    h.platform_digit('3');
    // StopAudio goes out in the same drain as the key, before anything else.
    assert_eq!(h.take_log(), vec![Out::Stop]);
    // No more prompt audio.
    h.run_until(ms(1_000));
    assert_eq!(h.frames(), 0);
    // Inter-tone timeout from the key: 0.5 s + 2 s.
    h.run_until(ms(2_499));
    assert!(h.take_operation_events().is_empty());
    h.run_until(ms(2_500));
    let e = single(&mut h);
    assert_eq!(e.event, OperationEventType::RecognizeCompleted);
    assert_eq!(e.result_information.sub_code, 8532);
    assert_eq!(e.details.dtmf_result.unwrap().tones, tones(&["three"]));
}

#[test]
fn buffered_digits_feed_the_next_recognize() {
    let mut h = raw();
    h.platform_digit('1');
    h.platform_digit('2');
    h.platform_digit('3');
    assert_eq!(h.session.ops.buffered(), 3);
    h.operation(recognize(RecognizeOptions {
        max_tones_to_collect: Some(2),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    let e = single(&mut h);
    assert_eq!(e.result_information.sub_code, 8531);
    assert_eq!(e.details.dtmf_result.unwrap().tones, tones(&["one", "two"]));
    // The rest of the buffer is dropped with the completed recognize.
    assert_eq!(h.session.ops.buffered(), 0);
}

#[test]
fn buffered_stop_tone_completes_at_once_and_skips_the_prompt() {
    let mut h = raw();
    h.platform_digit('4');
    h.platform_digit('#');
    h.operation(recognize_with_prompt(
        RecognizeOptions {
            stop_tones: vec![Tone::Pound],
            ..RecognizeOptions::default()
        },
        2_000,
    ))
    .unwrap();
    let e = single(&mut h);
    assert_eq!(e.result_information.sub_code, 8514);
    assert_eq!(e.details.dtmf_result.unwrap().tones, vec![Tone::Four]);
    h.run_until(ms(3_000));
    assert_eq!(h.frames(), 0, "the prompt never plays");
    assert!(!h.take_log().contains(&Out::Stop));
}

#[test]
fn buffered_key_interrupts_an_interruptible_prompt_before_it_plays() {
    let mut h = raw();
    h.platform_digit('7');
    h.operation(recognize_with_prompt(
        RecognizeOptions {
            interrupt_prompt: true,
            max_tones_to_collect: Some(2),
            ..RecognizeOptions::default()
        },
        2_000,
    ))
    .unwrap();
    h.run_until(ms(1_000));
    assert_eq!(h.frames(), 0);
    h.platform_digit('8');
    let e = single(&mut h);
    assert_eq!(
        e.details.dtmf_result.unwrap().tones,
        tones(&["seven", "eight"])
    );
}

#[test]
fn digits_typed_during_a_play_feed_the_recognize_queued_behind_it() {
    let mut h = raw();
    h.operation(play(1_000, "p")).unwrap();
    h.operation(recognize(RecognizeOptions {
        max_tones_to_collect: Some(2),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    h.run_until(ms(400));
    h.platform_digit('9');
    h.run_until(ms(1_000));
    let kinds = h.take_operation_kinds();
    assert_eq!(
        kinds,
        vec![
            OperationEventType::PlayStarted,
            OperationEventType::PlayCompleted
        ]
    );
    h.platform_digit('0');
    let e = single(&mut h);
    assert_eq!(
        e.details.dtmf_result.unwrap().tones,
        tones(&["nine", "zero"])
    );
}

#[test]
fn buffering_off_per_request_or_by_config_discards_earlier_digits() {
    let mut h = raw();
    h.platform_digit('1');
    h.operation(recognize(RecognizeOptions {
        max_tones_to_collect: Some(1),
        dtmf_buffering: Some(false),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    assert!(h.take_operation_events().is_empty());
    assert_eq!(h.session.ops.buffered(), 0);
    h.platform_digit('2');
    assert_eq!(
        single(&mut h).details.dtmf_result.unwrap().tones,
        vec![Tone::Two]
    );

    let mut config = config();
    config.operations.dtmf_buffer = 0;
    let mut h = harness(Dialect::Raw, RATE, config);
    h.platform_digit('1');
    assert_eq!(h.session.ops.buffered(), 0);
    h.operation(recognize(RecognizeOptions {
        max_tones_to_collect: Some(1),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    assert!(h.take_operation_events().is_empty());
}

#[test]
fn buffer_is_bounded() {
    let mut config = config();
    config.operations.dtmf_buffer = 3;
    let mut h = harness(Dialect::Raw, RATE, config);
    for c in ['1', '2', '3', '4', '5'] {
        h.platform_digit(c);
    }
    h.operation(recognize(RecognizeOptions {
        initial_silence_timeout: ms(1_000),
        inter_tone_timeout: ms(1_000),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    h.run_until(ms(1_000));
    assert_eq!(
        single(&mut h).details.dtmf_result.unwrap().tones,
        tones(&["one", "two", "three"])
    );
}

#[test]
fn target_participant_is_honoured_on_unmixed_acs_streams() {
    let mut h = harness(Dialect::Acs, SampleRate::HZ_16000, config());
    h.operation(recognize(RecognizeOptions {
        target_participant: Some("4:+1555000001".into()),
        max_tones_to_collect: Some(2),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    unmixed_audio(
        &mut h,
        2_000,
        &[(600, '1'), (1_000, '2')],
        &[(200, '9'), (800, '8')],
    );
    let e = single(&mut h);
    assert_eq!(e.result_information.sub_code, 8531);
    assert_eq!(e.details.dtmf_result.unwrap().tones, tones(&["one", "two"]));
}

#[test]
fn invalid_recognize_options_are_refused() {
    let mut h = raw();
    for (options, field) in [
        (
            RecognizeOptions {
                inter_tone_timeout: ms(500),
                ..RecognizeOptions::default()
            },
            "interToneTimeoutInSeconds",
        ),
        (
            RecognizeOptions {
                initial_silence_timeout: Duration::from_secs(301),
                ..RecognizeOptions::default()
            },
            "initialSilenceTimeoutInSeconds",
        ),
        (
            RecognizeOptions {
                max_tones_to_collect: Some(0),
                ..RecognizeOptions::default()
            },
            "maxTonesToCollect",
        ),
    ] {
        assert_eq!(
            h.operation(recognize(options)),
            Err(session::Error::InvalidArgument(field))
        );
    }
}
