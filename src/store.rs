//! Redis storage: key layout, the Lua scripts of `lua/`, and one typed function per
//! script (docs/DESIGN.md). Every key of a room shares the hash tag `{live_id}`:
//!
//! | key | type | holds |
//! |-----|------|-------|
//! | `{p}:{live_id}:room` | hash | room fields, `pv` counter |
//! | `{p}:{live_id}:presence` | zset | member → last heartbeat (ms, Redis `TIME`) |
//! | `{p}:{live_id}:joined` | zset | member → join time (ms): stable member order |
//! | `{p}:{live_id}:uv` | HyperLogLog | distinct joining users |
//! | `{p}:{live_id}:events` | stream | room state changes (the reaper's, bounded) |
//! | `{p}:user:{user_id}` | hash | profile (`im_userid`, `nick`, `avatar`, `extends`) and current `room` |
//! | `{p}:{global}:seq:im_userid`, `…:seq:chat_id` | string | id sequences |
//! | `{p}:{global}:idx:live` | zset | live rooms → start time (ms) |
//! | `{p}:{global}:idx:search` | zset | every room → created ms (+2^42 while live) |
//! | `{p}:{global}:idx:active` | zset | rooms with members or live → last join (ms), for the reaper |
//! | `{p}:{global}:idx:anchor:{user_id}` | set | rooms of an anchor |
//! | `{p}:{global}:idx:term:{hex}` | set | rooms whose title holds the term (see [`crate::search`]) |
//! | `{p}:{global}:reaper:lease` | string | id of the replica that runs the reaper (`SET NX PX`) |
//!
//! **On one Redis** (standalone or Sentinel) a join and a start move the user in one
//! atomic script (`join_room_single.lua`, `start_room_single.lua`): the user is never
//! present in two rooms, not even for an instant (docs/DESIGN.md invariant 2). **On
//! Redis Cluster** a user's key, two rooms and the indexes sit in different slots, so
//! a join or a start is a sequence of single-slot steps (below).
//!
//! Three hash slots matter (issue #7): a room's (`{live_id}`), a user's (`{user_id}`),
//! and `{global}`, where every deployment-wide key sits so that search can `SINTER`
//! term sets and index updates are one `MULTI`. Every script and every `MULTI`
//! touches one slot. Operations that span slots are ordered steps, each idempotent, so
//! a retried request finishes what a failed one started (create, stop, delete and the
//! reaper take these steps on every deployment; join and start only on Cluster):
//!
//! - **join** (room B, user in room A): 1. `join_room.lua` on B (present, PV/UV);
//!   2. `ensure_profile.lua` on the user's slot points it at B and returns A;
//!   3. *settle* A (out) and B (in), concurrently: remove or restore the presence (a
//!   restore also lists the room for the reaper), then re-read the pointer, and redo
//!   the opposite when a concurrent join or leave moved it meanwhile. Every presence
//!   change is confirmed by a later pointer read, so once all requests of a user have
//!   returned it is present exactly in the room its pointer names (tests race joins
//!   across three masters). No step spans two slots; the heartbeat touches only B's.
//! - **leave** (Cluster): compare-and-clear the pointer, `leave_room.lua`, settle.
//! - Multi-step writes run on a task of their own ([`to_completion`]), so a request
//!   dropped halfway (client gone) still runs every step.
//! - **start**: room script, then live/search/active indexes, then the join's steps 3–4.
//! - **stop / delete**: check the room, update the indexes, then the room script.
//! - **create**: the anchor's profile, `INCR` chat_id, room script, then the indexes
//!   (the room is deleted again if indexing fails).
//! - **reaper**: `sweep_room.lua` on the room, then index updates for a room it
//!   ended or found idle (an idle room leaves the active index and is re-added when a
//!   re-check finds it busy again, so a racing join is never lost).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::redis_conn::{RedisConn, RedisTarget};
use redis::{Script, Value};

use crate::auth::Claims;
use crate::error::ApiError;
use crate::extract::{Page, PageStart};
use crate::model::{NewRoom, UserProfile, limits};

/// Builds every Redis key from the configured prefix (SPEC §9 `LIVEROOM_KEY_PREFIX`).
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: std::sync::Arc<str>,
}

/// The keys of one room, in the order the room scripts take them as `KEYS[1..4]`.
#[derive(Debug, Clone)]
pub struct RoomKeys {
    /// Room hash.
    pub room: String,
    /// Presence zset.
    pub presence: String,
    /// Join-order zset.
    pub joined: String,
    /// UV HyperLogLog.
    pub uv: String,
    /// Event stream.
    pub events: String,
}

impl Keys {
    /// Keys under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: std::sync::Arc::from(prefix),
        }
    }

    /// The configured prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The keys of room `live_id` (which must have passed `check_live_id`).
    pub fn room(&self, live_id: &str) -> RoomKeys {
        let tag = self.room_tag(live_id);
        RoomKeys {
            room: format!("{tag}room"),
            presence: format!("{tag}presence"),
            joined: format!("{tag}joined"),
            uv: format!("{tag}uv"),
            events: format!("{tag}events"),
        }
    }

    /// Just the room hash and presence keys of `live_id` (the heartbeat's two keys).
    pub fn room_and_presence(&self, live_id: &str) -> (String, String) {
        let tag = self.room_tag(live_id);
        (format!("{tag}room"), format!("{tag}presence"))
    }

    /// `{prefix}:{live_id}:`, the start of every key of the room.
    fn room_tag(&self, live_id: &str) -> String {
        format!("{}:{{{}}}:", self.prefix, live_id)
    }

    /// A user's profile hash.
    pub fn user(&self, user_id: &str) -> String {
        format!("{}:user:{{{}}}", self.prefix, user_id)
    }

    /// A deployment-wide key: `{prefix}:{global}:{name}`, all in one hash slot.
    fn named(&self, name: &str) -> String {
        format!("{}:{{global}}:{name}", self.prefix)
    }

    /// The im_userid sequence.
    pub fn im_userid_seq(&self) -> String {
        self.named("seq:im_userid")
    }
    /// The chat_id sequence.
    pub fn chat_id_seq(&self) -> String {
        self.named("seq:chat_id")
    }
    /// Live rooms by start time.
    pub fn live_index(&self) -> String {
        self.named("idx:live")
    }
    /// All rooms, live first then newest.
    pub fn search_index(&self) -> String {
        self.named("idx:search")
    }
    /// Rooms with members or live, for the reaper.
    pub fn active_index(&self) -> String {
        self.named("idx:active")
    }
    /// The reaper's leader lease.
    pub fn reaper_lease(&self) -> String {
        self.named("reaper:lease")
    }
    /// Rooms of an anchor.
    pub fn anchor_index(&self, user_id: &str) -> String {
        self.named(&format!("idx:anchor:{user_id}"))
    }
    /// Rooms whose title holds `term` (hex-encoded so no title text shapes a key).
    pub fn term_index(&self, term: &str) -> String {
        self.named(&format!("idx:term:{}", hex::encode(term.as_bytes())))
    }
}

macro_rules! lua {
    ($file:literal) => {
        Script::new(concat!(
            include_str!("../lua/lib.lua"),
            include_str!(concat!("../lua/", $file))
        ))
    };
    (single $file:literal) => {
        Script::new(concat!(
            include_str!("../lua/lib.lua"),
            include_str!("../lua/lib_single.lua"),
            include_str!(concat!("../lua/", $file))
        ))
    };
}

/// The room scripts of `lua/`, each with `lib.lua` prepended. `redis::Script` sends
/// `EVALSHA` and re-sends the body on `NOSCRIPT`, so they survive `SCRIPT FLUSH`.
pub struct Scripts {
    create_room: Script,
    get_room: Script,
    start_room: Script,
    stop_room: Script,
    delete_room: Script,
    join_room: Script,
    leave_room: Script,
    heartbeat: Script,
    update_extends: Script,
    page_index: Script,
    page_members: Script,
    ensure_profile: Script,
    sweep_room: Script,
    clear_room: Script,
    join_room_single: Script,
    start_room_single: Script,
    leave_room_single: Script,
    index_room: Script,
    lease_renew: Script,
    lease_release: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            create_room: lua!("create_room.lua"),
            get_room: lua!("get_room.lua"),
            start_room: lua!("start_room.lua"),
            stop_room: lua!("stop_room.lua"),
            delete_room: lua!("delete_room.lua"),
            join_room: lua!("join_room.lua"),
            leave_room: lua!("leave_room.lua"),
            // The hot path runs without the lib.lua prefix (see its header).
            heartbeat: Script::new(include_str!("../lua/heartbeat.lua")),
            update_extends: lua!("update_extends.lua"),
            page_index: lua!("page_index.lua"),
            page_members: lua!("page_members.lua"),
            ensure_profile: lua!("ensure_profile.lua"),
            sweep_room: lua!("sweep_room.lua"),
            clear_room: lua!("clear_room.lua"),
            join_room_single: lua!(single "join_room_single.lua"),
            start_room_single: lua!(single "start_room_single.lua"),
            leave_room_single: lua!(single "leave_room_single.lua"),
            index_room: lua!("index_room.lua"),
            lease_renew: lua!("lease_renew.lua"),
            lease_release: lua!("lease_release.lua"),
        }
    }

    fn all(&self) -> [&Script; 20] {
        [
            &self.create_room,
            &self.get_room,
            &self.start_room,
            &self.stop_room,
            &self.delete_room,
            &self.join_room,
            &self.leave_room,
            &self.heartbeat,
            &self.update_extends,
            &self.page_index,
            &self.page_members,
            &self.ensure_profile,
            &self.sweep_room,
            &self.clear_room,
            &self.join_room_single,
            &self.start_room_single,
            &self.leave_room_single,
            &self.index_room,
            &self.lease_renew,
            &self.lease_release,
        ]
    }
}

/// A room as read by a script: its hash fields plus what is computed at read time.
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

/// Which room index a page walks.
#[derive(Debug, Clone, Copy)]
pub enum RoomIndex {
    /// Live rooms, newest start first (SPEC §5 #7).
    Live,
    /// All rooms, live first then newest (SPEC §5 #6, empty keyword).
    All,
}

/// A change to a room's index entries (`lua/index_room.lua`).
#[derive(Debug, Clone, Copy)]
enum IndexOp {
    /// Listed in search, the anchor's set and the term sets.
    Create,
    /// In the live index, ranked live in search.
    Live,
    /// Out of the live index, ranked not live in search.
    Ended,
    /// In the active index (the reaper visits the room).
    Active,
    /// Out of every index.
    Delete,
    /// Found missing by the reaper: out of the live, search and active indexes.
    Gone,
}

impl IndexOp {
    fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Live => "live",
            Self::Ended => "ended",
            Self::Active => "active",
            Self::Delete => "delete",
            Self::Gone => "gone",
        }
    }
}

/// A search candidate's sort data.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Room id.
    pub live_id: String,
    /// Lower-cased title.
    pub title_lower: String,
    /// The anchor's user id.
    pub anchor: String,
    /// Sort score: created ms, + 2^42 while live (same as the search index).
    pub score: f64,
}

/// Score bonus of a live room in the search index (must equal `LIVE_BIT` in lua/lib.lua).
pub const LIVE_BIT: f64 = 4398046511104.0;

/// The Redis side of liveroom: one multiplexed, auto-reconnecting connection and the
/// scripts. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    conn: RedisConn,
    keys: Keys,
    scripts: std::sync::Arc<Scripts>,
    member_timeout_ms: u64,
    /// One Redis (standalone or Sentinel): join and start move the user in one atomic
    /// script. False on Cluster, where they are ordered single-slot steps.
    single_redis: bool,
}

fn malformed(what: &str) -> ApiError {
    ApiError::Internal(format!("malformed script reply: {what}"))
}

fn int(v: &Value) -> Result<i64, ApiError> {
    match v {
        Value::Int(n) => Ok(*n),
        Value::BulkString(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| malformed("int")),
        Value::Double(d) => Ok(*d as i64),
        _ => Err(malformed("int")),
    }
}

fn text(v: &Value) -> Result<String, ApiError> {
    match v {
        Value::BulkString(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::Int(n) => Ok(n.to_string()),
        Value::Double(d) => Ok(d.to_string()),
        _ => Err(malformed("string")),
    }
}

fn array(v: Value) -> Result<Vec<Value>, ApiError> {
    match v {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        _ => Err(malformed("array")),
    }
}

fn pairs(v: Value) -> Result<Vec<(String, String)>, ApiError> {
    let items = array(v)?;
    items
        .chunks(2)
        .map(|c| match c {
            [a, b] => Ok((text(a)?, text(b)?)),
            _ => Err(malformed("pairs")),
        })
        .collect()
}

/// Splits a script reply `{code, ...}` into the rest, or the code's error.
fn checked(
    reply: Value,
    forbidden: &'static str,
    conflict: &'static str,
) -> Result<Vec<Value>, ApiError> {
    let mut items = array(reply)?;
    if items.is_empty() {
        return Err(malformed("empty reply"));
    }
    let code = int(&items[0])?;
    if code != 0 {
        return Err(ApiError::from_script_code(code, forbidden, conflict));
    }
    items.remove(0);
    Ok(items)
}

fn raw_room(view: Value) -> Result<RawRoom, ApiError> {
    let mut parts = array(view)?.into_iter();
    let mut next = || parts.next().ok_or_else(|| malformed("room view"));
    let fields = pairs(next()?)?.into_iter().collect();
    let online_count = int(&next()?)?.max(0) as u64;
    let anchor_present = int(&next()?)? == 1;
    let uv = int(&next()?)?.max(0) as u64;
    let now_ms = int(&next()?)?;
    Ok(RawRoom {
        fields,
        online_count,
        anchor_present,
        uv,
        now_ms,
    })
}

fn first_room(items: Vec<Value>) -> Result<RawRoom, ApiError> {
    raw_room(
        items
            .into_iter()
            .next()
            .ok_or_else(|| malformed("missing room"))?,
    )
}

/// Builds a profile from a user hash; a user never seen has im_userid 0.
pub fn profile_from_hash(user_id: &str, hash: &HashMap<String, String>) -> UserProfile {
    UserProfile {
        user_id: user_id.to_owned(),
        im_userid: hash
            .get("im_userid")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        nick: hash.get("nick").cloned().unwrap_or_default(),
        avatar: hash.get("avatar").cloned().unwrap_or_default(),
        extends: parse_extends(hash.get("extends").map(String::as_str)),
    }
}

/// Parses a stored extends JSON object (an empty Lua table may come back as `[]`).
pub fn parse_extends(json: Option<&str>) -> BTreeMap<String, String> {
    json.and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default()
}

const FORBIDDEN_ANCHOR: &str = "only the room's anchor may do this";

impl Store {
    /// Connects to one Redis server at `url` (see [`Store::connect_to`]).
    pub async fn connect(
        url: &str,
        prefix: &str,
        member_timeout: Duration,
        timeout: Duration,
    ) -> redis::RedisResult<Self> {
        Self::connect_to(
            &RedisTarget::standalone(url),
            prefix,
            member_timeout,
            timeout,
        )
        .await
    }

    /// Connects to `target` (standalone, cluster or sentinel) with `timeout` on every
    /// command and connection attempt, and preloads every script (on every master).
    pub async fn connect_to(
        target: &RedisTarget,
        prefix: &str,
        member_timeout: Duration,
        timeout: Duration,
    ) -> redis::RedisResult<Self> {
        let conn = RedisConn::connect(target, timeout).await?;
        if target.mode == crate::redis_conn::RedisMode::Standalone {
            check_standalone(&mut conn.clone()).await?;
        }
        let store = Self {
            single_redis: conn.mode() != crate::redis_conn::RedisMode::Cluster,
            conn,
            keys: Keys::new(prefix),
            scripts: std::sync::Arc::new(Scripts::new()),
            member_timeout_ms: member_timeout.as_millis() as u64,
        };
        store.load_scripts().await?;
        Ok(store)
    }

    /// Runs one script invocation, recording its duration and errors by script name
    /// (`liveroom_redis_script_*`). Redis errors become 503 (unavailable / timeout)
    /// or 500.
    async fn invoke<T: redis::FromRedisValue>(
        &self,
        script: &'static str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, ApiError> {
        let timer = crate::metrics::ScriptTimer::start(script);
        let mut result = invocation.invoke_async(&mut self.conn.clone()).await;
        // redis-rs reloads a script once on NOSCRIPT; a `SCRIPT FLUSH` (or a failover
        // to a node that never saw the script) racing that reload can still end in
        // NOSCRIPT, so try again a couple of times before giving up.
        for _ in 0..2 {
            match &result {
                Err(e)
                    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                {
                    result = invocation.invoke_async(&mut self.conn.clone()).await;
                }
                _ => break,
            }
        }
        timer.finish(result.is_err());
        result.map_err(ApiError::from)
    }

    /// Loads every script into Redis's script cache (start-up and readiness).
    pub async fn load_scripts(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        for script in self.scripts.all() {
            script.prepare_invoke().load_async(&mut conn).await?;
        }
        Ok(())
    }

    /// Readiness: Redis answers and every script is in its cache; scripts found
    /// missing (e.g. after a Redis restart or failover) are loaded again.
    pub async fn check_ready(&self) -> Result<(), ApiError> {
        let mut conn = self.conn.clone();
        let shas: Vec<&str> = self.scripts.all().iter().map(|s| s.get_hash()).collect();
        let loaded: Vec<bool> = redis::cmd("SCRIPT")
            .arg("EXISTS")
            .arg(&shas)
            .query_async(&mut conn)
            .await?;
        if loaded.iter().any(|l| !l) {
            tracing::info!("scripts missing from Redis's cache: loading them again");
            self.load_scripts().await?;
        }
        Ok(())
    }

    /// The key layout.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A clone of the connection, for tests and tools.
    pub fn connection(&self) -> RedisConn {
        self.conn.clone()
    }

    /// `PING`.
    pub async fn ping(&self) -> Result<(), ApiError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok(())
    }

    /// Creates a room (`lua/create_room.lua`) in four single-slot steps: the anchor's
    /// profile, a chat_id, the room, then the search/anchor/term indexes. When the
    /// last step fails the room is deleted again, so no room exists unlisted.
    pub async fn create_room(
        &self,
        live_id: &str,
        anchor: &Claims,
        room: &NewRoom,
    ) -> Result<RawRoom, ApiError> {
        self.ensure_profile(anchor, None).await?;
        let chat_id: i64 = redis::cmd("INCR")
            .arg(self.keys.chat_id_seq())
            .query_async(&mut self.conn.clone())
            .await?;
        let rk = self.keys.room(live_id);
        let extends =
            serde_json::to_string(&room.extends).map_err(|e| ApiError::Internal(e.to_string()))?;
        let mut inv = self.scripts.create_room.prepare_invoke();
        inv.key(&rk.room)
            .key(&rk.presence)
            .key(&rk.joined)
            .key(&rk.uv)
            .arg(live_id)
            .arg(&anchor.sub)
            .arg(&room.title)
            .arg(&room.notice)
            .arg(&room.cover_url)
            .arg(extends)
            .arg(room.start_at)
            .arg(room.end_at)
            .arg(room.publish_expire_at)
            .arg(chat_id)
            .arg(self.member_timeout_ms);
        let reply: Value = self.invoke("create_room", &inv).await?;
        let raw = first_room(checked(reply, FORBIDDEN_ANCHOR, "room id already taken")?)?;
        let listed = self
            .index(
                IndexOp::Create,
                live_id,
                Some((&anchor.sub, &room.title)),
                raw.number("created_ms"),
                0,
            )
            .await;
        if let Err(err) = listed {
            // Best effort: take the room away again rather than leave it unlisted.
            let _ = self.delete_script(live_id, &anchor.sub).await;
            let _ = self
                .index(
                    IndexOp::Delete,
                    live_id,
                    Some((&anchor.sub, &room.title)),
                    0,
                    0,
                )
                .await;
            return Err(err);
        }
        Ok(raw)
    }

    /// Reads a room (`lua/get_room.lua`); 40400 when it does not exist.
    pub async fn get_room(&self, live_id: &str) -> Result<RawRoom, ApiError> {
        let rk = self.keys.room(live_id);
        let reply: Value = self
            .invoke(
                "get_room",
                self.scripts
                    .get_room
                    .key(&rk.room)
                    .key(&rk.presence)
                    .key(&rk.joined)
                    .key(&rk.uv)
                    .arg(self.member_timeout_ms),
            )
            .await?;
        first_room(checked(reply, FORBIDDEN_ANCHOR, "")?)
    }

    /// Reads several rooms concurrently (pipelined on the one connection); rooms
    /// deleted in the meantime are left out.
    pub async fn get_rooms(&self, live_ids: &[String]) -> Result<Vec<RawRoom>, ApiError> {
        let reads = live_ids.iter().map(|id| self.get_room(id));
        let results = futures::future::join_all(reads).await;
        let mut rooms = Vec::with_capacity(results.len());
        for result in results {
            match result {
                Ok(room) => rooms.push(room),
                Err(ApiError::RoomNotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(rooms)
    }

    /// Starts a room (`lua/start_room.lua`), then lists it (live, search and active
    /// indexes: idempotent, so a retried start completes them) and moves the anchor
    /// out of any other room (see [`Store::join_room`]).
    pub async fn start_room(&self, live_id: &str, user: &Claims) -> Result<RawRoom, ApiError> {
        if self.single_redis {
            return self.start_room_single(live_id, user).await;
        }
        let rk = self.keys.room(live_id);
        // Checked before anything is written (a refused start writes nothing), then
        // listed for the reaper first: should a later step fail, a live room is still
        // visited (and ended if its anchor stays away); a stray entry is dropped as idle.
        let (anchor, status): (Option<String>, Option<u8>) = redis::cmd("HMGET")
            .arg(&rk.room)
            .arg(&["anchor", "live_status"])
            .query_async(&mut self.conn.clone())
            .await?;
        match (anchor, status) {
            (None, _) => return Err(ApiError::RoomNotFound),
            (Some(a), _) if a != user.sub => {
                return Err(ApiError::Forbidden("only the room's anchor may start it"));
            }
            (_, Some(2)) => {
                return Err(ApiError::Conflict("room has ended and cannot start again"));
            }
            _ => {}
        }
        self.mark_active(live_id).await?;
        let reply: Value = self
            .invoke(
                "start_room",
                self.scripts
                    .start_room
                    .key(&rk.room)
                    .key(&rk.presence)
                    .key(&rk.joined)
                    .key(&rk.uv)
                    .key(&rk.events)
                    .arg(&user.sub)
                    .arg(self.member_timeout_ms),
            )
            .await?;
        let items = checked(
            reply,
            "only the room's anchor may start it",
            "room has ended and cannot start again",
        )?;
        let mut items = items.into_iter();
        let raw = raw_room(items.next().ok_or_else(|| malformed("start view"))?)?;
        let started_ms = int(&items.next().ok_or_else(|| malformed("started_ms"))?)?;
        let created_ms = int(&items.next().ok_or_else(|| malformed("created_ms"))?)?;
        // Listed again now that it is live: a sweep that found the room idle just
        // before the script may have dropped the first entry.
        self.mark_active(live_id).await?;
        self.index(IndexOp::Live, live_id, None, created_ms, started_ms)
            .await?;
        // A stop that ran between the script and the index step has already taken
        // the room out of the live index; re-check so this step does not undo it.
        let status: Option<u8> = redis::cmd("HGET")
            .arg(&rk.room)
            .arg("live_status")
            .query_async(&mut self.conn.clone())
            .await?;
        if status != Some(1) {
            self.index(IndexOp::Ended, live_id, None, created_ms, 0)
                .await?;
        }
        self.point_user_at(user, live_id).await?;
        Ok(raw)
    }

    /// `lua/start_room_single.lua`: the whole start in one script (one Redis only).
    async fn start_room_single(&self, live_id: &str, user: &Claims) -> Result<RawRoom, ApiError> {
        let rk = self.keys.room(live_id);
        let reply: Value = self
            .invoke(
                "start_room",
                self.scripts
                    .start_room_single
                    .key(&rk.room)
                    .key(&rk.presence)
                    .key(&rk.joined)
                    .key(&rk.uv)
                    .key(self.keys.user(&user.sub))
                    .key(self.keys.live_index())
                    .key(self.keys.search_index())
                    .key(self.keys.active_index())
                    .key(&rk.events)
                    .key(self.keys.im_userid_seq())
                    .arg(&user.sub)
                    .arg(self.member_timeout_ms)
                    .arg(self.keys.prefix())
                    .arg(live_id)
                    .arg(user.nick.as_deref().unwrap_or(""))
                    .arg(user.avatar.as_deref().unwrap_or("")),
            )
            .await?;
        first_room(checked(
            reply,
            "only the room's anchor may start it",
            "room has ended and cannot start again",
        )?)
    }

    /// Stops a live room: checks it, takes it out of the live index (and ranks it as
    /// ended in search), then ends it (`lua/stop_room.lua`). In that order a retried
    /// stop finishes what a failed one started.
    pub async fn stop_room(&self, live_id: &str, user_id: &str) -> Result<(), ApiError> {
        let rk = self.keys.room(live_id);
        let (anchor, status, created): (Option<String>, Option<u8>, Option<i64>) =
            redis::cmd("HMGET")
                .arg(&rk.room)
                .arg(&["anchor", "live_status", "created_ms"])
                .query_async(&mut self.conn.clone())
                .await?;
        match (anchor, status) {
            (None, _) => return Err(ApiError::RoomNotFound),
            (Some(a), _) if a != user_id => {
                return Err(ApiError::Forbidden("only the room's anchor may stop it"));
            }
            (_, Some(1)) => {}
            _ => return Err(ApiError::Conflict("room is not live")),
        }
        let created = created.unwrap_or(0);
        self.index(IndexOp::Ended, live_id, None, created, 0)
            .await?;
        let reply: Value = self
            .invoke(
                "stop_room",
                self.scripts
                    .stop_room
                    .key(&rk.room)
                    .key(&rk.events)
                    .arg(user_id),
            )
            .await?;
        checked(
            reply,
            "only the room's anchor may stop it",
            "room is not live",
        )?;
        // Again, after the room ended: a start racing this stop may have listed it
        // in between (start re-checks too; both orders end unlisted).
        self.index(IndexOp::Ended, live_id, None, created, 0).await
    }

    /// Deletes a room and all its state: checks it, takes it out of every index, then
    /// deletes its keys (`lua/delete_room.lua`); a retried delete finishes the work.
    pub async fn delete_room(&self, live_id: &str, user_id: &str) -> Result<(), ApiError> {
        let rk = self.keys.room(live_id);
        let (anchor, title): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(&rk.room)
            .arg(&["anchor", "title"])
            .query_async(&mut self.conn.clone())
            .await?;
        match (anchor, title) {
            (Some(anchor), Some(title)) if anchor == user_id => {
                self.unindex_and_delete(live_id, user_id, &title).await
            }
            (Some(_), _) => Err(ApiError::Forbidden("only the room's anchor may delete it")),
            _ => Err(ApiError::RoomNotFound),
        }
    }

    /// Out of every index, the room's keys deleted, then out of every index again (a
    /// start racing the delete may have listed it in between).
    async fn unindex_and_delete(
        &self,
        live_id: &str,
        anchor: &str,
        title: &str,
    ) -> Result<(), ApiError> {
        let all = Some((anchor, title));
        self.index(IndexOp::Delete, live_id, all, 0, 0).await?;
        self.delete_script(live_id, anchor).await?;
        self.index(IndexOp::Delete, live_id, all, 0, 0).await
    }

    /// `lua/delete_room.lua`: the room's keys, if `anchor` is its anchor.
    async fn delete_script(&self, live_id: &str, anchor: &str) -> Result<(), ApiError> {
        let rk = self.keys.room(live_id);
        let reply: Value = self
            .invoke(
                "delete_room",
                self.scripts
                    .delete_room
                    .key(&rk.room)
                    .key(&rk.presence)
                    .key(&rk.joined)
                    .key(&rk.uv)
                    .key(&rk.events)
                    .arg(anchor),
            )
            .await?;
        checked(reply, "only the room's anchor may delete it", "")?;
        Ok(())
    }

    /// `lua/index_room.lua`: one change to a room's index entries (`{global}` slot).
    /// `listing` = (anchor, title) for create and delete (the anchor's set and the
    /// title's term sets). Times in ms.
    async fn index(
        &self,
        op: IndexOp,
        live_id: &str,
        listing: Option<(&str, &str)>,
        created_ms: i64,
        started_ms: i64,
    ) -> Result<(), ApiError> {
        let mut inv = self.scripts.index_room.prepare_invoke();
        inv.key(self.keys.live_index())
            .key(self.keys.search_index())
            .key(self.keys.active_index());
        if let Some((anchor, title)) = listing {
            inv.key(self.keys.anchor_index(anchor));
            for term in crate::search::title_terms(title) {
                inv.key(self.keys.term_index(&term));
            }
        }
        inv.arg(op.name())
            .arg(live_id)
            .arg(created_ms)
            .arg(started_ms);
        let _: i64 = self.invoke("index_room", &inv).await?;
        Ok(())
    }

    /// In the active index (the reaper visits the room), scored by Redis's clock (ms);
    /// one `lua/index_room.lua` call.
    async fn mark_active(&self, live_id: &str) -> Result<(), ApiError> {
        self.index(IndexOp::Active, live_id, None, 0, 0).await
    }

    /// Joins a room (SPEC §5 #8): present in it, listed for the reaper, and out of
    /// the previous room — the join protocol in the module docs. One room per user
    /// holds once every join of a user has returned, however they interleave (the
    /// tests race joins through several replicas).
    pub async fn join_room(&self, live_id: &str, user: &Claims) -> Result<RawRoom, ApiError> {
        if self.single_redis {
            return self.join_room_single(live_id, user).await;
        }
        let raw = self.room_join(live_id, &user.sub, true).await?;
        self.point_user_at(user, live_id).await?;
        Ok(raw)
    }

    /// `lua/join_room_single.lua`: the whole join in one script (one Redis only).
    async fn join_room_single(&self, live_id: &str, user: &Claims) -> Result<RawRoom, ApiError> {
        let rk = self.keys.room(live_id);
        let reply: Value = self
            .invoke(
                "join_room",
                self.scripts
                    .join_room_single
                    .key(&rk.room)
                    .key(&rk.presence)
                    .key(&rk.joined)
                    .key(&rk.uv)
                    .key(self.keys.user(&user.sub))
                    .key(self.keys.im_userid_seq())
                    .key(self.keys.active_index())
                    .key(&rk.events)
                    .arg(&user.sub)
                    .arg(user.nick.as_deref().unwrap_or(""))
                    .arg(user.avatar.as_deref().unwrap_or(""))
                    .arg(self.member_timeout_ms)
                    .arg(self.keys.prefix())
                    .arg(live_id),
            )
            .await?;
        first_room(checked(reply, FORBIDDEN_ANCHOR, "room has ended")?)
    }

    /// `lua/join_room.lua`: presence in one room; `count_view` false = a restore.
    async fn room_join(
        &self,
        live_id: &str,
        user_id: &str,
        count_view: bool,
    ) -> Result<RawRoom, ApiError> {
        let rk = self.keys.room(live_id);
        let reply: Value = self
            .invoke(
                "join_room",
                self.scripts
                    .join_room
                    .key(&rk.room)
                    .key(&rk.presence)
                    .key(&rk.joined)
                    .key(&rk.uv)
                    .key(&rk.events)
                    .arg(user_id)
                    .arg(self.member_timeout_ms)
                    .arg(if count_view { "1" } else { "0" }),
            )
            .await?;
        first_room(checked(reply, FORBIDDEN_ANCHOR, "room has ended")?)
    }

    /// Join steps 3–4: points the user at `live_id` (creating its profile on first
    /// sight), then settles the room it was in before (out) and `live_id` (in).
    async fn point_user_at(&self, user: &Claims, live_id: &str) -> Result<(), ApiError> {
        let (_, previous) = self.profile_step(user, None, live_id).await?;
        let leave_previous = async {
            if previous.is_empty() || previous == live_id {
                Ok(())
            } else {
                self.settle(&user.sub, &previous, false).await
            }
        };
        let (left, stayed) = tokio::join!(leave_previous, self.settle(&user.sub, live_id, true));
        left.and(stayed)
    }

    /// Brings the user's presence in `live_id` in line with its pointer: restores it
    /// (`present`) or removes it, then [confirms](Store::confirm) against the pointer.
    async fn settle(&self, user_id: &str, live_id: &str, present: bool) -> Result<(), ApiError> {
        self.act(user_id, live_id, present).await?;
        self.confirm(user_id, live_id, present).await
    }

    /// Re-reads the pointer after an action that left the user `present` in
    /// `live_id` or not; when a concurrent join or leave moved the pointer in between,
    /// does the opposite and reads again. Every action on a room is thus followed by
    /// a pointer read, so once all requests of a user have returned it is present
    /// exactly where its pointer says. Bounded to three rounds (the last one acts on
    /// its read without another); a longer race is left to the member timeout.
    async fn confirm(
        &self,
        user_id: &str,
        live_id: &str,
        mut present: bool,
    ) -> Result<(), ApiError> {
        for _ in 0..3 {
            let pointed = self.pointer(user_id).await? == live_id;
            if pointed == present {
                return Ok(());
            }
            present = pointed;
            self.act(user_id, live_id, present).await?;
        }
        Ok(())
    }

    /// Restores (and lists for the reaper) or removes the user's presence in a room.
    async fn act(&self, user_id: &str, live_id: &str, present: bool) -> Result<(), ApiError> {
        if !present {
            return self.room_leave(live_id, user_id).await;
        }
        match self.room_join(live_id, user_id, false).await {
            Ok(_) => self.mark_active(live_id).await,
            Err(ApiError::RoomNotFound) | Err(ApiError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The room the user was last pointed at ("" when none).
    async fn pointer(&self, user_id: &str) -> Result<String, ApiError> {
        let room: Option<String> = redis::cmd("HGET")
            .arg(self.keys.user(user_id))
            .arg("room")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(room.unwrap_or_default())
    }

    /// `lua/leave_room.lua`, ignoring "not present" and "no such room" (a move out).
    async fn room_leave(&self, live_id: &str, user_id: &str) -> Result<(), ApiError> {
        match self.leave_script(live_id, user_id).await {
            Ok(()) | Err(ApiError::NotInRoom) | Err(ApiError::RoomNotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn leave_script(&self, live_id: &str, user_id: &str) -> Result<(), ApiError> {
        let rk = self.keys.room(live_id);
        let reply: Value = self
            .invoke(
                "leave_room",
                self.scripts
                    .leave_room
                    .key(&rk.room)
                    .key(&rk.presence)
                    .key(&rk.joined)
                    .key(&rk.events)
                    .arg(user_id)
                    .arg(self.member_timeout_ms),
            )
            .await?;
        checked(reply, FORBIDDEN_ANCHOR, "")?;
        Ok(())
    }

    /// Leaves a room (SPEC §5 #9). One Redis: `lua/leave_room_single.lua` removes the
    /// presence and the user's pointer to the room at once. Cluster: the pointer is
    /// dropped first (`lua/clear_room.lua`, only if it still names the room), then the
    /// presence (`lua/leave_room.lua`), then confirmed (`Store::confirm`) against the
    /// pointer, so a join racing the leave ends with the user either in the room and
    /// pointed at it, or in neither.
    pub async fn leave_room(&self, live_id: &str, user_id: &str) -> Result<(), ApiError> {
        if self.single_redis {
            let rk = self.keys.room(live_id);
            let reply: Value = self
                .invoke(
                    "leave_room",
                    self.scripts
                        .leave_room_single
                        .key(&rk.room)
                        .key(&rk.presence)
                        .key(&rk.joined)
                        .key(&rk.events)
                        .key(self.keys.user(user_id))
                        .arg(user_id)
                        .arg(self.member_timeout_ms)
                        .arg(live_id),
                )
                .await?;
            checked(reply, FORBIDDEN_ANCHOR, "")?;
            return Ok(());
        }
        let _: i64 = self
            .invoke(
                "clear_room",
                self.scripts
                    .clear_room
                    .key(self.keys.user(user_id))
                    .arg(live_id),
            )
            .await?;
        let left = self.leave_script(live_id, user_id).await;
        if matches!(left, Ok(()) | Err(ApiError::NotInRoom)) {
            self.confirm(user_id, live_id, false).await?;
        }
        left
    }

    /// Refreshes presence (`lua/heartbeat.lua`): one round trip, one room's keys.
    /// Returns the room's `live_status`.
    pub async fn heartbeat(&self, live_id: &str, user_id: &str) -> Result<u8, ApiError> {
        let (room, presence) = self.keys.room_and_presence(live_id);
        let reply: Value = self
            .invoke(
                "heartbeat",
                self.scripts
                    .heartbeat
                    .key(&room)
                    .key(&presence)
                    .arg(user_id)
                    .arg(self.member_timeout_ms),
            )
            .await?;
        let items = checked(reply, FORBIDDEN_ANCHOR, "")?;
        Ok(int(items.first().ok_or_else(|| malformed("heartbeat"))?)?.clamp(0, 2) as u8)
    }

    /// Merges an extends patch (`lua/update_extends.lua`).
    pub async fn update_extends(
        &self,
        live_id: &str,
        user_id: &str,
        patch: &BTreeMap<String, String>,
    ) -> Result<(), ApiError> {
        let rk = self.keys.room(live_id);
        let patch = serde_json::to_string(patch).map_err(|e| ApiError::Internal(e.to_string()))?;
        let reply: Value = self
            .invoke(
                "update_extends",
                self.scripts
                    .update_extends
                    .key(&rk.room)
                    .arg(user_id)
                    .arg(patch)
                    .arg(limits::EXTENDS_KEYS_MAX),
            )
            .await?;
        checked(reply, "only the room's anchor may update extends", "")?;
        Ok(())
    }

    /// One page of a room index (`lua/page_index.lua`): (total, [(live_id, score)]).
    pub async fn page_index(
        &self,
        index: RoomIndex,
        page: &Page,
    ) -> Result<(u64, Vec<(String, f64)>), ApiError> {
        let key = match index {
            RoomIndex::Live => self.keys.live_index(),
            RoomIndex::All => self.keys.search_index(),
        };
        let mut inv = self.scripts.page_index.prepare_invoke();
        inv.key(key).arg(page.size);
        match &page.start {
            PageStart::Number(_) => inv.arg("offset").arg(page.offset()).arg(""),
            PageStart::After { score, id } => inv.arg("after").arg(*score).arg(id),
        };
        let reply: Value = self.invoke("page_index", &inv).await?;
        scored_page(reply)
    }

    /// One page of a room's present members in join order (`lua/page_members.lua`):
    /// (total present, [(user_id, join ms)]).
    pub async fn page_members(
        &self,
        live_id: &str,
        page: &Page,
    ) -> Result<(u64, Vec<(String, f64)>), ApiError> {
        let rk = self.keys.room(live_id);
        let mut inv = self.scripts.page_members.prepare_invoke();
        inv.key(&rk.presence)
            .key(&rk.joined)
            .arg(self.member_timeout_ms)
            .arg(page.size);
        match &page.start {
            PageStart::Number(_) => inv.arg("offset").arg(page.offset()).arg(""),
            PageStart::After { score, id } => inv.arg("after").arg(*score).arg(id),
        };
        let reply: Value = self.invoke("page_members", &inv).await?;
        scored_page(reply)
    }

    /// Number of live rooms (`ZCARD` of the live index).
    pub async fn live_room_count(&self) -> Result<u64, ApiError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("ZCARD")
            .arg(self.keys.live_index())
            .query_async(&mut conn)
            .await?)
    }

    /// Whether room `live_id` exists.
    pub async fn room_exists(&self, live_id: &str) -> Result<bool, ApiError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("EXISTS")
            .arg(self.keys.room(live_id).room)
            .query_async::<i64>(&mut conn)
            .await?
            == 1)
    }

    /// Search candidates for `keyword` (SPEC §5 #6): an exact `live_id`, the rooms of
    /// an anchor with that user id, and rooms whose title terms all match; each with
    /// the data to check and sort it. Deleted rooms are left out.
    pub async fn search_candidates(&self, keyword: &str) -> Result<Vec<Candidate>, ApiError> {
        let mut conn = self.conn.clone();
        let lower = keyword.to_lowercase();
        let term_keys: Vec<String> = crate::search::keyword_terms(&lower)
            .iter()
            .map(|t| self.keys.term_index(t))
            .collect();
        let by_title: Vec<String> = redis::cmd("SINTER")
            .arg(&term_keys)
            .query_async(&mut conn)
            .await?;
        let mut ids: std::collections::BTreeSet<String> = by_title.into_iter().collect();
        if crate::auth::is_valid_user_id(keyword) {
            let by_anchor: Vec<String> = redis::cmd("SMEMBERS")
                .arg(self.keys.anchor_index(keyword))
                .query_async(&mut conn)
                .await?;
            ids.extend(by_anchor);
        }
        if crate::extract::check_live_id(&lower).is_ok() {
            ids.insert(lower.clone());
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        type Row = (Option<String>, Option<u8>, Option<i64>, Option<String>);
        let reads = ids.iter().map(|id| async move {
            redis::cmd("HMGET")
                .arg(self.keys.room(id).room)
                .arg(&["title", "live_status", "created_ms", "anchor"])
                .query_async::<Row>(&mut self.conn.clone())
                .await
        });
        let rows = futures::future::try_join_all(reads).await?;
        Ok(ids
            .into_iter()
            .zip(rows)
            .filter_map(|(live_id, row)| match row {
                (Some(title), Some(status), Some(created), Some(anchor)) => Some(Candidate {
                    live_id,
                    title_lower: title.to_lowercase(),
                    anchor,
                    score: created as f64 + if status == 1 { LIVE_BIT } else { 0.0 },
                }),
                _ => None,
            })
            .collect())
    }

    /// Profiles of several users in one round trip (missing users get im_userid 0).
    pub async fn profiles(&self, user_ids: &[String]) -> Result<Vec<UserProfile>, ApiError> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        // One command per user (each user's key has its own slot), sent concurrently
        // on the multiplexed connection: pipelined on the wire, routed per node.
        let reads = user_ids.iter().map(|id| async move {
            redis::cmd("HGETALL")
                .arg(self.keys.user(id))
                .query_async::<HashMap<String, String>>(&mut self.conn.clone())
                .await
        });
        let hashes = futures::future::try_join_all(reads).await?;
        Ok(user_ids
            .iter()
            .zip(hashes)
            .map(|(id, h)| profile_from_hash(id, &h))
            .collect())
    }

    /// Returns the caller's profile, creating it on first sight and applying `update`
    /// (`lua/ensure_profile.lua`).
    pub async fn ensure_profile(
        &self,
        user: &Claims,
        update: Option<&crate::model::UpdateProfileBody>,
    ) -> Result<UserProfile, ApiError> {
        Ok(self.profile_step(user, update, "").await?.0)
    }

    /// `lua/ensure_profile.lua` on the user's slot: the profile (created on first
    /// sight with an im_userid from the global sequence, asked for only then),
    /// `update` applied, and the pointer moved to `join` when not empty. Returns the
    /// profile and the room the user was pointed at before ("" when none).
    async fn profile_step(
        &self,
        user: &Claims,
        update: Option<&crate::model::UpdateProfileBody>,
        join: &str,
    ) -> Result<(UserProfile, String), ApiError> {
        let flag = |o: bool| if o { "1" } else { "0" };
        let nick = update.and_then(|u| u.nick.clone());
        let avatar = update.and_then(|u| u.avatar.clone());
        let extends = update
            .and_then(|u| u.extends.as_ref())
            .map(|e| serde_json::to_string(e).unwrap_or_else(|_| "{}".into()));
        let mut im_userid = String::new();
        loop {
            let mut inv = self.scripts.ensure_profile.prepare_invoke();
            inv.key(self.keys.user(&user.sub))
                .arg(&im_userid)
                .arg(user.nick.as_deref().unwrap_or(""))
                .arg(user.avatar.as_deref().unwrap_or(""))
                .arg(flag(nick.is_some()))
                .arg(nick.as_deref().unwrap_or_default())
                .arg(flag(avatar.is_some()))
                .arg(avatar.as_deref().unwrap_or_default())
                .arg(flag(extends.is_some()))
                .arg(extends.as_deref().unwrap_or("{}"))
                .arg(limits::EXTENDS_KEYS_MAX)
                .arg(join);
            let reply: Value = self.invoke("ensure_profile", &inv).await?;
            let mut items = array(reply)?.into_iter();
            let code = int(&items.next().ok_or_else(|| malformed("empty reply"))?)?;
            if code == 1 && im_userid.is_empty() {
                // First sight: an im_userid from the sequence (its own slot), then again.
                let id: i64 = redis::cmd("INCR")
                    .arg(self.keys.im_userid_seq())
                    .query_async(&mut self.conn.clone())
                    .await?;
                im_userid = id.to_string();
                continue;
            }
            if code != 0 {
                return Err(ApiError::from_script_code(code, FORBIDDEN_ANCHOR, ""));
            }
            let hash: HashMap<String, String> =
                pairs(items.next().ok_or_else(|| malformed("profile"))?)?
                    .into_iter()
                    .collect();
            let previous = items.next().map(|v| text(&v)).transpose()?;
            return Ok((
                profile_from_hash(&user.sub, &hash),
                previous.unwrap_or_default(),
            ));
        }
    }
}

/// Runs a write of several steps on a task of its own, so it always runs to the end
/// even when the request is dropped halfway (the client went away): the steps are
/// ordered to be consistent once they have all run. A panic in it is a 500.
pub async fn to_completion<T, F>(work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
{
    tokio::spawn(work)
        .await
        .map_err(|e| ApiError::Internal(format!("store task failed: {e}")))?
}

/// What one `sweep_room.lua` call did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoomSweep {
    /// Members removed because their heartbeat timed out.
    pub expired: u64,
    /// 1 when the anchor was newly marked offline.
    pub anchor_offline: u64,
    /// 1 when the room was ended because its anchor stayed absent.
    pub ended: u64,
    /// Whether stale members remain beyond the batch.
    pub more: bool,
    /// Members left in the presence set after this step.
    pub remaining: u64,
}

impl Store {
    /// One reaper step for one room (`lua/sweep_room.lua`). Times in ms.
    pub async fn sweep_room(
        &self,
        live_id: &str,
        close_after_ms: u64,
        batch: u64,
    ) -> Result<RoomSweep, ApiError> {
        let rk = self.keys.room(live_id);
        let reply: Vec<i64> = self
            .invoke(
                "sweep_room",
                self.scripts
                    .sweep_room
                    .key(&rk.room)
                    .key(&rk.presence)
                    .key(&rk.joined)
                    .key(&rk.events)
                    .arg(self.member_timeout_ms)
                    .arg(close_after_ms)
                    .arg(batch),
            )
            .await?;
        let [
            expired,
            offline,
            ended,
            more,
            remaining,
            idle,
            created_ms,
            status,
        ] = reply[..]
        else {
            return Err(malformed("sweep"));
        };
        if status == -1 {
            // Deleted: whatever a racing start listed goes too.
            self.index(IndexOp::Gone, live_id, None, 0, 0).await?;
        } else {
            // An ended room leaves the live index on every visit (idempotent): if an
            // earlier update failed or a racing start re-listed it, the live list
            // heals at the next sweep. Ended rooms are visited only while members
            // remain.
            if status == 2 {
                self.index(IndexOp::Ended, live_id, None, created_ms, 0)
                    .await?;
            }
            if idle == 1 {
                self.drop_if_idle(live_id).await?;
            }
        }
        Ok(RoomSweep {
            expired: expired.max(0) as u64,
            anchor_offline: offline.max(0) as u64,
            ended: ended.max(0) as u64,
            more: more == 1,
            remaining: remaining.max(0) as u64,
        })
    }

    /// Takes an idle room out of the active index, then re-checks it: a join that
    /// made it busy again meanwhile may have added it before the removal, so a room
    /// with members or live goes back in (a join after the re-check adds it itself).
    async fn drop_if_idle(&self, live_id: &str) -> Result<(), ApiError> {
        let mut conn = self.conn.clone();
        redis::cmd("ZREM")
            .arg(self.keys.active_index())
            .arg(live_id)
            .query_async::<()>(&mut conn)
            .await?;
        let rk = self.keys.room(live_id);
        let status: Option<u8> = redis::cmd("HGET")
            .arg(&rk.room)
            .arg("live_status")
            .query_async(&mut conn)
            .await?;
        let members: u64 = redis::cmd("ZCARD")
            .arg(&rk.presence)
            .query_async(&mut conn)
            .await?;
        if status == Some(1) || (status.is_some() && members > 0) {
            self.mark_active(live_id).await?;
        }
        Ok(())
    }

    /// One `ZSCAN` step over the active room index: (next cursor, live_ids).
    pub async fn scan_active(
        &self,
        cursor: u64,
        count: usize,
    ) -> Result<(u64, Vec<String>), ApiError> {
        let (next, items): (u64, Vec<String>) = redis::cmd("ZSCAN")
            .arg(self.keys.active_index())
            .arg(cursor)
            .arg("COUNT")
            .arg(count)
            .query_async(&mut self.conn.clone())
            .await?;
        // ZSCAN returns member, score pairs.
        Ok((next, items.into_iter().step_by(2).collect()))
    }

    /// Tries to take the reaper lease (`SET NX PX`); true when this replica got it.
    pub async fn lease_acquire(&self, replica_id: &str, ttl_ms: u64) -> Result<bool, ApiError> {
        let reply: Option<String> = redis::cmd("SET")
            .arg(self.keys.reaper_lease())
            .arg(replica_id)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(reply.is_some())
    }

    /// Extends the lease if this replica holds it (`lua/lease_renew.lua`).
    pub async fn lease_renew(&self, replica_id: &str, ttl_ms: u64) -> Result<bool, ApiError> {
        let held: i64 = self
            .invoke(
                "lease_renew",
                self.scripts
                    .lease_renew
                    .key(self.keys.reaper_lease())
                    .arg(replica_id)
                    .arg(ttl_ms),
            )
            .await?;
        Ok(held == 1)
    }

    /// Releases the lease if this replica holds it (`lua/lease_release.lua`).
    pub async fn lease_release(&self, replica_id: &str) -> Result<bool, ApiError> {
        let released: i64 = self
            .invoke(
                "lease_release",
                self.scripts
                    .lease_release
                    .key(self.keys.reaper_lease())
                    .arg(replica_id),
            )
            .await?;
        Ok(released == 1)
    }

    /// The id of the replica holding the reaper lease, if any.
    pub async fn lease_holder(&self) -> Result<Option<String>, ApiError> {
        Ok(redis::cmd("GET")
            .arg(self.keys.reaper_lease())
            .query_async(&mut self.conn.clone())
            .await?)
    }
}

/// Standalone mode: refuses, with the setting to change, a server that is a cluster
/// node, a sentinel or a replica (each would start, then fail every write).
async fn check_standalone(conn: &mut RedisConn) -> redis::RedisResult<()> {
    // Managed services may refuse INFO: then there is nothing to check.
    let Ok(info) = redis::cmd("INFO").query_async::<String>(conn).await else {
        return Ok(());
    };
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    let problem = if field("cluster_enabled") == Some("1") {
        Some("it is a Redis Cluster node: set LIVEROOM_REDIS_MODE=cluster")
    } else if field("redis_mode") == Some("sentinel") {
        Some(
            "it is a Sentinel: set LIVEROOM_REDIS_MODE=sentinel and LIVEROOM_REDIS_SENTINEL_MASTER",
        )
    } else if field("role") == Some("slave") {
        Some(
            "it is a read-only replica: point LIVEROOM_REDIS_URL at the master (or use sentinel mode)",
        )
    } else {
        None
    };
    match problem {
        Some(p) => Err(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "LIVEROOM_REDIS_MODE is standalone but",
            p.to_owned(),
        ))),
        None => Ok(()),
    }
}

fn scored_page(reply: Value) -> Result<(u64, Vec<(String, f64)>), ApiError> {
    let mut items = array(reply)?.into_iter();
    let total = int(&items.next().ok_or_else(|| malformed("page total"))?)?.max(0) as u64;
    let entries = pairs(items.next().unwrap_or(Value::Nil))?
        .into_iter()
        .map(|(id, score)| {
            score
                .parse::<f64>()
                .map(|s| (id, s))
                .map_err(|_| malformed("score"))
        })
        .collect::<Result<_, _>>()?;
    Ok((total, entries))
}
