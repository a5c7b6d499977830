//! Join and leave on Redis Cluster, where a user's key and two rooms sit in
//! different slots: ordered single-slot steps, never `CROSSSLOT`; metric operations
//! `join.cluster`, `leave.cluster` (and `start.cluster`, which ends like a join).
//!
//! **join** (room B, user in room A):
//! 1. `lua/room_add_member.lua` on B: present, PV, UV (refuses a missing or ended room);
//! 2. `lua/ensure_profile.lua` on the user's slot points it at B and returns A, while
//!    B is listed in the active index for the reaper (another slot, side by side);
//! 3. *settle* A (out) and B (in), concurrently: remove or restore the presence (a
//!    restore that put it back also lists the room for the reaper), then re-read the
//!    pointer, and redo the opposite when a concurrent join or leave moved it
//!    meanwhile. A restore that finds the user still present changed nothing, so
//!    nothing is re-read: the pointer was set after the presence, and whoever moves
//!    it later settles B itself.
//!
//! Round trips of a join of a user in no other room, webhooks off: 3 in sequence (4
//! commands: add, point ∥ list, restore); before this order 5 (add, point, restore,
//! list, re-read). A previous room adds its removal and a re-read, beside step 3; a
//! first profile the im_userid step; webhooks on, a due mark before each room step.
//!
//! **leave**: compare-and-clear the pointer (`lua/user_clear_room.lua`), remove the
//! presence (`lua/room_remove_member.lua`), then confirm against the pointer.
//!
//! Every presence change is confirmed by a later pointer read, so once all requests
//! of a user have returned it is present exactly in the room its pointer names
//! (tests race joins across three masters). The heartbeat touches only B's slot.

use crate::store::profiles::{ProfileUpdate, UserRef};
use crate::store::replies::{MemberView, RawRoom};
use crate::store::scripts::LeaveReason;
use crate::store::{Op, Store, StoreError, command};

/// The join's steps (module docs), on owned arguments so it can run on its own task.
pub(super) async fn join(
    store: Store,
    live_id: String,
    user: UserRef,
) -> Result<RawRoom, StoreError> {
    let op = store.op("join.cluster");
    let view = op.add_member(&live_id, &user.user_id).await?;
    let (pointed, listed) =
        tokio::join!(op.point_user_at(&user, &live_id), op.mark_active(&live_id));
    pointed.and(listed)?;
    Ok(view.into_room(&live_id))
}

/// The leave's steps: the pointer is dropped first (only if it still names the
/// room), then the presence, then confirmed against the pointer, so a join racing
/// the leave ends with the user either in the room and pointed at it, or in neither.
pub(super) async fn leave(
    store: Store,
    live_id: String,
    user_id: String,
) -> Result<(), StoreError> {
    let op = store.op("leave.cluster");
    let clear = store
        .scripts
        .user_clear_room(&store.keys.user(&user_id), &live_id);
    op.script(clear).await?;
    let left = op
        .remove_member(&live_id, &user_id, LeaveReason::Leave)
        .await;
    if matches!(left, Ok(()) | Err(StoreError::NotPresent)) {
        op.confirm(&user_id, &live_id, false).await?;
    }
    left
}

/// What a settling step does to a user's presence in one room.
#[derive(Debug, Clone, Copy)]
enum Act {
    /// Puts it back (no PV / UV).
    Restore,
    /// Removes it; the `member_left` event gives the reason.
    Remove(LeaveReason),
}

impl Op<'_> {
    /// `lua/room_add_member.lua`, a join: presence in one room, PV, UV.
    async fn add_member(&self, live_id: &str, user_id: &str) -> Result<MemberView, StoreError> {
        let store = self.store;
        let rk = store.keys.room(live_id);
        let call = store.scripts.room_add_member(
            &rk,
            live_id,
            user_id,
            store.member_timeout_ms,
            store.marks_arg(),
        );
        self.mark_due_first(live_id).await?;
        let view = self.script(call).await?;
        // The reaper's mark after the room step, so a refused join writes nothing
        // (docs/DESIGN.md "Reaper": a room already in the deadline index needs no
        // mark at all; this one covers a room that was not).
        self.reaper_mark(live_id).await?;
        Ok(view)
    }

    /// `lua/room_add_member.lua`, a restore (no PV / UV): whether it put the
    /// presence back (false: the user was present).
    async fn restore_member(&self, live_id: &str, user_id: &str) -> Result<bool, StoreError> {
        let store = self.store;
        let rk = store.keys.room(live_id);
        let call = store.scripts.room_restore_member(
            &rk,
            live_id,
            user_id,
            store.member_timeout_ms,
            store.marks_arg(),
        );
        self.mark_due_first(live_id).await?;
        let put_back = self.script(call).await?;
        if put_back {
            self.reaper_mark(live_id).await?;
        }
        Ok(put_back)
    }

    /// `lua/room_remove_member.lua`: presence out of one room, recording
    /// `member_left` with `reason` (when its own removal made the change).
    async fn remove_member(
        &self,
        live_id: &str,
        user_id: &str,
        reason: LeaveReason,
    ) -> Result<(), StoreError> {
        let store = self.store;
        let rk = store.keys.room(live_id);
        let call = store.scripts.room_remove_member(
            &rk,
            user_id,
            store.member_timeout_ms,
            reason,
            store.marks_arg(),
        );
        self.mark_due_first(live_id).await?;
        self.script(call).await
    }

    /// Join steps 2–3: points the user at `live_id` (creating its profile on first
    /// sight), then settles the room it was in before (out) and `live_id` (in).
    pub(crate) async fn point_user_at(
        &self,
        user: &UserRef,
        live_id: &str,
    ) -> Result<(), StoreError> {
        let (_, previous) = self
            .profile_step(user, &ProfileUpdate::default(), live_id)
            .await?;
        let leave_previous = async {
            if previous.is_empty() || previous == live_id {
                Ok(())
            } else {
                let (user_id, out) = (&user.user_id, Act::Remove(LeaveReason::Switched));
                self.act(user_id, &previous, out).await?;
                self.confirm(user_id, &previous, false).await
            }
        };
        let (left, stayed) = tokio::join!(leave_previous, self.settle_in(&user.user_id, live_id));
        left.and(stayed)
    }

    /// Brings the user's presence in `live_id`, its pointer's room, in line with
    /// the pointer: restores it and, when the restore put it back (a concurrent
    /// leave or join removed it), lists the room and [confirms](Op::confirm) against
    /// the pointer; a restore that found the user present changed nothing and ends
    /// here (module docs). A user banned meanwhile (a kick with a ban racing this join, SPEC §11) is
    /// refused by the restore: its pointer is cleared again (compare-and-clear) and
    /// the join answers [`StoreError::Banned`].
    async fn settle_in(&self, user_id: &str, live_id: &str) -> Result<(), StoreError> {
        match self.restore_member(live_id, user_id).await {
            // Still present: this step changed nothing, so there is nothing to confirm.
            Ok(false) => return Ok(()),
            Ok(true) => self.mark_active(live_id).await?,
            Err(banned @ StoreError::Banned { .. }) => {
                let user_key = self.store.keys.user(user_id);
                self.script(self.store.scripts.user_clear_room(&user_key, live_id))
                    .await?;
                return Err(banned);
            }
            Err(StoreError::RoomNotFound | StoreError::Ended(_) | StoreError::NotPresent) => {}
            Err(e) => return Err(e),
        }
        self.confirm(user_id, live_id, true).await
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
    ) -> Result<(), StoreError> {
        for _ in 0..3 {
            let pointer = self.pointer(user_id).await?;
            let pointed = pointer == live_id;
            if pointed == present {
                return Ok(());
            }
            present = pointed;
            let action = match (present, pointer.is_empty()) {
                (true, _) => Act::Restore,
                (false, true) => Act::Remove(LeaveReason::Leave),
                (false, false) => Act::Remove(LeaveReason::Switched),
            };
            self.act(user_id, live_id, action).await?;
        }
        Ok(())
    }

    /// Restores (and lists for the reaper) or removes the user's presence in a room;
    /// a room gone, ended, already without the user, or banning it needs nothing.
    async fn act(&self, user_id: &str, live_id: &str, action: Act) -> Result<(), StoreError> {
        let done = match action {
            Act::Restore => match self.restore_member(live_id, user_id).await {
                Ok(_) => self.mark_active(live_id).await,
                Err(e) => Err(e),
            },
            Act::Remove(reason) => self.remove_member(live_id, user_id, reason).await,
        };
        match done {
            Err(
                StoreError::RoomNotFound
                | StoreError::Ended(_)
                | StoreError::NotPresent
                | StoreError::Banned { .. },
            ) => Ok(()),
            other => other,
        }
    }

    /// The room the user was last pointed at ("" when none).
    async fn pointer(&self, user_id: &str) -> Result<String, StoreError> {
        let room: Option<String> = self
            .command(
                command("HGET")
                    .arg(self.store.keys.user(user_id))
                    .arg("room"),
            )
            .await?;
        Ok(room.unwrap_or_default())
    }
}
