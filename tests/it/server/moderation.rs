//! Kick and ban (`src/routes/server/moderation.rs`, SPEC §11): a kicked member is out
//! at once, its heartbeat says it was removed, a ban refuses its joins (on every
//! replica) until it ends by Redis's clock, bans are listed and lifted, refused
//! requests write nothing; and a server stop records `reason: server`. On one Redis
//! and on the Cluster (`LIVEROOM_TEST_REDIS=cluster`).

use std::time::Duration;

use serde_json::{Value, json};

use super::{KEY1, as_server, both_keys, server_app, server_token};
use crate::events::events;
use crate::harness::api::user_list;
use crate::harness::keyspace::writes;
use crate::harness::replicas::wait_until;
use crate::harness::{Replica, Reply, TestApp, TestRedis, call_at, live_room_at, token_for};

/// `POST /server/live/room/kick/{live_id}` with `body`, as the first server key.
async fn kick(app: &TestApp, live_id: &str, body: Value) -> Reply {
    as_server(
        app,
        "POST",
        &format!("/server/live/room/kick/{live_id}"),
        Some(body),
    )
    .await
}

/// The room `user`'s profile points at ("" when none).
async fn pointer(app: &TestApp, user: &str) -> String {
    let key = app.store.keys().user(user);
    let room: Option<String> = app.redis_cmd(&["HGET", &key, "room"]).await;
    room.unwrap_or_default()
}

#[tokio::test]
async fn a_kick_drops_the_counts_at_once_and_records_member_left_kicked() {
    let app = server_app().await;
    let id = app.live_room("alice", "kick").await;
    app.join("bob", &id).await;
    app.join("carol", &id).await;
    assert_eq!(app.info("alice", &id).await["online_count"], 3);
    let r = kick(&app, &id, json!({"user_id": "bob", "reason": "spam"}))
        .await
        .ok();
    assert_eq!(
        r.data(),
        &json!({"user_id": "bob", "kicked": true, "banned_until": 0})
    );
    assert_eq!(app.info("alice", &id).await["online_count"], 2);
    assert_eq!(user_list(&app, &id).await, ["alice", "carol"]);
    assert_eq!(pointer(&app, "bob").await, "", "bob's pointer stayed");
    let last = events(&app, &id).await.pop().unwrap();
    assert_eq!(last.event, "member_left");
    assert_eq!(last.user.unwrap().user_id, "bob");
    assert_eq!(last.reason.as_deref(), Some("kicked"));
    assert_eq!(last.by.as_deref(), Some(KEY1.0));
    assert_eq!(last.note.as_deref(), Some("spam"));
    assert_eq!(last.room.online_count, 2);
    // The kicked member's heartbeat says it was removed.
    let hb = app.user("bob").heartbeat(&id).await;
    hb.expect(404, 40401);
    let message = hb.body["message"].as_str().unwrap();
    assert!(message.contains("removed"), "{message}");
    // A kick without a ban lets it come back; the join clears the kick mark.
    app.join("bob", &id).await;
    app.user("bob").heartbeat(&id).await.ok();
    app.user("bob").leave(&id).await.ok();
    let hb = app.user("bob").heartbeat(&id).await;
    hb.expect(404, 40401);
    assert_eq!(hb.body["message"], "user is not in this room");
}

#[tokio::test]
async fn refused_kicks_write_nothing() {
    let app = server_app().await;
    let id = app.live_room("alice", "refusals").await;
    app.join("bob", &id).await;
    let before = writes(&app).await;
    let not_there = kick(&app, &id, json!({"user_id": "dave"})).await;
    not_there.expect(404, 40401);
    assert_eq!(not_there.body["message"], "user is not in this room");
    kick(&app, &id, json!({"user_id": "alice"}))
        .await
        .expect(400, 40000);
    for (body, field) in [
        (json!({}), "user_id"),
        (json!({"user_id": "a b"}), "user_id"),
        (json!({"user_id": "bob", "ban_seconds": -1}), "ban_seconds"),
        (
            json!({"user_id": "bob", "ban_seconds": 31_536_001}),
            "ban_seconds",
        ),
        (
            json!({"user_id": "bob", "reason": "x".repeat(257)}),
            "reason",
        ),
    ] {
        let r = kick(&app, &id, body.clone()).await;
        r.expect(400, 40000);
        let message = r.body["message"].as_str().unwrap();
        assert!(message.contains(field), "{body}: {message}");
    }
    kick(&app, "live_00000000000000000000", json!({"user_id": "bob"}))
        .await
        .expect(404, 40400);
    assert_eq!(writes(&app).await, before, "a refused kick wrote");
    assert_eq!(user_list(&app, &id).await, ["alice", "bob"]);
}

#[tokio::test]
async fn a_ban_refuses_the_rejoin_until_it_ends_then_allows_it() {
    let app = server_app().await;
    let id = app.live_room("alice", "ban").await;
    app.join("bob", &id).await;
    let pv = app.info("alice", &id).await["pv"].clone();
    let r = kick(&app, &id, json!({"user_id": "bob", "ban_seconds": 2}))
        .await
        .ok();
    assert_eq!(r.data()["kicked"], true);
    let until = r.data()["banned_until"].as_i64().unwrap();
    let now = crate::harness::api::now_secs();
    assert!((now + 1..=now + 4).contains(&until), "{until} vs {now}");
    // Bob is in another room meanwhile: the refused join leaves him there.
    let other = app.live_room("carol", "elsewhere").await;
    app.join("bob", &other).await;
    let before = writes(&app).await;
    let refused = app.user("bob").join(&id).await;
    refused.expect(403, 40301);
    let message = refused.body["message"].as_str().unwrap();
    assert!(
        message.starts_with("banned from this room until 20"),
        "{message}"
    );
    assert_eq!(writes(&app).await, before, "a refused join wrote");
    assert_eq!(pointer(&app, "bob").await, other);
    assert_eq!(user_list(&app, &other).await, ["carol", "bob"]);
    assert_eq!(app.info("alice", &id).await["pv"], pv);
    // A fresh token (a re-login) changes nothing: the ban is the room's.
    let again = app
        .call(
            "POST",
            &format!("/client/live/room/user/{id}"),
            Some(&token_for("bob")),
            None,
        )
        .await;
    again.expect(403, 40301);
    let allowed = wait_until(Duration::from_secs(10), || async {
        app.user("bob").join(&id).await.status == 200
    })
    .await;
    assert!(allowed, "the join stayed refused after the ban ended");
    assert_eq!(user_list(&app, &id).await, ["alice", "bob"]);
    assert_eq!(pointer(&app, "bob").await, id);
    assert_eq!(
        user_list(&app, &other).await,
        ["carol"],
        "one room per user"
    );
}

#[tokio::test]
async fn bans_are_listed_and_lifted() {
    let app = server_app().await;
    let id = app.live_room("alice", "ban list").await;
    app.join("bob", &id).await;
    kick(&app, &id, json!({"user_id": "bob", "ban_seconds": 600}))
        .await
        .ok();
    // A user not present can be banned too (no event: nothing changed in the room).
    let r = kick(&app, &id, json!({"user_id": "dave", "ban_seconds": 300}))
        .await
        .ok();
    assert_eq!(r.data()["kicked"], false);
    let list = |q: String| {
        let app = &app;
        async move {
            as_server(app, "GET", &format!("/server/live/room/bans?{q}"), None)
                .await
                .ok()
        }
    };
    let now = crate::harness::api::now_secs();
    let all = list(format!("live_id={id}")).await;
    assert_eq!(all.data()["total_count"], 2);
    let rows = all.data()["list"].as_array().unwrap().clone();
    let users: Vec<&str> = rows
        .iter()
        .map(|b| b["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["dave", "bob"], "soonest end first");
    let until = rows[1]["until"].as_i64().unwrap();
    assert!((now + 598..=now + 602).contains(&until), "{until} vs {now}");
    let first = list(format!("live_id={id}&page_size=1")).await;
    assert_eq!(first.data()["list"][0]["user_id"], "dave");
    let cursor = first.data()["next_cursor"].as_str().unwrap().to_owned();
    let second = list(format!("live_id={id}&page_size=1&cursor={cursor}")).await;
    assert_eq!(second.data()["list"][0]["user_id"], "bob");
    assert_eq!(second.data()["next_cursor"], "");
    // Unban: idempotent, says whether a ban was lifted.
    let unban = |user: &'static str| {
        let (app, id) = (&app, id.clone());
        async move {
            as_server(
                app,
                "DELETE",
                &format!("/server/live/room/ban/{id}/{user}"),
                None,
            )
            .await
        }
    };
    let r = unban("dave").await.ok();
    assert_eq!(r.data(), &json!({"user_id": "dave", "unbanned": true}));
    let r = unban("dave").await.ok();
    assert_eq!(r.data()["unbanned"], false);
    app.join("dave", &id).await;
    app.user("bob").join(&id).await.expect(403, 40301);
    let rest = list(format!("live_id={id}")).await;
    assert_eq!(rest.data()["total_count"], 1);
    assert_eq!(rest.data()["list"][0]["user_id"], "bob");
    unban("bob").await.ok();
    app.join("bob", &id).await;
    // Errors.
    let missing = "live_00000000000000000000";
    as_server(
        &app,
        "GET",
        &format!("/server/live/room/bans?live_id={missing}"),
        None,
    )
    .await
    .expect(404, 40400);
    as_server(&app, "GET", "/server/live/room/bans", None)
        .await
        .expect(400, 40000);
    as_server(
        &app,
        "DELETE",
        &format!("/server/live/room/ban/{missing}/bob"),
        None,
    )
    .await
    .expect(404, 40400);
    as_server(
        &app,
        "DELETE",
        &format!("/server/live/room/ban/{id}/a%20b"),
        None,
    )
    .await
    .expect(400, 40000);
}

#[tokio::test]
async fn bans_go_with_the_room() {
    let app = server_app().await;
    let id = app.live_room("alice", "gone").await;
    app.join("bob", &id).await;
    kick(&app, &id, json!({"user_id": "bob", "ban_seconds": 600}))
        .await
        .ok();
    let rk = app.store.keys().room(&id);
    let exists: i64 = app.redis_cmd(&["EXISTS", &rk.bans]).await;
    assert_eq!(exists, 1);
    as_server(
        &app,
        "DELETE",
        &format!("/server/live/room/instance/{id}"),
        None,
    )
    .await
    .ok();
    let left: i64 = app.redis_cmd(&["EXISTS", &rk.bans, &rk.kicked]).await;
    assert_eq!(left, 0, "the ban outlived its room");
}

/// Kicks with a ban racing joins of the same users: every user ends banned and not
/// present, its pointer not at the room, whatever the interleaving.
#[tokio::test]
async fn a_kick_racing_a_join_never_leaves_a_banned_user_present() {
    let app = server_app().await;
    let id = app.live_room("alice", "race").await;
    for round in 0..12 {
        let user = format!("racer{round}");
        let racer = app.user(&user);
        let join = racer.join(&id);
        let ban = kick(&app, &id, json!({"user_id": user, "ban_seconds": 600}));
        // Either request sent first, in turn.
        let (joined, banned) = if round % 2 == 0 {
            tokio::join!(join, ban)
        } else {
            let (banned, joined) = tokio::join!(ban, join);
            (joined, banned)
        };
        let banned = banned.ok();
        assert!(
            joined.status == 200 || joined.code() == 40301,
            "{}",
            joined.body
        );
        assert!(banned.data()["banned_until"].as_i64().unwrap() > 0);
        assert!(
            !user_list(&app, &id).await.contains(&user),
            "{user} present while banned"
        );
        assert_ne!(pointer(&app, &user).await, id, "{user} pointed at the room");
        app.user(&user).join(&id).await.expect(403, 40301);
    }
}

/// A ban made through one replica process refuses joins through another.
#[tokio::test]
async fn a_ban_holds_across_replicas() {
    let redis = TestRedis::new();
    let keys = both_keys();
    let env = [("LIVEROOM_SERVER_KEYS", keys.as_str())];
    let a = Replica::start("ban-a", &redis, &env).await;
    let b = Replica::start("ban-b", &redis, &env).await;
    let id = live_room_at(&a.base, "alice", "two replicas").await;
    let join_path = format!("/client/live/room/user/{id}");
    call_at(&b.base, "POST", &join_path, &token_for("bob"))
        .await
        .ok();
    let resp = reqwest::Client::new()
        .post(format!("{}/server/live/room/kick/{id}", a.base))
        .header("Authorization", format!("Bearer {}", server_token(KEY1)))
        .json(&json!({"user_id": "bob", "ban_seconds": 600, "reason": "abuse"}))
        .send()
        .await
        .unwrap();
    TestApp::reply(resp).await.ok();
    for base in [&b.base, &a.base] {
        call_at(base, "POST", &join_path, &token_for("bob"))
            .await
            .expect(403, 40301);
    }
}

#[tokio::test]
async fn a_server_stop_records_reason_server_with_the_key_and_text() {
    let app = server_app().await;
    let id = app.live_room("alice", "stop").await;
    as_server(
        &app,
        "POST",
        &format!("/server/live/room/stop/{id}"),
        Some(json!({"reason": "terms of service"})),
    )
    .await
    .ok();
    let last = events(&app, &id).await.pop().unwrap();
    assert_eq!(last.event, "room_stopped");
    assert_eq!(last.reason.as_deref(), Some("server"));
    assert_eq!(last.by.as_deref(), Some(KEY1.0));
    assert_eq!(last.note.as_deref(), Some("terms of service"));
    // The anchor's own stop keeps reason anchor, without by / note.
    let other = app.live_room("alice", "own stop").await;
    app.user("alice").stop(&other).await.ok();
    let last = events(&app, &other).await.pop().unwrap();
    assert_eq!(
        (last.reason.as_deref(), last.by, last.note),
        (Some("anchor"), None, None)
    );
}

/// A kick marks the room due for webhooks (in the same script on one Redis, just
/// before it on the Cluster).
#[tokio::test]
async fn a_kick_marks_the_room_due_for_webhooks() {
    let receiver = liveroom_testkit::WebhookReceiver::start().unwrap();
    let app = TestApp::start_with(|c| {
        c.server_keys = Some(both_keys());
        crate::webhooks::hooks(c, &[receiver.url()], "member");
    })
    .await;
    let id = app.live_room("alice", "marks").await;
    app.join("bob", &id).await;
    let due = app
        .store
        .keys()
        .webhook_shard(liveroom::store::keys::webhook_shard(&id))
        .due;
    let _: i64 = app.redis_cmd(&["ZREM", &due, &id]).await;
    kick(&app, &id, json!({"user_id": "bob"})).await.ok();
    let mark: Option<f64> = app.redis_cmd(&["ZSCORE", &due, &id]).await;
    assert!(mark.is_some(), "the kick did not mark the room due");
}
