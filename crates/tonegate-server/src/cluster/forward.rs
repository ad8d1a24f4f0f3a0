//! REST for a call owned by another node, over NATS request-reply: the receiving node
//! (which has authenticated the request) sends the operation's name and body to the
//! owner's subject and relays its answer. Only nodes holding the cluster's NATS
//! credentials can publish there, so the owner trusts what arrives without checking a
//! signature again; nothing of the client's request but the operation and its body is
//! carried over.

use std::sync::Arc;

use async_nats::{HeaderMap, RequestErrorKind};
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;

use super::node::{Node, within};
use super::ownership::CallRecord;
use super::{Forwarded, names};
use crate::State;

/// Header of a forwarded request: the operation (`play`, ..., or `get` for the call's
/// properties).
const OP: &str = "Tonegate-Op";
/// Header of a reply: the HTTP status.
const STATUS: &str = "Tonegate-Status";
/// The reply headers carried back to the client.
const RELAYED: [header::HeaderName; 2] = [header::CONTENT_TYPE, header::RETRY_AFTER];
/// Largest reply body read from the owner's response (the API's answers are small).
const MAX_REPLY_BYTES: usize = 1 << 20;

/// Sends operation `op` of `call_id` with `body` to the call's owner.
pub(super) async fn request(node: &Node, call_id: &str, op: &str, body: Bytes) -> Forwarded {
    let mut headers = HeaderMap::new();
    headers.insert(OP, op);
    let request = async_nats::Request::new()
        .headers(headers)
        .payload(body)
        .timeout(Some(node.request_timeout));
    let subject = node.names.command_subject(call_id);
    match node.client.send_request(subject, request).await {
        Ok(reply) => relay(reply),
        Err(e) => match e.kind() {
            RequestErrorKind::NoResponders => Forwarded::NoOwner,
            RequestErrorKind::MaxPayloadExceeded => Forwarded::TooLarge,
            kind => {
                let dead = owner_is_dead(node, call_id).await;
                tracing::warn!(node = %node.id, dead, "forwarded request not answered: {kind:?}");
                if dead {
                    Forwarded::NoOwner
                } else {
                    Forwarded::Unreachable
                }
            }
        },
    }
}

/// Whether the call has no record, or its owner no live key.
async fn owner_is_dead(node: &Node, call_id: &str) -> bool {
    let key = names::call_token(call_id);
    let Ok(record) = within(node.request_timeout, node.calls.get(key)).await else {
        return false;
    };
    let Some(record) = record else {
        return true;
    };
    let owner = serde_json::from_slice::<CallRecord>(&record)
        .map(|r| r.node)
        .unwrap_or_default();
    matches!(node.is_alive(&owner).await, Ok(false))
}

/// The owner's reply as an HTTP response.
fn relay(reply: async_nats::Message) -> Forwarded {
    let headers = reply.headers.unwrap_or_default();
    let status = headers
        .get(STATUS)
        .and_then(|s| s.as_str().parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok());
    let Some(status) = status else {
        return Forwarded::Unreachable;
    };
    let mut response = Response::new(axum::body::Body::from(reply.payload));
    *response.status_mut() = status;
    for name in RELAYED {
        if let Some(value) = headers.get(name.as_str())
            && let Ok(value) = value.as_str().parse()
        {
            response.headers_mut().insert(name, value);
        }
    }
    Forwarded::Reply(response)
}

/// Subscribes to `call_id`'s subject and answers each forwarded request there as the
/// API answers its own; returns the answering task (aborted on release).
pub(super) async fn answer(
    node: &Arc<Node>,
    state: &Arc<State>,
    call_id: &Arc<str>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let subject = node.names.command_subject(call_id);
    let mut requests = node
        .client
        .subscribe(subject)
        .await
        .map_err(|e| e.to_string())?;
    // The subscription is in place at the server before the call is announced.
    within(node.request_timeout, node.client.flush()).await?;
    let (node, state, call_id) = (node.clone(), state.clone(), call_id.clone());
    Ok(tokio::spawn(async move {
        while let Some(message) = requests.next().await {
            let (node, state, call_id) = (node.clone(), state.clone(), call_id.clone());
            tokio::spawn(async move { answer_one(&node, &state, &call_id, message).await });
        }
    }))
}

/// Runs one forwarded request and publishes the reply.
async fn answer_one(node: &Node, state: &Arc<State>, call_id: &str, message: async_nats::Message) {
    let Some(reply_to) = message.reply else {
        return;
    };
    let op = message
        .headers
        .as_ref()
        .and_then(|h| h.get(OP))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default();
    let response = crate::api::answer_forwarded(state, call_id, &op, &message.payload).await;
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, MAX_REPLY_BYTES)
        .await
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    headers.insert(STATUS, parts.status.as_u16().to_string().as_str());
    for name in RELAYED {
        if let Some(value) = parts.headers.get(&name).and_then(|v| v.to_str().ok()) {
            headers.insert(name.as_str(), value);
        }
    }
    let publish = node.client.publish_with_headers(reply_to, headers, body);
    if let Err(e) = within(node.request_timeout, publish).await {
        tracing::warn!(node = %node.id, "cannot send a forwarded request's reply: {e}");
    }
}
