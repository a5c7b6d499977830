//! Changing a room's title, notice and cover through the server API
//! (`PUT /server/live/room/instance/{live_id}`, SPEC §11): each field changes, the
//! search index follows the title, `room_updated` is recorded once with the changes
//! (and marks the room due for webhooks), a body that changes nothing records nothing,
//! refused requests write nothing. On one Redis and on the Cluster
//! (`LIVEROOM_TEST_REDIS=cluster`).

use std::time::Duration;

use serde_json::{Value, json};

use super::{as_server, both_keys, server_app};
use crate::events::events;
use crate::harness::api::{assert_room_shape, search};
use crate::harness::keyspace::writes;
use crate::harness::replicas::wait_until;
use crate::harness::{Reply, TestApp};

/// `PUT /server/live/room/instance/{live_id}` with `body`, as the first server key.
async fn update(app: &TestApp, live_id: &str, body: Value) -> Reply {
    as_server(
        app,
        "PUT",
        &format!("/server/live/room/instance/{live_id}"),
        Some(body),
    )
    .await
}

/// The `room_updated` events of the room, as their `changes` objects.
async fn updates(app: &TestApp, live_id: &str) -> Vec<Value> {
    events(app, live_id)
        .await
        .into_iter()
        .filter(|e| e.event == "room_updated")
        .map(|e| serde_json::to_value(e.changes.expect("room_updated without changes")).unwrap())
        .collect()
}

#[tokio::test]
async fn each_field_changes_and_is_recorded_once_with_its_changes() {
    let app = server_app().await;
    let id = app.create_room("alice", "Friday show").await;
    let r = update(&app, &id, json!({"title": "Saturday show"}))
        .await
        .ok();
    assert_room_shape(r.data());
    assert_eq!(r.data()["title"], "Saturday show");
    assert_eq!(r.data()["live_id"], id.as_str());
    assert!(!r.data()["push_url"].as_str().unwrap().is_empty());
    let info = app.info("bob", &id).await;
    assert_eq!(info["title"], "Saturday show");
    let last = events(&app, &id).await.pop().unwrap();
    assert_eq!(last.event, "room_updated");
    assert_eq!(
        last.room.title, "Saturday show",
        "the event carries the new title"
    );
    assert_eq!(
        updates(&app, &id).await,
        [json!({"title": "Saturday show"})]
    );

    // Notice and cover together; a field left out stays; null counts as absent.
    let r = update(
        &app,
        &id,
        json!({"notice": "doors at 8", "cover_url": "https://img.example/c.png", "title": null}),
    )
    .await
    .ok();
    assert_eq!(r.data()["title"], "Saturday show");
    let info = app.info("bob", &id).await;
    assert_eq!(info["notice"], "doors at 8");
    assert_eq!(info["cover_url"], "https://img.example/c.png");
    assert_eq!(
        updates(&app, &id).await[1],
        json!({"notice": "doors at 8", "cover_url": "https://img.example/c.png"})
    );

    // The same values again change nothing: no event, nothing written.
    let before = writes(&app).await;
    update(
        &app,
        &id,
        json!({"title": "Saturday show", "notice": "doors at 8"}),
    )
    .await
    .ok();
    assert_eq!(
        writes(&app).await,
        before,
        "an update changing nothing wrote"
    );
    assert_eq!(updates(&app, &id).await.len(), 2);

    // Only what differs is recorded; an empty cover clears it.
    update(
        &app,
        &id,
        json!({"title": "Saturday show", "cover_url": ""}),
    )
    .await
    .ok();
    assert_eq!(app.info("bob", &id).await["cover_url"], "");
    assert_eq!(updates(&app, &id).await[2], json!({"cover_url": ""}));

    // An ended room may still be edited (a replay renamed).
    app.user("alice").start(&id).await.ok();
    app.user("alice").stop(&id).await.ok();
    let r = update(&app, &id, json!({"title": "Saturday show (replay)"}))
        .await
        .ok();
    assert_eq!(r.data()["live_status"], 2);
    let last = events(&app, &id).await.pop().unwrap();
    assert_eq!(last.event, "room_updated");
    assert_eq!(last.room.live_status, 2);
    assert_eq!(updates(&app, &id).await.len(), 4);
}

#[tokio::test]
async fn search_finds_the_room_by_its_new_title_only() {
    let app = server_app().await;
    let id = app.create_room("alice", "apple pie party").await;
    let other = app.create_room("carol", "apple tasting").await;
    assert!(search(&app, "bob", "pie").await.contains(&id));
    update(&app, &id, json!({"title": "Banana Split night"}))
        .await
        .ok();
    assert_eq!(search(&app, "bob", "banana").await, [id.as_str()]);
    assert_eq!(search(&app, "bob", "split NIGHT").await, [id.as_str()]);
    assert!(search(&app, "bob", "pie").await.is_empty());
    assert_eq!(search(&app, "bob", "apple").await, [other.as_str()]);
    // The index holds no term only the old title had; the shared ones stay.
    let member = |term: &str| {
        let key = app.store.keys().term_index(term);
        let id = id.clone();
        let app = &app;
        async move {
            let n: i64 = app.redis_cmd(&["SISMEMBER", &key, &id]).await;
            n == 1
        }
    };
    for stale in ["pi", "ie", "pp", "e", "y"] {
        assert!(!member(stale).await, "stale term {stale:?} still indexed");
    }
    for kept in ["a", "n", "ba", "p", "l"] {
        assert!(member(kept).await, "term {kept:?} missing");
    }
    // A live room too; and a deleted room leaves no term behind.
    app.user("alice").start(&id).await.ok();
    update(&app, &id, json!({"title": "cherry"})).await.ok();
    assert_eq!(search(&app, "bob", "cherry").await, [id.as_str()]);
    assert!(search(&app, "bob", "banana").await.is_empty());
    app.user("alice").stop(&id).await.ok();
    app.user("alice").delete_room(&id).await.ok();
    for term in ["ch", "c", "y"] {
        assert!(!member(term).await, "term {term:?} kept after delete");
    }
}

#[tokio::test]
async fn refused_updates_are_400_naming_the_field_and_write_nothing() {
    let app = server_app().await;
    let id = app.create_room("alice", "limits").await;
    let before = writes(&app).await;
    for (body, field) in [
        (json!({}), "title"),
        (json!({"title": null, "notice": null}), "title"),
        (json!({"title": ""}), "title"),
        (json!({"title": "   "}), "title"),
        (json!({"title": "长".repeat(129)}), "title"),
        (json!({"title": "a\u{0007}b"}), "title"),
        (json!({"title": 5}), "title"),
        (json!({"notice": "n".repeat(1025)}), "notice"),
        (json!({"notice": ["x"]}), "notice"),
        (json!({"cover_url": "ftp://x"}), "cover_url"),
        (
            json!({"cover_url": format!("https://{}", "a".repeat(1017))}),
            "cover_url",
        ),
        // A good field with a bad one: nothing of it is written.
        (json!({"title": "fine", "cover_url": "nope"}), "cover_url"),
    ] {
        let r = update(&app, &id, body.clone()).await;
        r.expect(400, 40000);
        let message = r.body["message"].as_str().unwrap();
        assert!(message.contains(field), "{body}: {message}");
    }
    update(&app, &id, json!([1])).await.expect(400, 40000);
    update(&app, "bad!id", json!({"title": "x"}))
        .await
        .expect(400, 40000);
    // Unknown room: 404, nothing written (no search terms either).
    update(&app, "live_00000000000000000000", json!({"title": "ghost"}))
        .await
        .expect(404, 40400);
    // A user token is not a server token.
    let path = format!("/server/live/room/instance/{id}");
    let body = json!({"title": "by a user"});
    app.call("PUT", &path, Some(&app.token("alice")), Some(body))
        .await
        .expect(401, 40100);
    assert_eq!(writes(&app).await, before, "a refused update wrote");
    assert_eq!(app.info("bob", &id).await["title"], "limits");
    assert!(updates(&app, &id).await.is_empty());
    assert!(search(&app, "bob", "ghost").await.is_empty());
    // The longest title and the limits themselves are accepted.
    let longest = "长".repeat(128);
    let cover = format!("https://{}", "a".repeat(1016));
    update(
        &app,
        &id,
        json!({"title": longest, "notice": "n".repeat(1024), "cover_url": cover}),
    )
    .await
    .ok();
    assert_eq!(app.info("bob", &id).await["title"], longest.as_str());
}

/// `room_updated` marks the room due for webhooks (in the same script on one Redis,
/// just before it on the Cluster), and is delivered with its changes.
#[tokio::test]
async fn an_update_marks_the_room_due_for_webhooks_and_is_delivered() {
    let receiver = liveroom_testkit::WebhookReceiver::start().unwrap();
    // Refused deliveries keep the room due (its events are not all delivered), so a
    // delivery cannot take the mark away before the test reads it.
    receiver.answer(500);
    let app = TestApp::start_with(|c| {
        c.server_keys = Some(both_keys());
        crate::webhooks::hooks(c, &[receiver.url()], "room");
    })
    .await;
    let id = app.create_room("alice", "marks").await;
    let due = app
        .store
        .keys()
        .webhook_shard(liveroom::store::keys::webhook_shard(&id))
        .due;
    let _: i64 = app.redis_cmd(&["ZREM", &due, &id]).await;
    update(&app, &id, json!({"notice": "new"})).await.ok();
    let mark: Option<f64> = app.redis_cmd(&["ZSCORE", &due, &id]).await;
    assert!(mark.is_some(), "the update did not mark the room due");
    receiver.answer_ok();
    let delivered = wait_until(Duration::from_secs(30), || async {
        receiver.accepted_bodies().iter().any(|b| {
            let v: Value = serde_json::from_str(b).unwrap_or_default();
            v["event"] == "room_updated"
                && v["room"]["live_id"] == id.as_str()
                && v["changes"] == json!({"notice": "new"})
        })
    })
    .await;
    assert!(
        delivered,
        "room_updated was not delivered: {:?}",
        receiver.accepted_bodies()
    );
}

/// Concurrent title changes end with every term of the title the room has then in the
/// index (each update puts the current title's terms back after removing its old
/// ones), so search finds the room by it.
#[tokio::test]
async fn concurrent_title_changes_leave_the_final_title_findable() {
    let app = server_app().await;
    let id = app.create_room("alice", "start title").await;
    let titles: Vec<String> = (0..8).map(|i| format!("title{i} word{i}x")).collect();
    let calls = titles
        .iter()
        .map(|t| update(&app, &id, json!({ "title": t })));
    for r in futures::future::join_all(calls).await {
        r.ok();
    }
    let last = app.info("bob", &id).await["title"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(titles.contains(&last), "{last}");
    for term in liveroom::search::title_terms(&last) {
        let key = app.store.keys().term_index(&term);
        let n: i64 = app.redis_cmd(&["SISMEMBER", &key, &id]).await;
        assert_eq!(n, 1, "term {term:?} of {last:?} missing");
    }
    assert_eq!(search(&app, "bob", &last).await, [id.as_str()]);
    // Each update changed the title once: one event each.
    assert_eq!(updates(&app, &id).await.len(), titles.len());
}

/// A viewer's event stream (default selection: `room,anchor,online`) carries the
/// update, with its changes and the new title.
#[tokio::test]
async fn a_viewers_event_stream_gets_room_updated() {
    use crate::sse::{SseClient, bearer, events_path};
    let app = server_app().await;
    let id = app.live_room("alice", "before").await;
    let mut s = SseClient::open(
        &app.base,
        &events_path(&id, ""),
        &[("Authorization", &bearer("viewer"))],
    )
    .await;
    assert_eq!(s.next().await.event, "room", "the snapshot comes first");
    update(&app, &id, json!({"title": "after", "notice": "hello"}))
        .await
        .ok();
    let e = s.next_not_online().await;
    assert_eq!(e.event, "room_updated");
    assert_eq!(
        e.data["changes"],
        json!({"title": "after", "notice": "hello"})
    );
    assert_eq!(e.data["room"]["title"], "after");
}
