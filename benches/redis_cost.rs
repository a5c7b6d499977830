//! Redis cost of the room operations: Redis CPU per heartbeat, join and leave (µs,
//! from `INFO commandstats` and from the server's process CPU under load), and Redis
//! memory per room and per present member, through the real scripts (`Store`). Each
//! figure is printed next to its target. The Redis server is pinned to core 0 and
//! this load generator to core 1 (`taskset`, when it exists; the output says).
//!
//! Run: `cargo bench --bench redis_cost` (starts its own redis-server; 1,000 rooms,
//! 100,000 users), `cargo bench --bench redis_cost -- ROOMS USERS`, or
//! `cargo bench --bench redis_cost -- --big-rooms` for the cost of each operation in a
//! room of 100, 5,000 and 100,000 members (and memory per member).
//! `BENCH_DETAIL=1` adds the nested commands of every operation.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use liveroom::model::CreateRoomBody;
use liveroom::redis_child::RedisChild;
use liveroom::store::{PageFrom, PageRequest, ProfileUpdate, Store, UserRef};

mod common;
use common::{command_stats, cpu_s, info, load_note, memory, pin_cores, reset_stats};

/// Targets (the scale issue): Redis CPU per join on one Redis, µs.
const JOIN_TARGET_US: f64 = 10.0;
/// Moonshot: Redis process CPU per heartbeat under load, network included, µs.
const HEARTBEAT_MOONSHOT_US: f64 = 5.0;
/// Redis memory per present member at 5,000 and 100,000 members, bytes.
const MEMBER_TARGET_B: f64 = 150.0;

/// Commands a script runs inside `EVALSHA` (commandstats counts them there too).
const TOP_LEVEL: [&str; 8] = [
    "evalsha", "eval", "hgetall", "exists", "hget", "ping", "script", "zadd",
];

fn claims(user: &str) -> UserRef {
    UserRef {
        user_id: user.to_owned(),
        nick: format!("n{user}"),
        avatar: String::new(),
    }
}

async fn start() -> (RedisChild, Store, String) {
    let redis = RedisChild::start(&[]).expect("redis-server");
    let store = Store::connect(
        &redis.url(),
        "lr",
        Duration::from_secs(60),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let pinned = pin_cores(&store).await;
    (redis, store, pinned)
}

/// A started (live) room of anchor `anchor{n}`.
async fn live_room(store: &Store, n: usize) -> String {
    let zone = chrono::FixedOffset::east_opt(0).unwrap();
    let body = CreateRoomBody {
        title: Some(format!("房间 room number {n}")),
        ..Default::default()
    };
    let room = body.validate(&zone).unwrap();
    let id = liveroom::routes::rooms::new_live_id();
    let anchor = claims(&format!("anchor{n}"));
    store.create_room(&id, &anchor, &room).await.unwrap();
    store.start_room(&id, &anchor).await.unwrap();
    id
}

/// Profiles of users `from..to` (so joins measure joins, not first-sight profiles).
async fn profiles(store: &Store, prefix: &str, from: usize, to: usize) {
    for chunk in (from..to).collect::<Vec<_>>().chunks(1000) {
        try_join_all(chunk.iter().map(|u| async move {
            store
                .ensure_profile(&claims(&format!("{prefix}{u}")), &ProfileUpdate::default())
                .await
        }))
        .await
        .unwrap();
    }
}

/// One measured phase: `ops` operations, 1,000 in flight at a time.
struct Phase {
    /// EVALSHA µs per call (commandstats: the scripts' own time).
    script_us: f64,
    /// Top-level commands' µs per op (scripts and plain commands).
    commands_us: f64,
    /// Redis process CPU per op, µs (user + system, network included).
    process_us: f64,
    ops_per_s: f64,
    per: HashMap<String, (u64, f64)>,
}

async fn measure<F, Fut>(store: &Store, ops: usize, op: F) -> Phase
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), liveroom::store::StoreError>>,
{
    reset_stats(store).await;
    let cpu0 = cpu_s(store).await;
    let started = Instant::now();
    for chunk in (0..ops).collect::<Vec<_>>().chunks(1000) {
        try_join_all(chunk.iter().map(|i| op(*i))).await.unwrap();
    }
    let took = started.elapsed();
    let cpu = cpu_s(store).await - cpu0;
    let per = command_stats(store).await;
    let evalsha = per.get("evalsha").copied().unwrap_or((0, 0.0));
    let top: f64 = TOP_LEVEL
        .iter()
        .filter_map(|c| per.get(*c))
        .map(|(_, u)| u)
        .sum();
    Phase {
        script_us: evalsha.1 / evalsha.0.max(1) as f64,
        commands_us: top / ops as f64,
        process_us: cpu * 1e6 / ops as f64,
        ops_per_s: ops as f64 / took.as_secs_f64(),
        per,
    }
}

/// The nested commands of a phase, µs and calls per op (BENCH_DETAIL, or always for
/// the join: its profile).
fn breakdown(step: &str, phase: &Phase, ops: usize) {
    let mut rows: Vec<_> = phase
        .per
        .iter()
        .filter(|(c, _)| !["evalsha", "info", "config|resetstat"].contains(&c.as_str()))
        .collect();
    rows.sort_by(|a, b| b.1.1.partial_cmp(&a.1.1).unwrap());
    let nested: f64 = rows.iter().map(|(_, (_, u))| u).sum();
    println!(
        "  {step}: EVALSHA {:.2} µs per call, of which the commands it runs {:.2} µs:",
        phase.script_us,
        nested / ops as f64
    );
    for (cmd, (calls, usec)) in rows.iter().take(16) {
        println!(
            "    {cmd:12} {:5.2} calls/op {:6.2} µs/op",
            *calls as f64 / ops as f64,
            usec / ops as f64
        );
    }
}

fn verdict(measured: f64, target: f64) -> &'static str {
    if measured <= target { "met" } else { "NOT met" }
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--big-rooms") {
        return big_rooms().await;
    }
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rooms = *args.first().unwrap_or(&1_000);
    let users = *args.get(1).unwrap_or(&100_000);
    let (_redis, store, pinned) = start().await;
    let detail = std::env::var_os("BENCH_DETAIL").is_some();
    println!("redis cost bench: {rooms} rooms, {users} users; {pinned}");
    println!("{}", load_note());

    let mem0 = memory(&store).await;
    let mut ids = Vec::with_capacity(rooms);
    for chunk in (0..rooms).collect::<Vec<_>>().chunks(200) {
        let store = &store;
        ids.extend(futures::future::join_all(chunk.iter().map(|r| live_room(store, *r))).await);
    }
    let mem_rooms = memory(&store).await;
    profiles(&store, "u", 0, users).await;
    let mem_profiles = memory(&store).await;

    let mut mem_members = 0.0;
    let mut results = Vec::new();
    println!(
        "| operation | Redis CPU per op (EVALSHA, commandstats) | all commands per op | Redis process CPU per op (under load, network included) | ops/s |"
    );
    println!("|---|---|---|---|---|");
    for step in ["join", "heartbeat", "leave"] {
        let phase = measure(&store, users, |u| {
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
        })
        .await;
        if step == "join" {
            mem_members = memory(&store).await;
        }
        println!(
            "| {step} | {:.2} µs | {:.2} µs | {:.2} µs | {:.0}/s |",
            phase.script_us, phase.commands_us, phase.process_us, phase.ops_per_s
        );
        results.push((step, phase));
    }
    println!();
    for (step, phase) in &results {
        if *step == "join" || detail {
            breakdown(step, phase, users);
        }
    }
    if detail {
        let m = info(&store, "memory").await;
        println!(
            "  used_memory_lua {} number_of_cached_scripts {}",
            m.get("used_memory_lua").map(String::as_str).unwrap_or("?"),
            m.get("number_of_cached_scripts")
                .map(String::as_str)
                .unwrap_or("?")
        );
    }
    let join = &results[0].1;
    let heartbeat = &results[1].1;
    println!();
    println!("| target | measured | |");
    println!("|---|---|---|");
    println!(
        "| join ≤ {JOIN_TARGET_US} µs of Redis CPU (EVALSHA) | {:.2} µs | {} |",
        join.script_us,
        verdict(join.script_us, JOIN_TARGET_US)
    );
    println!(
        "| join ≤ {JOIN_TARGET_US} µs of Redis CPU (process CPU, network included) | {:.2} µs | {} |",
        join.process_us,
        verdict(join.process_us, JOIN_TARGET_US)
    );
    println!(
        "| heartbeat ≤ {HEARTBEAT_MOONSHOT_US} µs of Redis process CPU under load (moonshot) | {:.2} µs | {} |",
        heartbeat.process_us,
        verdict(heartbeat.process_us, HEARTBEAT_MOONSHOT_US)
    );
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
        "| Redis memory per present member at {} per room (presence + join order + UV + events, room pointer; target ≤ {MEMBER_TARGET_B} B at 5,000 and 100,000: `-- --big-rooms`) | {:.0} B |",
        users / rooms.max(1),
        (mem_members - mem_profiles) / users as f64
    );
}

/// Per-operation Redis CPU in one room of 100, 5,000 and 100,000 members, and the
/// memory per present member (a fresh Redis per size).
async fn big_rooms() {
    const OPS: usize = 2_000;
    let mut rows = Vec::new();
    let mut memory_rows = Vec::new();
    let mut pinned = String::new();
    for size in [100usize, 5_000, 100_000] {
        let (_redis, store, how) = start().await;
        pinned = how;
        let id = live_room(&store, 0).await;
        profiles(&store, "m", 0, size).await;
        profiles(&store, "n", 0, OPS).await;
        let before = memory(&store).await;
        for chunk in (0..size).collect::<Vec<_>>().chunks(1000) {
            let (store, id) = (&store, &id);
            try_join_all(
                chunk
                    .iter()
                    .map(|u| async move { store.join_room(id, &claims(&format!("m{u}"))).await }),
            )
            .await
            .unwrap();
        }
        let per_member = (memory(&store).await - before) / size as f64;
        let mut conn = store.connection();
        let keys = store.keys().room(&id);
        let mut usage = Vec::new();
        for (name, key) in [
            ("presence", &keys.presence),
            ("joined", &keys.joined),
            ("uv", &keys.uv),
            ("events", &keys.events),
        ] {
            let bytes: i64 = redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(key)
                .arg("SAMPLES")
                .arg(0)
                .query_async(&mut conn)
                .await
                .unwrap_or(0);
            usage.push(format!("{name} {:.0}", bytes as f64 / size as f64));
        }
        memory_rows.push((size, per_member, usage.join(", ")));

        let page = |from| PageRequest { from, size: 20 };
        let (s, id) = (&store, &id);
        let mut row = Vec::new();
        let hb = measure(s, OPS, |i| async move {
            s.heartbeat(id, &format!("m{}", i * (size / OPS).max(1) % size))
                .await
                .map(|_| ())
        })
        .await;
        row.push(("heartbeat", hb));
        let join = measure(s, OPS, |i| async move {
            s.join_room(id, &claims(&format!("n{i}"))).await.map(|_| ())
        })
        .await;
        row.push(("join", join));
        let leave = measure(s, OPS, |i| async move {
            s.leave_room(id, &format!("n{i}")).await
        })
        .await;
        row.push(("leave", leave));
        let get = measure(s, OPS, |_| async move { s.get_room(id).await.map(|_| ()) }).await;
        row.push(("info", get));
        let first = measure(s, OPS, |_| async move {
            s.page_members(id, &page(PageFrom::Offset(0)))
                .await
                .map(|_| ())
        })
        .await;
        row.push(("user_list page 1", first));
        let deep = measure(s, OPS, |_| async move {
            s.page_members(id, &page(PageFrom::Offset(size as u64 / 2)))
                .await
                .map(|_| ())
        })
        .await;
        row.push(("user_list page at N/2", deep));
        let sweep = measure(s, 200, |_| async move {
            s.sweep_room(id, 600_000, 1_000).await.map(|_| ())
        })
        .await;
        row.push(("sweep (nothing stale)", sweep));
        rows.push((size, row));
    }
    println!("big rooms bench: one room of N members, {OPS} ops each; {pinned}");
    println!("{}", load_note());
    println!(
        "Redis CPU per op, µs: EVALSHA (commandstats) / Redis process CPU under load (network included)"
    );
    println!("| operation | 100 members | 5,000 members | 100,000 members |");
    println!("|---|---|---|---|");
    for (i, (name, _)) in rows[0].1.iter().enumerate() {
        let cells: Vec<String> = rows
            .iter()
            .map(|(_, row)| {
                let p = &row[i].1;
                format!("{:.1} / {:.1}", p.script_us, p.process_us)
            })
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
    println!();
    println!(
        "| members | Redis memory per present member | target | | MEMORY USAGE per member, B |"
    );
    println!("|---|---|---|---|---|");
    for (size, per_member, usage) in memory_rows {
        let target = if size >= 5_000 {
            format!("≤ {MEMBER_TARGET_B} B")
        } else {
            "-".to_owned()
        };
        let met = if size >= 5_000 {
            verdict(per_member, MEMBER_TARGET_B)
        } else {
            ""
        };
        println!("| {size} | {per_member:.0} B | {target} | {met} | {usage} |");
    }
}
