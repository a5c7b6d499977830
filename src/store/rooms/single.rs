//! Start on one Redis (standalone or Sentinel): one atomic script
//! (`lua/start_room.lua`) with the indexes and the anchor's move out of any other
//! room; metric operation `start.single`.

use crate::store::profiles::UserRef;
use crate::store::replies::RawRoom;
use crate::store::{Store, StoreError};

/// `lua/start_room.lua`: the whole start in one script.
pub(super) async fn start(
    store: &Store,
    live_id: &str,
    user: &UserRef,
) -> Result<RawRoom, StoreError> {
    let call = store
        .scripts
        .start_room(&store.keys, live_id, user, store.member_timeout_ms);
    store.op("start.single").script(call).await
}
