//! Join and leave on one Redis (standalone or Sentinel): one atomic script each, so
//! the user is never present in two rooms, not even for an instant (docs/DESIGN.md
//! invariant 2); metric operations `join.single`, `leave.single`.

use crate::store::profiles::UserRef;
use crate::store::replies::RawRoom;
use crate::store::{Store, StoreError};

/// `lua/join_room.lua`: profile on first sight, out of the previous room, present.
pub(super) async fn join(
    store: &Store,
    live_id: &str,
    user: &UserRef,
) -> Result<RawRoom, StoreError> {
    let call = store.scripts.join_room(
        &store.keys,
        live_id,
        user,
        store.member_timeout_ms,
        store.marks_arg(),
    );
    let view = store.op("join.single").script(call).await?;
    Ok(view.into_room(live_id))
}

/// `lua/leave_room.lua`: presence and pointer gone at once.
pub(super) async fn leave(store: &Store, live_id: &str, user_id: &str) -> Result<(), StoreError> {
    let call = store.scripts.leave_room(
        &store.keys,
        live_id,
        user_id,
        store.member_timeout_ms,
        store.marks_arg(),
    );
    store.op("leave.single").script(call).await
}
