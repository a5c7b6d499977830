//! Member endpoints (SPEC §5 #8-10, #12): join, leave, heartbeat, user list.

use axum::extract::State;

use crate::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiOk, ApiResult};
use crate::extract::{LiveIdPath, Page, QueryParams, check_live_id};
use crate::model::{HeartbeatData, MemberInfo, PageOf, RoomView, UserProfile};
use crate::routes::rooms::room_view;

/// `POST /client/live/room/user/{live_id}`: joins, leaving any other room first.
pub async fn join(
    State(state): State<AppState>,
    user: AuthUser,
    LiveIdPath(live_id): LiveIdPath,
) -> ApiResult<RoomView> {
    let raw = state.store.join_room(&live_id, &user.store_user()).await?;
    room_view(&state, raw, user.id()).await
}

/// `DELETE /client/live/room/user/{live_id}`: leaves; 40401 when not in the room.
pub async fn leave(
    State(state): State<AppState>,
    user: AuthUser,
    LiveIdPath(live_id): LiveIdPath,
) -> ApiResult<()> {
    state.store.leave_room(&live_id, user.id()).await?;
    Ok(ApiOk::empty())
}

/// `GET /client/live/room/heartbeat/{live_id}`: one Redis round trip.
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
pub async fn user_list(
    State(state): State<AppState>,
    _user: AuthUser,
    query: QueryParams,
) -> ApiResult<PageOf<MemberInfo>> {
    let live_id = query
        .get("live_id")
        .ok_or_else(|| ApiError::InvalidArgument("live_id is required".into()))?;
    check_live_id(live_id)?;
    let page = Page::parse(&query)?;
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
