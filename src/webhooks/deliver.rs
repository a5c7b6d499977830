//! The delivery loop (docs/SPEC.md §10, docs/DESIGN.md "Webhook delivery"): every
//! replica runs [`run`] when `LIVEROOM_WEBHOOK_URLS` is set. Room events are read
//! from each room's stream and sent to every receiver, at least once, in order per
//! room and receiver, surviving `kill -9` of any replica at any instant; all
//! delivery state lives in Redis.
//!
//! **Due marks.** Every write that may record an event also marks its room due in
//! the room's shard (`{p}:{webhooks:n}:due`, live_id → ms of the latest mark), no
//! later than the event itself: on one Redis inside the recording script, on Redis
//! Cluster just before the step (src/store/webhooks.rs). So a crash can never leave
//! an event without a mark.
//!
//! **Shards and leases.** The 16 shards are leased (`{p}:{webhooks:n}:lease`, `SET
//! NX PX`, TTL `LIVEROOM_LEASE_TTL`, renewed every third of it, released on
//! graceful shutdown). A replica takes at most `ceil(16 / replicas alive)` shards
//! (replicas say they are alive in `{p}:{webhooks}:replicas`), and hands the excess
//! over once its visits of those shards have finished, so shards spread over the
//! replicas without two ever delivering the same room.
//!
//! **A visit of a due room** (every `LIVEROOM_WEBHOOK_POLL_INTERVAL`, at most
//! `LIVEROOM_WEBHOOK_CONCURRENCY` visits at once per replica, a room never twice at
//! once): per receiver (the receivers side by side), skip it while its retry is
//! not due; read the events after its cursor (`XRANGE`, 100 at a time); send each
//! selected event in order and move the cursor after each 2xx with a script fenced
//! by the shard lease; events not selected only move the cursor. After
//! [`VISIT_BUDGET`] of sending the rest waits for the next visit, so a slow
//! receiver does not hold the room's other receivers back for long. A failure records the attempt and the next one
//! (exponential backoff, full jitter) and stops that receiver for this room, so
//! order holds; an event older than `LIVEROOM_WEBHOOK_MAX_AGE` that fails again
//! goes to the dead-letter stream `{p}:{webhooks}:dead` and the cursor moves past it.
//!
//! **Removing a mark** needs every receiver caught up and the mark older than the
//! grace ([`DeliverOptions::grace`]) at a moment before the streams were read
//! (the shard node's clock, taken with the listing); then a compare-and-remove
//! deletes it only if no write re-marked the room since. An event recorded after
//! the read either re-marked the room (one Redis: same script; Cluster: the mark
//! was written just before the step, well within the grace), so it is never missed.
//! A room whose last event, `room_deleted`, was handled for every receiver (or
//! whose stream expired) loses its cursors and retry states with the mark.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::{Outcome, Sender, WebhookSettings};
use crate::config::ServeConfig;
use crate::events::RoomEvent;
use crate::leases::{HeldPart, LeaseSet, redis_trouble};
use crate::store::keys::{WEBHOOK_SHARDS, webhook_receiver_id, webhook_shard};
use crate::store::{DueRoom, RetryState, Store, StoreError};

/// Due rooms listed per shard and poll (the next poll lists the next page).
pub const ROOMS_PER_PAGE: usize = 256;
/// Events read per `XRANGE`.
pub const EVENTS_PER_READ: usize = 100;
/// Reads per receiver and visit: a long backlog is sent over several visits, so one
/// room cannot hold a permit for ever.
pub const READS_PER_VISIT: usize = 10;
/// Time a visit spends sending to one receiver before it leaves the rest to the
/// next visit (so a slow receiver's backlog does not keep the room's other
/// receivers waiting for long).
pub const VISIT_BUDGET: Duration = Duration::from_secs(1);
/// Longest pause between two attempts at one event (the backoff's cap).
pub const BACKOFF_CAP: Duration = Duration::from_secs(300);
/// Grace before a caught-up room's mark may be removed, in units of
/// `LIVEROOM_REDIS_TIMEOUT` (2 s by default: 30 s).
pub const GRACE_REDIS_TIMEOUTS: u32 = 15;
/// How long a graceful shutdown waits for visits under way before it abandons them
/// (an abandoned delivery is sent again by the next holder of the shard).
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(3);

/// Timings of the delivery loop, derived from the configuration by
/// [`DeliverOptions::from_config`].
#[derive(Debug, Clone)]
pub struct DeliverOptions {
    /// Start of this replica's lease token (`LIVEROOM_REPLICA_ID` or generated); a
    /// random suffix makes it unique per process.
    pub replica_id: String,
    /// Shard lease time to live (`LIVEROOM_LEASE_TTL`, 10 s by default): another
    /// replica takes over a dead one's shards at most this long after it died.
    pub lease_ttl: Duration,
    /// A caught-up room's mark is removed only once it is this much older than the
    /// moment its stream was read: 15 × `LIVEROOM_REDIS_TIMEOUT` (30 s by default),
    /// far above the time between a Cluster mark and the step it precedes.
    pub grace: Duration,
    /// First retry pause (before jitter): 1 s, or 5 poll intervals when shorter.
    pub backoff_base: Duration,
    /// Longest retry pause (5 minutes).
    pub backoff_cap: Duration,
}

impl DeliverOptions {
    /// The timings of `config` (see the fields).
    pub fn from_config(config: &ServeConfig, replica_id: &str) -> Self {
        let poll = config.webhooks.poll_interval;
        Self {
            replica_id: replica_id.to_owned(),
            lease_ttl: config.lease_ttl,
            grace: (config.redis_timeout * GRACE_REDIS_TIMEOUTS).max(Duration::from_secs(1)),
            backoff_base: Duration::from_secs(1)
                .min(poll * 5)
                .max(Duration::from_millis(10)),
            backoff_cap: BACKOFF_CAP,
        }
    }
}

/// The pause before attempt `attempts + 1` after `attempts` failures (1 or more):
/// full jitter, uniform in `[0, min(cap, base × 2^(attempts-1))]`.
pub fn backoff(base: Duration, cap: Duration, attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(30);
    let ceiling = base.saturating_mul(1u32 << exp).min(cap);
    let ms = ceiling.as_millis() as u64;
    Duration::from_millis(rand::rng().random_range(0..=ms))
}

/// One receiver: its URL and its id in Redis.
#[derive(Debug, Clone)]
struct Receiver {
    url: reqwest::Url,
    /// First 8 hex digits of SHA-1 of the URL.
    id: String,
    /// The URL without query or credentials, for logs.
    shown: String,
}

/// What every visit shares.
struct Shared {
    store: Store,
    settings: WebhookSettings,
    options: DeliverOptions,
    token: String,
    /// The shard leases, shared out over the delivering replicas.
    leases: LeaseSet,
    sender: Sender,
    receivers: Vec<Receiver>,
    /// Rooms whose trimmed events were already reported (a warning once per room).
    warned_gaps: Mutex<HashSet<String>>,
}

/// How a visit ended.
#[derive(Debug)]
enum Visit {
    /// Caught up and the mark removed.
    Removed,
    /// Nothing to do before `until_ms` unless the room is marked again.
    Quiet { until_ms: i64 },
    /// More to send (or the mark changed meanwhile): visit again at the next poll.
    Again,
    /// The shard lease is no longer this replica's.
    LeaseLost,
}

/// How one receiver's part of a visit ended.
enum ReceiverEnd {
    /// No event left after `cursor`.
    CaughtUp { cursor: Option<String> },
    /// An attempt failed; the next is due at this moment (ms).
    RetryAt(i64),
    /// The read limit of a visit was reached.
    More,
    /// The shard lease is no longer this replica's.
    LeaseLost,
}

/// A shard this replica holds.
#[derive(Debug, Default)]
struct HeldShard {
    /// Handing over: no new visits; released once its visits have finished.
    releasing: bool,
    /// Rank of the next page of due rooms to list.
    offset: usize,
    /// live_id → (mark as seen, skip until ms): rooms with nothing to do before then
    /// unless their mark changes.
    quiet: HashMap<String, (i64, i64)>,
}

/// Runs delivery until `shutdown` turns true, then waits briefly for visits under
/// way, releases this replica's shard leases and leaves the replica set. Redis
/// errors are logged and retried at the next tick; nothing here can stop the API.
pub async fn run(
    store: Store,
    settings: WebhookSettings,
    options: DeliverOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let token = format!("{}:{:08x}", options.replica_id, rand::random::<u32>());
    // A URL listed twice is one receiver (one id, one cursor).
    let mut ids = HashSet::new();
    let receivers = settings
        .urls
        .iter()
        .filter(|url| ids.insert(webhook_receiver_id(url.as_str())))
        .map(|url| {
            let mut shown = url.clone();
            shown.set_query(None);
            let _ = shown.set_username("");
            let _ = shown.set_password(None);
            Receiver {
                id: webhook_receiver_id(url.as_str()),
                url: url.clone(),
                shown: shown.to_string(),
            }
        })
        .collect();
    let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let leases = LeaseSet {
        kind: "webhook shard",
        parts: WEBHOOK_SHARDS,
        lease_key: |store, n| store.keys().webhook_shard(n).lease,
        replicas_key: store.keys().webhook_replicas(),
        token: token.clone(),
        ttl: options.lease_ttl,
    };
    let shared = Arc::new(Shared {
        leases,
        sender: Sender::new(&settings.secret, settings.timeout),
        store,
        options,
        token,
        receivers,
        warned_gaps: Mutex::new(HashSet::new()),
        settings,
    });
    tracing::info!(
        receivers = shared.receivers.len(),
        events = ?shared.settings.events,
        token = %shared.token,
        "webhook delivery started"
    );
    let ttl = shared.options.lease_ttl;
    let mut lease_tick = tokio::time::interval((ttl / 3).max(Duration::from_millis(10)));
    lease_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut poll_tick = tokio::time::interval(shared.settings.poll_interval);
    poll_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut held: HashMap<u16, HeldShard> = HashMap::new();
    let mut in_flight: HashMap<String, u16> = HashMap::new();
    let mut visits = Visits::new();
    // Set when a poll ran out of permits with rooms left to visit: once a quarter of
    // the permits are free again, poll at once instead of leaving them idle until the
    // next tick.
    let mut starved = false;
    let mut round = 0usize;
    while !*shutdown.borrow() {
        tokio::select! {
            _ = lease_tick.tick() => upkeep(&shared, &mut held, &in_flight).await,
            _ = poll_tick.tick() => {
                round = round.wrapping_add(1);
                starved = poll(&shared, &mut held, &mut in_flight, &mut visits, &permits, round).await;
            }
            Some(done) = visits.set.join_next_with_id() => {
                let done = visits.ended(done);
                finish(done, &shared, &mut held, &mut in_flight);
                // A quarter of the permits free: worth a listing (one call per shard).
                if starved && permits.available_permits() * 4 >= shared.settings.concurrency {
                    round = round.wrapping_add(1);
                    starved = poll(&shared, &mut held, &mut in_flight, &mut visits, &permits, round).await;
                }
            }
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break; // the stop signal's sender is gone: stop as if told
                }
            }
        }
    }
    // Graceful stop: let visits under way finish (briefly), then hand over.
    let deadline = tokio::time::sleep(SHUTDOWN_WAIT);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = visits.set.join_next_with_id() => match next {
                Some(done) => {
                    let done = visits.ended(done);
                    finish(done, &shared, &mut held, &mut in_flight);
                }
                None => break,
            },
            _ = &mut deadline => {
                tracing::warn!(visits = visits.set.len(), "webhook deliveries under way abandoned at shutdown; the next holder of their shards sends them again");
                visits.set.abort_all();
                break;
            }
        }
    }
    shared.leases.release_all(&shared.store, &held).await;
    metrics::gauge!("liveroom_webhook_shards_held").set(0.0);
    tracing::info!(
        shards = held.len(),
        "webhook delivery stopped; shard leases released"
    );
}

/// What a visit task yields: its shard, room, the mark it saw, how it ended.
type VisitDone = (u16, String, i64, Visit);

/// The visits under way, with the room of each task (to free it whatever happens).
struct Visits {
    set: JoinSet<VisitDone>,
    rooms: HashMap<tokio::task::Id, String>,
}

impl HeldPart for HeldShard {
    fn releasing(&self) -> bool {
        self.releasing
    }
    fn set_releasing(&mut self) {
        self.releasing = true;
    }
}

impl Visits {
    fn new() -> Self {
        Self {
            set: JoinSet::new(),
            rooms: HashMap::new(),
        }
    }

    /// A finished task: its yield, or (panicked, aborted) just its room.
    fn ended(
        &mut self,
        done: Result<(tokio::task::Id, VisitDone), tokio::task::JoinError>,
    ) -> Result<VisitDone, String> {
        match done {
            Ok((id, v)) => {
                self.rooms.remove(&id);
                Ok(v)
            }
            Err(e) => {
                if e.is_panic() {
                    tracing::error!(error = %e, "webhook visit panicked; its room is visited again");
                }
                Err(self.rooms.remove(&e.id()).unwrap_or_default())
            }
        }
    }
}

/// A visit ended: the room is free again; its shard remembers when to look again.
fn finish(
    done: Result<VisitDone, String>,
    shared: &Shared,
    held: &mut HashMap<u16, HeldShard>,
    in_flight: &mut HashMap<String, u16>,
) {
    let (shard, live_id, mark_ms, visit) = match done {
        Ok(v) => v,
        Err(live_id) => {
            in_flight.remove(&live_id);
            return;
        }
    };
    in_flight.remove(&live_id);
    let Some(state) = held.get_mut(&shard) else {
        return;
    };
    match visit {
        Visit::Removed | Visit::Again => {
            state.quiet.remove(&live_id);
        }
        Visit::Quiet { until_ms } => {
            if state.quiet.len() > 100_000 {
                state.quiet.clear();
            }
            state.quiet.insert(live_id, (mark_ms, until_ms));
        }
        Visit::LeaseLost => {
            tracing::warn!(
                shard,
                token = %shared.token,
                "webhook shard lease lost: another replica delivers its rooms now"
            );
            held.remove(&shard);
            metrics::gauge!("liveroom_webhook_shards_held").set(held.len() as f64);
        }
    }
}

/// Lease upkeep (every third of the lease TTL): the shared shard leases
/// (src/leases.rs), a shard with visits under way handed over once they end; then
/// the gauges.
async fn upkeep(
    shared: &Shared,
    held: &mut HashMap<u16, HeldShard>,
    in_flight: &HashMap<String, u16>,
) {
    let store = &shared.store;
    let busy: HashSet<u16> = in_flight.values().copied().collect();
    shared.leases.upkeep(store, held, &busy).await;
    metrics::gauge!("liveroom_webhook_shards_held").set(held.len() as f64);
    let counts = futures::future::join_all(held.keys().map(|s| store.webhook_due_count(*s))).await;
    if counts.iter().all(Result::is_ok) {
        let due: u64 = counts.into_iter().map(|c| c.unwrap_or(0)).sum();
        metrics::gauge!("liveroom_webhook_rooms_due").set(due as f64);
    }
}

/// One poll: lists a page of due rooms in every held shard and starts a visit for
/// each room not under way nor quiet, while permits last. The shards take turns at
/// going first (`round`), and a shard's next page starts at the first room this
/// poll did not get to, so no room waits for the listing to wrap around. Returns
/// whether it ran out of permits with rooms left (then the next visit to end polls
/// again).
async fn poll(
    shared: &Arc<Shared>,
    held: &mut HashMap<u16, HeldShard>,
    in_flight: &mut HashMap<String, u16>,
    visits: &mut Visits,
    permits: &Arc<Semaphore>,
    round: usize,
) -> bool {
    if permits.available_permits() == 0 {
        return true;
    }
    let mut shards: Vec<(u16, usize)> = held
        .iter()
        .filter(|(_, s)| !s.releasing)
        .map(|(n, s)| (*n, s.offset))
        .collect();
    shards.sort_unstable();
    if !shards.is_empty() {
        let turn = round % shards.len();
        shards.rotate_left(turn);
    }
    let pages = futures::future::join_all(
        shards
            .iter()
            .map(|(n, offset)| shared.store.webhook_due(*n, *offset, ROOMS_PER_PAGE)),
    )
    .await;
    let listed_at = Instant::now();
    for ((shard, _), page) in shards.into_iter().zip(pages) {
        let (now_ms, rooms) = match page {
            Ok(page) => page,
            Err(err) => {
                redis_trouble(
                    "listing rooms with undelivered webhooks failed; retrying",
                    Some(shard),
                    &err,
                );
                continue;
            }
        };
        let Some(state) = held.get_mut(&shard) else {
            continue;
        };
        let page_start = state.offset;
        state.offset = if rooms.len() < ROOMS_PER_PAGE {
            0
        } else {
            page_start + ROOMS_PER_PAGE
        };
        for (rank, room) in rooms.into_iter().enumerate() {
            if in_flight.contains_key(&room.live_id) {
                continue;
            }
            if let Some((mark, until)) = state.quiet.get(&room.live_id)
                && *mark == room.mark_ms
                && now_ms < *until
            {
                continue;
            }
            if webhook_shard(&room.live_id) != shard {
                continue; // not ours to handle (written by something else)
            }
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                // Out of permits: this shard's next page starts at this room.
                state.offset = page_start + rank;
                return true;
            };
            in_flight.insert(room.live_id.clone(), shard);
            let shared = shared.clone();
            let room_id = room.live_id.clone();
            let handle = visits.set.spawn(async move {
                let _permit = permit;
                let mark = room.mark_ms;
                let live_id = room.live_id.clone();
                let visit = match visit(&shared, shard, room, now_ms, listed_at).await {
                    Ok(v) => v,
                    Err(err) => {
                        redis_trouble(
                            "webhook delivery interrupted by a Redis error; retrying",
                            Some(shard),
                            &err,
                        );
                        Visit::Again
                    }
                };
                (shard, live_id, mark, visit)
            });
            visits.rooms.insert(handle.id(), room_id);
        }
    }
    false
}

/// Visits one due room (see the module docs).
async fn visit(
    shared: &Shared,
    shard: u16,
    room: DueRoom,
    listed_now_ms: i64,
    listed_at: Instant,
) -> Result<Visit, StoreError> {
    let store = &shared.store;
    let live_id = room.live_id.as_str();
    let fields: Vec<String> = shared
        .receivers
        .iter()
        .map(|r| format!("{}|{live_id}", r.id))
        .collect();
    let (cursors, retries) = store.webhook_state(shard, &fields).await?;
    let now = || listed_now_ms + listed_at.elapsed().as_millis() as i64;
    let mut caught_up = true;
    let mut more = false;
    let mut wait_until = i64::MAX;
    let mut final_cursors = Vec::new();
    // The receivers side by side, each in its own order: one slow receiver does not
    // hold the others back beyond the visit's time budget.
    let mut sends = Vec::new();
    for (i, receiver) in shared.receivers.iter().enumerate() {
        if let Some(retry) = retries[i]
            && retry.next_ms > now()
        {
            caught_up = false;
            wait_until = wait_until.min(retry.next_ms);
            continue;
        }
        sends.push(deliver_to(
            shared,
            shard,
            receiver,
            live_id,
            &fields[i],
            cursors[i].clone(),
            retries[i],
            &now,
        ));
    }
    for end in futures::future::join_all(sends).await {
        match end? {
            ReceiverEnd::CaughtUp { cursor } => final_cursors.push(cursor),
            ReceiverEnd::RetryAt(ms) => {
                caught_up = false;
                wait_until = wait_until.min(ms);
            }
            ReceiverEnd::More => {
                caught_up = false;
                more = true;
            }
            ReceiverEnd::LeaseLost => return Ok(Visit::LeaseLost),
        }
    }
    if more {
        return Ok(Visit::Again);
    }
    if !caught_up {
        return Ok(Visit::Quiet {
            until_ms: wait_until,
        });
    }
    let grace_ms = shared.options.grace.as_millis() as i64;
    if room.mark_ms >= listed_now_ms - grace_ms {
        // Caught up, but an event announced by this mark may still be on its way
        // (Cluster: the mark precedes its step): look again once the grace is over.
        return Ok(Visit::Quiet {
            until_ms: room.mark_ms + grace_ms + 1,
        });
    }
    let finished = match store.webhook_last_event(live_id).await? {
        None => true,
        Some(last) => {
            last.event == "room_deleted"
                && final_cursors
                    .iter()
                    .all(|c| c.as_deref() == Some(last.stream_id()))
        }
    };
    let removed = store
        .webhook_unmark(
            shard,
            &shared.token,
            live_id,
            room.mark_ms,
            finished,
            &fields,
        )
        .await?;
    Ok(if removed {
        Visit::Removed
    } else {
        Visit::Again
    })
}

/// Sends receiver `receiver` the events of `live_id` after its cursor, in order,
/// until caught up, a failure, or the read limit.
#[allow(clippy::too_many_arguments)]
async fn deliver_to(
    shared: &Shared,
    shard: u16,
    receiver: &Receiver,
    live_id: &str,
    field: &str,
    mut cursor: Option<String>,
    retry: Option<RetryState>,
    now: &(dyn Fn() -> i64 + Sync),
) -> Result<ReceiverEnd, StoreError> {
    let store = &shared.store;
    let token = shared.token.as_str();
    // The cursor moved over unselected events but not yet written.
    let mut unwritten = false;
    let mut retry = retry;
    let mut gap_checked = false;
    let mut caught_up = false;
    let started = Instant::now();
    'reads: for _ in 0..READS_PER_VISIT {
        let events = store
            .webhook_events(live_id, cursor.as_deref(), EVENTS_PER_READ)
            .await?;
        if !events.is_empty() && !gap_checked {
            gap_checked = true;
            if let Some(at) = cursor.as_deref()
                && let Some(gap) = store.webhook_stream_gap(live_id, at).await?
            {
                metrics::counter!("liveroom_webhook_events_trimmed_total").increment(1);
                let first = shared
                    .warned_gaps
                    .lock()
                    .map(|mut w| {
                        if w.len() > 10_000 {
                            w.clear();
                        }
                        w.insert(format!("{}|{live_id}", receiver.id))
                    })
                    .unwrap_or(true);
                if first {
                    tracing::warn!(
                        live_id,
                        receiver = %receiver.shown,
                        cursor = at,
                        oldest_kept = %gap.first_kept,
                        "webhook events were trimmed from the room's stream (it keeps about 1,000) before this receiver got them: they are lost to it; delivery continues from the oldest kept"
                    );
                }
                if !store
                    .webhook_progress(shard, token, field, &gap.skip_to, retry)
                    .await?
                {
                    return Ok(ReceiverEnd::LeaseLost);
                }
                cursor = Some(gap.skip_to);
                unwritten = false;
            }
        }
        if events.is_empty() {
            caught_up = true;
            break;
        }
        let full = events.len() == EVENTS_PER_READ;
        for event in events {
            let stream_id = event.stream_id().to_owned();
            if !shared.settings.wants(&event.event) {
                cursor = Some(stream_id);
                unwritten = true;
                continue;
            }
            match send(shared, receiver, &event).await {
                (Ok(()), _) => {
                    if !store
                        .webhook_progress(shard, token, field, &stream_id, None)
                        .await?
                    {
                        return Ok(ReceiverEnd::LeaseLost);
                    }
                    cursor = Some(stream_id);
                    unwritten = false;
                    retry = None;
                    if started.elapsed() > VISIT_BUDGET {
                        break 'reads; // the rest at the next visit
                    }
                }
                (Err(error), body) => {
                    let now_ms = now();
                    let attempts = retry.map_or(0, |r| r.attempts) + 1;
                    let max_age_ms = shared.settings.max_age.as_millis() as i64;
                    if now_ms - event.created_at > max_age_ms {
                        store
                            .webhook_dead_letter(
                                receiver.url.as_str(),
                                &event,
                                &body,
                                attempts,
                                &error,
                            )
                            .await?;
                        metrics::counter!("liveroom_webhook_dead_letters_total").increment(1);
                        tracing::warn!(
                            live_id,
                            receiver = %receiver.shown,
                            event_id = %event.id,
                            event = %event.event,
                            attempts,
                            error = %error,
                            "webhook event undelivered past LIVEROOM_WEBHOOK_MAX_AGE: moved to the dead-letter stream (`liveroom webhooks redeliver` sends it again); delivery continues with the next event"
                        );
                        if !store
                            .webhook_progress(shard, token, field, &stream_id, None)
                            .await?
                        {
                            return Ok(ReceiverEnd::LeaseLost);
                        }
                        cursor = Some(stream_id);
                        unwritten = false;
                        retry = None;
                        continue;
                    }
                    let pause = backoff(
                        shared.options.backoff_base,
                        shared.options.backoff_cap,
                        attempts,
                    );
                    let next_ms = now_ms + pause.as_millis() as i64;
                    let state = RetryState {
                        attempts,
                        next_ms,
                        first_failure_ms: retry.map_or(now_ms, |r| r.first_failure_ms),
                    };
                    let moved = if unwritten {
                        cursor.as_deref().unwrap_or_default()
                    } else {
                        ""
                    };
                    if !store
                        .webhook_progress(shard, token, field, moved, Some(state))
                        .await?
                    {
                        return Ok(ReceiverEnd::LeaseLost);
                    }
                    if attempts == 1 {
                        tracing::warn!(
                            live_id,
                            receiver = %receiver.shown,
                            event_id = %event.id,
                            error = %error,
                            retry_in_ms = pause.as_millis() as u64,
                            "webhook delivery failed; retrying with backoff (the room's later events wait, to keep their order)"
                        );
                    } else {
                        tracing::debug!(
                            live_id,
                            receiver = %receiver.shown,
                            event_id = %event.id,
                            error = %error,
                            attempts,
                            retry_in_ms = pause.as_millis() as u64,
                            "webhook delivery failed again"
                        );
                    }
                    return Ok(ReceiverEnd::RetryAt(next_ms));
                }
            }
        }
        if !full {
            caught_up = true;
            break;
        }
    }
    if unwritten && !write_cursor(shared, shard, field, cursor.as_deref(), retry).await? {
        return Ok(ReceiverEnd::LeaseLost);
    }
    Ok(if caught_up {
        ReceiverEnd::CaughtUp { cursor }
    } else {
        ReceiverEnd::More
    })
}

/// Writes a cursor moved over unselected events (fenced); false when the lease is lost.
async fn write_cursor(
    shared: &Shared,
    shard: u16,
    field: &str,
    cursor: Option<&str>,
    retry: Option<RetryState>,
) -> Result<bool, StoreError> {
    let Some(cursor) = cursor else {
        return Ok(true);
    };
    shared
        .store
        .webhook_progress(shard, &shared.token, field, cursor, retry)
        .await
}

/// One attempt: the body (for a dead letter) and whether the receiver took it.
async fn send(
    shared: &Shared,
    receiver: &Receiver,
    event: &RoomEvent,
) -> (Result<(), String>, String) {
    let body = serde_json::to_string(event).unwrap_or_default();
    let started = Instant::now();
    let outcome = shared.sender.send(&receiver.url, &event.id, &body).await;
    metrics::histogram!("liveroom_webhook_delivery_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    match outcome {
        Outcome::Delivered => {
            metrics::counter!("liveroom_webhook_deliveries_total", "outcome" => "delivered")
                .increment(1);
            (Ok(()), body)
        }
        Outcome::Failed(error) => {
            metrics::counter!("liveroom_webhook_deliveries_total", "outcome" => "failed")
                .increment(1);
            (Err(error), body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap_with_full_jitter() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(1);
        for attempts in 1..40 {
            let ceiling = (base * 2u32.pow((attempts - 1).min(20))).min(cap);
            for _ in 0..50 {
                assert!(backoff(base, cap, attempts) <= ceiling, "{attempts}");
            }
        }
        // Full jitter: not always the ceiling.
        let pauses: HashSet<Duration> = (0..50).map(|_| backoff(base, cap, 5)).collect();
        assert!(pauses.len() > 1);
    }

    #[test]
    fn the_default_timings_are_the_documented_ones() {
        let config = ServeConfig::defaults();
        let o = DeliverOptions::from_config(&config, "r");
        assert_eq!(o.grace, Duration::from_secs(30));
        assert_eq!(o.lease_ttl, Duration::from_secs(10));
        assert_eq!(o.backoff_base, Duration::from_secs(1));
        assert_eq!(o.backoff_cap, Duration::from_secs(300));
    }
}
