//! Start on Redis Cluster: ordered single-slot steps, each idempotent, so a retried
//! start completes a failed one; metric operation `start.cluster`.
//!
//! 1. check the room (`HMGET`): a refused start writes nothing;
//! 2. list it in the active index first: should a later step fail, a live room is
//!    still visited by the reaper (and ended if its anchor stays away);
//! 3. the room marked in the reaper's deadline index (`lua/reaper_mark.lua`), then
//!    `lua/room_start.lua` on the room: live, the anchor present;
//! 4. active again (a sweep that found the room idle just before step 3 may have
//!    dropped the first entry), then the live and search indexes;
//! 5. re-read the status: a stop that ran between 3 and 4 has already unlisted the
//!    room, so it is unlisted again rather than left live in the index;
//! 6. the anchor's pointer moved here and its previous room settled, as in a join
//!    (`presence/cluster.rs`).

use crate::store::index::IndexChange;
use crate::store::profiles::UserRef;
use crate::store::replies::RawRoom;
use crate::store::{Action, Store, StoreError};

/// The start's steps (module docs), on owned arguments so it can run on its own task.
pub(super) async fn start(
    store: Store,
    live_id: String,
    user: UserRef,
) -> Result<RawRoom, StoreError> {
    let op = store.op("start.cluster");
    let rk = store.keys.room(&live_id);
    let (anchor, status) = op.anchor_and_status(&live_id).await?;
    match (anchor, status) {
        (None, _) => return Err(StoreError::RoomNotFound),
        (Some(a), _) if a != user.user_id => return Err(StoreError::NotAnchor(Action::Start)),
        (_, Some(2)) => return Err(StoreError::Ended(Action::Start)),
        _ => {}
    }
    op.mark_active(&live_id).await?;
    op.reaper_mark(&live_id).await?;
    op.mark_due_first(&live_id).await?;
    let call = store.scripts.room_start(
        &rk,
        &user.user_id,
        store.member_timeout_ms,
        store.marks_arg(),
    );
    let (raw, started_ms, created_ms) = op.script(call).await?;
    op.mark_active(&live_id).await?;
    op.index(IndexChange::Live, &live_id, None, created_ms, started_ms)
        .await?;
    if op.live_status(&live_id).await? != Some(1) {
        op.index(IndexChange::Ended, &live_id, None, created_ms, 0)
            .await?;
    }
    op.point_user_at(&user, &live_id).await?;
    Ok(raw)
}
