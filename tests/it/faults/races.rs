//! Races between operations on one room: the room, its index and presence agree.

use std::time::Duration;

use serde_json::json;

use crate::harness::TestApp;

/// Delete racing join, 100 times: a join never re-creates any key of a deleted room
/// (nor records an event after `room_deleted`).
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
        // Only the event stream stays (SPEC §10), expiring, and ending with the delete.
        let events = app.store.keys().room(&id).events;
        let left: Vec<String> = app.keys(&format!("{{{id}}}:*")).await;
        assert_eq!(left, vec![events.clone()], "iteration {i}: keys left");
        assert!(app.redis_cmd::<i64>(&["PTTL", &events]).await > 0);
        let last = app.store.room_events(&id, None, 1000).await.unwrap();
        assert_eq!(last.last().unwrap().event, "room_deleted", "iteration {i}");
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
