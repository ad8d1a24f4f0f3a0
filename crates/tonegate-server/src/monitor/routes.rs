//! The monitor's HTTP routes: the embedded page and its two data endpoints.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Path as UrlPath, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use super::WatchError;
use crate::events::admit;
use crate::{State, shutting_down};

/// The page forbids every source but its own server: no CDN, no inline script.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The monitor's routes.
pub(crate) fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/monitor", get(page))
        .route("/monitor/monitor.js", get(script))
        .route("/monitor/monitor.css", get(style))
        .route("/v1/monitor/calls", get(calls))
        .route("/v1/monitor/calls/{call_id}/features", get(features))
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", include_str!("page/index.html"))
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("page/monitor.js"),
    )
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("page/monitor.css"))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// One live call in `GET /v1/monitor/calls`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Call {
    call_id: Arc<str>,
    dialect: &'static str,
    encoding: &'static str,
    sample_rate: u32,
    participants: Vec<Arc<str>>,
    duration_ms: u64,
}

/// `GET /v1/monitor/calls`.
async fn calls(
    AxumState(state): AxumState<Arc<State>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = admit(&state, None, &uri, &headers) {
        return refusal;
    }
    let now = state.now();
    let mut calls: Vec<Call> = state
        .registry
        .infos()
        .into_iter()
        .map(|info| Call {
            call_id: info.call_id.clone(),
            dialect: info.dialect.as_str(),
            encoding: info.encoding,
            sample_rate: info.rate.hz(),
            participants: info
                .participants
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            duration_ms: now.saturating_sub(info.started).as_millis() as u64,
        })
        .collect();
    calls.sort_by(|a, b| {
        b.duration_ms
            .cmp(&a.duration_ms)
            .then(a.call_id.cmp(&b.call_id))
    });
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(calls)).into_response()
}

/// `GET /v1/monitor/calls/{callId}/features`.
async fn features(
    AxumState(state): AxumState<Arc<State>>,
    UrlPath(call_id): UrlPath<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = admit(&state, Some(&call_id), &uri, &headers) {
        return refusal;
    }
    let watch = match state.monitor.watch(&call_id) {
        Ok(watch) => watch,
        Err(WatchError::NoSuchCall) => {
            return (StatusCode::NOT_FOUND, "no such call").into_response();
        }
        Err(WatchError::Full) => {
            tracing::warn!("refusing monitor stream: max_monitor_watchers reached");
            return (StatusCode::SERVICE_UNAVAILABLE, "too many monitor watchers").into_response();
        }
    };
    let closed = state.closed.subscribe();
    let stream = futures_util::stream::unfold(
        (watch, closed),
        |(mut watch, mut closed)| async move {
            let chunk = tokio::select! {
                received = watch.receiver.recv() => match received {
                    Ok(records) => sse("features", &records),
                    Err(RecvError::Lagged(lost)) => Bytes::from(format!("event: lagged\ndata: {lost}\n\n")),
                    Err(RecvError::Closed) => return None,
                },
                _ = shutting_down(&mut closed) => return None,
            };
            Some((Ok::<_, Infallible>(chunk), (watch, closed)))
        },
    );
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// One server-sent event `name` whose data is the base64 of `records`.
fn sse(name: &str, records: &[u8]) -> Bytes {
    let data = base64::engine::general_purpose::STANDARD.encode(records);
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}
