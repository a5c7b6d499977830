//! Probes: `/livez` (process alive, no Redis) and `/readyz` (Redis reachable).

use axum::extract::State;
use serde::Serialize;

use crate::AppState;
use crate::error::{ApiError, ApiOk, ApiResult};

/// Probe payload.
#[derive(Debug, Serialize)]
pub struct ProbeStatus {
    /// Always `ok` when the probe passes.
    pub status: &'static str,
}

/// `GET /livez`: the process answers; touches nothing else.
pub async fn livez() -> ApiResult<ProbeStatus> {
    Ok(ApiOk::data(ProbeStatus { status: "ok" }))
}

/// `GET /readyz`: Redis answers, the scripts are loaded (reloaded when missing) and
/// the replica is not draining; 503 / 50300 otherwise.
pub async fn readyz(State(state): State<AppState>) -> ApiResult<ProbeStatus> {
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(ApiError::StorageUnavailable(
            "draining: shutting down".into(),
        ));
    }
    state.store.check_ready().await?;
    Ok(ApiOk::data(ProbeStatus { status: "ok" }))
}
