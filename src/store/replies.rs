//! Typed script replies (`FromRedisValue`). A script that can refuse answers
//! `{ status, payload… }` (`lua/lib.lua`): `ok`, or a domain outcome read here as a
//! [`Refusal`] and turned into a [`StoreError`] naming the refused [`Action`].

use std::collections::HashMap;

use redis::{FromRedisValue, ParsingError, Value};

use super::error::{Action, StoreError};

/// A script's answer other than `ok` (the first element of its reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `not_found`: the room does not exist.
    NotFound,
    /// `ended`: the room has ended.
    Ended,
    /// `not_anchor`: the caller is not the room's anchor.
    NotAnchor,
    /// `not_present`: the caller is not present in the room.
    NotPresent,
    /// `not_live`: the room is not live.
    NotLive,
    /// `taken`: the live_id exists already.
    Taken,
    /// `too_many_keys`: extends would pass the key limit.
    TooManyKeys,
    /// `needs_im_userid`: a new profile needs an im_userid first (ensure_profile.lua).
    NeedsImUserid,
    /// `banned`, end ms: the user is banned from the room until then (SPEC §11).
    Banned(i64),
    /// `kicked`: the member was removed by the server API (heartbeat.lua).
    Kicked,
}

impl Refusal {
    fn parse(status: &str, payload: &[Value]) -> Option<Self> {
        Some(match status {
            "banned" => Self::Banned(
                payload
                    .first()
                    .and_then(|v| i64::from_redis_value(v.clone()).ok())
                    .unwrap_or(0),
            ),
            "kicked" => Self::Kicked,
            "not_found" => Self::NotFound,
            "ended" => Self::Ended,
            "not_anchor" => Self::NotAnchor,
            "not_present" => Self::NotPresent,
            "not_live" => Self::NotLive,
            "taken" => Self::Taken,
            "too_many_keys" => Self::TooManyKeys,
            "needs_im_userid" => Self::NeedsImUserid,
            _ => return None,
        })
    }

    /// The error of this refusal by `script` while doing `action` (`None`: the
    /// script serves no action that can be refused that way, so it is a bug).
    pub fn into_error(self, script: &'static str, action: Option<Action>) -> StoreError {
        match (self, action) {
            (Self::NotFound, _) => StoreError::RoomNotFound,
            (Self::NotPresent, _) => StoreError::NotPresent,
            (Self::NotLive, _) => StoreError::NotLive,
            (Self::Taken, _) => StoreError::IdTaken,
            (Self::TooManyKeys, _) => StoreError::TooManyExtendsKeys,
            (Self::Banned(until_ms), _) => StoreError::Banned { until_ms },
            (Self::Kicked, _) => StoreError::Kicked,
            (Self::Ended, Some(action)) => StoreError::Ended(action),
            (Self::NotAnchor, Some(action)) => StoreError::NotAnchor(action),
            (other, _) => StoreError::Internal(format!("{script}.lua: unexpected {other:?}")),
        }
    }
}

/// A reply `{ status, payload… }`: the payload (one value as is, several as a
/// tuple, none as `()`) when the status is `ok`, else the refusal.
#[derive(Debug)]
pub struct Outcome<T>(pub Result<T, Refusal>);

impl<T: FromRedisValue> FromRedisValue for Outcome<T> {
    fn from_redis_value(v: Value) -> Result<Self, ParsingError> {
        let Value::Array(mut items) = v else {
            return Err("script reply: not an array".into());
        };
        if items.is_empty() {
            return Err("script reply: empty".into());
        }
        let status = String::from_redis_value(items.remove(0))?;
        if status != "ok" {
            let refusal = Refusal::parse(&status, &items)
                .ok_or_else(|| format!("script reply: unknown status {status:?}"))?;
            return Ok(Self(Err(refusal)));
        }
        let payload = if items.len() == 1 {
            items.remove(0)
        } else {
            Value::Array(items)
        };
        Ok(Self(Ok(T::from_redis_value(payload)?)))
    }
}

/// A script reply type and what a successful call yields.
pub trait ScriptReply: FromRedisValue {
    /// What the call yields.
    type Ok;
    /// The yield, or the error of a refusal by `script` doing `action`.
    fn into_result(
        self,
        script: &'static str,
        action: Option<Action>,
    ) -> Result<Self::Ok, StoreError>;
}

impl<T: FromRedisValue> ScriptReply for Outcome<T> {
    type Ok = T;
    fn into_result(self, script: &'static str, action: Option<Action>) -> Result<T, StoreError> {
        self.0.map_err(|refusal| refusal.into_error(script, action))
    }
}

/// Replies without a status: the value is the yield.
macro_rules! plain_reply {
    ($($t:ty),*) => {$(
        impl ScriptReply for $t {
            type Ok = Self;
            fn into_result(self, _: &'static str, _: Option<Action>) -> Result<Self, StoreError> {
                Ok(self)
            }
        }
    )*};
}
plain_reply!((), bool, i64, u64, Vec<String>, ScoredPage, SweepReply);

/// A room as read by a script (`room_view` in `lua/lib.lua`): its hash fields plus
/// what is computed at read time.
#[derive(Debug, Clone)]
pub struct RawRoom {
    /// The room hash.
    pub fields: HashMap<String, String>,
    /// Members present now (SPEC §4 `online_count`).
    pub online_count: u64,
    /// Whether the anchor is present (SPEC §4 `anchor_status`).
    pub anchor_present: bool,
    /// PFCOUNT of the UV HyperLogLog.
    pub uv: u64,
    /// Redis's clock at the read, ms.
    pub now_ms: i64,
}

impl RawRoom {
    /// A hash field, or "" when absent.
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map(String::as_str).unwrap_or("")
    }

    /// A numeric hash field, or 0.
    pub fn number(&self, name: &str) -> i64 {
        self.field(name).parse().unwrap_or(0)
    }
}

impl FromRedisValue for RawRoom {
    fn from_redis_value(v: Value) -> Result<Self, ParsingError> {
        let (fields, online, anchor_present, uv, now_ms): (_, i64, i64, i64, i64) =
            FromRedisValue::from_redis_value(v)?;
        Ok(Self {
            fields,
            online_count: online.max(0) as u64,
            anchor_present: anchor_present == 1,
            uv: uv.max(0) as u64,
            now_ms,
        })
    }
}

/// The room hash fields of a member's view of a room, in the order the join scripts
/// read them (`lua/join_room.lua`, `lua/room_add_member.lua`: one `HMGET`; a test holds
/// them equal, and holds that `src/routes/views.rs` reads no other field but `live_id`
/// and `pv`, which the join knows).
pub const MEMBER_VIEW_FIELDS: [&str; 12] = [
    "live_status",
    "anchor",
    "title",
    "notice",
    "cover_url",
    "extends",
    "pk_id",
    "start_time",
    "end_time",
    "chat_id",
    "publish_expire_at",
    "stream_until_ms",
];

/// The room as a join sees it (`member_view` in `lua/lib.lua`): the
/// [`MEMBER_VIEW_FIELDS`] values (nil where missing), then pv, online_count,
/// anchor_present (0/1), uv, now_ms. Cheaper than a whole [`RawRoom`] (no `HGETALL`,
/// no field names), and read into one: [`MemberView::into_room`] adds `live_id`.
#[derive(Debug, Clone)]
pub struct MemberView {
    values: Vec<Option<String>>,
    pv: i64,
    online_count: i64,
    anchor_present: bool,
    uv: i64,
    now_ms: i64,
}

impl MemberView {
    /// The view as a [`RawRoom`] of room `live_id`.
    pub fn into_room(self, live_id: &str) -> RawRoom {
        let mut fields: HashMap<String, String> = MEMBER_VIEW_FIELDS
            .iter()
            .zip(self.values)
            .filter_map(|(name, value)| Some(((*name).to_owned(), value?)))
            .collect();
        fields.insert("live_id".to_owned(), live_id.to_owned());
        fields.insert("pv".to_owned(), self.pv.to_string());
        RawRoom {
            fields,
            online_count: self.online_count.max(0) as u64,
            anchor_present: self.anchor_present,
            uv: self.uv.max(0) as u64,
            now_ms: self.now_ms,
        }
    }
}

impl FromRedisValue for MemberView {
    fn from_redis_value(v: Value) -> Result<Self, ParsingError> {
        let (values, pv, online_count, anchor_present, uv, now_ms): (
            Vec<Option<String>>,
            i64,
            i64,
            i64,
            i64,
            i64,
        ) = FromRedisValue::from_redis_value(v)?;
        if values.len() != MEMBER_VIEW_FIELDS.len() {
            return Err(format!(
                "member view: {} values, not {}",
                values.len(),
                MEMBER_VIEW_FIELDS.len()
            )
            .into());
        }
        Ok(Self {
            values,
            pv,
            online_count,
            anchor_present: anchor_present == 1,
            uv,
            now_ms,
        })
    }
}

/// One page of a sorted set: (total, [(member, score)]) (`lua/page_*.lua`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScoredPage {
    /// Entries in the whole list.
    pub total: u64,
    /// This page's (member, score) pairs, in list order.
    pub entries: Vec<(String, f64)>,
}

impl FromRedisValue for ScoredPage {
    fn from_redis_value(v: Value) -> Result<Self, ParsingError> {
        let (total, entries): (i64, Vec<(String, f64)>) = FromRedisValue::from_redis_value(v)?;
        Ok(Self {
            total: total.max(0) as u64,
            entries,
        })
    }
}

/// The reply of `lua/sweep_room.lua` (its header gives each field).
#[derive(Debug, Clone, Copy)]
pub struct SweepReply {
    pub(crate) expired: u64,
    pub(crate) anchor_offline: u64,
    pub(crate) ended: u64,
    pub(crate) more: bool,
    pub(crate) remaining: u64,
    pub(crate) idle: bool,
    pub(crate) created_ms: i64,
    /// `live_status` after the step; -1 when the room does not exist.
    pub(crate) status: i64,
    /// The room's next visit (ms); 0: leave the deadline index; -1: already left.
    pub(crate) next_due: i64,
    /// The room node's clock at the step (ms).
    pub(crate) now: i64,
}

impl FromRedisValue for SweepReply {
    fn from_redis_value(v: Value) -> Result<Self, ParsingError> {
        let n: Vec<i64> = FromRedisValue::from_redis_value(v)?;
        let [
            expired,
            offline,
            ended,
            more,
            remaining,
            idle,
            created_ms,
            status,
            next_due,
            now,
        ] = n[..]
        else {
            return Err(format!("sweep_room reply: {} numbers, not 10", n.len()).into());
        };
        let count = |x: i64| x.max(0) as u64;
        Ok(Self {
            expired: count(expired),
            anchor_offline: count(offline),
            ended: count(ended),
            more: more == 1,
            remaining: count(remaining),
            idle: idle == 1,
            created_ms,
            status,
            next_due,
            now,
        })
    }
}

/// The reply of `lua/ensure_profile.lua`: the profile hash and the room the user
/// was pointed at before (""), or `None` when a new profile needs an im_userid.
pub struct ProfileReply(pub Outcome<(HashMap<String, String>, String)>);

impl FromRedisValue for ProfileReply {
    fn from_redis_value(v: Value) -> Result<Self, ParsingError> {
        Ok(Self(Outcome::from_redis_value(v)?))
    }
}

impl ScriptReply for ProfileReply {
    type Ok = Option<(HashMap<String, String>, String)>;
    fn into_result(
        self,
        script: &'static str,
        action: Option<Action>,
    ) -> Result<Self::Ok, StoreError> {
        match self.0.0 {
            Err(Refusal::NeedsImUserid) => Ok(None),
            other => Outcome(other).into_result(script, action).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MEMBER_VIEW_FIELDS;

    /// The fields named in the `HMGET` of a join script, in order.
    fn hmget_fields(script: &str) -> Vec<String> {
        let start = script
            .find("redis.call('HMGET', KEYS[1],")
            .expect("the view's HMGET");
        let end = start + script[start..].find(')').expect("closing paren");
        script[start..end]
            .split('\'')
            .skip(3)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn the_join_scripts_read_the_member_view_fields_in_order() {
        for script in [
            include_str!("../../lua/join_room.lua"),
            include_str!("../../lua/room_add_member.lua"),
        ] {
            assert_eq!(hmget_fields(script), MEMBER_VIEW_FIELDS);
        }
    }

    /// A field views.rs reads but the join does not return would be missing (blank)
    /// from every join's reply: add it to MEMBER_VIEW_FIELDS and the join scripts.
    #[test]
    fn the_room_view_reads_only_member_view_fields() {
        let views = include_str!("../routes/views.rs");
        let mut read = Vec::new();
        for call in ["field(\"", "number(\"", "fields.get(\""] {
            for (at, _) in views.match_indices(call) {
                let rest = &views[at + call.len()..];
                read.push(rest[..rest.find('"').unwrap()].to_owned());
            }
        }
        assert!(read.len() > 10, "{read:?}");
        for name in read {
            assert!(
                MEMBER_VIEW_FIELDS.contains(&name.as_str()) || name == "live_id" || name == "pv",
                "views.rs reads {name}, which a join does not return"
            );
        }
    }

    /// Pages by offset start at the right rank whatever stale entries (expired, not
    /// yet swept) come before; pages after a cursor skip them too.
    #[test]
    fn member_pages_skip_stale_entries_by_offset_and_cursor() {
        let (_redis, mut conn) = crate::store::test_redis();
        let (s, _): (i64, i64) = redis::cmd("TIME").query(&mut conn).unwrap();
        let now = s * 1000;
        let stale = [1, 4, 5, 9];
        for i in 0..10 {
            let beat = if stale.contains(&i) {
                now - 100_000
            } else {
                now
            };
            let member = format!("m{i}");
            redis::cmd("ZADD")
                .arg("p")
                .arg(beat)
                .arg(&member)
                .query::<()>(&mut conn)
                .unwrap();
            redis::cmd("ZADD")
                .arg("j")
                .arg(i + 1)
                .arg(&member)
                .query::<()>(&mut conn)
                .unwrap();
        }
        let body = concat!(
            include_str!("../../lua/lib.lua"),
            include_str!("../../lua/page_members.lua")
        );
        let present = ["m0", "m2", "m3", "m6", "m7", "m8"];
        let page = |conn: &mut redis::Connection, count: usize, from: &str, a: &str, b: &str| {
            let (total, flat): (u64, Vec<String>) = redis::cmd("EVAL")
                .arg(body)
                .arg(2)
                .arg("p")
                .arg("j")
                .arg(60_000)
                .arg(count)
                .arg(from)
                .arg(a)
                .arg(b)
                .query(conn)
                .unwrap();
            assert_eq!(total, present.len() as u64);
            flat.into_iter().step_by(2).collect::<Vec<_>>()
        };
        for offset in 0..8 {
            for count in 1..4 {
                let got = page(&mut conn, count, "offset", &offset.to_string(), "");
                let want: Vec<_> = present.iter().skip(offset).take(count).collect();
                assert_eq!(
                    got.iter().collect::<Vec<_>>(),
                    want,
                    "offset {offset} count {count}"
                );
            }
        }
        assert_eq!(page(&mut conn, 2, "after", "4", "m3"), ["m6", "m7"]);
        assert_eq!(
            page(&mut conn, 5, "after", "1", "m0"),
            ["m2", "m3", "m6", "m7", "m8"]
        );
    }
}
