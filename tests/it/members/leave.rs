//! `DELETE /client/live/room/user/{live_id}`: leaving a room (SPEC §6).

use crate::harness::TestApp;
use crate::harness::api::{assert_ok_without_data, user_list};

#[tokio::test]
async fn leave_releases_member_and_anchor() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "leave me").await;
    app.join("bob", &id).await;
    let r = app.user("bob").leave(&id).await;
    assert_ok_without_data(&r);
    let room = app.info("carol", &id).await;
    assert_eq!(room["online_count"], 1);
    assert_eq!(room["pv"], 1, "PV is not undone by leaving");
    assert_eq!(user_list(&app, &id).await, vec!["alice"]);
    app.user("bob").heartbeat(&id).await.expect(404, 40401);
    // The anchor leaving: anchor_status 0, the room stays live.
    let r = app.user("alice").leave(&id).await;
    assert_ok_without_data(&r);
    let room = app.info("carol", &id).await;
    assert_eq!(room["anchor_status"], 0);
    assert_eq!(room["online_count"], 0);
    assert_eq!(room["live_status"], 1);
    // Leaving again: not in the room.
    app.user("bob").leave(&id).await.expect(404, 40401);
}
