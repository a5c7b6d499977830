//! Helpers shared by the route tests: the exact shapes of the API's objects (SPEC §4)
//! and of its envelopes, and paged reads.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Reply, TestApp};

/// The exact keys of the room object (SPEC §4; `stream_status` is liveroom's, §12).
pub const ROOM_KEYS: [&str; 20] = [
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
    "stream_status",
];

pub const ROOM_STRINGS: [&str; 9] = [
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

pub const ROOM_NUMBERS: [&str; 9] = [
    "anchor_status",
    "online_count",
    "start_time",
    "end_time",
    "chat_id",
    "pv",
    "uv",
    "live_status",
    "stream_status",
];

pub fn key_set(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

pub fn set_of(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

pub fn assert_string_map(v: &Value, what: &str) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {v}"));
    for (k, val) in obj {
        assert!(val.is_string(), "{what}.{k} is not a string: {val}");
    }
}

/// Asserts the exact room shape and JSON types (SPEC §4).
#[track_caller]
pub fn assert_room_shape(room: &Value) {
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
    assert!(room["stream_status"].as_u64().unwrap() <= 1);
    assert_profile_shape(&room["anchor_info"]);
}

/// Asserts the exact profile / anchor_info shape.
#[track_caller]
pub fn assert_profile_shape(p: &Value) {
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
pub fn assert_page_shape(data: &Value) -> &Vec<Value> {
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
pub fn assert_ok_with_data(r: &Reply) {
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
pub fn assert_ok_without_data(r: &Reply) {
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
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn ids(list: &[Value]) -> Vec<String> {
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
pub async fn page(app: &TestApp, user: &str, path: &str, size: u64, cursor: &str) -> Value {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut url = format!("{path}{sep}page_size={size}");
    if !cursor.is_empty() {
        url.push_str(&format!("&cursor={}", enc(cursor)));
    }
    let r = app.get(user, &url).await;
    assert_ok_with_data(&r);
    r.data().clone()
}

/// The ids on a successful page that holds the whole list (`total_count` of them).
#[track_caller]
fn whole_page_ids(r: &Reply) -> Vec<String> {
    assert_ok_with_data(r);
    let list = assert_page_shape(r.data());
    assert_eq!(
        r.data()["total_count"].as_u64().unwrap() as usize,
        list.len()
    );
    ids(list)
}

/// The ids of every room `keyword` finds, as `user` (one page of up to 100).
pub async fn search(app: &TestApp, user: &str, keyword: &str) -> Vec<String> {
    let r = app
        .user(user)
        .search(&[("keyword", keyword), ("page_size", "100")])
        .await;
    whole_page_ids(&r)
}

/// The ids of the live rooms, as `user` (one page of up to 100).
pub async fn live_list(app: &TestApp, user: &str) -> Vec<String> {
    let r = app.user(user).list(&[("page_size", "100")]).await;
    assert_ok_with_data(&r);
    ids(assert_page_shape(r.data()))
}

/// The user ids of the room's members (one page of up to 100).
pub async fn user_list(app: &TestApp, live_id: &str) -> Vec<String> {
    let r = app
        .user("viewer")
        .user_list(&[("live_id", live_id), ("page_size", "100")])
        .await;
    whole_page_ids(&r)
}

/// Distinct created / started timestamps (ms) so "newest first" is well defined.
pub async fn tick() {
    tokio::time::sleep(Duration::from_millis(3)).await;
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Walks a list by `next_cursor`, calling `between` (which may add items) before
/// each further page. Returns the ids in visiting order.
pub async fn cursor_walk(
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
pub fn assert_each_once(seen: &[String], old: &[String]) {
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
