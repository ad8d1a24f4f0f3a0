//! Live transcription of one call (`startTranscription`, `stopTranscription`,
//! `updateTranscription`), sans-IO.
//!
//! While a transcription runs, every participant's audio goes through a voice activity
//! detector of its own (the [`Listener`] a speech recognize uses); each utterance it
//! finds leaves the session as a [`TranscriptionJob`] for the server, which recognises
//! it off the socket's task and sends the `TranscriptionData` frame. DTMF is untouched:
//! the detector sees the same decoded samples after the DTMF receiver did.
//!
//! The session asks the server to open the transcription WebSocket
//! ([`TranscriptionOutput::Start`]) and reports TranscriptionStarted once the server
//! says it is connected ([`TranscriptionStatus::Connected`]), or TranscriptionFailed.
//! Each start has its own `id`, so a late answer about an earlier one is ignored.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::speech::{Heard, Listener};
use crate::api::model::{
    OperationEvent, OperationEventType, OperationMeta, ResultInformation, TranscriptionAction,
    TranscriptionRequest, TranscriptionUpdate,
};
use tonegate_dsp::SampleRate;

/// Silence that ends an utterance of a transcript.
pub const END_SILENCE: Duration = Duration::from_millis(800);
/// The locale of a `startTranscription` without one.
pub const DEFAULT_LOCALE: &str = "en-US";

/// One utterance to transcribe.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptionJob {
    /// The transcription it belongs to ([`TranscriptionOutput::Start`]'s `id`).
    pub id: u64,
    /// The speaker's audio (16-bit), from shortly before the speech to shortly after.
    pub samples: Vec<i16>,
    /// Its rate (the stream's).
    pub rate: SampleRate,
    /// Stream time of the first sample (from the call's first audio).
    pub offset: Duration,
    /// Who spoke (ACS raw id), if the stream names participants.
    pub participant: Option<Arc<str>>,
    /// The locale to recognise.
    pub locale: String,
}

/// What the server must do for the call's transcription
/// ([`Session::poll_transcription`](super::Session::poll_transcription)).
#[derive(Debug, Clone, PartialEq)]
pub enum TranscriptionOutput {
    /// Open the transcription WebSocket and send the metadata frame; answer with
    /// [`TranscriptionStatus`].
    Start {
        /// Names this transcription.
        id: u64,
        /// The locale.
        locale: String,
        /// `speechModelEndpointId`, for the metadata frame.
        speech_model_endpoint_id: Option<String>,
    },
    /// Recognise this utterance and send its `TranscriptionData`.
    Utterance(TranscriptionJob),
    /// The transcription `id` is over: send what is still being recognised, then close.
    Stop {
        /// The transcription.
        id: u64,
    },
}

/// What the server reports about the transcription `id`'s WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranscriptionStatus {
    /// Connected; the metadata frame went out.
    Connected,
    /// It could not connect, or the connection or the recogniser failed.
    Failed {
        /// `transcriptionStatusDetails` (`streamConnectionUnsuccessful`,
        /// `streamConnectionInterrupted`, `speechServicesConnectionError`).
        details: &'static str,
        /// What went wrong (no transcript text).
        message: String,
    },
}

/// Why a transcription request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `startTranscription` while one runs.
    #[error("transcription is already running")]
    AlreadyRunning,
    /// `stopTranscription` or `updateTranscription` while none runs.
    #[error("transcription is not running")]
    NotRunning,
}

/// One speaker's detector, and where its sample 0 is in the stream.
struct Track {
    participant: Option<Arc<str>>,
    listener: Listener,
    origin: u64,
}

/// The running transcription.
struct Running {
    id: u64,
    meta: OperationMeta,
    locale: String,
    connected: bool,
    tracks: Vec<Track>,
}

/// A call's transcription state.
#[derive(Default)]
pub(crate) struct Transcription {
    /// Boxed: most calls never transcribe, and every audio frame reads whether this one
    /// does (a pointer, where the whole state would take two more cache lines).
    running: Option<Box<Running>>,
    next_id: u64,
    outputs: VecDeque<TranscriptionOutput>,
}

impl Transcription {
    /// Carries out a request; the event to report now, if any.
    pub(crate) fn handle_request(
        &mut self,
        request: TranscriptionRequest,
    ) -> Result<Option<OperationEvent>, Refusal> {
        match request.action {
            TranscriptionAction::Start => {
                if self.running.is_some() {
                    return Err(Refusal::AlreadyRunning);
                }
                self.next_id += 1;
                let locale = request.locale.unwrap_or_else(|| DEFAULT_LOCALE.to_owned());
                self.outputs.push_back(TranscriptionOutput::Start {
                    id: self.next_id,
                    locale: locale.clone(),
                    speech_model_endpoint_id: request.speech_model_endpoint_id,
                });
                self.running = Some(Box::new(Running {
                    id: self.next_id,
                    meta: request.meta,
                    locale,
                    connected: false,
                    tracks: Vec::new(),
                }));
                Ok(None)
            }
            TranscriptionAction::Stop => {
                let running = self.running.take().ok_or(Refusal::NotRunning)?;
                self.outputs
                    .push_back(TranscriptionOutput::Stop { id: running.id });
                Ok(Some(event(
                    OperationEventType::TranscriptionStopped,
                    &request.meta,
                    success(),
                    TranscriptionUpdate::new("transcriptionStopped", "subscriptionStopped"),
                )))
            }
            TranscriptionAction::Update => {
                let running = self.running.as_mut().ok_or(Refusal::NotRunning)?;
                if let Some(locale) = request.locale {
                    running.locale = locale;
                }
                Ok(Some(event(
                    OperationEventType::TranscriptionUpdated,
                    &request.meta,
                    success(),
                    TranscriptionUpdate::new("transcriptionUpdated", "transcriptionLocaleUpdated"),
                )))
            }
        }
    }

    /// The server's word on the transcription `id`; the event to report, if any (none
    /// for a transcription that is no longer running).
    pub(crate) fn handle_status(
        &mut self,
        id: u64,
        status: TranscriptionStatus,
    ) -> Option<OperationEvent> {
        let running = self.running.as_mut().filter(|r| r.id == id)?;
        match status {
            TranscriptionStatus::Connected if !running.connected => {
                running.connected = true;
                Some(event(
                    OperationEventType::TranscriptionStarted,
                    &running.meta,
                    success(),
                    TranscriptionUpdate::new("transcriptionStarted", "subscriptionStarted"),
                ))
            }
            TranscriptionStatus::Connected => None,
            TranscriptionStatus::Failed { details, message } => {
                let running = self.running.take()?;
                self.outputs
                    .push_back(TranscriptionOutput::Stop { id: running.id });
                Some(event(
                    OperationEventType::TranscriptionFailed,
                    &running.meta,
                    ResultInformation::new(500, 9999, message),
                    TranscriptionUpdate::new("transcriptionFailed", details),
                ))
            }
        }
    }

    /// Audio of `participant`, whose first sample is at stream position `position`
    /// (`tone`: a DTMF tone sounds in it, which is not speech). At most `max_tracks`
    /// speakers are followed (the session's participant limit).
    pub(crate) fn on_audio(
        &mut self,
        participant: Option<&Arc<str>>,
        samples: &[f32],
        rate: SampleRate,
        position: u64,
        tone: impl FnOnce() -> bool,
        max_tracks: usize,
    ) {
        let Some(running) = self.running.as_mut() else {
            return;
        };
        let index = match running
            .tracks
            .iter()
            .position(|t| t.participant.as_deref() == participant.map(|p| &**p))
        {
            Some(i) => i,
            None if running.tracks.len() < max_tracks => {
                running.tracks.push(Track {
                    participant: participant.cloned(),
                    listener: Listener::new(rate, END_SILENCE),
                    origin: position,
                });
                running.tracks.len() - 1
            }
            None => return,
        };
        let track = &mut running.tracks[index];
        if track.listener.process(samples, tone()) != Heard::Ended {
            return;
        }
        let (start, samples) = track.listener.take_and_listen_on();
        let at = track.origin + start;
        let offset = Duration::from_secs_f64(at as f64 / f64::from(rate.hz()));
        self.outputs
            .push_back(TranscriptionOutput::Utterance(TranscriptionJob {
                id: running.id,
                samples,
                rate,
                offset,
                participant: track.participant.clone(),
                locale: running.locale.clone(),
            }));
    }

    /// The stream ended: a running transcription stops without an event.
    pub(crate) fn end(&mut self) {
        if let Some(running) = self.running.take() {
            self.outputs
                .push_back(TranscriptionOutput::Stop { id: running.id });
        }
    }

    /// The next thing for the server to do.
    pub(crate) fn poll(&mut self) -> Option<TranscriptionOutput> {
        self.outputs.pop_front()
    }
}

fn success() -> ResultInformation {
    ResultInformation::new(200, 0, "Action completed successfully.")
}

fn event(
    kind: OperationEventType,
    meta: &OperationMeta,
    result: ResultInformation,
    update: TranscriptionUpdate,
) -> OperationEvent {
    let mut e = OperationEvent::new(kind, meta, result);
    e.details.transcription_update = Some(Box::new(update));
    e
}
