//! `PUT /client/live/room/{live_id}`: starting a room (SPEC §4).

use std::time::Duration;

use crate::harness::TestApp;
use crate::harness::api::{assert_ok_with_data, assert_room_shape, live_list, now_secs, user_list};

#[tokio::test]
async fn start_makes_room_live_and_anchor_present() {
    let app = TestApp::start().await;
    let id = app.create_room("alice", "start me").await;
    let before = now_secs();
    let r = app.user("alice").start(&id).await;
    assert_ok_with_data(&r);
    let room = r.data();
    assert_room_shape(room);
    assert_eq!(room["live_status"], 1);
    assert_eq!(room["anchor_status"], 1);
    assert_eq!(room["online_count"], 1, "the anchor is present");
    assert_eq!(room["pv"], 0, "starting counts no PV");
    assert_eq!(room["uv"], 0, "starting counts no UV");
    let start = room["start_time"].as_i64().unwrap();
    assert!(
        (before - 2..=now_secs() + 2).contains(&start),
        "start_time is now: {start}"
    );
    assert_ne!(room["push_url"], "");
}

#[tokio::test]
async fn start_is_idempotent_while_live() {
    let app = TestApp::start().await;
    let id = app.create_room("alice", "twice").await;
    let first = app.user("alice").start(&id).await.ok();
    app.join("bob", &id).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = app.user("alice").start(&id).await;
    assert_ok_with_data(&second);
    let second = second.data();
    assert_eq!(second["live_status"], 1);
    assert_eq!(
        second["start_time"],
        first.data()["start_time"],
        "a second start keeps the original start time"
    );
    assert_eq!(second["online_count"], 2);
    assert_eq!(second["pv"], 1);
    assert_eq!(
        live_list(&app, "bob").await,
        vec![id.clone()],
        "listed once"
    );
    assert_eq!(
        user_list(&app, &id).await,
        vec!["alice", "bob"],
        "anchor keeps its join time"
    );
}
