//! `PUT /client/live/room/extends`: merging and removing a room's extends (SPEC §4).

use serde_json::json;

use crate::harness::TestApp;
use crate::harness::api::{assert_ok_without_data, assert_room_shape};

#[tokio::test]
async fn update_extends_merges_and_removes_empty_values() {
    let app = TestApp::start().await;
    let r = app
        .user("alice")
        .create_room(json!({"title": "ext", "extends": {"a": "1", "b": "2"}}))
        .await
        .ok();
    let id = r.data()["live_id"].as_str().unwrap().to_owned();
    let r = app
        .user("alice")
        .update_extends(json!({"live_id": id, "extends": {"b": "20", "c": "3", "a": ""}}))
        .await;
    assert_ok_without_data(&r);
    let room = app.info("bob", &id).await;
    assert_eq!(room["extends"], json!({"b": "20", "c": "3"}));
    // Removing every key leaves an empty object (not an array).
    app.user("alice")
        .update_extends(json!({"live_id": id, "extends": {"b": "", "c": ""}}))
        .await
        .ok();
    let room = app.info("bob", &id).await;
    assert_eq!(room["extends"], json!({}));
    assert_room_shape(&room);
    // Removing a key that is not there is fine.
    let r = app
        .user("alice")
        .update_extends(json!({"live_id": id, "extends": {"zz": ""}}))
        .await;
    assert_ok_without_data(&r);
    assert_eq!(app.info("bob", &id).await["extends"], json!({}));
    // Chinese keys and values survive the round trip.
    app.user("alice")
        .update_extends(json!({"live_id": id, "extends": {"主题": "音乐"}}))
        .await
        .ok();
    assert_eq!(
        app.info("bob", &id).await["extends"],
        json!({"主题": "音乐"})
    );
}
