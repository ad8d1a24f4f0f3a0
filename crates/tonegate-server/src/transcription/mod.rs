//! Live transcription's outgoing side: for each `startTranscription`, a task that opens
//! a WebSocket to [`Config::transcription_url`](super::Config::transcription_url), sends
//! the `TranscriptionMetadata` frame, then recognises the call's utterances one at a
//! time (free text, within the recogniser's `max_recognitions` slots) and sends a
//! `TranscriptionData` frame for each.
//!
//! The session decides what to transcribe ([`TranscriptionOutput`]); this module only
//! carries it out and tells the session whether the connection holds
//! ([`Control::Transcription`]).
//!
//! Where the frames go is the operator's setting alone: no request, socket or start
//! frame names it, so a network peer cannot make the server connect anywhere. Frames
//! carry what callers said: nothing of them is logged.

mod target;

use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::State;
use super::asr::{self, Recognition, Recognizer};
use super::log_text::Escaped;
use super::registry::{CallInfo, Control};
use tonegate_core::api::model::{
    TranscriptionData, TranscriptionMetadata, TranscriptionWord, data_frame, metadata_frame, ticks,
};
use tonegate_core::session::transcription::{
    TranscriptionJob, TranscriptionOutput, TranscriptionStatus,
};

pub(crate) use target::Target;

/// Utterances of one call waiting to be recognised; one more is dropped (and logged).
const QUEUED_UTTERANCES: usize = 8;
/// Longest wait for the WebSocket to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One call's running transcription: its utterance queue.
#[derive(Default)]
pub(crate) struct Links {
    current: Option<(u64, mpsc::Sender<TranscriptionJob>)>,
}

impl Links {
    /// Carries out what the session asked for.
    pub(crate) fn handle(
        &mut self,
        state: &Arc<State>,
        info: &CallInfo,
        control: &mpsc::Sender<Box<Control>>,
        output: TranscriptionOutput,
    ) {
        match output {
            TranscriptionOutput::Start {
                id,
                locale,
                speech_model_endpoint_id,
            } => {
                let (jobs, queue) = mpsc::channel(QUEUED_UTTERANCES);
                self.current = Some((id, jobs));
                let metadata = TranscriptionMetadata {
                    subscription_id: uuid::Uuid::new_v4().to_string(),
                    locale,
                    call_connection_id: info.call_id.to_string(),
                    correlation_id: super::api::correlation_id(info),
                    speech_recognition_model_endpoint_id: speech_model_endpoint_id,
                };
                let link = Link {
                    id,
                    call_id: info.call_id.clone(),
                    control: control.clone(),
                };
                let target = state.transcription.clone();
                let recognizer = state.recognizer.clone();
                tokio::spawn(link.run(target, recognizer, metadata, queue));
            }
            TranscriptionOutput::Utterance(job) => {
                let Some((id, jobs)) = &self.current else {
                    return;
                };
                if *id != job.id {
                    return;
                }
                if jobs.try_send(job).is_err() {
                    tracing::warn!(call_id = %Escaped(&info.call_id), "transcription: an utterance was dropped, the recogniser is behind");
                }
            }
            TranscriptionOutput::Stop { id } => {
                if self
                    .current
                    .as_ref()
                    .is_some_and(|(current, _)| *current == id)
                {
                    // The task sends what is queued, then closes.
                    self.current = None;
                }
            }
        }
    }
}

/// The task of one transcription.
struct Link {
    id: u64,
    call_id: Arc<str>,
    control: mpsc::Sender<Box<Control>>,
}

impl Link {
    async fn run(
        self,
        target: Option<Arc<Target>>,
        recognizer: Result<Arc<Recognizer>, String>,
        metadata: TranscriptionMetadata,
        mut queue: mpsc::Receiver<TranscriptionJob>,
    ) {
        let (Some(target), Ok(recognizer)) = (target, recognizer) else {
            // The API refuses startTranscription without either.
            return self
                .report_failure("streamUrlMissing", "no transcription_url or recogniser")
                .await;
        };
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, target.connect()).await;
        let mut ws = match connected {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => {
                let message = format!("cannot connect to the transcription WebSocket: {e}");
                return self
                    .report_failure("streamConnectionUnsuccessful", &message)
                    .await;
            }
            Err(_) => {
                return self
                    .report_failure(
                        "streamConnectionUnsuccessful",
                        "the transcription WebSocket did not connect in time",
                    )
                    .await;
            }
        };
        if ws
            .send(Message::text(metadata_frame(&metadata)))
            .await
            .is_err()
        {
            return self.interrupted().await;
        }
        self.report(TranscriptionStatus::Connected).await;
        while let Some(job) = queue.recv().await {
            let (offset, participant) = (job.offset, job.participant.clone());
            let recognition = recognizer
                .transcribe(job.samples, job.rate, job.locale)
                .await;
            let data = match recognition {
                Ok(Recognition::Text {
                    text,
                    confidence,
                    words,
                }) if !text.trim().is_empty() => {
                    transcript(text, confidence, &words, offset, participant.as_deref())
                }
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(call_id = %Escaped(&self.call_id), "transcription: the recogniser failed: {}", Escaped(&e.to_string()));
                    let message = format!("the speech recogniser failed: {e}");
                    return self
                        .report_failure("speechServicesConnectionError", &message)
                        .await;
                }
            };
            if ws.send(Message::text(data_frame(&data))).await.is_err() {
                return self.interrupted().await;
            }
        }
        let _ = ws.close(None).await;
    }

    async fn interrupted(&self) {
        self.report_failure(
            "streamConnectionInterrupted",
            "the transcription WebSocket closed",
        )
        .await;
    }

    async fn report_failure(&self, details: &'static str, message: &str) {
        tracing::warn!(call_id = %Escaped(&self.call_id), details, "transcription failed: {}", Escaped(message));
        let status = TranscriptionStatus::Failed {
            details,
            message: message.to_owned(),
        };
        self.report(status).await;
    }

    async fn report(&self, status: TranscriptionStatus) {
        let control = Control::Transcription {
            id: self.id,
            status,
        };
        let _ = self.control.send(Box::new(control)).await;
    }
}

/// The `TranscriptionData` of an utterance heard at stream time `offset`: the span of
/// its words (the whole utterance if the engine timed none).
fn transcript(
    text: String,
    confidence: f64,
    words: &[asr::Word],
    offset: Duration,
    participant: Option<&str>,
) -> TranscriptionData {
    let start = words.first().map_or(Duration::ZERO, |w| w.offset);
    let end = words.last().map_or(start, |w| w.offset + w.duration);
    TranscriptionData {
        text,
        format: "display".to_owned(),
        confidence,
        offset: ticks(offset + start),
        duration: ticks(end.saturating_sub(start)),
        words: words
            .iter()
            .map(|w| TranscriptionWord {
                text: w.text.clone(),
                offset: ticks(offset + w.offset),
                duration: ticks(w.duration),
            })
            .collect(),
        participant_raw_id: participant.unwrap_or_default().to_owned(),
        result_status: "Final".to_owned(),
    }
}
