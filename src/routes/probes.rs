//! Probes: `/livez` (process alive, no Redis) and `/readyz` (Redis reachable).

use axum::extract::State;
use serde::Serialize;

use crate::AppState;
use crate::error::{ApiOk, ApiResult};

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

/// `GET /readyz`: Redis answers `PING`; 503 / 50300 otherwise.
pub async fn readyz(State(state): State<AppState>) -> ApiResult<ProbeStatus> {
    state.store.ping().await?;
    Ok(ApiOk::data(ProbeStatus { status: "ok" }))
}
