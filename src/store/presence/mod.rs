//! Presence (SPEC §5 #8-10): join, leave, heartbeat. A join and a leave are one
//! script on one Redis (`single.rs`) and ordered single-slot steps on Cluster
//! (`cluster.rs`); each chooses here, once. The heartbeat is one script everywhere.

mod cluster;
mod single;

use super::profiles::UserRef;
use super::replies::RawRoom;
use super::{Store, StoreError, Topology};

impl Store {
    /// Joins a room (SPEC §5 #8): present in it (PV, UV), listed for the reaper, and
    /// out of the previous room. One Redis: one script. Cluster: the join protocol of
    /// `presence/cluster.rs`, run to completion; one room per user holds once every
    /// join of a user has returned, however they interleave. Errors: not found,
    /// [`StoreError::Ended`].
    pub async fn join_room(&self, live_id: &str, user: &UserRef) -> Result<RawRoom, StoreError> {
        match self.topology {
            Topology::Single => single::join(self, live_id, user).await,
            Topology::Cluster => {
                let work = cluster::join(self.clone(), live_id.to_owned(), user.clone());
                Self::to_completion(work).await
            }
        }
    }

    /// Leaves a room (SPEC §5 #9): presence and pointer gone. One Redis: one script.
    /// Cluster: pointer, presence, then a pointer re-check, run to completion.
    /// Errors: not found, [`StoreError::NotPresent`] (a stale entry is removed).
    pub async fn leave_room(&self, live_id: &str, user_id: &str) -> Result<(), StoreError> {
        match self.topology {
            Topology::Single => single::leave(self, live_id, user_id).await,
            Topology::Cluster => {
                let work = cluster::leave(self.clone(), live_id.to_owned(), user_id.to_owned());
                Self::to_completion(work).await
            }
        }
    }

    /// Refreshes presence (`lua/heartbeat.lua`): one round trip, one room's keys, on
    /// every deployment. Returns the room's `live_status` (0-2). Errors: not found,
    /// [`StoreError::NotPresent`] (join again).
    pub async fn heartbeat(&self, live_id: &str, user_id: &str) -> Result<u8, StoreError> {
        let keys = self.keys.room_and_presence(live_id);
        let call = self
            .scripts
            .heartbeat(&keys, user_id, self.member_timeout_ms);
        let status = self.op("heartbeat").script(call).await?;
        Ok(status.clamp(0, 2) as u8)
    }
}
