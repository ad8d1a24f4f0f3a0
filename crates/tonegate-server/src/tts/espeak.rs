//! The default engine: espeak-ng, run as a separate program for each prompt (it is GPL
//! licensed, so tonegate never links it). No shell: the program gets an argument vector
//! of tonegate's own (`--stdout -v <voice> [-m]`), the text comes on its standard input
//! (so no text can pass for an option), and the WAV on its standard output. The caller
//! bounds the run in time (the child is killed when it is dropped) and this module
//! bounds the bytes read.

use std::io;
use std::path::PathBuf;
use std::process::Stdio;

use futures_util::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tonegate_core::api::model::{Speech, SpeechInput};

use super::engine::{Engine, EngineError, Job};
use super::{ssml, voices};

/// Most bytes of espeak-ng's error output kept for the log.
const MAX_STDERR: u64 = 4_096;

/// The voice when neither the request nor `tts_voice` names one.
pub(crate) const DEFAULT_VOICE: &str = "en-us";

/// espeak-ng at `program`, speaking `default_voice` unless told otherwise.
pub(crate) struct Espeak {
    program: PathBuf,
    default_voice: String,
}

impl Espeak {
    /// The engine; nothing is run until the first prompt (a missing program fails that
    /// prompt, not the start).
    pub(crate) fn new(program: PathBuf, default_voice: Option<&str>) -> Espeak {
        Espeak {
            program,
            default_voice: default_voice.unwrap_or(DEFAULT_VOICE).to_owned(),
        }
    }

    async fn run(&self, job: &Job, max_bytes: u64) -> Result<Vec<u8>, EngineError> {
        let mut command = Command::new(&self.program);
        command.arg("--stdout").arg("-v").arg(&job.voice);
        if matches!(job.input, SpeechInput::Ssml(_)) {
            command.arg("-m");
        }
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| self.not_runnable(&e))?;
        let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(EngineError::bad_request(
                "espeak-ng could not be run",
                "espeak-ng: standard streams not piped",
            ));
        };
        let text = job.input.as_str();
        let write = async move {
            stdin.write_all(text.as_bytes()).await?;
            stdin.write_all(b"\n").await
            // Dropped here: end of input.
        };
        let read = async {
            let mut out = Vec::new();
            (&mut stdout)
                .take(max_bytes.saturating_add(1))
                .read_to_end(&mut out)
                .await
                .map(|_| out)
        };
        // A program that exits early (a voice it lacks) closes its input: the write
        // fails, and its status and error output say why.
        let (_, out) = tokio::join!(write, read);
        let out = out.map_err(|e| {
            EngineError::bad_request("espeak-ng failed", format!("espeak-ng output: {e}"))
        })?;
        if out.len() as u64 > max_bytes {
            let _ = child.start_kill();
            return Err(EngineError::bad_request(
                "the speech is larger than tts_max_output_bytes",
                format!("espeak-ng wrote more than tts_max_output_bytes ({max_bytes})"),
            ));
        }
        let mut errors = Vec::new();
        let _ = (&mut stderr)
            .take(MAX_STDERR)
            .read_to_end(&mut errors)
            .await;
        let status = child
            .wait()
            .await
            .map_err(|e| EngineError::bad_request("espeak-ng failed", format!("espeak-ng: {e}")))?;
        let errors = String::from_utf8_lossy(&errors);
        if !status.success() {
            return Err(EngineError::bad_request(
                "espeak-ng failed",
                format!("espeak-ng {status}: {}", errors.trim()),
            ));
        }
        Ok(out)
    }

    fn not_runnable(&self, e: &io::Error) -> EngineError {
        let public = if e.kind() == io::ErrorKind::NotFound {
            "no speech engine: espeak-ng is not installed"
        } else {
            "no speech engine: espeak-ng cannot be run"
        };
        EngineError::bad_request(public, format!("{}: {e}", self.program.display()))
    }
}

impl Engine for Espeak {
    fn name(&self) -> &'static str {
        "espeak"
    }

    fn prepare(&self, speech: &Speech) -> Result<Job, EngineError> {
        let choice = voices::espeak(
            speech.voice_name.as_deref(),
            speech.source_locale.as_deref(),
            &self.default_voice,
        );
        if let Some(field) = choice.unknown {
            tracing::info!(
                field,
                voice = %choice.voice,
                "{field} is not a voice espeak-ng has; speaking with {}",
                choice.voice
            );
        }
        let input = match &speech.input {
            SpeechInput::Text(text) => SpeechInput::Text(text.clone()),
            SpeechInput::Ssml(doc) => SpeechInput::Ssml(
                ssml::for_espeak(doc)
                    .map_err(|e| EngineError::bad_request(e.to_string(), e.to_string()))?,
            ),
        };
        Ok(Job {
            voice: choice.voice,
            input,
        })
    }

    fn synthesize<'a>(
        &'a self,
        job: &'a Job,
        max_bytes: u64,
    ) -> BoxFuture<'a, Result<Vec<u8>, EngineError>> {
        Box::pin(self.run(job, max_bytes))
    }
}
