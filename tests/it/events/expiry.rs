//! Members and anchors whose heartbeat lapsed: `member_left` with reason `expired`
//! once, whoever removes the stale entry (a rejoin, a leave, the reaper's sweep);
//! `anchor_offline` and `room_stopped` (`anchor_timeout`) once from the sweep.

use std::time::Duration;

use super::{assert_steps, events};
use crate::harness::TestApp;

#[tokio::test]
async fn expiries_are_recorded_once_by_whoever_removes_the_stale_entry() {
    let app = TestApp::init()
        .with_member_timeout(Duration::from_secs(1))
        .spawn()
        .await;
    let id = app.live_room("alice", "fading").await;
    app.join("bob", &id).await;
    app.join("carol", &id).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // bob's rejoin replaces his stale entry; carol's leave finds hers stale.
    app.join("bob", &id).await;
    app.user("carol").leave(&id).await.expect(404, 40401);
    app.user("bob").leave(&id).await.ok();
    // The anchor lapsed too: the sweep removes her and marks her offline, once.
    let never = 3_600_000;
    for _ in 0..2 {
        app.store.sweep_room(&id, never, 10).await.unwrap();
    }
    // Past close-after (0 ms here) the next sweep ends the room, once.
    for _ in 0..2 {
        app.store.sweep_room(&id, 0, 10).await.unwrap();
    }
    assert_steps(
        &events(&app, &id).await,
        &id,
        "fading",
        "alice",
        &[
            ("room_created", "", "", 0, 0),
            ("room_started", "", "", 0, 1),
            ("member_joined", "alice", "", 1, 1),
            ("member_joined", "bob", "", 2, 1),
            ("member_joined", "carol", "", 3, 1),
            ("member_left", "bob", "expired", 0, 1),
            ("member_joined", "bob", "", 1, 1),
            ("member_left", "carol", "expired", 1, 1),
            ("member_left", "bob", "leave", 0, 1),
            ("member_left", "alice", "expired", 0, 1),
            ("anchor_offline", "alice", "", 0, 1),
            ("room_stopped", "", "anchor_timeout", 0, 2),
        ],
    );
}
