//! Explicit-time tests of the media operations through the whole [`Session`].

use std::borrow::Cow;
use std::time::Duration;

use super::*;
use crate::proto::{self, Dialect, Inbound, StreamFormat};
use crate::session::{self, Command, EventKind, Output, Session, Transmit};
use tonegate_dsp::SampleRate;
use tonegate_dsp::codec::Encoding;
use tonegate_dsp::dsp::tone::render_digits;

const RATE: SampleRate = SampleRate::HZ_8000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What came out of the session, in order.
#[derive(Debug, Clone, PartialEq)]
enum Out {
    Op(OperationEvent),
    /// StopAudio / clear / raw stopAudio.
    Stop,
    /// One outbound audio frame.
    Frame,
    /// Any other event (dtmf, dtmfEnd, started...).
    Other,
}

struct Harness {
    session: Session,
    now: Duration,
    deadline: Option<Duration>,
    log: Vec<(Duration, Out)>,
}

fn config() -> session::Config {
    session::Config {
        // Platform digits are reported at once (no wait for an in-band match).
        platform_hold: Duration::ZERO,
        ..session::Config::default()
    }
}

impl Harness {
    fn new(dialect: Dialect, rate: SampleRate, config: session::Config) -> Harness {
        let mut session = Session::new(config, dialect, Some("call".into()), "x".into());
        session
            .handle_frame(
                Duration::ZERO,
                Inbound::Start(proto::Start {
                    call_id: None,
                    stream_id: Some("s".into()),
                    callback_uri: None,
                    format: StreamFormat {
                        encoding: Encoding::S16le,
                        rate,
                    },
                }),
            )
            .unwrap();
        let mut h = Harness {
            session,
            now: Duration::ZERO,
            deadline: None,
            log: Vec::new(),
        };
        h.drain();
        h
    }

    fn raw() -> Harness {
        Harness::new(Dialect::Raw, RATE, config())
    }

    fn drain(&mut self) {
        loop {
            match self.session.poll_output() {
                Output::Timeout(t) => {
                    self.deadline = t;
                    return;
                }
                Output::Transmit(Transmit::Binary(_)) => self.log.push((self.now, Out::Frame)),
                // A raw session's events on its socket: the events themselves count.
                Output::Transmit(Transmit::Text(t)) if t.starts_with(r#"{"callId""#) => {}
                Output::Transmit(Transmit::Text(t)) => {
                    let out = if t.contains("stopAudio")
                        || t.contains("StopAudio\",")
                        || t.contains("\"clear\"")
                    {
                        Out::Stop
                    } else {
                        Out::Frame
                    };
                    self.log.push((self.now, out));
                }
                Output::Event(e) => {
                    let out = match e.kind {
                        EventKind::Operation(op) => Out::Op(op),
                        _ => Out::Other,
                    };
                    self.log.push((self.now, out));
                }
            }
        }
    }

    /// Runs timers up to and including `t`.
    fn run_until(&mut self, t: Duration) {
        while let Some(d) = self.deadline {
            if d > t {
                break;
            }
            self.now = self.now.max(d);
            self.session.handle_timeout(self.now);
            self.drain();
            if self.deadline == Some(d) && d <= self.now {
                // A deadline that did not move: step past it.
                break;
            }
        }
        self.now = self.now.max(t);
        self.session.handle_timeout(self.now);
        self.drain();
    }

    fn op(&mut self, op: Operation) -> Result<(), session::Error> {
        let r = self
            .session
            .handle_command(self.now, Command::Operation(op));
        self.drain();
        r
    }

    /// A digit the platform reports (no audio needed).
    fn key(&mut self, c: char) {
        let digit = Digit::from_char(c).unwrap();
        self.session
            .handle_frame(self.now, Inbound::Digit { digit })
            .unwrap();
        self.drain();
    }

    /// Operation events since the last call, with their times.
    fn take_events(&mut self) -> Vec<(Duration, OperationEvent)> {
        let out = self
            .log
            .iter()
            .filter_map(|(t, o)| match o {
                Out::Op(e) => Some((*t, e.clone())),
                _ => None,
            })
            .collect();
        self.log.retain(|(_, o)| !matches!(o, Out::Op(_)));
        out
    }

    fn take_kinds(&mut self) -> Vec<OperationEventType> {
        self.take_events()
            .into_iter()
            .map(|(_, e)| e.event)
            .collect()
    }

    fn take_log(&mut self) -> Vec<Out> {
        self.log
            .drain(..)
            .map(|(_, o)| o)
            .filter(|o| *o != Out::Other)
            .collect()
    }

    fn frames(&self) -> usize {
        self.log.iter().filter(|(_, o)| *o == Out::Frame).count()
    }
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
    let mut events = h.take_events();
    assert_eq!(events.len(), 1, "{events:?}");
    events.pop().unwrap().1
}

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
fn initial_silence_timeout_fails_with_8510() {
    let mut h = Harness::raw();
    h.op(recognize(RecognizeOptions::default())).unwrap();
    h.run_until(ms(4_999));
    assert!(h.take_events().is_empty());
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
    let mut h = Harness::raw();
    h.op(recognize(RecognizeOptions {
        inter_tone_timeout: ms(3_000),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    h.run_until(ms(4_000));
    h.key('1');
    h.run_until(ms(6_000));
    h.key('#');
    h.run_until(ms(8_999));
    assert!(h.take_events().is_empty());
    h.run_until(ms(9_000));
    let e = single(&mut h);
    assert_eq!(e.event, OperationEventType::RecognizeCompleted);
    assert_eq!(
        (e.result_information.code, e.result_information.sub_code),
        (400, 8532)
    );
    assert_eq!(e.recognition_type, Some("dtmf"));
    assert_eq!(e.dtmf_result.unwrap().tones, tones(&["one", "pound"]));
}

#[test]
fn inter_tone_timeout_without_tones_is_the_initial_silence_failure() {
    // Without any tone, only the initial timeout can fire (8510); 8532 never fails
    // without tones.
    let mut h = Harness::raw();
    h.op(recognize(RecognizeOptions {
        initial_silence_timeout: ms(1_000),
        inter_tone_timeout: ms(5_000),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    h.run_until(ms(1_000));
    let e = single(&mut h);
    assert_eq!(e.event, OperationEventType::RecognizeFailed);
    assert_eq!(e.result_information.sub_code, 8510);
    assert!(e.dtmf_result.is_none());
}

#[test]
fn max_tones_completes_with_8531() {
    let mut h = Harness::raw();
    h.op(recognize(RecognizeOptions {
        max_tones_to_collect: Some(3),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    for c in ['4', '2'] {
        h.run_until(h.now + ms(500));
        h.key(c);
    }
    assert!(h.take_events().is_empty());
    h.key('7');
    let e = single(&mut h);
    assert_eq!(e.event, OperationEventType::RecognizeCompleted);
    assert_eq!(
        (e.result_information.code, e.result_information.sub_code),
        (200, 8531)
    );
    assert_eq!(
        e.dtmf_result.unwrap().tones,
        tones(&["four", "two", "seven"])
    );
    // Nothing is left running: the next key is buffered, not reported.
    h.key('9');
    assert!(h.take_events().is_empty());
    assert_eq!(h.session.ops.buffered(), 1);
}

#[test]
fn stop_tone_completes_with_8514_and_is_not_in_the_result() {
    let mut h = Harness::raw();
    h.op(recognize(RecognizeOptions {
        stop_tones: tones(&["pound", "asterisk"]),
        max_tones_to_collect: Some(10),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    h.key('1');
    h.key('2');
    h.key('*');
    let e = single(&mut h);
    assert_eq!(
        (e.result_information.code, e.result_information.sub_code),
        (200, 8514)
    );
    assert_eq!(e.dtmf_result.unwrap().tones, tones(&["one", "two"]));
}

#[test]
fn timers_start_when_the_prompt_has_played() {
    let mut h = Harness::raw();
    h.op(recognize_with_prompt(
        RecognizeOptions {
            initial_silence_timeout: ms(2_000),
            ..RecognizeOptions::default()
        },
        1_000,
    ))
    .unwrap();
    h.run_until(ms(2_500));
    let events = h.take_events();
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
    assert!(h.take_events().is_empty());
    h.run_until(ms(3_000));
    assert_eq!(single(&mut h).result_information.sub_code, 8510);
}

#[test]
fn keys_during_an_uninterruptible_prompt_are_collected_and_timers_wait() {
    let mut h = Harness::raw();
    h.op(recognize_with_prompt(
        RecognizeOptions {
            max_tones_to_collect: Some(5),
            ..RecognizeOptions::default()
        },
        1_000,
    ))
    .unwrap();
    h.run_until(ms(300));
    h.key('5');
    h.run_until(ms(1_000));
    // No StopAudio, the prompt played out.
    assert!(!h.take_log().contains(&Out::Stop));
    // Inter-tone timer from the prompt's end: 1 s + 2 s.
    h.run_until(ms(2_999));
    h.take_events();
    h.run_until(ms(3_000));
    let e = single(&mut h);
    assert_eq!(e.result_information.sub_code, 8532);
    assert_eq!(e.dtmf_result.unwrap().tones, tones(&["five"]));
}

#[test]
fn interrupt_prompt_sends_stop_audio_at_once_and_starts_the_timers() {
    let mut h = Harness::raw();
    h.op(recognize_with_prompt(
        RecognizeOptions {
            interrupt_prompt: true,
            max_tones_to_collect: Some(4),
            ..RecognizeOptions::default()
        },
        3_000,
    ))
    .unwrap();
    h.run_until(ms(500));
    assert_eq!(h.take_kinds(), vec![OperationEventType::PlayStarted]);
    h.take_log();
    h.key('3');
    // StopAudio goes out in the same drain as the key, before anything else.
    assert_eq!(h.take_log(), vec![Out::Stop]);
    // No more prompt audio.
    h.run_until(ms(1_000));
    assert_eq!(h.frames(), 0);
    // Inter-tone timeout from the key: 0.5 s + 2 s.
    h.run_until(ms(2_499));
    assert!(h.take_events().is_empty());
    h.run_until(ms(2_500));
    let e = single(&mut h);
    assert_eq!(e.event, OperationEventType::RecognizeCompleted);
    assert_eq!(e.result_information.sub_code, 8532);
    assert_eq!(e.dtmf_result.unwrap().tones, tones(&["three"]));
}

#[test]
fn buffered_digits_feed_the_next_recognize() {
    let mut h = Harness::raw();
    h.key('1');
    h.key('2');
    h.key('3');
    assert_eq!(h.session.ops.buffered(), 3);
    h.op(recognize(RecognizeOptions {
        max_tones_to_collect: Some(2),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    let e = single(&mut h);
    assert_eq!(e.result_information.sub_code, 8531);
    assert_eq!(e.dtmf_result.unwrap().tones, tones(&["one", "two"]));
    // The rest of the buffer is dropped with the completed recognize.
    assert_eq!(h.session.ops.buffered(), 0);
}

#[test]
fn buffered_stop_tone_completes_at_once_and_skips_the_prompt() {
    let mut h = Harness::raw();
    h.key('4');
    h.key('#');
    h.op(recognize_with_prompt(
        RecognizeOptions {
            stop_tones: vec![Tone::Pound],
            ..RecognizeOptions::default()
        },
        2_000,
    ))
    .unwrap();
    let e = single(&mut h);
    assert_eq!(e.result_information.sub_code, 8514);
    assert_eq!(e.dtmf_result.unwrap().tones, vec![Tone::Four]);
    h.run_until(ms(3_000));
    assert_eq!(h.frames(), 0, "the prompt never plays");
    assert!(!h.take_log().contains(&Out::Stop));
}

#[test]
fn buffered_key_interrupts_an_interruptible_prompt_before_it_plays() {
    let mut h = Harness::raw();
    h.key('7');
    h.op(recognize_with_prompt(
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
    h.key('8');
    let e = single(&mut h);
    assert_eq!(e.dtmf_result.unwrap().tones, tones(&["seven", "eight"]));
}

#[test]
fn digits_typed_during_a_play_feed_the_recognize_queued_behind_it() {
    let mut h = Harness::raw();
    h.op(play(1_000, "p")).unwrap();
    h.op(recognize(RecognizeOptions {
        max_tones_to_collect: Some(2),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    h.run_until(ms(400));
    h.key('9');
    h.run_until(ms(1_000));
    let kinds = h.take_kinds();
    assert_eq!(
        kinds,
        vec![
            OperationEventType::PlayStarted,
            OperationEventType::PlayCompleted
        ]
    );
    h.key('0');
    let e = single(&mut h);
    assert_eq!(e.dtmf_result.unwrap().tones, tones(&["nine", "zero"]));
}

#[test]
fn buffering_off_per_request_or_by_config_discards_earlier_digits() {
    let mut h = Harness::raw();
    h.key('1');
    h.op(recognize(RecognizeOptions {
        max_tones_to_collect: Some(1),
        dtmf_buffering: Some(false),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    assert!(h.take_events().is_empty());
    assert_eq!(h.session.ops.buffered(), 0);
    h.key('2');
    assert_eq!(single(&mut h).dtmf_result.unwrap().tones, vec![Tone::Two]);

    let mut config = config();
    config.operations.dtmf_buffer = 0;
    let mut h = Harness::new(Dialect::Raw, RATE, config);
    h.key('1');
    assert_eq!(h.session.ops.buffered(), 0);
    h.op(recognize(RecognizeOptions {
        max_tones_to_collect: Some(1),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    assert!(h.take_events().is_empty());
}

#[test]
fn buffer_is_bounded() {
    let mut config = config();
    config.operations.dtmf_buffer = 3;
    let mut h = Harness::new(Dialect::Raw, RATE, config);
    for c in ['1', '2', '3', '4', '5'] {
        h.key(c);
    }
    h.op(recognize(RecognizeOptions {
        initial_silence_timeout: ms(1_000),
        inter_tone_timeout: ms(1_000),
        ..RecognizeOptions::default()
    }))
    .unwrap();
    h.run_until(ms(1_000));
    assert_eq!(
        single(&mut h).dtmf_result.unwrap().tones,
        tones(&["one", "two", "three"])
    );
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

#[test]
fn target_participant_is_honoured_on_unmixed_acs_streams() {
    let mut h = Harness::new(Dialect::Acs, SampleRate::HZ_16000, config());
    h.op(recognize(RecognizeOptions {
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
    assert_eq!(e.dtmf_result.unwrap().tones, tones(&["one", "two"]));
}

#[test]
fn continuous_dtmf_numbers_tones_gaplessly_and_reports_stop() {
    let mut h = Harness::raw();
    h.key('1'); // before start: no event, no sequence number used
    let start = ContinuousDtmfRequest {
        target_participant: None,
        meta: meta("c"),
    };
    h.op(Operation::StartContinuousDtmf(start.clone())).unwrap();
    h.key('2');
    h.key('#');
    h.op(Operation::StopContinuousDtmf(start.clone())).unwrap();
    h.key('3');
    h.op(Operation::StartContinuousDtmf(start.clone())).unwrap();
    h.key('*');
    let events: Vec<_> = h.take_events().into_iter().map(|(_, e)| e).collect();
    let summary: Vec<_> = events
        .iter()
        .map(|e| (e.event, e.tone, e.sequence_id))
        .collect();
    use OperationEventType::*;
    assert_eq!(
        summary,
        vec![
            (
                ContinuousDtmfRecognitionToneReceived,
                Some(Tone::Two),
                Some(1)
            ),
            (
                ContinuousDtmfRecognitionToneReceived,
                Some(Tone::Pound),
                Some(2)
            ),
            (ContinuousDtmfRecognitionStopped, None, None),
            (
                ContinuousDtmfRecognitionToneReceived,
                Some(Tone::Asterisk),
                Some(3)
            ),
        ]
    );
    assert!(events.iter().all(|e| e.meta == meta("c")));
    assert_eq!(events[0].result_information.code, 200);
}

#[test]
fn a_lost_stream_fails_running_continuous_recognition_and_an_orderly_end_does_not() {
    let start = |context: &str| {
        Operation::StartContinuousDtmf(ContinuousDtmfRequest {
            target_participant: None,
            meta: meta(context),
        })
    };
    let mut lost = Harness::raw();
    lost.op(start("c")).unwrap();
    lost.key('5');
    lost.session.lose();
    lost.drain();
    let events: Vec<_> = lost.take_events().into_iter().map(|(_, e)| e).collect();
    let kinds: Vec<_> = events.iter().map(|e| e.event).collect();
    use OperationEventType::*;
    assert_eq!(
        kinds,
        vec![
            ContinuousDtmfRecognitionToneReceived,
            ContinuousDtmfRecognitionToneFailed
        ]
    );
    assert_eq!(events[1].meta, meta("c"));
    assert_eq!(
        (
            events[1].result_information.code,
            events[1].result_information.sub_code
        ),
        (500, 9999)
    );

    let mut ended = Harness::raw();
    ended.op(start("c")).unwrap();
    ended.session.finish();
    ended.drain();
    assert!(ended.take_events().is_empty());

    // Stopped before the loss: nothing to fail.
    let mut stopped = Harness::raw();
    stopped.op(start("c")).unwrap();
    stopped
        .op(Operation::StopContinuousDtmf(ContinuousDtmfRequest {
            target_participant: None,
            meta: meta("c"),
        }))
        .unwrap();
    stopped.session.lose();
    stopped.drain();
    let kinds: Vec<_> = stopped
        .take_events()
        .into_iter()
        .map(|(_, e)| e.event)
        .collect();
    assert_eq!(kinds, vec![ContinuousDtmfRecognitionStopped]);
}

#[test]
fn continuous_dtmf_per_target_participant() {
    let mut h = Harness::new(Dialect::Acs, SampleRate::HZ_16000, config());
    h.op(Operation::StartContinuousDtmf(ContinuousDtmfRequest {
        target_participant: Some("4:+1555000002".into()),
        meta: meta("c"),
    }))
    .unwrap();
    unmixed_audio(&mut h, 1_200, &[(200, '1')], &[(600, '6')]);
    let events = h.take_events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1.tone, Some(Tone::Six));
    assert_eq!(events[0].1.participant.as_deref(), Some("4:+1555000002"));
}

#[test]
fn send_dtmf_completes_after_the_audio_has_played() {
    let mut h = Harness::raw();
    let request = SendDtmfTonesRequest {
        tones: tones(&["one", "two", "pound"]),
        target_participant: Some("4:+1555".into()),
        meta: meta("s"),
    };
    h.op(Operation::SendDtmfTones(request.clone())).unwrap();
    // 3 x (70 + 70) ms = 420 ms = 21 frames of 20 ms.
    h.run_until(ms(419));
    assert!(h.take_events().is_empty());
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
        h.op(Operation::SendDtmfTones(too_many)),
        Err(session::Error::InvalidArgument("tones"))
    );
}

#[test]
fn sent_tones_are_detectable_dtmf() {
    // The outbound frames hold the digits at the Q.23 cadence: decode them and detect.
    let mut h = Harness::raw();
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

#[test]
fn hold_loops_music_until_unhold_and_queues_others() {
    let mut h = Harness::raw();
    h.op(Operation::Hold(HoldRequest {
        target_participant: Some("4:+1555".into()),
        music: Some(Ok(prompt(100))),
        meta: meta("h"),
    }))
    .unwrap();
    h.op(play(200, "after")).unwrap();
    h.run_until(ms(3_000));
    // Music all along (150 frames), and no play yet.
    assert!(h.frames() >= 150, "{}", h.frames());
    assert!(h.take_events().is_empty());
    // Exclusive operations conflict with the hold.
    let send = Operation::SendDtmfTones(SendDtmfTonesRequest {
        tones: vec![Tone::One],
        ..SendDtmfTonesRequest::default()
    });
    assert_eq!(h.op(send), Err(session::Error::Conflict));
    h.take_log();
    h.op(Operation::Unhold(UnholdRequest {
        target_participant: Some("4:+1555".into()),
        meta: OperationMeta::default(),
    }))
    .unwrap();
    let log = h.take_log();
    assert_eq!(log[0], Out::Stop);
    assert!(log.contains(&Out::Op(OperationEvent::new(
        OperationEventType::PlayStarted,
        &meta("after"),
        ResultInformation::success("Action completed successfully."),
    ))));
    h.run_until(ms(3_200));
    assert_eq!(h.take_kinds(), vec![OperationEventType::PlayCompleted]);
}

#[test]
fn hold_without_music_uses_the_configured_default_or_silence() {
    let mut config = config();
    config.operations.hold_music = Some(prompt(40));
    let mut h = Harness::new(Dialect::Raw, RATE, config);
    h.op(Operation::Hold(HoldRequest::default())).unwrap();
    h.run_until(ms(1_000));
    assert!(h.frames() >= 50);

    let mut h = Harness::raw();
    h.op(Operation::Hold(HoldRequest::default())).unwrap();
    h.run_until(ms(1_000));
    assert_eq!(h.frames(), 0);
    // A failed music source is HoldFailed.
    h.op(Operation::Unhold(UnholdRequest::default())).unwrap();
    h.op(Operation::Hold(HoldRequest {
        music: Some(Err(SourceFailure::DownloadFailed("404".into()))),
        ..HoldRequest::default()
    }))
    .unwrap();
    let e = single(&mut h);
    assert_eq!(e.event, OperationEventType::HoldFailed);
    assert_eq!(e.result_information.sub_code, 8536);
}

#[test]
fn cancel_all_stops_audio_and_cancels_running_and_queued_operations() {
    let mut h = Harness::raw();
    h.op(play(1_000, "p1")).unwrap();
    h.op(recognize(RecognizeOptions::default())).unwrap();
    h.op(Operation::SendDtmfTones(SendDtmfTonesRequest {
        tones: vec![Tone::One],
        meta: meta("s"),
        ..SendDtmfTonesRequest::default()
    }))
    .unwrap();
    h.run_until(ms(300));
    assert_eq!(h.take_kinds(), vec![OperationEventType::PlayStarted]);
    h.take_log();
    h.op(Operation::CancelAll).unwrap();
    let log = h.take_log();
    assert_eq!(log[0], Out::Stop);
    let kinds: Vec<_> = log
        .iter()
        .filter_map(|o| match o {
            Out::Op(e) => Some((e.event, e.result_information.sub_code)),
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
    assert!(h.take_events().is_empty());
    assert_eq!(h.frames(), 0);
}

#[test]
fn cancel_all_cancels_a_recognize_waiting_for_keys() {
    let mut h = Harness::raw();
    h.op(recognize(RecognizeOptions::default())).unwrap();
    h.key('1');
    h.op(Operation::CancelAll).unwrap();
    let e = single(&mut h);
    assert_eq!(e.event, OperationEventType::RecognizeCanceled);
    assert_eq!(
        (e.result_information.code, e.result_information.sub_code),
        (400, 8508)
    );
    h.run_until(ms(10_000));
    assert!(h.take_events().is_empty());
}

#[test]
fn exclusive_operations_conflict_with_8583() {
    let mut h = Harness::raw();
    let targeted = Operation::Play(PlayRequest {
        sources: vec![Ok(prompt(1_000))],
        play_to: vec!["4:+1555".into()],
        ..PlayRequest::default()
    });
    h.op(targeted.clone()).unwrap();
    let send = Operation::SendDtmfTones(SendDtmfTonesRequest {
        tones: vec![Tone::One],
        ..SendDtmfTonesRequest::default()
    });
    let err = h.op(send.clone()).unwrap_err();
    assert_eq!(err, session::Error::Conflict);
    assert_eq!(err.status(), 412);
    let info = err.result_information();
    assert_eq!((info.code, info.sub_code), (412, 8583));
    assert_eq!(h.op(targeted), Err(session::Error::Conflict));
    assert_eq!(
        h.op(Operation::Hold(HoldRequest::default())),
        Err(session::Error::Conflict)
    );
    // Play to everyone and recognize queue behind it.
    h.op(play(100, "all")).unwrap();
    h.op(recognize(RecognizeOptions::default())).unwrap();
    // Once the targeted play is done, send-DTMF is accepted again.
    h.run_until(ms(1_000));
    h.op(Operation::CancelAll).unwrap();
    h.op(send).unwrap();
}

#[test]
fn plays_queue_and_complete_when_played() {
    let mut h = Harness::raw();
    h.op(play(500, "a")).unwrap();
    h.op(play(300, "b")).unwrap();
    h.run_until(ms(2_000));
    let events: Vec<_> = h
        .take_events()
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
    let mut h = Harness::raw();
    h.op(Operation::Play(PlayRequest {
        sources: vec![Ok(prompt(100)), Ok(prompt(200))],
        meta: meta("seq"),
        ..PlayRequest::default()
    }))
    .unwrap();
    h.run_until(ms(1_000));
    let events = h.take_events();
    assert_eq!(events[1].0, ms(300));
    assert_eq!(h.frames(), 15);

    h.op(Operation::Play(PlayRequest {
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
    assert_eq!(e.failed_play_source_index, Some(1));
    assert_eq!(e.meta, meta("bad"));

    h.op(Operation::Play(PlayRequest {
        sources: vec![Err(SourceFailure::InvalidFormat("not a WAV".into()))],
        ..PlayRequest::default()
    }))
    .unwrap();
    let e = single(&mut h);
    assert_eq!(e.result_information.sub_code, 8535);
    assert_eq!(e.failed_play_source_index, Some(0));

    // A recognize whose prompt fails: RecognizeFailed 500/8511.
    h.op(Operation::Recognize(RecognizeRequest {
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
    let mut h = Harness::raw();
    h.op(Operation::Play(PlayRequest {
        sources: vec![Ok(prompt(100)), Ok(prompt(60))],
        looped: true,
        meta: meta("loop"),
        ..PlayRequest::default()
    }))
    .unwrap();
    h.op(play(100, "queued")).unwrap();
    h.run_until(ms(2_000));
    assert_eq!(h.take_kinds(), vec![OperationEventType::PlayStarted]);
    assert!(h.frames() >= 100);
    h.take_log();
    h.op(Operation::Recognize(RecognizeRequest {
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
    assert_eq!(h.take_kinds(), vec![]);
    let canceled = log
        .iter()
        .find_map(|o| match o {
            Out::Op(e) => Some(e.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(canceled.event, OperationEventType::PlayCanceled);
    assert_eq!(canceled.meta, meta("loop"));
    // The recognize runs now; the queued play after it.
    h.key('1');
    h.run_until(ms(2_100));
    let kinds = h.take_kinds();
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
fn raw_stop_cancels_the_running_play() {
    let mut h = Harness::raw();
    h.op(play(1_000, "p")).unwrap();
    h.run_until(ms(200));
    h.take_events();
    h.session.handle_command(h.now, Command::Stop).unwrap();
    h.drain();
    assert_eq!(h.take_kinds(), vec![OperationEventType::PlayCanceled]);
}

#[test]
fn stream_end_cancels_what_is_left() {
    let mut h = Harness::raw();
    h.op(play(1_000, "p")).unwrap();
    h.op(recognize(RecognizeOptions::default())).unwrap();
    h.run_until(ms(100));
    h.take_events();
    h.session.finish();
    h.drain();
    assert_eq!(
        h.take_kinds(),
        vec![
            OperationEventType::PlayCanceled,
            OperationEventType::RecognizeCanceled
        ]
    );
    assert_eq!(h.op(play(100, "late")), Err(session::Error::Ended));
}

#[test]
fn invalid_recognize_options_are_refused() {
    let mut h = Harness::raw();
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
            h.op(recognize(options)),
            Err(session::Error::InvalidArgument(field))
        );
    }
}

#[test]
fn twilio_play_completes_when_the_mark_comes_back() {
    let mut h = Harness::new(Dialect::Twilio, RATE, config());
    h.op(play(200, "t")).unwrap();
    h.run_until(ms(1_000));
    assert_eq!(h.take_kinds(), vec![OperationEventType::PlayStarted]);
    h.session
        .handle_frame(
            h.now,
            Inbound::Mark {
                name: Cow::Borrowed("play:tonegate-op-1"),
            },
        )
        .unwrap();
    h.drain();
    assert_eq!(h.take_kinds(), vec![OperationEventType::PlayCompleted]);
}

#[test]
fn operation_events_serialise_with_acs_field_names() {
    let mut e = OperationEvent::new(
        OperationEventType::RecognizeCompleted,
        &meta("r1"),
        ResultInformation::new(200, 8514, "Action completed as stop tone was detected."),
    );
    e.recognition_type = Some("dtmf");
    e.dtmf_result = Some(DtmfResult {
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
