//! Raw framing: a raw session frames every event it reports for its socket; the other
//! dialects' events stay off the wire.

use super::*;
use crate::proto::Parser;
use tonegate_dsp::dsp::Digit;

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn feed(session: &mut Session, parser: &Parser, now: Duration, text: &str) {
    let mut payload = Vec::new();
    let frame = parser
        .parse_text(text, &mut payload)
        .expect("a valid frame");
    let frame = match frame {
        Inbound::Request(request) => match request::map(request, 1) {
            request::Mapped::Command(command) => {
                session.handle_command(now, command).expect("accepted");
                return;
            }
            request::Mapped::Load(load) => panic!("no prompts here: {load:?}"),
        },
        frame => frame,
    };
    session.handle_frame(now, frame).expect("accepted");
}

/// Drives a raw call through every kind of event a session reports and returns its
/// outputs in order.
fn raw_call(dialect: Dialect) -> Vec<Output> {
    let parser = Parser::new(Dialect::Raw);
    let mut session = Session::new(Config::default(), dialect, None, "f".into());
    let mut outputs = Vec::new();
    let mut now = ms(0);
    let step = |session: &mut Session, outputs: &mut Vec<Output>, until: Duration| {
        loop {
            match session.poll_output() {
                Output::Timeout(Some(t)) if t <= until => session.handle_timeout(t),
                Output::Timeout(_) => break,
                o => outputs.push(o),
            }
        }
        session.handle_timeout(until);
        loop {
            match session.poll_output() {
                Output::Timeout(_) => break,
                o => outputs.push(o),
            }
        }
    };
    for (text, after) in [
        (
            r#"{"type":"start","callId":"c","encoding":"s16le","sampleRate":8000}"#,
            0,
        ),
        (r#"{"type":"sendDigits","id":"d","digits":"1"}"#, 1_000),
        (r#"{"type":"mark","name":"m"}"#, 1_000),
        (r#"{"type":"sendDigits","id":"x","digits":"123456"}"#, 100),
        (r#"{"type":"stop"}"#, 10),
        (r#"{"type":"dtmf","digit":"5"}"#, 1_000),
        (r#"{"type":"recognize","initialSilenceMs":500}"#, 1_000),
        (r#"{"type":"bogus"}"#, 10),
        (r#"{"type":"end"}"#, 0),
    ] {
        feed(&mut session, &parser, now, text);
        now += ms(after);
        step(&mut session, &mut outputs, now);
    }
    outputs
}

#[test]
fn a_raw_session_frames_every_event_right_after_it() {
    let outputs = raw_call(Dialect::Raw);
    let mut kinds = Vec::new();
    for (i, output) in outputs.iter().enumerate() {
        let Output::Event(event) = output else {
            continue;
        };
        kinds.push(event.kind.name());
        let Some(Output::Transmit(Transmit::Text(frame))) = outputs.get(i + 1) else {
            panic!("event {i} ({}) has no frame after it", event.kind.name());
        };
        assert_eq!(frame, &proto::raw::event(event));
        let json: serde_json::Value = serde_json::from_str(frame).unwrap();
        assert_eq!(json["type"], event.kind.name());
        assert_eq!(json["callId"], "c");
    }
    for kind in [
        "started",
        "playStarted",
        "playCompleted",
        "mark",
        "playCanceled",
        "dtmf",
        "operation",
        "error",
        "ended",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert!(
        outputs.iter().any(
            |o| matches!(o, Output::Transmit(Transmit::Text(t)) if t == r#"{"type":"stopAudio"}"#)
        ),
        "a stop tells the raw client to drop its audio"
    );
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::Transmit(Transmit::Binary(_))))
    );
}

#[test]
fn other_dialects_keep_their_events_off_the_socket() {
    // The same requests on an ACS session (parsed as raw here, as the API would send
    // them): events, but no text frame that is an event.
    let outputs = raw_call(Dialect::Acs);
    assert!(outputs.iter().any(|o| matches!(o, Output::Event(_))));
    for output in &outputs {
        if let Output::Transmit(Transmit::Text(t)) = output {
            assert!(!t.contains(r#""callId""#), "{t}");
        }
    }
}

#[test]
fn every_event_kind_is_named_as_it_serialises() {
    let digit = Digit::from_char('5').unwrap();
    let kinds = [
        EventKind::Started {
            dialect: "raw",
            encoding: "ulaw",
            sample_rate: 8_000,
            stream_id: None,
        },
        EventKind::Dtmf(DigitEvent {
            digit,
            sequence_id: 1,
            participant: None,
            start_ms: 0.0,
            detected_ms: 40.0,
            level_dbm0: Some(-10.0),
            source: Seen::Inband,
        }),
        EventKind::DtmfEnd {
            digit,
            sequence_id: 1,
            end_ms: 100.0,
            source: Seen::Both,
        },
        EventKind::PlayStarted { id: "p".into() },
        EventKind::PlayCompleted { id: "p".into() },
        EventKind::PlayCanceled { id: "p".into() },
        EventKind::Mark { name: "m".into() },
        EventKind::Error {
            code: "c",
            message: "m".to_owned(),
        },
        EventKind::Ended,
    ];
    for kind in kinds {
        let event = Event {
            call_id: "c".into(),
            kind,
            caused_at: Duration::ZERO,
        };
        let json: serde_json::Value = serde_json::from_str(&proto::raw::event(&event)).unwrap();
        assert_eq!(json["type"], event.kind.name(), "{json}");
    }
}
