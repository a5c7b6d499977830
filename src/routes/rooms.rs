//! Room endpoints (SPEC §5 #1-7, #11): create, info, start, stop, delete, search,
//! live list, extends.

use std::cmp::Ordering;

use axum::extract::State;
use rand::RngCore;

use crate::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiOk, ApiResult};
use crate::extract::{JsonBody, LiveIdPath, Page, PageStart, QueryParams, encode_cursor};
use crate::model::{CreateRoomBody, PageOf, RoomView, UpdateExtendsBody};
use crate::openapi::{
    BadRequest, Conflict, Forbidden, OkEnvelope, PageParams, PayloadTooLarge, RoomEnvelope,
    RoomNotFound, RoomPageEnvelope, SearchParams,
};
use crate::routes::views::{room_view, room_views};
use crate::store::RoomIndex;

/// Longest accepted search keyword, in characters.
const KEYWORD_MAX: usize = 128;

/// A fresh `live_id`: `live_` + 20 hex digits (80 random bits, SPEC §4).
pub fn new_live_id() -> String {
    let mut bytes = [0u8; 10];
    rand::rng().fill_bytes(&mut bytes);
    format!("live_{}", hex::encode(bytes))
}

/// `POST /client/live/room/instance`: creates a room; the caller is its anchor.
#[utoipa::path(
    post,
    path = "/client/live/room/instance",
    operation_id = "createRoom",
    tag = "rooms",
    summary = "Create a room",
    description = "Creates a room (`live_status` 0); the caller becomes its anchor and gets the signed `push_url`.\n\nErrors: 400: 40000: the body is not a JSON object, a field has the wrong type, or a limit of SPEC §7 is violated (title 1-128, notice ≤ 1024, cover_url an http(s) URL ≤ 1024, extends ≤ 32 keys, key 1-64, value ≤ 1024, times well-formed and `end_at` not before `start_at`).",
    request_body = CreateRoomBody,
    responses(
        (status = 200, description = "The new room.", body = RoomEnvelope),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/client/live/room/info/{live_id}",
    operation_id = "getRoomInfo",
    tag = "rooms",
    summary = "Room info",
    description = "The room; `push_url` is filled only when the caller is the anchor.\n\nErrors: 400: 40000: `live_id` is not 1-64 characters of `[A-Za-z0-9_-]`.",
    params(LiveIdPath),
    responses(
        (status = 200, description = "The room.", body = RoomEnvelope),
        (status = 400, response = BadRequest),
        (status = 404, response = RoomNotFound),
    ),
)]
pub async fn info(
    State(state): State<AppState>,
    user: AuthUser,
    LiveIdPath(live_id): LiveIdPath,
) -> ApiResult<RoomView> {
    let raw = state.store.get_room(&live_id).await?;
    room_view(&state, raw, user.id()).await
}

/// `PUT /client/live/room/{live_id}`: the anchor starts the live.
#[utoipa::path(
    put,
    path = "/client/live/room/{live_id}",
    operation_id = "startLive",
    tag = "rooms",
    summary = "Start the live",
    description = "The anchor starts the live (`live_status` 0 → 1); idempotent while live. The anchor becomes present (as if joined, without counting PV/UV).\n\nErrors: 400: 40000: `live_id` is not 1-64 characters of `[A-Za-z0-9_-]`. 403: 40300: the caller is not the room's anchor. 409: 40900: the room has ended.",
    params(LiveIdPath),
    responses(
        (status = 200, description = "The live room.", body = RoomEnvelope),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = RoomNotFound),
        (status = 409, response = Conflict),
    ),
)]
pub async fn start(
    State(state): State<AppState>,
    user: AuthUser,
    LiveIdPath(live_id): LiveIdPath,
) -> ApiResult<RoomView> {
    let raw = state.store.start_room(&live_id, &user.store_user()).await?;
    room_view(&state, raw, user.id()).await
}

/// `POST /client/live/room/{live_id}` (and `DELETE`, [`stop_alias`]): the anchor stops the live.
#[utoipa::path(
    post,
    path = "/client/live/room/{live_id}",
    operation_id = "stopLive",
    tag = "rooms",
    summary = "Stop the live",
    description = "The anchor stops the live (`live_status` 1 → 2, `end_time` set). No `data`.\n\nErrors: 400: 40000: `live_id` is not 1-64 characters of `[A-Za-z0-9_-]`. 403: 40300: the caller is not the room's anchor. 409: 40900: the room is not live (never started, or already ended).",
    params(LiveIdPath),
    responses(
        (status = 200, description = "Stopped.", body = OkEnvelope),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = RoomNotFound),
        (status = 409, response = Conflict),
    ),
)]
pub async fn stop(
    State(state): State<AppState>,
    user: AuthUser,
    LiveIdPath(live_id): LiveIdPath,
) -> ApiResult<()> {
    state.store.stop_room(&live_id, user.id()).await?;
    Ok(ApiOk::empty())
}

/// `DELETE /client/live/room/{live_id}`: [`stop`], accepted because the original SDKs use it.
#[utoipa::path(
    delete,
    path = "/client/live/room/{live_id}",
    operation_id = "stopLiveAlias",
    tag = "rooms",
    summary = "Stop the live (alias)",
    description = "Same as `POST /client/live/room/{live_id}`; accepted because the original SDKs use it.\n\nErrors: 400: 40000: `live_id` is not 1-64 characters of `[A-Za-z0-9_-]`. 403: 40300: the caller is not the room's anchor. 409: 40900: the room is not live (never started, or already ended).",
    params(LiveIdPath),
    responses(
        (status = 200, description = "Stopped.", body = OkEnvelope),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = RoomNotFound),
        (status = 409, response = Conflict),
    ),
)]
pub async fn stop_alias(
    state: State<AppState>,
    user: AuthUser,
    live_id: LiveIdPath,
) -> ApiResult<()> {
    stop(state, user, live_id).await
}

/// `DELETE /client/live/room/instance/{live_id}`: the anchor deletes the room.
#[utoipa::path(
    delete,
    path = "/client/live/room/instance/{live_id}",
    operation_id = "deleteRoom",
    tag = "rooms",
    summary = "Delete a room",
    description = "The anchor deletes the room and all its state, in any `live_status`; members are released. No `data`.\n\nErrors: 400: 40000: `live_id` is not 1-64 characters of `[A-Za-z0-9_-]`. 403: 40300: the caller is not the room's anchor.",
    params(LiveIdPath),
    responses(
        (status = 200, description = "Deleted.", body = OkEnvelope),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = RoomNotFound),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/client/live/room/list",
    operation_id = "listLiveRooms",
    tag = "rooms",
    summary = "Live rooms",
    description = "Rooms with `live_status` 1, newest start first.\n\nErrors: 400: 40000: `page_size` is not an integer 1-100, `page_num` not an integer 1-1000000, or `cursor` is not one this list returned.",
    params(PageParams),
    responses(
        (status = 200, description = "A page of live rooms.", body = RoomPageEnvelope),
        (status = 400, response = BadRequest),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/client/live/room",
    operation_id = "searchRooms",
    tag = "rooms",
    summary = "Search rooms",
    description = "`keyword` matches a `live_id` exactly, a substring of the title (case-insensitive, any script), or the anchor's user id; an empty or absent keyword lists every room. Rooms not deleted, live first, then newest.\n\nErrors: 400: 40000: bad pagination (`page_size` 1-100, `page_num` 1-1000000, `cursor` from this list) or `keyword` longer than 128 characters.",
    params(SearchParams, PageParams),
    responses(
        (status = 200, description = "A page of matching rooms.", body = RoomPageEnvelope),
        (status = 400, response = BadRequest),
    ),
)]
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
    let matches: Vec<(String, f64)> = state
        .store
        .search_candidates(keyword)
        .await?
        .into_iter()
        .filter(|c| c.live_id == lower || c.anchor == keyword || c.title_lower.contains(&lower))
        .map(|c| (c.live_id, c.score))
        .collect();
    let (total, slice, next) = page_in_memory(matches, &page);
    let ids: Vec<String> = slice.into_iter().map(|(id, _)| id).collect();
    let rooms = state.store.get_rooms(&ids).await?;
    let views = room_views(&state, rooms, user.id()).await?;
    Ok(ApiOk::data(PageOf::new(total, &page, views, next)))
}

/// Search order: score descending, then id descending (a cursor names one place).
pub(crate) fn search_order(a: &(String, f64), b: &(String, f64)) -> Ordering {
    b.1.partial_cmp(&a.1)
        .unwrap_or(Ordering::Equal)
        .then_with(|| b.0.cmp(&a.0))
}

/// One page of rooms read whole into memory (search matches, an anchor's rooms), as
/// `(live_id, score)`: sorted in [`search_order`], then cut at the page's number or
/// after its cursor. Returns the total, the page and the next cursor (`None` on the
/// last page).
pub(crate) fn page_in_memory(
    mut rooms: Vec<(String, f64)>,
    page: &Page,
) -> (u64, Vec<(String, f64)>, Option<String>) {
    rooms.sort_by(search_order);
    let start = match &page.start {
        PageStart::Number(_) => page.offset() as usize,
        PageStart::After { score, id } => {
            let cursor = (id.clone(), *score);
            rooms.partition_point(|m| search_order(m, &cursor) != Ordering::Greater)
        }
    };
    let slice: Vec<(String, f64)> = rooms
        .iter()
        .skip(start)
        .take(page.size as usize)
        .cloned()
        .collect();
    let next = if start + slice.len() < rooms.len() {
        slice.last().map(|(id, score)| encode_cursor(*score, id))
    } else {
        None
    };
    (rooms.len() as u64, slice, next)
}

/// `PUT /client/live/room/extends`: the anchor merges keys into the room's extends;
/// an empty value removes a key (SPEC §5 #11).
#[utoipa::path(
    put,
    path = "/client/live/room/extends",
    operation_id = "updateRoomExtends",
    tag = "rooms",
    summary = "Update room extends",
    description = "The anchor merges keys into the room's extends; a key with an empty value is removed. No `data`.\n\nErrors: 400: 40000: the body is not a JSON object, `live_id` or `extends` is missing or malformed, or the extends limits are violated (also after the merge). 403: 40300: the caller is not the room's anchor.",
    request_body = UpdateExtendsBody,
    responses(
        (status = 200, description = "Updated.", body = OkEnvelope),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = RoomNotFound),
        (status = 413, response = PayloadTooLarge),
    ),
)]
pub async fn update_extends(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(body): JsonBody<UpdateExtendsBody>,
) -> ApiResult<()> {
    let (live_id, patch) = body.into_checked()?;
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
        assert!(crate::extract::check_live_id(&a).is_ok());
        assert_ne!(a, new_live_id());
    }
}
