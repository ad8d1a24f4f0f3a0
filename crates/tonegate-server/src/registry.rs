//! The live calls, by call id: how the media-operation API reaches a call's socket
//! task, and what it knows of the call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::prompts;
use tonegate_core::player::Prompt;
use tonegate_core::proto::Dialect;
use tonegate_core::session::request::Load;
use tonegate_core::session::{self, Command};
use tonegate_dsp::SampleRate;

/// Why a command could not be delivered to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No socket is streaming this call.
    #[error("no such call")]
    NoSuchCall,
    /// The call's socket is closing.
    #[error("call is closing")]
    Closed,
}

/// Why a socket may not stream the call its session started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ClaimError {
    /// The socket's credential is for another call.
    #[error("the credential is for another call")]
    OtherCall,
    /// Another socket streams the call (on this node or another of the cluster).
    #[error("this call is already streaming")]
    Duplicate,
    /// The cluster could not record this node as the call's owner.
    #[error("the cluster cannot take this call now")]
    ClusterUnavailable,
}

impl ClaimError {
    /// Short machine-readable code for the error event and metrics.
    pub(crate) fn code(self) -> &'static str {
        match self {
            ClaimError::OtherCall => "callNotAuthorized",
            ClaimError::Duplicate => "duplicateCallId",
            ClaimError::ClusterUnavailable => "clusterUnavailable",
        }
    }
}

/// A message for a session's socket task. It travels boxed: a channel allocates its
/// slots 32 at a time when it is made, so each call's channel holds 32 pointers rather
/// than 32 commands (some 6 KiB per call).
#[derive(Debug)]
pub(crate) enum Control {
    /// A command from the registry (the media-operation API).
    Command(Command),
    /// A command whose outcome the sender waits for ([`Registry::request`]).
    Request(Command, oneshot::Sender<Result<(), session::Error>>),
    /// A speech recognition finished.
    Recognized {
        /// The [`SpeechJob`](tonegate_core::session::speech::SpeechJob)'s id.
        id: u64,
        /// What the recogniser made of it.
        outcome: tonegate_core::session::speech::SpeechOutcome,
    },
    /// News of the call's transcription WebSocket.
    Transcription {
        /// The transcription ([`TranscriptionOutput::Start`](tonegate_core::session::transcription::TranscriptionOutput::Start)'s id).
        id: u64,
        /// Connected, or failed.
        status: tonegate_core::session::transcription::TranscriptionStatus,
    },
    /// A raw client's prompt load finished.
    Loaded {
        /// The `play` that asked for it.
        load: Load,
        /// The prompt, or why it could not be loaded.
        prompt: Result<Prompt, prompts::Failure>,
    },
}

/// One live call's registration: the socket streaming it.
struct Entry {
    /// The socket's id (only that socket's task removes the entry).
    id: u64,
    dialect: Dialect,
    control: mpsc::Sender<Box<Control>>,
    info: Arc<CallInfo>,
}

/// What the media-operation API knows of a live call.
pub(crate) struct CallInfo {
    pub(crate) dialect: Dialect,
    pub(crate) call_id: Arc<str>,
    pub(crate) stream_id: Option<String>,
    /// `serverCallId` from the socket URL, if the app gave it.
    pub(crate) server_call_id: Option<String>,
    pub(crate) encoding: &'static str,
    pub(crate) rate: SampleRate,
    pub(crate) correlation_id: Option<String>,
    pub(crate) callback_uri: Option<String>,
    /// Participants whose audio has been seen (raw ids / track names).
    pub(crate) participants: Mutex<Vec<Arc<str>>>,
    /// Server time when the call started streaming.
    pub(crate) started: std::time::Duration,
}

/// The live calls, by call id. The media-operation API looks sessions up here.
#[derive(Default)]
pub struct Registry {
    calls: Mutex<HashMap<Arc<str>, Entry>>,
}

impl Registry {
    /// Ids of the calls streaming now.
    pub fn calls(&self) -> Vec<String> {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.keys().map(|k| k.to_string()).collect()
    }

    /// The dialect a call streams in.
    pub fn dialect(&self, call_id: &str) -> Option<Dialect> {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.get(call_id).map(|e| e.dialect)
    }

    /// What is known of every live call.
    pub(crate) fn infos(&self) -> Vec<Arc<CallInfo>> {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.values().map(|e| e.info.clone()).collect()
    }

    pub(crate) fn info(&self, call_id: &str) -> Option<Arc<CallInfo>> {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.get(call_id).map(|e| e.info.clone())
    }

    /// The channel into a call's session.
    fn control(&self, call_id: &str) -> Result<mpsc::Sender<Box<Control>>, RegistryError> {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls
            .get(call_id)
            .map(|e| e.control.clone())
            .ok_or(RegistryError::NoSuchCall)
    }

    /// Hands a command to a call's session; results come back as its events.
    pub async fn send(&self, call_id: &str, command: Command) -> Result<(), RegistryError> {
        self.control(call_id)?
            .send(Box::new(Control::Command(command)))
            .await
            .map_err(|_| RegistryError::Closed)
    }

    /// Hands a command to a call's session and waits until the session has taken it:
    /// `Ok(Err(_))` is the session's refusal (e.g. [`session::Error::Conflict`], which
    /// the API answers with 412/8583); results after that come back as events.
    pub async fn request(
        &self,
        call_id: &str,
        command: Command,
    ) -> Result<Result<(), session::Error>, RegistryError> {
        let sender = self.control(call_id)?;
        let (tx, rx) = oneshot::channel();
        sender
            .send(Box::new(Control::Request(command, tx)))
            .await
            .map_err(|_| RegistryError::Closed)?;
        rx.await.map_err(|_| RegistryError::Closed)
    }

    /// Registers socket `socket`'s call, unless another socket streams it.
    pub(crate) fn claim(
        &self,
        socket: u64,
        info: Arc<CallInfo>,
        control: mpsc::Sender<Box<Control>>,
    ) -> Result<(), ClaimError> {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        if calls.contains_key(&info.call_id) {
            return Err(ClaimError::Duplicate);
        }
        let entry = Entry {
            id: socket,
            dialect: info.dialect,
            control,
            info: info.clone(),
        };
        calls.insert(info.call_id.clone(), entry);
        Ok(())
    }

    pub(crate) fn remove(&self, call_id: &str, id: u64) {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        if calls.get(call_id).is_some_and(|e| e.id == id) {
            calls.remove(call_id);
        }
    }
}
