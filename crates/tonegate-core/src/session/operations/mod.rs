//! Call Automation media operations, carried out inside one call's [`Session`](super::Session)
//! (sans-IO: no clock, no IO; time comes in as `now`).
//!
//! The vocabulary (requests, events, tones) is [`crate::api::model`]; this module holds
//! the engine and its settings. The API layer turns REST bodies into an [`Operation`](crate::api::model::Operation) (with prompts already loaded:
//! `file://` read, `http(s)://` downloaded, text and SSML synthesised, decoded into
//! [`Prompt`]s, or a
//! [`SourceFailure`](crate::api::model::SourceFailure) per source) and hands it to the session as
//! [`Command::Operation`](super::Command::Operation). Results come back as
//! [`EventKind::Operation`](super::EventKind::Operation) events carrying an
//! [`OperationEvent`](crate::api::model::OperationEvent): the Call Automation event type, the request's
//! [`OperationMeta`](crate::api::model::OperationMeta) and a [`ResultInformation`](crate::api::model::ResultInformation).
//!
//! # Semantics
//! - **Queue.** Play, recognize, send-DTMF and hold run one at a time, first in first
//!   out: the next starts when the previous one's audio has *played* (stream time by
//!   tonegate's pacing clock; Twilio: when its mark comes back) or when it completed.
//! - **Conflicts** (ACS rules): a play to everyone and a recognize may queue behind
//!   anything. A targeted play (`playTo` not empty), send-DTMF and hold are
//!   *exclusive*: one is refused with [`Error::Conflict`](super::Error::Conflict)
//!   (HTTP 412, subCode 8583) while another exclusive one is running or queued.
//! - **interruptCallMediaOperation**: the running operation is canceled (its Canceled
//!   event, its audio stopped at once) and the new one runs now; queued operations stay
//!   queued behind it. A running hold is not interrupted (the new one queues first in
//!   line behind it).
//! - **Recognize (DTMF)**: optional prompt; with `interruptPrompt` the first key stops
//!   it at once (StopAudio / clear). Timers start when the prompt has played (or at once
//!   without a prompt, or at the first key when it interrupts the prompt):
//!   `initialSilenceTimeout` until the first tone (RecognizeFailed 400/8510), then
//!   `interToneTimeout` after each tone (RecognizeCompleted 400/8532 with the tones so
//!   far). `maxTonesToCollect` completes with 200/8531, a stop tone with 200/8514 (the
//!   stop tone is not in the result). Tones of participants other than
//!   `targetParticipant` are ignored on unmixed streams.
//! - **DTMF buffering** (tonegate extension): digits pressed while no recognize is
//!   running (and not delivered to continuous recognition) are kept, up to
//!   [`OperationsConfig::dtmf_buffer`] digits (further ones are dropped), and feed the next
//!   recognize in order when it starts, before its prompt: a buffered key interrupts an
//!   interruptible prompt before it plays, a buffered stop tone completes at once.
//!   `RecognizeOptions::dtmf_buffering = Some(false)` discards the buffer when that
//!   recognize starts (strict Call Automation behaviour); `OperationsConfig::dtmf_buffer = 0`
//!   turns buffering off.
//! - **Continuous DTMF**: per target participant (or everyone);
//!   ContinuousDtmfRecognitionToneReceived per key with a per-call `sequenceId` from 1,
//!   gapless over these events (the session's digit `sequenceId` counts every digit,
//!   including ones pressed while continuous recognition was off, so it is not reused).
//! - **Hold**: loops the music (or [`OperationsConfig::hold_music`], or silence) until unhold.
//! - **cancelAllMediaOperations**: StopAudio / clear, then PlayCanceled,
//!   RecognizeCanceled (400/8508) or SendDtmfTonesFailed (400/8508) for the running and
//!   queued operations, in queue order; a hold ends silently. Continuous DTMF and the
//!   DTMF buffer are not touched.
//! - The stream ending cancels what is left the same way (without StopAudio). A stream
//!   *lost* (dropped connection, idle timeout, protocol error, shutdown; not an orderly
//!   end) also fails every running continuous recognition with
//!   ContinuousDtmfRecognitionToneFailed (500/9999), so the app learns that no more
//!   tones will come.

mod engine;

use crate::player::Prompt;

pub(crate) use engine::{Action, Audio, Operations};

/// Media-operation settings (part of the session [`super::Config`]).
#[derive(Debug, Clone, PartialEq)]
pub struct OperationsConfig {
    /// Digits kept while no recognize runs (tonegate's DTMF buffering); 0 turns
    /// buffering off (strict Call Automation behaviour). Default 32.
    pub dtmf_buffer: usize,
    /// Music for a hold without `playSourceInfo`, at any rate; `None`: silence.
    /// Default `None`.
    pub hold_music: Option<Prompt>,
    /// Most operations running and queued per call; more are refused with
    /// [`Error::QueueFull`](super::Error::QueueFull). Default 64.
    pub max_queued: usize,
}

impl Default for OperationsConfig {
    fn default() -> Self {
        OperationsConfig {
            dtmf_buffer: 32,
            hold_music: None,
            max_queued: 64,
        }
    }
}

#[cfg(test)]
mod tests;
