//! The speech engine trait: what tonegate asks of any engine, and how an engine fails.

use futures_util::future::BoxFuture;
use tonegate_core::api::model::{Speech, SpeechFailure, SpeechInput};

/// What one engine is asked to say: the voice it resolved and the input it reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Job {
    /// The engine's own voice name.
    pub(crate) voice: String,
    /// Text, or SSML the engine reads (checked and shaped for it).
    pub(crate) input: SpeechInput,
}

/// Why an engine could not speak: the class and message a client sees
/// ([`SpeechFailure`], never the text), and the detail for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub(crate) struct EngineError {
    /// What the client is told.
    pub(crate) public: SpeechFailure,
    /// What the log says (no text either).
    pub(crate) detail: String,
}

impl EngineError {
    /// A refused input or an engine that cannot run (400/8565).
    pub(crate) fn bad_request(public: impl Into<String>, detail: impl Into<String>) -> EngineError {
        EngineError {
            public: SpeechFailure::BadRequest(public.into()),
            detail: detail.into(),
        }
    }
}

/// A text-to-speech engine. Synthesis is IO (a program, an HTTP service), so it is
/// asynchronous; the caller bounds it in time, in concurrency and in the bytes it
/// keeps.
pub(crate) trait Engine: Send + Sync {
    /// Metric label and cache-key part: `espeak`, `http`.
    fn name(&self) -> &'static str;

    /// The job for `speech`: its voice resolved (an unknown one falls back, and the
    /// note is logged here) and its input checked and shaped for this engine.
    fn prepare(&self, speech: &Speech) -> Result<Job, EngineError>;

    /// Synthesises `job` into a WAV file (sizes in its header may be those of a
    /// streamed file). At most `max_bytes` are read.
    fn synthesize<'a>(
        &'a self,
        job: &'a Job,
        max_bytes: u64,
    ) -> BoxFuture<'a, Result<Vec<u8>, EngineError>>;
}
