//! An SSE client on reqwest (a streamed response body), as an application reads
//! tonegate's event streams: each message's `id:`, `event:` and JSON `data:`, and the
//! `Last-Event-ID` header or `lastEventId` parameter to resume with.

use std::time::Duration;

use serde_json::Value;

/// One SSE message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    /// Its `id:`, if it has one.
    pub id: Option<u64>,
    /// Its `event:` name.
    pub event: String,
    /// Its `data:` as JSON.
    pub data: Value,
}

/// An open event stream.
pub(crate) struct EventStream {
    response: reqwest::Response,
    /// Text received and not yet split into messages.
    buffer: String,
}

impl EventStream {
    /// Opens `url` with `headers`; panics unless the answer is 200.
    pub(crate) async fn open(url: &str, headers: &[(&str, &str)]) -> EventStream {
        match EventStream::try_open(url, headers).await {
            Ok(stream) => stream,
            Err((status, body)) => panic!("event stream {url} refused: {status} {body}"),
        }
    }

    /// Opens `url` with `headers`; a refusal is its status and body.
    pub(crate) async fn try_open(
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<EventStream, (u16, String)> {
        // reqwest is built without a default crypto provider (a no-op once chosen).
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let mut request = reqwest::Client::new()
            .get(url)
            .header("accept", "text/event-stream");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("event stream request");
        let status = response.status().as_u16();
        if status != 200 {
            return Err((status, response.text().await.unwrap_or_default()));
        }
        Ok(EventStream {
            response,
            buffer: String::new(),
        })
    }

    /// The next message (comments skipped); `None` once the stream ended.
    pub(crate) async fn next_or_end(&mut self) -> Option<Message> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(message) = parse(&block) {
                    return Some(message);
                }
            }
            let chunk = self
                .response
                .chunk()
                .await
                .expect("event stream readable")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8 events"));
        }
    }

    /// The next message, within 30 s.
    pub(crate) async fn next(&mut self) -> Message {
        tokio::time::timeout(Duration::from_secs(30), self.next_or_end())
            .await
            .expect("an event within 30 s")
            .expect("the event stream ended")
    }

    /// Messages up to and including the first for which `last` holds.
    pub(crate) async fn until(&mut self, last: impl Fn(&Message) -> bool) -> Vec<Message> {
        let mut out = Vec::new();
        loop {
            let message = self.next().await;
            let done = last(&message);
            out.push(message);
            if done {
                return out;
            }
        }
    }
}

/// A message block's fields; `None` for a comment (keep-alive).
fn parse(block: &str) -> Option<Message> {
    let mut id = None;
    let mut event = String::from("message");
    let mut data = None;
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.parse().expect("a numeric id"));
        } else if let Some(v) = line.strip_prefix("event: ") {
            event = v.to_owned();
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = Some(serde_json::from_str(v).expect("JSON data"));
        }
    }
    Some(Message {
        id,
        event,
        data: data?,
    })
}
