//! Leased parts shared out over the live replicas: the 16 webhook shards
//! (src/webhooks/deliver.rs) and the 16 reaper partitions (src/reaper.rs) each have
//! a lease in Redis (`SET NX PX`, TTL `LIVEROOM_LEASE_TTL`, renewed by
//! compare-and-extend, released by compare-and-delete), and every replica says it is
//! alive in a replica set (zset token → last sign of life, ms). At each upkeep a
//! replica renews what it holds, hands over what exceeds its share
//! (`ceil(parts / replicas alive)`) once the caller has no work under way in it, and
//! takes free parts up to its share, starting at a random one; so parts spread over
//! the replicas, a dead replica's parts are taken within one TTL (plus one upkeep)
//! and a graceful stop ([`LeaseSet::release_all`]) hands them over at once.
//! docs/DESIGN.md "Webhook delivery" and "Reaper".

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::store::{Store, StoreError};

/// One family of leased parts (webhook shards, reaper partitions) as seen by one
/// replica: the keys, this replica's token and the lease TTL.
pub struct LeaseSet {
    /// What a part is called in logs ("webhook shard", "reaper partition").
    pub kind: &'static str,
    /// Number of parts (0..parts).
    pub parts: u16,
    /// The lease key of part n.
    pub lease_key: fn(&Store, u16) -> String,
    /// The replica set's key.
    pub replicas_key: String,
    /// This replica's lease token (unique per process).
    pub token: String,
    /// Lease time to live (also the replica set's window).
    pub ttl: Duration,
}

/// A part this replica holds, with whatever the caller keeps per part.
pub trait HeldPart: Default {
    /// Whether it is being handed over (no new work starts in it).
    fn releasing(&self) -> bool;
    /// Marks it as being handed over.
    fn set_releasing(&mut self);
}

impl LeaseSet {
    fn ttl_ms(&self) -> u64 {
        self.ttl.as_millis() as u64
    }

    /// One upkeep: says this replica is alive, renews the parts in `held` (dropping
    /// any found taken), marks the excess over its share as releasing and releases
    /// releasing parts not in `busy` (work under way), then takes free parts up to
    /// the share. Redis errors are logged ([`redis_trouble`]) and retried at the next
    /// upkeep. Yields the replicas alive (`None` when Redis could not say).
    pub async fn upkeep<T: HeldPart>(
        &self,
        store: &Store,
        held: &mut HashMap<u16, T>,
        busy: &HashSet<u16>,
    ) -> Option<u64> {
        let (kind, token, ttl_ms) = (self.kind, &self.token, self.ttl_ms());
        let replicas = match store
            .replica_presence(&self.replicas_key, token, ttl_ms, true)
            .await
        {
            Ok(n) => n.max(1),
            Err(err) => {
                redis_trouble(&format!("{kind} lease upkeep failed; retrying"), None, &err);
                return None;
            }
        };
        let share = usize::from(self.parts).div_ceil(replicas as usize);
        // Renew what is held; a part found taken is dropped.
        let parts: Vec<u16> = held.keys().copied().collect();
        let keys: Vec<String> = parts.iter().map(|n| (self.lease_key)(store, *n)).collect();
        let renewed =
            futures::future::join_all(keys.iter().map(|k| store.lease_renew(k, token, ttl_ms)))
                .await;
        for (part, result) in parts.into_iter().zip(renewed) {
            match result {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(part, "{kind} lease lost: another replica has it now");
                    held.remove(&part);
                }
                Err(err) => redis_trouble(
                    &format!("{kind} lease renewal failed; retrying"),
                    Some(part),
                    &err,
                ),
            }
        }
        // Hand over the excess once its work is done.
        let mut active: Vec<u16> = held
            .iter()
            .filter(|(_, p)| !p.releasing())
            .map(|(n, _)| *n)
            .collect();
        active.sort_unstable();
        while active.len() > share {
            let part = active.pop().unwrap_or_default();
            if let Some(p) = held.get_mut(&part) {
                p.set_releasing();
            }
        }
        let done: Vec<u16> = held
            .iter()
            .filter(|(n, p)| p.releasing() && !busy.contains(n))
            .map(|(n, _)| *n)
            .collect();
        for part in done {
            match store
                .lease_release(&(self.lease_key)(store, part), token)
                .await
            {
                Ok(_) => {
                    held.remove(&part);
                    tracing::debug!(part, replicas, "{kind} handed over");
                }
                Err(err) => redis_trouble(
                    &format!("{kind} hand-over failed; retrying"),
                    Some(part),
                    &err,
                ),
            }
        }
        // Take free parts up to the share, starting at a random one.
        let mut active = held.values().filter(|p| !p.releasing()).count();
        let start = rand::random::<u16>() % self.parts;
        for i in 0..self.parts {
            if active >= share {
                break;
            }
            let part = (start + i) % self.parts;
            if held.contains_key(&part) {
                continue;
            }
            match store
                .lease_acquire(&(self.lease_key)(store, part), token, ttl_ms)
                .await
            {
                Ok(true) => {
                    held.insert(part, T::default());
                    active += 1;
                    tracing::debug!(part, "{kind} taken");
                }
                Ok(false) => {}
                Err(err) => {
                    redis_trouble(
                        &format!("{kind} lease attempt failed; retrying"),
                        Some(part),
                        &err,
                    );
                    break;
                }
            }
        }
        Some(replicas)
    }

    /// Graceful stop: releases every part in `held` (compare-and-delete) and leaves
    /// the replica set, so the others take the parts at their next upkeep.
    pub async fn release_all<T>(&self, store: &Store, held: &HashMap<u16, T>) {
        let kind = self.kind;
        for part in held.keys() {
            let key = (self.lease_key)(store, *part);
            if let Err(err) = store.lease_release(&key, &self.token).await {
                tracing::warn!(part, error = %err, "{kind} lease release failed; another replica takes it over when it expires");
            }
        }
        let _ = store
            .replica_presence(&self.replicas_key, &self.token, self.ttl_ms(), false)
            .await;
    }
}

/// Logs Redis trouble of background work as a warning at most every 10 s per
/// process (at debug level in between), so an outage does not write one line per
/// part and tick.
pub fn redis_trouble(what: &str, part: Option<u16>, err: &StoreError) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_WARNED_S: AtomicU64 = AtomicU64::new(0);
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST_WARNED_S.load(Ordering::Relaxed);
    let warn = now_s >= last + 10
        && LAST_WARNED_S
            .compare_exchange(last, now_s, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok();
    if warn {
        tracing::warn!(?part, error = %err, "{what} (more Redis errors of background work in the next 10 s are logged at debug level)");
    } else {
        tracing::debug!(?part, error = %err, "{what}");
    }
}
