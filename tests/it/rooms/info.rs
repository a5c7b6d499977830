//! `GET /client/live/room/info/{live_id}`: the room view any user sees, and the push URL
//! only its anchor sees (SPEC §4).

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha1::Sha1;

use crate::harness::TestApp;
use crate::harness::api::{assert_ok_with_data, assert_room_shape, now_secs};

#[tokio::test]
async fn info_returns_room_to_any_user() {
    let app = TestApp::start().await;
    let id = app.create_room("alice", "info room").await;
    let r = app.user("bob").room_info(&id).await;
    assert_ok_with_data(&r);
    let room = r.data();
    assert_room_shape(room);
    assert_eq!(room["live_id"], id.as_str());
    assert_eq!(room["title"], "info room");
    assert_eq!(
        room["anchor_info"]["user_id"], "alice",
        "anchor_info is the anchor's profile, not the caller's"
    );
    assert_eq!(room["anchor_info"]["nick"], "nick-alice");
    assert_eq!(room["push_url"], "");
    // Reading does not count.
    assert_eq!(room["pv"], 0);
    assert_eq!(room["online_count"], 0);
}

/// Parses `{base}/{live_id}?expire=N&token=T`; returns (expire, token).
#[track_caller]
fn parse_push_url(app: &TestApp, url: &str, live_id: &str) -> (i64, String) {
    let prefix = format!(
        "{}/{live_id}?expire=",
        app.config.publish_url.trim_end_matches('/')
    );
    let rest = url
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("push_url {url} must start with {prefix}"));
    let (expire, token) = rest
        .split_once("&token=")
        .unwrap_or_else(|| panic!("no token in {url}"));
    let expire: i64 = expire
        .parse()
        .unwrap_or_else(|_| panic!("expire not a number in {url}"));
    assert!(!token.is_empty() && !token.contains('&'), "token in {url}");
    (expire, token.to_owned())
}

/// The Qiniu Pili "expiry" token: urlsafe_base64(HMAC-SHA1(key, "{path}?expire={N}")).
fn expected_token(app: &TestApp, live_id: &str, expire: i64) -> String {
    let base = format!("{}/{live_id}", app.config.publish_url.trim_end_matches('/'));
    let after_scheme = base.split_once("://").map(|(_, r)| r).unwrap_or(&base);
    let path = &after_scheme[after_scheme.find('/').unwrap()..];
    let mut mac = Hmac::<Sha1>::new_from_slice(app.config.publish_key.as_bytes()).unwrap();
    mac.update(format!("{path}?expire={expire}").as_bytes());
    base64::engine::general_purpose::URL_SAFE.encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn push_url_is_only_for_the_anchor_and_signed() {
    let app = TestApp::start().await;
    let id = app.create_room("alice", "push test").await;
    let anchor_view = app.info("alice", &id).await;
    let url = anchor_view["push_url"].as_str().unwrap();
    let (expire, token) = parse_push_url(&app, url, &id);
    let ttl = app.config.publish_ttl.as_secs() as i64;
    assert!(
        (now_secs() + ttl - 5..=now_secs() + ttl + 5).contains(&expire),
        "default expiry is now + publish TTL: {expire}"
    );
    assert_eq!(token, expected_token(&app, &id, expire));

    // Every other view of a non-anchor: "".
    assert_eq!(app.info("bob", &id).await["push_url"], "");
    app.user("alice").start(&id).await.ok();
    let joined = app.join("bob", &id).await;
    assert_eq!(joined["push_url"], "");
    let list = app.user("bob").list(&[]).await.ok();
    assert_eq!(list.data()["list"][0]["live_id"], id.as_str());
    assert_eq!(list.data()["list"][0]["push_url"], "");
    let found = app
        .user("bob")
        .search(&[("keyword", id.as_str())])
        .await
        .ok();
    assert_eq!(found.data()["list"][0]["push_url"], "");
    let found = app.user("bob").search(&[("keyword", "push")]).await.ok();
    assert_eq!(found.data()["list"][0]["live_id"], id.as_str());
    assert_eq!(found.data()["list"][0]["push_url"], "");
    // ... while the anchor sees it in list and search too.
    let list = app.user("alice").list(&[]).await.ok();
    parse_push_url(
        &app,
        list.data()["list"][0]["push_url"].as_str().unwrap(),
        &id,
    );
    let found = app.user("alice").search(&[("keyword", "push")]).await.ok();
    parse_push_url(
        &app,
        found.data()["list"][0]["push_url"].as_str().unwrap(),
        &id,
    );
    // A room of bob's seen by alice: not her push URL.
    let other = app.create_room("bob", "bob's").await;
    assert_eq!(app.info("alice", &other).await["push_url"], "");
}

#[tokio::test]
async fn push_url_carries_publish_expire_at_when_in_the_future() {
    let app = TestApp::start().await;
    let r = app
        .user("alice")
        .create_room(json!({"title": "expiring", "publish_expire_at": "2040-01-01T00:00:00Z"}))
        .await
        .ok();
    let id = r.data()["live_id"].as_str().unwrap();
    let (expire, token) = parse_push_url(&app, r.data()["push_url"].as_str().unwrap(), id);
    assert_eq!(expire, 2208988800);
    assert_eq!(token, expected_token(&app, id, expire));
    // A past publish_expire_at never yields a past expiry.
    let r = app
        .user("alice")
        .create_room(json!({"title": "expired", "publish_expire_at": "2020-01-01 00:00:00"}))
        .await
        .ok();
    let id = r.data()["live_id"].as_str().unwrap();
    let (expire, token) = parse_push_url(&app, r.data()["push_url"].as_str().unwrap(), id);
    assert!(expire > now_secs(), "expiry in the future: {expire}");
    assert_eq!(token, expected_token(&app, id, expire));
}
