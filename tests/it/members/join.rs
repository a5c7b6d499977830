//! `POST /client/live/room/user/{live_id}`: joining a room (SPEC §6).

use crate::harness::TestApp;
use crate::harness::api::{assert_ok_with_data, assert_room_shape, user_list};

#[tokio::test]
async fn join_returns_room_and_counts() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "join me").await;
    let r = app.user("bob").join(&id).await;
    assert_ok_with_data(&r);
    let room = r.data();
    assert_room_shape(room);
    assert_eq!(room["live_id"], id.as_str());
    assert_eq!(room["online_count"], 2);
    assert_eq!(room["pv"], 1);
    assert_eq!(room["uv"], 1);
    assert_eq!(room["anchor_status"], 1);
    assert_eq!(room["push_url"], "");
    let room = app.join("carol", &id).await;
    assert_eq!(room["online_count"], 3);
    assert_eq!(room["pv"], 2);
    assert_eq!(room["uv"], 2);
    // A created (not yet live) room can be joined too.
    let waiting = app.create_room("dave", "waiting room").await;
    let room = app.join("erin", &waiting).await;
    assert_eq!(room["live_status"], 0);
    assert_eq!(room["online_count"], 1);
}

#[tokio::test]
async fn joining_another_room_leaves_the_first_at_once() {
    let app = TestApp::start().await;
    let a = app.live_room("alice", "room A").await;
    let b = app.live_room("carol", "room B").await;
    assert_eq!(app.join("bob", &a).await["online_count"], 2);
    let room_b = app.join("bob", &b).await;
    assert_eq!(room_b["online_count"], 2, "B rises");
    let room_a = app.info("bob", &a).await;
    assert_eq!(room_a["online_count"], 1, "A drops by one at once");
    assert_eq!(room_a["pv"], 1, "A's PV stays");
    assert_eq!(user_list(&app, &a).await, vec!["alice"]);
    assert_eq!(user_list(&app, &b).await, vec!["carol", "bob"]);
    app.user("bob").heartbeat(&a).await.expect(404, 40401);
    app.user("bob").heartbeat(&b).await.ok();
    // The same for an anchor who joins another room: absent from its own.
    app.join("alice", &b).await;
    let room_a = app.info("bob", &a).await;
    assert_eq!(room_a["anchor_status"], 0);
    assert_eq!(room_a["online_count"], 0);
    assert_eq!(app.info("bob", &b).await["online_count"], 3);
    // Starting its own room brings it back (and out of B).
    app.user("alice").start(&a).await.ok();
    assert_eq!(app.info("bob", &a).await["anchor_status"], 1);
    assert_eq!(app.info("bob", &b).await["online_count"], 2);
}

#[tokio::test]
async fn rejoining_the_same_room_is_one_presence_and_two_pv() {
    let app = TestApp::start().await;
    let id = app.create_room("alice", "again").await;
    let first = app.join("bob", &id).await;
    assert_eq!(
        (
            first["online_count"].as_u64(),
            first["pv"].as_u64(),
            first["uv"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let second = app.join("bob", &id).await;
    assert_eq!(second["online_count"], 1);
    assert_eq!(second["pv"], 2);
    assert_eq!(second["uv"], 1);
    assert_eq!(user_list(&app, &id).await, vec!["bob"], "listed once");
    let info = app.info("carol", &id).await;
    assert_eq!(
        (
            info["online_count"].as_u64(),
            info["pv"].as_u64(),
            info["uv"].as_u64()
        ),
        (Some(1), Some(2), Some(1))
    );
}

#[tokio::test]
async fn joins_survive_script_flush() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "flush").await;
    assert_eq!(app.join("bob", &id).await["online_count"], 2);
    app.flush_scripts().await;
    let room = app.join("carol", &id).await;
    assert_eq!(room["online_count"], 3);
    assert_eq!(room["pv"], 2);
    app.flush_scripts().await;
    app.user("bob").heartbeat(&id).await.ok();
    assert_eq!(app.info("viewer", &id).await["online_count"], 3);
}
