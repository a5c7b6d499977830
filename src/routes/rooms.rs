//! Room endpoints (SPEC §5 #1-7, #11): create, info, start, stop, delete, search,
//! live list, extends.

use std::cmp::Ordering;

use axum::extract::State;
use rand::RngCore;

use crate::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiOk, ApiResult};
use crate::extract::{
    JsonBody, LiveIdPath, Page, PageStart, QueryParams, check_live_id, encode_cursor,
};
use crate::model::UserProfile;
use crate::model::{CreateRoomBody, PageOf, RoomView, UpdateExtendsBody, check_extends};
use crate::store::{RawRoom, RoomIndex, parse_extends};

/// Longest accepted search keyword, in characters.
const KEYWORD_MAX: usize = 128;

/// A fresh `live_id`: `live_` + 20 hex digits (80 random bits, SPEC §4).
pub fn new_live_id() -> String {
    let mut bytes = [0u8; 10];
    rand::rng().fill_bytes(&mut bytes);
    format!("live_{}", hex::encode(bytes))
}

/// Turns rooms read from Redis into the seed's room objects for `caller`: the
/// anchors' profiles are read in one round trip; `push_url` only for the anchor.
pub async fn room_views(
    state: &AppState,
    rooms: Vec<RawRoom>,
    caller: &str,
) -> Result<Vec<RoomView>, ApiError> {
    let anchors: Vec<String> = rooms.iter().map(|r| r.field("anchor").to_owned()).collect();
    let profiles = state.store.profiles(&anchors).await?;
    Ok(rooms
        .into_iter()
        .zip(profiles)
        .map(|(room, anchor_info)| {
            let live_id = room.field("live_id").to_owned();
            let push_url = if anchor_info.user_id == caller {
                state.urls.push_url(
                    &live_id,
                    room.number("publish_expire_at"),
                    room.now_ms / 1000,
                )
            } else {
                String::new()
            };
            RoomView {
                title: room.field("title").to_owned(),
                notice: room.field("notice").to_owned(),
                cover_url: room.field("cover_url").to_owned(),
                extends: parse_extends(room.fields.get("extends").map(String::as_str)),
                anchor_status: u8::from(room.anchor_present),
                pk_id: room.field("pk_id").to_owned(),
                online_count: room.online_count,
                start_time: room.number("start_time"),
                end_time: room.number("end_time"),
                chat_id: room.number("chat_id").max(0) as u64,
                push_url,
                hls_url: state.urls.hls_url(&live_id),
                rtmp_url: state.urls.rtmp_url(&live_id),
                flv_url: state.urls.flv_url(&live_id),
                pv: room.number("pv").max(0) as u64,
                uv: room.uv,
                live_status: room.number("live_status").clamp(0, 2) as u8,
                anchor_info: UserProfile::from(anchor_info),
                live_id,
            }
        })
        .collect())
}

/// One room's view for `caller`.
pub async fn room_view(state: &AppState, room: RawRoom, caller: &str) -> ApiResult<RoomView> {
    let view = room_views(state, vec![room], caller)
        .await?
        .pop()
        .ok_or(ApiError::RoomNotFound)?;
    Ok(ApiOk::data(view))
}

/// `POST /client/live/room/instance`: creates a room; the caller is its anchor.
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(body): JsonBody<CreateRoomBody>,
) -> ApiResult<RoomView> {
    let room = body.validate(&state.timezone)?;
    let live_id = new_live_id();
    let raw = state
        .store
        .create_room(&live_id, &user.store_user(), &room)
        .await?;
    tracing::info!(live_id, anchor = user.id(), "room created");
    room_view(&state, raw, user.id()).await
}

/// `GET /client/live/room/info/{live_id}`.
pub async fn info(
    State(state): State<AppState>,
    user: AuthUser,
    LiveIdPath(live_id): LiveIdPath,
) -> ApiResult<RoomView> {
    let raw = state.store.get_room(&live_id).await?;
    room_view(&state, raw, user.id()).await
}

/// `PUT /client/live/room/{live_id}`: the anchor starts the live.
pub async fn start(
    State(state): State<AppState>,
    user: AuthUser,
    LiveIdPath(live_id): LiveIdPath,
) -> ApiResult<RoomView> {
    let raw = state.store.start_room(&live_id, &user.store_user()).await?;
    room_view(&state, raw, user.id()).await
}

/// `POST /client/live/room/{live_id}` (and `DELETE`, the SDKs' alias): the anchor stops the live.
pub async fn stop(
    State(state): State<AppState>,
    user: AuthUser,
    LiveIdPath(live_id): LiveIdPath,
) -> ApiResult<()> {
    state.store.stop_room(&live_id, user.id()).await?;
    Ok(ApiOk::empty())
}

/// `DELETE /client/live/room/instance/{live_id}`: the anchor deletes the room.
pub async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    LiveIdPath(live_id): LiveIdPath,
) -> ApiResult<()> {
    state.store.delete_room(&live_id, user.id()).await?;
    tracing::info!(live_id, "room deleted");
    Ok(ApiOk::empty())
}

/// `GET /client/live/room/list`: live rooms, newest start first.
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    query: QueryParams,
) -> ApiResult<PageOf<RoomView>> {
    let page = Page::parse(&query)?;
    index_page(&state, RoomIndex::Live, &page, user.id()).await
}

async fn index_page(
    state: &AppState,
    index: RoomIndex,
    page: &Page,
    caller: &str,
) -> ApiResult<PageOf<RoomView>> {
    let listed = state.store.page_index(index, &page.probe().into()).await?;
    let (total, mut entries) = (listed.total, listed.entries);
    let next = page.next_cursor(&mut entries);
    let ids: Vec<String> = entries.into_iter().map(|(id, _)| id).collect();
    let rooms = state.store.get_rooms(&ids).await?;
    let views = room_views(state, rooms, caller).await?;
    Ok(ApiOk::data(PageOf::new(total, page, views, next)))
}

/// `GET /client/live/room?keyword&page_num&page_size`: search (SPEC §5 #6). The
/// keyword matches a `live_id` exactly, an anchor's user id, or a substring of a
/// title, case-insensitively; live rooms first, then newest. An empty keyword lists
/// every room.
pub async fn search(
    State(state): State<AppState>,
    user: AuthUser,
    query: QueryParams,
) -> ApiResult<PageOf<RoomView>> {
    let page = Page::parse(&query)?;
    let keyword = query.get("keyword").unwrap_or("").trim();
    if keyword.chars().count() > KEYWORD_MAX {
        return Err(ApiError::InvalidArgument(format!(
            "keyword must be at most {KEYWORD_MAX} characters"
        )));
    }
    if keyword.is_empty() {
        return index_page(&state, RoomIndex::All, &page, user.id()).await;
    }
    let lower = keyword.to_lowercase();
    let mut matches: Vec<(String, f64)> = state
        .store
        .search_candidates(keyword)
        .await?
        .into_iter()
        .filter(|c| c.live_id == lower || c.anchor == keyword || c.title_lower.contains(&lower))
        .map(|c| (c.live_id, c.score))
        .collect();
    // Same order as the search index: score descending, then id descending.
    let order = |a: &(String, f64), b: &(String, f64)| {
        b.1.partial_cmp(&a.1)
            .unwrap_or(Ordering::Equal)
            .then_with(|| b.0.cmp(&a.0))
    };
    matches.sort_by(order);
    let total = matches.len() as u64;
    let start = match &page.start {
        PageStart::Number(_) => page.offset() as usize,
        PageStart::After { score, id } => {
            let cursor = (id.clone(), *score);
            matches.partition_point(|m| order(m, &cursor) != Ordering::Greater)
        }
    };
    let slice: Vec<(String, f64)> = matches
        .iter()
        .skip(start)
        .take(page.size as usize)
        .cloned()
        .collect();
    let more = start + slice.len() < matches.len();
    let next = if more {
        slice.last().map(|(id, score)| encode_cursor(*score, id))
    } else {
        None
    };
    let ids: Vec<String> = slice.into_iter().map(|(id, _)| id).collect();
    let rooms = state.store.get_rooms(&ids).await?;
    let views = room_views(&state, rooms, user.id()).await?;
    Ok(ApiOk::data(PageOf::new(total, &page, views, next)))
}

/// `PUT /client/live/room/extends`: the anchor merges keys into the room's extends;
/// an empty value removes a key (SPEC §5 #11).
pub async fn update_extends(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(body): JsonBody<UpdateExtendsBody>,
) -> ApiResult<()> {
    let live_id = body
        .live_id
        .ok_or_else(|| ApiError::InvalidArgument("live_id is required".into()))?;
    check_live_id(&live_id)?;
    let patch = body
        .extends
        .ok_or_else(|| ApiError::InvalidArgument("extends is required".into()))?;
    check_extends("extends", &patch)?;
    state
        .store
        .update_extends(&live_id, user.id(), &patch)
        .await?;
    Ok(ApiOk::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_ids_are_long_and_distinct() {
        let a = new_live_id();
        assert_eq!(a.len(), 25);
        assert!(check_live_id(&a).is_ok());
        assert_ne!(a, new_live_id());
    }
}
