//! A sans-IO test harness for one [`Session`], in the shape of str0m's `TestRtc`: feed
//! frames, commands and platform digits at the harness clock, move the clock (firing
//! every deadline on the way), and read what came out, each output stamped with the
//! time it came out at. Outbound raw audio frames decode back to samples, so a test can
//! check what was sent sample by sample.
//!
//! Built with the `test-util` feature (and for this crate's own tests).
//!
//! ```
//! use std::time::Duration;
//! use tonegate_core::proto::{Dialect, StreamFormat};
//! use tonegate_core::session::{Command, Config, testing::TestSession};
//! use tonegate_dsp::{SampleRate, codec::Encoding, dsp::Digit};
//!
//! let format = StreamFormat { encoding: Encoding::S16le, rate: SampleRate::HZ_8000 };
//! let mut t = TestSession::new(Dialect::Raw, format, Config::default());
//! let digits = vec![Digit::from_char('5').unwrap()];
//! t.command(Command::SendDigits { id: "d".into(), digits }).unwrap();
//! t.run_until(Duration::from_secs(1));
//! // 70 ms of tone and 70 ms of pause: seven 20 ms frames.
//! assert_eq!(t.frames(), 7);
//! ```

use std::borrow::Cow;
use std::time::Duration;

use super::{Command, Config, Error, Event, EventKind, Output, Session, Transmit};
use crate::api::model::{Operation, OperationEvent, OperationEventType};
use crate::proto::{self, Dialect, Inbound, StreamFormat};
use tonegate_dsp::dsp::Digit;

/// One thing the session put out.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// A media-operation event.
    Operation(OperationEvent),
    /// Any other event (`started`, `dtmf`, `playCompleted`, ...).
    Event(EventKind),
    /// StopAudio (ACS), `clear` (Twilio) or `stopAudio` (raw) went out.
    Stop,
    /// One outbound frame: audio, or (Twilio) a mark.
    Frame(Transmit),
}

/// A [`Session`] with a clock and a log of its outputs. See the module docs.
pub struct TestSession {
    /// The session (drive it directly for what the harness does not wrap; call
    /// [`TestSession::drain`] after).
    pub session: Session,
    /// The harness clock: the time inputs are given at.
    pub now: Duration,
    format: StreamFormat,
    deadline: Option<Duration>,
    log: Vec<(Duration, Out)>,
}

impl TestSession {
    /// A session of `dialect` for call `call`, started at time zero with `format` (stream
    /// id `s`). The start's own outputs are in the log.
    pub fn new(dialect: Dialect, format: StreamFormat, config: Config) -> TestSession {
        let mut session = Session::new(config, dialect, Some("call".into()), "x".into());
        let start = proto::Start {
            call_id: None,
            stream_id: Some("s".into()),
            callback_uri: None,
            format,
        };
        session
            .handle_frame(Duration::ZERO, Inbound::Start(start))
            .expect("a first start frame is accepted");
        let mut t = TestSession {
            session,
            now: Duration::ZERO,
            format,
            deadline: None,
            log: Vec::new(),
        };
        t.drain();
        t
    }

    /// Polls the session until it has nothing more, logging each output at
    /// [`TestSession::now`].
    pub fn drain(&mut self) {
        loop {
            let out = match self.session.poll_output() {
                Output::Timeout(t) => {
                    self.deadline = t;
                    return;
                }
                Output::Transmit(Transmit::Text(t)) if is_stop(&t) => Out::Stop,
                // A raw session's events framed for its socket: the events themselves are
                // logged as they come out.
                Output::Transmit(Transmit::Text(t)) if t.starts_with(r#"{"callId""#) => continue,
                Output::Transmit(t) => Out::Frame(t),
                Output::Event(Event {
                    kind: EventKind::Operation(e),
                    ..
                }) => Out::Operation(e),
                Output::Event(e) => Out::Event(e.kind),
            };
            self.log.push((self.now, out));
        }
    }

    /// Moves the clock to `t`, firing every deadline up to and including it at its own
    /// time.
    pub fn run_until(&mut self, t: Duration) {
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

    /// Hands the session a command now.
    pub fn command(&mut self, command: Command) -> Result<(), Error> {
        let result = self.session.handle_command(self.now, command);
        self.drain();
        result
    }

    /// Hands the session a media operation now.
    pub fn operation(&mut self, operation: Operation) -> Result<(), Error> {
        self.command(Command::Operation(operation))
    }

    /// A digit the platform reports now (no audio).
    pub fn platform_digit(&mut self, c: char) {
        let digit = Digit::from_char(c).expect("a keypad character");
        self.frame(Inbound::Digit { digit })
            .expect("a digit after the start is accepted");
    }

    /// Hands the session an inbound frame now.
    pub fn frame(&mut self, frame: Inbound<'_>) -> Result<(), Error> {
        let result = self.session.handle_frame(self.now, frame);
        self.drain();
        result
    }

    /// One frame of `samples` (encoded in the stream's encoding) from `participant`
    /// (`None`: the main stream), with the platform's `timestamp_ms` if any, now.
    pub fn audio(
        &mut self,
        participant: Option<&str>,
        timestamp_ms: Option<u64>,
        samples: &[f32],
    ) -> Result<(), Error> {
        let encoding = self.format.encoding;
        let mut payload = vec![0; samples.len() * encoding.bytes_per_sample()];
        let n = encoding
            .encode(samples, &mut payload)
            .expect("the buffer is sized for the samples");
        self.frame(Inbound::Audio(proto::Audio {
            participant: participant.map(Cow::Borrowed),
            payload: &payload[..n],
            timestamp_ms,
            sequence: None,
        }))
    }

    /// Everything logged since the last take, with its time, except plain events.
    pub fn take_log(&mut self) -> Vec<Out> {
        let (log, events): (Vec<_>, Vec<_>) = self
            .log
            .drain(..)
            .partition(|(_, o)| !matches!(o, Out::Event(_)));
        self.log = events;
        log.into_iter().map(|(_, o)| o).collect()
    }

    /// The media-operation events since the last take, with their times.
    pub fn take_operation_events(&mut self) -> Vec<(Duration, OperationEvent)> {
        self.take(|o| match o {
            Out::Operation(e) => Some(e.clone()),
            _ => None,
        })
    }

    /// The media-operation events since the last take, without their times.
    pub fn take_operation_bodies(&mut self) -> Vec<OperationEvent> {
        self.take_operation_events()
            .into_iter()
            .map(|(_, e)| e)
            .collect()
    }

    /// The types of the media-operation events since the last take.
    pub fn take_operation_kinds(&mut self) -> Vec<OperationEventType> {
        self.take_operation_bodies()
            .into_iter()
            .map(|e| e.event)
            .collect()
    }

    /// The other events since the last take, with their times.
    pub fn take_events(&mut self) -> Vec<(Duration, EventKind)> {
        self.take(|o| match o {
            Out::Event(e) => Some(e.clone()),
            _ => None,
        })
    }

    /// The outbound frames since the last take, with the time each was sent.
    pub fn take_frames(&mut self) -> Vec<(Duration, Transmit)> {
        self.take(|o| match o {
            Out::Frame(t) => Some(t.clone()),
            _ => None,
        })
    }

    /// How many outbound frames are in the log.
    pub fn frames(&self) -> usize {
        self.log
            .iter()
            .filter(|(_, o)| matches!(o, Out::Frame(_)))
            .count()
    }

    /// The samples of the outbound raw (binary) audio frames since the last take, in
    /// order, decoded from the stream's encoding.
    pub fn take_sent_audio(&mut self) -> Vec<f32> {
        let encoding = self.format.encoding;
        let mut samples = Vec::new();
        for (_, t) in self.take_frames() {
            if let Transmit::Binary(bytes) = t {
                let start = samples.len();
                samples.resize(start + bytes.len() / encoding.bytes_per_sample(), 0.0);
                encoding
                    .decode(&bytes, &mut samples[start..])
                    .expect("the session sends whole samples");
            }
        }
        samples
    }

    /// Takes the log entries `pick` maps to something, leaving the others.
    fn take<T>(&mut self, mut pick: impl FnMut(&Out) -> Option<T>) -> Vec<(Duration, T)> {
        let mut taken = Vec::new();
        self.log.retain(|(t, o)| match pick(o) {
            Some(x) => {
                taken.push((*t, x));
                false
            }
            None => true,
        });
        taken
    }
}

/// Whether a text frame stops outbound audio (ACS StopAudio, Twilio clear, raw
/// stopAudio).
fn is_stop(text: &str) -> bool {
    text.contains("stopAudio") || text.contains("StopAudio\",") || text.contains("\"clear\"")
}
