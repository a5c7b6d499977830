//! liveroom: a live-streaming room service on Redis.
//!
//! Stateless axum replicas; all state in Redis (docs/DESIGN.md). Modules:
//!
//! - [`config`]: the command line and every setting (SPEC §9).
//! - [`error`]: the response envelope and the one error enum (SPEC §1).
//! - [`request_id`]: request ids and the per-request log line.
//! - [`logging`]: the log subscriber (JSON or pretty) and heartbeat log sampling.
//! - [`auth`]: user tokens (HS256, RS256 / ES256) and server tokens: verification and
//!   minting (SPEC §2, §11).
//! - [`extract`]: JSON bodies, path ids and pagination with our errors (SPEC §5, §7).
//! - [`model`]: the seed's wire shapes and input validation (SPEC §4, §7).
//! - [`events`]: room events as recorded in each room's stream (SPEC §10).
//! - [`store`]: Redis keys, the Lua scripts of `lua/`, one typed call per script.
//! - [`search`]: title index terms (substring search in any script).
//! - [`stream_urls`]: signed push and pull URLs (SPEC §8).
//! - [`media`]: the media-server hooks (nginx-rtmp, SRS): the push URL enforced,
//!   the stream as the anchor's presence (SPEC §12).
//! - [`routes`](mod@routes): one handler per endpoint with its OpenAPI operation, and
//!   the room views shared by the room and member endpoints; [`router`] lists them.
//! - [`openapi`]: the OpenAPI 3.1 document, generated from the handlers and the wire
//!   types, served at `/openapi.json`.
//! - [`metrics`]: Prometheus metrics and the HTTP metrics middleware.
//! - [`reaper`]: the partitioned, leased sweep of timed-out members and absent anchors,
//!   visiting rooms by the deadline index.
//! - [`leases`]: leased parts (reaper partitions, webhook shards) shared out over the
//!   live replicas.
//! - [`webhooks`]: delivery of room events to the configured receivers, signed, at
//!   least once and in order per room; the `liveroom webhooks` tools.
//! - [`server`]: `liveroom serve` and graceful shutdown.
//! - [`http_server`]: the HTTP/1 accept loop (header read timeout, graceful drain).
//! - [`redis_child`]: a private `redis-server` for zero-configuration runs and tests.
//! - [`redis_conn`]: one connection type for standalone, cluster and sentinel Redis.

pub mod auth;
pub mod config;
pub mod error;
pub mod events;
pub mod extract;
pub mod http_server;
pub mod leases;
pub mod logging;
pub mod media;
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
pub mod webhooks;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::MatchedPath;
use axum::http::Uri;
use chrono::FixedOffset;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
    /// Verifies server tokens (`LIVEROOM_SERVER_KEYS`).
    pub server_keys: auth::ServerKeys,
    /// Mints client tokens for `POST /server/auth/token`; `None` when HS256 user
    /// tokens are not accepted (a public key and no `LIVEROOM_JWT_SECRET`).
    pub minter: Option<auth::TokenMinter>,
    /// Push / pull URL builder.
    pub urls: StreamUrls,
    /// Zone of `YYYY-MM-DD HH:MM:SS` inputs.
    pub timezone: FixedOffset,
    /// Set on SIGTERM: `/readyz` fails so load balancers stop sending traffic.
    pub draining: Arc<AtomicBool>,
    /// Most API requests in flight before shedding (`LIVEROOM_MAX_IN_FLIGHT`).
    pub max_in_flight: usize,
    /// Fan-out of room events to this replica's event streams (SSE).
    pub hub: events::hub::Hub,
    /// Heartbeat interval told to clients, ms (`LIVEROOM_HEARTBEAT_INTERVAL`).
    pub heartbeat_interval_ms: u64,
    /// Longest wait for a request body after its headers (`LIVEROOM_BODY_READ_TIMEOUT`).
    pub body_read_timeout: std::time::Duration,
    /// The media-server hooks' settings (SPEC §12).
    pub media: media::MediaHooks,
}

impl AppState {
    /// Builds the state from a connected store and the configuration; fails on an
    /// unusable JWT secret, public key or server key (naming the setting).
    pub fn new(
        store: Store,
        config: &config::ServeConfig,
        jwt_secret: &str,
    ) -> Result<Self, String> {
        let (issuer, audience) = (config.jwt_issuer.as_deref(), config.jwt_audience.as_deref());
        // HS256 only when a secret is set or no public key is (SPEC §2).
        let secret = config.accepts_hs256().then_some(jwt_secret);
        let minter = secret
            .map(|secret| auth::TokenMinter::hs256(secret, issuer, audience))
            .transpose()?;
        let draining = Arc::new(AtomicBool::new(false));
        Ok(Self(Arc::new(AppShared {
            hub: events::hub::Hub::new(store.clone(), Arc::clone(&draining)),
            store,
            verifier: TokenVerifier::new(
                secret,
                config.jwt_public_key()?.as_ref(),
                issuer,
                audience,
            )?,
            server_keys: config.server_keys()?,
            minter,
            urls: StreamUrls {
                publish_url: config.publish_url.clone(),
                publish_key: config.publish_key.clone(),
                publish_ttl_secs: config.publish_ttl.as_secs() as i64,
                rtmp_play_url: config.rtmp_play_url.clone(),
                flv_play_url: config.flv_play_url.clone(),
                hls_play_url: config.hls_play_url.clone(),
            },
            timezone: config.timezone,
            draining,
            max_in_flight: config.max_in_flight as usize,
            heartbeat_interval_ms: config.heartbeat_interval().as_millis() as u64,
            body_read_timeout: config.body_read_timeout,
            media: media::MediaHooks::new(
                config.media_hook_secret.as_deref(),
                config.media_publish_starts_room,
            ),
        })))
    }
}

/// The whole HTTP application: every route once ([`router`]), then one layer per concern.
pub fn app(state: AppState) -> Router {
    metrics::install();
    let (routes, api) = router(state.max_in_flight).split_for_parts();
    let allowed = Arc::new(allowed_methods(&api));
    let body_read_timeout = state.body_read_timeout;
    routes
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(move |matched: Option<MatchedPath>, uri: Uri| {
            let allowed = Arc::clone(&allowed);
            async move { method_not_allowed(&allowed, matched, &uri) }
        })
        .with_state(state)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        // Outside the routes' shed layer: a slow body never holds an in-flight slot.
        .layer(axum::middleware::from_fn(move |req, next| {
            extract::read_body_first(body_read_timeout, req, next)
        }))
        // Request ids, span, log line, HTTP metrics and the panic catch in one layer
        // (a layer costs every request a boxed service clone and a boxed future).
        .layer(axum::middleware::from_fn(
            request_id::middleware_with_metrics,
        ))
}

/// The methods of every route template, from the OpenAPI document of [`router`]:
/// template → `"DELETE, POST, PUT"` (sorted).
fn allowed_methods(api: &utoipa::openapi::OpenApi) -> HashMap<String, String> {
    api.paths
        .paths
        .iter()
        .map(|(template, item)| {
            let mut methods: Vec<&str> = [
                ("DELETE", &item.delete),
                ("GET", &item.get),
                ("HEAD", &item.head),
                ("OPTIONS", &item.options),
                ("PATCH", &item.patch),
                ("POST", &item.post),
                ("PUT", &item.put),
            ]
            .into_iter()
            .filter(|(_, op)| op.is_some())
            .map(|(name, _)| name)
            .collect();
            methods.sort_unstable();
            (template.clone(), methods.join(", "))
        })
        .collect()
}

/// The 405 of a path that matched a route but not its method: names the route
/// template the path matched and the methods it takes, so a typo in a fixed path
/// segment (`/client/live/room/lsit`, read as a `live_id`) shows what it was taken for.
fn method_not_allowed(
    allowed: &HashMap<String, String>,
    matched: Option<MatchedPath>,
    uri: &Uri,
) -> ApiError {
    let route = matched.map_or_else(|| uri.path().to_owned(), |m| m.as_str().to_owned());
    let allowed = allowed.get(&route).cloned().unwrap_or_default();
    ApiError::MethodNotAllowed { route, allowed }
}

/// Every endpoint, each with its OpenAPI operation (the handler's `#[utoipa::path]`):
/// [`app`] serves the router and [`openapi::document`] is generated from the same
/// value, so a route cannot be served undocumented.
///
/// The API routes sit behind the overload protection (docs/DESIGN.md invariant 5): at
/// most `max_in_flight` API requests at once across all of them; the rest are answered
/// 429 / 42900 with `Retry-After` at once instead of queueing without bound. The
/// probes, this document and `/metrics` are never shed.
pub fn router(max_in_flight: usize) -> OpenApiRouter<AppState> {
    use routes::{events, members, probes, rooms, users};
    let api = OpenApiRouter::new()
        .routes(routes!(rooms::create))
        .routes(routes!(rooms::info))
        .routes(routes!(rooms::start, rooms::stop, rooms::stop_alias))
        .routes(routes!(rooms::delete))
        .routes(routes!(rooms::search))
        .routes(routes!(rooms::list))
        .routes(routes!(members::join, members::leave))
        .routes(routes!(members::heartbeat))
        .routes(routes!(rooms::update_extends))
        .routes(routes!(members::user_list))
        .routes(routes!(users::profile))
        .routes(routes!(users::update))
        .merge(server_router())
        .routes(routes!(routes::media::nginx_rtmp))
        .routes(routes!(routes::media::srs))
        // An event stream holds its in-flight slot only until its response starts
        // (the limit's permit lives in the response future, not the body).
        .routes(routes!(events::stream))
        .route_layer(http_server::ShedLayer::new(max_in_flight));
    let ops = OpenApiRouter::new()
        .routes(routes!(probes::livez))
        .routes(routes!(probes::readyz))
        .routes(routes!(openapi::serve))
        .routes(routes!(metrics::render));
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(api)
        .merge(ops)
}

/// The server API (SPEC §11): `/server/…`, authenticated with server tokens.
fn server_router() -> OpenApiRouter<AppState> {
    use routes::server::{members, moderation, rooms, tokens};
    OpenApiRouter::new()
        .routes(routes!(rooms::list))
        .routes(routes!(rooms::info))
        .routes(routes!(rooms::create))
        .routes(routes!(rooms::stop))
        .routes(routes!(rooms::delete, rooms::update))
        .routes(routes!(rooms::update_extends))
        .routes(routes!(members::user_list))
        .routes(routes!(moderation::kick))
        .routes(routes!(moderation::unban))
        .routes(routes!(moderation::bans))
        .routes(routes!(tokens::mint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use tower::ServiceExt;

    #[test]
    fn every_route_knows_its_methods() {
        let (_, api) = router(1).split_for_parts();
        let allowed = allowed_methods(&api);
        assert_eq!(allowed["/client/live/room/{live_id}"], "DELETE, POST, PUT");
        assert_eq!(allowed["/client/live/room/list"], "GET");
        assert_eq!(allowed["/client/live/room/instance"], "POST");
        assert!(allowed.values().all(|m| !m.is_empty()));
        // The route whose successes the request log samples.
        assert_eq!(allowed[logging::HEARTBEAT_ROUTE], "GET");
    }

    /// The fallback sees the template the path matched, as `app` wires it.
    #[tokio::test]
    async fn a_405_names_the_route_and_its_methods() {
        let (_, api) = router(1).split_for_parts();
        let allowed = Arc::new(allowed_methods(&api));
        let app: Router = Router::new()
            .route(
                "/client/live/room/{live_id}",
                axum::routing::put(|| async {})
                    .post(|| async {})
                    .delete(|| async {}),
            )
            .method_not_allowed_fallback(move |matched: Option<MatchedPath>, uri: Uri| {
                let allowed = Arc::clone(&allowed);
                async move { method_not_allowed(&allowed, matched, &uri) }
            });
        let response = app
            .oneshot(
                Request::builder()
                    .method(Method::GET)
                    .uri("/client/live/room/lsit")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body["message"],
            "method not allowed: /client/live/room/{live_id} takes DELETE, POST, PUT"
        );
    }
}
