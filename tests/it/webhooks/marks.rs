//! Due marks: a room is marked by every write that records an event in it, the
//! room a user leaves by joining another included (one script on one Redis, a
//! step of its own on the Cluster); without receivers nothing is marked at all.

use std::time::Duration;

use liveroom::store::keys::webhook_shard;
use liveroom_testkit::WebhookReceiver;

use super::{accepted_for, hooks, wait_accepted};
use crate::harness::TestApp;
use crate::harness::replicas::{cmd, wait_until};

async fn mark(app: &TestApp, live_id: &str) -> Option<f64> {
    let due = app.store.keys().webhook_shard(webhook_shard(live_id)).due;
    cmd(&app.store, &["ZSCORE", &due, live_id]).await
}

#[tokio::test]
async fn joining_another_room_marks_the_room_left_and_its_event_is_delivered() {
    let receiver = WebhookReceiver::start().unwrap();
    let app = TestApp::start_with(|c| {
        hooks(c, &[receiver.url()], "member");
        // Grace 15 × 300 ms: marks of delivered rooms go after 4.5 s.
        c.redis_timeout = Duration::from_millis(300);
    })
    .await;
    let a = app.create_room("alice", "first").await;
    let b = app.create_room("bob", "second").await;
    app.join("carol", &a).await;
    assert!(wait_accepted(&receiver, &a, 1, Duration::from_secs(20)).await);
    // Room A delivered and left alone: its mark goes.
    let unmarked = wait_until(Duration::from_secs(20), || async {
        mark(&app, &a).await.is_none()
    })
    .await;
    assert!(unmarked, "the delivered room's mark stayed");
    // Carol moves to B: A records member_left (switched) and is marked again.
    app.join("carol", &b).await;
    assert!(
        mark(&app, &a).await.is_some(),
        "the room left is not marked"
    );
    assert!(mark(&app, &b).await.is_some());
    assert!(wait_accepted(&receiver, &a, 2, Duration::from_secs(20)).await);
    let got = accepted_for(&receiver, &a);
    assert!(got[1].1.contains("\"reason\":\"switched\""), "{got:?}");
}

#[tokio::test]
async fn without_receivers_nothing_is_marked() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "no hooks").await;
    app.join("bob", &id).await;
    app.user("bob").leave(&id).await.ok();
    app.user("alice").stop(&id).await.ok();
    app.user("alice").delete_room(&id).await.ok();
    let keys: Vec<String> = app.keys("{webhooks*").await;
    assert!(keys.is_empty(), "{keys:?}");
}

/// The reaper marks a room only when its sweep records something: an idle sweep
/// leaves a delivered room unmarked; one that expires a member marks it, and the
/// `member_left` (expired) is delivered.
#[tokio::test]
async fn only_a_sweep_that_records_an_event_marks_the_room() {
    let receiver = WebhookReceiver::start().unwrap();
    let app = TestApp::start_with(|c| {
        hooks(c, &[receiver.url()], "member");
        c.redis_timeout = Duration::from_millis(300);
        c.member_timeout = Duration::from_secs(7);
    })
    .await;
    let id = app.create_room("alice", "swept").await;
    app.join("bob", &id).await;
    assert!(wait_accepted(&receiver, &id, 1, Duration::from_secs(20)).await);
    let unmarked = wait_until(Duration::from_secs(20), || async {
        mark(&app, &id).await.is_none()
    })
    .await;
    assert!(unmarked, "the delivered room's mark stayed");
    // Bob is still present: nothing to record, no mark.
    let idle = app.store.sweep_room(&id, 600_000, 500).await.unwrap();
    assert_eq!(idle.expired, 0);
    assert!(
        mark(&app, &id).await.is_none(),
        "an idle sweep marked the room"
    );
    // Once his presence lapses, the sweep that removes him marks the room.
    let expired = wait_until(Duration::from_secs(15), || async {
        app.store
            .sweep_room(&id, 600_000, 500)
            .await
            .unwrap()
            .expired
            == 1
    })
    .await;
    assert!(expired);
    assert!(
        mark(&app, &id).await.is_some(),
        "the sweep did not mark the room"
    );
    assert!(wait_accepted(&receiver, &id, 2, Duration::from_secs(20)).await);
    assert!(
        accepted_for(&receiver, &id)[1]
            .1
            .contains("\"reason\":\"expired\"")
    );
}
