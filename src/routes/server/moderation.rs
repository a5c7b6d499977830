//! Server moderation routes (SPEC §11): kick a member with an optional ban, lift a
//! ban, list a room's bans. Bans live in the room's own Redis slot
//! ([`crate::store::Store::kick_member`]), end by Redis's clock, and go with the room.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::ServerCaller;
use crate::error::{ApiError, ApiOk, ApiResult};
use crate::extract::{JsonBody, LiveIdPath, Page, QueryParams, check_live_id};
use crate::model::PageOf;
use crate::openapi::{
    BadRequest, BanPageEnvelope, KickEnvelope, MemberNotFound, PageParams, PayloadTooLarge,
    RoomNotFound, RoomParam, UnbanEnvelope,
};
use crate::routes::server::check_user_id;
use crate::routes::server::rooms::REASON_MAX;
use crate::store::ServerNote;

/// Longest ban, seconds (365 days).
pub const MAX_BAN_SECONDS: i64 = 31_536_000;

/// Body of `POST /server/live/room/kick/{live_id}`. Unknown fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = KickMemberRequest)]
pub struct KickBody {
    /// The member to remove: 1-64 chars of `[A-Za-z0-9_.:@-]`; not the room's anchor.
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 64,
        pattern = r"^[A-Za-z0-9_.:@-]{1,64}$"
    )]
    pub user_id: Option<String>,
    /// Ban length in seconds, 0-31536000 (365 days); 0 or absent = kick only.
    #[schema(minimum = 0, maximum = 31536000, default = 0)]
    pub ban_seconds: Option<i64>,
    /// Why (recorded in the `member_left` event as `note`, and logged): at most 256
    /// characters, no control characters other than tab and newline.
    #[schema(max_length = 256)]
    pub reason: Option<String>,
}

/// `data` of `POST /server/live/room/kick/{live_id}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = KickResult)]
pub struct KickResult {
    /// The user acted on.
    pub user_id: String,
    /// Whether it was present (and is now removed; `member_left` reason `kicked`).
    pub kicked: bool,
    /// When its ban ends, Unix seconds (rounded up); 0 = not banned.
    pub banned_until: i64,
}

/// `data` of `DELETE /server/live/room/ban/{live_id}/{user_id}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UnbanResult)]
pub struct UnbanResult {
    /// The user.
    pub user_id: String,
    /// Whether an active ban was lifted (`false`: there was none; nothing changed).
    pub unbanned: bool,
}

/// One active ban.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = BanInfo)]
pub struct BanInfo {
    /// The banned user.
    pub user_id: String,
    /// When the ban ends, Unix seconds (rounded up).
    pub until: i64,
}

/// Unix seconds of `ms`, rounded up (a ban is never shown ending before it does).
fn ceil_secs(ms: i64) -> i64 {
    (ms + 999).div_euclid(1000)
}

/// `POST /server/live/room/kick/{live_id}`: removes a member, optionally banning it.
#[utoipa::path(
    post,
    path = "/server/live/room/kick/{live_id}",
    operation_id = "serverKickMember",
    tag = "server",
    summary = "Kick a member, optionally ban it (server)",
    description = "Removes `user_id` from the room at once (presence and member list; `online_count` drops in the same write; event `member_left` with `reason: kicked`, `by` = the server key id, `note` = `reason`). Its next heartbeat answers 404 / 40401 saying it was removed. With `ban_seconds` > 0 it is also banned: its joins are refused with 403 / 40301 until the ban ends (Redis's clock), on every replica and device; a user not present may be banned too. The ban goes with the room.\n\nErrors: 400: 40000: `live_id` malformed, the body not a JSON object, `user_id` missing, malformed or the room's anchor (stop the room instead), `ban_seconds` not 0-31536000, `reason` longer than 256 characters or holding control characters. 404: 40400: no such room; 40401: the user is not in the room and no ban was asked (nothing written).",
    params(LiveIdPath),
    request_body = KickBody,
    security(("serverAuth" = [])),
    responses(
        (status = 200, description = "Kicked (and banned).", body = KickEnvelope),
        (status = 400, response = BadRequest),
        (status = 404, response = MemberNotFound),
        (status = 413, response = PayloadTooLarge),
    ),
)]
pub async fn kick(
    State(state): State<AppState>,
    caller: ServerCaller,
    LiveIdPath(live_id): LiveIdPath,
    JsonBody(body): JsonBody<KickBody>,
) -> ApiResult<KickResult> {
    let user_id = body
        .user_id
        .ok_or_else(|| ApiError::InvalidArgument("user_id is required".into()))?;
    check_user_id("user_id", &user_id)?;
    let ban_seconds = body.ban_seconds.unwrap_or(0);
    if !(0..=MAX_BAN_SECONDS).contains(&ban_seconds) {
        return Err(ApiError::InvalidArgument(format!(
            "ban_seconds must be an integer 0-{MAX_BAN_SECONDS}"
        )));
    }
    let note = body.reason.unwrap_or_default();
    crate::model::check_text("reason", &note, REASON_MAX, 0)?;
    let raw = state.store.get_room(&live_id).await?;
    if raw.field("anchor") == user_id {
        return Err(ApiError::InvalidArgument(
            "user_id is the room's anchor: stop the room instead".into(),
        ));
    }
    let by = ServerNote {
        key_id: caller.key_id.to_string(),
        note,
    };
    let done = state
        .store
        .kick_member(&live_id, &user_id, ban_seconds as u64 * 1000, &by)
        .await?;
    tracing::info!(
        live_id,
        key = caller.key_id,
        user_id,
        ban_seconds,
        reason = by.note,
        "member kicked by the server API"
    );
    Ok(ApiOk::data(KickResult {
        user_id,
        kicked: done.was_present,
        banned_until: if done.ban_until_ms > 0 {
            ceil_secs(done.ban_until_ms)
        } else {
            0
        },
    }))
}

/// `DELETE /server/live/room/ban/{live_id}/{user_id}`: lifts a ban.
#[utoipa::path(
    delete,
    path = "/server/live/room/ban/{live_id}/{user_id}",
    operation_id = "serverUnbanMember",
    tag = "server",
    summary = "Lift a ban (server)",
    description = "Lifts `user_id`'s ban from the room: its next join is allowed. Idempotent: with no active ban it succeeds with `unbanned: false` and changes nothing.\n\nErrors: 400: 40000: `live_id` or `user_id` malformed. 404: 40400: no such room.",
    params(
        LiveIdPath,
        ("user_id" = String, Path, description = "The user: 1-64 characters of `[A-Za-z0-9_.:@-]` (else 400 / 40000)."),
    ),
    security(("serverAuth" = [])),
    responses(
        (status = 200, description = "Lifted (or there was none).", body = UnbanEnvelope),
        (status = 400, response = BadRequest),
        (status = 404, response = RoomNotFound),
    ),
)]
pub async fn unban(
    State(state): State<AppState>,
    caller: ServerCaller,
    path: Result<axum::extract::Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> ApiResult<UnbanResult> {
    let axum::extract::Path((live_id, user_id)) = path.map_err(|_| {
        ApiError::InvalidArgument("live_id and user_id are required in the path".into())
    })?;
    check_live_id(&live_id)?;
    check_user_id("user_id", &user_id)?;
    let unbanned = state.store.unban_member(&live_id, &user_id).await?;
    tracing::info!(
        live_id,
        key = caller.key_id,
        user_id,
        unbanned,
        "ban lifted by the server API"
    );
    Ok(ApiOk::data(UnbanResult { user_id, unbanned }))
}

/// `GET /server/live/room/bans?live_id&page_num&page_size&cursor`: active bans.
#[utoipa::path(
    get,
    path = "/server/live/room/bans",
    operation_id = "serverListBans",
    tag = "server",
    summary = "Active bans of a room (server)",
    description = "The room's bans that have not ended (Redis's clock), soonest end first, then by user id; `until` in Unix seconds. Page shape of the other lists.\n\nErrors: 400: 40000: `live_id` missing or malformed, or bad pagination. 404: 40400: no such room.",
    params(RoomParam, PageParams),
    security(("serverAuth" = [])),
    responses(
        (status = 200, description = "A page of active bans.", body = BanPageEnvelope),
        (status = 400, response = BadRequest),
        (status = 404, response = RoomNotFound),
    ),
)]
pub async fn bans(
    State(state): State<AppState>,
    _caller: ServerCaller,
    query: QueryParams,
) -> ApiResult<PageOf<BanInfo>> {
    let live_id = query
        .get("live_id")
        .ok_or_else(|| ApiError::InvalidArgument("live_id is required".into()))?;
    check_live_id(live_id)?;
    let page = Page::parse(&query)?;
    if !state.store.room_exists(live_id).await? {
        return Err(ApiError::RoomNotFound);
    }
    let found = state.store.page_bans(live_id, &page.probe().into()).await?;
    let (total, mut entries) = (found.total, found.entries);
    let next = page.next_cursor(&mut entries);
    let list = entries
        .into_iter()
        .map(|(user_id, until_ms)| BanInfo {
            user_id,
            until: ceil_secs(until_ms as i64),
        })
        .collect();
    Ok(ApiOk::data(PageOf::new(total, &page, list, next)))
}
