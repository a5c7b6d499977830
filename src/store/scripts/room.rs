//! Wrappers of the scripts on a room's slot, and of the one-Redis scripts that also
//! touch a user's key and the indexes (`join_room.lua`, `start_room.lua`,
//! `leave_room.lua`).

use super::{ScriptCall, Scripts, call, extends_json, flag, page_start, room_keys};
use crate::store::error::Action;
use crate::store::index::PageRequest;
use crate::store::keys::{Keys, RoomKeys};
use crate::store::moderation::ServerNote;
use crate::store::profiles::UserRef;
use crate::store::replies::{MemberView, Outcome, RawRoom, ScoredPage, SweepReply};
use crate::store::rooms::NewRoom;

/// Why a member leaves a room, as its `member_left` event says (docs/SPEC.md §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeaveReason {
    /// The member left (`leave`).
    Leave,
    /// The member joined another room (`switched`).
    Switched,
}

impl LeaveReason {
    /// The event's `reason`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Leave => "leave",
            Self::Switched => "switched",
        }
    }
}

/// Which one-Redis script moves a user into a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MoveIn {
    /// `join_room.lua`.
    Join,
    /// `start_room.lua`: the anchor, and the room goes live.
    Start,
}

impl Scripts {
    /// `create_room.lua`: the room hash of a new room.
    #[allow(clippy::too_many_arguments)] // the script's ARGV, in its header's order
    pub(crate) fn create_room(
        &self,
        rk: &RoomKeys,
        live_id: &str,
        anchor: &str,
        room: &NewRoom,
        chat_id: i64,
        timeout_ms: u64,
        marks: &str,
    ) -> ScriptCall<'_, Outcome<RawRoom>> {
        let mut c = call("create_room", None, &self.create_room);
        room_keys(&mut c.invocation, rk)
            .key(&rk.events)
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
        c.invocation.arg(marks);
        c
    }

    /// `get_room.lua`: one room's view.
    pub(crate) fn get_room(
        &self,
        rk: &RoomKeys,
        timeout_ms: u64,
    ) -> ScriptCall<'_, Outcome<RawRoom>> {
        let mut c = call("get_room", None, &self.get_room);
        room_keys(&mut c.invocation, rk).arg(timeout_ms);
        c
    }

    /// `stop_room.lua`: ends a live room; `by` is the server's key id and reason text
    /// for a server stop (event reason `server`), `None` for the anchor's (`anchor`).
    pub(crate) fn stop_room(
        &self,
        rk: &RoomKeys,
        user_id: &str,
        timeout_ms: u64,
        by: Option<&ServerNote>,
        marks: &str,
    ) -> ScriptCall<'_, Outcome<()>> {
        let mut c = call("stop_room", Some(Action::Stop), &self.stop_room);
        c.invocation
            .key(&rk.room)
            .key(&rk.presence)
            .key(&rk.events)
            .arg(user_id)
            .arg(timeout_ms);
        match by {
            Some(by) => c.invocation.arg("server").arg(&by.key_id).arg(&by.note),
            None => c.invocation.arg("anchor").arg("").arg(""),
        };
        c.invocation.arg(marks);
        c
    }

    /// `delete_room.lua`: the room's keys, if `anchor` is its anchor (the event
    /// stream is kept a while, ending with `room_deleted`).
    pub(crate) fn delete_room(
        &self,
        rk: &RoomKeys,
        anchor: &str,
        timeout_ms: u64,
        marks: &str,
    ) -> ScriptCall<'_, Outcome<()>> {
        let mut c = call("delete_room", Some(Action::Delete), &self.delete_room);
        room_keys(&mut c.invocation, rk)
            .key(&rk.events)
            .key(&rk.bans)
            .key(&rk.kicked)
            .arg(anchor)
            .arg(timeout_ms);
        c.invocation.arg(marks);
        c
    }

    /// `update_extends.lua`: merges a patch (JSON) into a room's extends.
    pub(crate) fn update_extends(
        &self,
        rk: &RoomKeys,
        user_id: &str,
        patch_json: &str,
        max_keys: usize,
        timeout_ms: u64,
        marks: &str,
    ) -> ScriptCall<'_, Outcome<()>> {
        let mut c = call(
            "update_extends",
            Some(Action::UpdateExtends),
            &self.update_extends,
        );
        c.invocation
            .key(&rk.room)
            .key(&rk.presence)
            .key(&rk.events)
            .arg(user_id)
            .arg(patch_json)
            .arg(max_keys)
            .arg(timeout_ms);
        c.invocation.arg(marks);
        c
    }

    /// `update_room.lua`: sets the fields of `patch_json` (a JSON object with any of
    /// `title`, `notice`, `cover_url`); yields the title before the change and the
    /// room after it.
    pub(crate) fn update_room(
        &self,
        rk: &RoomKeys,
        patch_json: &str,
        timeout_ms: u64,
        marks: &str,
    ) -> ScriptCall<'_, Outcome<(String, RawRoom)>> {
        let mut c = call("update_room", None, &self.update_room);
        c.invocation
            .key(&rk.room)
            .key(&rk.presence)
            .key(&rk.uv)
            .key(&rk.events)
            .arg(patch_json)
            .arg(timeout_ms)
            .arg(marks);
        c
    }

    /// `heartbeat.lua`: refreshes a presence; yields the room's `live_status`.
    pub(crate) fn heartbeat(
        &self,
        (room, presence, kicked): &(String, String, String),
        user_id: &str,
        timeout_ms: u64,
    ) -> ScriptCall<'_, Outcome<i64>> {
        let mut c = call("heartbeat", None, &self.heartbeat);
        c.invocation
            .key(room)
            .key(presence)
            .key(kicked)
            .arg(user_id)
            .arg(timeout_ms);
        c
    }

    /// `join_room.lua` or `start_room.lua`: the whole join or start on one Redis.
    /// Both take the room's keys, the user's, the im_userid sequence, the active
    /// index and the event stream, then the user, its claims, the timeout, the prefix
    /// (to build the previous room's keys) and the room; a start also the live and
    /// search indexes, a join the room's bans and kick marks. A start yields the
    /// room ([`RawRoom`]); see [`Scripts::join_room`] for a join.
    pub(crate) fn move_in(
        &self,
        kind: MoveIn,
        keys: &Keys,
        live_id: &str,
        user: &UserRef,
        timeout_ms: u64,
        marks: &str,
    ) -> ScriptCall<'_, Outcome<RawRoom>> {
        let mut c = match kind {
            MoveIn::Join => call("join_room", Some(Action::Join), &self.join_room),
            MoveIn::Start => call("start_room", Some(Action::Start), &self.start_room),
        };
        move_in_args(
            &mut c.invocation,
            kind,
            keys,
            live_id,
            user,
            timeout_ms,
            marks,
        );
        c
    }

    /// `join_room.lua`: the whole join on one Redis (keys and arguments as
    /// [`Scripts::move_in`]'s); yields the member's view of the room.
    pub(crate) fn join_room(
        &self,
        keys: &Keys,
        live_id: &str,
        user: &UserRef,
        timeout_ms: u64,
        marks: &str,
    ) -> ScriptCall<'_, Outcome<MemberView>> {
        let mut c = call("join_room", Some(Action::Join), &self.join_room);
        let kind = MoveIn::Join;
        move_in_args(
            &mut c.invocation,
            kind,
            keys,
            live_id,
            user,
            timeout_ms,
            marks,
        );
        c
    }

    /// `leave_room.lua`: the whole leave on one Redis.
    pub(crate) fn leave_room(
        &self,
        keys: &Keys,
        live_id: &str,
        user_id: &str,
        timeout_ms: u64,
        marks: &str,
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
        c.invocation.arg(marks);
        c
    }

    /// `room_add_member.lua`, a join: presence in one room, PV and UV; yields the
    /// member's view of the room.
    pub(crate) fn room_add_member(
        &self,
        rk: &RoomKeys,
        live_id: &str,
        user_id: &str,
        timeout_ms: u64,
        marks: &str,
    ) -> ScriptCall<'_, Outcome<MemberView>> {
        let mut c = call("room_add_member", Some(Action::Join), &self.room_add_member);
        add_member_args(
            &mut c.invocation,
            rk,
            live_id,
            user_id,
            timeout_ms,
            true,
            marks,
        );
        c
    }

    /// `room_add_member.lua`, a restore: presence in one room without PV / UV;
    /// yields whether it made the user present again (false: it was present).
    pub(crate) fn room_restore_member(
        &self,
        rk: &RoomKeys,
        live_id: &str,
        user_id: &str,
        timeout_ms: u64,
        marks: &str,
    ) -> ScriptCall<'_, Outcome<bool>> {
        let mut c = call("room_add_member", Some(Action::Join), &self.room_add_member);
        add_member_args(
            &mut c.invocation,
            rk,
            live_id,
            user_id,
            timeout_ms,
            false,
            marks,
        );
        c
    }

    /// `room_remove_member.lua`: presence out of one room; `reason` goes into its
    /// `member_left` event.
    pub(crate) fn room_remove_member(
        &self,
        rk: &RoomKeys,
        user_id: &str,
        timeout_ms: u64,
        reason: LeaveReason,
        marks: &str,
    ) -> ScriptCall<'_, Outcome<()>> {
        let mut c = call("room_remove_member", None, &self.room_remove_member);
        c.invocation
            .key(&rk.room)
            .key(&rk.presence)
            .key(&rk.joined)
            .key(&rk.events)
            .arg(user_id)
            .arg(timeout_ms)
            .arg(reason.as_str());
        c.invocation.arg(marks);
        c
    }

    /// `room_start.lua`: the room live; yields (view, started_ms, created_ms).
    pub(crate) fn room_start(
        &self,
        rk: &RoomKeys,
        user_id: &str,
        timeout_ms: u64,
        marks: &str,
    ) -> ScriptCall<'_, Outcome<(RawRoom, i64, i64)>> {
        let mut c = call("room_start", Some(Action::Start), &self.room_start);
        room_keys(&mut c.invocation, rk)
            .key(&rk.events)
            .arg(user_id)
            .arg(timeout_ms);
        c.invocation.arg(marks);
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

    /// `sweep_room.lua`: one reaper step for one room; `index_here` (one Redis): the
    /// script reschedules the room in the deadline index itself. Times in ms.
    pub(crate) fn sweep_room(
        &self,
        rk: &RoomKeys,
        timeout_ms: u64,
        close_after_ms: u64,
        batch: u64,
        marks: &str,
        index_here: bool,
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
        c.invocation
            .arg(marks)
            .arg(if index_here { "1" } else { "" });
        c
    }
}

/// The keys and arguments of `join_room.lua` / `start_room.lua` (their headers).
fn move_in_args(
    invocation: &mut super::Invocation<'_>,
    kind: MoveIn,
    keys: &Keys,
    live_id: &str,
    user: &UserRef,
    timeout_ms: u64,
    marks: &str,
) {
    let rk = keys.room(live_id);
    room_keys(invocation, &rk)
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
    match kind {
        MoveIn::Start => invocation.key(keys.live_index()).key(keys.search_index()),
        MoveIn::Join => invocation.key(&rk.bans).key(&rk.kicked),
    };
    invocation.arg(marks);
}

/// The keys and arguments of `room_add_member.lua` (its header).
fn add_member_args(
    invocation: &mut super::Invocation<'_>,
    rk: &RoomKeys,
    live_id: &str,
    user_id: &str,
    timeout_ms: u64,
    count_view: bool,
    marks: &str,
) {
    room_keys(invocation, rk)
        .key(&rk.events)
        .key(&rk.bans)
        .key(&rk.kicked)
        .arg(user_id)
        .arg(timeout_ms)
        .arg(flag(count_view))
        .arg(live_id)
        .arg(marks);
}
