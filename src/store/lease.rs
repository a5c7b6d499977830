//! The reaper's Redis side (docs/DESIGN.md "Reaper", src/reaper.rs): the deadline
//! index (`{p}:{reaper:n}:due`, one zset per partition: listing due rooms, the
//! Cluster's mark before a join's room step and its compare-and-set reschedule, the
//! upgrade from the active index), the sweep step of one room (`lua/sweep_room.lua`,
//! then its index updates), and leases by key (`SET NX PX`, compare-and-extend,
//! compare-and-delete, the replica sets), shared by the reaper partitions and the
//! webhook shards (src/leases.rs). Metric operations `sweep`, `lease`.

use super::index::IndexChange;
use super::keys::reaper_partition;
use super::{Op, Store, StoreError, Topology, command};

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
    /// The room's next visit (ms, Redis `TIME` of the room's node), `None` when it
    /// left the deadline index (idle, ended without members, deleted).
    pub next_due_ms: Option<i64>,
}

/// The score a sweep listed for a room before its room step, for the Cluster's
/// compare-and-set reschedule (`lua/reaper_reschedule.lua`).
#[derive(Debug, Clone, Copy)]
pub enum Listed<'a> {
    /// Not listed: read the room's score just before the room step.
    Read,
    /// The score as the listing returned it (`None`: not in the index).
    Score(Option<&'a str>),
}

/// One page of due rooms of a partition ([`Store::reaper_due`]).
#[derive(Debug, Clone, Default)]
pub struct DuePage {
    /// The partition node's clock at the listing (ms).
    pub now_ms: i64,
    /// The listing's bound (ms): rooms due up to this moment.
    pub until_ms: i64,
    /// (live_id, score as listed), earliest first.
    pub rooms: Vec<(String, String)>,
}

impl Store {
    /// One reaper step for one room (`lua/sweep_room.lua`), then its index updates:
    /// a deleted room leaves every index, an ended one the live index (on every
    /// visit, so a failed update heals at the next visit), an idle one the active
    /// index; then the deadline index (one Redis: rescheduled by the script itself;
    /// Cluster: compare-and-set on the score read just before the step). Times in ms.
    pub async fn sweep_room(
        &self,
        live_id: &str,
        close_after_ms: u64,
        batch: u64,
    ) -> Result<RoomSweep, StoreError> {
        self.sweep_listed(live_id, Listed::Read, close_after_ms, batch)
            .await
    }

    /// [`Store::sweep_room`] of a room the sweep listed with score `listed`.
    pub async fn sweep_listed(
        &self,
        live_id: &str,
        listed: Listed<'_>,
        close_after_ms: u64,
        batch: u64,
    ) -> Result<RoomSweep, StoreError> {
        let op = self.op("sweep");
        let rk = self.keys.room(live_id);
        let cluster = self.topology == Topology::Cluster;
        let due_key = self.keys.reaper_due(reaper_partition(live_id));
        let listed: Option<String> = match listed {
            Listed::Score(s) => s.map(str::to_owned),
            Listed::Read if cluster => {
                op.command::<Option<String>>(command("ZSCORE").arg(&due_key).arg(live_id))
                    .await?
            }
            Listed::Read => None,
        };
        let sweep = |marks| {
            self.scripts.sweep_room(
                &rk,
                self.member_timeout_ms,
                close_after_ms,
                batch,
                marks,
                !cluster,
            )
        };
        // On the Cluster with webhooks on, the room is marked due only when this
        // step would record an event (the script says so and writes nothing), so an
        // idle sweep costs no mark.
        let unmarked = self.webhook_marks && cluster;
        let mut step = op
            .script(sweep(if unmarked { "?" } else { self.marks_arg() }))
            .await?;
        if step.status == -2 {
            op.mark_due_first(live_id).await?;
            step = op.script(sweep("")).await?;
        }
        let mut next_due_ms = (step.next_due > 0).then_some(step.next_due);
        if step.status == -1 {
            // Deleted: whatever a racing start listed goes too.
            op.index(IndexChange::Gone, live_id, None, 0, 0).await?;
            op.command::<()>(command("ZREM").arg(&due_key).arg(live_id))
                .await?;
            next_due_ms = None;
        } else {
            // Ended rooms are visited only while members remain.
            if step.status == 2 {
                op.index(IndexChange::Ended, live_id, None, step.created_ms, 0)
                    .await?;
            }
            if step.idle {
                self.drop_if_idle(live_id).await?;
            }
            if step.next_due == 0 {
                // Ended without members: no join can make anyone present again.
                op.command::<()>(command("ZREM").arg(&due_key).arg(live_id))
                    .await?;
            } else if cluster && step.next_due > 0 {
                // A joiner whose room step came after this one beat at `now` or
                // later: its deadline is no earlier than now + timeout.
                let next = step.next_due.min(step.now + self.member_timeout_ms as i64);
                let call = self.scripts.reaper_reschedule(
                    &due_key,
                    live_id,
                    listed.as_deref(),
                    Some(next),
                );
                if op.script(call).await? {
                    next_due_ms = Some(next);
                }
            }
        }
        Ok(RoomSweep {
            expired: step.expired,
            anchor_offline: step.anchor_offline,
            ended: step.ended,
            more: step.more,
            remaining: step.remaining,
            next_due_ms,
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

    /// Up to `count` rooms of reaper partition `partition` due by `until_ms`
    /// (`None`: the partition node's now), from rank `offset`, earliest first.
    /// One script, O(log N + count).
    pub async fn reaper_due(
        &self,
        partition: u16,
        until_ms: Option<i64>,
        offset: usize,
        count: usize,
    ) -> Result<DuePage, StoreError> {
        let due = self.keys.reaper_due(partition);
        let reply = self
            .op("sweep")
            .script(self.scripts.reaper_due(&due, until_ms, offset, count))
            .await?;
        let number = |s: Option<&String>| s.and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
        let rooms = reply[2.min(reply.len())..]
            .chunks_exact(2)
            .map(|c| (c[0].clone(), c[1].clone()))
            .collect();
        Ok(DuePage {
            now_ms: number(reply.first()),
            until_ms: number(reply.get(1)),
            rooms,
        })
    }

    /// Rooms in reaper partition `partition`'s deadline index (`ZCARD`).
    pub async fn reaper_indexed_rooms(&self, partition: u16) -> Result<u64, StoreError> {
        self.op("sweep")
            .command(command("ZCARD").arg(self.keys.reaper_due(partition)))
            .await
    }

    /// The upgrade from a version without the deadline index: unless
    /// `{p}:{reaper}:indexed` is set, marks every room of the active index due now
    /// (`ZADD NX`, in its partition; rooms already indexed keep their time), then sets
    /// it. Several replicas may do it at once (every step is idempotent); one that
    /// dies halfway leaves the marker unset for the next. Yields the rooms marked
    /// (`None`: already done). O(rooms) once per deployment.
    pub async fn reaper_upgrade(&self) -> Result<Option<u64>, StoreError> {
        let op = self.op("sweep");
        let marker = self.keys.reaper_indexed();
        if op
            .command::<Option<String>>(command("GET").arg(&marker))
            .await?
            .is_some()
        {
            return Ok(None);
        }
        let mut cursor = 0u64;
        let mut marked = 0u64;
        loop {
            let (next, items): (u64, Vec<String>) = op
                .command(
                    command("ZSCAN")
                        .arg(self.keys.active_index())
                        .arg(cursor)
                        .arg("COUNT")
                        .arg(500),
                )
                .await?;
            let marks = items.iter().step_by(2).map(|live_id| {
                let due = self.keys.reaper_due(reaper_partition(live_id));
                op.command::<u64>(command("ZADD").arg(due).arg("NX").arg(0).arg(live_id))
            });
            marked += futures::future::try_join_all(marks)
                .await?
                .into_iter()
                .sum::<u64>();
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        op.command::<()>(command("SET").arg(&marker).arg(1)).await?;
        Ok(Some(marked))
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

    /// Tries to take the lease at `key` (`SET NX PX`, TTL in ms); true when `token`
    /// got it.
    pub async fn lease_acquire(
        &self,
        key: &str,
        token: &str,
        ttl_ms: u64,
    ) -> Result<bool, StoreError> {
        let reply: Option<String> = self
            .op("lease")
            .command(
                command("SET")
                    .arg(key)
                    .arg(token)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms),
            )
            .await?;
        Ok(reply.is_some())
    }

    /// Extends the lease at `key` to `ttl_ms` if `token` holds it (`lua/lease_renew.lua`).
    pub async fn lease_renew(
        &self,
        key: &str,
        token: &str,
        ttl_ms: u64,
    ) -> Result<bool, StoreError> {
        let call = self.scripts.lease_renew(key, token, ttl_ms);
        self.op("lease").script(call).await
    }

    /// Releases the lease at `key` if `token` holds it (`lua/lease_release.lua`).
    pub async fn lease_release(&self, key: &str, token: &str) -> Result<bool, StoreError> {
        let call = self.scripts.lease_release(key, token);
        self.op("lease").script(call).await
    }

    /// The token holding the lease at `key`, if any.
    pub async fn lease_owner(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.op("lease").command(command("GET").arg(key)).await
    }

    /// `token` alive (or leaving) in the replica set `key` (zset token → ms), entries
    /// older than `window_ms` dropped (`lua/webhook_presence.lua`); yields how many
    /// replicas are alive.
    pub async fn replica_presence(
        &self,
        key: &str,
        token: &str,
        window_ms: u64,
        alive: bool,
    ) -> Result<u64, StoreError> {
        let call = self.scripts.webhook_presence(key, token, window_ms, alive);
        self.op("lease").script(call).await
    }

    /// The holder of every reaper partition's lease, by partition.
    pub async fn reaper_partition_holders(&self) -> Result<Vec<Option<String>>, StoreError> {
        let reads = (0..super::keys::REAPER_PARTITIONS)
            .map(|n| self.keys.reaper_lease(n))
            .collect::<Vec<_>>();
        futures::future::try_join_all(reads.iter().map(|k| self.lease_owner(k))).await
    }
}

impl Op<'_> {
    /// Takes a deleted room out of the reaper's deadline index (a join racing the
    /// delete may mark it again: its next visit finds it gone and removes it).
    pub(crate) async fn reaper_forget(&self, live_id: &str) -> Result<(), StoreError> {
        let due = self.store.keys.reaper_due(reaper_partition(live_id));
        self.command(command("ZREM").arg(due).arg(live_id)).await
    }

    /// On Redis Cluster: marks room `live_id` in its reaper partition
    /// (`lua/reaper_mark.lua`): before a start's room step, after a join's or
    /// restore's (so a refused join writes nothing; docs/DESIGN.md "Reaper" shows why
    /// a room already indexed needs no mark and a racing sweep cannot drop one).
    /// Nothing on one Redis (the joining script marks the room).
    pub(crate) async fn reaper_mark(&self, live_id: &str) -> Result<(), StoreError> {
        let store = self.store;
        if store.topology != Topology::Cluster {
            return Ok(());
        }
        let due = store.keys.reaper_due(reaper_partition(live_id));
        self.script(
            store
                .scripts
                .reaper_mark(&due, live_id, store.member_timeout_ms),
        )
        .await
        .map(drop)
    }
}
