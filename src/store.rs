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
//! | `{p}:seq:im_userid`, `{p}:seq:chat_id` | string | id sequences |
//! | `{p}:idx:live` | zset | live rooms → start time (ms) |
//! | `{p}:idx:search` | zset | every room → created ms (+2^42 while live) |
//! | `{p}:idx:active` | zset | rooms with members or live → last activity (ms), for the reaper |
//! | `{p}:idx:anchor:{user_id}` | set | rooms of an anchor |
//! | `{p}:idx:term:{hex}` | set | rooms whose title holds the term (see [`crate::search`]) |
//! | `{p}:reaper:lease` | string | id of the replica that runs the reaper (`SET NX PX`) |

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use redis::aio::ConnectionManager;
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

    fn named(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
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
            lease_renew: lua!("lease_renew.lua"),
            lease_release: lua!("lease_release.lua"),
        }
    }

    fn all(&self) -> [&Script; 15] {
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

/// Score bonus of a live room in the search index (must equal `LIVE_BIT` in lib.lua).
pub const LIVE_BIT: f64 = 4398046511104.0;

/// The Redis side of liveroom: one multiplexed, auto-reconnecting connection and the
/// scripts. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    conn: ConnectionManager,
    keys: Keys,
    scripts: std::sync::Arc<Scripts>,
    member_timeout_ms: u64,
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
    /// Connects to `url` with `timeout` on every command and connection attempt,
    /// and preloads every script.
    pub async fn connect(
        url: &str,
        prefix: &str,
        member_timeout: Duration,
        timeout: Duration,
    ) -> redis::RedisResult<Self> {
        // TLS (`rediss://`) uses rustls with the ring provider; installing it twice is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(timeout))
            .set_connection_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_with_config(client, config).await?;
        let store = Self {
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
        let result = invocation.invoke_async(&mut self.conn.clone()).await;
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
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// `PING`.
    pub async fn ping(&self) -> Result<(), ApiError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok(())
    }

    /// Creates a room (`lua/create_room.lua`).
    pub async fn create_room(
        &self,
        live_id: &str,
        anchor: &Claims,
        room: &NewRoom,
    ) -> Result<RawRoom, ApiError> {
        let rk = self.keys.room(live_id);
        let extends =
            serde_json::to_string(&room.extends).map_err(|e| ApiError::Internal(e.to_string()))?;
        let mut inv = self.scripts.create_room.prepare_invoke();
        inv.key(&rk.room)
            .key(&rk.presence)
            .key(&rk.joined)
            .key(&rk.uv)
            .key(self.keys.user(&anchor.sub))
            .key(self.keys.im_userid_seq())
            .key(self.keys.chat_id_seq())
            .key(self.keys.search_index())
            .key(self.keys.anchor_index(&anchor.sub));
        for term in crate::search::title_terms(&room.title) {
            inv.key(self.keys.term_index(&term));
        }
        inv.arg(live_id)
            .arg(&anchor.sub)
            .arg(anchor.nick.as_deref().unwrap_or(""))
            .arg(anchor.avatar.as_deref().unwrap_or(""))
            .arg(&room.title)
            .arg(&room.notice)
            .arg(&room.cover_url)
            .arg(extends)
            .arg(room.start_at)
            .arg(room.end_at)
            .arg(room.publish_expire_at)
            .arg(self.member_timeout_ms);
        let reply: Value = self.invoke("create_room", &inv).await?;
        first_room(checked(reply, FORBIDDEN_ANCHOR, "room id already taken")?)
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

    /// Starts a room (`lua/start_room.lua`).
    pub async fn start_room(&self, live_id: &str, user_id: &str) -> Result<RawRoom, ApiError> {
        let rk = self.keys.room(live_id);
        let reply: Value = self
            .invoke(
                "start_room",
                self.scripts
                    .start_room
                    .key(&rk.room)
                    .key(&rk.presence)
                    .key(&rk.joined)
                    .key(&rk.uv)
                    .key(self.keys.user(user_id))
                    .key(self.keys.live_index())
                    .key(self.keys.search_index())
                    .key(self.keys.active_index())
                    .key(&rk.events)
                    .arg(user_id)
                    .arg(self.member_timeout_ms)
                    .arg(self.keys.prefix())
                    .arg(live_id),
            )
            .await?;
        first_room(checked(
            reply,
            "only the room's anchor may start it",
            "room has ended and cannot start again",
        )?)
    }

    /// Stops a live room (`lua/stop_room.lua`).
    pub async fn stop_room(&self, live_id: &str, user_id: &str) -> Result<(), ApiError> {
        let rk = self.keys.room(live_id);
        let reply: Value = self
            .invoke(
                "stop_room",
                self.scripts
                    .stop_room
                    .key(&rk.room)
                    .key(self.keys.live_index())
                    .key(self.keys.search_index())
                    .key(&rk.events)
                    .arg(user_id),
            )
            .await?;
        checked(
            reply,
            "only the room's anchor may stop it",
            "room is not live",
        )?;
        Ok(())
    }

    /// Deletes a room and all its state (`lua/delete_room.lua`).
    pub async fn delete_room(&self, live_id: &str, user_id: &str) -> Result<(), ApiError> {
        let rk = self.keys.room(live_id);
        let mut conn = self.conn.clone();
        let title: Option<String> = redis::cmd("HGET")
            .arg(&rk.room)
            .arg("title")
            .query_async(&mut conn)
            .await?;
        let title = title.ok_or(ApiError::RoomNotFound)?;
        let mut inv = self.scripts.delete_room.prepare_invoke();
        inv.key(&rk.room)
            .key(&rk.presence)
            .key(&rk.joined)
            .key(&rk.uv)
            .key(self.keys.live_index())
            .key(self.keys.search_index())
            .key(self.keys.anchor_index(user_id))
            .key(self.keys.active_index())
            .key(&rk.events);
        for term in crate::search::title_terms(&title) {
            inv.key(self.keys.term_index(&term));
        }
        inv.arg(user_id).arg(live_id);
        let reply: Value = self.invoke("delete_room", &inv).await?;
        checked(reply, "only the room's anchor may delete it", "")?;
        Ok(())
    }

    /// Joins a room (`lua/join_room.lua`), leaving the previous one.
    pub async fn join_room(&self, live_id: &str, user: &Claims) -> Result<RawRoom, ApiError> {
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

    /// Leaves a room (`lua/leave_room.lua`).
    pub async fn leave_room(&self, live_id: &str, user_id: &str) -> Result<(), ApiError> {
        let rk = self.keys.room(live_id);
        let reply: Value = self
            .invoke(
                "leave_room",
                self.scripts
                    .leave_room
                    .key(&rk.room)
                    .key(&rk.presence)
                    .key(&rk.joined)
                    .key(self.keys.user(user_id))
                    .key(&rk.events)
                    .arg(user_id)
                    .arg(self.member_timeout_ms)
                    .arg(live_id),
            )
            .await?;
        checked(reply, FORBIDDEN_ANCHOR, "")?;
        Ok(())
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
        let mut pipe = redis::pipe();
        pipe.cmd("SINTER").arg(&term_keys);
        if crate::auth::is_valid_user_id(keyword) {
            pipe.cmd("SMEMBERS").arg(self.keys.anchor_index(keyword));
        } else {
            pipe.cmd("ECHO").arg("");
        }
        let (by_title, by_anchor): (Vec<String>, redis::Value) =
            pipe.query_async(&mut conn).await?;
        let mut ids: std::collections::BTreeSet<String> = by_title.into_iter().collect();
        if let Value::Array(items) | Value::Set(items) = by_anchor {
            for v in &items {
                ids.insert(text(v)?);
            }
        }
        if crate::extract::check_live_id(&lower).is_ok() {
            ids.insert(lower.clone());
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HMGET").arg(self.keys.room(id).room).arg(&[
                "title",
                "live_status",
                "created_ms",
                "anchor",
            ]);
        }
        type Row = (Option<String>, Option<u8>, Option<i64>, Option<String>);
        let rows: Vec<Row> = pipe.query_async(&mut conn).await?;
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
        let mut pipe = redis::pipe();
        for id in user_ids {
            pipe.cmd("HGETALL").arg(self.keys.user(id));
        }
        let hashes: Vec<HashMap<String, String>> = pipe.query_async(&mut self.conn.clone()).await?;
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
        let mut inv = self.scripts.ensure_profile.prepare_invoke();
        inv.key(self.keys.user(&user.sub))
            .key(self.keys.im_userid_seq())
            .arg(user.nick.as_deref().unwrap_or(""))
            .arg(user.avatar.as_deref().unwrap_or(""));
        let flag = |o: bool| if o { "1" } else { "0" };
        let nick = update.and_then(|u| u.nick.clone());
        let avatar = update.and_then(|u| u.avatar.clone());
        let extends = update.and_then(|u| u.extends.as_ref());
        inv.arg(flag(nick.is_some()))
            .arg(nick.unwrap_or_default())
            .arg(flag(avatar.is_some()))
            .arg(avatar.unwrap_or_default())
            .arg(flag(extends.is_some()))
            .arg(
                extends
                    .map(|e| serde_json::to_string(e).unwrap_or_else(|_| "{}".into()))
                    .unwrap_or_else(|| "{}".into()),
            )
            .arg(limits::EXTENDS_KEYS_MAX);
        let reply: Value = self.invoke("ensure_profile", &inv).await?;
        let items = checked(reply, FORBIDDEN_ANCHOR, "")?;
        let hash: HashMap<String, String> = pairs(
            items
                .into_iter()
                .next()
                .ok_or_else(|| malformed("profile"))?,
        )?
        .into_iter()
        .collect();
        Ok(profile_from_hash(&user.sub, &hash))
    }
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
                    .key(self.keys.active_index())
                    .key(self.keys.live_index())
                    .key(self.keys.search_index())
                    .arg(self.member_timeout_ms)
                    .arg(close_after_ms)
                    .arg(batch)
                    .arg(live_id),
            )
            .await?;
        match reply[..] {
            [expired, offline, ended, more, remaining] => Ok(RoomSweep {
                expired: expired.max(0) as u64,
                anchor_offline: offline.max(0) as u64,
                ended: ended.max(0) as u64,
                more: more == 1,
                remaining: remaining.max(0) as u64,
            }),
            _ => Err(malformed("sweep")),
        }
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
