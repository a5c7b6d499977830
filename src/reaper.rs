//! The reaper (docs/DESIGN.md "Reaper"): removes members whose heartbeat timed out,
//! marks absent anchors offline and ends live rooms whose anchor stayed absent for
//! `LIVEROOM_ANCHOR_CLOSE_AFTER`, visiting a room only when something in it can be
//! due: the deadline index (`{p}:{reaper:n}:due`, live_id → ms by which the room must
//! be visited) is written by every join and start and by each visit (the room's
//! next deadline), never by heartbeats, so a sweep costs what is due, not how many
//! rooms exist.
//!
//! The index has [`REAPER_PARTITIONS`] partitions, each with its own lease
//! (`{p}:{reaper:n}:lease`), shared out over the live replicas like the webhook
//! shards (src/leases.rs): every `LIVEROOM_REAPER_INTERVAL` each replica sweeps the
//! due rooms of the partitions it holds, so several replicas sweep at once and a
//! stuck one holds back only its share until its leases expire.
//!
//! The reaper is cleanup and events, not correctness: reads are exact without it.
//! Every step is an idempotent script decided by Redis's clock, so two replicas that
//! briefly both sweep a partition cannot double-count or double-close.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::leases::{HeldPart, LeaseSet, redis_trouble};
use crate::store::keys::REAPER_PARTITIONS;
use crate::store::{Listed, Store, StoreError};

/// Due rooms listed per page of a partition (and rooms of the active index per
/// `ZSCAN` step of a full sweep); the rooms of a page are visited side by side.
pub const ROOMS_PER_BATCH: usize = 200;
/// Most members one `sweep_room.lua` call removes, so no call blocks Redis for long.
pub const MEMBERS_PER_CALL: u64 = 500;
/// How long a graceful stop waits for sweeps under way before it abandons them
/// (their rooms stay due for the next holder of the partition).
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(3);

/// Settings of the reaper (SPEC §9). Durations as given; used in ms.
#[derive(Debug, Clone)]
pub struct ReaperConfig {
    /// This replica's id: the value of the partition leases it holds (unique per
    /// process).
    pub replica_id: String,
    /// Lease time to live: another replica takes a dead one's partitions over at
    /// most this long (plus one lease tick) after it died.
    pub lease_ttl: Duration,
    /// Pause between sweeps (and between lease upkeeps, at most a third of the TTL).
    pub interval: Duration,
    /// A live room whose anchor is absent this long is ended.
    pub anchor_close_after: Duration,
}

/// Totals of one sweep.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Rooms visited.
    pub rooms_visited: u64,
    /// Members removed for a timed-out heartbeat.
    pub members_expired: u64,
    /// Anchors newly marked offline.
    pub anchors_offline: u64,
    /// Live rooms ended because the anchor stayed absent.
    pub rooms_ended: u64,
    /// Members left in the visited rooms' presence sets (present, or stale beyond
    /// what this sweep removed).
    pub members_remaining: u64,
    /// Rooms whose step failed (logged; still due, so visited again).
    pub rooms_failed: u64,
}

impl SweepReport {
    fn add(&mut self, other: &SweepReport) {
        self.rooms_visited += other.rooms_visited;
        self.members_expired += other.members_expired;
        self.anchors_offline += other.anchors_offline;
        self.rooms_ended += other.rooms_ended;
        self.members_remaining += other.members_remaining;
        self.rooms_failed += other.rooms_failed;
    }
}

/// What a visit tells the caller about a room: its members left (`None`: the room
/// left the deadline index).
type Seen<'a> = &'a mut (dyn FnMut(&str, Option<u64>) + Send);

/// Visits one room until no stale member is left beyond a batch, adding to `report`.
async fn visit(
    store: &Store,
    live_id: &str,
    listed: Listed<'_>,
    close_after_ms: u64,
    report: &mut SweepReport,
) -> Option<(u64, bool)> {
    let mut listed = listed;
    loop {
        match store
            .sweep_listed(live_id, listed, close_after_ms, MEMBERS_PER_CALL)
            .await
        {
            Ok(step) => {
                report.members_expired += step.expired;
                report.anchors_offline += step.anchor_offline;
                report.rooms_ended += step.ended;
                if step.more {
                    // Read the score again: this step rescheduled it.
                    listed = Listed::Read;
                    continue;
                }
                report.rooms_visited += 1;
                report.members_remaining += step.remaining;
                return Some((step.remaining, step.next_due_ms.is_some()));
            }
            Err(err) => {
                // One room's error (e.g. its master failing over) must not stop the
                // sweep of every other room: count it, log it; it stays due.
                tracing::warn!(%live_id, error = %err, "reaper: room sweep failed");
                report.rooms_failed += 1;
                return None;
            }
        }
    }
}

/// Visits `rooms` side by side (each with its listed score).
async fn visit_all(
    store: &Store,
    rooms: &[(String, Listed<'_>)],
    close_after_ms: u64,
    report: &mut SweepReport,
    seen: Seen<'_>,
) {
    let results = join_all(rooms.iter().map(|(id, listed)| async move {
        let mut r = SweepReport::default();
        let done = visit(store, id, *listed, close_after_ms, &mut r).await;
        (r, done)
    }))
    .await;
    for ((id, _), (r, done)) in rooms.iter().zip(results) {
        report.add(&r);
        if let Some((remaining, indexed)) = done {
            seen(id, indexed.then_some(remaining));
        }
    }
}

/// Sweeps the rooms of partition `partition` due now (by the partition node's
/// clock), in pages of [`ROOMS_PER_BATCH`]; each room is visited at most once (a
/// room still due after its visit — a join marked it meanwhile, or its step failed
/// — waits for the next sweep). `keep_going` is polled between pages.
pub async fn sweep_partition(
    store: &Store,
    partition: u16,
    anchor_close_after: Duration,
    keep_going: impl FnMut() -> bool,
) -> Result<SweepReport, StoreError> {
    sweep_partition_seen(
        store,
        partition,
        anchor_close_after,
        keep_going,
        &mut |_, _| {},
    )
    .await
}

async fn sweep_partition_seen(
    store: &Store,
    partition: u16,
    anchor_close_after: Duration,
    mut keep_going: impl FnMut() -> bool,
    seen: Seen<'_>,
) -> Result<SweepReport, StoreError> {
    let close_after_ms = anchor_close_after.as_millis() as u64;
    let mut report = SweepReport::default();
    let mut visited = HashSet::new();
    let mut until = None;
    let mut skip = 0;
    loop {
        let page = store
            .reaper_due(partition, until, skip, ROOMS_PER_BATCH)
            .await?;
        until = Some(page.until_ms);
        let fresh: Vec<(String, Listed<'_>)> = page
            .rooms
            .iter()
            .filter(|(id, _)| !visited.contains(id))
            .map(|(id, score)| (id.clone(), Listed::Score(Some(score.as_str()))))
            .collect();
        skip += page.rooms.len() - fresh.len();
        if fresh.is_empty() {
            return Ok(report);
        }
        visit_all(store, &fresh, close_after_ms, &mut report, seen).await;
        visited.extend(fresh.into_iter().map(|(id, _)| id));
        if page.rooms.len() < ROOMS_PER_BATCH || !keep_going() {
            return Ok(report);
        }
    }
}

/// One full sweep, for tools and tests: every partition's due rooms, then every
/// room of the active index not visited yet (so also rooms an index update missed).
/// O(rooms); the running reaper ([`run`]) sweeps due rooms only. Safe to run from
/// several replicas at once; `keep_going` is polled between pages.
pub async fn sweep_once(
    store: &Store,
    anchor_close_after: Duration,
    mut keep_going: impl FnMut() -> bool,
) -> Result<SweepReport, StoreError> {
    let close_after_ms = anchor_close_after.as_millis() as u64;
    let mut report = SweepReport::default();
    let mut visited = HashSet::new();
    for partition in 0..REAPER_PARTITIONS {
        let part = sweep_partition_seen(
            store,
            partition,
            anchor_close_after,
            &mut keep_going,
            &mut |id, _| {
                visited.insert(id.to_owned());
            },
        )
        .await?;
        report.add(&part);
    }
    let mut cursor = 0;
    loop {
        let (next, rooms) = store.scan_active(cursor, ROOMS_PER_BATCH).await?;
        let rooms: Vec<(String, Listed<'_>)> = rooms
            .into_iter()
            .filter(|id| !visited.contains(id))
            .map(|id| (id, Listed::Read))
            .collect();
        visit_all(store, &rooms, close_after_ms, &mut report, &mut |_, _| {}).await;
        cursor = next;
        if cursor == 0 || !keep_going() {
            return Ok(report);
        }
    }
}

/// A partition this replica holds.
#[derive(Debug, Default)]
struct HeldPartition {
    /// Handing over: no new sweep; released once its sweep has ended.
    releasing: bool,
    /// Members of its rooms at their last visit (`liveroom_present_members`); taken
    /// by a sweep under way and given back when it ends.
    members: HashMap<String, u64>,
}

impl HeldPart for HeldPartition {
    fn releasing(&self) -> bool {
        self.releasing
    }
    fn set_releasing(&mut self) {
        self.releasing = true;
    }
}

/// What a partition's sweep task yields.
type SweepDone = (
    u16,
    HashMap<String, u64>,
    Duration,
    Result<SweepReport, StoreError>,
);

/// Runs the reaper until `shutdown` turns true: upgrades a store without a deadline
/// index once, keeps this replica's share of the partition leases (every
/// `min(interval, ttl / 3)`), and every `interval` sweeps the due rooms of each
/// partition it holds (one task per partition; a partition whose sweep is still
/// under way is not swept twice). At the stop: waits briefly for sweeps under way,
/// releases its leases and leaves the replica set. Errors (e.g. Redis down) are
/// logged and retried at the next tick.
pub async fn run(store: Store, config: ReaperConfig, mut shutdown: watch::Receiver<bool>) {
    let leases = LeaseSet {
        kind: "reaper partition",
        parts: REAPER_PARTITIONS,
        lease_key: |store, n| store.keys().reaper_lease(n),
        replicas_key: store.keys().reaper_replicas(),
        token: config.replica_id.clone(),
        ttl: config.lease_ttl,
    };
    let close_after = config.anchor_close_after;
    let tick = config
        .interval
        .min(config.lease_ttl / 3)
        .max(Duration::from_millis(10));
    let mut lease_tick = tokio::time::interval(tick);
    lease_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweep_tick = tokio::time::interval(config.interval);
    sweep_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut held: HashMap<u16, HeldPartition> = HashMap::new();
    // Partitions sweeps may go on in (held, not releasing); polled by the tasks.
    let ours: Arc<Mutex<HashSet<u16>>> = Arc::default();
    let mut sweeps: JoinSet<SweepDone> = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, u16> = HashMap::new();
    // The upgrade (O(rooms), once per deployment) runs beside the loop, so a large
    // store never holds back lease renewals.
    let upgrading = tokio::spawn({
        let (store, interval) = (store.clone(), config.interval);
        async move {
            while !upgrade(&store).await {
                tokio::time::sleep(interval).await;
            }
        }
    });
    while !*shutdown.borrow() {
        tokio::select! {
            _ = lease_tick.tick() => {
                let busy: HashSet<u16> = running.values().copied().collect();
                let before: HashSet<u16> = held.keys().copied().collect();
                leases.upkeep(&store, &mut held, &busy).await;
                let now: HashSet<u16> = held.keys().copied().collect();
                if now != before {
                    let mut list: Vec<u16> = now.iter().copied().collect();
                    list.sort_unstable();
                    tracing::info!(replica = %config.replica_id, partitions = ?list, "reaper partitions held");
                }
                *ours.lock().unwrap_or_else(|e| e.into_inner()) = held
                    .iter()
                    .filter(|(_, p)| !p.releasing)
                    .map(|(n, _)| *n)
                    .collect();
                metrics::gauge!("liveroom_reaper_partitions_held").set(held.len() as f64);
                publish_members(&held);
            }
            _ = sweep_tick.tick() => {
                sample_live_rooms(&store).await;
                let busy: HashSet<u16> = running.values().copied().collect();
                for (&partition, state) in held.iter_mut() {
                    if state.releasing || busy.contains(&partition) {
                        continue;
                    }
                    let members = std::mem::take(&mut state.members);
                    let (store, ours) = (store.clone(), ours.clone());
                    let task = sweeps.spawn(async move {
                        sweep_task(store, partition, close_after, ours, members).await
                    });
                    running.insert(task.id(), partition);
                }
            }
            Some(done) = sweeps.join_next_with_id() => {
                finish(done, &mut running, &mut held, &config.replica_id);
            }
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break; // the stop signal's sender is gone: stop as if told
                }
            }
        }
    }
    upgrading.abort();
    ours.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let deadline = tokio::time::sleep(SHUTDOWN_WAIT);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = sweeps.join_next_with_id() => match next {
                Some(done) => finish(done, &mut running, &mut held, &config.replica_id),
                None => break,
            },
            _ = &mut deadline => {
                tracing::warn!(sweeps = sweeps.len(), "reaper sweeps under way abandoned at shutdown; their rooms stay due");
                sweeps.abort_all();
                break;
            }
        }
    }
    leases.release_all(&store, &held).await;
    metrics::gauge!("liveroom_reaper_partitions_held").set(0.0);
    metrics::gauge!("liveroom_present_members").set(0.0);
    tracing::info!(
        replica = %config.replica_id,
        partitions = held.len(),
        "reaper stopped; every partition lease released"
    );
}

/// One partition's sweep on its own task; `members` is the partition's
/// members-by-room map, updated by the visits and handed back.
async fn sweep_task(
    store: Store,
    partition: u16,
    close_after: Duration,
    ours: Arc<Mutex<HashSet<u16>>>,
    mut members: HashMap<String, u64>,
) -> SweepDone {
    let started = Instant::now();
    let keep_going = || {
        ours.lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&partition)
    };
    let result = sweep_partition_seen(
        &store,
        partition,
        close_after,
        keep_going,
        &mut |id, remaining| match remaining {
            Some(n) => {
                members.insert(id.to_owned(), n);
            }
            None => {
                members.remove(id);
            }
        },
    )
    .await;
    (partition, members, started.elapsed(), result)
}

/// A partition's sweep ended: its members map goes back, its totals to the metrics
/// and the log.
fn finish(
    done: Result<(tokio::task::Id, SweepDone), tokio::task::JoinError>,
    running: &mut HashMap<tokio::task::Id, u16>,
    held: &mut HashMap<u16, HeldPartition>,
    replica_id: &str,
) {
    let (id, (partition, members, took, result)) = match done {
        Ok(done) => done,
        Err(err) => {
            if err.is_panic() {
                tracing::error!(error = %err, "reaper sweep panicked; its rooms stay due");
            }
            running.remove(&err.id());
            return;
        }
    };
    running.remove(&id);
    if let Some(state) = held.get_mut(&partition) {
        state.members = members;
    }
    match result {
        Ok(report) => {
            record_sweep(&report, took);
            let took_ms = took.as_millis() as u64;
            if report.rooms_failed > 0 {
                tracing::warn!(
                    partition,
                    ?report,
                    took_ms,
                    "sweep skipped rooms after errors"
                );
            } else if report.members_expired + report.anchors_offline + report.rooms_ended > 0 {
                tracing::info!(partition, ?report, took_ms, "sweep");
            } else {
                tracing::debug!(partition, ?report, took_ms, replica = %replica_id, "sweep");
            }
        }
        Err(err) => redis_trouble("reaper sweep failed; retrying", Some(partition), &err),
    }
}

/// The upgrade from a store without the deadline index ([`Store::reaper_upgrade`]);
/// true once done.
async fn upgrade(store: &Store) -> bool {
    match store.reaper_upgrade().await {
        Ok(None) => true,
        Ok(Some(rooms)) => {
            tracing::info!(
                rooms,
                "reaper: rooms of the active index marked due once (upgrade to the deadline index)"
            );
            true
        }
        Err(err) => {
            redis_trouble(
                "reaper upgrade to the deadline index failed; retrying",
                None,
                &err,
            );
            false
        }
    }
}

/// Members of the rooms in this replica's partitions at their last visit; every room
/// with members is visited at least once per member timeout, so the sum over
/// replicas is the deployment's present members within one timeout.
fn publish_members(held: &HashMap<u16, HeldPartition>) {
    let members: u64 = held.values().flat_map(|p| p.members.values()).sum();
    metrics::gauge!("liveroom_present_members").set(members as f64);
}

/// Every replica samples the live room count (one `ZCARD` per sweep interval).
async fn sample_live_rooms(store: &Store) {
    match store.live_room_count().await {
        Ok(n) => metrics::gauge!("liveroom_live_rooms").set(n as f64),
        Err(err) => tracing::debug!(error = %err, "live room count failed"),
    }
}

/// Publishes a finished partition sweep as metrics.
fn record_sweep(report: &SweepReport, took: Duration) {
    metrics::histogram!("liveroom_reaper_sweep_duration_seconds").record(took.as_secs_f64());
    metrics::counter!("liveroom_reaper_members_expired_total").increment(report.members_expired);
    metrics::counter!("liveroom_reaper_anchors_offline_total").increment(report.anchors_offline);
    metrics::counter!("liveroom_reaper_rooms_ended_total").increment(report.rooms_ended);
    metrics::counter!("liveroom_reaper_rooms_visited_total").increment(report.rooms_visited);
}
