//! `DELETE /client/live/room/instance/{live_id}`: a room deleted with every key but
//! its event stream (kept a while); and
//! `DELETE /client/live/room/{live_id}`, an alias of stop (SPEC §4).

use std::collections::HashSet;

use serde_json::json;

use crate::harness::TestApp;
use crate::harness::api::{assert_ok_without_data, live_list, search};

#[tokio::test]
async fn delete_on_room_path_is_stop_alias() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "alias").await;
    let r = app.user("alice").stop_by_delete(&id).await;
    assert_ok_without_data(&r);
    let room = app.info("alice", &id).await;
    assert_eq!(
        room["live_status"], 2,
        "the alias stops, it does not delete"
    );
    assert!(room["end_time"].as_i64().unwrap() > 0);
    assert_eq!(
        search(&app, "bob", &id).await,
        vec![id.clone()],
        "still searchable"
    );
}

#[tokio::test]
async fn delete_removes_every_key_and_releases_members() {
    let app = TestApp::start().await;
    let keep = app.live_room("alice", "neighbour room").await;
    let r = app
        .user("alice")
        .create_room(json!({"title": "doomed 直播 room", "extends": {"k": "v"}}))
        .await
        .ok();
    let id = r.data()["live_id"].as_str().unwrap().to_owned();
    app.user("alice").start(&id).await.ok();
    app.join("bob", &id).await;
    app.join("carol", &id).await;
    app.user("bob").heartbeat(&id).await.ok();
    let pattern = format!("{}:{{{id}}}:*", app.config.key_prefix);
    let before: Vec<String> = app.redis_cmd(&["KEYS", &pattern]).await;
    assert!(
        before.len() >= 3,
        "the room has keys under {pattern}: {before:?}"
    );

    let r = app.user("alice").delete_room(&id).await;
    assert_ok_without_data(&r);

    // Every key goes but the event stream, kept a while (SPEC §10) and set to expire.
    let events = app.store.keys().room(&id).events;
    let after: Vec<String> = app.redis_cmd(&["KEYS", &pattern]).await;
    assert_eq!(after, vec![events.clone()], "keys left");
    let ttl: i64 = app.redis_cmd(&["PTTL", &events]).await;
    assert!(
        ttl > 0,
        "the deleted room's event stream never expires: {ttl}"
    );
    // No index (set or sorted set) still names the room.
    let all: Vec<String> = app.keys("*").await;
    for key in all {
        let kind: String = app.redis_cmd(&["TYPE", &key]).await;
        let holds = match kind.as_str() {
            "zset" => app
                .redis_cmd::<Option<f64>>(&["ZSCORE", &key, &id])
                .await
                .is_some(),
            "set" => app.redis_cmd::<bool>(&["SISMEMBER", &key, &id]).await,
            _ => false,
        };
        assert!(!holds, "{key} ({kind}) still holds {id}");
    }
    app.user("bob").room_info(&id).await.expect(404, 40400);
    assert_eq!(live_list(&app, "bob").await, vec![keep.clone()]);
    assert_eq!(search(&app, "bob", "").await, vec![keep.clone()]);
    assert!(search(&app, "bob", "doomed").await.is_empty());
    assert!(search(&app, "bob", "直播").await.is_empty());
    assert!(search(&app, "bob", &id).await.is_empty());
    assert_eq!(search(&app, "bob", "alice").await, vec![keep.clone()]);
    // Members are released.
    app.user("bob").heartbeat(&id).await.expect(404, 40400);
    app.user("carol").heartbeat(&id).await.expect(404, 40400);
    // ... and free to join elsewhere without touching the deleted room.
    assert_eq!(
        app.join("bob", &keep).await["online_count"],
        1,
        "alice left keep when she started the doomed room"
    );
    let after: Vec<String> = app.redis_cmd(&["KEYS", &pattern]).await;
    assert_eq!(
        after,
        vec![events.clone()],
        "joining elsewhere recreated keys"
    );
    let set_keys = HashSet::<String>::from_iter(app.keys("*").await);
    assert!(
        !set_keys.iter().any(|k| k.contains(&id) && *k != events),
        "a key still names {id}: {set_keys:?}"
    );
}
