//! Room views: stored rooms turned into the wire [`RoomView`] for a caller, shared by
//! the room and member endpoints.

use crate::AppState;
use crate::error::{ApiError, ApiOk, ApiResult};
use crate::model::{RoomView, UserProfile};
use crate::store::{RawRoom, parse_extends};

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
                // Publishing while the media server's last word is fresh (SPEC §12).
                stream_status: u8::from(room.number("stream_until_ms") > room.now_ms),
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
