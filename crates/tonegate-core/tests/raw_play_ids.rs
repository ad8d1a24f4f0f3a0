//! A raw client's `play` and `sendDigits` are reported to the client whatever id it
//! picks: an id that looks like one tonegate gives its own media-operation audio
//! (`tonegate-op-1`) must not be mistaken for operation audio.

use std::sync::Arc;
use std::time::Duration;

use tonegate_core::player::Prompt;
use tonegate_core::proto::{Dialect, Inbound, Start, StreamFormat};
use tonegate_core::session::{Command, Config, EventKind, Output, Session};
use tonegate_dsp::SampleRate;
use tonegate_dsp::codec::Encoding;
use tonegate_dsp::dsp::Digit;

/// The client's play events for `command`, run on a raw session until it is quiet.
fn play_events(command: Command) -> Vec<EventKind> {
    let mut session = Session::new(
        Config::default(),
        Dialect::Raw,
        Some("c".into()),
        "x".into(),
    );
    let format = StreamFormat {
        encoding: Encoding::S16le,
        rate: SampleRate::HZ_8000,
    };
    let start = Start {
        call_id: None,
        stream_id: None,
        callback_uri: None,
        format,
    };
    session
        .handle_frame(Duration::ZERO, Inbound::Start(start))
        .unwrap();
    session.handle_command(Duration::ZERO, command).unwrap();
    let mut seen = Vec::new();
    let mut now = Duration::ZERO;
    // Both items last well under 4 s; run the clock 10 s, frame by frame.
    while now < Duration::from_secs(10) {
        loop {
            match session.poll_output() {
                Output::Event(e) => {
                    if let kind @ (EventKind::PlayStarted { .. }
                    | EventKind::PlayCompleted { .. }
                    | EventKind::PlayCanceled { .. }) = e.kind
                    {
                        seen.push(kind);
                    }
                }
                Output::Transmit(_) => {}
                Output::Timeout(_) => break,
            }
        }
        now += Duration::from_millis(20);
        session.handle_timeout(now);
    }
    seen
}

fn started_and_completed(id: &str) -> Vec<EventKind> {
    let id: Arc<str> = Arc::from(id);
    vec![
        EventKind::PlayStarted { id: id.clone() },
        EventKind::PlayCompleted { id },
    ]
}

fn send_digits(id: &str) -> Command {
    Command::SendDigits {
        id: id.to_owned(),
        digits: vec![Digit::from_char('1').unwrap()],
    }
}

fn play(id: &str) -> Command {
    Command::Play {
        id: id.to_owned(),
        prompt: Prompt::from_samples(vec![0.1; 4_000], SampleRate::HZ_8000),
        looped: false,
    }
}

#[test]
fn send_digits_reports_start_and_completion_for_any_id() {
    for id in ["d1", "tonegate-op-1"] {
        assert_eq!(
            play_events(send_digits(id)),
            started_and_completed(id),
            "{id}"
        );
    }
}

#[test]
fn play_reports_start_and_completion_for_any_id() {
    for id in ["p1", "tonegate-op-1", "tonegate-op-"] {
        assert_eq!(play_events(play(id)), started_and_completed(id), "{id}");
    }
}
