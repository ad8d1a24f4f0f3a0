//! The connection driven with explicit time: detection, flood control, the idle
//! deadline, the raw request queue and refusals.

use super::*;

const IDLE: Duration = Duration::from_secs(30);

fn config() -> Config {
    Config {
        session: Default::default(),
        budget: budget::Limits {
            max_frames_per_second: 50,
            max_frame_burst: 100,
            max_audio_speed: 4,
            max_audio_burst: Duration::from_secs(1),
        },
        idle_timeout: IDLE,
        max_frame_bytes: 65_536,
        max_pending_requests: 4,
    }
}

/// Accepts every callback URI, or refuses them all.
struct Policy {
    accept: bool,
}

impl Host for Policy {
    type Refusal = &'static str;
    fn check_callback(&mut self, uri: &str) -> Result<String, &'static str> {
        if self.accept {
            Ok(uri.to_owned())
        } else {
            Err("callbackUri is not allowed")
        }
    }
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn raw(now: Duration) -> Connection {
    Connection::new(config(), Some(Dialect::Raw), None, "1".into(), None, now)
}

const START: &str = r#"{"type":"start","callId":"c1","encoding":"s16le","sampleRate":8000}"#;

fn text(c: &mut Connection, now: Duration, text: &str) {
    c.handle_message(now, Message::Text(text), &mut Policy { accept: true });
}

/// Everything the connection outputs now, up to and with its timeout.
fn drain(c: &mut Connection) -> (Vec<Output>, Option<Duration>) {
    let mut outputs = Vec::new();
    loop {
        match c.poll_output() {
            Output::Timeout(t) => return (outputs, t),
            o => outputs.push(o),
        }
    }
}

fn closes(outputs: &[Output]) -> Vec<Close> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Close(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

fn error_codes(outputs: &[Output]) -> Vec<&'static str> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(Event {
                kind: EventKind::Error { code, .. },
                ..
            }) => Some(*code),
            _ => None,
        })
        .collect()
}

#[test]
fn the_idle_deadline_is_the_peers_last_message_plus_the_timeout() {
    let mut c = raw(ms(0));
    assert_eq!(drain(&mut c).1, Some(IDLE));
    text(&mut c, ms(5_000), START);
    let (_, deadline) = drain(&mut c);
    assert_eq!(deadline, Some(ms(5_000) + IDLE));
    c.handle_timeout(ms(5_000) + IDLE - ms(1));
    assert!(closes(&drain(&mut c).0).is_empty(), "a moment before: open");
    c.handle_timeout(ms(5_000) + IDLE);
    let (outputs, deadline) = drain(&mut c);
    assert_eq!(
        closes(&outputs),
        vec![Close {
            code: 1001,
            reason: "idle timeout".into(),
            cause: Cause::Idle
        }]
    );
    assert!(
        error_codes(&outputs).is_empty(),
        "an idle close is no error event"
    );
    assert_eq!(deadline, None);
}

#[test]
fn a_peer_that_keeps_talking_is_never_idle_however_late_the_timers_run() {
    let mut c = raw(ms(0));
    text(&mut c, ms(0), START);
    // A message every 20 s for ten minutes; the server handles each timer late,
    // just before the next message, and never after a message it has not read.
    for i in 1..=30u64 {
        let (outputs, deadline) = drain(&mut c);
        assert!(closes(&outputs).is_empty(), "message {i}");
        let deadline = deadline.expect("open");
        let late = ms(20_000 * i - 1).min(deadline);
        c.handle_timeout(late);
        text(&mut c, ms(20_000 * i), r#"{"type":"mark","name":"m"}"#);
    }
    let (outputs, deadline) = drain(&mut c);
    assert!(closes(&outputs).is_empty());
    assert_eq!(
        deadline,
        Some(ms(600_000) + IDLE),
        "silence since the last message"
    );
}

#[test]
fn a_late_timer_for_an_earlier_deadline_does_not_close_a_socket_that_heard_from_its_peer() {
    let mut c = raw(ms(0));
    text(&mut c, ms(0), START);
    let (_, first) = drain(&mut c);
    assert_eq!(first, Some(IDLE));
    text(&mut c, ms(29_000), r#"{"type":"mark","name":"m"}"#);
    // The timer armed for the first deadline fires (late); the peer spoke since.
    c.handle_timeout(IDLE + ms(500));
    let (outputs, deadline) = drain(&mut c);
    assert!(closes(&outputs).is_empty());
    assert_eq!(deadline, Some(ms(29_000) + IDLE));
}

#[test]
fn a_socket_that_never_names_its_dialect_is_idle_too() {
    let mut c = Connection::new(config(), None, None, "1".into(), None, ms(100));
    assert_eq!(c.dialect(), None);
    assert_eq!(drain(&mut c).1, Some(ms(100) + IDLE));
    c.handle_timeout(ms(100) + IDLE);
    assert_eq!(closes(&drain(&mut c).0)[0].code, 1001);
}

#[test]
fn messages_beyond_the_burst_and_rate_are_a_flood() {
    let mut c = raw(ms(0));
    text(&mut c, ms(0), START);
    for _ in 1..100 {
        text(&mut c, ms(0), r#"{"type":"mark","name":"m"}"#);
    }
    assert!(
        closes(&drain(&mut c).0).is_empty(),
        "the burst of 100 is allowed"
    );
    text(&mut c, ms(0), r#"{"type":"mark","name":"m"}"#);
    let (outputs, _) = drain(&mut c);
    assert_eq!(error_codes(&outputs), vec!["flood"]);
    let close = &closes(&outputs)[0];
    assert_eq!((close.code, close.cause), (1008, Cause::Refused("flood")));
    assert_eq!(close.reason, "flood: more than 50 frames per second");
}

#[test]
fn messages_at_the_sustained_rate_are_not_a_flood() {
    let mut c = raw(ms(0));
    text(&mut c, ms(0), START);
    let frame = [0u8; 320];
    for i in 1..=3_000u64 {
        c.handle_message(
            ms(20 * i),
            Message::Binary(&frame),
            &mut Policy { accept: true },
        );
        let (outputs, _) = drain(&mut c);
        assert!(closes(&outputs).is_empty(), "frame {i}");
    }
}

#[test]
fn audio_faster_than_the_speed_limit_is_an_audio_flood() {
    let mut c = raw(ms(0));
    text(&mut c, ms(0), START);
    drain(&mut c);
    // 4x real time is allowed after a burst of 1 s: 100 ms of audio every 10 ms is not.
    let frame = [0u8; 1_600];
    let mut closed = None;
    for i in 1..=100u64 {
        c.handle_message(
            ms(10 * i),
            Message::Binary(&frame),
            &mut Policy { accept: true },
        );
        let (outputs, _) = drain(&mut c);
        if let Some(close) = closes(&outputs).pop() {
            closed = Some((i, close, error_codes(&outputs)));
            break;
        }
    }
    let (i, close, errors) = closed.expect("an audio flood");
    assert!(i > 10, "the burst is allowed first (closed at frame {i})");
    assert_eq!(
        (close.code, close.cause),
        (1008, Cause::Refused("audioFlood"))
    );
    assert_eq!(errors, vec!["audioFlood"]);
}

#[test]
fn the_dialect_comes_from_the_first_text_frame() {
    let mut c = Connection::new(config(), None, None, "7-ab".into(), None, ms(0));
    text(
        &mut c,
        ms(0),
        r#"{"type":"start","encoding":"s16le","sampleRate":8000}"#,
    );
    assert_eq!(c.dialect(), Some(Dialect::Raw));
    assert_eq!(
        &*c.call_id(),
        "raw-7-ab",
        "the fallback id names the dialect"
    );
    let (outputs, _) = drain(&mut c);
    assert!(matches!(
        &outputs[0],
        Output::Event(Event {
            kind: EventKind::Started { .. },
            ..
        })
    ));
}

#[test]
fn a_first_frame_that_names_no_dialect_is_refused() {
    for (message, code, close) in [
        (Message::Binary(&[1, 2]), "unexpectedBinary", 1003),
        (Message::Text("{}"), "unknownDialect", 1007),
    ] {
        let mut c = Connection::new(config(), None, None, "1".into(), None, ms(0));
        c.handle_message(ms(0), message, &mut Policy { accept: true });
        let (outputs, _) = drain(&mut c);
        assert_eq!(error_codes(&outputs), vec![code]);
        assert_eq!(closes(&outputs)[0].code, close);
        assert_eq!(&*c.call_id(), "unknown");
    }
}

#[test]
fn a_start_frames_callback_uri_is_checked_by_shape_then_by_the_host() {
    let start = |uri: &str| {
        format!(r#"{{"type":"start","callbackUri":"{uri}","encoding":"s16le","sampleRate":8000}}"#)
    };
    let mut c = Connection::new(
        config(),
        None,
        None,
        "1".into(),
        Some("http://d/".into()),
        ms(0),
    );
    text(&mut c, ms(0), &start("ftp://x/"));
    let (outputs, _) = drain(&mut c);
    assert_eq!(closes(&outputs)[0].code, 1007);
    assert_eq!(error_codes(&outputs), vec!["badCallbackUri"]);

    let mut c = raw(ms(0));
    c.handle_message(
        ms(0),
        Message::Text(&start("http://x/")),
        &mut Policy { accept: false },
    );
    let (outputs, _) = drain(&mut c);
    assert_eq!(closes(&outputs)[0].code, 1008);
    assert_eq!(error_codes(&outputs), vec!["callbackRefused"]);

    let mut c = Connection::new(
        config(),
        None,
        None,
        "1".into(),
        Some("http://d/".into()),
        ms(0),
    );
    assert_eq!(c.callback_uri(), Some("http://d/"));
    text(&mut c, ms(0), &start("http://x/"));
    assert_eq!(
        c.callback_uri(),
        Some("http://x/"),
        "the start frame's wins"
    );
}

#[test]
fn a_play_loads_its_prompt_and_later_requests_wait_for_it() {
    let mut c = raw(ms(0));
    text(&mut c, ms(0), START);
    drain(&mut c);
    text(&mut c, ms(10), r#"{"type":"play","file":"a.wav"}"#);
    text(&mut c, ms(20), r#"{"type":"mark","name":"after"}"#);
    let (outputs, _) = drain(&mut c);
    let loads: Vec<_> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Load(l) => Some(l.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(loads.len(), 1);
    assert_eq!(loads[0].load.id, "play-1");
    assert_eq!(loads[0].rate, SampleRate::HZ_8000);
    let prompt = Prompt::from_samples(vec![0.1; 800], SampleRate::HZ_8000);
    c.handle_prompt(ms(30), loads[0].load.clone(), Ok(prompt));
    // Drive time until the prompt and the mark queued after it have played.
    let mut seen = Vec::new();
    let mut now = ms(30);
    for _ in 0..100 {
        let (outputs, deadline) = drain(&mut c);
        for o in outputs {
            if let Output::Event(e) = o {
                match e.kind {
                    EventKind::PlayStarted { id } => seen.push(format!("started {id}")),
                    EventKind::PlayCompleted { id } => seen.push(format!("completed {id}")),
                    EventKind::Mark { name } => seen.push(format!("mark {name}")),
                    _ => {}
                }
            }
        }
        // Until the idle timeout closes the socket.
        let Some(deadline) = deadline else { break };
        now = deadline.max(now + ms(1));
        c.handle_timeout(now);
    }
    assert_eq!(seen, ["started play-1", "completed play-1", "mark after"]);
}

#[test]
fn a_prompt_that_cannot_be_loaded_is_an_error_event_and_the_queue_moves_on() {
    let mut c = raw(ms(0));
    text(&mut c, ms(0), START);
    text(
        &mut c,
        ms(0),
        r#"{"type":"play","id":"p","file":"missing.wav"}"#,
    );
    text(&mut c, ms(0), r#"{"type":"sendDigits","digits":"1"}"#);
    let (outputs, _) = drain(&mut c);
    let Some(Output::Load(load)) = outputs.iter().find(|o| matches!(o, Output::Load(_))) else {
        panic!("a load");
    };
    let failure = LoadFailure {
        code: "promptNotFound",
        message: "no such prompt".into(),
    };
    c.handle_prompt(ms(5), load.load.clone(), Err(failure));
    let (outputs, _) = drain(&mut c);
    let messages: Vec<_> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(Event {
                kind: EventKind::Error { code, message },
                ..
            }) => Some((*code, message.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        messages,
        [("promptNotFound", "play p: no such prompt".to_owned())]
    );
    assert!(
        outputs.iter().any(|o| matches!(o, Output::Event(Event { kind: EventKind::PlayStarted { id }, .. }) if &**id == "digits-2")),
        "the digits queued behind the play start"
    );
}

#[test]
fn requests_before_start_are_refused_with_an_error_event_only() {
    let mut c = raw(ms(0));
    text(&mut c, ms(0), r#"{"type":"sendDigits","digits":"1"}"#);
    let (outputs, _) = drain(&mut c);
    assert_eq!(error_codes(&outputs), vec!["notStarted"]);
    assert!(closes(&outputs).is_empty());
}

#[test]
fn too_many_requests_waiting_for_a_prompt_are_a_flood() {
    let mut c = raw(ms(0));
    text(&mut c, ms(0), START);
    text(&mut c, ms(0), r#"{"type":"play","file":"a.wav"}"#);
    for _ in 0..4 {
        text(&mut c, ms(0), r#"{"type":"stop"}"#);
    }
    assert!(closes(&drain(&mut c).0).is_empty(), "4 may wait");
    text(&mut c, ms(0), r#"{"type":"stop"}"#);
    let (outputs, _) = drain(&mut c);
    let close = &closes(&outputs)[0];
    assert_eq!((close.code, close.cause), (1008, Cause::Refused("flood")));
    assert_eq!(close.reason, "more than 4 requests pending");
}

#[test]
fn a_refused_call_drops_its_session_and_a_raw_peer_hears_why() {
    let mut c = raw(ms(0));
    text(&mut c, ms(0), START);
    let Output::Event(started) = c.poll_output() else {
        panic!("started first");
    };
    assert!(matches!(started.kind, EventKind::Started { .. }));
    c.refuse_call(ms(0), "duplicateCallId", "this call is already streaming");
    c.finish(true);
    let (outputs, _) = drain(&mut c);
    assert_eq!(error_codes(&outputs), vec!["duplicateCallId"]);
    assert!(
        outputs.iter().all(|o| !matches!(
            o,
            Output::Event(Event {
                kind: EventKind::Ended,
                ..
            })
        )),
        "nothing of the refused session is flushed"
    );
    let Some(Output::Transmit(Transmit::Text(frame))) = outputs.get(1) else {
        panic!("the raw peer gets the error: {outputs:?}");
    };
    assert!(frame.contains(r#""code":"duplicateCallId""#), "{frame}");
    assert_eq!(closes(&outputs)[0].code, 1008);
}

#[test]
fn an_end_frame_closes_in_order_after_the_ended_event() {
    let mut c = raw(ms(0));
    text(&mut c, ms(0), START);
    text(&mut c, ms(10), r#"{"type":"end"}"#);
    let (outputs, _) = drain(&mut c);
    let ended = outputs.iter().position(|o| {
        matches!(
            o,
            Output::Event(Event {
                kind: EventKind::Ended,
                ..
            })
        )
    });
    let close = outputs.iter().position(|o| matches!(o, Output::Close(_)));
    assert!(ended.is_some() && ended < close, "{outputs:?}");
    assert_eq!(closes(&outputs)[0].cause, Cause::Ended);
}

#[test]
fn an_oversize_message_is_refused_with_1009() {
    let mut c = raw(ms(0));
    c.handle_oversize(ms(0));
    let (outputs, _) = drain(&mut c);
    assert_eq!(error_codes(&outputs), vec!["frameTooLarge"]);
    assert_eq!(closes(&outputs)[0].code, 1009);
    assert_eq!(
        closes(&outputs)[0].reason,
        "message exceeds max_frame_bytes (65536)"
    );
}
