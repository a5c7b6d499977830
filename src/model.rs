//! Wire shapes of the seed (field for field) and input validation (SPEC §4, §7).

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

/// Limits of SPEC §7, in characters (Unicode scalar values), not bytes.
pub mod limits {
    /// Title: 1-128 characters.
    pub const TITLE_MAX: usize = 128;
    /// Notice: at most 1024 characters.
    pub const NOTICE_MAX: usize = 1024;
    /// Cover URL and avatar: at most 1024 characters.
    pub const URL_MAX: usize = 1024;
    /// Extends: at most 32 keys (the scripts enforce it after a merge).
    pub const EXTENDS_KEYS_MAX: usize = crate::store::MAX_EXTENDS_KEYS;
    /// Extends key: 1-64 characters.
    pub const EXTENDS_KEY_MAX: usize = 64;
    /// Extends value: at most 1024 characters.
    pub const EXTENDS_VALUE_MAX: usize = 1024;
    /// Nick: at most 64 characters.
    pub const NICK_MAX: usize = 64;
}

/// Body of `POST /client/live/room/instance` (SPEC §5 #1). Unknown fields are ignored;
/// a field that is `null` counts as absent; a wrong type is 400 / 40000 naming the field.
/// Lengths are in characters (Unicode scalar values). Free text must not contain control
/// characters other than tab and newline.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(as = CreateRoomRequest)]
pub struct CreateRoomBody {
    /// 1-128 characters, not only whitespace, no control characters other than tab and
    /// newline.
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub title: Option<String>,
    /// At most 1024 characters, no control characters other than tab and newline.
    #[schema(
        max_length = 1024,
        pattern = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub notice: Option<String>,
    /// Empty or an http(s) URL; at most 1024 characters.
    #[schema(
        max_length = 1024,
        pattern = r"^$|^[Hh][Tt][Tt][Pp][Ss]?://[^/\s\u0000-\u001F\u007F-\u009F][^\s\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub cover_url: Option<String>,
    /// At most 32 keys; key 1-64, value at most 1024 characters.
    #[schema(value_type = Option<crate::openapi::Extends>)]
    pub extends: Option<BTreeMap<String, String>>,
    /// Scheduled start.
    #[schema(value_type = Option<crate::openapi::TimeString>)]
    pub start_at: Option<String>,
    /// Scheduled end, not before `start_at` (else 400 / 40000).
    #[schema(value_type = Option<crate::openapi::TimeString>)]
    pub end_at: Option<String>,
    /// Expiry of the push URL's token; when absent or past, now + the configured publish TTL.
    #[schema(value_type = Option<crate::openapi::TimeString>)]
    pub publish_expire_at: Option<String>,
}

pub use crate::store::NewRoom;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::InvalidArgument(message.into())
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Checks free text: `min`-`max` characters and no control characters other than tab
/// / newline (SPEC §7); the 40000 message names `field`.
pub(crate) fn check_text(field: &str, value: &str, max: usize, min: usize) -> Result<(), ApiError> {
    let n = chars(value);
    if n < min || n > max {
        return Err(if min > 0 {
            invalid(format!("{field} must be {min}-{max} characters"))
        } else {
            invalid(format!("{field} must be at most {max} characters"))
        });
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(invalid(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(())
}

/// Checks an http(s) URL field (empty is allowed).
pub fn check_url(field: &str, value: &str) -> Result<(), ApiError> {
    check_text(field, value, limits::URL_MAX, 0)?;
    if value.is_empty() {
        return Ok(());
    }
    let lower = value.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(|| invalid(format!("{field} must be an http(s) URL")))?;
    if rest.is_empty() || rest.starts_with('/') || value.contains(char::is_whitespace) {
        return Err(invalid(format!("{field} must be an http(s) URL")));
    }
    Ok(())
}

/// Checks an extends map or patch (SPEC §7). A patch may carry empty values (removals).
pub fn check_extends(field: &str, extends: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if extends.len() > limits::EXTENDS_KEYS_MAX {
        return Err(invalid(format!(
            "{field} must have at most {} keys",
            limits::EXTENDS_KEYS_MAX
        )));
    }
    for (key, value) in extends {
        if key.is_empty() || chars(key) > limits::EXTENDS_KEY_MAX {
            return Err(invalid(format!(
                "{field} keys must be 1-{} characters",
                limits::EXTENDS_KEY_MAX
            )));
        }
        if chars(value) > limits::EXTENDS_VALUE_MAX {
            return Err(invalid(format!(
                "{field}.{key} must be at most {} characters",
                limits::EXTENDS_VALUE_MAX
            )));
        }
    }
    Ok(())
}

/// Parses a SPEC §4 time: `YYYY-MM-DD HH:MM:SS` in `zone`, or RFC 3339 with an
/// explicit offset. Returns Unix seconds.
pub fn parse_time(field: &str, text: &str, zone: &FixedOffset) -> Result<i64, ApiError> {
    let text = text.trim();
    if let Ok(naive) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S") {
        return zone
            .from_local_datetime(&naive)
            .single()
            .map(|t| t.timestamp())
            .ok_or_else(|| invalid(format!("{field} is not a valid time")));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp())
        .map_err(|_| {
            invalid(format!(
                "{field} must be a time like 2021-12-02 11:11:11 or RFC 3339"
            ))
        })
}

fn optional_time(field: &str, value: &Option<String>, zone: &FixedOffset) -> Result<i64, ApiError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(0),
        Some(text) => {
            let t = parse_time(field, text, zone)?;
            if t <= 0 {
                return Err(invalid(format!("{field} must be after 1970-01-01")));
            }
            Ok(t)
        }
    }
}

impl CreateRoomBody {
    /// Validates the body (SPEC §7); every error names its field.
    pub fn validate(self, zone: &FixedOffset) -> Result<NewRoom, ApiError> {
        let Some(title) = self.title else {
            return Err(invalid("title is required"));
        };
        if title.trim().is_empty() {
            return Err(invalid("title must be 1-128 characters"));
        }
        check_text("title", &title, limits::TITLE_MAX, 1)?;
        let notice = self.notice.unwrap_or_default();
        check_text("notice", &notice, limits::NOTICE_MAX, 0)?;
        let cover_url = self.cover_url.unwrap_or_default();
        check_url("cover_url", &cover_url)?;
        let mut extends = self.extends.unwrap_or_default();
        check_extends("extends", &extends)?;
        extends.retain(|_, v| !v.is_empty());
        let start_at = optional_time("start_at", &self.start_at, zone)?;
        let end_at = optional_time("end_at", &self.end_at, zone)?;
        if start_at > 0 && end_at > 0 && end_at < start_at {
            return Err(invalid("end_at must not be before start_at"));
        }
        let publish_expire_at = optional_time("publish_expire_at", &self.publish_expire_at, zone)?;
        Ok(NewRoom {
            title,
            notice,
            cover_url,
            extends,
            start_at,
            end_at,
            publish_expire_at,
        })
    }
}

/// Body of `PUT /client/live/room/extends` (SPEC §5 #11). Unknown fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = UpdateExtendsRequest)]
pub struct UpdateExtendsBody {
    /// The room.
    #[schema(required = true, nullable = false, value_type = crate::openapi::LiveId)]
    pub live_id: Option<String>,
    /// Keys to merge; an empty value removes the key.
    #[schema(required = true, nullable = false, value_type = crate::openapi::ExtendsPatch)]
    pub extends: Option<BTreeMap<String, String>>,
}

impl UpdateExtendsBody {
    /// The room and the checked patch (SPEC §7). Errors: 400 / 40000 naming `live_id`
    /// or `extends` (missing, malformed, over the limits).
    pub fn into_checked(self) -> Result<(String, BTreeMap<String, String>), ApiError> {
        let live_id = self
            .live_id
            .ok_or_else(|| ApiError::InvalidArgument("live_id is required".into()))?;
        crate::extract::check_live_id(&live_id)?;
        let patch = self
            .extends
            .ok_or_else(|| ApiError::InvalidArgument("extends is required".into()))?;
        check_extends("extends", &patch)?;
        Ok((live_id, patch))
    }
}

/// Body of `PUT /client/user/user` (SPEC §3): every field is optional and only the given
/// ones change. Unknown fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = UpdateProfileRequest)]
pub struct UpdateProfileBody {
    /// New nick: at most 64 characters, no control characters other than tab and newline.
    #[schema(
        max_length = 64,
        pattern = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub nick: Option<String>,
    /// New avatar: empty or an http(s) URL; at most 1024 characters.
    #[schema(
        max_length = 1024,
        pattern = r"^$|^[Hh][Tt][Tt][Pp][Ss]?://[^/\s\u0000-\u001F\u007F-\u009F][^\s\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub avatar: Option<String>,
    /// Keys to merge into the profile's extends; an empty value removes the key.
    #[schema(value_type = Option<crate::openapi::ExtendsPatch>)]
    pub extends: Option<BTreeMap<String, String>>,
}

impl UpdateProfileBody {
    /// Validates the update (SPEC §7 limits apply to nick, avatar and extends).
    pub fn validate(&self) -> Result<(), ApiError> {
        if let Some(nick) = &self.nick {
            check_text("nick", nick, limits::NICK_MAX, 0)?;
        }
        if let Some(avatar) = &self.avatar {
            check_url("avatar", avatar)?;
        }
        if let Some(extends) = &self.extends {
            check_extends("extends", extends)?;
        }
        Ok(())
    }
}

/// A user profile as it appears in `anchor_info` and `GET /client/user/profile` (SPEC §3).
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserProfile {
    /// User id (the token's `sub`).
    #[schema(value_type = crate::openapi::UserId)]
    pub user_id: String,
    /// Numeric IM user id, allocated once per user and never reused.
    pub im_userid: u64,
    /// Display name (at most 64 characters).
    pub nick: String,
    /// Avatar URL, or empty.
    pub avatar: String,
    /// Free-form key/value pairs.
    #[schema(value_type = crate::openapi::Extends)]
    pub extends: BTreeMap<String, String>,
}

impl From<crate::store::Profile> for UserProfile {
    fn from(p: crate::store::Profile) -> Self {
        Self {
            user_id: p.user_id,
            im_userid: p.im_userid,
            nick: p.nick,
            avatar: p.avatar,
            extends: p.extends,
        }
    }
}

/// One present user of a room, an entry of `user_list` (SPEC §5 #12).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Member)]
pub struct MemberInfo {
    /// User id.
    #[schema(value_type = crate::openapi::UserId)]
    pub user_id: String,
    /// Numeric IM user id.
    pub im_userid: u64,
    /// IM user name: empty, since liveroom runs no IM service (as in the seed).
    pub im_username: String,
    /// Display name.
    pub nick: String,
    /// Avatar URL, or empty.
    pub avatar: String,
    /// Free-form key/value pairs.
    #[schema(value_type = crate::openapi::Extends)]
    pub extends: BTreeMap<String, String>,
}

impl From<UserProfile> for MemberInfo {
    fn from(p: UserProfile) -> Self {
        Self {
            user_id: p.user_id,
            im_userid: p.im_userid,
            im_username: String::new(),
            nick: p.nick,
            avatar: p.avatar,
            extends: p.extends,
        }
    }
}

/// The room object of the seed (SPEC §4), field for field and in its order.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Room)]
pub struct RoomView {
    /// `live_` + random hex.
    #[schema(value_type = crate::openapi::LiveId)]
    pub live_id: String,
    /// Title, 1-128 characters.
    #[schema(min_length = 1, max_length = 128)]
    pub title: String,
    /// Notice, at most 1024 characters.
    #[schema(max_length = 1024)]
    pub notice: String,
    /// Cover URL: empty or an http(s) URL, at most 1024 characters.
    #[schema(max_length = 1024)]
    pub cover_url: String,
    /// Room extends.
    #[schema(value_type = crate::openapi::Extends)]
    pub extends: BTreeMap<String, String>,
    /// The anchor's profile (not the caller's).
    pub anchor_info: UserProfile,
    /// 1 when the anchor is present (joined / started, heartbeat within the timeout),
    /// else 0.
    #[schema(maximum = 1)]
    pub anchor_status: u8,
    /// Cross-room PK session id; empty unless the room is in one.
    pub pk_id: String,
    /// Users present now (joined, heartbeat within the timeout), the anchor included
    /// when present.
    pub online_count: u64,
    /// Unix seconds: the scheduled `start_at` before the room starts (0 when not given),
    /// the actual start once it has.
    #[schema(minimum = 0)]
    pub start_time: i64,
    /// Unix seconds: the scheduled `end_at` before the room ends (0 when not given), the
    /// actual end once it has.
    #[schema(minimum = 0)]
    pub end_time: i64,
    /// Numeric id of the room's chat channel, allocated per room.
    pub chat_id: u64,
    /// Signed push URL (`{publish_url}/{live_id}?expire={unix_s}&token={t}`), only for
    /// the anchor; `""` for everyone else.
    pub push_url: String,
    /// HLS pull URL (`{hls_play_url}/{live_id}.m3u8`); empty when not configured.
    pub hls_url: String,
    /// RTMP pull URL (`{rtmp_play_url}/{live_id}`); empty when not configured.
    pub rtmp_url: String,
    /// FLV pull URL (`{flv_play_url}/{live_id}.flv`); empty when not configured.
    pub flv_url: String,
    /// Number of joins (exact).
    pub pv: u64,
    /// Distinct users who joined (HyperLogLog, ±1%).
    pub uv: u64,
    /// 0 created, 1 live, 2 ended.
    #[schema(value_type = crate::openapi::LiveStatus)]
    pub live_status: u8,
    /// liveroom addition (SPEC §4, §12): 1 while a media server reports the anchor's
    /// stream publishing (accepted by the media-server hooks and renewed within the
    /// member timeout), else 0.
    #[schema(maximum = 1)]
    pub stream_status: u8,
}

/// A paged list (SPEC §5): `page_total = ceil(total_count / page_size)`,
/// `end_page = page_num >= page_total`; `next_cursor` is empty on the last page.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PageOf<T> {
    /// Items in the whole list.
    pub total_count: u64,
    /// Number of pages: `ceil(total_count / page_size)`.
    pub page_total: u64,
    /// Whether this is the last page: `page_num >= page_total` (by cursor: no entry
    /// follows).
    pub end_page: bool,
    /// The items of this page (at most `page_size`).
    #[schema(max_items = 100)]
    pub list: Vec<T>,
    /// Opaque cursor of the next page (pass it as `cursor`); `""` on the last page.
    pub next_cursor: String,
}

impl<T> PageOf<T> {
    /// Builds the page, computing `page_total` and `end_page` from SPEC §5.
    pub fn new(
        total_count: u64,
        page: &crate::extract::Page,
        list: Vec<T>,
        next_cursor: Option<String>,
    ) -> Self {
        let page_total = total_count.div_ceil(page.size);
        let end_page = match page.start {
            crate::extract::PageStart::Number(n) => n >= page_total,
            crate::extract::PageStart::After { .. } => next_cursor.is_none(),
        };
        let next_cursor = if end_page {
            String::new()
        } else {
            next_cursor.unwrap_or_default()
        };
        Self {
            total_count,
            page_total,
            end_page,
            list,
            next_cursor,
        }
    }
}

/// `data` of a heartbeat (SPEC §5 #10).
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Heartbeat)]
pub struct HeartbeatData {
    /// The room.
    #[schema(value_type = crate::openapi::LiveId)]
    pub live_id: String,
    /// 0 created, 1 live, 2 ended.
    #[schema(value_type = crate::openapi::LiveStatus)]
    pub live_status: u8,
    /// When to send the next heartbeat, ms from now: `LIVEROOM_HEARTBEAT_INTERVAL`
    /// (default 5000) ±10% at random, so clients that reconnected together drift apart.
    pub next_heartbeat_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    #[test]
    fn times_parse_in_zone_and_rfc3339() {
        assert_eq!(
            parse_time("t", "2021-12-02 11:11:11", &zone()).unwrap(),
            1638414671
        );
        assert_eq!(
            parse_time("t", "2021-12-02T03:11:11Z", &zone()).unwrap(),
            1638414671
        );
        assert!(parse_time("t", "2021/12/02", &zone()).is_err());
    }

    #[test]
    fn create_validation_names_fields() {
        let err = |b: CreateRoomBody| b.validate(&zone()).unwrap_err().to_string();
        assert_eq!(err(CreateRoomBody::default()), "title is required");
        let blank = CreateRoomBody {
            title: Some("  ".into()),
            ..Default::default()
        };
        assert_eq!(err(blank), "title must be 1-128 characters");
        let long = CreateRoomBody {
            title: Some("长".repeat(129)),
            ..Default::default()
        };
        assert_eq!(err(long), "title must be 1-128 characters");
        let ok = CreateRoomBody {
            title: Some("长".repeat(128)),
            ..Default::default()
        };
        assert!(ok.validate(&zone()).is_ok());
        let cover = CreateRoomBody {
            title: Some("x".into()),
            cover_url: Some("ftp://x".into()),
            ..Default::default()
        };
        assert_eq!(err(cover), "cover_url must be an http(s) URL");
        let times = CreateRoomBody {
            title: Some("x".into()),
            start_at: Some("2021-12-02 11:11:11".into()),
            end_at: Some("2021-12-02 11:11:10".into()),
            ..Default::default()
        };
        assert_eq!(err(times), "end_at must not be before start_at");
    }
}
