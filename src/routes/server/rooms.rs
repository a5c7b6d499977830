//! Server room routes (SPEC §11): list rooms of any status with filters, read, create
//! for an anchor, stop with a reason, delete, update title / notice / cover, update
//! extends. Kick and ban are in
//! `moderation.rs`.

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::ServerCaller;
use crate::error::{ApiError, ApiOk, ApiResult};
use crate::extract::{
    JsonBody, LiveIdPath, Page, PageStart, QueryParams, encode_cursor, parse_json,
};
use crate::model::{CreateRoomBody, PageOf, RoomView, UpdateExtendsBody, check_url, limits};
use crate::openapi::{
    BadRequest, Conflict, OkEnvelope, PageParams, PayloadTooLarge, RoomEnvelope, RoomNotFound,
    RoomPageEnvelope,
};
use crate::routes::rooms::{new_live_id, page_in_memory};
use crate::routes::server::check_user_id;
use crate::routes::views::{room_view, room_views};
use crate::store::{LIVE_BIT, PageFrom, PageRequest, RoomIndex, RoomPatch, ServerNote, UserRef};

/// Longest stop `reason`, in characters.
pub const REASON_MAX: usize = 256;

/// Index entries a filtered walk (`live_status` 0 or 2 without `anchor_id`) examines
/// at most per request.
pub const SCAN_BUDGET: usize = 1000;

/// Entries read per step of a filtered walk.
const SCAN_BATCH: u64 = 100;

/// Query parameters of the server room list.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation only: `list` reads them
pub struct ServerListParams {
    /// Only rooms in this status: 0 created, 1 live, 2 ended. Empty or absent: all.
    #[param(minimum = 0, maximum = 2)]
    live_status: Option<u8>,
    /// Only rooms of this anchor (1-64 chars of `[A-Za-z0-9_.:@-]`).
    #[param(max_length = 64)]
    anchor_id: Option<String>,
}

/// `GET /server/live/room/list`: rooms of any status, filtered.
#[utoipa::path(
    get,
    path = "/server/live/room/list",
    operation_id = "serverListRooms",
    tag = "server",
    summary = "List rooms (server)",
    description = "Rooms not deleted, of any status, optionally only those with `live_status` and / or of `anchor_id`. Order: with `live_status=1` alone, newest start first (the live list); otherwise live first, then newest created (the search order). `push_url` is empty in lists (read a room for it).\n\nWith `live_status` 0 or 2 and no `anchor_id`, the rooms are found by walking every room not live, newest first, at most 1000 per request: a page may then hold fewer than `page_size` rooms while `next_cursor` is not empty (follow it), `page_num` must be 1 (walk by `cursor`), and `total_count` counts every room not live (created and ended together).\n\nErrors: 400: 40000: `live_status` not 0, 1 or 2, `anchor_id` malformed, bad pagination.",
    params(ServerListParams, PageParams),
    security(("serverAuth" = [])),
    responses(
        (status = 200, description = "A page of rooms.", body = RoomPageEnvelope),
        (status = 400, response = BadRequest),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    _caller: ServerCaller,
    query: QueryParams,
) -> ApiResult<PageOf<RoomView>> {
    let status = match query.get("live_status").filter(|v| !v.is_empty()) {
        None => None,
        Some("0") => Some(0u8),
        Some("1") => Some(1),
        Some("2") => Some(2),
        Some(_) => {
            return Err(ApiError::InvalidArgument(
                "live_status must be 0, 1 or 2".into(),
            ));
        }
    };
    let anchor = query.get("anchor_id").filter(|v| !v.is_empty());
    if let Some(anchor) = anchor {
        check_user_id("anchor_id", anchor)?;
    }
    let page = Page::parse(&query)?;
    match (status, anchor) {
        (_, Some(anchor)) => anchor_page(&state, anchor, status, &page).await,
        (None, None) => index_page(&state, RoomIndex::All, &page).await,
        (Some(1), None) => index_page(&state, RoomIndex::Live, &page).await,
        (Some(status), None) => scan_page(&state, status, &page).await,
    }
}

/// A page of a whole room index.
async fn index_page(
    state: &AppState,
    index: RoomIndex,
    page: &Page,
) -> ApiResult<PageOf<RoomView>> {
    let listed = state.store.page_index(index, &page.probe().into()).await?;
    let (total, mut entries) = (listed.total, listed.entries);
    let next = page.next_cursor(&mut entries);
    let views = views_of(state, entries).await?;
    Ok(ApiOk::data(PageOf::new(total, page, views, next)))
}

/// The rooms of `(live_id, score)` entries, in order, without push URLs.
async fn views_of(
    state: &AppState,
    entries: Vec<(String, f64)>,
) -> Result<Vec<RoomView>, ApiError> {
    let ids: Vec<String> = entries.into_iter().map(|(id, _)| id).collect();
    let rooms = state.store.get_rooms(&ids).await?;
    room_views(state, rooms, "").await
}

/// A page of an anchor's rooms (all read, filtered and sorted in memory).
async fn anchor_page(
    state: &AppState,
    anchor: &str,
    status: Option<u8>,
    page: &Page,
) -> ApiResult<PageOf<RoomView>> {
    let rooms: Vec<(String, f64)> = state
        .store
        .anchor_rooms(anchor)
        .await?
        .into_iter()
        .filter(|r| status.is_none_or(|s| s == r.live_status))
        .map(|r| (r.live_id, r.score))
        .collect();
    let (total, slice, next) = page_in_memory(rooms, page);
    let views = views_of(state, slice).await?;
    Ok(ApiOk::data(PageOf::new(total, page, views, next)))
}

/// A page of the rooms in `status` (0 or 2) among every room not live: the search
/// index below the live bit walked newest first, each room's status read, at most
/// [`SCAN_BUDGET`] entries per request (see `list`'s description).
async fn scan_page(state: &AppState, status: u8, page: &Page) -> ApiResult<PageOf<RoomView>> {
    let (mut score, mut id) = match &page.start {
        PageStart::Number(1) => (LIVE_BIT, String::new()),
        PageStart::Number(_) => {
            return Err(ApiError::InvalidArgument(
                "page_num must be 1 with live_status 0 or 2 without anchor_id: walk the list with cursor".into(),
            ));
        }
        // A cursor in the live part (from another list) starts below it.
        PageStart::After { score, .. } if *score >= LIVE_BIT => (LIVE_BIT, String::new()),
        PageStart::After { score, id } => (*score, id.clone()),
    };
    let size = page.size as usize;
    let mut found: Vec<(String, f64)> = Vec::new();
    let mut examined = 0;
    let mut next = None;
    let mut all: u64;
    'walk: loop {
        let request = PageRequest {
            from: PageFrom::After {
                score,
                id: id.clone(),
            },
            size: SCAN_BATCH,
        };
        let listed = state.store.page_index(RoomIndex::All, &request).await?;
        all = listed.total;
        let batch = listed.entries;
        let last_batch = (batch.len() as u64) < SCAN_BATCH;
        let ids: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
        let statuses = state.store.room_statuses(&ids).await?;
        for (entry, entry_status) in batch.into_iter().zip(statuses) {
            if entry_status == Some(status) {
                if found.len() == size {
                    // One more beyond the page: the next page starts after the last.
                    next = found.last().map(|(id, score)| encode_cursor(*score, id));
                    break 'walk;
                }
                found.push(entry.clone());
            }
            examined += 1;
            (id, score) = entry;
        }
        if last_batch {
            break;
        }
        if examined >= SCAN_BUDGET || found.len() == size {
            // More may follow: continue after the last entry examined.
            next = Some(encode_cursor(score, &id));
            break;
        }
    }
    let live = state.store.live_room_count().await?;
    let total = all.saturating_sub(live);
    let list = views_of(state, found).await?;
    let next_cursor = next.unwrap_or_default();
    Ok(ApiOk::data(PageOf {
        total_count: total,
        page_total: total.div_ceil(page.size),
        end_page: next_cursor.is_empty(),
        list,
        next_cursor,
    }))
}

/// `GET /server/live/room/info/{live_id}`: the room, with its push URL.
#[utoipa::path(
    get,
    path = "/server/live/room/info/{live_id}",
    operation_id = "serverGetRoom",
    tag = "server",
    summary = "Room info (server)",
    description = "The room in any status, with its signed `push_url` (as its anchor sees it).\n\nErrors: 400: 40000: `live_id` is not 1-64 characters of `[A-Za-z0-9_-]`. 404: 40400: no such room.",
    params(LiveIdPath),
    security(("serverAuth" = [])),
    responses(
        (status = 200, description = "The room.", body = RoomEnvelope),
        (status = 400, response = BadRequest),
        (status = 404, response = RoomNotFound),
    ),
)]
pub async fn info(
    State(state): State<AppState>,
    _caller: ServerCaller,
    LiveIdPath(live_id): LiveIdPath,
) -> ApiResult<RoomView> {
    let raw = state.store.get_room(&live_id).await?;
    let anchor = raw.field("anchor").to_owned();
    room_view(&state, raw, &anchor).await
}

/// Body of `POST /server/live/room/instance`: the client create body (SPEC §5 #1)
/// plus the anchor. Documentation shape: the handler reads the anchor fields and the
/// room fields from the same JSON object.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ServerCreateRoomRequest)]
pub struct ServerCreateRoomBody {
    /// The room's anchor: 1-64 chars of `[A-Za-z0-9_.:@-]`.
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 64,
        pattern = r"^[A-Za-z0-9_.:@-]{1,64}$"
    )]
    pub anchor_id: Option<String>,
    /// Seeds the anchor's nick when the profile is first created; at most 64 characters.
    #[schema(max_length = 64)]
    pub anchor_nick: Option<String>,
    /// Seeds the anchor's avatar when the profile is first created: empty or an http(s) URL.
    #[schema(max_length = 1024)]
    pub anchor_avatar: Option<String>,
    /// The room fields, as `POST /client/live/room/instance` takes them.
    #[serde(flatten)]
    pub room: CreateRoomBody,
}

/// The anchor part of [`ServerCreateRoomBody`], parsed on its own so that a bad room
/// field is still named by the room's own parser.
#[derive(Debug, Deserialize)]
struct AnchorPart {
    anchor_id: Option<String>,
    anchor_nick: Option<String>,
    anchor_avatar: Option<String>,
}

/// `POST /server/live/room/instance`: creates a room for an anchor.
#[utoipa::path(
    post,
    path = "/server/live/room/instance",
    operation_id = "serverCreateRoom",
    tag = "server",
    summary = "Create a room for an anchor (server)",
    description = "Creates a room (`live_status` 0) whose anchor is `anchor_id`, with the same fields and limits as `POST /client/live/room/instance`; the anchor's profile is created on first sight from `anchor_nick` / `anchor_avatar`. The answer carries the signed `push_url`.\n\nErrors: 400: 40000: the body is not a JSON object, `anchor_id` is missing or malformed, `anchor_nick` / `anchor_avatar` or a room field violates its limit (SPEC §7).",
    request_body = ServerCreateRoomBody,
    security(("serverAuth" = [])),
    responses(
        (status = 200, description = "The new room.", body = RoomEnvelope),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: ServerCaller,
    JsonBody(body): JsonBody<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<RoomView> {
    // Parsed twice from the one object, so each parser names its own fields.
    let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let anchor: AnchorPart = parse_json(&bytes)?;
    let room: CreateRoomBody = parse_json(&bytes)?;
    let anchor_id = anchor
        .anchor_id
        .ok_or_else(|| ApiError::InvalidArgument("anchor_id is required".into()))?;
    check_user_id("anchor_id", &anchor_id)?;
    let nick = anchor.anchor_nick.unwrap_or_default();
    crate::model::check_text("anchor_nick", &nick, limits::NICK_MAX, 0)?;
    let avatar = anchor.anchor_avatar.unwrap_or_default();
    check_url("anchor_avatar", &avatar)?;
    let room = room.validate(&state.timezone)?;
    let live_id = new_live_id();
    let user = UserRef {
        user_id: anchor_id.clone(),
        nick,
        avatar,
    };
    let raw = state.store.create_room(&live_id, &user, &room).await?;
    tracing::info!(
        live_id,
        anchor = anchor_id,
        key = caller.key_id,
        "room created by the server API"
    );
    room_view(&state, raw, &anchor_id).await
}

/// The anchor of room `live_id`; 404 when there is no such room.
async fn anchor_of(state: &AppState, live_id: &str) -> Result<String, ApiError> {
    let raw = state.store.get_room(live_id).await?;
    Ok(raw.field("anchor").to_owned())
}

/// Body of `POST /server/live/room/stop/{live_id}`. Unknown fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ServerStopRoomRequest)]
pub struct StopRoomBody {
    /// Why the room is ended: 1-256 characters, no control characters other than tab
    /// and newline. Logged with the server key id and recorded in the `room_stopped`
    /// event (SPEC §10: `reason: server`, `by` = key id, `note` = this text).
    #[schema(required = true, nullable = false, min_length = 1, max_length = 256)]
    pub reason: Option<String>,
}

/// `POST /server/live/room/stop/{live_id}`: ends a live room.
#[utoipa::path(
    post,
    path = "/server/live/room/stop/{live_id}",
    operation_id = "serverStopRoom",
    tag = "server",
    summary = "Stop a live room (server)",
    description = "Ends a live room (`live_status` 1 → 2, `end_time` set), whoever its anchor. The `reason` is logged with the server key id; the `room_stopped` event records `reason: server`, `by` (the key id) and `note` (this reason). No `data`.\n\nErrors: 400: 40000: `live_id` malformed, the body not a JSON object, `reason` missing, empty, longer than 256 characters or holding control characters. 404: 40400: no such room. 409: 40900: the room is not live.",
    params(LiveIdPath),
    request_body = StopRoomBody,
    security(("serverAuth" = [])),
    responses(
        (status = 200, description = "Stopped.", body = OkEnvelope),
        (status = 400, response = BadRequest),
        (status = 404, response = RoomNotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
    ),
)]
pub async fn stop(
    State(state): State<AppState>,
    caller: ServerCaller,
    LiveIdPath(live_id): LiveIdPath,
    JsonBody(body): JsonBody<StopRoomBody>,
) -> ApiResult<()> {
    let reason = body
        .reason
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| ApiError::InvalidArgument("reason is required (1-256 characters)".into()))?;
    crate::model::check_text("reason", &reason, REASON_MAX, 0)?;
    let anchor = anchor_of(&state, &live_id).await?;
    let by = ServerNote {
        key_id: caller.key_id.to_string(),
        note: reason.clone(),
    };
    state
        .store
        .stop_room_as(&live_id, &anchor, Some(by))
        .await?;
    tracing::info!(
        live_id,
        key = caller.key_id,
        reason,
        "room stopped by the server API"
    );
    Ok(ApiOk::empty())
}

/// `DELETE /server/live/room/instance/{live_id}`: deletes a room.
#[utoipa::path(
    delete,
    path = "/server/live/room/instance/{live_id}",
    operation_id = "serverDeleteRoom",
    tag = "server",
    summary = "Delete a room (server)",
    description = "Deletes the room and all its state, in any `live_status`, whoever its anchor; members are released. No `data`.\n\nErrors: 400: 40000: `live_id` is not 1-64 characters of `[A-Za-z0-9_-]`. 404: 40400: no such room.",
    params(LiveIdPath),
    security(("serverAuth" = [])),
    responses(
        (status = 200, description = "Deleted.", body = OkEnvelope),
        (status = 400, response = BadRequest),
        (status = 404, response = RoomNotFound),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: ServerCaller,
    LiveIdPath(live_id): LiveIdPath,
) -> ApiResult<()> {
    let anchor = anchor_of(&state, &live_id).await?;
    state.store.delete_room(&live_id, &anchor).await?;
    tracing::info!(
        live_id,
        key = caller.key_id,
        "room deleted by the server API"
    );
    Ok(ApiOk::empty())
}

/// `PUT /server/live/room/extends`: merges keys into any room's extends.
#[utoipa::path(
    put,
    path = "/server/live/room/extends",
    operation_id = "serverUpdateRoomExtends",
    tag = "server",
    summary = "Update room extends (server)",
    description = "Merges keys into the room's extends, whoever its anchor; a key with an empty value is removed (the same body as `PUT /client/live/room/extends`). No `data`.\n\nErrors: 400: 40000: the body is not a JSON object, `live_id` or `extends` is missing or malformed, or the extends limits are violated (also after the merge). 404: 40400: no such room.",
    request_body = UpdateExtendsBody,
    security(("serverAuth" = [])),
    responses(
        (status = 200, description = "Updated.", body = OkEnvelope),
        (status = 400, response = BadRequest),
        (status = 404, response = RoomNotFound),
        (status = 413, response = PayloadTooLarge),
    ),
)]
pub async fn update_extends(
    State(state): State<AppState>,
    caller: ServerCaller,
    JsonBody(body): JsonBody<UpdateExtendsBody>,
) -> ApiResult<()> {
    let (live_id, patch) = body.into_checked()?;
    let anchor = anchor_of(&state, &live_id).await?;
    state
        .store
        .update_extends(&live_id, &anchor, &patch)
        .await?;
    tracing::info!(
        live_id,
        key = caller.key_id,
        "room extends updated by the server API"
    );
    Ok(ApiOk::empty())
}

/// Body of `PUT /server/live/room/instance/{live_id}`: the fields to change, at least
/// one; each with the limits of `POST /client/live/room/instance` (SPEC §7). A field
/// that is absent or `null` is left as it is; unknown fields are ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(as = ServerUpdateRoomRequest)]
pub struct UpdateRoomBody {
    /// New title: 1-128 characters, not only whitespace, no control characters other
    /// than tab and newline.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub title: Option<String>,
    /// New notice: at most 1024 characters, no control characters other than tab and
    /// newline (empty clears it).
    #[schema(
        max_length = 1024,
        pattern = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub notice: Option<String>,
    /// New cover: empty (none) or an http(s) URL; at most 1024 characters.
    #[schema(
        max_length = 1024,
        pattern = r"^$|^[Hh][Tt][Tt][Pp][Ss]?://[^/\s\u0000-\u001F\u007F-\u009F][^\s\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub cover_url: Option<String>,
}

impl UpdateRoomBody {
    /// Validates the body (SPEC §7); every error names its field.
    fn validate(self) -> Result<RoomPatch, ApiError> {
        if self.title.is_none() && self.notice.is_none() && self.cover_url.is_none() {
            return Err(ApiError::InvalidArgument(
                "title, notice or cover_url is required".into(),
            ));
        }
        if let Some(title) = &self.title {
            if title.trim().is_empty() || title.chars().count() > limits::TITLE_MAX {
                return Err(ApiError::InvalidArgument(format!(
                    "title must be 1-{} characters",
                    limits::TITLE_MAX
                )));
            }
            crate::model::check_text("title", title, limits::TITLE_MAX, 0)?;
        }
        if let Some(notice) = &self.notice {
            crate::model::check_text("notice", notice, limits::NOTICE_MAX, 0)?;
        }
        if let Some(cover_url) = &self.cover_url {
            check_url("cover_url", cover_url)?;
        }
        Ok(RoomPatch {
            title: self.title,
            notice: self.notice,
            cover_url: self.cover_url,
        })
    }
}

/// `PUT /server/live/room/instance/{live_id}`: changes a room's title, notice, cover.
#[utoipa::path(
    put,
    path = "/server/live/room/instance/{live_id}",
    operation_id = "serverUpdateRoom",
    tag = "server",
    summary = "Update a room's title, notice, cover (server)",
    description = "Changes the room's `title`, `notice` and / or `cover_url` (at least one; an absent or `null` field is left as it is), in any `live_status` (an ended room may be renamed), whoever its anchor; the room's search terms follow its title. Records `room_updated` (SPEC §10) with `changes`, the changed fields and their new values; a body that changes nothing records nothing. `data`: the room after the change, with its `push_url`.\n\nErrors: 400: 40000: `live_id` malformed, the body not a JSON object, none of the three fields given, or a field violating its limit (SPEC §7: `title` 1-128 characters and not only whitespace, `notice` at most 1024, `cover_url` empty or an http(s) URL of at most 1024; no control characters but tab / newline). 404: 40400: no such room.",
    params(LiveIdPath),
    request_body = UpdateRoomBody,
    security(("serverAuth" = [])),
    responses(
        (status = 200, description = "The room after the change.", body = RoomEnvelope),
        (status = 400, response = BadRequest),
        (status = 404, response = RoomNotFound),
        (status = 413, response = PayloadTooLarge),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    caller: ServerCaller,
    LiveIdPath(live_id): LiveIdPath,
    JsonBody(body): JsonBody<UpdateRoomBody>,
) -> ApiResult<RoomView> {
    let patch = body.validate()?;
    let raw = state.store.update_room(&live_id, &patch).await?;
    let fields: Vec<&str> = [
        ("title", patch.title.is_some()),
        ("notice", patch.notice.is_some()),
        ("cover_url", patch.cover_url.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, given)| given.then_some(name))
    .collect();
    tracing::info!(
        live_id,
        key = caller.key_id,
        fields = fields.join(","),
        "room updated by the server API"
    );
    let anchor = raw.field("anchor").to_owned();
    room_view(&state, raw, &anchor).await
}
