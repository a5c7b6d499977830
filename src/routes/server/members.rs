//! Server member routes (SPEC §11): the present members of any room.

use axum::extract::State;

use crate::AppState;
use crate::auth::ServerCaller;
use crate::error::ApiResult;
use crate::extract::QueryParams;
use crate::model::{MemberInfo, PageOf};
use crate::openapi::{BadRequest, MemberPageEnvelope, PageParams, RoomNotFound, RoomParam};

/// `GET /server/live/room/user_list?live_id&page_num&page_size&cursor`: present
/// members of a room, oldest join first (as `GET /client/live/room/user_list`).
#[utoipa::path(
    get,
    path = "/server/live/room/user_list",
    operation_id = "serverListRoomMembers",
    tag = "server",
    summary = "Present users of a room (server)",
    description = "Users present now, in a stable order: join time, oldest first (the same list as `GET /client/live/room/user_list`).\n\nErrors: 400: 40000: `live_id` missing or malformed, or bad pagination. 404: 40400: no such room.",
    params(RoomParam, PageParams),
    security(("serverAuth" = [])),
    responses(
        (status = 200, description = "A page of present members.", body = MemberPageEnvelope),
        (status = 400, response = BadRequest),
        (status = 404, response = RoomNotFound),
    ),
)]
pub async fn user_list(
    State(state): State<AppState>,
    _caller: ServerCaller,
    query: QueryParams,
) -> ApiResult<PageOf<MemberInfo>> {
    crate::routes::members::member_page(&state, &query).await
}
