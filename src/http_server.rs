//! Serving the API over HTTP/1.1 with a header-read timeout and graceful shutdown.
//!
//! `axum::serve` sets no timer on hyper, so hyper's header-read timeout never runs
//! and a client that connects and trickles its headers (slowloris), or sends
//! nothing, holds a connection and its task for as long as it likes. This is the
//! same accept loop on hyper's HTTP/1.1 connection builder with a timer and
//! `header_read_timeout`, and hyper-util's `GracefulShutdown` for draining. HTTP/2
//! is not served: load balancers speak HTTP/1.1 to their backends, and terminate
//! HTTP/2 themselves.

use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting,
/// closes idle connections, lets requests in flight finish, and returns when every
/// connection has closed (bound that wait from outside: see `server::serve` and
/// `LIVEROOM_SHUTDOWN_TIMEOUT`).
///
/// A connection whose request headers are not complete within
/// `header_read_timeout` of the server starting to read them — from the accept, or
/// from the previous response on a kept-alive connection — is closed
/// (`LIVEROOM_HEADER_READ_TIMEOUT`). Accept errors (e.g. out of file descriptors)
/// are logged and retried after 1 s, as `axum::serve` does; they never end the loop.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "accepting a connection failed; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Errors of one connection that was reset before it was accepted: not a reason
/// to pause the accept loop.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// Overload protection of the API routes (docs/DESIGN.md invariant 5), applied with
/// `route_layer`: at most `max_in_flight` requests at once across every route it
/// wraps (`LIVEROOM_MAX_IN_FLIGHT`); a request over the limit is answered at once with
/// [`crate::error::ApiError::Overloaded`] (429 / 42900, `Retry-After`), never queued.
/// A request holds its slot from the call until its handler answers or its future is
/// dropped (the slot lives in the response future, not the body).
///
/// What tower's `GlobalConcurrencyLimitLayer` + `load_shed` + `HandleErrorLayer` did,
/// with one `try_acquire` of a shared semaphore per request: the router clones a
/// route's service for every request, and a clone of tower's limit allocated a fresh
/// boxed acquire future each time.
#[derive(Clone)]
pub struct ShedLayer {
    slots: Arc<Semaphore>,
}

impl ShedLayer {
    /// A limit of `max_in_flight` requests at once, shared by every route it wraps.
    pub fn new(max_in_flight: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_in_flight.min(Semaphore::MAX_PERMITS))),
        }
    }
}

impl<S> tower::Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Shed<S> {
        Shed {
            inner,
            slots: Arc::clone(&self.slots),
        }
    }
}

/// The service of [`ShedLayer`].
#[derive(Clone)]
pub struct Shed<S> {
    inner: S,
    slots: Arc<Semaphore>,
}

impl<S> tower::Service<Request> for Shed<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(slot) => {
                let answer = self.inner.call(request);
                Box::pin(async move {
                    let response = answer.await;
                    drop(slot);
                    response
                })
            }
            Err(_) => {
                let refused = crate::error::ApiError::Overloaded.into_response();
                Box::pin(std::future::ready(Ok(refused)))
            }
        }
    }
}
