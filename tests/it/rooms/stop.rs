//! `POST /client/live/room/{live_id}`: stopping a room (SPEC §4).

use crate::harness::TestApp;
use crate::harness::api::{assert_ok_without_data, assert_room_shape, live_list, now_secs};

#[tokio::test]
async fn stop_ends_live_room() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "stop me").await;
    let r = app.user("alice").stop(&id).await;
    assert_ok_without_data(&r);
    let room = app.info("bob", &id).await;
    assert_room_shape(&room);
    assert_eq!(room["live_status"], 2);
    let end = room["end_time"].as_i64().unwrap();
    assert!(end > 0, "end_time set");
    assert!(
        (now_secs() - 2..=now_secs() + 2).contains(&end),
        "end_time is now: {end}"
    );
    assert!(end >= room["start_time"].as_i64().unwrap());
    assert!(
        live_list(&app, "bob").await.is_empty(),
        "an ended room is not listed"
    );
    // Ended is final.
    app.user("alice").start(&id).await.expect(409, 40900);
}
