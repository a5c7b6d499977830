//! Request ids (SPEC §1): the incoming `X-Request-Id` when it is sane (1-64 visible
//! ASCII characters), else a fresh id of 32 lowercase hex digits (128 random bits, not
//! a UUID). The id is echoed as the `X-Request-Id` response header, put in the envelope
//! (through a task-local, [`current`]), and recorded on the request's tracing span, so
//! every log line written inside the request's task has it. A task spawned from a
//! request inherits neither: [`current`] is `-` there, and its log lines carry the id
//! only when it is instrumented with the request's span (`Instrument::in_current_span`).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::logging::RequestLine;

/// Name of the request id header.
pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: Arc<str>;
}

/// The id of the request being served by this task, or `-` outside a request.
pub fn current() -> Arc<str> {
    REQUEST_ID
        .try_with(Arc::clone)
        .unwrap_or_else(|_| Arc::from("-"))
}

/// Whether a client-sent id is usable: 1-64 visible ASCII characters.
pub fn is_sane(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_graphic())
}

/// A fresh id: 128 random bits as 32 hex digits, from the thread-local generator
/// (no system call per request).
fn new_id() -> Arc<str> {
    Arc::from(format!("{:032x}", rand::random::<u128>()))
}

/// Middleware: assigns the id, runs the request inside its span (request id, method,
/// route template or `unmatched`) and task-local, echoes the header, and logs one line
/// per answered request (status, latency in ms; successful heartbeats sampled, see
/// [`crate::logging`]). A request whose future is dropped before it answers logs
/// nothing here.
pub async fn middleware(request: Request, next: Next) -> Response {
    let id: Arc<str> = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane(v))
        .map(Arc::from)
        .unwrap_or_else(new_id);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().clone();
    let span = tracing::info_span!("request", request_id = %id, %method, route = %route);
    let started = Instant::now();
    let mut response = REQUEST_ID
        .scope(Arc::clone(&id), next.run(request).instrument(span.clone()))
        .await;
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    span.in_scope(|| match crate::logging::request_line(&route, status) {
        RequestLine::Info => tracing::info!(status, latency_ms, "request"),
        RequestLine::Sampled => tracing::info!(
            status,
            latency_ms,
            sampled = crate::logging::HEARTBEAT_LOG_EVERY,
            "request"
        ),
        RequestLine::Debug => tracing::debug!(status, latency_ms, "request"),
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
