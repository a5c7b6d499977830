//! The reaper's Redis side (docs/DESIGN.md "Reaper", src/reaper.rs): the leader
//! lease (`SET NX PX`, compare-and-extend, compare-and-delete) and the sweep steps
//! (`ZSCAN` of the active index, `lua/sweep_room.lua` per room, then index updates
//! for a room it ended or found idle or gone); metric operations `lease`, `sweep`.

use super::index::IndexChange;
use super::{Store, StoreError, command};

/// What one `sweep_room.lua` call did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoomSweep {
    /// Members removed because their heartbeat timed out.
    pub expired: u64,
    /// 1 when the anchor was newly marked offline.
    pub anchor_offline: u64,
    /// 1 when the room was ended because its anchor stayed absent.
    pub ended: u64,
    /// Whether stale members remain beyond the batch.
    pub more: bool,
    /// Members left in the presence set after this step.
    pub remaining: u64,
}

impl Store {
    /// One reaper step for one room (`lua/sweep_room.lua`), then its index updates:
    /// a deleted room leaves every index, an ended one the live index (on every
    /// visit, so a failed update or a racing start heals at the next sweep), an idle
    /// one the active index. Times in ms.
    pub async fn sweep_room(
        &self,
        live_id: &str,
        close_after_ms: u64,
        batch: u64,
    ) -> Result<RoomSweep, StoreError> {
        let op = self.op("sweep");
        let rk = self.keys.room(live_id);
        let sweep = |marks| {
            self.scripts
                .sweep_room(&rk, self.member_timeout_ms, close_after_ms, batch, marks)
        };
        // On the Cluster with webhooks on, the room is marked due only when this
        // step would record an event (the script says so and writes nothing), so an
        // idle sweep costs no mark.
        let unmarked = self.webhook_marks && self.topology == super::Topology::Cluster;
        let mut step = op
            .script(sweep(if unmarked { "?" } else { self.marks_arg() }))
            .await?;
        if step.status == -2 {
            op.mark_due_first(live_id).await?;
            step = op.script(sweep("")).await?;
        }
        if step.status == -1 {
            // Deleted: whatever a racing start listed goes too.
            op.index(IndexChange::Gone, live_id, None, 0, 0).await?;
        } else {
            // Ended rooms are visited only while members remain.
            if step.status == 2 {
                op.index(IndexChange::Ended, live_id, None, step.created_ms, 0)
                    .await?;
            }
            if step.idle {
                self.drop_if_idle(live_id).await?;
            }
        }
        Ok(RoomSweep {
            expired: step.expired,
            anchor_offline: step.anchor_offline,
            ended: step.ended,
            more: step.more,
            remaining: step.remaining,
        })
    }

    /// Takes an idle room out of the active index, then re-checks it: a join that
    /// made it busy again meanwhile may have added it before the removal, so a room
    /// with members or live goes back in (a join after the re-check adds it itself).
    async fn drop_if_idle(&self, live_id: &str) -> Result<(), StoreError> {
        let op = self.op("sweep");
        op.command::<()>(command("ZREM").arg(self.keys.active_index()).arg(live_id))
            .await?;
        let status = op.live_status(live_id).await?;
        let members: u64 = op
            .command(command("ZCARD").arg(self.keys.room(live_id).presence))
            .await?;
        if status == Some(1) || (status.is_some() && members > 0) {
            op.mark_active(live_id).await?;
        }
        Ok(())
    }

    /// One `ZSCAN` step over the active room index: (next cursor, live_ids).
    pub async fn scan_active(
        &self,
        cursor: u64,
        count: usize,
    ) -> Result<(u64, Vec<String>), StoreError> {
        let (next, items): (u64, Vec<String>) = self
            .op("sweep")
            .command(
                command("ZSCAN")
                    .arg(self.keys.active_index())
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(count),
            )
            .await?;
        // ZSCAN returns member, score pairs.
        Ok((next, items.into_iter().step_by(2).collect()))
    }

    /// Tries to take the reaper lease (`SET NX PX`, TTL in ms); true when this
    /// replica got it.
    pub async fn lease_acquire(&self, replica_id: &str, ttl_ms: u64) -> Result<bool, StoreError> {
        let reply: Option<String> = self
            .op("lease")
            .command(
                command("SET")
                    .arg(self.keys.reaper_lease())
                    .arg(replica_id)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms),
            )
            .await?;
        Ok(reply.is_some())
    }

    /// Extends the lease to `ttl_ms` if this replica holds it (`lua/lease_renew.lua`).
    pub async fn lease_renew(&self, replica_id: &str, ttl_ms: u64) -> Result<bool, StoreError> {
        let call = self
            .scripts
            .lease_renew(&self.keys.reaper_lease(), replica_id, ttl_ms);
        self.op("lease").script(call).await
    }

    /// Releases the lease if this replica holds it (`lua/lease_release.lua`).
    pub async fn lease_release(&self, replica_id: &str) -> Result<bool, StoreError> {
        let call = self
            .scripts
            .lease_release(&self.keys.reaper_lease(), replica_id);
        self.op("lease").script(call).await
    }

    /// The id of the replica holding the reaper lease, if any.
    pub async fn lease_holder(&self) -> Result<Option<String>, StoreError> {
        self.op("lease")
            .command(command("GET").arg(self.keys.reaper_lease()))
            .await
    }
}
