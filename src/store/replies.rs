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
