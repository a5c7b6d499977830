//! Sweeps: silent members and absent anchors leave, rooms end after close-after, and
//! each transition is recorded once, with sweepers racing each other and leaves.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use liveroom::reaper::sweep_once;
use liveroom::store::Store;

use crate::harness::replicas::{FAST, cmd, store_for, wait_until};
use crate::harness::{Replica, TestApp, TestRedis, call_at, live_room_at, token_for};

/// Events recorded in a room's stream (docs/SPEC.md §10), with how often each
/// (`event` or `event:reason`, user or "") occurs.
async fn events(store: &Store, live_id: &str) -> HashMap<(String, String), usize> {
    let key = store.keys().room(live_id).events;
    let entries: Vec<(String, Vec<String>)> = cmd(store, &["XRANGE", &key, "-", "+"]).await;
    let mut counts = HashMap::new();
    for (_, fields) in entries {
        let f: HashMap<_, _> = fields
            .chunks(2)
            .map(|c| (c[0].clone(), c[1].clone()))
            .collect();
        let kind = match f.get("reason") {
            Some(reason) => format!("{}:{reason}", f["event"]),
            None => f["event"].clone(),
        };
        let user = f.get("user").cloned().unwrap_or_default();
        *counts.entry((kind, user)).or_insert(0) += 1;
    }
    counts
}

#[tokio::test]
async fn silent_members_leave_counts_at_once_and_redis_after_a_sweep() {
    let redis = TestRedis::new();
    let store = store_for(&redis).await;
    let r1 = Replica::start("r1", &redis, FAST).await;
    let r2 = Replica::start("r2", &redis, FAST).await;
    let id = live_room_at(&r1.base, "anchor", "replica test").await;
    for v in ["v1", "v2", "v3"] {
        call_at(
            &r2.base,
            "POST",
            &format!("/client/live/room/user/{id}"),
            &token_for(v),
        )
        .await
        .ok();
    }
    let presence = store.keys().room(&id).presence;
    let beat = format!("/client/live/room/heartbeat/{id}");
    let anchor = token_for("anchor");
    // The anchor keeps beating; the viewers fall silent.
    let started = Instant::now();
    let mut read_path_saw_one = false;
    while started.elapsed() < Duration::from_millis(3500) {
        call_at(&r1.base, "GET", &beat, &anchor).await.ok();
        let info = call_at(
            &r2.base,
            "GET",
            &format!("/client/live/room/info/{id}"),
            &anchor,
        )
        .await
        .ok();
        if started.elapsed() > Duration::from_millis(1150) {
            assert_eq!(
                info.data()["online_count"],
                1,
                "silent viewers still counted after the timeout"
            );
            read_path_saw_one = true;
        }
        let in_redis: i64 = cmd(&store, &["ZCARD", &presence]).await;
        if in_redis == 1 && read_path_saw_one {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        cmd::<i64>(&store, &["ZCARD", &presence]).await,
        1,
        "the sweep did not remove the silent viewers"
    );
    let ev = events(&store, &id).await;
    for v in ["v1", "v2", "v3"] {
        assert_eq!(
            ev.get(&("member_left:expired".into(), v.into())),
            Some(&1),
            "{ev:?}"
        );
    }
    assert!(!ev.contains_key(&("member_left:expired".into(), "anchor".into())));
}

#[tokio::test]
async fn absent_anchor_goes_offline_then_room_ends_after_close_after_never_earlier() {
    let redis = TestRedis::new();
    let store = store_for(&redis).await;
    let r1 = Replica::start("r1", &redis, FAST).await;
    let _r2 = Replica::start("r2", &redis, FAST).await;
    let id = live_room_at(&r1.base, "anchor", "replica test").await;
    let last_beat = Instant::now();
    let viewer = token_for("viewer");
    let info_path = format!("/client/live/room/info/{id}");
    // Anchor silent from now on: offline after 1 s, room ended 3 s later (at ~4 s).
    assert!(
        wait_until(Duration::from_secs(3), || async {
            call_at(&r1.base, "GET", &info_path, &viewer)
                .await
                .ok()
                .data()["anchor_status"]
                == 0
        })
        .await
    );
    assert!(last_beat.elapsed() >= Duration::from_millis(950));
    let ended = wait_until(Duration::from_secs(8), || async {
        let info = call_at(&r1.base, "GET", &info_path, &viewer).await.ok();
        if info.data()["live_status"] == 2 {
            return true;
        }
        assert!(
            last_beat.elapsed() < Duration::from_millis(6500),
            "room not ended in time"
        );
        false
    })
    .await;
    assert!(ended, "room never ended");
    let took = last_beat.elapsed();
    assert!(
        took >= Duration::from_millis(3950),
        "room ended too early: {took:?} after the anchor's last beat"
    );
    let info = call_at(&r1.base, "GET", &info_path, &viewer).await.ok();
    assert!(info.data()["end_time"].as_i64().unwrap() > 0);
    let list = call_at(&r1.base, "GET", "/client/live/room/list", &viewer)
        .await
        .ok();
    assert_eq!(list.data()["total_count"], 0);
    let ev = events(&store, &id).await;
    assert_eq!(
        ev.get(&("anchor_offline".into(), "anchor".into())),
        Some(&1),
        "{ev:?}"
    );
    assert_eq!(
        ev.get(&("room_stopped:anchor_timeout".into(), String::new())),
        Some(&1),
        "{ev:?}"
    );
}

#[tokio::test]
async fn concurrent_sweepers_record_each_transition_once() {
    let app = TestApp::init()
        .with_member_timeout(Duration::from_secs(1))
        .spawn()
        .await;
    let mut rooms = Vec::new();
    for r in 0..10 {
        let id = app.live_room(&format!("anchor{r}"), "sweep").await;
        for m in 0..10 {
            app.join(&format!("m{r}_{m}"), &id).await;
        }
        rooms.push(id);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Four sweepers with their own connections, as if the lease were disabled.
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(store_for(&app.redis).await);
    }
    let reports = futures::future::join_all(
        stores
            .iter()
            .map(|s| sweep_once(s, Duration::from_secs(3600), || true)),
    )
    .await;
    let expired: u64 = reports
        .iter()
        .map(|r| r.as_ref().unwrap().members_expired)
        .sum();
    let offline: u64 = reports
        .iter()
        .map(|r| r.as_ref().unwrap().anchors_offline)
        .sum();
    assert_eq!(
        expired, 110,
        "each of 100 members and 10 anchors expires exactly once"
    );
    assert_eq!(offline, 10);
    // Now end them all at once from four sweepers (close-after 1 ms).
    let reports = futures::future::join_all(
        stores
            .iter()
            .map(|s| sweep_once(s, Duration::from_millis(1), || true)),
    )
    .await;
    let ended: u64 = reports
        .iter()
        .map(|r| r.as_ref().unwrap().rooms_ended)
        .sum();
    assert_eq!(ended, 10);
    for id in &rooms {
        let ev = events(&app.store, id).await;
        for ((kind, user), n) in &ev {
            assert_eq!(*n, 1, "{kind} for {user} recorded {n} times in {id}");
        }
        assert_eq!(
            ev.keys()
                .filter(|(k, _)| k == "member_left:expired")
                .count(),
            11
        );
        assert_eq!(
            ev.keys()
                .filter(|(k, _)| k == "room_stopped:anchor_timeout")
                .count(),
            1
        );
        let info = app.info("x", id).await;
        assert_eq!(info["online_count"], 0);
        assert_eq!(info["live_status"], 2);
    }
    // Ended rooms without members leave the active index.
    let active: i64 = app
        .redis_cmd(&["ZCARD", &app.store.keys().active_index()])
        .await;
    assert_eq!(active, 0);
}

#[tokio::test]
async fn leave_racing_expiry_counts_zero_and_records_one_event() {
    let app = TestApp::init()
        .with_member_timeout(Duration::from_secs(1))
        .spawn()
        .await;
    let id = app.live_room("anchor", "race").await;
    for round in 0..3 {
        let users: Vec<String> = (0..40).map(|i| format!("r{round}_{i}")).collect();
        for u in &users {
            app.join(u, &id).await;
        }
        // Keep the anchor present; let the members go stale.
        tokio::time::sleep(Duration::from_millis(1020)).await;
        app.user("anchor").start(&id).await.ok();
        let sweeper = store_for(&app.redis).await;
        let leave_path = format!("/client/live/room/user/{id}");
        let leaves = futures::future::join_all(users.iter().map(|u| app.delete(u, &leave_path)));
        let (replies, sweep) = tokio::join!(leaves, sweeper.sweep_room(&id, 3_600_000, 10));
        sweep.unwrap();
        for r in &replies {
            // A stale member is not in the room any more: 40401, never a 5xx.
            r.expect(404, 40401);
        }
        let info = app.info("anchor", &id).await;
        assert_eq!(info["online_count"], 1, "only the anchor remains");
        let ev = events(&app.store, &id).await;
        for u in &users {
            let n = ev
                .get(&("member_left:expired".into(), u.clone()))
                .unwrap_or(&0)
                + ev.get(&("member_left:leave".into(), u.clone()))
                    .unwrap_or(&0);
            assert_eq!(n, 1, "{u}: {ev:?}");
        }
    }
}

/// The reaper ended a room but its live-index update was lost (simulated: the room
/// put back into the live and active indexes): the next sweep takes it out of the
/// live list before dropping it from the active index.
#[tokio::test]
async fn an_ended_room_left_in_the_live_index_heals_on_the_next_sweep() {
    let app = TestApp::init()
        .with_member_timeout(Duration::from_secs(1))
        .spawn()
        .await;
    let id = app.live_room("anchor", "heal").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let store = store_for(&app.redis).await;
    let first = sweep_once(&store, Duration::from_millis(1), || true)
        .await
        .unwrap();
    assert_eq!(first.rooms_ended, 1);
    let (live, active) = (
        app.store.keys().live_index(),
        app.store.keys().active_index(),
    );
    app.redis_cmd::<()>(&["ZADD", &live, "1", &id]).await;
    app.redis_cmd::<()>(&["ZADD", &active, "1", &id]).await;
    let list = app.user("x").list(&[]).await.ok();
    assert_eq!(list.data()["total_count"], 1, "the simulated stale entry");
    sweep_once(&store, Duration::from_millis(1), || true)
        .await
        .unwrap();
    let in_live: Option<f64> = app.redis_cmd(&["ZSCORE", &live, &id]).await;
    let in_active: Option<f64> = app.redis_cmd(&["ZSCORE", &active, &id]).await;
    assert_eq!((in_live, in_active), (None, None));
    let list = app.user("x").list(&[]).await.ok();
    assert_eq!(list.data()["total_count"], 0);
}
