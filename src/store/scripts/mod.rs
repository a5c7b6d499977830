//! The scripts of `lua/`, one typed wrapper each: the wrapper puts the keys and
//! arguments in the order the script's header gives, and names the reply type
//! ([`super::replies`]). Every script but `heartbeat.lua` has `lib.lua` prepended;
//! the single-Redis `join_room.lua` and `start_room.lua` also `lib_single.lua`.
//! `redis::Script` sends `EVALSHA` and re-sends the body on `NOSCRIPT`, so the
//! scripts survive `SCRIPT FLUSH`. Calls go through `Op::script` (src/store/mod.rs).
//! The wrappers: `room.rs` (a room's slot, and the one-Redis scripts),
//! `user_and_global.rs` (a user's slot, the `{global}` indexes and the lease).

use std::marker::PhantomData;

use redis::{Script, ScriptInvocation};

mod room;

pub(crate) use room::MoveIn;
mod user_and_global;

use super::error::Action;
use super::index::{PageFrom, PageRequest};
use super::keys::RoomKeys;

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

/// Adds the keys most room scripts take first: room, presence, joined, uv.
fn room_keys<'a, 'b>(
    invocation: &'b mut ScriptInvocation<'a>,
    rk: &RoomKeys,
) -> &'b mut ScriptInvocation<'a> {
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
}
