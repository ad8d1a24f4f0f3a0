//! Speech recognition for `choices`, `speech` and `speechOrDtmf` recognizes.
//!
//! The session finds the utterance (voice activity detection on the audio timeline) and
//! hands it out as a [`SpeechJob`]; [`Recognizer::recognize`] runs it through an
//! [`Engine`] on tokio's blocking thread pool, never on a socket's task, so DTMF keeps
//! its latency while speech is recognised. At most [`Config::max_recognitions`] run at
//! once; an utterance that finds no free slot gets [`SpeechOutcome::Busy`] (the
//! recognize fails with 503/8583) rather than waiting behind others.
//!
//! # Plugging in another engine
//! Implement [`Engine`]: it gets 16 kHz mono samples and what may be said
//! ([`Grammar`]), blocks until it has an answer, and returns a [`Recognition`] or an
//! [`Error`]. An HTTP speech-to-text service fits the same shape (post the samples as
//! WAV, map its JSON to a [`Recognition`]; choices can be matched against the
//! transcript with [`match_choice`]).

mod pocketsphinx;

use std::sync::Arc;

use tokio::sync::Semaphore;
use tonegate_core::session::speech::{Grammar, SpeechJob, SpeechOutcome};
use tonegate_dsp::SampleRate;

use super::config::{Config, SpeechRecognizer};
pub use pocketsphinx::Pocketsphinx;

/// The rate engines get their samples at.
pub const ENGINE_RATE: SampleRate = SampleRate::HZ_16000;

/// One utterance for an [`Engine`].
#[derive(Debug)]
pub struct Utterance<'a> {
    /// Mono samples at [`ENGINE_RATE`].
    pub samples: &'a [i16],
    /// What may be said.
    pub grammar: &'a Grammar,
    /// BCP 47 language the request named, if any.
    pub language: Option<&'a str>,
}

/// What an [`Engine`] heard.
#[derive(Debug, Clone, PartialEq)]
pub enum Recognition {
    /// The choice at this index of [`Grammar::Choices`].
    Choice {
        /// Index of the choice.
        index: usize,
        /// Its phrase that was heard.
        phrase: String,
        /// 0 to 1.
        confidence: f64,
    },
    /// Free text (empty: nothing recognisable).
    Text {
        /// The words, lower case.
        text: String,
        /// 0 to 1.
        confidence: f64,
        /// Each word with its time in the utterance (empty if the engine gives none).
        words: Vec<Word>,
    },
    /// Speech that matched no choice.
    NoMatch,
}

/// A word of a [`Recognition::Text`] and where it was said.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// The word, lower case.
    pub text: String,
    /// From the utterance's first sample.
    pub offset: std::time::Duration,
    /// How long it lasted.
    pub duration: std::time::Duration,
}

/// Why an [`Engine`] gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The language is not one the engine has a model for.
    #[error("speechLanguage {0:?} is not supported (the recogniser has a US English model)")]
    Language(String),
    /// The engine could not run or failed.
    #[error("{0}")]
    Failed(String),
}

/// A speech recogniser. Blocking: [`Recognizer`] calls it on a worker thread.
pub trait Engine: Send + Sync + 'static {
    /// Recognises one utterance.
    fn recognize(&self, utterance: &Utterance<'_>) -> Result<Recognition, Error>;
}

/// The server's recogniser: an engine and its slots.
pub(crate) struct Recognizer {
    engine: Arc<dyn Engine>,
    slots: Arc<Semaphore>,
}

impl Recognizer {
    /// The recogniser the settings ask for, or why there is none (the reason speech
    /// recognizes are refused with).
    pub(crate) fn from_config(config: &Config) -> Result<Recognizer, String> {
        match config.speech_recognizer {
            SpeechRecognizer::Off => Err("speech_recognizer is off".to_owned()),
            SpeechRecognizer::Pocketsphinx => {
                let engine = Pocketsphinx::new(
                    &config.pocketsphinx_program,
                    &config.pocketsphinx_model_dir,
                )?;
                Ok(Recognizer::new(Arc::new(engine), config.max_recognitions))
            }
        }
    }

    /// A recogniser running `engine`, at most `slots` utterances at once.
    pub(crate) fn new(engine: Arc<dyn Engine>, slots: usize) -> Recognizer {
        Recognizer {
            engine,
            slots: Arc::new(Semaphore::new(slots)),
        }
    }

    /// Recognises a job's utterance on the blocking pool.
    pub(crate) async fn recognize(&self, job: SpeechJob) -> SpeechOutcome {
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            return SpeechOutcome::Busy;
        };
        let engine = self.engine.clone();
        let run = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let samples = to_engine_rate(&job.samples, job.rate);
            let utterance = Utterance {
                samples: &samples,
                grammar: &job.grammar,
                language: job.language.as_deref(),
            };
            engine.recognize(&utterance)
        });
        match run.await {
            Ok(Ok(Recognition::Choice {
                index,
                phrase,
                confidence,
            })) => SpeechOutcome::Choice {
                index,
                phrase,
                confidence,
            },
            Ok(Ok(Recognition::Text {
                text, confidence, ..
            })) => SpeechOutcome::Text { text, confidence },
            Ok(Ok(Recognition::NoMatch)) => SpeechOutcome::NoMatch,
            Ok(Err(e)) => SpeechOutcome::Failed(e.to_string()),
            Err(_) => SpeechOutcome::Failed("the recogniser's worker stopped".to_owned()),
        }
    }

    /// Transcribes one utterance of a live transcription with the free-text grammar on
    /// the blocking pool. Unlike [`Recognizer::recognize`] it waits for a slot: a
    /// transcript is not interactive, and each call's transcription sends one
    /// utterance at a time, so the wait is bounded by the number of calls.
    pub(crate) async fn transcribe(
        &self,
        samples: Vec<i16>,
        rate: SampleRate,
        language: String,
    ) -> Result<Recognition, Error> {
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Failed("the recogniser is shutting down".to_owned()))?;
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let samples = to_engine_rate(&samples, rate);
            let utterance = Utterance {
                samples: &samples,
                grammar: &Grammar::FreeText,
                language: Some(&language),
            };
            engine.recognize(&utterance)
        })
        .await
        .map_err(|_| Error::Failed("the recogniser's worker stopped".to_owned()))?
    }
}

/// The samples at [`ENGINE_RATE`]. Audio from a narrower band (8 kHz calls) gets a
/// faint noise floor in the band it lacks: wideband models such as pocketsphinx's
/// US English one read an empty band as a feature no speech has and lose most words
/// (measured: 2 of 10 choices right without it, 10 of 10 with it).
fn to_engine_rate(samples: &[i16], rate: SampleRate) -> Vec<i16> {
    if rate == ENGINE_RATE {
        return samples.to_vec();
    }
    let floats: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32_768.0).collect();
    let mut wide = tonegate_core::player::convert_rate(&floats, rate, ENGINE_RATE);
    if rate.hz() < ENGINE_RATE.hz() {
        add_upper_band_noise(&mut wide);
    }
    wide.into_iter()
        .map(|s| (s.clamp(-1.0, 1.0) * 32_767.0).round() as i16)
        .collect()
}

/// Adds white noise through a second difference (a gentle high-pass: -17 dB at 1 kHz,
/// +6 dB at 4 kHz, +12 dB at 8 kHz relative to its mean), about -48 dBFS RMS.
/// Deterministic, so a recording always gives the same answer.
fn add_upper_band_noise(samples: &mut [f32]) {
    /// Uniform noise in [-1, 1) times this: RMS 0.577 * 0.0028 * sqrt(6) (the second
    /// difference's power gain) = 0.004.
    const SCALE: f32 = 0.002_8;
    let mut state = 0x2545_f491_u32;
    let mut noise = || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    };
    let (mut previous, mut before) = (noise(), noise());
    for s in samples {
        let current = noise();
        *s += SCALE * (current - 2.0 * previous + before);
        before = previous;
        previous = current;
    }
}

/// The choice whose phrase `heard` is (words compared without case and pronunciation
/// variants such as `to(2)`), with that phrase.
pub fn match_choice(choices: &[Vec<String>], heard: &str) -> Option<(usize, String)> {
    let heard = normalise(heard);
    choices.iter().enumerate().find_map(|(index, phrases)| {
        phrases
            .iter()
            .find(|p| normalise(p) == heard)
            .map(|p| (index, p.clone()))
    })
}

/// Lower-case words without pronunciation-variant suffixes, single-spaced.
fn normalise(text: &str) -> String {
    text.split_whitespace()
        .map(|w| w.split('(').next().unwrap_or(w).to_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heard_phrase_maps_back_to_its_choice() {
        let choices = vec![
            vec!["sales".to_owned(), "buy something".to_owned()],
            vec!["support".to_owned()],
        ];
        assert_eq!(
            match_choice(&choices, "BUY something(2)"),
            Some((0, "buy something".to_owned()))
        );
        assert_eq!(
            match_choice(&choices, "support"),
            Some((1, "support".to_owned()))
        );
        assert_eq!(match_choice(&choices, "sales support"), None);
    }

    struct Slow(std::sync::mpsc::Receiver<()>);
    // The receiver is only touched by the one worker that holds the slot.
    struct Gate(std::sync::Mutex<Slow>);

    impl Engine for Gate {
        fn recognize(&self, _: &Utterance<'_>) -> Result<Recognition, Error> {
            let slow = self.0.lock().unwrap();
            let _ = slow.0.recv();
            Ok(Recognition::NoMatch)
        }
    }

    #[tokio::test]
    async fn an_utterance_that_finds_every_slot_taken_is_busy_not_queued() {
        let (tx, rx) = std::sync::mpsc::channel();
        let recognizer = Arc::new(Recognizer::new(
            Arc::new(Gate(std::sync::Mutex::new(Slow(rx)))),
            1,
        ));
        let job = SpeechJob {
            id: 1,
            samples: vec![0; 1_600],
            rate: ENGINE_RATE,
            grammar: Grammar::FreeText,
            language: None,
        };
        let first = tokio::spawn({
            let recognizer = recognizer.clone();
            let job = job.clone();
            async move { recognizer.recognize(job).await }
        });
        // Wait until the first holds the slot.
        while recognizer.slots.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(recognizer.recognize(job).await, SpeechOutcome::Busy);
        tx.send(()).unwrap();
        assert_eq!(first.await.unwrap(), SpeechOutcome::NoMatch);
    }
}
