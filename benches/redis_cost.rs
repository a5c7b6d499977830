//! Redis cost of the room operations: Redis CPU per heartbeat, join and
//! leave (µs, from `INFO commandstats` and from the server's total CPU), and Redis
//! memory per room and per present member — through the real scripts (`Store`).
//!
//! Run: `cargo bench --bench redis_cost` (starts its own redis-server), or
//! `cargo bench --bench redis_cost -- ROOMS USERS`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use liveroom::model::CreateRoomBody;
use liveroom::redis_child::RedisChild;
use liveroom::store::{ProfileUpdate, Store, UserRef};

mod common;
use common::{cpu_s, info, memory};

/// Total `usec` of every command in `INFO commandstats` (nested script commands are
/// counted inside EVALSHA too, so only top-level commands are summed).
async fn command_usec(store: &Store) -> (f64, HashMap<String, (u64, f64)>) {
    let stats = info(store, "commandstats").await;
    let mut per = HashMap::new();
    for (k, v) in stats {
        let Some(name) = k.strip_prefix("cmdstat_") else {
            continue;
        };
        let fields: HashMap<&str, &str> = v.split(',').filter_map(|f| f.split_once('=')).collect();
        per.insert(
            name.to_owned(),
            (
                fields["calls"].parse().unwrap(),
                fields["usec"].parse().unwrap(),
            ),
        );
    }
    let top: f64 = [
        "evalsha", "eval", "hgetall", "exists", "hget", "ping", "script",
    ]
    .iter()
    .filter_map(|c| per.get(*c))
    .map(|(_, u)| u)
    .sum();
    (top, per)
}

async fn reset(store: &Store) {
    let mut conn = store.connection();
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
}

fn claims(user: &str) -> UserRef {
    UserRef {
        user_id: user.to_owned(),
        nick: format!("n{user}"),
        avatar: String::new(),
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rooms = *args.first().unwrap_or(&1_000);
    let users = *args.get(1).unwrap_or(&100_000);
    let redis = RedisChild::start(&[]).expect("redis-server");
    let store = Store::connect(
        &redis.url(),
        "lr",
        Duration::from_secs(60),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    println!("redis cost bench: {rooms} rooms, {users} users");
    let zone = chrono::FixedOffset::east_opt(0).unwrap();

    let mem0 = memory(&store).await;
    let mut ids = Vec::with_capacity(rooms);
    for chunk in (0..rooms).collect::<Vec<_>>().chunks(200) {
        let created = try_join_all(chunk.iter().map(|r| {
            let body = CreateRoomBody {
                title: Some(format!("房间 room number {r}")),
                ..Default::default()
            };
            let room = body.validate(&zone).unwrap();
            let store = &store;
            async move {
                let id = liveroom::routes::rooms::new_live_id();
                store
                    .create_room(&id, &claims(&format!("anchor{r}")), &room)
                    .await?;
                store
                    .start_room(&id, &claims(&format!("anchor{r}")))
                    .await?;
                Ok::<_, liveroom::store::StoreError>(id)
            }
        }))
        .await
        .unwrap();
        ids.extend(created);
    }
    let mem_rooms = memory(&store).await;

    // Profiles first, so the join phase measures joins, not first-sight profile creation.
    for chunk in (0..users).collect::<Vec<_>>().chunks(1000) {
        try_join_all(chunk.iter().map(|u| {
            let store = &store;
            async move {
                store
                    .ensure_profile(&claims(&format!("u{u}")), &ProfileUpdate::default())
                    .await
            }
        }))
        .await
        .unwrap();
    }
    let mem_profiles = memory(&store).await;

    let mut mem_members = 0.0;
    println!(
        "| operation | Redis CPU per op (EVALSHA, commandstats) | all commands per op | server CPU per op | ops/s |"
    );
    println!("|---|---|---|---|---|");
    for step in ["join", "heartbeat", "leave"] {
        reset(&store).await;
        let cpu0 = cpu_s(&store).await;
        let started = Instant::now();
        for chunk in (0..users).collect::<Vec<_>>().chunks(1000) {
            try_join_all(chunk.iter().map(|u| {
                let store = &store;
                let id = &ids[u % rooms];
                let user = format!("u{u}");
                async move {
                    match step {
                        "join" => store.join_room(id, &claims(&user)).await.map(|_| ()),
                        "heartbeat" => store.heartbeat(id, &user).await.map(|_| ()),
                        _ => store.leave_room(id, &user).await,
                    }
                }
            }))
            .await
            .unwrap();
        }
        let took = started.elapsed();
        let cpu = cpu_s(&store).await - cpu0;
        let (usec, per) = command_usec(&store).await;
        let evalsha = per.get("evalsha").copied().unwrap_or((0, 0.0));
        if step == "join" {
            mem_members = memory(&store).await;
        }
        if std::env::var_os("BENCH_DETAIL").is_some() {
            let m = info(&store, "memory").await;
            eprintln!(
                "  {step}: used_memory_lua {} number_of_cached_scripts {}",
                m.get("used_memory_lua").map(String::as_str).unwrap_or("?"),
                m.get("number_of_cached_scripts")
                    .map(String::as_str)
                    .unwrap_or("?")
            );
            let mut rows: Vec<_> = per.iter().collect();
            rows.sort_by(|a, b| b.1.1.partial_cmp(&a.1.1).unwrap());
            for (cmd, (calls, usec)) in rows.iter().take(12) {
                eprintln!(
                    "  {step}: {cmd:10} {calls:>8} calls {:.2} µs/op",
                    usec / users as f64
                );
            }
        }
        println!(
            "| {step} | {:.2} µs | {:.2} µs | {:.2} µs | {:.0}/s |",
            evalsha.1 / evalsha.0.max(1) as f64,
            usec / users as f64,
            cpu * 1e6 / users as f64,
            users as f64 / took.as_secs_f64()
        );
    }
    println!();
    println!(
        "| Redis memory per room (hash, presence/joined/uv keys, indexes, title terms) | {:.0} B |",
        (mem_rooms - mem0) / rooms as f64
    );
    println!(
        "| Redis memory per user profile | {:.0} B |",
        (mem_profiles - mem_rooms) / users as f64
    );
    println!(
        "| Redis memory per present member (presence + join order + UV, room pointer) | {:.0} B |",
        (mem_members - mem_profiles) / users as f64
    );
}
