//! Speech input of a recognize: what the session hands a speech recogniser
//! ([`SpeechJob`], polled with [`Session::poll_speech_job`](super::Session::poll_speech_job)),
//! what comes back ([`SpeechOutcome`], given to
//! [`Session::handle_speech_outcome`](super::Session::handle_speech_outcome)), and the
//! [`Listener`] that finds the utterance in the caller's audio.
//!
//! Recognition itself is not here: it is CPU-heavy and runs outside the session (the
//! server runs it on a worker pool), so DTMF keeps its latency. The session only copies
//! the utterance's samples, bounded by [`MAX_UTTERANCE`].

use std::collections::VecDeque;
use std::time::Duration;

use tonegate_dsp::SampleRate;
use tonegate_dsp::dsp::vad;

/// Longest utterance sent for recognition; longer speech is cut here and recognised.
pub const MAX_UTTERANCE: Duration = Duration::from_secs(20);
/// Audio kept before the detected onset (the detector confirms speech after its first
/// syllable started).
const PRE_ROLL: Duration = Duration::from_millis(300);
/// Audio kept after the last voiced block.
const POST_ROLL: Duration = Duration::from_millis(300);

/// What to listen for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grammar {
    /// One of these phrase lists (index = choice index; lower-case words).
    Choices(Vec<Vec<String>>),
    /// Free text.
    FreeText,
}

/// One utterance to recognise.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechJob {
    /// Names the job in [`Session::handle_speech_outcome`](super::Session::handle_speech_outcome).
    pub id: u64,
    /// The caller's audio (16-bit), from shortly before speech started to shortly
    /// after it ended.
    pub samples: Vec<i16>,
    /// Its rate (the stream's).
    pub rate: SampleRate,
    /// What may be said.
    pub grammar: Grammar,
    /// `speechLanguage`, if the request named one.
    pub language: Option<String>,
}

/// What the recogniser made of a [`SpeechJob`].
#[derive(Debug, Clone, PartialEq)]
pub enum SpeechOutcome {
    /// The choice at this index was said.
    Choice {
        /// Index into [`Grammar::Choices`].
        index: usize,
        /// The phrase heard.
        phrase: String,
        /// 0 to 1.
        confidence: f64,
    },
    /// Free text was heard (empty: nothing recognisable).
    Text {
        /// The words.
        text: String,
        /// 0 to 1.
        confidence: f64,
    },
    /// Speech was heard but matched none of the choices.
    NoMatch,
    /// Every recogniser slot is in use; the recognize fails with 503/8583.
    Busy,
    /// The recogniser failed (not installed, crashed); the recognize fails with 500/8564.
    Failed(String),
}

/// What the listener found in one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Heard {
    /// Nothing new.
    Nothing,
    /// Speech started (at this sample position).
    Started(u64),
    /// The utterance is over (silence, or [`MAX_UTTERANCE`] reached): take it.
    Ended,
}

/// Voice activity detection and the utterance's samples for one recognize.
#[derive(Debug)]
pub(crate) struct Listener {
    vad: vad::Detector,
    rate: SampleRate,
    /// Samples kept: before speech, the last [`PRE_ROLL`]; during it, all.
    kept: VecDeque<i16>,
    /// Position of `kept[0]`.
    kept_start: u64,
    pre_roll: usize,
    max: usize,
    ended_at: Option<u64>,
    /// Who is listened to, once heard (ACS unmixed: the first matching participant).
    pub(crate) participant: Option<Option<std::sync::Arc<str>>>,
}

impl Listener {
    pub(crate) fn new(rate: SampleRate, end_silence: Duration) -> Listener {
        let config = vad::Config {
            end_silence,
            ..vad::Config::default()
        };
        // Before onset, the voiced blocks that confirm it are kept on top of the pre-roll.
        let pre_roll = PRE_ROLL + config.onset;
        let samples = |d: Duration| rate.ms_to_samples(d.as_secs_f64() * 1000.0);
        let max = samples(MAX_UTTERANCE + PRE_ROLL);
        Listener {
            vad: vad::Detector::new(config, rate),
            rate,
            kept: VecDeque::with_capacity(samples(pre_roll + end_silence) + 1),
            kept_start: 0,
            pre_roll: samples(pre_roll),
            max,
            ended_at: None,
            participant: None,
        }
    }

    /// Feeds caller samples (full scale 1.0); `tone`: a DTMF tone sounds in them, so
    /// they are not speech.
    pub(crate) fn process(&mut self, samples: &[f32], tone: bool) -> Heard {
        let mut heard = Heard::Nothing;
        let mut ended = None;
        let mut on_event = |e| match e {
            vad::Event::Started(at) => {
                if heard == Heard::Nothing {
                    heard = Heard::Started(at);
                }
            }
            vad::Event::Ended(at) => ended = Some(at),
        };
        if tone {
            self.vad.process_masked(samples, &mut on_event);
        } else {
            self.vad.process(samples, &mut on_event);
        }
        for &s in samples {
            self.kept
                .push_back((s.clamp(-1.0, 1.0) * 32_767.0).round() as i16);
        }
        if !self.vad.is_speaking() && ended.is_none() && self.ended_at.is_none() {
            let excess = self.kept.len().saturating_sub(self.pre_roll);
            if matches!(heard, Heard::Nothing) {
                self.kept.drain(..excess);
                self.kept_start += excess as u64;
            }
        }
        if let Some(at) = ended {
            self.ended_at = Some(at);
            return Heard::Ended;
        }
        if self.vad.is_speaking() && self.kept.len() >= self.max {
            self.ended_at = Some(self.vad.position());
            return Heard::Ended;
        }
        heard
    }

    /// The utterance, as [`Listener::take`] gives it, with the position of its first
    /// sample; the listener then listens for the next utterance (live transcription),
    /// keeping its noise floor.
    pub(crate) fn take_and_listen_on(&mut self) -> (u64, Vec<i16>) {
        let start = self.kept_start;
        let samples = self.take();
        self.kept_start = self.vad.position();
        self.ended_at = None;
        (start, samples)
    }

    /// The utterance's samples, from [`PRE_ROLL`] before its onset to [`POST_ROLL`]
    /// after its end.
    pub(crate) fn take(&mut self) -> Vec<i16> {
        let end = self.ended_at.unwrap_or(self.vad.position());
        let post = self.rate.ms_to_samples(POST_ROLL.as_secs_f64() * 1000.0) as u64;
        let keep = (end + post).saturating_sub(self.kept_start) as usize;
        let mut samples: Vec<i16> = self.kept.drain(..).collect();
        samples.truncate(keep.min(self.max));
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voice(ms: u32) -> Vec<f32> {
        let n = SampleRate::HZ_8000.ms_to_samples(f64::from(ms));
        let mut phase = 0.0f32;
        (0..n)
            .map(|i| {
                let t = i as f32 / 8_000.0;
                phase += 2.0 * std::f32::consts::PI * (130.0 + 40.0 * (t * 4.0).sin()) / 8_000.0;
                (1..6)
                    .map(|h| (phase * h as f32).sin() / h as f32)
                    .sum::<f32>()
                    * 0.05
            })
            .collect()
    }

    #[test]
    fn the_utterance_is_cut_with_its_margins_and_nothing_older() {
        let rate = SampleRate::HZ_8000;
        let mut l = Listener::new(rate, Duration::from_millis(500));
        let mut events = Vec::new();
        let audio = [vec![0.0; 16_000], voice(1_000), vec![0.0; 8_000]].concat();
        for chunk in audio.chunks(160) {
            match l.process(chunk, false) {
                Heard::Nothing => {}
                e => events.push(e),
            }
        }
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(matches!(events[0], Heard::Started(at) if (15_900..=16_100).contains(&at)));
        assert_eq!(events[1], Heard::Ended);
        let samples = l.take();
        // 300 ms before, 1 s of voice, 300 ms after (to within a block).
        let ms = samples.len() as f64 / 8.0;
        assert!((ms - 1_600.0).abs() <= 20.0, "{ms} ms");
    }
}
