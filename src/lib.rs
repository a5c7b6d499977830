//! liveroom: a live-streaming room service on Redis.
//!
//! Stateless axum replicas; all state in Redis (docs/DESIGN.md). Modules:
//!
//! - [`config`]: the command line and every setting (SPEC §9).
//! - [`error`]: the response envelope and the one error enum (SPEC §1).
//! - [`request_id`]: request ids and the per-request log line.
//! - [`auth`]: JWT verification and minting (SPEC §2).
//! - [`extract`]: JSON bodies, path ids and pagination with our errors (SPEC §5, §7).
//! - [`model`]: the seed's wire shapes and input validation (SPEC §4, §7).
//! - [`store`]: Redis keys, the Lua scripts of `lua/`, one typed call per script.
//! - [`search`]: title index terms (substring search in any script).
//! - [`stream_urls`]: signed push and pull URLs (SPEC §8).
//! - [`routes`]: one handler per endpoint.
//! - [`openapi`]: the OpenAPI 3.1 document served at `/openapi.json`.
//! - [`metrics`]: Prometheus metrics and the HTTP metrics middleware.
//! - [`reaper`]: the leader lease and the sweep of timed-out members and absent anchors.
//! - [`server`]: `liveroom serve` and graceful shutdown.
//! - [`redis_child`]: a private `redis-server` for zero-configuration runs and tests.
//! - [`redis_conn`]: one connection type for standalone, cluster and sentinel Redis.

pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
pub mod http_server;
pub mod metrics;
pub mod model;
pub mod openapi;
pub mod reaper;
pub mod redis_child;
pub mod redis_conn;
pub mod request_id;
pub mod routes;
pub mod search;
pub mod server;
pub mod store;
pub mod stream_urls;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use chrono::FixedOffset;
use tower_http::catch_panic::CatchPanicLayer;

use crate::auth::TokenVerifier;
use crate::error::ApiError;
use crate::store::Store;
use crate::stream_urls::StreamUrls;

/// Shared state of every handler: one `Arc`, so the per-request clone axum makes
/// is a single reference-count increment. Fields are reached through `Deref`.
#[derive(Clone)]
pub struct AppState(Arc<AppShared>);

impl std::ops::Deref for AppState {
    type Target = AppShared;

    fn deref(&self) -> &AppShared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct AppShared {
    /// Redis access.
    pub store: Store,
    /// Verifies client tokens.
    pub verifier: TokenVerifier,
    /// Push / pull URL builder.
    pub urls: StreamUrls,
    /// Zone of `YYYY-MM-DD HH:MM:SS` inputs.
    pub timezone: FixedOffset,
    /// Set on SIGTERM: `/readyz` fails so load balancers stop sending traffic.
    pub draining: Arc<AtomicBool>,
    /// Most API requests in flight before shedding (`LIVEROOM_MAX_IN_FLIGHT`).
    pub max_in_flight: usize,
    /// Heartbeat interval told to clients, ms (`LIVEROOM_HEARTBEAT_INTERVAL`).
    pub heartbeat_interval_ms: u64,
    /// Longest wait for a request body after its headers (`LIVEROOM_BODY_READ_TIMEOUT`).
    pub body_read_timeout: std::time::Duration,
}

impl AppState {
    /// Builds the state from a connected store and the configuration; fails on an
    /// unusable JWT secret.
    pub fn new(
        store: Store,
        config: &config::ServeConfig,
        jwt_secret: &str,
    ) -> Result<Self, String> {
        Ok(Self(Arc::new(AppShared {
            store,
            verifier: TokenVerifier::hs256(
                jwt_secret,
                config.jwt_issuer.as_deref(),
                config.jwt_audience.as_deref(),
            )?,
            urls: StreamUrls {
                publish_url: config.publish_url.clone(),
                publish_key: config.publish_key.clone(),
                publish_ttl_secs: config.publish_ttl.as_secs() as i64,
                rtmp_play_url: config.rtmp_play_url.clone(),
                flv_play_url: config.flv_play_url.clone(),
                hls_play_url: config.hls_play_url.clone(),
            },
            timezone: config.timezone,
            draining: Arc::new(AtomicBool::new(false)),
            max_in_flight: config.max_in_flight as usize,
            heartbeat_interval_ms: config.heartbeat_interval.as_millis() as u64,
            body_read_timeout: config.body_read_timeout,
        })))
    }
}

/// The whole HTTP application: every route once, then one layer per concern.
pub fn app(state: AppState) -> Router {
    use routes::{members, probes, rooms, users};
    metrics::install();
    let api = Router::new()
        .route("/client/live/room/instance", post(rooms::create))
        .route("/client/live/room/info/{live_id}", get(rooms::info))
        .route(
            "/client/live/room/{live_id}",
            put(rooms::start).post(rooms::stop).delete(rooms::stop),
        )
        .route(
            "/client/live/room/instance/{live_id}",
            axum::routing::delete(rooms::delete),
        )
        .route("/client/live/room", get(rooms::search))
        .route("/client/live/room/list", get(rooms::list))
        .route(
            "/client/live/room/user/{live_id}",
            post(members::join).delete(members::leave),
        )
        .route(
            "/client/live/room/heartbeat/{live_id}",
            get(members::heartbeat),
        )
        .route("/client/live/room/extends", put(rooms::update_extends))
        .route("/client/live/room/user_list", get(members::user_list))
        .route("/client/user/profile", get(users::profile))
        .route("/client/user/user", put(users::update))
        .route_layer(shed_past(state.max_in_flight));
    let ops = Router::new()
        .route("/livez", get(probes::livez))
        .route("/readyz", get(probes::readyz))
        .route("/openapi.json", get(openapi::document))
        .route("/metrics", get(metrics::render));
    let body_read_timeout = state.body_read_timeout;
    api.merge(ops)
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        // Outside the routes' shed layer: a slow body never holds an in-flight slot.
        .layer(axum::middleware::from_fn(move |req, next| {
            extract::read_body_first(body_read_timeout, req, next)
        }))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("handler panicked".into()).into_response_ext()
        }))
        .layer(axum::middleware::from_fn(metrics::track_http))
        .layer(axum::middleware::from_fn(request_id::middleware))
}

/// Overload protection (docs/DESIGN.md invariant 5): at most `max_in_flight` API
/// requests at once across all routes; the rest are answered 429 / 42900 with
/// `Retry-After` at once instead of queueing without bound.
fn shed_past(
    max_in_flight: usize,
) -> impl tower::Layer<
    axum::routing::Route,
    Service = impl tower::Service<
        axum::extract::Request,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future = impl Send + 'static,
    > + Clone
              + Send
              + Sync
              + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    tower::ServiceBuilder::new()
        .layer(axum::error_handling::HandleErrorLayer::new(
            |_: tower::BoxError| async { ApiError::Overloaded },
        ))
        .load_shed()
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            max_in_flight,
        ))
}

trait IntoResponseExt {
    fn into_response_ext(self) -> axum::response::Response;
}

impl IntoResponseExt for ApiError {
    fn into_response_ext(self) -> axum::response::Response {
        axum::response::IntoResponse::into_response(self)
    }
}
