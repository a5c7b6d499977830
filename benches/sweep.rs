//! Sweep benchmark: 100,000 live rooms, 1,000,000 present members, 10% of
//! them stale; one full reaper sweep. Reports the sweep's wall time, the Redis CPU it
//! used (from `INFO`), and Redis memory per member and per room.
//!
//! Run: `cargo bench --bench sweep` (starts its own redis-server), or
//! `cargo bench --bench sweep -- ROOMS MEMBERS_PER_ROOM STALE_PERCENT` for other sizes.

use std::time::{Duration, Instant};

use liveroom::reaper::sweep_once;
use liveroom::redis_child::RedisChild;
use liveroom::store::Store;

mod common;
use common::{cpu_s as redis_cpu_s, memory as used_memory};

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
        Duration::from_secs(15),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let keys = store.keys().clone();
    let mut conn = store.connection();
    let now_ms: i64 = {
        let (s, us): (i64, i64) = redis::cmd("TIME").query_async(&mut conn).await.unwrap();
        s * 1000 + us / 1000
    };
    println!(
        "sweep bench: {rooms} live rooms, {members} members ({per_room}/room), {stale_pct}% stale"
    );

    // Rooms first (measured apart from members).
    let base_mem = used_memory(&store).await;
    let started = Instant::now();
    for chunk in (0..rooms).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = redis::pipe();
        for r in chunk {
            let id = format!("live_{r:020x}");
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
        }
        pipe.query_async::<()>(&mut conn).await.unwrap();
    }
    let rooms_mem = used_memory(&store).await;
    println!(
        "  created rooms in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Members: presence (last beat) and join order; anchor a{r} present and fresh.
    let stale_every = 100u64.checked_div(stale_pct).unwrap_or(u64::MAX);
    let mut stale_total = 0u64;
    let started = Instant::now();
    for chunk in (0..rooms).collect::<Vec<_>>().chunks(500) {
        let mut pipe = redis::pipe();
        for r in chunk {
            let rk = keys.room(&format!("live_{r:020x}"));
            let mut presence = Vec::with_capacity(per_room as usize);
            let mut joined = Vec::with_capacity(per_room as usize);
            for m in 0..per_room {
                let user = if m == 0 {
                    format!("a{r}")
                } else {
                    format!("u{r}_{m}")
                };
                let n = r * per_room + m;
                let stale = m != 0 && n % stale_every == 1;
                stale_total += u64::from(stale);
                let beat = if stale {
                    now_ms - 60_000
                } else {
                    now_ms + 3_600_000
                };
                presence.push((beat, user.clone()));
                joined.push((now_ms, user));
            }
            pipe.cmd("ZADD").arg(&rk.presence).arg(&presence).ignore();
            pipe.cmd("ZADD").arg(&rk.joined).arg(&joined).ignore();
        }
        pipe.query_async::<()>(&mut conn).await.unwrap();
        if chunk[0] % 20_000 == 0 {
            println!("  members: {} of {members}", chunk[0] * per_room);
        }
    }
    let members_mem = used_memory(&store).await;
    println!(
        "  added members in {:.1} s ({stale_total} stale)",
        started.elapsed().as_secs_f64()
    );

    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let cpu_before = redis_cpu_s(&store).await;
    let started = Instant::now();
    let report = sweep_once(&store, Duration::from_secs(600), || true)
        .await
        .unwrap();
    let took = started.elapsed();
    let cpu = redis_cpu_s(&store).await - cpu_before;
    assert_eq!(
        report.members_expired, stale_total,
        "sweep must remove exactly the stale members"
    );

    let started = Instant::now();
    let cpu_before = redis_cpu_s(&store).await;
    let steady = sweep_once(&store, Duration::from_secs(600), || true)
        .await
        .unwrap();
    let took_steady = started.elapsed();
    let cpu_steady = redis_cpu_s(&store).await - cpu_before;

    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| rooms visited / members expired | {} / {} |",
        report.rooms_visited, report.members_expired
    );
    println!(
        "| sweep wall time (10% stale) | {:.2} s |",
        took.as_secs_f64()
    );
    println!(
        "| Redis CPU in that sweep | {:.2} s ({:.1} µs per room) |",
        cpu,
        cpu * 1e6 / rooms as f64
    );
    println!(
        "| sweep wall time (nothing stale) | {:.2} s, Redis CPU {:.2} s, {} expired |",
        took_steady.as_secs_f64(),
        cpu_steady,
        steady.members_expired
    );
    println!(
        "| Redis memory per room (hash + index entries) | {:.0} B |",
        (rooms_mem - base_mem) / rooms as f64
    );
    println!(
        "| Redis memory per member (presence + join order) | {:.0} B |",
        (members_mem - rooms_mem) / members as f64
    );
}
