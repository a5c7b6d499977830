//! The error codes of each endpoint: 403 not the anchor, 404 unknown room, not in the
//! room, 409 room state (SPEC §2).

use crate::errors::{EXTENDS, assert_envelope};
use crate::harness::TestApp;
use serde_json::json;

/// Well-formed but never created.
const UNKNOWN: &str = "live_00000000000000000000";

#[tokio::test]
async fn forbidden_for_non_anchor() {
    let app = TestApp::start().await;
    let created = app.create_room("alice", "created").await;
    let live = app.live_room("alice", "live").await;
    app.join("bob", &live).await;

    refused_unchanged!(
        &app,
        403,
        40300,
        app.put("bob", &format!("/client/live/room/{created}"), None)
    );
    refused_unchanged!(
        &app,
        403,
        40300,
        app.put("bob", &format!("/client/live/room/{live}"), None)
    );
    refused_unchanged!(
        &app,
        403,
        40300,
        app.post("bob", &format!("/client/live/room/{live}"), None)
    );
    refused_unchanged!(
        &app,
        403,
        40300,
        app.delete("bob", &format!("/client/live/room/{live}"))
    );
    refused_unchanged!(
        &app,
        403,
        40300,
        app.delete("bob", &format!("/client/live/room/instance/{live}"))
    );
    refused_unchanged!(
        &app,
        403,
        40300,
        app.delete("bob", &format!("/client/live/room/instance/{created}"))
    );
    refused_unchanged!(
        &app,
        403,
        40300,
        app.put(
            "bob",
            EXTENDS,
            Some(json!({"live_id": live, "extends": {"k": "v"}}))
        )
    );

    // Still as before: live, anchor present, bob a member, no extends.
    let room = app.info("alice", &live).await;
    assert_eq!(room["live_status"], 1);
    assert_eq!(room["online_count"], 2);
    assert_eq!(room["extends"], json!({}));
    assert_eq!(app.info("alice", &created).await["live_status"], 0);
    // And the anchor may do what bob could not.
    app.put(
        "alice",
        EXTENDS,
        Some(json!({"live_id": live, "extends": {"k": "v"}})),
    )
    .await
    .ok();
    app.post("alice", &format!("/client/live/room/{live}"), None)
        .await
        .ok();
    app.delete("alice", &format!("/client/live/room/instance/{created}"))
        .await
        .ok();
}

#[tokio::test]
async fn not_found_for_unknown_room() {
    let app = TestApp::start().await;
    // Some state, so "nothing written" means something.
    let live = app.live_room("alice", "live").await;
    app.join("bob", &live).await;
    let deleted = app.create_room("alice", "doomed").await;
    app.delete("alice", &format!("/client/live/room/instance/{deleted}"))
        .await
        .ok();

    // A 64-char id is well-formed: 404, where 65 chars is 400 (bad_input_table).
    let longest = "a".repeat(64);
    for id in [UNKNOWN, deleted.as_str(), longest.as_str()] {
        refused_unchanged!(
            &app,
            404,
            40400,
            app.get("bob", &format!("/client/live/room/info/{id}"))
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.put("alice", &format!("/client/live/room/{id}"), None)
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.post("alice", &format!("/client/live/room/{id}"), None)
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.delete("alice", &format!("/client/live/room/{id}"))
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.delete("alice", &format!("/client/live/room/instance/{id}"))
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.post("bob", &format!("/client/live/room/user/{id}"), None)
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.post("carol", &format!("/client/live/room/user/{id}"), None)
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.delete("bob", &format!("/client/live/room/user/{id}"))
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.get("bob", &format!("/client/live/room/heartbeat/{id}"))
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.put(
                "alice",
                EXTENDS,
                Some(json!({"live_id": id, "extends": {"k": "v"}}))
            )
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.get("bob", &format!("/client/live/room/user_list?live_id={id}"))
        );
    }
    // bob is still in the live room.
    assert_eq!(app.info("bob", &live).await["online_count"], 2);
}

#[tokio::test]
async fn not_in_room() {
    let app = TestApp::start().await;
    let room = app.live_room("alice", "live").await;
    let other = app.live_room("dave", "other").await;
    let hb = format!("/client/live/room/heartbeat/{room}");
    let member = format!("/client/live/room/user/{room}");

    // Never joined.
    refused_unchanged!(&app, 404, 40401, app.get("bob", &hb));
    refused_unchanged!(&app, 404, 40401, app.delete("bob", &member));

    // Joined, left, then leave again / heartbeat.
    app.join("bob", &room).await;
    app.get("bob", &hb).await.ok();
    app.delete("bob", &member).await.ok();
    refused_unchanged!(&app, 404, 40401, app.delete("bob", &member));
    refused_unchanged!(&app, 404, 40401, app.get("bob", &hb));
    assert_eq!(app.info("alice", &room).await["online_count"], 1);

    // Joining another room leaves this one: heartbeat and leave here are 40401.
    app.join("bob", &room).await;
    app.join("bob", &other).await;
    let r = app.get("bob", &hb).await;
    r.expect(404, 40401);
    assert_envelope(&r);
    app.delete("bob", &member).await.expect(404, 40401);
    app.get("bob", &format!("/client/live/room/heartbeat/{other}"))
        .await
        .ok();
}

#[tokio::test]
async fn conflict_on_room_state() {
    let app = TestApp::start().await;
    let created = app.create_room("alice", "created").await;
    let ended = app.live_room("alice", "ended").await;
    app.join("bob", &ended).await;
    app.post("alice", &format!("/client/live/room/{ended}"), None)
        .await
        .ok();

    // Stop of a created, never started room (both the POST and the DELETE alias).
    refused_unchanged!(
        &app,
        409,
        40900,
        app.post("alice", &format!("/client/live/room/{created}"), None)
    );
    refused_unchanged!(
        &app,
        409,
        40900,
        app.delete("alice", &format!("/client/live/room/{created}"))
    );
    assert_eq!(app.info("alice", &created).await["live_status"], 0);
    // Stop / start / join of an ended room.
    refused_unchanged!(
        &app,
        409,
        40900,
        app.post("alice", &format!("/client/live/room/{ended}"), None)
    );
    refused_unchanged!(
        &app,
        409,
        40900,
        app.delete("alice", &format!("/client/live/room/{ended}"))
    );
    refused_unchanged!(
        &app,
        409,
        40900,
        app.put("alice", &format!("/client/live/room/{ended}"), None)
    );
    refused_unchanged!(
        &app,
        409,
        40900,
        app.post("carol", &format!("/client/live/room/user/{ended}"), None)
    );
    refused_unchanged!(
        &app,
        409,
        40900,
        app.post("bob", &format!("/client/live/room/user/{ended}"), None)
    );
    let room = app.info("alice", &ended).await;
    assert_eq!(room["live_status"], 2);
    assert_eq!(room["pv"], 1);
    // Ended is final but delete is always allowed.
    app.delete("alice", &format!("/client/live/room/instance/{ended}"))
        .await
        .ok();
    app.delete("alice", &format!("/client/live/room/instance/{created}"))
        .await
        .ok();
}
