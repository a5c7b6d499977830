//! The deadline index (docs/DESIGN.md "Reaper"): joins mark rooms due by their
//! deadline and heartbeats never touch it; a join racing a sweep on the Cluster is
//! still reaped; a store from before the index (rooms without entries) is swept.

use std::time::Duration;

use liveroom::reaper::sweep_partition;
use liveroom::store::keys::reaper_partition;
use liveroom::store::{Listed, Store};

use crate::harness::replicas::{FAST, cmd, store_for, wait_until};
use crate::harness::{Replica, TestApp, TestRedis, call_at, live_room_at, token_for};

/// Redis's clock (ms).
async fn redis_now(store: &Store, key: &str) -> i64 {
    // TIME of the node holding `key` (a script runs there; the Cluster routes it).
    cmd::<i64>(
        store,
        &[
            "EVAL",
            "local t = redis.call('TIME') return t[1] * 1000 + math.floor(t[2] / 1000)",
            "1",
            key,
        ],
    )
    .await
}

/// Runs a script of `lua/` (with `lib.lua` before it) as the service does on the
/// Cluster, where the joining step does not write the index.
async fn eval_script(store: &Store, file: &str, keys: &[&str], args: &[&str]) {
    let body = format!(
        "{}{}",
        include_str!("../../../lua/lib.lua"),
        std::fs::read_to_string(format!("{}/lua/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    );
    let n = keys.len().to_string();
    let mut argv: Vec<&str> = vec!["EVAL", &body, &n];
    argv.extend_from_slice(keys);
    argv.extend_from_slice(args);
    cmd::<redis::Value>(store, &argv).await;
}

#[tokio::test]
async fn a_join_marks_its_deadline_and_a_heartbeat_leaves_the_index_alone() {
    let app = TestApp::init()
        .with_member_timeout(Duration::from_secs(30))
        .spawn()
        .await;
    let id = app.create_room("anchor", "indexed").await;
    let due = app.store.keys().reaper_due(reaper_partition(&id));
    let before = redis_now(&app.store, &due).await;
    app.join("v", &id).await;
    let after = redis_now(&app.store, &due).await;
    let score: f64 = app.redis_cmd(&["ZSCORE", &due, &id]).await;
    let score = score as i64;
    // On the Cluster each step that makes the joiner present (the join, its restore)
    // marks first, and a mark finding the room due by then moves it 1 ms earlier.
    assert!(
        score >= before + 30_000 - 5 && score <= after + 30_000,
        "due {score} not the join's deadline ({before}..{after} + 30 s)"
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    app.get("v", &format!("/client/live/room/heartbeat/{id}"))
        .await
        .ok();
    let again: f64 = app.redis_cmd(&["ZSCORE", &due, &id]).await;
    assert_eq!(again as i64, score, "a heartbeat moved the deadline");
}

/// The Cluster's join marks the room (`reaper_mark.lua`) before its room step
/// (`room_add_member.lua`); a sweep listed the room before the mark and runs its room
/// step between the two, so it never sees the joiner. Driven step by step (the
/// Cluster's steps run on one Redis too): the joiner is still reaped by a sweep of
/// due rooms only, within one sweep of its deadline.
#[tokio::test]
async fn a_member_joining_while_its_room_is_swept_is_still_reaped() {
    let app = TestApp::init()
        .with_member_timeout(Duration::from_secs(1))
        .spawn()
        .await;
    let sweeper = app.store.clone().with_cluster_steps();
    let id = app.live_room("anchor", "race").await;
    // The anchor leaves: a live room without members, due at the anchor's deadline;
    // its next visit after that would be the close time, an hour away.
    app.delete("anchor", &format!("/client/live/room/user/{id}"))
        .await
        .ok();
    let partition = reaper_partition(&id);
    let due = app.store.keys().reaper_due(partition);
    let rk = app.store.keys().room(&id);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // 1. The sweep lists the room.
    let page = sweeper.reaper_due(partition, None, 0, 1000).await.unwrap();
    let listed = page
        .rooms
        .iter()
        .find(|(r, _)| *r == id)
        .map(|(_, s)| s.clone())
        .expect("the room is due");
    // 2. The join's mark.
    eval_script(&sweeper, "reaper_mark.lua", &[&due], &[&id, "1000"]).await;
    // 3. The sweep's room step and reschedule (without the joiner).
    let close_after_ms = 3_600_000;
    let step = sweeper
        .sweep_listed(&id, Listed::Score(Some(&listed)), close_after_ms, 500)
        .await
        .unwrap();
    assert_eq!(step.remaining, 0, "the sweep must not see the joiner");
    // 4. The join's room step.
    eval_script(
        &sweeper,
        "room_add_member.lua",
        &[
            &rk.room,
            &rk.presence,
            &rk.joined,
            &rk.uv,
            &rk.events,
            &rk.bans,
            &rk.kicked,
        ],
        &["late", "1000", "1", &id, ""],
    )
    .await;
    let joined_at = redis_now(&sweeper, &rk.room).await;
    // The joiner falls silent; only sweeps of due rooms run.
    let close_after = Duration::from_millis(close_after_ms);
    let reaped = wait_until(Duration::from_secs(4), || async {
        sweep_partition(&sweeper, partition, close_after, || true)
            .await
            .unwrap();
        cmd::<Option<f64>>(&sweeper, &["ZSCORE", &rk.presence, "late"])
            .await
            .is_none()
    })
    .await;
    assert!(reaped, "the joiner racing the sweep was never reaped");
    let at = redis_now(&sweeper, &rk.room).await;
    assert!(
        at - joined_at < 1000 + 1500,
        "reaped {} ms after joining (timeout 1 s)",
        at - joined_at
    );
}

/// A store written by a version without the deadline index (rooms in the active
/// index only): the first reaper marks every such room due once, and its silent
/// members are reaped.
#[tokio::test]
async fn an_upgraded_store_without_index_entries_is_swept() {
    let redis = TestRedis::new();
    let store = store_for(&redis).await;
    let mut old = Replica::start("old", &redis, FAST).await;
    let id = live_room_at(&old.base, "anchor", "from before").await;
    call_at(
        &old.base,
        "POST",
        &format!("/client/live/room/user/{id}"),
        &token_for("v"),
    )
    .await
    .ok();
    old.kill9();
    // What the previous version left: no deadline index, no marker.
    for n in 0..16 {
        let key = store.keys().reaper_due(n);
        cmd::<()>(&store, &["DEL", &key]).await;
    }
    cmd::<()>(&store, &["DEL", &store.keys().reaper_indexed()]).await;
    let active: Option<f64> = cmd(&store, &["ZSCORE", &store.keys().active_index(), &id]).await;
    assert!(active.is_some(), "the room is in the active index");
    let _new = Replica::start("new", &redis, FAST).await;
    let presence = store.keys().room(&id).presence;
    assert!(
        wait_until(Duration::from_secs(5), || async {
            cmd::<Option<f64>>(&store, &["ZSCORE", &presence, "v"])
                .await
                .is_none()
        })
        .await,
        "a member of a room without an index entry was never reaped"
    );
    let marker: Option<String> = cmd(&store, &["GET", &store.keys().reaper_indexed()]).await;
    assert!(marker.is_some(), "the upgrade is remembered");
}
