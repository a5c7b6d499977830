//! Every event of a room's life cycle reaches the receiver once, in order, signed;
//! the default selection leaves member events out; once a deleted room is
//! delivered its mark, cursors and retry state are gone.

use std::time::Duration;

use liveroom::events::EVENT_NAMES;
use liveroom::store::keys::{webhook_receiver_id, webhook_shard};
use liveroom_testkit::WebhookReceiver;
use serde_json::json;

use super::{accepted_for, assert_in_order, assert_signed, hooks, names, stream, wait_accepted};
use crate::harness::TestApp;
use crate::harness::replicas::{cmd, wait_until};

/// A life cycle recording every event of SPEC §10 in room `id`.
async fn life_cycle(app: &TestApp, id: &str) {
    app.join("bob", id).await;
    app.user("alice").start(id).await.ok();
    let extends = json!({"live_id": id, "extends": {"k": "v"}});
    app.user("alice").update_extends(extends).await.ok();
    // room_updated: through the store (this app has no server keys for the route).
    let retitle = liveroom::store::RoomPatch {
        title: Some("hooked again".into()),
        ..Default::default()
    };
    app.store.update_room(id, &retitle).await.unwrap();
    app.join("carol", id).await;
    app.user("bob").leave(id).await.ok();
    app.user("alice").leave(id).await.ok();
    app.join("alice", id).await;
    // stream_started / stream_stopped: a media server's publish and stop (SPEC §12),
    // through the store (this app has no media hook secret for the routes).
    app.store
        .stream_presence(id, "test:1", false)
        .await
        .unwrap();
    app.store.stream_stop(id, "test:1").await.unwrap();
    app.user("alice").stop(id).await.ok();
    app.user("alice").delete_room(id).await.ok();
}

#[tokio::test]
async fn every_event_of_a_life_cycle_arrives_once_in_order_and_signed() {
    let receiver = WebhookReceiver::start().unwrap();
    let app = TestApp::start_with(|c| hooks(c, &[receiver.url()], "all")).await;
    let id = app.create_room("alice", "hooked").await;
    life_cycle(&app, &id).await;
    let want = stream(&app.store, &id).await;
    assert_eq!(
        names(&want).len(),
        EVENT_NAMES.len(),
        "the life cycle records every event"
    );
    assert!(
        wait_accepted(&receiver, &id, want.len(), Duration::from_secs(20)).await,
        "delivered {} of {} events",
        accepted_for(&receiver, &id).len(),
        want.len()
    );
    // Nothing more arrives later (no duplicate in steady state).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = accepted_for(&receiver, &id);
    assert_eq!(assert_in_order(&got, &want), 0, "duplicates: {got:#?}");
    assert_eq!(got.len(), want.len());
    assert_signed(&receiver.deliveries());
}

#[tokio::test]
async fn the_default_selection_leaves_member_events_out() {
    let receiver = WebhookReceiver::start().unwrap();
    let app = TestApp::start_with(|c| {
        let events = c.webhooks.events.clone(); // the default, `room,anchor`
        hooks(c, &[receiver.url()], &events)
    })
    .await;
    let id = app.create_room("alice", "no members").await;
    life_cycle(&app, &id).await;
    let want: Vec<_> = stream(&app.store, &id)
        .await
        .into_iter()
        .filter(|e| !e.event.starts_with("member_"))
        .collect();
    assert!(names(&want).contains("anchor_offline"));
    assert!(
        wait_accepted(&receiver, &id, want.len(), Duration::from_secs(20)).await,
        "delivered {:?}",
        accepted_for(&receiver, &id)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_in_order(&accepted_for(&receiver, &id), &want);
    assert!(
        receiver
            .deliveries()
            .iter()
            .all(|d| !d.text().contains("\"member_")),
        "a member event was delivered"
    );
}

/// Bounded Redis growth: after a deleted room's last event is delivered and the
/// grace (15 × `LIVEROOM_REDIS_TIMEOUT`: 4.5 s here) has passed, its due mark,
/// cursor and retry state are removed.
#[tokio::test]
async fn a_delivered_deleted_room_leaves_no_delivery_state() {
    let receiver = WebhookReceiver::start().unwrap();
    let app = TestApp::start_with(|c| {
        hooks(c, &[receiver.url()], "room");
        c.redis_timeout = Duration::from_millis(300);
    })
    .await;
    let id = app.create_room("alice", "short lived").await;
    app.user("alice").start(&id).await.ok();
    app.user("alice").delete_room(&id).await.ok();
    assert!(wait_accepted(&receiver, &id, 3, Duration::from_secs(20)).await);
    let keys = app.store.keys().webhook_shard(webhook_shard(&id));
    let field = format!("{}|{id}", webhook_receiver_id(&receiver.url()));
    let cursor: Option<String> = cmd(&app.store, &["HGET", &keys.cursor, &field]).await;
    assert!(
        cursor.is_some(),
        "the cursor is kept while the mark is young"
    );
    let gone = wait_until(Duration::from_secs(20), || async {
        let mark: Option<f64> = cmd(&app.store, &["ZSCORE", &keys.due, &id]).await;
        let cursor: Option<String> = cmd(&app.store, &["HGET", &keys.cursor, &field]).await;
        let retry: Option<String> = cmd(&app.store, &["HGET", &keys.retry, &field]).await;
        mark.is_none() && cursor.is_none() && retry.is_none()
    })
    .await;
    assert!(
        gone,
        "the delivered room's mark, cursor or retry state remained"
    );
    assert_eq!(accepted_for(&receiver, &id).len(), 3, "no duplicate");
}
