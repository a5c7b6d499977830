//! The scripts of `lua/`, one typed wrapper each: the wrapper puts the keys and
//! arguments in the order the script's header gives, and names the reply type
//! ([`super::replies`]). Every script but `heartbeat.lua` has `lib.lua` prepended;
//! the single-Redis `join_room.lua` and `start_room.lua` also `lib_single.lua`.
//! `redis::Script` sends `EVALSHA` and re-sends the body on `NOSCRIPT`, so the
//! scripts survive `SCRIPT FLUSH`. Calls go through `Op::script` (src/store/mod.rs).

use std::marker::PhantomData;

use redis::{Script, ScriptInvocation};

use super::error::Action;
use super::index::{IndexChange, PageFrom, PageRequest};
use super::keys::{Keys, RoomKeys};
use super::profiles::{ProfileUpdate, UserRef};
use super::replies::{Outcome, ProfileReply, RawRoom, ScoredPage, SweepReply};
use super::rooms::NewRoom;

/// One prepared script call: the script's name (its file's stem, the `command`
/// metric label), the action a refusal is about, the invocation, and its reply type.
pub struct ScriptCall<'a, R> {
    pub(crate) name: &'static str,
    pub(crate) action: Option<Action>,
    pub(crate) invocation: ScriptInvocation<'a>,
    reply: PhantomData<fn() -> R>,
}

macro_rules! scripts {
    ($($name:ident: $($lib:literal)+;)*) => {
        /// Every script, with its body (for `SCRIPT LOAD`).
        pub struct Scripts {
            $($name: (&'static str, Script),)*
        }

        impl Scripts {
            pub(crate) fn new() -> Self {
                Self {$($name: {
                    let body = concat!($(include_str!(concat!("../../lua/", $lib)),)+);
                    (body, Script::new(body))
                },)*}
            }

            /// (name, body, script) of every script.
            pub(crate) fn all(&self) -> Vec<(&'static str, &'static str, &Script)> {
                vec![$((stringify!($name), self.$name.0, &self.$name.1),)*]
            }
        }
    };
}

scripts! {
    create_room: "lib.lua" "create_room.lua";
    get_room: "lib.lua" "get_room.lua";
    stop_room: "lib.lua" "stop_room.lua";
    delete_room: "lib.lua" "delete_room.lua";
    update_extends: "lib.lua" "update_extends.lua";
    // The hot path runs without the lib.lua prefix (see its header).
    heartbeat: "heartbeat.lua";
    join_room: "lib.lua" "lib_single.lua" "join_room.lua";
    start_room: "lib.lua" "lib_single.lua" "start_room.lua";
    leave_room: "lib.lua" "leave_room.lua";
    room_add_member: "lib.lua" "room_add_member.lua";
    room_remove_member: "lib.lua" "room_remove_member.lua";
    room_start: "lib.lua" "room_start.lua";
    user_clear_room: "lib.lua" "user_clear_room.lua";
    ensure_profile: "lib.lua" "ensure_profile.lua";
    index_room: "lib.lua" "index_room.lua";
    page_index: "lib.lua" "page_index.lua";
    page_members: "lib.lua" "page_members.lua";
    sweep_room: "lib.lua" "sweep_room.lua";
    lease_renew: "lib.lua" "lease_renew.lua";
    lease_release: "lib.lua" "lease_release.lua";
}

fn call<'a, R>(
    name: &'static str,
    action: Option<Action>,
    (_, script): &'a (&'static str, Script),
) -> ScriptCall<'a, R> {
    ScriptCall {
        name,
        action,
        invocation: script.prepare_invoke(),
        reply: PhantomData,
    }
}

/// A string map as a JSON object (which cannot fail for strings).
pub(crate) fn extends_json(map: &std::collections::BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".to_owned())
}

/// `'1'` / `'0'`, the scripts' flags.
fn flag(on: bool) -> &'static str {
    if on { "1" } else { "0" }
}

impl Scripts {
    /// `create_room.lua`: the room hash of a new room.
    pub(crate) fn create_room(
        &self,
        rk: &RoomKeys,
        live_id: &str,
        anchor: &str,
        room: &NewRoom,
        chat_id: i64,
        timeout_ms: u64,
    ) -> ScriptCall<'_, Outcome<RawRoom>> {
        let mut c = call("create_room", None, &self.create_room);
        c.invocation
            .key(&rk.room)
            .key(&rk.presence)
            .key(&rk.joined)
            .key(&rk.uv)
            .arg(live_id)
            .arg(anchor)
            .arg(&room.title)
            .arg(&room.notice)
            .arg(&room.cover_url)
            .arg(extends_json(&room.extends))
            .arg(room.start_at)
            .arg(room.end_at)
            .arg(room.publish_expire_at)
            .arg(chat_id)
            .arg(timeout_ms);
        c
    }

    /// `get_room.lua`: one room's view.
    pub(crate) fn get_room(
        &self,
        rk: &RoomKeys,
        timeout_ms: u64,
    ) -> ScriptCall<'_, Outcome<RawRoom>> {
        let mut c = call("get_room", None, &self.get_room);
        c.invocation
            .key(&rk.room)
            .key(&rk.presence)
            .key(&rk.joined)
            .key(&rk.uv)
            .arg(timeout_ms);
        c
    }

    /// `stop_room.lua`: ends a live room.
    pub(crate) fn stop_room(&self, rk: &RoomKeys, user_id: &str) -> ScriptCall<'_, Outcome<()>> {
        let mut c = call("stop_room", Some(Action::Stop), &self.stop_room);
        c.invocation.key(&rk.room).key(&rk.events).arg(user_id);
        c
    }

    /// `delete_room.lua`: the room's keys, if `anchor` is its anchor.
    pub(crate) fn delete_room(&self, rk: &RoomKeys, anchor: &str) -> ScriptCall<'_, Outcome<()>> {
        let mut c = call("delete_room", Some(Action::Delete), &self.delete_room);
        c.invocation
            .key(&rk.room)
            .key(&rk.presence)
            .key(&rk.joined)
            .key(&rk.uv)
            .key(&rk.events)
            .arg(anchor);
        c
    }

    /// `update_extends.lua`: merges a patch (JSON) into a room's extends.
    pub(crate) fn update_extends(
        &self,
        rk: &RoomKeys,
        user_id: &str,
        patch_json: &str,
        max_keys: usize,
    ) -> ScriptCall<'_, Outcome<()>> {
        let mut c = call(
            "update_extends",
            Some(Action::UpdateExtends),
            &self.update_extends,
        );
        c.invocation
            .key(&rk.room)
            .arg(user_id)
            .arg(patch_json)
            .arg(max_keys);
        c
    }

    /// `heartbeat.lua`: refreshes a presence; yields the room's `live_status`.
    pub(crate) fn heartbeat(
        &self,
        (room, presence): &(String, String),
        user_id: &str,
        timeout_ms: u64,
    ) -> ScriptCall<'_, Outcome<i64>> {
        let mut c = call("heartbeat", None, &self.heartbeat);
        c.invocation
            .key(room)
            .key(presence)
            .arg(user_id)
            .arg(timeout_ms);
        c
    }

    /// `join_room.lua`: the whole join on one Redis.
    pub(crate) fn join_room(
        &self,
        keys: &Keys,
        live_id: &str,
        user: &UserRef,
        timeout_ms: u64,
    ) -> ScriptCall<'_, Outcome<RawRoom>> {
        let rk = keys.room(live_id);
        let mut c = call("join_room", Some(Action::Join), &self.join_room);
        c.invocation
            .key(&rk.room)
            .key(&rk.presence)
            .key(&rk.joined)
            .key(&rk.uv)
            .key(keys.user(&user.user_id))
            .key(keys.im_userid_seq())
            .key(keys.active_index())
            .key(&rk.events)
            .arg(&user.user_id)
            .arg(&user.nick)
            .arg(&user.avatar)
            .arg(timeout_ms)
            .arg(keys.prefix())
            .arg(live_id);
        c
    }

    /// `start_room.lua`: the whole start on one Redis.
    pub(crate) fn start_room(
        &self,
        keys: &Keys,
        live_id: &str,
        user: &UserRef,
        timeout_ms: u64,
    ) -> ScriptCall<'_, Outcome<RawRoom>> {
        let rk = keys.room(live_id);
        let mut c = call("start_room", Some(Action::Start), &self.start_room);
        c.invocation
            .key(&rk.room)
            .key(&rk.presence)
            .key(&rk.joined)
            .key(&rk.uv)
            .key(keys.user(&user.user_id))
            .key(keys.live_index())
            .key(keys.search_index())
            .key(keys.active_index())
            .key(&rk.events)
            .key(keys.im_userid_seq())
            .arg(&user.user_id)
            .arg(timeout_ms)
            .arg(keys.prefix())
            .arg(live_id)
            .arg(&user.nick)
            .arg(&user.avatar);
        c
    }

    /// `leave_room.lua`: the whole leave on one Redis.
    pub(crate) fn leave_room(
        &self,
        keys: &Keys,
        live_id: &str,
        user_id: &str,
        timeout_ms: u64,
    ) -> ScriptCall<'_, Outcome<()>> {
        let rk = keys.room(live_id);
        let mut c = call("leave_room", None, &self.leave_room);
        c.invocation
            .key(&rk.room)
            .key(&rk.presence)
            .key(&rk.joined)
            .key(&rk.events)
            .key(keys.user(user_id))
            .arg(user_id)
            .arg(timeout_ms)
            .arg(live_id);
        c
    }

    /// `room_add_member.lua`: presence in one room; `count_view` false = a restore.
    pub(crate) fn room_add_member(
        &self,
        rk: &RoomKeys,
        user_id: &str,
        timeout_ms: u64,
        count_view: bool,
    ) -> ScriptCall<'_, Outcome<RawRoom>> {
        let mut c = call("room_add_member", Some(Action::Join), &self.room_add_member);
        c.invocation
            .key(&rk.room)
            .key(&rk.presence)
            .key(&rk.joined)
            .key(&rk.uv)
            .key(&rk.events)
            .arg(user_id)
            .arg(timeout_ms)
            .arg(flag(count_view));
        c
    }

    /// `room_remove_member.lua`: presence out of one room.
    pub(crate) fn room_remove_member(
        &self,
        rk: &RoomKeys,
        user_id: &str,
        timeout_ms: u64,
    ) -> ScriptCall<'_, Outcome<()>> {
        let mut c = call("room_remove_member", None, &self.room_remove_member);
        c.invocation
            .key(&rk.room)
            .key(&rk.presence)
            .key(&rk.joined)
            .key(&rk.events)
            .arg(user_id)
            .arg(timeout_ms);
        c
    }

    /// `room_start.lua`: the room live; yields (view, started_ms, created_ms).
    pub(crate) fn room_start(
        &self,
        rk: &RoomKeys,
        user_id: &str,
        timeout_ms: u64,
    ) -> ScriptCall<'_, Outcome<(RawRoom, i64, i64)>> {
        let mut c = call("room_start", Some(Action::Start), &self.room_start);
        c.invocation
            .key(&rk.room)
            .key(&rk.presence)
            .key(&rk.joined)
            .key(&rk.uv)
            .key(&rk.events)
            .arg(user_id)
            .arg(timeout_ms);
        c
    }

    /// `user_clear_room.lua`: drops the user's pointer if it names `live_id`.
    pub(crate) fn user_clear_room(&self, user_key: &str, live_id: &str) -> ScriptCall<'_, bool> {
        let mut c = call("user_clear_room", None, &self.user_clear_room);
        c.invocation.key(user_key).arg(live_id);
        c
    }

    /// `ensure_profile.lua`: the profile, created with `im_userid` ("" = none yet),
    /// `update` applied, pointed at `point_at` ("" = not moved).
    pub(crate) fn ensure_profile(
        &self,
        user_key: &str,
        user: &UserRef,
        im_userid: &str,
        update: &ProfileUpdate,
        point_at: &str,
    ) -> ScriptCall<'_, ProfileReply> {
        let mut c = call("ensure_profile", None, &self.ensure_profile);
        c.invocation
            .key(user_key)
            .arg(im_userid)
            .arg(&user.nick)
            .arg(&user.avatar)
            .arg(flag(update.nick.is_some()))
            .arg(update.nick.as_deref().unwrap_or_default())
            .arg(flag(update.avatar.is_some()))
            .arg(update.avatar.as_deref().unwrap_or_default())
            .arg(flag(update.extends_json.is_some()))
            .arg(update.extends_json.as_deref().unwrap_or("{}"))
            .arg(super::MAX_EXTENDS_KEYS)
            .arg(point_at);
        c
    }

    /// `index_room.lua`: one change to a room's index entries; `listing` =
    /// (anchor, title) for create and delete. Times in ms.
    pub(crate) fn index_room(
        &self,
        keys: &Keys,
        change: IndexChange,
        live_id: &str,
        listing: Option<(&str, &str)>,
        created_ms: i64,
        started_ms: i64,
    ) -> ScriptCall<'_, ()> {
        let mut c = call("index_room", None, &self.index_room);
        c.invocation
            .key(keys.live_index())
            .key(keys.search_index())
            .key(keys.active_index());
        if let Some((anchor, title)) = listing {
            c.invocation.key(keys.anchor_index(anchor));
            for term in crate::search::title_terms(title) {
                c.invocation.key(keys.term_index(&term));
            }
        }
        c.invocation
            .arg(change.name())
            .arg(live_id)
            .arg(created_ms)
            .arg(started_ms);
        c
    }

    /// `page_index.lua`: one page of a room index zset.
    pub(crate) fn page_index(
        &self,
        index_key: &str,
        page: &PageRequest,
    ) -> ScriptCall<'_, ScoredPage> {
        let mut c = call("page_index", None, &self.page_index);
        c.invocation.key(index_key).arg(page.size);
        page_start(&mut c.invocation, page);
        c
    }

    /// `page_members.lua`: one page of a room's present members, in join order.
    pub(crate) fn page_members(
        &self,
        rk: &RoomKeys,
        timeout_ms: u64,
        page: &PageRequest,
    ) -> ScriptCall<'_, ScoredPage> {
        let mut c = call("page_members", None, &self.page_members);
        c.invocation
            .key(&rk.presence)
            .key(&rk.joined)
            .arg(timeout_ms)
            .arg(page.size);
        page_start(&mut c.invocation, page);
        c
    }

    /// `sweep_room.lua`: one reaper step for one room. Times in ms.
    pub(crate) fn sweep_room(
        &self,
        rk: &RoomKeys,
        timeout_ms: u64,
        close_after_ms: u64,
        batch: u64,
    ) -> ScriptCall<'_, SweepReply> {
        let mut c = call("sweep_room", None, &self.sweep_room);
        c.invocation
            .key(&rk.room)
            .key(&rk.presence)
            .key(&rk.joined)
            .key(&rk.events)
            .arg(timeout_ms)
            .arg(close_after_ms)
            .arg(batch);
        c
    }

    /// `lease_renew.lua`: true when `replica_id` still holds the lease.
    pub(crate) fn lease_renew(
        &self,
        key: &str,
        replica_id: &str,
        ttl_ms: u64,
    ) -> ScriptCall<'_, bool> {
        let mut c = call("lease_renew", None, &self.lease_renew);
        c.invocation.key(key).arg(replica_id).arg(ttl_ms);
        c
    }

    /// `lease_release.lua`: true when `replica_id` held the lease and released it.
    pub(crate) fn lease_release(&self, key: &str, replica_id: &str) -> ScriptCall<'_, bool> {
        let mut c = call("lease_release", None, &self.lease_release);
        c.invocation.key(key).arg(replica_id);
        c
    }
}

/// The page scripts' last three arguments: `'offset', n, ''` or `'after', score, id`.
fn page_start(invocation: &mut ScriptInvocation<'_>, page: &PageRequest) {
    match &page.from {
        PageFrom::Offset(n) => invocation.arg("offset").arg(*n).arg(""),
        PageFrom::After { score, id } => invocation.arg("after").arg(*score).arg(id),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_refuses_wrong_key_and_argument_counts_by_name() {
        let redis = crate::redis_child::RedisChild::start(&[]).expect("redis-server");
        let mut conn = redis::Client::open(redis.url())
            .and_then(|c| c.get_connection())
            .expect("connection");
        for (name, body, _) in Scripts::new().all() {
            let err = redis::cmd("EVAL")
                .arg(body)
                .arg(0)
                .query::<redis::Value>(&mut conn)
                .expect_err(name);
            let text = err.to_string();
            assert!(
                text.contains(&format!("{name}: called with 0 KEYS and 0 ARGV")),
                "{text}"
            );
        }
    }
}
