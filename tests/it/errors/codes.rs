//! The error codes of each endpoint: 403 not the anchor, 404 unknown room, not in the
//! room, 409 room state (SPEC §2).

use serde_json::json;

use crate::errors::assert_envelope;
use crate::harness::TestApp;

/// Well-formed but never created.
const UNKNOWN: &str = "live_00000000000000000000";

#[tokio::test]
async fn forbidden_for_non_anchor() {
    let app = TestApp::start().await;
    let created = app.create_room("alice", "created").await;
    let live = app.live_room("alice", "live").await;
    app.join("bob", &live).await;

    refused_unchanged!(&app, 403, 40300, app.user("bob").start(&created));
    refused_unchanged!(&app, 403, 40300, app.user("bob").start(&live));
    refused_unchanged!(&app, 403, 40300, app.user("bob").stop(&live));
    refused_unchanged!(&app, 403, 40300, app.user("bob").stop_by_delete(&live));
    refused_unchanged!(&app, 403, 40300, app.user("bob").delete_room(&live));
    refused_unchanged!(&app, 403, 40300, app.user("bob").delete_room(&created));
    refused_unchanged!(
        &app,
        403,
        40300,
        app.user("bob")
            .update_extends(json!({"live_id": live, "extends": {"k": "v"}}))
    );

    // Still as before: live, anchor present, bob a member, no extends.
    let room = app.info("alice", &live).await;
    assert_eq!(room["live_status"], 1);
    assert_eq!(room["online_count"], 2);
    assert_eq!(room["extends"], json!({}));
    assert_eq!(app.info("alice", &created).await["live_status"], 0);
    // And the anchor may do what bob could not.
    app.user("alice")
        .update_extends(json!({"live_id": live, "extends": {"k": "v"}}))
        .await
        .ok();
    app.user("alice").stop(&live).await.ok();
    app.user("alice").delete_room(&created).await.ok();
}

#[tokio::test]
async fn not_found_for_unknown_room() {
    let app = TestApp::start().await;
    // Some state, so "nothing written" means something.
    let live = app.live_room("alice", "live").await;
    app.join("bob", &live).await;
    let deleted = app.create_room("alice", "doomed").await;
    app.user("alice").delete_room(&deleted).await.ok();

    // A 64-char id is well-formed: 404, where 65 chars is 400 (bad_input_table).
    let longest = "a".repeat(64);
    for id in [UNKNOWN, deleted.as_str(), longest.as_str()] {
        refused_unchanged!(&app, 404, 40400, app.user("bob").room_info(id));
        refused_unchanged!(&app, 404, 40400, app.user("alice").start(id));
        refused_unchanged!(&app, 404, 40400, app.user("alice").stop(id));
        refused_unchanged!(&app, 404, 40400, app.user("alice").stop_by_delete(id));
        refused_unchanged!(&app, 404, 40400, app.user("alice").delete_room(id));
        refused_unchanged!(&app, 404, 40400, app.user("bob").join(id));
        refused_unchanged!(&app, 404, 40400, app.user("carol").join(id));
        refused_unchanged!(&app, 404, 40400, app.user("bob").leave(id));
        refused_unchanged!(&app, 404, 40400, app.user("bob").heartbeat(id));
        refused_unchanged!(
            &app,
            404,
            40400,
            app.user("alice")
                .update_extends(json!({"live_id": id, "extends": {"k": "v"}}))
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.user("bob").user_list(&[("live_id", id)])
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
    let bob = app.user("bob");

    // Never joined.
    refused_unchanged!(&app, 404, 40401, bob.heartbeat(&room));
    refused_unchanged!(&app, 404, 40401, bob.leave(&room));

    // Joined, left, then leave again / heartbeat.
    app.join("bob", &room).await;
    bob.heartbeat(&room).await.ok();
    bob.leave(&room).await.ok();
    refused_unchanged!(&app, 404, 40401, bob.leave(&room));
    refused_unchanged!(&app, 404, 40401, bob.heartbeat(&room));
    assert_eq!(app.info("alice", &room).await["online_count"], 1);

    // Joining another room leaves this one: heartbeat and leave here are 40401.
    app.join("bob", &room).await;
    app.join("bob", &other).await;
    let r = bob.heartbeat(&room).await;
    r.expect(404, 40401);
    assert_envelope(&r);
    bob.leave(&room).await.expect(404, 40401);
    app.user("bob").heartbeat(&other).await.ok();
}

#[tokio::test]
async fn conflict_on_room_state() {
    let app = TestApp::start().await;
    let created = app.create_room("alice", "created").await;
    let ended = app.live_room("alice", "ended").await;
    app.join("bob", &ended).await;
    app.user("alice").stop(&ended).await.ok();

    // Stop of a created, never started room (both the POST and the DELETE alias).
    refused_unchanged!(&app, 409, 40900, app.user("alice").stop(&created));
    refused_unchanged!(&app, 409, 40900, app.user("alice").stop_by_delete(&created));
    assert_eq!(app.info("alice", &created).await["live_status"], 0);
    // Stop / start / join of an ended room.
    refused_unchanged!(&app, 409, 40900, app.user("alice").stop(&ended));
    refused_unchanged!(&app, 409, 40900, app.user("alice").stop_by_delete(&ended));
    refused_unchanged!(&app, 409, 40900, app.user("alice").start(&ended));
    refused_unchanged!(&app, 409, 40900, app.user("carol").join(&ended));
    refused_unchanged!(&app, 409, 40900, app.user("bob").join(&ended));
    let room = app.info("alice", &ended).await;
    assert_eq!(room["live_status"], 2);
    assert_eq!(room["pv"], 1);
    // Ended is final but delete is always allowed.
    app.user("alice").delete_room(&ended).await.ok();
    app.user("alice").delete_room(&created).await.ok();
}
