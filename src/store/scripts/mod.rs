//! The scripts of `lua/`, one typed wrapper each: the wrapper puts the keys and
//! arguments in the order the script's header gives, and names the reply type
//! ([`super::replies`]). Every script but `heartbeat.lua` has `lib.lua` prepended;
//! the single-Redis `join_room.lua` and `start_room.lua` also `lib_single.lua` and
//! `reaper_single.lua` (they mark the reaper's deadline index themselves).
//! Calls go as `EVALSHA`; a call that finds its script missing goes again as `EVAL`
//! with the body ([`Invocation`]), so the scripts survive `SCRIPT FLUSH`, restarts
//! and failovers. Calls go through `Op::script` (src/store/mod.rs).
//! The wrappers: `room.rs` (a room's slot, and the one-Redis scripts),
//! `user_and_global.rs` (a user's slot, the `{global}` indexes and the lease),
//! `webhooks.rs` (a webhook shard's slot, `{webhooks:n}`, and `{webhooks}`),
//! `moderation.rs` (kick, unban, the ban list: a room's slot), `media.rs` (the
//! media-server hooks' stream scripts: a room's slot), `reaper.rs` (a reaper
//! partition's slot, `{reaper:n}`).

use std::marker::PhantomData;

use redis::{Script, ToRedisArgs};

mod media;
mod moderation;
mod reaper;
mod room;

pub(crate) use media::StreamMode;

pub(crate) use room::{LeaveReason, MoveIn};
mod user_and_global;
mod webhooks;

use super::error::Action;
use super::index::{PageFrom, PageRequest};
use super::keys::RoomKeys;

/// One prepared script call: the script's name (its file's stem, the `command`
/// metric label), the action a refusal is about, the invocation, and its reply type.
pub struct ScriptCall<'a, R> {
    pub(crate) name: &'static str,
    pub(crate) action: Option<Action>,
    pub(crate) invocation: Invocation<'a>,
    reply: PhantomData<fn() -> R>,
}

/// A script's keys and arguments as the wrapper put them. Sent as `EVALSHA`; on
/// `NOSCRIPT` (the script did not run: a `SCRIPT FLUSH`, a restart, a failover to a
/// node that never loaded it) the same call goes as `EVAL` with the body, to the same
/// node, which cannot miss and caches the script there again. No `SCRIPT LOAD` to
/// every node in between, which on a Cluster mid-failover could fail on a node that
/// does not own the slot.
pub(crate) struct Invocation<'a> {
    script: &'a Script,
    body: &'static str,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl<'a> Invocation<'a> {
    /// Adds a key (`KEYS[n]`).
    pub(crate) fn key(&mut self, key: impl ToRedisArgs) -> &mut Self {
        self.keys.extend(key.to_redis_args());
        self
    }

    /// Adds an argument (`ARGV[n]`).
    pub(crate) fn arg(&mut self, arg: impl ToRedisArgs) -> &mut Self {
        self.args.extend(arg.to_redis_args());
        self
    }

    /// The `EVALSHA` form: the script's SHA-1, routed by the first key.
    pub(crate) fn evalsha(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(self.script.get_hash())
            .arg(self.keys.len())
            .arg(&self.keys)
            .arg(&self.args);
        cmd
    }

    /// The `EVAL` form: the body itself, routed by the first key like `EVALSHA`.
    pub(crate) fn eval(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(self.body)
            .arg(self.keys.len())
            .arg(&self.keys)
            .arg(&self.args);
        cmd
    }
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
                    let body = concat!($(include_str!(concat!("../../../lua/", $lib)),)+);
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
    update_room: "lib.lua" "update_room.lua";
    // The hot path runs without the lib.lua prefix (see its header).
    heartbeat: "heartbeat.lua";
    join_room: "lib.lua" "lib_single.lua" "reaper_single.lua" "join_room.lua";
    start_room: "lib.lua" "lib_single.lua" "reaper_single.lua" "start_room.lua";
    leave_room: "lib.lua" "leave_room.lua";
    room_add_member: "lib.lua" "room_add_member.lua";
    room_remove_member: "lib.lua" "room_remove_member.lua";
    room_start: "lib.lua" "room_start.lua";
    user_clear_room: "lib.lua" "user_clear_room.lua";
    ensure_profile: "lib.lua" "ensure_profile.lua";
    index_room: "lib.lua" "index_room.lua";
    index_terms: "lib.lua" "index_terms.lua";
    page_index: "lib.lua" "page_index.lua";
    page_members: "lib.lua" "page_members.lua";
    sweep_room: "lib.lua" "sweep_room.lua";
    reaper_mark: "lib.lua" "reaper_mark.lua";
    reaper_reschedule: "lib.lua" "reaper_reschedule.lua";
    reaper_due: "lib.lua" "reaper_due.lua";
    lease_renew: "lib.lua" "lease_renew.lua";
    lease_release: "lib.lua" "lease_release.lua";
    webhook_mark: "lib.lua" "webhook_mark.lua";
    webhook_due: "lib.lua" "webhook_due.lua";
    webhook_progress: "lib.lua" "webhook_progress.lua";
    webhook_unmark: "lib.lua" "webhook_unmark.lua";
    webhook_presence: "lib.lua" "webhook_presence.lua";
    kick_member: "lib.lua" "kick_member.lua";
    unban_member: "lib.lua" "unban_member.lua";
    page_bans: "lib.lua" "page_bans.lua";
    stream_publish: "lib.lua" "stream_publish.lua";
    stream_stop: "lib.lua" "stream_stop.lua";
}

fn call<'a, R>(
    name: &'static str,
    action: Option<Action>,
    (body, script): &'a (&'static str, Script),
) -> ScriptCall<'a, R> {
    ScriptCall {
        name,
        action,
        invocation: Invocation {
            script,
            body,
            keys: Vec::new(),
            args: Vec::new(),
        },
        reply: PhantomData,
    }
}

/// Adds the keys most room scripts take first: room, presence, joined, uv.
fn room_keys<'a, 'b>(invocation: &'b mut Invocation<'a>, rk: &RoomKeys) -> &'b mut Invocation<'a> {
    invocation
        .key(&rk.room)
        .key(&rk.presence)
        .key(&rk.joined)
        .key(&rk.uv)
}

/// A string map as a JSON object (which cannot fail for strings).
pub(crate) fn extends_json(map: &std::collections::BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".to_owned())
}

/// `'1'` / `'0'`, the scripts' flags.
fn flag(on: bool) -> &'static str {
    if on { "1" } else { "0" }
}

/// The page scripts' last three arguments: `'offset', n, ''` or `'after', score, id`.
fn page_start(invocation: &mut Invocation<'_>, page: &PageRequest) {
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
        let (_redis, mut conn) = crate::store::test_redis();
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

    /// The `EVAL` fallback sends the same keys and arguments as the `EVALSHA` form,
    /// with no script in Redis's cache.
    #[test]
    fn a_call_sent_as_eval_runs_without_the_script_cache() {
        let (_redis, mut conn) = crate::store::test_redis();
        let scripts = Scripts::new();
        redis::cmd("SET")
            .arg("lease")
            .arg("replica-a")
            .query::<()>(&mut conn)
            .unwrap();
        redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query::<()>(&mut conn)
            .unwrap();
        let renew = scripts.lease_renew("lease", "replica-a", 60_000);
        let held: i64 = renew.invocation.eval().query(&mut conn).unwrap();
        assert_eq!(held, 1);
        let ttl: i64 = redis::cmd("PTTL").arg("lease").query(&mut conn).unwrap();
        assert!(ttl > 50_000 && ttl <= 60_000, "{ttl}");
        let other = scripts.lease_renew("lease", "replica-b", 60_000);
        let held: i64 = other.invocation.eval().query(&mut conn).unwrap();
        assert_eq!(held, 0);
    }
}
