//! Inbound audio: one DTMF receiver per participant, gap filling from the platform's
//! timestamps and sequence numbers, and feeding decoded samples to the receivers.

use std::collections::VecDeque;
use std::sync::Arc;

use super::digits::Recent;
use super::{Error, Session};
use crate::proto::{self, Dialect};
use tonegate_dsp::SampleRate;
use tonegate_dsp::receiver::Receiver;

/// One participant heard on the stream (ACS `participantRawID`, Twilio track), with its
/// own receiver and position.
pub(super) struct Participant {
    pub(super) id: Option<Arc<str>>,
    /// `id` in a fixed-size key, which the lookup of each frame's participant compares
    /// first (and, for an id that fits, only).
    key: IdKey,
    /// Inline, not boxed: a frame reaches it without first waiting for a pointer to load
    /// from a cold cache line.
    pub(super) receiver: Receiver,
    /// Call position of this participant's first sample.
    pub(super) offset: u64,
    /// Samples received (including filled gaps).
    pub(super) position: u64,
    pub(super) last_sequence: Option<u64>,
    pub(super) last_frame_len: usize,
}

/// A participant id's presence, length and first [`IdKey::HEAD`] bytes, compared
/// within the participant's record. Looked up by the string alone, each frame would
/// wait on the shared string's cold cache line; an ACS phone-number raw id
/// (`4:+15550100000`) fits the key whole.
#[derive(Clone, Copy, PartialEq, Eq)]
struct IdKey {
    /// Length plus one, 0 for no id.
    len: usize,
    head: [u8; IdKey::HEAD],
}

impl IdKey {
    /// Bytes of the id the key holds.
    const HEAD: usize = 24;

    fn of(id: Option<&str>) -> IdKey {
        let mut head = [0; Self::HEAD];
        let len = id.map_or(0, |id| {
            let bytes = id.as_bytes();
            let n = bytes.len().min(Self::HEAD);
            head[..n].copy_from_slice(&bytes[..n]);
            bytes.len() + 1
        });
        IdKey { len, head }
    }

    /// Whether the key holds the whole id, so equal keys are equal ids.
    fn is_whole(&self) -> bool {
        self.len <= Self::HEAD + 1
    }
}

/// How long after a DTMF tone's estimated release its audio still counts as the tone
/// (the release estimate is a block early at worst).
const TONE_TAIL: std::time::Duration = std::time::Duration::from_millis(20);

impl Session {
    /// Starts loading the state an audio frame works on beyond the session itself into the
    /// cache: each participant's record with its receiver (see `tonegate_dsp::cache`).
    pub fn prefetch(&self) {
        tonegate_dsp::cache::prefetch(&self.participants[..]);
    }

    pub(super) fn participant_index(
        &mut self,
        id: Option<&str>,
        timestamp: Option<u64>,
    ) -> Result<usize, Error> {
        let key = IdKey::of(id);
        let known = (self.participants.iter())
            .position(|p| p.key == key && (key.is_whole() || p.id.as_deref() == id));
        if let Some(i) = known {
            return Ok(i);
        }
        if self.participants.len() >= self.config.max_participants {
            return Err(Error::TooManyParticipants(self.config.max_participants));
        }
        let rate = self.rate();
        let offset = match timestamp {
            Some(ms) if self.participants.is_empty() => {
                // Twilio's first timestamps are a few ms; align streams that start later.
                let s = rate.ms_to_samples(ms as f64) as u64;
                if s < rate.ms_to_samples(self.config.frame.as_secs_f64() * 1000.0) as u64 {
                    0
                } else {
                    s
                }
            }
            Some(ms) => rate.ms_to_samples(ms as f64) as u64,
            // Platforms send one frame per participant per 20 ms round: a new
            // participant's first frame belongs to the round the others' latest frames
            // started.
            None => self
                .participants
                .iter()
                .map(|p| (p.offset + p.position).saturating_sub(p.last_frame_len as u64))
                .max()
                .unwrap_or(0),
        };
        let receiver = Receiver::new(rate, self.config.dtmf.clone())
            .map_err(|_| Error::ReceiverUnavailable)?;
        self.participants.push(Participant {
            id: id.map(Arc::from),
            key,
            receiver,
            offset,
            position: 0,
            last_sequence: None,
            last_frame_len: 0,
        });
        Ok(self.participants.len() - 1)
    }

    pub(super) fn handle_audio(&mut self, audio: proto::Audio<'_>) -> Result<(), Error> {
        let Some(format) = self.format else {
            return Err(Error::NotStarted);
        };
        let sample_size = format.encoding.bytes_per_sample();
        if !audio.payload.len().is_multiple_of(sample_size) {
            return Err(Error::OddByteCount {
                len: audio.payload.len(),
                sample_size,
            });
        }
        let count = audio.payload.len() / sample_size;
        let index = self.participant_index(audio.participant.as_deref(), audio.timestamp_ms)?;
        // Gap filling.
        let rate = format.rate;
        let max_gap = rate.ms_to_samples(self.config.max_gap.as_secs_f64() * 1000.0) as u64;
        let gap = {
            let p = &self.participants[index];
            let here = p.offset + p.position;
            if let Some(ms) = audio.timestamp_ms {
                let target = rate.ms_to_samples(ms as f64) as u64;
                let tolerance = (p.last_frame_len.max(count) as u64) / 2;
                if p.position > 0 && target > here + tolerance {
                    target - here
                } else {
                    0
                }
            } else if let (Some(seq), Some(last)) = (audio.sequence, p.last_sequence) {
                seq.saturating_sub(last + 1) * p.last_frame_len as u64
            } else {
                0
            }
        };
        if gap > 0 {
            self.feed_silence(index, gap.min(max_gap));
        }
        crate::scratch::with_samples(|samples| {
            if samples.len() < count {
                samples.resize(count, 0.0);
            }
            let decoded = format
                .encoding
                .decode(audio.payload, &mut samples[..count])
                .map_err(|_| Error::OddByteCount {
                    len: audio.payload.len(),
                    sample_size,
                })?;
            let p = &mut self.participants[index];
            p.last_sequence = audio.sequence.or(p.last_sequence);
            p.last_frame_len = count;
            self.feed(index, &samples[..decoded]);
            Ok(())
        })
    }

    /// Whether an in-band DTMF tone of participant `index` sounds at or after stream
    /// position `from` (confirmed and not released, or released less than
    /// [`TONE_TAIL`] before it): such audio is a key, not speech.
    fn tone_sounding(recent: &VecDeque<Recent>, index: usize, from: u64, rate: SampleRate) -> bool {
        let tail = rate.ms_to_samples(TONE_TAIL.as_secs_f64() * 1000.0) as f64;
        recent
            .iter()
            .any(|r| r.participant == index && r.end.is_none_or(|end| end + tail >= from as f64))
    }

    pub(super) fn feed_silence(&mut self, index: usize, mut samples: u64) {
        static SILENCE: [f32; 1_024] = [0.0; 1_024];
        while samples > 0 {
            let n = (samples as usize).min(SILENCE.len());
            self.feed(index, &SILENCE[..n]);
            samples -= n as u64;
        }
    }

    /// Runs `samples` through participant `index`'s receiver and the listeners.
    pub(super) fn feed(&mut self, index: usize, samples: &[f32]) {
        let mut events = std::mem::take(&mut self.detector_events);
        events.clear();
        let count = samples.len();
        let p = &mut self.participants[index];
        match &mut self.features {
            None => p.receiver.process(samples, &mut |e| events.push(e)),
            Some(tap) => {
                let (offset, rate) = (
                    p.offset,
                    self.format.map_or(SampleRate::HZ_8000, |f| f.rate),
                );
                p.receiver
                    .process_observed(samples, &mut |e| events.push(e), &mut |block| {
                        tap.push(index, offset, rate, block)
                    });
            }
        }
        p.position += count as u64;
        for event in events.drain(..) {
            self.handle_detector_event(index, event);
        }
        self.detector_events = events;
        let rate = self.rate();
        let p = &self.participants[index];
        let participant = p.id.as_ref();
        let position = p.offset + p.position - count as u64;
        // Asked only by a listener that hears this audio (most frames have none).
        let recent = &self.recent;
        let tone = || Self::tone_sounding(recent, index, position, rate);
        self.ops.on_audio(participant, samples, rate, tone);
        // Twilio's only other track is our own outbound audio.
        if !(self.dialect == Dialect::Twilio && participant.is_some()) {
            let max = self.config.max_participants;
            (self.transcription).on_audio(participant, samples, rate, position, tone, max);
        }
        self.apply_ops();
    }
}
