//! `POST /server/auth/token` (SPEC §11): the backend gets a user token for one of its
//! users without a JWT library of its own.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::ServerCaller;
use crate::error::{ApiError, ApiOk, ApiResult};
use crate::extract::JsonBody;
use crate::model::{check_url, limits};
use crate::openapi::{BadRequest, Forbidden, PayloadTooLarge, TokenEnvelope};
use crate::routes::server::check_user_id;

/// Default lifetime of a minted user token, seconds (24 h, as `liveroom token`).
pub const DEFAULT_TTL_SECONDS: u64 = 24 * 3600;
/// Shortest lifetime of a minted user token, seconds.
pub const MIN_TTL_SECONDS: u64 = 60;
/// Longest lifetime of a minted user token, seconds (7 days).
pub const MAX_TTL_SECONDS: u64 = 7 * 24 * 3600;

/// Body of `POST /server/auth/token`. Unknown fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = MintTokenRequest)]
pub struct MintTokenBody {
    /// The user, the token's `sub`: 1-64 chars of `[A-Za-z0-9_.:@-]`.
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 64,
        pattern = r"^[A-Za-z0-9_.:@-]{1,64}$"
    )]
    pub user_id: Option<String>,
    /// `nick` claim: seeds the profile on first sight; at most 64 characters.
    #[schema(max_length = 64)]
    pub nick: Option<String>,
    /// `avatar` claim: empty or an http(s) URL, at most 1024 characters.
    #[schema(max_length = 1024)]
    pub avatar: Option<String>,
    /// Lifetime in seconds, 60-604800 (7 days); default 86400 (24 h).
    #[schema(minimum = 60, maximum = 604800, default = 86400)]
    pub ttl_seconds: Option<u64>,
}

/// `data` of `POST /server/auth/token`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MintedToken)]
pub struct MintedToken {
    /// The user token (HS256 JWT), for `Authorization: Bearer <token>` on `/client/…`.
    pub token: String,
    /// The user it is for.
    pub user_id: String,
    /// Its expiry, Unix seconds.
    pub expires_at: u64,
}

/// `POST /server/auth/token`: a user token for `user_id`.
#[utoipa::path(
    post,
    path = "/server/auth/token",
    operation_id = "serverMintUserToken",
    tag = "server",
    summary = "Mint a user token (server)",
    description = "A user token for `user_id` (HS256, signed with `LIVEROOM_JWT_SECRET`, carrying the configured issuer and audience), with optional `nick` / `avatar` claims, valid `ttl_seconds` (60 s to 7 days, default 24 h).\n\nErrors: 400: 40000: the body is not a JSON object, `user_id` is missing or malformed, `nick` longer than 64 characters, `avatar` not an http(s) URL, `ttl_seconds` out of range. 403: 40300: the service verifies user tokens with `LIVEROOM_JWT_PUBLIC_KEY` only (no `LIVEROOM_JWT_SECRET` to sign with).",
    request_body = MintTokenBody,
    security(("serverAuth" = [])),
    responses(
        (status = 200, description = "The token.", body = TokenEnvelope),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
    ),
)]
pub async fn mint(
    State(state): State<AppState>,
    caller: ServerCaller,
    JsonBody(body): JsonBody<MintTokenBody>,
) -> ApiResult<MintedToken> {
    let user_id = body
        .user_id
        .ok_or_else(|| ApiError::InvalidArgument("user_id is required".into()))?;
    check_user_id("user_id", &user_id)?;
    if let Some(nick) = &body.nick {
        crate::model::check_text("nick", nick, limits::NICK_MAX, 0)?;
    }
    if let Some(avatar) = &body.avatar {
        check_url("avatar", avatar)?;
    }
    let ttl = body.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
    if !(MIN_TTL_SECONDS..=MAX_TTL_SECONDS).contains(&ttl) {
        return Err(ApiError::InvalidArgument(format!(
            "ttl_seconds must be {MIN_TTL_SECONDS}-{MAX_TTL_SECONDS}"
        )));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let minter = state.minter.as_ref().ok_or(ApiError::Forbidden(
        "minting user tokens needs LIVEROOM_JWT_SECRET: this service takes only user tokens signed for LIVEROOM_JWT_PUBLIC_KEY",
    ))?;
    let token = minter
        .mint(
            &user_id,
            body.nick.as_deref().filter(|n| !n.is_empty()),
            body.avatar.as_deref().filter(|a| !a.is_empty()),
            Duration::from_secs(ttl),
        )
        .map_err(ApiError::Internal)?;
    tracing::info!(
        user = user_id,
        key = caller.key_id,
        ttl,
        "user token minted"
    );
    Ok(ApiOk::data(MintedToken {
        token,
        user_id,
        expires_at: now + ttl,
    }))
}
