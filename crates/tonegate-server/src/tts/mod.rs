//! Text to speech: `TextSource` and `SsmlSource` play sources (of `play`, `recognize`
//! prompts and `hold` music) and a raw `play` with `text` or `ssml`, turned into a
//! [`Prompt`] at the call's rate like any prompt file.
//!
//! The engine ([`Engine`]) is chosen by [`Config::tts_engine`]: espeak-ng run as a
//! separate program (the default; `espeak.rs`), an OpenAI-compatible HTTP service
//! (`http.rs`), or none. Around any engine, [`Tts`] keeps the bounds: at most
//! `tts_max_concurrent` syntheses at once (a request waits up to `tts_timeout_ms` for
//! its turn, then fails as busy), `tts_timeout_ms` for one synthesis (the program is
//! killed), `tts_max_output_bytes` read from it, and `max_prompt_ms` of audio decoded.
//! Synthesised WAVs are cached by engine, voice and input within `tts_cache_bytes`, so
//! a prompt said again is not synthesised again.
//!
//! Prompts can carry a caller's secrets (an account number read back), so no text or
//! SSML is ever logged: log lines name a prompt by its length and a hash keyed per
//! process (it tells two prompts apart within a run, but cannot be reversed offline).

mod engine;
mod espeak;
mod http;
mod ssml;
mod voices;
mod wav;

use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Bytes;
use prometheus::{IntCounter, IntCounterVec};
use tokio::sync::Semaphore;
use tonegate_core::api::model::{Speech, SpeechFailure, SpeechInput};
use tonegate_core::player::{self, Prompt};
use tonegate_dsp::SampleRate;

use super::prompts::ByteCache;
use super::{Config, Metrics, TtsEngine};
use engine::{Engine, EngineError, Job};

/// Outcomes counted by `tonegate_tts_syntheses_total`.
const OUTCOMES: [&str; 2] = ["ok", "failed"];

/// The server's speech engine, its bounds and its cache. See the module docs.
pub(crate) struct Tts {
    engine: Option<Box<dyn Engine>>,
    permits: Semaphore,
    timeout: Duration,
    max_output_bytes: u64,
    max_len: Duration,
    cache: Mutex<ByteCache>,
    /// Keys the hash that names prompts in log lines.
    fingerprint: RandomState,
    syntheses: IntCounterVec,
    cache_hits: IntCounter,
}

impl Tts {
    /// The engine `config` chooses, with its bounds; the error names the setting at
    /// fault. Nothing is run yet: a missing espeak-ng fails prompts, not the start.
    pub(crate) fn new(
        config: &Config,
        client: reqwest::Client,
        metrics: &Metrics,
    ) -> Result<Tts, String> {
        if config.tts_max_concurrent == 0 || config.tts_timeout_ms == 0 {
            return Err("tts_max_concurrent and tts_timeout_ms must be at least 1".to_owned());
        }
        let engine: Option<Box<dyn Engine>> = match config.tts_engine {
            TtsEngine::Espeak => Some(Box::new(espeak::Espeak::new(
                config.tts_espeak_program.clone(),
                config.tts_voice.as_deref(),
            ))),
            TtsEngine::Http => {
                let base_url = config
                    .tts_http_url
                    .clone()
                    .ok_or("tts_engine \"http\" needs tts_http_url")?;
                let settings = http::Settings {
                    base_url,
                    api_key: config.tts_http_api_key.clone(),
                    model: config.tts_http_model.clone(),
                    voices: config.tts_http_voices.clone(),
                    default_voice: config.tts_voice.clone(),
                };
                Some(Box::new(http::Http::new(settings, client)?))
            }
            TtsEngine::Off => None,
        };
        Ok(Tts {
            engine,
            permits: Semaphore::new(config.tts_max_concurrent),
            timeout: Duration::from_millis(config.tts_timeout_ms),
            max_output_bytes: config.tts_max_output_bytes,
            max_len: Duration::from_millis(config.max_prompt_ms),
            cache: Mutex::new(ByteCache::new(config.tts_cache_bytes)),
            fingerprint: RandomState::new(),
            syntheses: metrics.tts_syntheses.clone(),
            cache_hits: metrics.tts_cache_hits.clone(),
        })
    }

    /// `speech` as a prompt at `rate`: from the cache, else synthesised (bounded as the
    /// module docs say) and cached. A failure is logged without the text.
    pub(crate) async fn synthesize(
        &self,
        speech: &Speech,
        rate: SampleRate,
    ) -> Result<Prompt, SpeechFailure> {
        let name = self.name(&speech.input);
        self.speak(speech, rate).await.map_err(|e| {
            tracing::warn!(prompt = %name, "speech not synthesised: {}", e.detail);
            e.public
        })
    }

    async fn speak(&self, speech: &Speech, rate: SampleRate) -> Result<Prompt, EngineError> {
        let Some(engine) = &self.engine else {
            return Err(EngineError::bad_request(
                "no speech engine: text to speech is off (tts_engine)",
                "tts_engine is off",
            ));
        };
        let job = engine.prepare(speech)?;
        let key = cache_key(engine.name(), &job);
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key);
        if let Some(wav) = cached {
            self.cache_hits.inc();
            return self.decode(wav, rate).await;
        }
        let wav = self.run(engine.as_ref(), &job).await;
        self.syntheses
            .with_label_values(&[engine.name(), OUTCOMES[usize::from(wav.is_err())]])
            .inc();
        let wav = wav?;
        let prompt = self.decode(wav.clone(), rate).await?;
        // Only what decodes is kept, so a failure is tried again next time.
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(&key, wav);
        Ok(prompt)
    }

    /// One synthesis of `job`, in its turn and within the timeout.
    async fn run(&self, engine: &dyn Engine, job: &Job) -> Result<Bytes, EngineError> {
        let busy = || EngineError {
            public: SpeechFailure::Busy(format!(
                "more than tts_max_concurrent syntheses waited {} ms",
                self.timeout.as_millis()
            )),
            detail: "no synthesis slot within tts_timeout_ms".to_owned(),
        };
        let _permit = tokio::time::timeout(self.timeout, self.permits.acquire())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        let mut wav =
            tokio::time::timeout(self.timeout, engine.synthesize(job, self.max_output_bytes))
                .await
                .map_err(|_| EngineError {
                    public: SpeechFailure::TimedOut(format!(
                        "synthesis took longer than tts_timeout_ms ({} ms)",
                        self.timeout.as_millis()
                    )),
                    detail: format!("{} timed out", engine.name()),
                })??;
        wav::seal(&mut wav);
        Ok(Bytes::from(wav))
    }

    /// Decodes a synthesised WAV at `rate` on the blocking pool.
    async fn decode(&self, wav: Bytes, rate: SampleRate) -> Result<Prompt, EngineError> {
        let max_len = self.max_len;
        tokio::task::spawn_blocking(move || Prompt::from_wav_within(&wav, rate, max_len))
            .await
            .map_err(|e| EngineError::bad_request("decoding failed", e.to_string()))?
            .map_err(|e| match e {
                player::Error::TooLong { .. } => EngineError::bad_request(
                    "the speech is longer than max_prompt_ms",
                    e.to_string(),
                ),
                e => EngineError::bad_request(
                    "the speech engine's answer is not a WAV file tonegate reads",
                    e.to_string(),
                ),
            })
    }

    /// How log lines name a prompt: its kind, length and keyed hash.
    fn name(&self, input: &SpeechInput) -> String {
        let kind = match input {
            SpeechInput::Text(_) => "text",
            SpeechInput::Ssml(_) => "ssml",
        };
        let text = input.as_str();
        let hash = self.fingerprint.hash_one(text) as u32;
        format!("{kind}:{}chars:{hash:08x}", text.chars().count())
    }
}

/// The cache key of `job` on the engine `engine`.
fn cache_key(engine: &str, job: &Job) -> String {
    let kind = match job.input {
        SpeechInput::Text(_) => 't',
        SpeechInput::Ssml(_) => 's',
    };
    format!(
        "{engine}\u{0}{}\u{0}{kind}\u{0}{}",
        job.voice,
        job.input.as_str()
    )
}
