//! Reliability (issue #6): Redis stalled, restarted, flushed of scripts, connections
//! killed; overload; races between operations. Real redis-server processes only.

use std::time::{Duration, Instant};

use crate::harness::TestRedis;
use crate::harness::{Replica, TestApp, call_at, live_room_at, token_for};
use liveroom::redis_child::RedisChild;
use serde_json::json;

/// Every request while Redis is stalled (SIGSTOP) answers 503 / 50300 with
/// Retry-After within a bounded time; /readyz fails; after SIGCONT the service
/// resumes within 2 s without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_redis_gives_bounded_503s_then_resumes() {
    let app = TestApp::init()
        .private_redis()
        .with_redis_timeout(Duration::from_millis(400))
        .spawn()
        .await;
    let id = app.live_room("alice", "stall").await;
    app.join("bob", &id).await;
    app.redis.child().signal(libc::SIGSTOP);
    let paths = [
        ("GET", format!("/client/live/room/heartbeat/{id}")),
        ("GET", format!("/client/live/room/info/{id}")),
        ("POST", format!("/client/live/room/user/{id}")),
        ("GET", "/client/live/room/list".to_owned()),
    ];
    for (method, path) in &paths {
        let started = Instant::now();
        let r = app.call(method, path, Some(&app.token("bob")), None).await;
        let took = started.elapsed();
        r.expect(503, 50300);
        assert!(
            r.headers.contains_key("retry-after"),
            "{path}: no Retry-After"
        );
        assert!(
            took < Duration::from_secs(3),
            "{path} took {took:?} while Redis was stalled"
        );
    }
    let ready = reqwest::get(format!("{}/readyz", app.base)).await.unwrap();
    assert_eq!(ready.status(), 503);
    app.redis.child().signal(libc::SIGCONT);
    let resumed = Instant::now();
    loop {
        let r = app.user("bob").heartbeat(&id).await;
        if r.status == 200 {
            break;
        }
        assert!(
            resumed.elapsed() < Duration::from_secs(2),
            "not resumed within 2 s: {:?}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        reqwest::get(format!("{}/readyz", app.base))
            .await
            .unwrap()
            .status(),
        200
    );
}

/// Redis restarted with its data (AOF): every room is intact, and the replica
/// resumes within 2 s without a restart (scripts are reloaded on NOSCRIPT).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_with_aof_keeps_every_room_and_the_service_resumes() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("aof-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let dir_arg = dir.display().to_string();
    let aof = [
        "--dir",
        dir_arg.as_str(),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
    ];
    let mut app = TestApp::init()
        .private_redis()
        .with_redis_timeout(Duration::from_millis(500))
        .spawn()
        .await;
    // Move the app onto an AOF Redis on a port we control.
    let port = app.redis.child().port();
    app.redis = TestRedis::private(); // frees `port` (old child killed)
    let _aof_redis = RedisChild::start_on_port(port, &aof).unwrap();
    // Wait until the app reconnects to the new server.
    let reconnected = Instant::now();
    while reqwest::get(format!("{}/readyz", app.base))
        .await
        .unwrap()
        .status()
        != 200
    {
        assert!(reconnected.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut rooms = Vec::new();
    for i in 0..10 {
        let id = app
            .live_room(&format!("anchor{i}"), &format!("持久 room {i}"))
            .await;
        app.join(&format!("viewer{i}"), &id).await;
        rooms.push((id.clone(), app.info("x", &id).await));
    }
    // kill -9: whatever Redis acknowledged was written to the AOF before the reply.
    drop(_aof_redis);
    let _restarted = RedisChild::start_on_port(port, &aof).unwrap();
    let restarted = Instant::now();
    loop {
        let r = app
            .get("x", &format!("/client/live/room/info/{}", rooms[0].0))
            .await;
        if r.status == 200 {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(2),
            "not resumed within 2 s: {:?}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (id, before) in &rooms {
        let after = app.info("x", id).await;
        for field in [
            "title",
            "live_status",
            "pv",
            "uv",
            "chat_id",
            "start_time",
            "anchor_info",
            "online_count",
        ] {
            assert_eq!(
                after[field], before[field],
                "{id}.{field} changed across the restart"
            );
        }
    }
    let found = app
        .get("x", "/client/live/room?keyword=持久&page_size=100")
        .await
        .ok();
    assert_eq!(found.data()["total_count"], 10);
    let _ = std::fs::remove_dir_all(&dir);
}

/// SCRIPT FLUSH before every request of a whole life cycle: nothing fails (the
/// script wrapper re-sends the body on NOSCRIPT, also for concurrent list reads).
#[tokio::test]
async fn script_flush_before_every_request_costs_nothing_visible() {
    let app = TestApp::start().await;
    let flush = || app.flush_scripts();
    flush().await;
    let id = app.create_room("alice", "flush").await;
    flush().await;
    app.user("alice").start(&id).await.ok();
    for u in ["b", "c", "d"] {
        flush().await;
        app.join(u, &id).await;
    }
    flush().await;
    app.user("b").heartbeat(&id).await.ok();
    flush().await;
    app.user("b").list(&[]).await.ok();
    flush().await;
    app.get("b", "/client/live/room?keyword=flush").await.ok();
    flush().await;
    app.get("b", &format!("/client/live/room/user_list?live_id={id}"))
        .await
        .ok();
    flush().await;
    app.user("alice")
        .update_extends(json!({"live_id": id, "extends": {"k": "v"}}))
        .await
        .ok();
    flush().await;
    app.user("d").leave(&id).await.ok();
    flush().await;
    app.user("alice").stop(&id).await.ok();
    flush().await;
    app.user("alice").delete_room(&id).await.ok();
}

/// CLIENT KILL of the service's Redis connections while requests run: each request
/// fails cleanly (503) or succeeds, and the connection recovers on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_redis_connections_fail_cleanly_and_recover() {
    let app = TestApp::init().private_redis().spawn().await;
    let id = app.live_room("alice", "kill").await;
    for i in 0..20 {
        app.join(&format!("u{i}"), &id).await;
    }
    let path = format!("/client/live/room/heartbeat/{id}");
    // A connection of our own: the harness's `redis_cmd` shares the app's connection.
    let admin = redis::Client::open(app.redis.child().url()).unwrap();
    let admin = admin.get_multiplexed_async_connection().await.unwrap();
    let mut kinds = std::collections::BTreeMap::new();
    for round in 0..10 {
        let beats = futures::future::join_all(
            (0..20).map(|i| app.get_owned(format!("u{i}"), path.clone())),
        );
        let mut admin = admin.clone();
        let killer = async move {
            tokio::time::sleep(Duration::from_millis(2 * round)).await;
            redis::cmd("CLIENT")
                .arg(&["KILL", "TYPE", "normal", "SKIPME", "yes"])
                .query_async::<i64>(&mut admin)
                .await
                .unwrap()
        };
        let (replies, _) = tokio::join!(beats, killer);
        for r in replies {
            assert!(
                r.status == 200 || (r.status == 503 && r.code() == 50300),
                "unclean failure: {} {:?}",
                r.status,
                r.body
            );
            *kinds.entry(r.status).or_insert(0) += 1;
        }
    }
    // Recovered: every member can beat again.
    let recovered = Instant::now();
    for i in 0..20 {
        loop {
            let r = app.get(&format!("u{i}"), &path).await;
            if r.status == 200 {
                break;
            }
            assert!(
                recovered.elapsed() < Duration::from_secs(3),
                "no recovery: {:?}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    eprintln!("statuses while connections were killed: {kinds:?}");
    assert!(kinds.contains_key(&200), "{kinds:?}");
}

/// Past LIVEROOM_MAX_IN_FLIGHT, requests are shed at once with 429 / 42900 and
/// Retry-After; probes are never shed; memory stays bounded under a flood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_shed_quickly_and_memory_stays_bounded() {
    let redis = TestRedis::private();
    let replica = Replica::start(
        "r1",
        &redis,
        &[
            ("LIVEROOM_MAX_IN_FLIGHT", "4"),
            ("LIVEROOM_REDIS_TIMEOUT", "1s"),
        ],
    )
    .await;
    let anchor = token_for("anchor");
    let id = live_room_at(&replica.base, "anchor", "flood").await;
    let rss = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", replica.pid())).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    // Stall Redis: the 4 admitted requests wait for the 1 s timeout; the rest must be shed.
    redis.child().signal(libc::SIGSTOP);
    let path = format!("/client/live/room/heartbeat/{id}");
    let started = Instant::now();
    let flood = futures::future::join_all((0..60).map(|_| {
        let (base, path, anchor) = (replica.base.clone(), path.clone(), anchor.clone());
        async move {
            let t = Instant::now();
            let r = call_at(&base, "GET", &path, &anchor).await;
            (r, t.elapsed())
        }
    }));
    let livez = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        reqwest::get(format!("{}/livez", replica.base))
            .await
            .unwrap()
            .status()
    };
    let (results, livez_status) = tokio::join!(flood, livez);
    redis.child().signal(libc::SIGCONT);
    assert_eq!(livez_status, 200, "/livez must not be shed");
    let shed: Vec<_> = results.iter().filter(|(r, _)| r.status == 429).collect();
    let admitted: Vec<_> = results.iter().filter(|(r, _)| r.status != 429).collect();
    assert!(shed.len() >= 50, "only {} of 60 shed", shed.len());
    for (r, took) in &shed {
        r.expect(429, 42900);
        assert!(r.headers.contains_key("retry-after"));
        assert!(*took < Duration::from_millis(900), "shedding took {took:?}");
    }
    for (r, took) in &admitted {
        r.expect(503, 50300);
        assert!(
            *took < Duration::from_secs(3),
            "admitted request took {took:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(5));

    // A sustained flood far past the limit: memory stays bounded.
    let before = rss();
    for _ in 0..10 {
        let replies = futures::future::join_all(
            (0..200).map(|_| call_at(&replica.base, "GET", &path, &anchor)),
        )
        .await;
        assert!(
            replies
                .iter()
                .all(|r| r.status == 200 || r.status == 429 || r.status == 404)
        );
    }
    let after = rss();
    assert!(
        after < before + 64 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
}

/// Delete racing join, 100 times: a join never re-creates any key of a deleted room.
#[tokio::test]
async fn delete_racing_join_never_resurrects_a_room() {
    let app = TestApp::start().await;
    for i in 0..100 {
        let id = app.live_room("anchor", "race").await;
        let (del_path, join_path, user) = (
            format!("/client/live/room/instance/{id}"),
            format!("/client/live/room/user/{id}"),
            format!("v{i}"),
        );
        let (del, join) = tokio::join!(
            app.delete("anchor", &del_path),
            app.post(&user, &join_path, None)
        );
        del.ok();
        assert!(
            join.status == 200 || join.code() == 40400,
            "{:?}",
            join.body
        );
        let left: Vec<String> = app.keys(&format!("{{{id}}}:*")).await;
        assert!(
            left.is_empty(),
            "iteration {i}: keys left after delete: {left:?}"
        );
        app.user("x").room_info(&id).await.expect(404, 40400);
    }
}

/// Stop racing start on a created room, 100 times: the live index always agrees
/// with live_status, and an ended room never becomes live again.
#[tokio::test]
async fn stop_racing_start_keeps_status_and_index_consistent() {
    let app = TestApp::start().await;
    let live_index = app.store.keys().live_index();
    for i in 0..100 {
        let id = app.create_room("anchor", "race").await;
        let path = format!("/client/live/room/{id}");
        let (start, stop) = tokio::join!(
            app.put("anchor", &path, None),
            app.post("anchor", &path, None)
        );
        start.ok();
        assert!(
            stop.status == 200 || stop.code() == 40900,
            "{:?}",
            stop.body
        );
        let status = app.info("x", &id).await["live_status"].as_i64().unwrap();
        let indexed: Option<f64> = app.redis_cmd(&["ZSCORE", &live_index, &id]).await;
        match (stop.status, status) {
            (200, 2) => assert!(indexed.is_none(), "iteration {i}: ended room still listed"),
            (409, 1) => assert!(indexed.is_some(), "iteration {i}: live room not listed"),
            other => panic!("iteration {i}: impossible outcome {other:?}"),
        }
        app.user("anchor").start(&id).await.expect(
            if status == 2 { 409 } else { 200 },
            if status == 2 { 40900 } else { 0 },
        );
    }
}

/// Concurrent extends updates: no update is lost, and the 32-key limit holds under
/// the race (exactly 32 of 40 single-key additions succeed).
#[tokio::test]
async fn racing_extends_updates_lose_nothing_and_respect_the_limit() {
    let app = TestApp::start().await;
    let id = app.create_room("anchor", "extends").await;
    let anchor = app.user("anchor");
    let replies =
        futures::future::join_all((0..40).map(|k| {
            anchor.update_extends(json!({"live_id": id, "extends": {format!("k{k}"): "v"}}))
        }))
        .await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let refused = replies.iter().filter(|r| r.code() == 40000).count();
    assert_eq!((ok, refused), (32, 8));
    let extends = app.info("x", &id).await["extends"]
        .as_object()
        .unwrap()
        .len();
    assert_eq!(extends, 32);
    // Removals and additions racing: the final state is exactly the union of the writes.
    let replies = futures::future::join_all((0..32).map(|k| {
        let patch = if k % 2 == 0 {
            json!({format!("k{k}"): ""})
        } else {
            json!({format!("k{k}"): "w"})
        };
        anchor.update_extends(json!({"live_id": id, "extends": patch}))
    }))
    .await;
    let _ = replies;
    let info = app.info("x", &id).await;
    let extends = info["extends"].as_object().unwrap();
    let present: Vec<&String> = extends.keys().collect();
    for (k, v) in extends {
        let n: usize = k[1..].parse().unwrap();
        assert!(n >= 32 || n % 2 == 1, "removed key {k} is back");
        if n < 32 {
            assert_eq!(v, "w", "{k}");
        }
    }
    assert!(present.len() <= 32);
}

/// A start re-sent while the room is live (a client retry) racing a stop: the
/// ended room never stays in the live list (on Cluster the start's index step could
/// otherwise land after the stop's).
#[tokio::test]
async fn restart_racing_stop_never_relists_an_ended_room() {
    let app = TestApp::start().await;
    let live_index = app.store.keys().live_index();
    for i in 0..60 {
        let id = app.live_room("anchor", "restart race").await;
        let path = format!("/client/live/room/{id}");
        let token = app.token("anchor");
        // Three re-sent starts around the stop, at once.
        let replies = futures::future::join_all((0..4).map(|k| {
            let method = if k == 1 { "POST" } else { "PUT" };
            app.call(method, &path, Some(&token), None)
        }))
        .await;
        assert_eq!(
            (replies[1].status, replies[1].code()),
            (200, 0),
            "{:?}",
            replies[1].body
        );
        for r in &replies {
            assert!(r.status == 200 || r.code() == 40900, "{:?}", r.body);
        }
        assert_eq!(app.info("x", &id).await["live_status"], 2);
        let indexed: Option<f64> = app.redis_cmd(&["ZSCORE", &live_index, &id]).await;
        assert!(
            indexed.is_none(),
            "iteration {i}: ended room listed as live"
        );
    }
}

/// A delete racing the room's start: once both return the room is gone and no index
/// names it (a start listing it between the delete's steps is undone).
#[tokio::test]
async fn delete_racing_start_leaves_no_index_entry() {
    let app = TestApp::start().await;
    let keys = app.store.keys().clone();
    for i in 0..60 {
        let id = app.create_room("anchor", "delete race").await;
        let (start_path, delete_path) = (
            format!("/client/live/room/{id}"),
            format!("/client/live/room/instance/{id}"),
        );
        // Three starts (the first makes it live, the others are retries) and the
        // delete, at once.
        let token = app.token("anchor");
        let replies = futures::future::join_all((0..4).map(|k| {
            let (method, path) = if k == 2 {
                ("DELETE", &delete_path)
            } else {
                ("PUT", &start_path)
            };
            app.call(method, path, Some(&token), None)
        }))
        .await;
        assert_eq!(
            (replies[2].status, replies[2].code()),
            (200, 0),
            "{:?}",
            replies[2].body
        );
        for r in &replies {
            assert!(r.status == 200 || r.code() == 40400, "{:?}", r.body);
        }
        for index in [keys.live_index(), keys.search_index()] {
            let score: Option<f64> = app.redis_cmd(&["ZSCORE", &index, &id]).await;
            assert!(score.is_none(), "iteration {i}: {index} still names {id}");
        }
    }
    let list = app.user("x").list(&[]).await.ok();
    assert_eq!(list.data()["total_count"], 0);
}

/// A leave racing a join of the same room by the same user: once both return, the
/// user is present there exactly when its pointer names the room, so a later join
/// elsewhere leaves nothing behind.
#[tokio::test]
async fn leave_racing_join_keeps_presence_and_pointer_in_agreement() {
    let app = TestApp::start().await;
    let (s, t) = (
        app.live_room("anchor_s", "room S").await,
        app.live_room("anchor_t", "room T").await,
    );
    let user_key = app.store.keys().user("racer");
    let presence_s = app.store.keys().room(&s).presence;
    let token = app.token("racer");
    let path_s = format!("/client/live/room/user/{s}");
    for i in 0..200 {
        // Three joins and three leaves, interleaved and staggered by a few tens of µs
        // so that requests land between the steps of others.
        let replies = futures::future::join_all((0..6u64).map(|k| {
            let method = if k % 2 == 0 { "POST" } else { "DELETE" };
            let (app, path, token) = (&app, &path_s, &token);
            async move {
                tokio::time::sleep(Duration::from_micros(40 * ((k + i) % 6))).await;
                app.call(method, path, Some(token), None).await
            }
        }))
        .await;
        for r in &replies {
            assert!(r.status == 200 || r.code() == 40401, "{:?}", r.body);
        }
        let pointer: Option<String> = app.redis_cmd(&["HGET", &user_key, "room"]).await;
        let in_s: Option<f64> = app.redis_cmd(&["ZSCORE", &presence_s, "racer"]).await;
        assert_eq!(
            pointer.as_deref() == Some(s.as_str()),
            in_s.is_some(),
            "iteration {i}: pointer {pointer:?}, present in S: {}",
            in_s.is_some()
        );
        // Moving on to T never leaves the user behind in S.
        app.join("racer", &t).await;
        let in_s: Option<f64> = app.redis_cmd(&["ZSCORE", &presence_s, "racer"]).await;
        assert!(in_s.is_none(), "iteration {i}: still in S after joining T");
        app.user("racer").leave(&t).await.ok();
    }
}
