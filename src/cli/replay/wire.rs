//! What goes on a call's socket in each dialect: the upgrade request, the opening
//! frames, the audio (encoded once, shared by every call) and the end of the stream.

use std::sync::Arc;

use anyhow::Context;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::args::Dialect;
use super::script::Script;
use super::{acs, raw, twilio};

/// One call's identity and credentials.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    /// Call id (ACS call connection id, Twilio callSid, raw callId).
    pub id: String,
    /// Bearer token of the upgrade.
    pub token: Option<String>,
    /// Bearer token of the event stream.
    pub events_token: Option<String>,
    /// Where its frame clock stands within a frame, from the run's start.
    pub phase: std::time::Duration,
}

/// The frames of one run, built once.
pub(crate) struct Wire {
    dialect: Dialect,
    url: String,
    twilio_auth_token: Option<String>,
    /// The audio frames as messages; cloning one shares its bytes.
    pub media: Arc<[Message]>,
    script: Arc<Script>,
}

impl Wire {
    /// Encodes `script`'s audio as `dialect` frames for the socket at `url`.
    pub(crate) fn new(
        dialect: Dialect,
        url: String,
        twilio_auth_token: Option<String>,
        script: Arc<Script>,
    ) -> Wire {
        let media = script
            .frames
            .iter()
            .enumerate()
            .map(|(index, payload)| match dialect {
                Dialect::Acs => acs::media(payload),
                Dialect::Twilio => twilio::media(index, payload),
                Dialect::Raw => raw::media(payload),
            })
            .collect();
        Wire {
            dialect,
            url,
            twilio_auth_token,
            media,
            script,
        }
    }

    /// The socket URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The upgrade request of `call`: its bearer token, the ACS id headers, the Twilio
    /// signature.
    pub(crate) fn request(&self, call: &Call) -> anyhow::Result<Request> {
        let mut request = self
            .url
            .as_str()
            .into_client_request()
            .with_context(|| format!("bad socket URL {}", self.url))?;
        let headers = request.headers_mut();
        let mut add = |name: &'static str, value: String| -> anyhow::Result<()> {
            let value = HeaderValue::from_str(&value)
                .with_context(|| format!("{name} is not a valid header value"))?;
            headers.insert(name, value);
            Ok(())
        };
        if let Some(token) = &call.token {
            add("authorization", format!("Bearer {token}"))?;
        }
        if self.dialect == Dialect::Acs {
            for (name, value) in acs::headers(&call.id) {
                add(name, value)?;
            }
        }
        if let Some(auth_token) = &self.twilio_auth_token {
            add(
                twilio::SIGNATURE_HEADER,
                twilio::signature(auth_token, &self.url),
            )?;
        }
        Ok(request)
    }

    /// The frames that open `call`'s stream.
    pub(crate) fn opening(&self, call: &Call) -> Vec<Message> {
        let format = self.script.format;
        match self.dialect {
            Dialect::Acs => vec![acs::start(&call.id, format)],
            Dialect::Twilio => twilio::start(&call.id).into(),
            Dialect::Raw => vec![raw::start(&call.id, format)],
        }
    }

    /// The frame that ends `call`'s stream, if the dialect has one (ACS just closes).
    pub(crate) fn closing(&self, call: &Call) -> Option<Message> {
        match self.dialect {
            Dialect::Acs => None,
            Dialect::Twilio => Some(twilio::stop(&call.id, self.media.len())),
            Dialect::Raw => Some(raw::end()),
        }
    }
}
