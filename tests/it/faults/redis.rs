//! Redis stalled, restarted with its data, flushed of scripts, its connections killed.

use std::time::{Duration, Instant};

use liveroom::redis_child::RedisChild;
use serde_json::json;

use crate::harness::{TestApp, TestRedis};

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
    let ready = crate::harness::http()
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
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
        crate::harness::http()
            .get(format!("{}/readyz", app.base))
            .send()
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
    while crate::harness::http()
        .get(format!("{}/readyz", app.base))
        .send()
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
    // kill -9. With `appendfsync everysec` (the deployments' setting) Redis writes
    // its AOF buffer to the file before replying, except while a slow fsync is still
    // running, when it may hold writes back for up to 2 s: that is the "about one
    // second" a crash can lose (README, reliability). Past that, nothing may be lost.
    tokio::time::sleep(Duration::from_millis(2500)).await;
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
