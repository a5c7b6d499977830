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
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
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

/// A fresh id: 128 random bits as 32 lowercase hex digits, from the thread-local
/// generator (no system call per request), written straight into its one allocation.
fn new_id() -> Arc<str> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = rand::random::<u128>();
    let mut digits = [0u8; 32];
    for (i, digit) in digits.iter_mut().enumerate() {
        *digit = HEX[((bits >> (4 * (31 - i))) & 0xf) as usize];
    }
    Arc::from(std::str::from_utf8(&digits).unwrap_or_default())
}

/// Middleware: assigns the id, runs the request inside its span (request id, method,
/// route template or `unmatched`) and task-local, echoes the header, and logs one line
/// per answered request (status, latency in ms; successful heartbeats sampled, see
/// [`crate::logging`]). A request whose future is dropped before it answers logs
/// nothing here.
pub async fn middleware(request: Request, next: Next) -> Response {
    serve(request, next, false).await
}

/// The outer layers of [`crate::app`] in one: [`middleware`], with the HTTP metrics of
/// [`crate::metrics::track_http`] inside it (inside the request's span and
/// task-local, as when that middleware is layered just inside this one), and inside
/// those the panic catch: a handler that panics is answered 500 / 50000 (`internal
/// error`, logged with the request id), counted and logged like any other answer.
/// One layer because each middleware layer costs every request a clone of the boxed
/// inner service and a boxed future.
pub async fn middleware_with_metrics(request: Request, next: Next) -> Response {
    serve(request, next, true).await
}

/// [`middleware`], with the HTTP metrics and the panic catch when `outer` is set.
async fn serve(request: Request, next: Next, outer: bool) -> Response {
    let id: Arc<str> = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane(v))
        .map(Arc::from)
        .unwrap_or_else(new_id);
    // The template is shared (`MatchedPath` is an `Arc<str>`), not copied.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = request.method().clone();
    let span = tracing::info_span!("request", request_id = %id, %method, route = %route);
    let started = Instant::now();
    let inner = next.run(request);
    let mut response = if outer {
        let caught = async {
            std::panic::AssertUnwindSafe(inner)
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    crate::error::ApiError::Internal("handler panicked".into()).into_response()
                })
        };
        let tracked = crate::metrics::tracked(route, &method, caught);
        REQUEST_ID
            .scope(Arc::clone(&id), tracked.instrument(span.clone()))
            .await
    } else {
        REQUEST_ID
            .scope(Arc::clone(&id), inner.instrument(span.clone()))
            .await
    };
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    span.in_scope(|| match crate::logging::request_line(route, status) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written digits are `format!("{:032x}")`'s.
    #[test]
    fn fresh_ids_are_32_lowercase_hex_digits() {
        let ids: Vec<Arc<str>> = (0..100).map(|_| new_id()).collect();
        for id in &ids {
            assert_eq!(id.len(), 32, "{id}");
            let bits = u128::from_str_radix(id, 16).unwrap();
            assert_eq!(format!("{bits:032x}"), **id);
            assert!(is_sane(id));
        }
        assert!(ids.windows(2).all(|w| w[0] != w[1]));
    }

    /// Through the app's outer layer: a panicking handler is a 500 / 50000 envelope
    /// with the request id, and the next request is served.
    #[tokio::test]
    async fn a_panicking_handler_is_a_500_envelope() {
        use axum::body::Body;
        use tower::ServiceExt;
        let app = axum::Router::new()
            .route(
                "/boom",
                axum::routing::get(|| async {
                    if std::hint::black_box(true) {
                        panic!("boom");
                    }
                    "never"
                }),
            )
            .route("/ok", axum::routing::get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(middleware_with_metrics));
        let request = |path: &str| {
            axum::http::Request::get(path)
                .header(HEADER, "panic-test-1")
                .body(Body::empty())
                .unwrap()
        };
        let response = app.clone().oneshot(request("/boom")).await.unwrap();
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()[HEADER], "panic-test-1");
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], 50000, "{body}");
        assert_eq!(body["request_id"], "panic-test-1", "{body}");
        let response = app.oneshot(request("/ok")).await.unwrap();
        assert_eq!(response.status(), 200);
    }
}
