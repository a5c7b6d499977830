//! A whole room life cycle through the API records each event once, in order, with
//! the room's fields after the change; repeated and refused requests, and
//! heartbeats, record nothing.

use serde_json::json;

use super::{assert_steps, events};
use crate::harness::TestApp;

#[tokio::test]
async fn a_life_cycle_records_each_event_once_in_order() {
    let app = TestApp::start().await;
    let title = "events life";
    let id = app.create_room("alice", title).await;
    let other = app.create_room("dave", "next door").await;
    app.join("bob", &id).await;
    app.user("alice").start(&id).await.ok();
    // Starting again, joining again while present: no change, no event.
    app.user("alice").start(&id).await.ok();
    app.join("bob", &id).await;
    let extends = json!({"live_id": id, "extends": {"k": "v"}});
    app.user("alice").update_extends(extends.clone()).await.ok();
    // The same extends again change nothing.
    app.user("alice").update_extends(extends).await.ok();
    app.join("carol", &id).await;
    // Heartbeats are not events.
    for u in ["alice", "bob", "carol"] {
        app.user(u).heartbeat(&id).await.ok();
    }
    app.user("bob").leave(&id).await.ok();
    // Not present any more: refused, nothing recorded.
    app.user("bob").leave(&id).await.expect(404, 40401);
    app.join("carol", &other).await;
    app.user("alice").leave(&id).await.ok();
    app.join("alice", &id).await;
    // Only the anchor may stop; a refused stop records nothing.
    app.user("bob").stop(&id).await.expect(403, 40300);
    app.user("alice").stop(&id).await.ok();
    app.user("alice").delete_room(&id).await.ok();

    let got = events(&app, &id).await;
    assert_steps(
        &got,
        &id,
        title,
        "alice",
        &[
            ("room_created", "", "", 0, 0),
            ("member_joined", "bob", "", 1, 0),
            ("room_started", "", "", 1, 1),
            ("member_joined", "alice", "", 2, 1),
            ("room_extends_updated", "", "", 2, 1),
            ("member_joined", "carol", "", 3, 1),
            ("member_left", "bob", "leave", 2, 1),
            ("member_left", "carol", "switched", 1, 1),
            ("member_left", "alice", "leave", 0, 1),
            ("anchor_offline", "alice", "", 0, 1),
            ("member_joined", "alice", "", 1, 1),
            ("anchor_online", "alice", "", 1, 1),
            ("room_stopped", "", "anchor", 1, 2),
            ("room_deleted", "", "", 0, 2),
        ],
    );
    let updated = &got[4];
    assert_eq!(
        serde_json::to_value(&updated.extends).unwrap(),
        json!({"k": "v"})
    );
    assert!(
        got.iter()
            .all(|e| e.extends.is_none() || e.event == "room_extends_updated")
    );

    // The other room saw carol come in from the first.
    assert_steps(
        &events(&app, &other).await,
        &other,
        "next door",
        "dave",
        &[
            ("room_created", "", "", 0, 0),
            ("member_joined", "carol", "", 1, 0),
        ],
    );

    // The store's reader gives the same events, and resumes after a given one.
    let read = app.store.room_events(&id, None, 100).await.unwrap();
    assert_eq!(read, got);
    let rest = app
        .store
        .room_events(&id, Some(got[9].stream_id()), 3)
        .await
        .unwrap();
    assert_eq!(rest, got[10..13].to_vec());
}

#[tokio::test]
async fn an_anchor_starting_another_room_leaves_its_first_as_switched() {
    let app = TestApp::start().await;
    let first = app.live_room("alice", "first").await;
    let second = app.create_room("alice", "second").await;
    app.user("alice").start(&second).await.ok();
    assert_steps(
        &events(&app, &first).await,
        &first,
        "first",
        "alice",
        &[
            ("room_created", "", "", 0, 0),
            ("room_started", "", "", 0, 1),
            ("member_joined", "alice", "", 1, 1),
            ("member_left", "alice", "switched", 0, 1),
            ("anchor_offline", "alice", "", 0, 1),
        ],
    );
    assert_steps(
        &events(&app, &second).await,
        &second,
        "second",
        "alice",
        &[
            ("room_created", "", "", 0, 0),
            ("room_started", "", "", 0, 1),
            ("member_joined", "alice", "", 1, 1),
        ],
    );
}

/// The stream stays bounded: MAXLEN ~ 1000 (docs/SPEC.md §10).
#[tokio::test]
async fn a_room_stream_is_trimmed_to_about_a_thousand_events() {
    let app = TestApp::start().await;
    let id = app.create_room("alice", "busy").await;
    for round in 0..2 {
        let users: Vec<String> = (0..300).map(|i| format!("u{round}_{i}")).collect();
        let join = format!("/client/live/room/user/{id}");
        futures::future::join_all(users.iter().map(|u| app.post(u, &join, None))).await;
        futures::future::join_all(users.iter().map(|u| app.delete(u, &join))).await;
    }
    let len: u64 = app
        .redis_cmd(&["XLEN", &app.store.keys().room(&id).events])
        .await;
    // 1 + 1,200 events were recorded; about 1,000 are kept.
    assert!((1000..=1100).contains(&len), "stream length {len}");
    let got = events(&app, &id).await;
    assert_eq!(got.last().unwrap().event, "member_left");
}
