//! Operation tests: sendDtmfTones: completion when played, detectable tones.

use super::*;

#[test]
fn send_dtmf_completes_after_the_audio_has_played() {
    let mut h = raw();
    let request = SendDtmfTonesRequest {
        tones: tones(&["one", "two", "pound"]),
        target_participant: Some("4:+1555".into()),
        meta: meta("s"),
    };
    h.operation(Operation::SendDtmfTones(request.clone()))
        .unwrap();
    // 3 x (70 + 70) ms = 420 ms = 21 frames of 20 ms.
    h.run_until(ms(419));
    assert!(h.take_operation_events().is_empty());
    h.run_until(ms(420));
    let e = single(&mut h);
    assert_eq!(e.event, OperationEventType::SendDtmfTonesCompleted);
    assert_eq!(e.meta, meta("s"));
    assert_eq!(h.frames(), 21);

    let too_many = SendDtmfTonesRequest {
        tones: vec![Tone::One; 19],
        ..request
    };
    assert_eq!(
        h.operation(Operation::SendDtmfTones(too_many)),
        Err(session::Error::InvalidArgument("tones"))
    );
}

#[test]
fn sent_tones_are_detectable_dtmf() {
    // The outbound frames hold the digits at the Q.23 cadence: decode them and detect.
    let mut h = raw();
    let mut audio = Vec::new();
    h.session
        .handle_command(
            h.now,
            Command::Operation(Operation::SendDtmfTones(SendDtmfTonesRequest {
                tones: tones(&["five", "asterisk"]),
                ..SendDtmfTonesRequest::default()
            })),
        )
        .unwrap();
    for step in 0..=20 {
        let t = ms(step * 20);
        h.session.handle_timeout(t);
        loop {
            match h.session.poll_output() {
                Output::Timeout(_) => break,
                Output::Transmit(Transmit::Binary(b)) => {
                    let mut f = vec![0.0; b.len() / 2];
                    Encoding::S16le.decode(&b, &mut f).unwrap();
                    audio.extend(f);
                }
                _ => {}
            }
        }
    }
    let mut receiver =
        tonegate_dsp::receiver::Receiver::new(RATE, tonegate_dsp::dsp::dtmf::Config::default())
            .unwrap();
    let mut digits = Vec::new();
    receiver.process(&audio, &mut |e| {
        if let tonegate_dsp::dsp::dtmf::Event::Pressed(k) = e {
            digits.push(k.digit.as_char());
        }
    });
    receiver.flush(&mut |e| {
        if let tonegate_dsp::dsp::dtmf::Event::Pressed(k) = e {
            digits.push(k.digit.as_char());
        }
    });
    assert_eq!(digits, vec!['5', '*']);
}
