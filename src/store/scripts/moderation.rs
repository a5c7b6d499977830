//! Wrappers of the moderation scripts (SPEC §11), all in a room's slot:
//! `kick_member.lua` (plus the user's key on one Redis), `unban_member.lua`,
//! `page_bans.lua`.

use super::{ScriptCall, Scripts, call, page_start};
use crate::store::index::PageRequest;
use crate::store::keys::RoomKeys;
use crate::store::moderation::ServerNote;
use crate::store::replies::{Outcome, ScoredPage};

impl Scripts {
    /// `kick_member.lua`: the member out (and banned `ban_ms` ms when > 0); yields
    /// (was present 1/0, ban end ms or 0). `user_key`: the user's hash, to clear its
    /// pointer in the same script (one Redis only; `None` on Cluster).
    #[allow(clippy::too_many_arguments)] // the script's ARGV, in its header's order
    pub(crate) fn kick_member(
        &self,
        rk: &RoomKeys,
        user_key: Option<&str>,
        live_id: &str,
        user_id: &str,
        ban_ms: u64,
        by: &ServerNote,
        timeout_ms: u64,
        marks: &str,
    ) -> ScriptCall<'_, Outcome<(i64, i64)>> {
        let mut c = call("kick_member", None, &self.kick_member);
        c.invocation
            .key(&rk.room)
            .key(&rk.presence)
            .key(&rk.joined)
            .key(&rk.events)
            .key(&rk.bans)
            .key(&rk.kicked);
        if let Some(user_key) = user_key {
            c.invocation.key(user_key);
        }
        c.invocation
            .arg(user_id)
            .arg(timeout_ms)
            .arg(ban_ms)
            .arg(live_id)
            .arg(&by.key_id)
            .arg(&by.note)
            .arg(marks);
        c
    }

    /// `unban_member.lua`: lifts a ban; yields whether an active one was lifted (1/0).
    pub(crate) fn unban_member(
        &self,
        rk: &RoomKeys,
        user_id: &str,
    ) -> ScriptCall<'_, Outcome<i64>> {
        let mut c = call("unban_member", None, &self.unban_member);
        c.invocation.key(&rk.room).key(&rk.bans).arg(user_id);
        c
    }

    /// `page_bans.lua`: one page of active bans (user, end ms), soonest end first.
    pub(crate) fn page_bans(
        &self,
        rk: &RoomKeys,
        page: &PageRequest,
    ) -> ScriptCall<'_, ScoredPage> {
        let mut c = call("page_bans", None, &self.page_bans);
        c.invocation.key(&rk.bans).arg(page.size);
        page_start(&mut c.invocation, page);
        c
    }
}
