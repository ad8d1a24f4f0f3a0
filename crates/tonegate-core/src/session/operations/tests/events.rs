//! Operation tests: the event vocabulary: tone names, event serialisation, event type names.

use super::*;

#[test]
fn tone_names_round_trip() {
    for t in Tone::ALL {
        assert_eq!(t.name().parse::<Tone>(), Ok(t));
        assert_eq!(Tone::from(t.digit()), t);
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            format!("\"{}\"", t.name())
        );
    }
    assert_eq!("#".parse::<Tone>(), Ok(Tone::Pound));
    assert_eq!("*".parse::<Tone>(), Ok(Tone::Asterisk));
    assert_eq!("A".parse::<Tone>(), Ok(Tone::A));
    assert!("ten".parse::<Tone>().is_err());
}

#[test]
fn operation_events_serialise_with_acs_field_names() {
    let mut e = OperationEvent::new(
        OperationEventType::RecognizeCompleted,
        &meta("r1"),
        ResultInformation::new(200, 8514, "Action completed as stop tone was detected."),
    );
    e.details.recognition_type = Some(RecognitionType::Dtmf);
    e.details.dtmf_result = Some(DtmfResult {
        tones: tones(&["one", "two"]),
    });
    let event = session::Event {
        call_id: "c".into(),
        kind: EventKind::Operation(e),
        caused_at: Duration::ZERO,
    };
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "callId": "c",
            "type": "operation",
            "event": "RecognizeCompleted",
            "operationContext": "r1",
            "operationCallbackUri": "https://app/r1",
            "resultInformation": {"code": 200, "subCode": 8514, "message": "Action completed as stop tone was detected."},
            "recognitionType": "dtmf",
            "dtmfResult": {"tones": ["one", "two"]}
        })
    );
}

#[test]
fn every_event_type_listed_once_by_its_wire_name() {
    let all = OperationEventType::ALL;
    for (i, e) in all.iter().enumerate() {
        assert_eq!(all.iter().position(|x| x == e), Some(i), "{e:?} twice");
        assert_eq!(serde_json::to_value(e).unwrap(), e.name());
    }
}
