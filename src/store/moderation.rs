//! Moderation by the server API (SPEC §11): kick a member with an optional ban, lift
//! a ban, list a room's bans. A room's bans live in its own slot
//! (`{p}:{live_id}:bans`, user → ban end in ms by Redis's clock), so they work on
//! Redis Cluster, survive restarts and go with the room (`lua/delete_room.lua`).
//!
//! **kick** (`lua/kick_member.lua`): one write in the room's slot removes the member
//! (counts drop at once), records `member_left` (reason `kicked`), sets its kick mark
//! and its ban. On one Redis the user's pointer (`{p}:user:{id}` field `room`) is
//! cleared in the same script; on Cluster it sits in another slot and is cleared
//! after the step with `lua/user_clear_room.lua` (compare-and-clear, as a leave).
//! A join racing the kick: on one Redis both are atomic scripts; on Cluster a join's
//! presence steps (`room_add_member.lua`, also its restore) refuse a banned user, and
//! a join refused in its settling step clears the pointer again
//! (`presence/cluster.rs`), so a banned user never ends present.

use super::index::PageRequest;
use super::replies::ScoredPage;
use super::{Store, StoreError, Topology};

/// Who acts through the server API and why: recorded in the event as `by` (the
/// server key id) and `note` (the caller's reason text, may be empty), SPEC §10.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerNote {
    /// The server key id (`iss` of the server token).
    pub key_id: String,
    /// The reason text given with the request ("" when none), at most 256 characters.
    pub note: String,
}

/// What a kick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kicked {
    /// Whether the user was present (and is now removed).
    pub was_present: bool,
    /// When its ban ends, ms since the Unix epoch (Redis's clock); 0 = no ban.
    pub ban_until_ms: i64,
}

impl Store {
    /// Removes `user_id` from room `live_id` and, when `ban_ms` > 0, bans it for
    /// `ban_ms` ms (SPEC §11). Errors: not found, [`StoreError::NotPresent`] (not
    /// present and no ban asked: nothing written).
    pub async fn kick_member(
        &self,
        live_id: &str,
        user_id: &str,
        ban_ms: u64,
        by: &ServerNote,
    ) -> Result<Kicked, StoreError> {
        let (store, live_id, user_id, by) = (
            self.clone(),
            live_id.to_owned(),
            user_id.to_owned(),
            by.clone(),
        );
        Self::to_completion(async move {
            let single = store.topology == Topology::Single;
            let op = store.op(if single {
                "kick.single"
            } else {
                "kick.cluster"
            });
            let rk = store.keys.room(&live_id);
            let user_key = store.keys.user(&user_id);
            let call = store.scripts.kick_member(
                &rk,
                single.then_some(user_key.as_str()),
                &live_id,
                &user_id,
                ban_ms,
                &by,
                store.member_timeout_ms,
                store.marks_arg(),
            );
            op.mark_due_first(&live_id).await?;
            let (present, until) = op.script(call).await?;
            if !single {
                op.script(store.scripts.user_clear_room(&user_key, &live_id))
                    .await?;
            }
            Ok(Kicked {
                was_present: present == 1,
                ban_until_ms: until,
            })
        })
        .await
    }

    /// Lifts `user_id`'s ban from room `live_id`; `true` when an active ban was
    /// lifted (idempotent otherwise). Errors: not found.
    pub async fn unban_member(&self, live_id: &str, user_id: &str) -> Result<bool, StoreError> {
        let rk = self.keys.room(live_id);
        let call = self.scripts.unban_member(&rk, user_id);
        Ok(self.op("unban").script(call).await? == 1)
    }

    /// One page of room `live_id`'s active bans: (user, ban end ms), soonest end
    /// first (`lua/page_bans.lua`). A room that does not exist has none.
    pub async fn page_bans(
        &self,
        live_id: &str,
        page: &PageRequest,
    ) -> Result<ScoredPage, StoreError> {
        let rk = self.keys.room(live_id);
        self.op("bans")
            .script(self.scripts.page_bans(&rk, page))
            .await
    }
}
