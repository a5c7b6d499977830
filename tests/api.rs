//! Success paths and behaviours of every endpoint (SPEC §1-§8), against the real app
//! on a real socket and a real `redis-server` per test (tests/common).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use base64::Engine;
use common::{Reply, TestApp};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Sha1;

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/// The exact keys of the room object (SPEC §4).
const ROOM_KEYS: [&str; 19] = [
    "live_id",
    "title",
    "notice",
    "cover_url",
    "extends",
    "anchor_info",
    "anchor_status",
    "pk_id",
    "online_count",
    "start_time",
    "end_time",
    "chat_id",
    "push_url",
    "hls_url",
    "rtmp_url",
    "flv_url",
    "pv",
    "uv",
    "live_status",
];

const ROOM_STRINGS: [&str; 9] = [
    "live_id",
    "title",
    "notice",
    "cover_url",
    "pk_id",
    "push_url",
    "hls_url",
    "rtmp_url",
    "flv_url",
];

const ROOM_NUMBERS: [&str; 8] = [
    "anchor_status",
    "online_count",
    "start_time",
    "end_time",
    "chat_id",
    "pv",
    "uv",
    "live_status",
];

fn key_set(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn set_of(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

fn assert_string_map(v: &Value, what: &str) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {v}"));
    for (k, val) in obj {
        assert!(val.is_string(), "{what}.{k} is not a string: {val}");
    }
}

/// Asserts the exact room shape and JSON types (SPEC §4).
#[track_caller]
fn assert_room_shape(room: &Value) {
    assert_eq!(key_set(room), set_of(&ROOM_KEYS), "room keys: {room}");
    for k in ROOM_STRINGS {
        assert!(room[k].is_string(), "{k} must be a string: {room}");
    }
    for k in ROOM_NUMBERS {
        assert!(
            room[k].is_u64() || room[k].is_i64(),
            "{k} must be a JSON integer: {room}"
        );
    }
    assert_string_map(&room["extends"], "extends");
    assert!(room["live_id"].as_str().unwrap().starts_with("live_"));
    assert!(
        room["chat_id"].as_u64().unwrap() > 0,
        "chat_id allocated: {room}"
    );
    assert!(room["live_status"].as_u64().unwrap() <= 2);
    assert!(room["anchor_status"].as_u64().unwrap() <= 1);
    assert_profile_shape(&room["anchor_info"]);
}

/// Asserts the exact profile / anchor_info shape.
#[track_caller]
fn assert_profile_shape(p: &Value) {
    assert_eq!(
        key_set(p),
        set_of(&["user_id", "im_userid", "nick", "avatar", "extends"]),
        "profile keys: {p}"
    );
    assert!(p["user_id"].is_string());
    assert!(
        p["im_userid"].as_u64().is_some_and(|n| n > 0),
        "im_userid: {p}"
    );
    assert!(p["nick"].is_string());
    assert!(p["avatar"].is_string());
    assert_string_map(&p["extends"], "anchor_info.extends");
}

/// Asserts the exact page shape (SPEC §5 pagination) and returns the list.
#[track_caller]
fn assert_page_shape(data: &Value) -> &Vec<Value> {
    assert_eq!(
        key_set(data),
        set_of(&[
            "total_count",
            "page_total",
            "end_page",
            "list",
            "next_cursor"
        ]),
        "page keys: {data}"
    );
    assert!(data["total_count"].is_u64());
    assert!(data["page_total"].is_u64());
    assert!(data["end_page"].is_boolean());
    assert!(data["next_cursor"].is_string());
    data["list"].as_array().expect("list is an array")
}

/// A success envelope with `data`.
#[track_caller]
fn assert_ok_with_data(r: &Reply) {
    assert_eq!((r.status, r.code()), (200, 0), "body: {}", r.body);
    assert_eq!(
        key_set(&r.body),
        set_of(&["request_id", "code", "message", "data"]),
        "envelope: {}",
        r.body
    );
    assert_eq!(r.body["message"], "success");
    assert!(r.body["request_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(r.body["code"].is_u64());
}

/// A success envelope without `data` (stop, delete, leave, extends).
#[track_caller]
fn assert_ok_without_data(r: &Reply) {
    assert_eq!((r.status, r.code()), (200, 0), "body: {}", r.body);
    assert_eq!(
        key_set(&r.body),
        set_of(&["request_id", "code", "message"]),
        "envelope must omit data: {}",
        r.body
    );
    assert_eq!(r.body["message"], "success");
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn ids(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|r| {
            r.get("live_id")
                .or_else(|| r.get("user_id"))
                .and_then(Value::as_str)
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// One page of a paged endpoint; `path` may already hold a query.
async fn page(app: &TestApp, user: &str, path: &str, size: u64, cursor: &str) -> Value {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut url = format!("{path}{sep}page_size={size}");
    if !cursor.is_empty() {
        url.push_str(&format!("&cursor={}", enc(cursor)));
    }
    let r = app.get(user, &url).await;
    assert_ok_with_data(&r);
    r.data().clone()
}

async fn search(app: &TestApp, user: &str, keyword: &str) -> Vec<String> {
    let r = app
        .get(
            user,
            &format!("/client/live/room?keyword={}&page_size=100", enc(keyword)),
        )
        .await;
    assert_ok_with_data(&r);
    let list = assert_page_shape(r.data());
    assert_eq!(
        r.data()["total_count"].as_u64().unwrap() as usize,
        list.len()
    );
    ids(list)
}

async fn live_list(app: &TestApp, user: &str) -> Vec<String> {
    let r = app.get(user, "/client/live/room/list?page_size=100").await;
    assert_ok_with_data(&r);
    ids(assert_page_shape(r.data()))
}

async fn user_list(app: &TestApp, live_id: &str) -> Vec<String> {
    let r = app
        .get(
            "viewer",
            &format!("/client/live/room/user_list?live_id={live_id}&page_size=100"),
        )
        .await;
    assert_ok_with_data(&r);
    let list = assert_page_shape(r.data());
    assert_eq!(
        r.data()["total_count"].as_u64().unwrap() as usize,
        list.len()
    );
    ids(list)
}

async fn heartbeat(app: &TestApp, user: &str, live_id: &str) -> Reply {
    app.get(user, &format!("/client/live/room/heartbeat/{live_id}"))
        .await
}

/// Distinct created / started timestamps (ms) so "newest first" is well defined.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(3)).await;
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

// ---------------------------------------------------------------------------
// 1. every endpoint's success path and shapes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn create_room_returns_full_room() {
    let app = TestApp::start().await;
    let r = app
        .post(
            "alice",
            "/client/live/room/instance",
            Some(json!({
                "title": "Evening show",
                "notice": "be nice",
                "cover_url": "https://img.example.com/c.png",
                "extends": {"lang": "en", "level": "3"},
                "start_at": "2030-01-02 03:04:05",
                "end_at": "2030-01-02 05:04:05",
                "unknown_field": 1
            })),
        )
        .await;
    assert_ok_with_data(&r);
    let room = r.data();
    assert_room_shape(room);
    let id = room["live_id"].as_str().unwrap();
    assert!(
        id.len() >= 5 + 16,
        "live_id carries >= 64 random bits: {id}"
    );
    assert_eq!(room["title"], "Evening show");
    assert_eq!(room["notice"], "be nice");
    assert_eq!(room["cover_url"], "https://img.example.com/c.png");
    assert_eq!(room["extends"], json!({"lang": "en", "level": "3"}));
    assert_eq!(room["anchor_info"]["user_id"], "alice");
    assert_eq!(room["anchor_info"]["nick"], "nick-alice");
    assert_eq!(room["anchor_info"]["avatar"], "");
    assert_eq!(room["anchor_info"]["extends"], json!({}));
    assert_eq!(room["anchor_status"], 0);
    assert_eq!(room["pk_id"], "");
    assert_eq!(room["online_count"], 0);
    // 2030-01-02 03:04:05 +08:00
    assert_eq!(room["start_time"], 1893524645);
    assert_eq!(room["end_time"], 1893531845);
    assert_eq!(room["pv"], 0);
    assert_eq!(room["uv"], 0);
    assert_eq!(room["live_status"], 0);
    assert_ne!(room["push_url"], "", "the anchor sees push_url");
    assert_eq!(
        room["rtmp_url"],
        format!("{}/{id}", app.config.rtmp_play_url)
    );
    assert_eq!(
        room["flv_url"],
        format!("{}/{id}.flv", app.config.flv_play_url)
    );
    assert_eq!(
        room["hls_url"],
        format!("{}/{id}.m3u8", app.config.hls_play_url)
    );

    // A second room gets another id and another chat_id; the anchor keeps its im_userid.
    let r2 = app
        .post(
            "alice",
            "/client/live/room/instance",
            Some(json!({"title": "two"})),
        )
        .await
        .ok();
    assert_ne!(r2.data()["live_id"], room["live_id"]);
    assert_ne!(r2.data()["chat_id"], room["chat_id"]);
    assert_eq!(
        r2.data()["anchor_info"]["im_userid"],
        room["anchor_info"]["im_userid"]
    );
    assert_eq!(r2.data()["start_time"], 0, "no start_at: 0");
    assert_eq!(r2.data()["end_time"], 0);
}

#[tokio::test]
async fn info_returns_room_to_any_user() {
    let app = TestApp::start().await;
    let id = app.create_room("alice", "info room").await;
    let r = app
        .get("bob", &format!("/client/live/room/info/{id}"))
        .await;
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

#[tokio::test]
async fn start_makes_room_live_and_anchor_present() {
    let app = TestApp::start().await;
    let id = app.create_room("alice", "start me").await;
    let before = now_secs();
    let r = app
        .put("alice", &format!("/client/live/room/{id}"), None)
        .await;
    assert_ok_with_data(&r);
    let room = r.data();
    assert_room_shape(room);
    assert_eq!(room["live_status"], 1);
    assert_eq!(room["anchor_status"], 1);
    assert_eq!(room["online_count"], 1, "the anchor is present");
    assert_eq!(room["pv"], 0, "starting counts no PV");
    assert_eq!(room["uv"], 0, "starting counts no UV");
    let start = room["start_time"].as_i64().unwrap();
    assert!(
        (before - 2..=now_secs() + 2).contains(&start),
        "start_time is now: {start}"
    );
    assert_ne!(room["push_url"], "");
}

#[tokio::test]
async fn start_is_idempotent_while_live() {
    let app = TestApp::start().await;
    let id = app.create_room("alice", "twice").await;
    let first = app
        .put("alice", &format!("/client/live/room/{id}"), None)
        .await
        .ok();
    app.join("bob", &id).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = app
        .put("alice", &format!("/client/live/room/{id}"), None)
        .await;
    assert_ok_with_data(&second);
    let second = second.data();
    assert_eq!(second["live_status"], 1);
    assert_eq!(
        second["start_time"],
        first.data()["start_time"],
        "a second start keeps the original start time"
    );
    assert_eq!(second["online_count"], 2);
    assert_eq!(second["pv"], 1);
    assert_eq!(
        live_list(&app, "bob").await,
        vec![id.clone()],
        "listed once"
    );
    assert_eq!(
        user_list(&app, &id).await,
        vec!["alice", "bob"],
        "anchor keeps its join time"
    );
}

#[tokio::test]
async fn stop_ends_live_room() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "stop me").await;
    let r = app
        .post("alice", &format!("/client/live/room/{id}"), None)
        .await;
    assert_ok_without_data(&r);
    let room = app.info("bob", &id).await;
    assert_room_shape(&room);
    assert_eq!(room["live_status"], 2);
    let end = room["end_time"].as_i64().unwrap();
    assert!(end > 0, "end_time set");
    assert!(
        (now_secs() - 2..=now_secs() + 2).contains(&end),
        "end_time is now: {end}"
    );
    assert!(end >= room["start_time"].as_i64().unwrap());
    assert!(
        live_list(&app, "bob").await.is_empty(),
        "an ended room is not listed"
    );
    // Ended is final.
    app.put("alice", &format!("/client/live/room/{id}"), None)
        .await
        .expect(409, 40900);
}

#[tokio::test]
async fn delete_on_room_path_is_stop_alias() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "alias").await;
    let r = app
        .delete("alice", &format!("/client/live/room/{id}"))
        .await;
    assert_ok_without_data(&r);
    let room = app.info("alice", &id).await;
    assert_eq!(
        room["live_status"], 2,
        "the alias stops, it does not delete"
    );
    assert!(room["end_time"].as_i64().unwrap() > 0);
    assert_eq!(
        search(&app, "bob", &id).await,
        vec![id.clone()],
        "still searchable"
    );
}

#[tokio::test]
async fn search_returns_page_of_rooms() {
    let app = TestApp::start().await;
    let id = app.create_room("alice", "searchable show").await;
    let r = app
        .get(
            "bob",
            "/client/live/room?keyword=searchable&page_num=1&page_size=10",
        )
        .await;
    assert_ok_with_data(&r);
    let list = assert_page_shape(r.data());
    assert_eq!(r.data()["total_count"], 1);
    assert_eq!(r.data()["page_total"], 1);
    assert_eq!(r.data()["end_page"], true);
    assert_eq!(r.data()["next_cursor"], "");
    assert_eq!(list.len(), 1);
    assert_room_shape(&list[0]);
    assert_eq!(list[0]["live_id"], id.as_str());
    assert_eq!(list[0]["anchor_info"]["user_id"], "alice");
    // Defaults: page_num 1, page_size 20; no keyword lists every room.
    let r = app.get("bob", "/client/live/room").await;
    assert_ok_with_data(&r);
    assert_eq!(assert_page_shape(r.data()).len(), 1);
    assert_eq!(r.data()["page_total"], 1);
}

#[tokio::test]
async fn list_returns_page_of_live_rooms() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "on air").await;
    app.join("bob", &id).await;
    let r = app
        .get("bob", "/client/live/room/list?page_num=1&page_size=5")
        .await;
    assert_ok_with_data(&r);
    let list = assert_page_shape(r.data());
    assert_eq!(r.data()["total_count"], 1);
    assert_eq!(r.data()["page_total"], 1);
    assert_eq!(r.data()["end_page"], true);
    assert_eq!(r.data()["next_cursor"], "");
    assert_eq!(list.len(), 1);
    assert_room_shape(&list[0]);
    assert_eq!(list[0]["live_status"], 1);
    assert_eq!(list[0]["online_count"], 2);
    assert_eq!(list[0]["pv"], 1);
    // An empty list is still a well-formed page.
    let app2 = TestApp::start().await;
    let r = app2.get("bob", "/client/live/room/list").await;
    assert_ok_with_data(&r);
    assert!(assert_page_shape(r.data()).is_empty());
    assert_eq!(r.data()["total_count"], 0);
    assert_eq!(r.data()["page_total"], 0);
    assert_eq!(r.data()["end_page"], true);
}

#[tokio::test]
async fn join_returns_room_and_counts() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "join me").await;
    let r = app
        .post("bob", &format!("/client/live/room/user/{id}"), None)
        .await;
    assert_ok_with_data(&r);
    let room = r.data();
    assert_room_shape(room);
    assert_eq!(room["live_id"], id.as_str());
    assert_eq!(room["online_count"], 2);
    assert_eq!(room["pv"], 1);
    assert_eq!(room["uv"], 1);
    assert_eq!(room["anchor_status"], 1);
    assert_eq!(room["push_url"], "");
    let room = app.join("carol", &id).await;
    assert_eq!(room["online_count"], 3);
    assert_eq!(room["pv"], 2);
    assert_eq!(room["uv"], 2);
    // A created (not yet live) room can be joined too.
    let waiting = app.create_room("dave", "waiting room").await;
    let room = app.join("erin", &waiting).await;
    assert_eq!(room["live_status"], 0);
    assert_eq!(room["online_count"], 1);
}

#[tokio::test]
async fn leave_releases_member_and_anchor() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "leave me").await;
    app.join("bob", &id).await;
    let r = app
        .delete("bob", &format!("/client/live/room/user/{id}"))
        .await;
    assert_ok_without_data(&r);
    let room = app.info("carol", &id).await;
    assert_eq!(room["online_count"], 1);
    assert_eq!(room["pv"], 1, "PV is not undone by leaving");
    assert_eq!(user_list(&app, &id).await, vec!["alice"]);
    heartbeat(&app, "bob", &id).await.expect(404, 40401);
    // The anchor leaving: anchor_status 0, the room stays live.
    let r = app
        .delete("alice", &format!("/client/live/room/user/{id}"))
        .await;
    assert_ok_without_data(&r);
    let room = app.info("carol", &id).await;
    assert_eq!(room["anchor_status"], 0);
    assert_eq!(room["online_count"], 0);
    assert_eq!(room["live_status"], 1);
    // Leaving again: not in the room.
    app.delete("bob", &format!("/client/live/room/user/{id}"))
        .await
        .expect(404, 40401);
}

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
    let r = heartbeat(&app, "bob", &id).await;
    assert_ok_with_data(&r);
    assert_eq!(beat_data(&r), json!({"live_id": id, "live_status": 0}));
    app.put("alice", &format!("/client/live/room/{id}"), None)
        .await
        .ok();
    let r = heartbeat(&app, "alice", &id).await;
    assert_ok_with_data(&r);
    assert_eq!(beat_data(&r), json!({"live_id": id, "live_status": 1}));
    let r = heartbeat(&app, "bob", &id).await;
    assert_ok_with_data(&r);
    assert_eq!(beat_data(&r), json!({"live_id": id, "live_status": 1}));
    // Never joined.
    heartbeat(&app, "carol", &id).await.expect(404, 40401);
    // Heart-beating does not count PV.
    assert_eq!(app.info("bob", &id).await["pv"], 1);
}

#[tokio::test]
async fn heartbeat_tells_members_the_room_ended() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "beat").await;
    app.join("bob", &id).await;
    app.post("alice", &format!("/client/live/room/{id}"), None)
        .await
        .ok();
    let r = heartbeat(&app, "bob", &id).await;
    assert_ok_with_data(&r);
    assert_eq!(beat_data(&r), json!({"live_id": id, "live_status": 2}));
}

#[tokio::test]
async fn update_extends_merges_and_removes_empty_values() {
    let app = TestApp::start().await;
    let r = app
        .post(
            "alice",
            "/client/live/room/instance",
            Some(json!({"title": "ext", "extends": {"a": "1", "b": "2"}})),
        )
        .await
        .ok();
    let id = r.data()["live_id"].as_str().unwrap().to_owned();
    let r = app
        .put(
            "alice",
            "/client/live/room/extends",
            Some(json!({"live_id": id, "extends": {"b": "20", "c": "3", "a": ""}})),
        )
        .await;
    assert_ok_without_data(&r);
    let room = app.info("bob", &id).await;
    assert_eq!(room["extends"], json!({"b": "20", "c": "3"}));
    // Removing every key leaves an empty object (not an array).
    app.put(
        "alice",
        "/client/live/room/extends",
        Some(json!({"live_id": id, "extends": {"b": "", "c": ""}})),
    )
    .await
    .ok();
    let room = app.info("bob", &id).await;
    assert_eq!(room["extends"], json!({}));
    assert_room_shape(&room);
    // Removing a key that is not there is fine.
    let r = app
        .put(
            "alice",
            "/client/live/room/extends",
            Some(json!({"live_id": id, "extends": {"zz": ""}})),
        )
        .await;
    assert_ok_without_data(&r);
    assert_eq!(app.info("bob", &id).await["extends"], json!({}));
    // Chinese keys and values survive the round trip.
    app.put(
        "alice",
        "/client/live/room/extends",
        Some(json!({"live_id": id, "extends": {"主题": "音乐"}})),
    )
    .await
    .ok();
    assert_eq!(
        app.info("bob", &id).await["extends"],
        json!({"主题": "音乐"})
    );
}

#[tokio::test]
async fn user_list_entries_have_member_shape() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "members").await;
    app.join("bob", &id).await;
    app.put(
        "bob",
        "/client/user/user",
        Some(json!({"avatar": "https://a.example.com/b.png"})),
    )
    .await
    .ok();
    let r = app
        .get(
            "carol",
            &format!("/client/live/room/user_list?live_id={id}&page_num=1&page_size=10"),
        )
        .await;
    assert_ok_with_data(&r);
    let list = assert_page_shape(r.data());
    assert_eq!(r.data()["total_count"], 2);
    assert_eq!(r.data()["page_total"], 1);
    assert_eq!(r.data()["end_page"], true);
    assert_eq!(list.len(), 2);
    for entry in list {
        assert_eq!(
            key_set(entry),
            set_of(&[
                "user_id",
                "im_userid",
                "im_username",
                "nick",
                "avatar",
                "extends"
            ]),
            "entry: {entry}"
        );
        assert!(entry["user_id"].is_string());
        assert!(
            entry["im_userid"].as_u64().is_some_and(|n| n > 0),
            "entry: {entry}"
        );
        assert!(entry["im_username"].is_string());
        assert!(entry["nick"].is_string());
        assert!(entry["avatar"].is_string());
        assert_string_map(&entry["extends"], "extends");
    }
    assert_eq!(list[0]["user_id"], "alice", "oldest join first");
    assert_eq!(list[0]["nick"], "nick-alice");
    assert_eq!(list[1]["user_id"], "bob");
    assert_eq!(list[1]["avatar"], "https://a.example.com/b.png");
    assert_ne!(list[0]["im_userid"], list[1]["im_userid"]);
}

#[tokio::test]
async fn profile_get_and_update() {
    let app = TestApp::start().await;
    let r = app.get("alice", "/client/user/profile").await;
    assert_ok_with_data(&r);
    let p = r.data().clone();
    assert_profile_shape(&p);
    assert_eq!(p["user_id"], "alice");
    assert_eq!(
        p["nick"], "nick-alice",
        "created from the token's nick claim"
    );
    assert_eq!(p["avatar"], "");
    assert_eq!(p["extends"], json!({}));
    let im = p["im_userid"].as_u64().unwrap();
    // Another user gets another im_userid; reading again keeps it.
    let bob = app.get("bob", "/client/user/profile").await.ok();
    assert_ne!(bob.data()["im_userid"].as_u64().unwrap(), im);
    assert_eq!(
        app.get("alice", "/client/user/profile").await.ok().data()["im_userid"],
        im
    );

    let r = app
        .put(
            "alice",
            "/client/user/user",
            Some(json!({"nick": "Alice", "avatar": "https://img.example.com/a.png", "extends": {"x": "1", "y": "2"}})),
        )
        .await;
    assert_ok_with_data(&r);
    assert_profile_shape(r.data());
    assert_eq!(r.data()["nick"], "Alice");
    assert_eq!(r.data()["avatar"], "https://img.example.com/a.png");
    assert_eq!(r.data()["extends"], json!({"x": "1", "y": "2"}));
    assert_eq!(r.data()["im_userid"], im);
    // Partial update: only extends, merged; empty value removes; nick untouched.
    let r = app
        .put(
            "alice",
            "/client/user/user",
            Some(json!({"extends": {"x": "", "z": "3"}})),
        )
        .await;
    assert_ok_with_data(&r);
    assert_eq!(r.data()["nick"], "Alice");
    assert_eq!(r.data()["extends"], json!({"y": "2", "z": "3"}));
    let p = app.get("alice", "/client/user/profile").await.ok();
    assert_eq!(p.data(), r.data());
    // The anchor_info of the anchor's rooms shows the updated profile.
    let id = app.create_room("alice", "profiled").await;
    let room = app.info("bob", &id).await;
    assert_eq!(room["anchor_info"], *p.data());
}

#[tokio::test]
async fn sane_request_id_is_echoed() {
    let app = TestApp::start().await;
    let token = format!("Bearer {}", app.token("alice"));
    let sent = "req-0123_ABC.xyz:42";
    let r = app
        .call_raw(
            "GET",
            "/client/user/profile",
            &[("Authorization", &token), ("X-Request-Id", sent)],
            Vec::new(),
        )
        .await;
    assert_ok_with_data(&r);
    assert_eq!(r.headers.get("x-request-id").unwrap(), sent);
    assert_eq!(r.body["request_id"], sent);
    // Exactly 64 characters is still sane.
    let long = "x".repeat(64);
    let r = app
        .call_raw(
            "GET",
            "/client/user/profile",
            &[("Authorization", &token), ("X-Request-Id", &long)],
            Vec::new(),
        )
        .await;
    assert_eq!(r.body["request_id"], long.as_str());
    // Without the header an id is generated and sent back both ways.
    let r = app.get("alice", "/client/user/profile").await.ok();
    let id = r.body["request_id"].as_str().unwrap();
    assert!(!id.is_empty());
    assert_eq!(r.headers.get("x-request-id").unwrap(), id);
}

#[tokio::test]
async fn insane_request_id_is_replaced() {
    let app = TestApp::start().await;
    let token = format!("Bearer {}", app.token("alice"));
    for sent in ["a".repeat(100), "has space".to_string(), "x".repeat(65)] {
        let r = app
            .call_raw(
                "GET",
                "/client/user/profile",
                &[("Authorization", &token), ("X-Request-Id", &sent)],
                Vec::new(),
            )
            .await;
        assert_ok_with_data(&r);
        let body_id = r.body["request_id"].as_str().unwrap().to_owned();
        assert_ne!(body_id, sent);
        assert!(!body_id.is_empty() && body_id.len() <= 64, "{body_id}");
        assert!(body_id.bytes().all(|b| b.is_ascii_graphic()));
        assert_eq!(r.headers.get("x-request-id").unwrap(), body_id.as_str());
    }
    // Two generated ids differ.
    let a = app.get("alice", "/client/user/profile").await.ok();
    let b = app.get("alice", "/client/user/profile").await.ok();
    assert_ne!(a.body["request_id"], b.body["request_id"]);
}

// ---------------------------------------------------------------------------
// 2. one room per user
// ---------------------------------------------------------------------------

#[tokio::test]
async fn joining_another_room_leaves_the_first_at_once() {
    let app = TestApp::start().await;
    let a = app.live_room("alice", "room A").await;
    let b = app.live_room("carol", "room B").await;
    assert_eq!(app.join("bob", &a).await["online_count"], 2);
    let room_b = app.join("bob", &b).await;
    assert_eq!(room_b["online_count"], 2, "B rises");
    let room_a = app.info("bob", &a).await;
    assert_eq!(room_a["online_count"], 1, "A drops by one at once");
    assert_eq!(room_a["pv"], 1, "A's PV stays");
    assert_eq!(user_list(&app, &a).await, vec!["alice"]);
    assert_eq!(user_list(&app, &b).await, vec!["carol", "bob"]);
    heartbeat(&app, "bob", &a).await.expect(404, 40401);
    heartbeat(&app, "bob", &b).await.ok();
    // The same for an anchor who joins another room: absent from its own.
    app.join("alice", &b).await;
    let room_a = app.info("bob", &a).await;
    assert_eq!(room_a["anchor_status"], 0);
    assert_eq!(room_a["online_count"], 0);
    assert_eq!(app.info("bob", &b).await["online_count"], 3);
    // Starting its own room brings it back (and out of B).
    app.put("alice", &format!("/client/live/room/{a}"), None)
        .await
        .ok();
    assert_eq!(app.info("bob", &a).await["anchor_status"], 1);
    assert_eq!(app.info("bob", &b).await["online_count"], 2);
}

#[tokio::test]
async fn rejoining_the_same_room_is_one_presence_and_two_pv() {
    let app = TestApp::start().await;
    let id = app.create_room("alice", "again").await;
    let first = app.join("bob", &id).await;
    assert_eq!(
        (
            first["online_count"].as_u64(),
            first["pv"].as_u64(),
            first["uv"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let second = app.join("bob", &id).await;
    assert_eq!(second["online_count"], 1);
    assert_eq!(second["pv"], 2);
    assert_eq!(second["uv"], 1);
    assert_eq!(user_list(&app, &id).await, vec!["bob"], "listed once");
    let info = app.info("carol", &id).await;
    assert_eq!(
        (
            info["online_count"].as_u64(),
            info["pv"].as_u64(),
            info["uv"].as_u64()
        ),
        (Some(1), Some(2), Some(1))
    );
}

// ---------------------------------------------------------------------------
// 3. push_url only for the anchor, and signed
// ---------------------------------------------------------------------------

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
    app.put("alice", &format!("/client/live/room/{id}"), None)
        .await
        .ok();
    let joined = app.join("bob", &id).await;
    assert_eq!(joined["push_url"], "");
    let list = app.get("bob", "/client/live/room/list").await.ok();
    assert_eq!(list.data()["list"][0]["live_id"], id.as_str());
    assert_eq!(list.data()["list"][0]["push_url"], "");
    let found = app
        .get("bob", &format!("/client/live/room?keyword={id}"))
        .await
        .ok();
    assert_eq!(found.data()["list"][0]["push_url"], "");
    let found = app.get("bob", "/client/live/room?keyword=push").await.ok();
    assert_eq!(found.data()["list"][0]["live_id"], id.as_str());
    assert_eq!(found.data()["list"][0]["push_url"], "");
    // ... while the anchor sees it in list and search too.
    let list = app.get("alice", "/client/live/room/list").await.ok();
    parse_push_url(
        &app,
        list.data()["list"][0]["push_url"].as_str().unwrap(),
        &id,
    );
    let found = app
        .get("alice", "/client/live/room?keyword=push")
        .await
        .ok();
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
        .post(
            "alice",
            "/client/live/room/instance",
            Some(json!({"title": "expiring", "publish_expire_at": "2040-01-01T00:00:00Z"})),
        )
        .await
        .ok();
    let id = r.data()["live_id"].as_str().unwrap();
    let (expire, token) = parse_push_url(&app, r.data()["push_url"].as_str().unwrap(), id);
    assert_eq!(expire, 2208988800);
    assert_eq!(token, expected_token(&app, id, expire));
    // A past publish_expire_at never yields a past expiry.
    let r = app
        .post(
            "alice",
            "/client/live/room/instance",
            Some(json!({"title": "expired", "publish_expire_at": "2020-01-01 00:00:00"})),
        )
        .await
        .ok();
    let id = r.data()["live_id"].as_str().unwrap();
    let (expire, token) = parse_push_url(&app, r.data()["push_url"].as_str().unwrap(), id);
    assert!(expire > now_secs(), "expiry in the future: {expire}");
    assert_eq!(token, expected_token(&app, id, expire));
}

// ---------------------------------------------------------------------------
// 4. pagination
// ---------------------------------------------------------------------------

#[tokio::test]
async fn page_num_math_over_list_and_search() {
    let app = TestApp::start().await;
    let mut rooms = Vec::new();
    for i in 0..7 {
        rooms.push(app.live_room("alice", &format!("paged {i}")).await);
        tick().await;
    }
    for path in ["/client/live/room/list", "/client/live/room?keyword=paged"] {
        let mut seen = Vec::new();
        for (n, (len, end)) in [(3, false), (3, false), (1, true)].into_iter().enumerate() {
            let sep = if path.contains('?') { '&' } else { '?' };
            let r = app
                .get("bob", &format!("{path}{sep}page_num={}&page_size=3", n + 1))
                .await;
            assert_ok_with_data(&r);
            let list = assert_page_shape(r.data());
            assert_eq!(r.data()["total_count"], 7, "{path}");
            assert_eq!(r.data()["page_total"], 3, "{path}");
            assert_eq!(r.data()["end_page"], end, "{path} page {}", n + 1);
            assert_eq!(list.len(), len, "{path} page {}", n + 1);
            assert_eq!(
                r.data()["next_cursor"] == "",
                end,
                "next_cursor empty only on the last page"
            );
            seen.extend(ids(list));
        }
        let mut expected = rooms.clone();
        expected.reverse();
        assert_eq!(seen, expected, "{path}: every room once, newest first");
        // Past the end: an empty last page.
        let sep = if path.contains('?') { '&' } else { '?' };
        let r = app
            .get("bob", &format!("{path}{sep}page_num=4&page_size=3"))
            .await;
        assert_ok_with_data(&r);
        assert!(assert_page_shape(r.data()).is_empty());
        assert_eq!(r.data()["end_page"], true);
        assert_eq!(r.data()["page_total"], 3);
    }
    // Exactly one page.
    let r = app
        .get("bob", "/client/live/room/list?page_size=7")
        .await
        .ok();
    assert_eq!(
        (
            r.data()["page_total"].as_u64(),
            r.data()["end_page"].as_bool()
        ),
        (Some(1), Some(true))
    );
}

#[tokio::test]
async fn page_num_math_over_user_list() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "crowd").await;
    for u in ["u1", "u2", "u3", "u4", "u5", "u6"] {
        app.join(u, &id).await;
    }
    let mut seen = Vec::new();
    for (n, (len, end)) in [(3, false), (3, false), (1, true)].into_iter().enumerate() {
        let r = app
            .get(
                "bob",
                &format!(
                    "/client/live/room/user_list?live_id={id}&page_num={}&page_size=3",
                    n + 1
                ),
            )
            .await;
        assert_ok_with_data(&r);
        let list = assert_page_shape(r.data());
        assert_eq!(r.data()["total_count"], 7);
        assert_eq!(r.data()["page_total"], 3);
        assert_eq!(r.data()["end_page"], end);
        assert_eq!(list.len(), len);
        seen.extend(ids(list));
    }
    assert_eq!(
        seen,
        vec!["alice", "u1", "u2", "u3", "u4", "u5", "u6"],
        "join order"
    );
}

/// Walks a list by `next_cursor`, calling `between` (which may add items) before
/// each further page. Returns the ids in visiting order.
async fn cursor_walk(
    app: &TestApp,
    path: &str,
    size: u64,
    mut between: impl AsyncFnMut(usize),
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for n in 0.. {
        assert!(n < 50, "cursor walk does not end");
        let data = page(app, "viewer", path, size, &cursor).await;
        let list = assert_page_shape(&data);
        assert!(list.len() as u64 <= size);
        seen.extend(ids(list));
        cursor = data["next_cursor"].as_str().unwrap().to_owned();
        assert_eq!(
            data["end_page"],
            cursor.is_empty(),
            "end_page iff no next_cursor: {data}"
        );
        if cursor.is_empty() {
            break;
        }
        assert_eq!(list.len() as u64, size, "a page with a next cursor is full");
        between(n).await;
    }
    seen
}

#[track_caller]
fn assert_each_once(seen: &[String], old: &[String]) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for id in seen {
        *counts.entry(id).or_default() += 1;
    }
    for (id, n) in &counts {
        assert_eq!(*n, 1, "{id} visited {n} times in {seen:?}");
    }
    for id in old {
        assert!(counts.contains_key(id.as_str()), "{id} skipped in {seen:?}");
    }
}

#[tokio::test]
async fn cursor_walk_over_live_list_survives_new_rooms() {
    let app = TestApp::start().await;
    let mut old = Vec::new();
    for i in 0..7 {
        old.push(app.live_room("alice", &format!("old {i}")).await);
        tick().await;
    }
    let seen = cursor_walk(&app, "/client/live/room/list", 3, async |n| {
        tick().await;
        app.live_room("newbie", &format!("new {n}")).await;
        app.create_room("newbie", &format!("new waiting {n}")).await;
    })
    .await;
    assert_each_once(&seen, &old);
    let mut newest_first = old.clone();
    newest_first.reverse();
    assert_eq!(
        seen, newest_first,
        "new rooms start after the walk began: they are ahead of it"
    );
}

#[tokio::test]
async fn cursor_walk_over_search_survives_new_rooms() {
    let app = TestApp::start().await;
    let mut old = Vec::new();
    for i in 0..4 {
        old.push(app.live_room("alice", &format!("live {i}")).await);
        tick().await;
    }
    for i in 0..4 {
        old.push(app.create_room("alice", &format!("waiting {i}")).await);
        tick().await;
    }
    let mut new = Vec::new();
    let seen = cursor_walk(&app, "/client/live/room?keyword=", 3, async |n| {
        tick().await;
        new.push(app.live_room("newbie", &format!("new live {n}")).await);
        new.push(app.create_room("newbie", &format!("new waiting {n}")).await);
    })
    .await;
    assert_each_once(&seen, &old);
    // Order of the old rooms: live first (newest first), then created, newest first.
    let old_order: Vec<&String> = seen.iter().filter(|id| old.contains(id)).collect();
    let expected: Vec<&String> = old[..4].iter().rev().chain(old[4..].iter().rev()).collect();
    assert_eq!(old_order, expected);
    assert!(seen.len() >= old.len());
}

#[tokio::test]
async fn cursor_walk_over_keyword_search_survives_new_rooms() {
    let app = TestApp::start().await;
    let mut old = Vec::new();
    for i in 0..7 {
        old.push(app.create_room("alice", &format!("concert {i}")).await);
        tick().await;
    }
    let seen = cursor_walk(&app, "/client/live/room?keyword=concert", 3, async |n| {
        tick().await;
        app.live_room("newbie", &format!("concert new {n}")).await;
        app.create_room("newbie", &format!("concert newer {n}"))
            .await;
    })
    .await;
    assert_each_once(&seen, &old);
}

#[tokio::test]
async fn cursor_walk_over_user_list_survives_new_members() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "walkers").await;
    let mut old = vec!["alice".to_string()];
    for i in 0..6 {
        let u = format!("old{i}");
        app.join(&u, &id).await;
        old.push(u);
    }
    let mut joined_later = Vec::new();
    let path = format!("/client/live/room/user_list?live_id={id}");
    let seen = cursor_walk(&app, &path, 3, async |n| {
        let u = format!("new{n}");
        app.join(&u, &id).await;
        joined_later.push(u);
    })
    .await;
    assert_each_once(&seen, &old);
    assert_eq!(
        &seen[..old.len()],
        &old[..],
        "join order, old members first"
    );
    // Members who joined during the walk come after, each once.
    for u in &joined_later {
        assert!(
            seen.contains(u),
            "{u} joined during the walk and is after the cursor"
        );
    }
}

#[tokio::test]
async fn cursor_walk_ends_with_empty_next_cursor_on_an_exact_last_page() {
    let app = TestApp::start().await;
    let mut rooms = Vec::new();
    for i in 0..6 {
        // One anchor per room: an anchor starting another room would leave this one.
        rooms.push(
            app.live_room(&format!("anchor{i}"), &format!("six {i}"))
                .await,
        );
        tick().await;
    }
    let id = rooms[0].clone();
    for u in ["m1", "m2", "m3", "m4", "m5"] {
        app.join(u, &id).await;
    }
    let user_list_path = format!("/client/live/room/user_list?live_id={id}");
    for path in [
        "/client/live/room/list",
        "/client/live/room?keyword=",
        "/client/live/room?keyword=six",
        user_list_path.as_str(),
    ] {
        let first = page(&app, "viewer", path, 3, "").await;
        assert_eq!(assert_page_shape(&first).len(), 3);
        let cursor = first["next_cursor"].as_str().unwrap();
        assert_ne!(cursor, "", "{path}: more to come");
        let second = page(&app, "viewer", path, 3, cursor).await;
        assert_eq!(assert_page_shape(&second).len(), 3, "{path}");
        assert_eq!(
            second["next_cursor"], "",
            "{path}: the last page has no next cursor: {second}"
        );
        assert_eq!(second["end_page"], true, "{path}");
        assert_eq!(second["total_count"], 6, "{path}");
        assert_eq!(second["page_total"], 2, "{path}");
    }
}

// ---------------------------------------------------------------------------
// 5. search
// ---------------------------------------------------------------------------

#[tokio::test]
async fn search_matches_chinese_substrings_and_characters() {
    let app = TestApp::start().await;
    let concert = app.create_room("alice", "周末音乐会直播").await;
    tick().await;
    let share = app.create_room("bob", "音乐分享").await;
    tick().await;
    let film = app.create_room("carol", "电影之夜").await;
    assert_eq!(
        search(&app, "viewer", "音乐").await,
        vec![share.clone(), concert.clone()]
    );
    assert_eq!(
        search(&app, "viewer", "音乐会").await,
        vec![concert.clone()]
    );
    assert_eq!(
        search(&app, "viewer", "周末音乐会直播").await,
        vec![concert.clone()]
    );
    assert_eq!(search(&app, "viewer", "影").await, vec![film.clone()]);
    assert_eq!(
        search(&app, "viewer", "乐").await,
        vec![share.clone(), concert.clone()]
    );
    assert_eq!(search(&app, "viewer", "播").await, vec![concert.clone()]);
    // Characters that are all in the title but not adjacent: no match.
    assert!(search(&app, "viewer", "音会").await.is_empty());
    assert!(search(&app, "viewer", "京剧").await.is_empty());
}

#[tokio::test]
async fn search_matches_exact_live_id() {
    let app = TestApp::start().await;
    let a = app.create_room("alice", "first").await;
    let b = app.create_room("alice", "second").await;
    assert_eq!(search(&app, "viewer", &a).await, vec![a.clone()]);
    assert_eq!(search(&app, "viewer", &b).await, vec![b.clone()]);
    // A prefix of an id is not an id.
    assert!(search(&app, "viewer", &a[..a.len() - 2]).await.is_empty());
}

#[tokio::test]
async fn search_is_case_insensitive_for_ascii() {
    let app = TestApp::start().await;
    let show = app.create_room("alice", "my live show").await;
    let loud = app.create_room("alice", "LOUD Party").await;
    app.create_room("alice", "quiet evening").await;
    assert_eq!(search(&app, "viewer", "LIVE").await, vec![show.clone()]);
    assert_eq!(search(&app, "viewer", "Live Sh").await, vec![show.clone()]);
    assert_eq!(
        search(&app, "viewer", "loud party").await,
        vec![loud.clone()]
    );
    assert_eq!(search(&app, "viewer", "p").await, vec![loud.clone()]);
    assert_eq!(
        search(&app, "viewer", "  live  ").await,
        vec![show],
        "keyword is trimmed"
    );
}

#[tokio::test]
async fn search_matches_the_anchor_user_id() {
    let app = TestApp::start().await;
    let a1 = app.create_room("streamer_9", "cooking").await;
    tick().await;
    let a2 = app.live_room("streamer_9", "gaming").await;
    app.create_room("other_user", "reading").await;
    assert_eq!(search(&app, "viewer", "streamer_9").await, vec![a2, a1]);
    assert!(
        search(&app, "viewer", "streamer_").await.is_empty(),
        "anchor id matches exactly"
    );
}

#[tokio::test]
async fn search_without_match_is_empty_page() {
    let app = TestApp::start().await;
    app.create_room("alice", "something").await;
    let r = app
        .get("viewer", "/client/live/room?keyword=nothing-like-this")
        .await;
    assert_ok_with_data(&r);
    assert!(assert_page_shape(r.data()).is_empty());
    assert_eq!(r.data()["total_count"], 0);
    assert_eq!(r.data()["page_total"], 0);
    assert_eq!(r.data()["end_page"], true);
    assert_eq!(r.data()["next_cursor"], "");
}

#[tokio::test]
async fn search_never_shows_deleted_rooms() {
    let app = TestApp::start().await;
    let gone = app.live_room("alice", "gone show").await;
    let kept = app.create_room("alice", "kept show").await;
    app.delete("alice", &format!("/client/live/room/instance/{gone}"))
        .await
        .ok();
    assert_eq!(search(&app, "viewer", "show").await, vec![kept.clone()]);
    assert!(search(&app, "viewer", "gone").await.is_empty());
    assert!(search(&app, "viewer", &gone).await.is_empty());
    assert_eq!(search(&app, "viewer", "alice").await, vec![kept.clone()]);
    assert_eq!(search(&app, "viewer", "").await, vec![kept]);
}

#[tokio::test]
async fn search_orders_live_first_then_newest_created() {
    let app = TestApp::start().await;
    let mut r = Vec::new();
    for i in 0..4 {
        r.push(app.create_room("alice", &format!("music {i}")).await);
        tick().await;
    }
    app.put("alice", &format!("/client/live/room/{}", r[1]), None)
        .await
        .ok();
    app.put("alice", &format!("/client/live/room/{}", r[0]), None)
        .await
        .ok();
    let expected = vec![r[1].clone(), r[0].clone(), r[3].clone(), r[2].clone()];
    assert_eq!(search(&app, "viewer", "music").await, expected);
    assert_eq!(search(&app, "viewer", "").await, expected);
    assert_eq!(search(&app, "viewer", "alice").await, expected);
}

#[tokio::test]
async fn search_puts_ended_rooms_back_by_creation_time() {
    let app = TestApp::start().await;
    let mut r = Vec::new();
    for i in 0..4 {
        r.push(app.create_room("alice", &format!("music {i}")).await);
        tick().await;
    }
    app.put("alice", &format!("/client/live/room/{}", r[1]), None)
        .await
        .ok();
    app.put("alice", &format!("/client/live/room/{}", r[0]), None)
        .await
        .ok();
    app.post("alice", &format!("/client/live/room/{}", r[1]), None)
        .await
        .ok();
    let expected = vec![r[0].clone(), r[3].clone(), r[2].clone(), r[1].clone()];
    assert_eq!(search(&app, "viewer", "music").await, expected);
    assert_eq!(search(&app, "viewer", "").await, expected);
}

// ---------------------------------------------------------------------------
// 6. live list
// ---------------------------------------------------------------------------

#[tokio::test]
async fn list_shows_only_live_rooms_newest_start_first() {
    let app = TestApp::start().await;
    let mut r = Vec::new();
    for i in 0..5 {
        r.push(app.create_room("alice", &format!("list {i}")).await);
    }
    for i in [2, 0, 3, 4] {
        app.put("alice", &format!("/client/live/room/{}", r[i]), None)
            .await
            .ok();
        tick().await;
    }
    // r[1] created only.
    assert_eq!(
        live_list(&app, "viewer").await,
        vec![r[4].clone(), r[3].clone(), r[0].clone(), r[2].clone()]
    );
    let r2 = app.get("viewer", "/client/live/room/list").await.ok();
    for room in r2.data()["list"].as_array().unwrap() {
        assert_eq!(room["live_status"], 1);
        assert_room_shape(room);
    }
    assert_eq!(r2.data()["total_count"], 4);
}

#[tokio::test]
async fn list_drops_stopped_rooms() {
    let app = TestApp::start().await;
    let a = app.live_room("alice", "stays").await;
    tick().await;
    let b = app.live_room("bob", "stops").await;
    assert_eq!(live_list(&app, "viewer").await, vec![b.clone(), a.clone()]);
    app.post("bob", &format!("/client/live/room/{b}"), None)
        .await
        .ok();
    assert_eq!(live_list(&app, "viewer").await, vec![a]);
}

// ---------------------------------------------------------------------------
// 7. expiry without any reaper
// ---------------------------------------------------------------------------

async fn short_timeout_app() -> TestApp {
    TestApp::start_with(|c| c.member_timeout = Duration::from_secs(1)).await
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
        heartbeat(&app, "alice", &id).await.ok();
        heartbeat(&app, "carol", &id).await.ok();
    }
    let room = app.info("viewer", &id).await;
    assert_eq!(room["online_count"], 2, "bob no longer counts: {room}");
    assert_eq!(room["anchor_status"], 1);
    assert_eq!(room["pv"], 2, "PV is history, not presence");
    assert_eq!(user_list(&app, &id).await, vec!["alice", "carol"]);
    let r = heartbeat(&app, "bob", &id).await;
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
        heartbeat(&app, "bob", &id).await.ok();
    }
    let room = app.info("viewer", &id).await;
    assert_eq!(room["anchor_status"], 0, "anchor silent for > 1 s: {room}");
    assert_eq!(room["online_count"], 1);
    assert_eq!(
        room["live_status"], 1,
        "the room stays live (closing takes anchor_close_after)"
    );
    assert_eq!(user_list(&app, &id).await, vec!["bob"]);
    heartbeat(&app, "alice", &id).await.expect(404, 40401);
    // Starting again (idempotent while live) makes the anchor present again.
    let room = app
        .put("alice", &format!("/client/live/room/{id}"), None)
        .await
        .ok();
    assert_eq!(room.data()["anchor_status"], 1);
    assert_eq!(room.data()["online_count"], 2);
}

// ---------------------------------------------------------------------------
// 8. scripts survive SCRIPT FLUSH
// ---------------------------------------------------------------------------

#[tokio::test]
async fn joins_survive_script_flush() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "flush").await;
    assert_eq!(app.join("bob", &id).await["online_count"], 2);
    app.flush_scripts().await;
    let room = app.join("carol", &id).await;
    assert_eq!(room["online_count"], 3);
    assert_eq!(room["pv"], 2);
    app.flush_scripts().await;
    heartbeat(&app, "bob", &id).await.ok();
    assert_eq!(app.info("viewer", &id).await["online_count"], 3);
}

// ---------------------------------------------------------------------------
// 9. times
// ---------------------------------------------------------------------------

#[tokio::test]
async fn scheduled_times_use_default_zone_until_start() {
    let app = TestApp::start().await;
    let r = app
        .post(
            "alice",
            "/client/live/room/instance",
            Some(json!({"title": "scheduled", "start_at": "2021-12-02 11:11:11", "end_at": "2021-12-02 12:11:11"})),
        )
        .await
        .ok();
    let id = r.data()["live_id"].as_str().unwrap().to_owned();
    assert_eq!(r.data()["start_time"], 1638414671);
    assert_eq!(r.data()["end_time"], 1638418271);
    let info = app.info("bob", &id).await;
    assert_eq!(
        info["start_time"], 1638414671,
        "before starting: the scheduled time"
    );
    // Once started: the actual time (stop_ends_live_room checks end_time).
    let started = app
        .put("alice", &format!("/client/live/room/{id}"), None)
        .await
        .ok();
    let start = started.data()["start_time"].as_i64().unwrap();
    assert!(
        (now_secs() - 2..=now_secs() + 2).contains(&start),
        "actual start: {start}"
    );
    assert_eq!(app.info("bob", &id).await["start_time"], start);
}

#[tokio::test]
async fn rfc3339_times_are_accepted() {
    let app = TestApp::start().await;
    for (start, end) in [
        ("2021-12-02T11:11:11+08:00", "2021-12-02T04:11:11Z"),
        ("2021-12-02T03:11:11Z", "2021-12-01T23:11:11-05:00"),
    ] {
        let r = app
            .post(
                "alice",
                "/client/live/room/instance",
                Some(json!({"title": "rfc", "start_at": start, "end_at": end})),
            )
            .await;
        assert_ok_with_data(&r);
        assert_eq!(r.data()["start_time"], 1638414671, "{start}");
        assert_eq!(r.data()["end_time"], 1638418271, "{end}");
    }
}

// ---------------------------------------------------------------------------
// 10. delete
// ---------------------------------------------------------------------------

#[tokio::test]
async fn delete_removes_every_key_and_releases_members() {
    let app = TestApp::start().await;
    let keep = app.live_room("alice", "neighbour room").await;
    let r = app
        .post(
            "alice",
            "/client/live/room/instance",
            Some(json!({"title": "doomed 直播 room", "extends": {"k": "v"}})),
        )
        .await
        .ok();
    let id = r.data()["live_id"].as_str().unwrap().to_owned();
    app.put("alice", &format!("/client/live/room/{id}"), None)
        .await
        .ok();
    app.join("bob", &id).await;
    app.join("carol", &id).await;
    heartbeat(&app, "bob", &id).await.ok();
    let pattern = format!("{}:{{{id}}}:*", app.config.key_prefix);
    let before: Vec<String> = app.redis_cmd(&["KEYS", &pattern]).await;
    assert!(
        before.len() >= 3,
        "the room has keys under {pattern}: {before:?}"
    );

    let r = app
        .delete("alice", &format!("/client/live/room/instance/{id}"))
        .await;
    assert_ok_without_data(&r);

    let after: Vec<String> = app.redis_cmd(&["KEYS", &pattern]).await;
    assert!(after.is_empty(), "keys left: {after:?}");
    // No index (set or sorted set) still names the room.
    let all: Vec<String> = app.keys("*").await;
    for key in all {
        let kind: String = app.redis_cmd(&["TYPE", &key]).await;
        let holds = match kind.as_str() {
            "zset" => app
                .redis_cmd::<Option<f64>>(&["ZSCORE", &key, &id])
                .await
                .is_some(),
            "set" => app.redis_cmd::<bool>(&["SISMEMBER", &key, &id]).await,
            _ => false,
        };
        assert!(!holds, "{key} ({kind}) still holds {id}");
    }
    app.get("bob", &format!("/client/live/room/info/{id}"))
        .await
        .expect(404, 40400);
    assert_eq!(live_list(&app, "bob").await, vec![keep.clone()]);
    assert_eq!(search(&app, "bob", "").await, vec![keep.clone()]);
    assert!(search(&app, "bob", "doomed").await.is_empty());
    assert!(search(&app, "bob", "直播").await.is_empty());
    assert!(search(&app, "bob", &id).await.is_empty());
    assert_eq!(search(&app, "bob", "alice").await, vec![keep.clone()]);
    // Members are released.
    heartbeat(&app, "bob", &id).await.expect(404, 40400);
    heartbeat(&app, "carol", &id).await.expect(404, 40400);
    // ... and free to join elsewhere without touching the deleted room.
    assert_eq!(
        app.join("bob", &keep).await["online_count"],
        1,
        "alice left keep when she started the doomed room"
    );
    let after: Vec<String> = app.redis_cmd(&["KEYS", &pattern]).await;
    assert!(
        after.is_empty(),
        "joining elsewhere recreated keys: {after:?}"
    );
    let set_keys = HashSet::<String>::from_iter(app.keys("*").await);
    assert!(
        !set_keys.iter().any(|k| k.contains(&id)),
        "a key still names {id}: {set_keys:?}"
    );
}
