//! The response envelope and the one error enum (SPEC §1).
//!
//! Every body is `{"request_id", "code", "message", "data"?}`. The numeric `code`
//! and the HTTP status of each error live in [`ApiError::code`] and
//! [`ApiError::status`], nowhere else. Internal causes are logged inside the
//! request's span and never sent to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::request_id;
use crate::store::{Action, MAX_EXTENDS_KEYS, StoreError};

/// Seconds a client should wait before retrying a 429 / 503 (`Retry-After`).
const RETRY_AFTER_SECS: &str = "1";

/// Every way a request can fail, with its envelope `code` and HTTP status (SPEC §1).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 40000 / 400: a field or parameter is invalid; the message names it.
    #[error("{0}")]
    InvalidArgument(String),
    /// 40000 / 413: the body is larger than the limit (SPEC §7: 64 KiB).
    #[error("request body must be at most {0} bytes")]
    BodyTooLarge(usize),
    /// 40100 / 401: the token is missing or invalid.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 40101 / 401: the token has expired.
    #[error("token expired")]
    TokenExpired,
    /// 40300 / 403: the caller may not do this (e.g. not the room's anchor).
    #[error("{0}")]
    Forbidden(&'static str),
    /// 40301 / 403: the user is banned from the room (SPEC §11); the message gives the
    /// ban's end as RFC 3339 UTC time.
    #[error("{0}")]
    Banned(String),
    /// 40400 / 404: the room does not exist (or was deleted).
    #[error("room not found")]
    RoomNotFound,
    /// 40400 / 404: no such route.
    #[error("no such endpoint")]
    RouteNotFound,
    /// 40401 / 404: the caller is not present in the room (never joined, left or expired).
    #[error("user is not in this room")]
    NotInRoom,
    /// 40401 / 404: the caller was removed from the room by the server API (a kick,
    /// SPEC §11), answered to its heartbeat.
    #[error("user was removed from this room (kicked)")]
    Removed,
    /// 40000 / 405: the path matches a route, but not with this method; names the
    /// route template and the methods it takes (also the `Allow` header).
    #[error("method not allowed: {route} takes {allowed}")]
    MethodNotAllowed {
        /// The route template the path matched, e.g. `/client/live/room/{live_id}`.
        route: String,
        /// Its methods, comma-separated, e.g. `DELETE, POST, PUT`.
        allowed: String,
    },
    /// 40900 / 409: the room's state forbids the operation; the message says which.
    #[error("{0}")]
    Conflict(&'static str),
    /// 42900 / 429: rate limited or overloaded.
    #[error("too many requests, retry later")]
    Overloaded,
    /// 50000 / 500: a bug; the cause is logged, not sent.
    #[error("internal error")]
    Internal(String),
    /// 50300 / 503: Redis is unavailable or timed out; the cause is logged, not sent.
    #[error("storage unavailable, retry later")]
    StorageUnavailable(String),
}

impl ApiError {
    /// The envelope's numeric `code` (SPEC §1).
    pub fn code(&self) -> u32 {
        match self {
            Self::InvalidArgument(_) | Self::BodyTooLarge(_) | Self::MethodNotAllowed { .. } => {
                40000
            }
            Self::Unauthorized(_) => 40100,
            Self::TokenExpired => 40101,
            Self::Forbidden(_) => 40300,
            Self::Banned(_) => 40301,
            Self::RoomNotFound | Self::RouteNotFound => 40400,
            Self::NotInRoom | Self::Removed => 40401,
            Self::Conflict(_) => 40900,
            Self::Overloaded => 42900,
            Self::Internal(_) => 50000,
            Self::StorageUnavailable(_) => 50300,
        }
    }

    /// The HTTP status paired with [`Self::code`].
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unauthorized(_) | Self::TokenExpired => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::Banned(_) => StatusCode::FORBIDDEN,
            Self::RoomNotFound | Self::RouteNotFound | Self::NotInRoom | Self::Removed => {
                StatusCode::NOT_FOUND
            }
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::StorageUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// The one place where a store outcome gets its HTTP status, envelope code and
/// message (SPEC §1): refusals name the rule, Redis trouble is 503 (retry later),
/// bugs are 500 (the cause is logged, not sent).
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::RoomNotFound => Self::RoomNotFound,
            StoreError::NotPresent => Self::NotInRoom,
            StoreError::Kicked => Self::Removed,
            StoreError::Banned { until_ms } => Self::Banned(format!(
                "banned from this room until {}",
                // Rounded up to the second, as `banned_until` / `until` are.
                chrono::DateTime::from_timestamp((until_ms + 999).div_euclid(1000), 0)
                    .unwrap_or_default()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )),
            StoreError::NotAnchor(action) => Self::Forbidden(match action {
                Action::Start => "only the room's anchor may start it",
                Action::Stop => "only the room's anchor may stop it",
                Action::Delete => "only the room's anchor may delete it",
                Action::UpdateExtends => "only the room's anchor may update extends",
                Action::Join => "only the room's anchor may do this",
            }),
            StoreError::Ended(Action::Start) => {
                Self::Conflict("room has ended and cannot start again")
            }
            StoreError::Ended(_) => Self::Conflict("room has ended"),
            StoreError::NotLive => Self::Conflict("room is not live"),
            StoreError::TooManyExtendsKeys => {
                Self::InvalidArgument(format!("extends must have at most {MAX_EXTENDS_KEYS} keys"))
            }
            StoreError::Unavailable(cause) => Self::StorageUnavailable(cause),
            err @ (StoreError::IdTaken | StoreError::Internal(_)) => {
                Self::Internal(err.to_string())
            }
        }
    }
}

/// The JSON envelope of every response (SPEC §1).
#[derive(Debug, Serialize)]
pub struct Envelope<'a, T: Serialize> {
    /// The request's id (also the `X-Request-Id` response header).
    pub request_id: &'a str,
    /// 0 on success, else one of SPEC §1's codes.
    pub code: u32,
    /// `success`, or a short sentence naming the field or rule that failed.
    pub message: &'a str,
    /// The payload; omitted when the endpoint has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
}

/// Serialises an envelope into a JSON response with `status`.
pub fn envelope_response<T: Serialize>(
    status: StatusCode,
    code: u32,
    message: &str,
    data: Option<T>,
) -> Response {
    let id = request_id::current();
    let body = Envelope {
        request_id: &id,
        code,
        message,
        data,
    };
    match serde_json::to_vec(&body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "response serialisation failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(cause) => tracing::error!(cause = %cause, "internal error"),
            Self::StorageUnavailable(cause) => {
                tracing::warn!(cause = %cause, "storage unavailable")
            }
            _ => {}
        }
        let mut response =
            envelope_response::<()>(self.status(), self.code(), &self.to_string(), None);
        if matches!(self, Self::Overloaded | Self::StorageUnavailable(_)) {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        // RFC 7235 §4.1 / RFC 6750 §3: a 401 names the scheme that would be accepted.
        if matches!(self, Self::Unauthorized(_) | Self::TokenExpired) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A successful response: code 0, message `success`, and `data` when present.
#[derive(Debug)]
pub struct ApiOk<T: Serialize>(pub Option<T>);

impl<T: Serialize> ApiOk<T> {
    /// Success with `data`.
    pub fn data(data: T) -> Self {
        Self(Some(data))
    }
}

impl ApiOk<()> {
    /// Success without `data` (the seed's stop, delete, leave, extends).
    pub fn empty() -> Self {
        Self(None)
    }
}

impl<T: Serialize> IntoResponse for ApiOk<T> {
    fn into_response(self) -> Response {
        envelope_response(StatusCode::OK, 0, "success", self.0)
    }
}

/// Result of every handler.
pub type ApiResult<T> = Result<ApiOk<T>, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(reply: &str) -> redis::RedisError {
        // The way redis-rs builds a server error from a reply line.
        let value = redis::Value::ServerError(
            redis::parse_redis_value(format!("-{reply}\r\n").as_bytes())
                .ok()
                .and_then(|v| match v {
                    redis::Value::ServerError(e) => Some(e),
                    _ => None,
                })
                .expect("a server error"),
        );
        value.extract_error().unwrap_err()
    }

    #[test]
    fn unauthorized_says_bearer_and_405_names_the_methods() {
        for err in [ApiError::Unauthorized("x"), ApiError::TokenExpired] {
            let response = err.into_response();
            assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        }
        let forbidden = ApiError::Forbidden("x").into_response();
        assert!(!forbidden.headers().contains_key(header::WWW_AUTHENTICATE));
        let err = ApiError::MethodNotAllowed {
            route: "/client/live/room/{live_id}".into(),
            allowed: "DELETE, POST, PUT".into(),
        };
        assert_eq!(
            err.to_string(),
            "method not allowed: /client/live/room/{live_id} takes DELETE, POST, PUT"
        );
    }

    /// Redis errors reach the API through `StoreError` (src/store/error.rs).
    #[test]
    fn failover_errors_are_503_and_script_bugs_500() {
        for reply in [
            "READONLY You can't write against a read only replica.",
            "MASTERDOWN Link with MASTER is down",
            "CLUSTERDOWN The cluster is down",
            "TRYAGAIN Multiple keys request during rehashing of slot",
            "LOADING Redis is loading the dataset in memory",
            "MOVED 3999 127.0.0.1:6381",
            "NOREPLICAS Not enough good replicas to write.",
            "OOM command not allowed when used memory > 'maxmemory'.",
            "BUSY Redis is busy running a script.",
        ] {
            let err = ApiError::from(StoreError::from(server_error(reply)));
            assert_eq!(err.code(), 50300, "{reply}: {err:?}");
        }
        let err = ApiError::from(StoreError::from(server_error(
            "ERR user_script:1: Script attempted to access a non local key",
        )));
        assert_eq!(err.code(), 50000, "{err:?}");
    }
}
