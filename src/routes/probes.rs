//! Probes: `/livez` (process alive, no Redis) and `/readyz` (Redis reachable).

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ApiOk, ApiResult};
use crate::openapi::ProbeEnvelope;

/// A passing probe.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Probe)]
pub struct ProbeStatus {
    /// Always `ok` when the probe passes.
    #[schema(value_type = String, pattern = "^ok$")]
    pub status: &'static str,
}

/// `GET /livez`: the process answers; touches nothing else.
#[utoipa::path(
    get,
    path = "/livez",
    operation_id = "livez",
    tag = "probes",
    summary = "Liveness",
    description = "The process answers; touches nothing else (not Redis).",
    security(()),
    responses((status = 200, description = "Alive.", body = ProbeEnvelope)),
)]
pub async fn livez() -> ApiResult<ProbeStatus> {
    Ok(ApiOk::data(ProbeStatus { status: "ok" }))
}

/// `GET /readyz`: Redis answers, the scripts are loaded (reloaded when missing) and
/// the replica is not draining; 503 / 50300 otherwise.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "probes",
    summary = "Readiness",
    description = "Redis answers `PING` and the replica is not draining (after SIGTERM it answers 503 so load balancers stop sending traffic).\n\nErrors: 503: 50300: Redis is unreachable or timed out, or the replica is draining.",
    security(()),
    responses((status = 200, description = "Ready.", body = ProbeEnvelope)),
)]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<ProbeStatus> {
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(ApiError::StorageUnavailable(
            "draining: shutting down".into(),
        ));
    }
    state.store.check_ready().await?;
    Ok(ApiOk::data(ProbeStatus { status: "ok" }))
}
