//! Sweep benchmark: 100,000 live rooms, 1,000,000 present members (10 per room),
//! the reaper's deadline index written as production writes it (every member's
//! `ZADD LT` of last beat + timeout into its room's partition, as `make_present` in
//! `lua/lib.lua` does). Measures, by Redis's own accounting:
//!
//! 1. nothing stale: the Redis CPU of one sweep interval (all 16 partitions swept
//!    once, as the replicas together do every `LIVEROOM_REAPER_INTERVAL`), and for
//!    comparison a full sweep of every room (what each interval cost before);
//! 2. 10% stale (one member in most rooms, whose deadlines pass a few seconds after
//!    the fixture is built): sweeps every second until every stale member is gone:
//!    how late after its deadline, and the Redis CPU in total;
//! 3. the cost of a visit that finds nothing stale (rooms made due while their
//!    members keep beating), and from it the steady-state cost when every member
//!    beats every 5 s with the default 15 s timeout (each room is then due about
//!    every 10 s).
//!
//! The fixture's member timeout is 300 s (so fresh members stay fresh while the
//! fixture is built and measured); costs do not depend on it.
//! Redis is pinned to CPU 0 and this client to CPU 1 (`taskset`) when there are two.
//!
//! Run: `cargo bench --bench sweep` (starts its own redis-server), or
//! `cargo bench --bench sweep -- ROOMS MEMBERS_PER_ROOM STALE_PERCENT` for other sizes.

use std::time::{Duration, Instant};

use futures::future::join_all;
use liveroom::reaper::{SweepReport, sweep_once, sweep_partition};
use liveroom::redis_child::RedisChild;
use liveroom::store::Store;
use liveroom::store::keys::{REAPER_PARTITIONS, reaper_partition};

mod common;
use common::{cpu_s as redis_cpu_s, info, memory as used_memory, pin_cores};

/// The fixture's member timeout (ms).
const TIMEOUT_MS: i64 = 300_000;
/// Stale members' deadlines fall this long after they are written (ms).
const STALE_LEAD_MS: i64 = 4_000;
/// The sweep interval (`LIVEROOM_REAPER_INTERVAL`'s default).
const INTERVAL: Duration = Duration::from_secs(1);
/// The anchor close-after (`LIVEROOM_ANCHOR_CLOSE_AFTER`'s default).
const CLOSE_AFTER: Duration = Duration::from_secs(600);

async fn redis_now(conn: &mut liveroom::redis_conn::RedisConn) -> i64 {
    let (s, us): (i64, i64) = redis::cmd("TIME").query_async(conn).await.unwrap();
    s * 1000 + us / 1000
}

/// `INFO commandstats` as command → (calls, µs). Commands that scripts call are
/// counted there too, inside their script's own time.
async fn command_stats(store: &Store) -> std::collections::HashMap<String, (f64, f64)> {
    info(store, "commandstats")
        .await
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("cmdstat_")?;
            let field = |f: &str| {
                v.split(',')
                    .find_map(|x| x.strip_prefix(f))
                    .and_then(|u| u.parse::<f64>().ok())
            };
            Some((name.to_owned(), (field("calls=")?, field("usec=")?)))
        })
        .collect()
}

/// Redis CPU (process, s) and time inside scripts (`EVALSHA` + `EVAL`, s) so far.
async fn cpu(store: &Store) -> (f64, f64) {
    let stats = command_stats(store).await;
    let scripts: f64 = ["evalsha", "eval"]
        .iter()
        .filter_map(|c| stats.get(*c))
        .map(|(_, us)| us)
        .sum();
    (redis_cpu_s(store).await, scripts / 1e6)
}

/// One sweep interval: every partition's due rooms, side by side (as the replicas
/// holding them do).
async fn sweep_all(store: &Store) -> SweepReport {
    let reports =
        join_all((0..REAPER_PARTITIONS).map(|p| sweep_partition(store, p, CLOSE_AFTER, || true)))
            .await;
    let mut total = SweepReport::default();
    for r in reports {
        let r = r.unwrap();
        total.rooms_visited += r.rooms_visited;
        total.members_expired += r.members_expired;
        total.rooms_failed += r.rooms_failed;
    }
    total
}

fn room_id(r: u64) -> String {
    format!("live_{r:020x}")
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rooms = *args.first().unwrap_or(&100_000);
    let per_room = *args.get(1).unwrap_or(&10);
    let stale_pct = *args.get(2).unwrap_or(&10);
    let members = rooms * per_room;
    let redis = RedisChild::start(&[]).expect("redis-server");
    let store = Store::connect(
        &redis.url(),
        "lr",
        Duration::from_millis(TIMEOUT_MS as u64),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let pinned = pin_cores(&store).await;
    let keys = store.keys().clone();
    let mut conn = store.connection();
    println!(
        "sweep bench: {rooms} live rooms, {members} members ({per_room}/room), {stale_pct}% stale"
    );
    println!("  {pinned}");

    // Rooms first (measured apart from members).
    let base_mem = used_memory(&store).await;
    let started = Instant::now();
    let now_ms = redis_now(&mut conn).await;
    for chunk in (0..rooms).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = redis::pipe();
        for r in chunk {
            let id = room_id(*r);
            let rk = keys.room(&id);
            pipe.cmd("HSET").arg(&rk.room).arg(&[
                ("live_id", id.as_str()),
                ("anchor", &format!("a{r}")),
                ("title", "benchmark room"),
                ("notice", ""),
                ("cover_url", ""),
                ("extends", "{}"),
                ("pk_id", ""),
                ("chat_id", &r.to_string()),
                ("live_status", "1"),
                ("created_ms", &now_ms.to_string()),
                ("start_time", &(now_ms / 1000).to_string()),
                ("end_time", "0"),
                ("publish_expire_at", "0"),
                ("pv", "0"),
            ]);
            pipe.cmd("ZADD")
                .arg(keys.active_index())
                .arg(now_ms)
                .arg(&id)
                .ignore();
            pipe.cmd("ZADD")
                .arg(keys.live_index())
                .arg(now_ms)
                .arg(&id)
                .ignore();
            // Its event stream, as create and start leave it (a sweep's events append).
            pipe.cmd("XADD")
                .arg(&rk.events)
                .arg("MAXLEN")
                .arg("~")
                .arg(1000)
                .arg("*")
                .arg(&[
                    ("event", "room_started"),
                    ("created_at", &now_ms.to_string()),
                    ("live_id", &id),
                    ("title", "benchmark room"),
                    ("anchor", &format!("a{r}")),
                    ("live_status", "1"),
                    ("online_count", "0"),
                ])
                .ignore();
        }
        pipe.query_async::<()>(&mut conn).await.unwrap();
    }
    redis::cmd("SET")
        .arg(keys.reaper_indexed())
        .arg(1)
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let rooms_mem = used_memory(&store).await;
    println!(
        "  created rooms in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Members as joins write them: presence (last beat, Redis time at the write),
    // join order, and the room's deadline in its partition (ZADD LT beat + timeout).
    // The stale ones are written last (below), so their deadlines pass after the
    // nothing-stale measurement.
    let stale_every = 100u64.checked_div(stale_pct).unwrap_or(u64::MAX);
    let is_stale = |r: u64, m: u64| m != 0 && (r * per_room + m) % stale_every == 1;
    let add_members = |rooms_chunk: &[u64], beat: i64, stale: bool| {
        let mut pipe = redis::pipe();
        let mut n = 0u64;
        for &r in rooms_chunk {
            let id = room_id(r);
            let rk = keys.room(&id);
            let due = keys.reaper_due(reaper_partition(&id));
            let mut presence = Vec::new();
            let mut joined = Vec::new();
            for m in 0..per_room {
                if is_stale(r, m) != stale {
                    continue;
                }
                let user = if m == 0 {
                    format!("a{r}")
                } else {
                    format!("u{r}_{m}")
                };
                presence.push((beat, user.clone()));
                joined.push((beat, user));
                pipe.cmd("ZADD")
                    .arg(&due)
                    .arg("LT")
                    .arg(beat + TIMEOUT_MS)
                    .arg(&id)
                    .ignore();
                n += 1;
            }
            if !presence.is_empty() {
                pipe.cmd("ZADD").arg(&rk.presence).arg(&presence).ignore();
                pipe.cmd("ZADD").arg(&rk.joined).arg(&joined).ignore();
            }
        }
        (pipe, n)
    };
    let started = Instant::now();
    let all_rooms: Vec<u64> = (0..rooms).collect();
    for chunk in all_rooms.chunks(500) {
        let beat = redis_now(&mut conn).await;
        let (pipe, _) = add_members(chunk, beat, false);
        pipe.query_async::<()>(&mut conn).await.unwrap();
        if chunk[0] % 20_000 == 0 {
            println!("  members: {} of {members}", chunk[0] * per_room);
        }
    }
    println!(
        "  added fresh members in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // 1. Nothing stale: sweep intervals back to back.
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    const IDLE_SWEEPS: u32 = 20;
    let before = cpu(&store).await;
    let started = Instant::now();
    let mut idle_visits = 0;
    for _ in 0..IDLE_SWEEPS {
        idle_visits += sweep_all(&store).await.rooms_visited;
    }
    let idle_wall = started.elapsed() / IDLE_SWEEPS;
    let after = cpu(&store).await;
    let idle_cpu = (after.0 - before.0) / f64::from(IDLE_SWEEPS);
    let idle_cmd = (after.1 - before.1) / f64::from(IDLE_SWEEPS);

    // For comparison, in the same run: a full sweep of every room (what every
    // interval cost before the deadline index: `reaper::sweep_once` visits every room
    // of the active index).
    let b = cpu(&store).await;
    let started = Instant::now();
    let full = sweep_once(&store, CLOSE_AFTER, || true).await.unwrap();
    let full_wall = started.elapsed();
    let a = cpu(&store).await;
    let full_cpu = a.0 - b.0;
    assert_eq!(full.members_expired, 0);

    // 2. Stale members: written now, deadlines STALE_LEAD_MS from now.
    let written = redis_now(&mut conn).await;
    let mut stale_total = 0;
    for chunk in all_rooms.chunks(2000) {
        let beat = redis_now(&mut conn).await + STALE_LEAD_MS - TIMEOUT_MS;
        let (pipe, n) = add_members(chunk, beat, true);
        stale_total += n;
        pipe.query_async::<()>(&mut conn).await.unwrap();
    }
    let written_end = redis_now(&mut conn).await;
    let (first_deadline, last_deadline) = (written + STALE_LEAD_MS, written_end + STALE_LEAD_MS);
    let members_mem = used_memory(&store).await;
    println!(
        "  added {stale_total} stale members in {} ms; their deadlines fall {first_deadline}..{last_deadline} (Redis ms)",
        written_end - written
    );
    let stats_before = command_stats(&store).await;
    let mut stale_cpu = (0.0, 0.0);
    let mut expired = 0;
    let mut worst_lag_ms = 0i64;
    let mut last_listing = i64::MIN;
    let mut sweeps = 0;
    let mut stale_wall = Duration::ZERO;
    let mut stale_visits = 0;
    let give_up = Instant::now() + Duration::from_secs(60);
    while expired < stale_total && Instant::now() < give_up {
        let tick = Instant::now();
        let listing = redis_now(&mut conn).await;
        let b = cpu(&store).await;
        let started = Instant::now();
        let report = sweep_all(&store).await;
        let took = started.elapsed();
        let a = cpu(&store).await;
        let end = redis_now(&mut conn).await;
        if report.members_expired > 0 {
            // Expired here: due by `listing`, not yet due at the previous listing.
            let earliest = last_listing.max(first_deadline);
            worst_lag_ms = worst_lag_ms.max(end - earliest);
            sweeps += 1;
        }
        // Every sweep from the stale members' writing until they are all gone counts.
        stale_cpu.0 += a.0 - b.0;
        stale_cpu.1 += a.1 - b.1;
        stale_wall += took;
        stale_visits += report.rooms_visited;
        expired += report.members_expired;
        last_listing = listing;
        tokio::time::sleep(INTERVAL.saturating_sub(tick.elapsed())).await;
    }
    assert_eq!(
        expired, stale_total,
        "the sweeps must remove exactly the stale members"
    );
    let stats_after = command_stats(&store).await;
    let mut profile: Vec<(String, f64, f64)> = stats_after
        .iter()
        .filter(|(k, _)| k.as_str() != "info")
        .map(|(k, (calls, us))| {
            let (c0, u0) = stats_before.get(k).copied().unwrap_or((0.0, 0.0));
            (k.clone(), calls - c0, us - u0)
        })
        .filter(|(_, calls, _)| *calls > 0.0)
        .collect();
    profile.sort_by(|a, b| b.2.total_cmp(&a.2));

    // 3. Visits that find nothing stale: 10% of the rooms made due now.
    let busy = (rooms / 10).max(1);
    for chunk in (0..busy).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = redis::pipe();
        for &r in chunk {
            let id = room_id(r);
            pipe.cmd("ZADD")
                .arg(keys.reaper_due(reaper_partition(&id)))
                .arg(0)
                .arg(&id)
                .ignore();
        }
        pipe.query_async::<()>(&mut conn).await.unwrap();
    }
    let b = cpu(&store).await;
    let noop = sweep_all(&store).await;
    let a = cpu(&store).await;
    assert_eq!(noop.members_expired, 0);
    let per_visit_us = (a.0 - b.0) * 1e6 / noop.rooms_visited.max(1) as f64;
    let per_visit_cmd_us = (a.1 - b.1) * 1e6 / noop.rooms_visited.max(1) as f64;
    // Steady state: members beating every 5 s, timeout 15 s: a visit at a room's
    // deadline finds its oldest beat at most 5 s old, so the next is >= 10 s later.
    let visits_per_s = rooms as f64 / 10.0;

    let pct = |cpu_s: f64| cpu_s * 100.0 / INTERVAL.as_secs_f64();
    println!();
    println!("| figure | target | measured |");
    println!("|---|---|---|");
    println!(
        "| nothing stale: Redis CPU per sweep interval (1 s; 16 partitions swept, mean of {IDLE_SWEEPS}) | < 1% of a core | {:.3}% ({:.2} ms process CPU; {:.3} ms wall time inside scripts; {idle_visits} rooms visited; {:.1} ms wall) |",
        pct(idle_cpu),
        idle_cpu * 1e3,
        idle_cmd * 1e3,
        idle_wall.as_secs_f64() * 1e3
    );
    println!(
        "| for comparison, same run: a full sweep visiting every room (the reaper before the deadline index, every interval) | | {:.3} s process CPU ({} rooms, {:.1} µs per room; {:.2} s wall) |",
        full_cpu,
        full.rooms_visited,
        full_cpu * 1e6 / full.rooms_visited.max(1) as f64,
        full_wall.as_secs_f64()
    );
    println!(
        "| {stale_pct}% stale ({stale_total} members): latest expiry after its deadline | within one interval (1,000 ms) | <= {worst_lag_ms} ms ({sweeps} sweeps expired them) |"
    );
    println!(
        "| {stale_pct}% stale: Redis CPU in total | <= 0.3 s | {:.3} s process CPU ({:.3} s wall time inside scripts; {stale_visits} rooms visited, {:.1} µs per room; sweep wall {:.2} s) |",
        stale_cpu.0,
        stale_cpu.1,
        stale_cpu.0 * 1e6 / stale_visits.max(1) as f64,
        stale_wall.as_secs_f64()
    );
    println!(
        "| a visit that finds nothing stale ({} rooms) | (no target) | {per_visit_us:.1} µs process CPU ({per_visit_cmd_us:.1} µs wall time inside scripts) |",
        noop.rooms_visited
    );
    println!(
        "| steady state, every member beating every 5 s (timeout 15 s): ~{visits_per_s:.0} visits/s | (no target) | {:.1}% of a core |",
        visits_per_s * per_visit_us / 1e4
    );
    println!();
    println!(
        "Profile of the {stale_pct}% stale sweeps (INFO commandstats; the commands scripts call are inside evalsha's time):"
    );
    println!("| command | calls | µs | µs per call | calls per expired member |");
    println!("|---|---|---|---|---|");
    for (name, calls, us) in profile.iter().take(16) {
        println!(
            "| {name} | {calls:.0} | {us:.0} | {:.2} | {:.2} |",
            us / calls,
            calls / stale_total.max(1) as f64
        );
    }
    println!();
    println!("| memory | measured |");
    println!("|---|---|");
    println!(
        "| Redis memory per room (hash, index entries, event stream; before members) | {:.0} B |",
        (rooms_mem - base_mem) / rooms as f64
    );
    println!(
        "| Redis memory per member (presence + join order; deadline entries per room) | {:.0} B |",
        (members_mem - rooms_mem) / members as f64
    );
}
