//! Explicit-time tests of the media operations through the whole session, on the
//! [`testing`](crate::session::testing) harness; one file per behaviour.

mod cancel;
mod continuous;
mod events;
mod hold;
mod play_queue;
mod recognize;
mod send_tones;
mod speech;
mod transcription;

use std::borrow::Cow;
use std::time::Duration;

use super::*;
use crate::api::model::*;
use crate::proto::{self, Dialect, Inbound, StreamFormat};
use crate::session::testing::{Out, TestSession as Harness};
use crate::session::{self, Command, EventKind, Output, Transmit};
use tonegate_dsp::SampleRate;
use tonegate_dsp::codec::Encoding;
use tonegate_dsp::dsp::Digit;
use tonegate_dsp::dsp::tone::render_digits;

const RATE: SampleRate = SampleRate::HZ_8000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config() -> session::Config {
    session::Config {
        // Platform digits are reported at once (no wait for an in-band match).
        platform_hold: Duration::ZERO,
        ..session::Config::default()
    }
}

fn harness(dialect: Dialect, rate: SampleRate, config: session::Config) -> Harness {
    let format = StreamFormat {
        encoding: Encoding::S16le,
        rate,
    };
    Harness::new(dialect, format, config)
}

/// A raw session at 8 kHz that reports platform digits at once.
fn raw() -> Harness {
    harness(Dialect::Raw, RATE, config())
}

fn meta(context: &str) -> OperationMeta {
    OperationMeta {
        operation_context: Some(context.into()),
        callback_uri: Some(format!("https://app/{context}")),
    }
}

fn prompt(millis: usize) -> Prompt {
    Prompt::from_samples(vec![0.1; millis * 8], RATE)
}

fn recognize(options: RecognizeOptions) -> Operation {
    Operation::Recognize(RecognizeRequest {
        prompts: Vec::new(),
        interrupt_call_media_operation: false,
        options,
        meta: meta("r1"),
    })
}

fn recognize_with_prompt(options: RecognizeOptions, millis: usize) -> Operation {
    Operation::Recognize(RecognizeRequest {
        prompts: vec![Ok(prompt(millis))],
        interrupt_call_media_operation: false,
        options,
        meta: meta("r1"),
    })
}

fn play(millis: usize, context: &str) -> Operation {
    Operation::Play(PlayRequest {
        sources: vec![Ok(prompt(millis))],
        meta: meta(context),
        ..PlayRequest::default()
    })
}

fn tones(names: &[&str]) -> Vec<Tone> {
    names.iter().map(|n| n.parse().unwrap()).collect()
}

fn single(h: &mut Harness) -> OperationEvent {
    let mut events = h.take_operation_events();
    assert_eq!(events.len(), 1, "{events:?}");
    events.pop().unwrap().1
}

/// 20 ms frames of two ACS participants; `a` and `b` press keys at the given times.
fn unmixed_audio(h: &mut Harness, until_ms: u64, a: &[(u64, char)], b: &[(u64, char)]) {
    let rate = SampleRate::HZ_16000;
    let render = |keys: &[(u64, char)]| {
        let mut samples = vec![0.0f32; (until_ms * 16) as usize];
        for &(at, c) in keys {
            let cadence = tonegate_dsp::dsp::tone::Cadence {
                on: ms(100),
                off: ms(0),
                level_dbm0: -10.0,
            };
            let tone = render_digits(&[Digit::from_char(c).unwrap()], cadence, rate).unwrap();
            let start = (at * 16) as usize;
            samples[start..start + tone.len()].copy_from_slice(&tone);
        }
        samples
    };
    let (sa, sb) = (render(a), render(b));
    let mut bytes = vec![0u8; 640];
    let start_frame = (h.now.as_millis() / 20) as usize;
    for frame in start_frame..(until_ms / 20) as usize {
        let now = ms(frame as u64 * 20 + 20);
        h.run_until(now);
        for (id, s) in [("4:+1555000001", &sa), ("4:+1555000002", &sb)] {
            Encoding::S16le
                .encode(&s[frame * 320..frame * 320 + 320], &mut bytes)
                .unwrap();
            h.session
                .handle_frame(
                    now,
                    Inbound::Audio(proto::Audio {
                        participant: Some(Cow::Borrowed(id)),
                        payload: &bytes,
                        timestamp_ms: None,
                        sequence: None,
                    }),
                )
                .unwrap();
            h.drain();
        }
    }
}
