//! Outbound audio: the player, 20 ms framing paced against the clock with a lead,
//! stopping (barge-in), and reporting items once they have played.

use std::collections::VecDeque;
use std::time::Duration;

use super::operations::Audio;
use super::{EventKind, Output, Session, Transmit};
use crate::player::{self, OperationId, Owner, Player, Prompt};
use crate::proto::{self, Dialect};
use tonegate_dsp::SampleRate;
use tonegate_dsp::codec::Encoding;

/// An event due when outbound audio has played.
#[derive(Debug, Clone)]
pub(super) enum Due {
    /// Report this event.
    Event(EventKind),
    /// Tell the operations engine its audio `id` has played.
    Operation(OperationId),
}

/// Outbound state that exists once the format is known.
pub(super) struct Outbound {
    pub(super) player: Player,
    pub(super) encoding: Encoding,
    pub(super) frame_len: usize,
    pub(super) samples: Vec<f32>,
    pub(super) bytes: Vec<u8>,
    /// When the first frame since the outbound clock was last reset plays.
    pub(super) epoch: Duration,
    /// Frames sent since `epoch`.
    pub(super) frames: u64,
    /// PlayCompleted / Mark events due when their audio has played (ACS, raw).
    pub(super) scheduled: VecDeque<(Duration, Due)>,
    /// Twilio marks sent and not yet echoed: (wire name, event when echoed).
    pub(super) awaiting_marks: VecDeque<(String, Due)>,
}

impl Outbound {
    /// Restarts the outbound clock at `now` (or where the last frame ends, if later)
    /// when nothing is queued, so new audio is paced from when it arrives.
    pub(super) fn restart_if_idle(&mut self, rate: SampleRate, now: Duration) {
        if self.player.is_idle() {
            self.epoch = self.frame_time(rate, self.frames).max(now);
            self.frames = 0;
        }
    }

    pub(super) fn frame_time(&self, rate: SampleRate, frames: u64) -> Duration {
        let samples = frames * self.frame_len as u64;
        self.epoch + Duration::from_secs_f64(samples as f64 / f64::from(rate.hz()))
    }
}

impl Session {
    /// Queues operation audio; audio that cannot be made counts as canceled.
    pub(super) fn enqueue_operation_audio(&mut self, id: OperationId, audio: Audio, looped: bool) {
        match self.play_source(audio) {
            Ok(source) => self.enqueue(Owner::Operation(id), source, looped),
            Err(_) => self.ops.on_audio_canceled(self.now, id),
        }
    }

    /// The player item for `audio`: a prompt converted to the stream rate, or tones at
    /// [`Config::cadence`](super::Config::cadence). The one way client and operation audio
    /// are made.
    pub(super) fn play_source(&self, audio: Audio) -> Result<player::Source, player::Error> {
        let rate = self.rate();
        Ok(match audio {
            Audio::Prompt(p) if p.rate() == rate => player::Source::Prompt(p),
            Audio::Prompt(p) => player::Source::Prompt(Prompt::from_samples(
                player::convert_rate(p.samples(), p.rate(), rate),
                rate,
            )),
            Audio::Tones(digits) => player::Source::digits(&digits, self.config.cadence, rate)?,
        })
    }

    /// Queues a player item of `owner`, restarting the outbound clock if the player was
    /// idle.
    pub(super) fn enqueue(&mut self, owner: Owner, source: player::Source, looped: bool) {
        let (rate, now) = (self.rate(), self.now);
        if let Some(out) = self.outbound.as_mut() {
            out.restart_if_idle(rate, now);
            out.player.enqueue(owner, source, looped);
        }
    }

    pub(super) fn handle_mark_echo(&mut self, name: &str) {
        let Some(out) = self.outbound.as_mut() else {
            return;
        };
        if let Some(i) = out.awaiting_marks.iter().position(|(n, _)| n == name) {
            // Marks come back in order; anything before this one has played too.
            let done: Vec<_> = out.awaiting_marks.drain(..=i).map(|(_, k)| k).collect();
            for due in done {
                self.handle_due(due);
            }
        }
    }

    pub(super) fn stop_outbound(&mut self) {
        let Some(out) = self.outbound.as_mut() else {
            return;
        };
        let mut events = Vec::new();
        out.player.clear(&mut |e| events.push(e));
        let mut kinds: Vec<Due> = Vec::new();
        for (_, due) in out.scheduled.drain(..).chain(
            out.awaiting_marks
                .drain(..)
                .map(|(_, k)| (Duration::ZERO, k)),
        ) {
            kinds.push(match due {
                Due::Event(EventKind::PlayCompleted { id }) => {
                    Due::Event(EventKind::PlayCanceled { id })
                }
                other => other,
            });
        }
        out.epoch = self.now;
        out.frames = 0;
        let stop = match self.dialect {
            Dialect::Acs => proto::acs::stop_audio(),
            Dialect::Twilio => proto::twilio::clear(self.stream_id.as_deref().unwrap_or("")),
            Dialect::Raw => proto::raw::stop_audio(),
        };
        self.outputs
            .push_back(Output::Transmit(Transmit::Text(stop)));
        for due in kinds {
            match due {
                Due::Event(kind) => self.emit(kind),
                Due::Operation(id) => {
                    self.ops.on_audio_canceled(self.now, id);
                }
            }
        }
        for e in events {
            self.handle_player_event(e, Duration::ZERO);
        }
        self.apply_ops();
    }

    /// Reports an event whose audio has played.
    pub(super) fn handle_due(&mut self, due: Due) {
        match due {
            Due::Event(kind) => self.emit(kind),
            Due::Operation(id) => {
                self.ops.on_audio_played(self.now, id);
                self.apply_ops();
            }
        }
    }

    pub(super) fn handle_player_event(&mut self, event: player::Event, frame_at: Duration) {
        let rate = self.rate();
        let at = |offset: usize| {
            frame_at + Duration::from_secs_f64(offset as f64 / f64::from(rate.hz()))
        };
        let twilio = self.dialect == Dialect::Twilio;
        match event {
            player::Event::Started {
                owner: Owner::Operation(id),
            } => {
                self.ops.on_audio_started(id);
                self.apply_ops();
            }
            player::Event::Canceled {
                owner: Owner::Operation(id),
            } => {
                self.ops.on_audio_canceled(self.now, id);
                self.apply_ops();
            }
            player::Event::Finished {
                owner: Owner::Operation(id),
                offset,
            } => {
                let due = Due::Operation(id);
                self.after_played(twilio, format!("play:{id}"), due, at(offset));
            }
            player::Event::Started {
                owner: Owner::Client(id),
            } => self.emit(EventKind::PlayStarted { id }),
            player::Event::Canceled {
                owner: Owner::Client(id),
            } => self.emit(EventKind::PlayCanceled { id }),
            player::Event::Finished {
                owner: Owner::Client(id),
                offset,
            } => {
                let kind = Due::Event(EventKind::PlayCompleted { id: id.clone() });
                self.after_played(twilio, format!("play:{id}"), kind, at(offset));
            }
            player::Event::Mark { name, offset } => {
                let kind = EventKind::Mark { name: name.clone() };
                if frame_at == Duration::ZERO {
                    // Dropped by a stop: report at once.
                    self.emit(kind);
                } else {
                    let due = Due::Event(kind);
                    self.after_played(twilio, format!("mark:{name}"), due, at(offset));
                }
            }
        }
    }

    pub(super) fn after_played(
        &mut self,
        twilio: bool,
        wire_name: String,
        kind: Due,
        due: Duration,
    ) {
        let stream_sid = self.stream_id.clone().unwrap_or_default();
        let Some(out) = self.outbound.as_mut() else {
            return;
        };
        if twilio {
            self.outputs
                .push_back(Output::Transmit(Transmit::Text(proto::twilio::mark(
                    &stream_sid,
                    &wire_name,
                ))));
            out.awaiting_marks.push_back((wire_name, kind));
        } else {
            out.scheduled.push_back((due, kind));
        }
    }

    /// Sends the outbound frames due within the lead, reports events whose audio has
    /// played.
    pub(super) fn send_due_audio(&mut self) {
        let now = self.now;
        let Some(format) = self.format else {
            return;
        };
        let lead = self.config.lead;
        loop {
            let Some(out) = self.outbound.as_mut() else {
                return;
            };
            if out.player.is_idle() {
                break;
            }
            let frame_at = out.frame_time(format.rate, out.frames);
            if frame_at > now + lead {
                break;
            }
            let mut events = Vec::new();
            let written = out.player.fill(&mut out.samples, &mut |e| events.push(e));
            if written == 0 {
                // Only marks were left: report them, send no frame of silence.
                for e in events {
                    self.handle_player_event(e, frame_at.max(Duration::from_nanos(1)));
                }
                continue;
            }
            let n = out
                .encoding
                .encode(&out.samples, &mut out.bytes)
                .unwrap_or(0);
            out.frames += 1;
            if let Some(tap) = self.features.as_mut() {
                tap.push_outbound(out.frame_time(format.rate, out.frames), &out.samples);
            }
            let transmit = match self.dialect {
                Dialect::Acs => Transmit::Text(proto::acs::audio_frame(&out.bytes[..n])),
                Dialect::Twilio => Transmit::Text(proto::twilio::media(
                    self.stream_id.as_deref().unwrap_or(""),
                    &out.bytes[..n],
                )),
                Dialect::Raw => Transmit::Binary(proto::raw::audio_frame(&out.bytes[..n])),
            };
            // Started precedes the frame; completions follow it.
            let (before, after): (Vec<_>, Vec<_>) = events
                .into_iter()
                .partition(|e| matches!(e, player::Event::Started { .. }));
            for e in before {
                self.handle_player_event(e, frame_at);
            }
            self.outputs.push_back(Output::Transmit(transmit));
            for e in after {
                self.handle_player_event(e, frame_at.max(Duration::from_nanos(1)));
            }
        }
        if let Some(out) = self.outbound.as_mut() {
            let mut due = Vec::new();
            while let Some((t, _)) = out.scheduled.front() {
                if *t <= now {
                    due.push(out.scheduled.pop_front().expect("front exists").1);
                } else {
                    break;
                }
            }
            for kind in due {
                self.handle_due(kind);
            }
        }
    }
}
