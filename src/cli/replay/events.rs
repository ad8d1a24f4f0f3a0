//! Reading a call's events: text frames on the audio socket, in whichever dialect's
//! shape they come, or tonegate's server-sent event stream.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use tokio::time::Instant;
use tonegate::dsp::Digit;
use tonegate::proto::parse_digit;

use super::clock;

/// Largest event (or unfinished line) read from an event stream, bytes.
const MAX_EVENT_BYTES: usize = 1 << 20;

/// What an event means to `replay`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Meaning {
    /// A key was detected; `start_ms` is the server's onset estimate in stream time.
    Digit {
        /// The key.
        digit: Digit,
        /// Estimated onset, ms of stream time, when the server says.
        start_ms: Option<f64>,
    },
    /// The server finished the call.
    Ended,
    /// The server reported an error.
    Error(String),
    /// Anything else (printed, not counted).
    Other,
}

/// An event as it arrived.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// When it arrived.
    pub at: Instant,
    /// What it says.
    pub meaning: Meaning,
    /// The text as sent.
    pub text: String,
}

/// The fields of every shape `replay` understands: tonegate's events (`type`), ACS
/// `DtmfData` (`kind`) and Twilio `dtmf` (`event`).
#[derive(Deserialize)]
struct Shape {
    #[serde(rename = "type")]
    kind_raw: Option<String>,
    #[serde(alias = "Kind")]
    kind: Option<String>,
    event: Option<String>,
    digit: Option<String>,
    #[serde(rename = "startMs")]
    start_ms: Option<f64>,
    message: Option<String>,
    #[serde(rename = "dtmfData", alias = "DtmfData")]
    dtmf_data: Option<Data>,
    dtmf: Option<TwilioDtmf>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(alias = "Data")]
    data: Option<String>,
}

#[derive(Deserialize)]
struct TwilioDtmf {
    digit: Option<String>,
}

/// Reads one event's JSON text.
pub(crate) fn parse(text: &str) -> Meaning {
    let Ok(shape) = serde_json::from_str::<Shape>(text) else {
        return Meaning::Other;
    };
    let digit = |name: Option<String>, start_ms| match name.as_deref().and_then(parse_digit) {
        Some(digit) => Meaning::Digit { digit, start_ms },
        None => Meaning::Other,
    };
    match (
        shape.kind_raw.as_deref(),
        shape.kind.as_deref(),
        shape.event.as_deref(),
    ) {
        (Some("dtmf"), _, _) => digit(shape.digit, shape.start_ms),
        (Some("ended"), _, _) => Meaning::Ended,
        (Some("error"), _, _) => Meaning::Error(shape.message.unwrap_or_default()),
        (_, Some("DtmfData"), _) => digit(shape.dtmf_data.and_then(|d| d.data), None),
        (_, _, Some("dtmf")) => digit(shape.dtmf.and_then(|d| d.digit), None),
        _ => Meaning::Other,
    }
}

/// The call an event of tonegate's all-calls stream belongs to (its `callId`).
pub(crate) fn call_id(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Call {
        #[serde(rename = "callId")]
        call_id: Option<String>,
    }
    serde_json::from_str::<Call>(text).ok()?.call_id
}

/// The events of an all-calls stream, by call, as one task reads them.
#[derive(Default)]
pub(crate) struct Inbox {
    by_call: Mutex<HashMap<String, Vec<Received>>>,
}

impl Inbox {
    /// Reads `sse` into the inbox until the stream ends (or the task is dropped).
    pub(crate) async fn fill(&self, mut sse: Sse) -> anyhow::Result<()> {
        while let Some(event) = sse.next().await? {
            if let Some(call) = call_id(&event.text) {
                self.lock().entry(call).or_default().push(event);
            }
        }
        Ok(())
    }

    /// Takes the events of `call` received so far.
    pub(crate) fn take(&self, call: &str) -> Vec<Received> {
        self.lock().remove(call).unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Received>>> {
        self.by_call.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An open server-sent event stream.
pub(crate) struct Sse {
    response: reqwest::Response,
    buffer: Vec<u8>,
    data: String,
}

impl Sse {
    /// Opens `GET {base}/v1/calls/{call_id}/events`, or `GET {base}/v1/events` (every
    /// call) without `call_id`; fails with the server's answer unless it is 200.
    pub(crate) async fn open(
        client: &reqwest::Client,
        base: &str,
        call_id: Option<&str>,
        token: Option<&str>,
    ) -> anyhow::Result<Sse> {
        let mut url =
            reqwest::Url::parse(base).with_context(|| format!("bad events URL {base}"))?;
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| anyhow::anyhow!("bad events URL {base}"))?;
            path.pop_if_empty().push("v1");
            match call_id {
                Some(id) => path.extend(["calls", id, "events"]),
                None => path.push("events"),
            };
        }
        let mut request = client.get(url.clone());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot open the event stream {url}"))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            bail!("the event stream {url} answered {status}: {}", body.trim());
        }
        Ok(Sse {
            response,
            buffer: Vec::new(),
            data: String::new(),
        })
    }

    /// The next event's data, `None` when the stream ends.
    pub(crate) async fn next(&mut self) -> anyhow::Result<Option<Received>> {
        loop {
            while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    if self.data.is_empty() {
                        continue;
                    }
                    let text = std::mem::take(&mut self.data);
                    return Ok(Some(Received {
                        at: clock::now(),
                        meaning: parse(&text),
                        text,
                    }));
                }
                if let Some(data) = line.strip_prefix("data:") {
                    if !self.data.is_empty() {
                        self.data.push('\n');
                    }
                    self.data.push_str(data.strip_prefix(' ').unwrap_or(data));
                }
            }
            if self.buffer.len() + self.data.len() > MAX_EVENT_BYTES {
                bail!("the event stream sent an event over {MAX_EVENT_BYTES} bytes");
            }
            match self.response.chunk().await.context("event stream")? {
                Some(chunk) => self.buffer.extend_from_slice(&chunk),
                None => return Ok(None),
            }
        }
    }
}

/// Reads `sse` until the call's `ended` event, the stream's end, or `wait` after
/// `done` fires.
pub(crate) async fn read_sse(
    mut sse: Sse,
    mut done: tokio::sync::oneshot::Receiver<()>,
    wait: Duration,
    on_event: &mut impl FnMut(&Received),
) -> anyhow::Result<Vec<Received>> {
    let mut received = Vec::new();
    let mut deadline: Option<Instant> = None;
    loop {
        let until = deadline.unwrap_or_else(|| clock::now() + Duration::from_secs(86_400));
        tokio::select! {
            next = sse.next() => match next? {
                Some(event) => {
                    on_event(&event);
                    let ended = event.meaning == Meaning::Ended;
                    received.push(event);
                    if ended {
                        return Ok(received);
                    }
                }
                None => return Ok(received),
            },
            _ = &mut done, if deadline.is_none() => deadline = Some(clock::now() + wait),
            _ = tokio::time::sleep_until(until), if deadline.is_some() => return Ok(received),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_dialects_digit() {
        let five = Digit::from_char('5').unwrap();
        assert_eq!(
            parse(r#"{"callId":"c","type":"dtmf","digit":"5","startMs":120.5}"#),
            Meaning::Digit {
                digit: five,
                start_ms: Some(120.5)
            }
        );
        assert_eq!(
            parse(r#"{"kind":"DtmfData","dtmfData":{"data":"five"}}"#),
            Meaning::Digit {
                digit: five,
                start_ms: None
            }
        );
        assert_eq!(
            parse(r#"{"event":"dtmf","dtmf":{"digit":"5"}}"#),
            Meaning::Digit {
                digit: five,
                start_ms: None
            }
        );
        assert_eq!(parse(r#"{"type":"ended"}"#), Meaning::Ended);
        assert_eq!(
            parse(r#"{"type":"error","message":"no"}"#),
            Meaning::Error("no".to_owned())
        );
        assert_eq!(parse("not json"), Meaning::Other);
        assert_eq!(
            call_id(r#"{"callId":"c-7","type":"dtmf"}"#).as_deref(),
            Some("c-7")
        );
        assert_eq!(call_id(r#"{"type":"lagged"}"#), None);
        assert_eq!(parse(r#"{"type":"dtmf","digit":"x"}"#), Meaning::Other);
    }
}
