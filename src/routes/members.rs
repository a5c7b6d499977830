//! Member endpoints (SPEC §5 #8-10, #12): join, leave, heartbeat, user list.

use axum::extract::State;

use crate::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiOk, ApiResult};
use crate::extract::{LiveIdPath, Page, QueryParams, check_live_id};
use crate::model::{HeartbeatData, MemberInfo, PageOf, RoomView, UserProfile};
use crate::openapi::{
    BadRequest, Banned, Conflict, HeartbeatEnvelope, MemberNotFound, MemberPageEnvelope,
    OkEnvelope, PageParams, RoomEnvelope, RoomNotFound, RoomParam,
};
use crate::routes::views::room_view;

/// `POST /client/live/room/user/{live_id}`: joins, leaving any other room first.
#[utoipa::path(
    post,
    path = "/client/live/room/user/{live_id}",
    operation_id = "joinRoom",
    tag = "members",
    summary = "Join a room",
    description = "Joins the room, leaving any other room first (one room per user). Rejoining the same room is idempotent for presence but counts a PV.\n\nErrors: 400: 40000: `live_id` is not 1-64 characters of `[A-Za-z0-9_-]`. 403: 40301: the user is banned from this room until the time the message gives (nothing is written). 409: 40900: the room has ended.",
    params(LiveIdPath),
    responses(
        (status = 200, description = "The room, as the joined member sees it.", body = RoomEnvelope),
        (status = 400, response = BadRequest),
        (status = 403, response = Banned),
        (status = 404, response = RoomNotFound),
        (status = 409, response = Conflict),
    ),
)]
pub async fn join(
    State(state): State<AppState>,
    user: AuthUser,
    LiveIdPath(live_id): LiveIdPath,
) -> ApiResult<RoomView> {
    let raw = state.store.join_room(&live_id, &user.store_user()).await?;
    room_view(&state, raw, user.id()).await
}

/// `DELETE /client/live/room/user/{live_id}`: leaves; 40401 when not in the room.
#[utoipa::path(
    delete,
    path = "/client/live/room/user/{live_id}",
    operation_id = "leaveRoom",
    tag = "members",
    summary = "Leave a room",
    description = "Leaves the room; when the anchor leaves, `anchor_status` becomes 0. No `data`.\n\nErrors: 400: 40000: `live_id` is not 1-64 characters of `[A-Za-z0-9_-]`.",
    params(LiveIdPath),
    responses(
        (status = 200, description = "Left.", body = OkEnvelope),
        (status = 400, response = BadRequest),
        (status = 404, response = MemberNotFound),
    ),
)]
pub async fn leave(
    State(state): State<AppState>,
    user: AuthUser,
    LiveIdPath(live_id): LiveIdPath,
) -> ApiResult<()> {
    state.store.leave_room(&live_id, user.id()).await?;
    Ok(ApiOk::empty())
}

/// `GET /client/live/room/heartbeat/{live_id}`: one Redis round trip.
#[utoipa::path(
    get,
    path = "/client/live/room/heartbeat/{live_id}",
    operation_id = "heartbeat",
    tag = "members",
    summary = "Heartbeat",
    description = "Refreshes the caller's presence (every 5 s by default; gone after 15 s without one).\n\nErrors: 400: 40000: `live_id` is not 1-64 characters of `[A-Za-z0-9_-]`. 404: 40401: not present (join again), with the message `user was removed from this room (kicked)` when the server API removed the caller in the last 10 minutes.",
    params(LiveIdPath),
    responses(
        (status = 200, description = "Presence refreshed.", body = HeartbeatEnvelope),
        (status = 400, response = BadRequest),
        (status = 404, response = MemberNotFound),
    ),
)]
pub async fn heartbeat(
    State(state): State<AppState>,
    user: AuthUser,
    LiveIdPath(live_id): LiveIdPath,
) -> ApiResult<HeartbeatData> {
    let live_status = state.store.heartbeat(&live_id, user.id()).await?;
    let next_heartbeat_ms = jittered(state.heartbeat_interval_ms);
    Ok(ApiOk::data(HeartbeatData {
        live_id,
        live_status,
        next_heartbeat_ms,
    }))
}

/// `GET /client/live/room/user_list?live_id&page_num&page_size`: present members,
/// oldest join first.
#[utoipa::path(
    get,
    path = "/client/live/room/user_list",
    operation_id = "listRoomMembers",
    tag = "members",
    summary = "Present users of a room",
    description = "Users present now, in a stable order: join time, oldest first.\n\nErrors: 400: 40000: `live_id` missing or malformed, or bad pagination.",
    params(RoomParam, PageParams),
    responses(
        (status = 200, description = "A page of present members.", body = MemberPageEnvelope),
        (status = 400, response = BadRequest),
        (status = 404, response = RoomNotFound),
    ),
)]
pub async fn user_list(
    State(state): State<AppState>,
    _user: AuthUser,
    query: QueryParams,
) -> ApiResult<PageOf<MemberInfo>> {
    member_page(&state, &query).await
}

/// A page of room `live_id` (query) present members, oldest join first (SPEC §5
/// #12; the server's member list too). Errors: 40000 naming `live_id` or the
/// paging; 40400 when the room does not exist.
pub(crate) async fn member_page(
    state: &AppState,
    query: &QueryParams,
) -> ApiResult<PageOf<MemberInfo>> {
    let live_id = query
        .get("live_id")
        .ok_or_else(|| ApiError::InvalidArgument("live_id is required".into()))?;
    check_live_id(live_id)?;
    let page = Page::parse(query)?;
    let members = state
        .store
        .page_members(live_id, &page.probe().into())
        .await?;
    let (total, mut entries) = (members.total, members.entries);
    if total == 0 && !state.store.room_exists(live_id).await? {
        return Err(ApiError::RoomNotFound);
    }
    let next = page.next_cursor(&mut entries);
    let ids: Vec<String> = entries.into_iter().map(|(id, _)| id).collect();
    let list = state
        .store
        .profiles(&ids)
        .await?
        .into_iter()
        .map(|p| MemberInfo::from(UserProfile::from(p)))
        .collect();
    Ok(ApiOk::data(PageOf::new(total, &page, list, next)))
}

/// `interval_ms` ±10%, uniformly at random.
fn jittered(interval_ms: u64) -> u64 {
    let spread = interval_ms / 10;
    interval_ms - spread + rand::random_range(0..=2 * spread)
}

#[cfg(test)]
mod tests {
    #[test]
    fn jitter_stays_within_ten_percent_and_varies() {
        let samples: Vec<u64> = (0..200).map(|_| super::jittered(5000)).collect();
        assert!(samples.iter().all(|s| (4500..=5500).contains(s)));
        assert!(samples.iter().any(|s| *s != samples[0]));
    }
}
