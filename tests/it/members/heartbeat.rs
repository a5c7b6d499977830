//! `GET /client/live/room/heartbeat/{live_id}`: heartbeats, and presence expiring
//! without them (SPEC §6).

use std::time::Duration;

use serde_json::json;

use crate::harness::api::{assert_ok_with_data, user_list};
use crate::harness::{Reply, TestApp};

/// The heartbeat's data without the jittered `next_heartbeat_ms`, which must be the
/// default 5 s interval ±10%.
fn beat_data(r: &Reply) -> serde_json::Value {
    let mut data = r.data().clone();
    let next = data["next_heartbeat_ms"]
        .as_u64()
        .expect("next_heartbeat_ms");
    assert!((4500..=5500).contains(&next), "next_heartbeat_ms {next}");
    data.as_object_mut().unwrap().remove("next_heartbeat_ms");
    data
}

#[tokio::test]
async fn heartbeat_returns_live_id_and_status() {
    let app = TestApp::start().await;
    let id = app.create_room("alice", "beat").await;
    app.join("bob", &id).await;
    let r = app.user("bob").heartbeat(&id).await;
    assert_ok_with_data(&r);
    assert_eq!(beat_data(&r), json!({"live_id": id, "live_status": 0}));
    app.user("alice").start(&id).await.ok();
    let r = app.user("alice").heartbeat(&id).await;
    assert_ok_with_data(&r);
    assert_eq!(beat_data(&r), json!({"live_id": id, "live_status": 1}));
    let r = app.user("bob").heartbeat(&id).await;
    assert_ok_with_data(&r);
    assert_eq!(beat_data(&r), json!({"live_id": id, "live_status": 1}));
    // Never joined.
    app.user("carol").heartbeat(&id).await.expect(404, 40401);
    // Heart-beating does not count PV.
    assert_eq!(app.info("bob", &id).await["pv"], 1);
}

#[tokio::test]
async fn heartbeat_tells_members_the_room_ended() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "beat").await;
    app.join("bob", &id).await;
    app.user("alice").stop(&id).await.ok();
    let r = app.user("bob").heartbeat(&id).await;
    assert_ok_with_data(&r);
    assert_eq!(beat_data(&r), json!({"live_id": id, "live_status": 2}));
}

async fn short_timeout_app() -> TestApp {
    TestApp::init()
        .with_member_timeout(Duration::from_secs(1))
        .spawn()
        .await
}

#[tokio::test]
async fn silent_member_expires_and_beating_member_stays() {
    let app = short_timeout_app().await;
    let id = app.live_room("alice", "expiry").await;
    app.join("bob", &id).await;
    let room = app.join("carol", &id).await;
    assert_eq!(room["online_count"], 3);
    // alice and carol beat every 300 ms; bob stays silent.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.user("alice").heartbeat(&id).await.ok();
        app.user("carol").heartbeat(&id).await.ok();
    }
    let room = app.info("viewer", &id).await;
    assert_eq!(room["online_count"], 2, "bob no longer counts: {room}");
    assert_eq!(room["anchor_status"], 1);
    assert_eq!(room["pv"], 2, "PV is history, not presence");
    assert_eq!(user_list(&app, &id).await, vec!["alice", "carol"]);
    let r = app.user("bob").heartbeat(&id).await;
    r.expect(404, 40401);
    // Joining again brings bob back (as a new join: last in the list).
    assert_eq!(app.join("bob", &id).await["online_count"], 3);
    assert_eq!(user_list(&app, &id).await, vec!["alice", "carol", "bob"]);
}

#[tokio::test]
async fn silent_anchor_goes_offline() {
    let app = short_timeout_app().await;
    let id = app.live_room("alice", "anchor away").await;
    app.join("bob", &id).await;
    assert_eq!(app.info("viewer", &id).await["anchor_status"], 1);
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.user("bob").heartbeat(&id).await.ok();
    }
    let room = app.info("viewer", &id).await;
    assert_eq!(room["anchor_status"], 0, "anchor silent for > 1 s: {room}");
    assert_eq!(room["online_count"], 1);
    assert_eq!(
        room["live_status"], 1,
        "the room stays live (closing takes anchor_close_after)"
    );
    assert_eq!(user_list(&app, &id).await, vec!["bob"]);
    app.user("alice").heartbeat(&id).await.expect(404, 40401);
    // Starting again (idempotent while live) makes the anchor present again.
    let room = app.user("alice").start(&id).await.ok();
    assert_eq!(room.data()["anchor_status"], 1);
    assert_eq!(room.data()["online_count"], 2);
}

/// With only `LIVEROOM_MEMBER_TIMEOUT` set (3 s), the heartbeat interval follows it:
/// clients are told a third of it (before, the service refused to start, the interval
/// staying 5 s).
#[tokio::test]
async fn the_heartbeat_interval_follows_a_short_member_timeout() {
    let app = TestApp::start_with(|c| {
        c.member_timeout = Duration::from_secs(3);
        c.heartbeat_interval = None;
    })
    .await;
    assert_eq!(app.config.check(), Ok(()));
    let id = app.create_room("alice", "short").await;
    app.join("bob", &id).await;
    let r = app.user("bob").heartbeat(&id).await.ok();
    let next = r.data()["next_heartbeat_ms"].as_u64().unwrap();
    assert!((900..=1100).contains(&next), "next_heartbeat_ms {next}");
}
