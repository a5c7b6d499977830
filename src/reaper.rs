//! The reaper (docs/DESIGN.md "Reaper"): one replica at a time holds a lease in Redis
//! (`SET NX PX`, renewed by compare-and-extend, released on graceful shutdown) and
//! sweeps the rooms that have members or are live: it removes members whose
//! heartbeat timed out, marks absent anchors offline and ends live rooms whose
//! anchor stayed absent for `LIVEROOM_ANCHOR_CLOSE_AFTER`.
//!
//! The reaper is cleanup and events, not correctness: reads are exact without it.
//! Every step is an idempotent script decided by Redis's clock, so two replicas that
//! briefly both believe they lead cannot double-count or double-close.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
use tokio::sync::watch;

use crate::store::{Store, StoreError};

/// Rooms asked for per `ZSCAN` step (a hint; Redis may return a few more).
pub const ROOMS_PER_BATCH: usize = 200;
/// Most members one `sweep_room.lua` call removes, so no call blocks Redis for long.
pub const MEMBERS_PER_CALL: u64 = 500;

/// Settings of the reaper (SPEC §9). Durations as given; used in ms.
#[derive(Debug, Clone)]
pub struct ReaperConfig {
    /// This replica's id, the lease's value.
    pub replica_id: String,
    /// Lease time to live: another replica takes over at most this long after the
    /// holder dies.
    pub lease_ttl: Duration,
    /// Pause between sweeps (and lease attempts).
    pub interval: Duration,
    /// A live room whose anchor is absent this long is ended.
    pub anchor_close_after: Duration,
}

/// Totals of one sweep.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Rooms visited (the active index: rooms with members or live).
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
    /// Rooms whose step failed (logged; visited again by the next sweep).
    pub rooms_failed: u64,
}

/// One full sweep over the active room index, in bounded batches. Safe to run from
/// several replicas at once (tests do); `keep_going` is polled between batches and
/// may stop the sweep early (lost lease, shutdown).
pub async fn sweep_once(
    store: &Store,
    anchor_close_after: Duration,
    mut keep_going: impl FnMut() -> bool,
) -> Result<SweepReport, StoreError> {
    let close_after_ms = anchor_close_after.as_millis() as u64;
    let mut report = SweepReport::default();
    let mut cursor = 0;
    loop {
        let (next, rooms) = store.scan_active(cursor, ROOMS_PER_BATCH).await?;
        let mut pending = rooms;
        while !pending.is_empty() {
            let results = join_all(
                pending
                    .iter()
                    .map(|id| store.sweep_room(id, close_after_ms, MEMBERS_PER_CALL)),
            )
            .await;
            let mut again = Vec::new();
            for (id, result) in pending.into_iter().zip(results) {
                // One room's error (e.g. its master failing over) must not stop the
                // sweep of every other room: count it, log it, visit it next sweep.
                let step = match result {
                    Ok(step) => step,
                    Err(err) => {
                        tracing::warn!(live_id = %id, error = %err, "reaper: room sweep failed");
                        report.rooms_failed += 1;
                        continue;
                    }
                };
                report.members_expired += step.expired;
                report.anchors_offline += step.anchor_offline;
                report.rooms_ended += step.ended;
                if step.more {
                    again.push(id);
                } else {
                    report.rooms_visited += 1;
                    report.members_remaining += step.remaining;
                }
            }
            pending = again;
        }
        cursor = next;
        if cursor == 0 || !keep_going() {
            return Ok(report);
        }
    }
}

/// Runs the lease and the sweeps until `shutdown` turns true, then releases the
/// lease if held. The lease is renewed on its own schedule (every `min(interval,
/// ttl / 3)`), so a long sweep never lets it lapse. Errors (e.g. Redis down) are
/// logged and retried at the next tick.
pub async fn run(store: Store, config: ReaperConfig, shutdown: watch::Receiver<bool>) {
    let leading = AtomicBool::new(false);
    let stopped = || *shutdown.borrow();
    let lease = async {
        let ttl_ms = config.lease_ttl.as_millis() as u64;
        let tick = config.interval.min(config.lease_ttl / 3);
        let mut shutdown = shutdown.clone();
        while !stopped() {
            let was = leading.load(Ordering::SeqCst);
            let held = if was {
                store.lease_renew(&config.replica_id, ttl_ms).await
            } else {
                store.lease_acquire(&config.replica_id, ttl_ms).await
            };
            let now = held.unwrap_or_else(|err| {
                tracing::warn!(error = %err, "reaper lease check failed");
                false
            });
            if now != was {
                if now {
                    tracing::info!(replica = %config.replica_id, "reaper lease acquired: this replica sweeps");
                } else {
                    tracing::warn!(replica = %config.replica_id, "reaper lease lost");
                }
            }
            leading.store(now, Ordering::SeqCst);
            metrics::gauge!("liveroom_reaper_leader").set(if now { 1.0 } else { 0.0 });
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = shutdown.changed() => {}
            }
        }
    };
    let sweeps = async {
        let mut shutdown = shutdown.clone();
        while !stopped() {
            if leading.load(Ordering::SeqCst) {
                let started = Instant::now();
                let keep_going = || leading.load(Ordering::SeqCst) && !stopped();
                match sweep_once(&store, config.anchor_close_after, keep_going).await {
                    Ok(report) => {
                        record_sweep(&store, &report, started.elapsed()).await;
                        let took_ms = started.elapsed().as_millis() as u64;
                        if report.rooms_failed > 0 {
                            tracing::warn!(?report, took_ms, "sweep skipped rooms after errors");
                        } else if report.members_expired
                            + report.anchors_offline
                            + report.rooms_ended
                            > 0
                        {
                            tracing::info!(?report, took_ms, "sweep");
                        } else {
                            tracing::debug!(?report, took_ms, "sweep");
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "sweep failed"),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(config.interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    };
    tokio::join!(lease, sweeps);
    metrics::gauge!("liveroom_reaper_leader").set(0.0);
    if leading.load(Ordering::SeqCst) {
        match store.lease_release(&config.replica_id).await {
            Ok(true) => tracing::info!(replica = %config.replica_id, "reaper lease released"),
            Ok(false) => {}
            Err(err) => tracing::warn!(error = %err, "reaper lease release failed"),
        }
    }
}

/// Publishes a finished sweep as metrics; the leader also samples the live room count.
async fn record_sweep(store: &Store, report: &SweepReport, took: Duration) {
    metrics::histogram!("liveroom_reaper_sweep_duration_seconds").record(took.as_secs_f64());
    metrics::counter!("liveroom_reaper_members_expired_total").increment(report.members_expired);
    metrics::counter!("liveroom_reaper_anchors_offline_total").increment(report.anchors_offline);
    metrics::counter!("liveroom_reaper_rooms_ended_total").increment(report.rooms_ended);
    metrics::gauge!("liveroom_present_members").set(report.members_remaining as f64);
    match store.live_room_count().await {
        Ok(n) => metrics::gauge!("liveroom_live_rooms").set(n as f64),
        Err(err) => tracing::debug!(error = %err, "live room count failed"),
    }
}
