//! The envelope and the error tables in-process: `liveroom::app(state)` driven with
//! `tower::ServiceExt::oneshot`, without a socket or an HTTP client in between
//! (SPEC §1, §2, §7). The socket tests in `errors/` cover the same answers over
//! HTTP; these pin the router's own behaviour, so a regression shows here even if
//! the HTTP server in front of it changed.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};

use crate::harness::{InProcess, Reply, TestApp, token_for};

/// The app's router on a Redis of its own.
async fn router() -> InProcess {
    TestApp::init().in_process().await
}

/// A request with an optional bearer token and an optional JSON body.
fn request(method: &str, path: &str, user: Option<&str>, body: Option<Vec<u8>>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(user) = user {
        builder = builder.header("authorization", format!("Bearer {}", token_for(user)));
    }
    match body {
        Some(bytes) => builder
            .header("content-type", "application/json")
            .body(Body::from(bytes))
            .unwrap(),
        None => builder.body(Body::empty()).unwrap(),
    }
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

/// An error envelope: `status` / `code`, exactly `request_id`, `code`, `message`,
/// a message naming `word`, and a request id.
#[track_caller]
fn assert_refused(r: &Reply, status: u16, code: i64, word: &str) {
    r.expect(status, code);
    assert_eq!(
        keys(&r.body),
        BTreeSet::from(["request_id", "code", "message"]),
        "error envelope: {}",
        r.body
    );
    let message = r.body["message"].as_str().unwrap();
    assert!(
        message.to_lowercase().contains(&word.to_lowercase()),
        "message {message:?} does not name {word:?}"
    );
}

#[tokio::test]
async fn success_envelope_has_data_and_a_request_id() {
    let app = router().await;
    let r = app
        .send(request("GET", "/client/user/profile", Some("alice"), None))
        .await;
    assert_eq!((r.status, r.code()), (200, 0), "{}", r.body);
    assert_eq!(
        keys(&r.body),
        BTreeSet::from(["request_id", "code", "message", "data"])
    );
    assert_eq!(r.body["message"], "success");
    assert_eq!(r.data()["user_id"], "alice");
    let id = r.body["request_id"].as_str().unwrap();
    assert!(!id.is_empty());
    assert_eq!(r.headers["x-request-id"], id, "header and envelope agree");
}

#[tokio::test]
async fn unknown_routes_are_404_40400() {
    let app = router().await;
    for path in [
        "/nope",
        "/",
        "/client/live/room/info/",
        "/client/live/rooms/list",
    ] {
        for user in [Some("alice"), None] {
            let r = app.send(request("GET", path, user, None)).await;
            assert_refused(&r, 404, 40400, "no such endpoint");
        }
    }
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let app = router().await;
    let id = "live_00000000000000000000";
    let cases = [
        ("GET", "/client/live/room/instance".to_owned(), "POST"),
        ("PATCH", format!("/client/live/room/{id}"), "PUT"),
        ("POST", "/client/live/room/list".to_owned(), "GET"),
        ("PUT", format!("/client/live/room/user/{id}"), "POST"),
        ("POST", "/client/user/profile".to_owned(), "GET"),
    ];
    for (method, path, allowed) in &cases {
        let r = app.send(request(method, path, Some("alice"), None)).await;
        assert_refused(&r, 405, 40000, "method not allowed");
        let allow = r.headers["allow"].to_str().unwrap();
        assert!(
            allow.split(',').any(|m| m.trim() == *allowed),
            "{method} {path}: Allow is {allow}"
        );
    }
}

#[tokio::test]
async fn missing_or_unreadable_tokens_are_401_40100() {
    let app = router().await;
    let authorizations = [
        None,
        Some(""),
        Some("garbage"),
        Some("Bearer"),
        Some("Bearer a.b.c"),
    ];
    for authorization in authorizations {
        let mut builder = Request::builder().uri("/client/user/profile");
        if let Some(value) = authorization {
            builder = builder.header("authorization", value);
        }
        let r = app.send(builder.body(Body::empty()).unwrap()).await;
        r.expect(401, 40100);
        assert_eq!(
            keys(&r.body),
            BTreeSet::from(["request_id", "code", "message"]),
            "{authorization:?}: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn bad_bodies_are_400_40000_naming_the_field() {
    let app = router().await;
    let create = "/client/live/room/instance";
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("malformed JSON", br#"{"title": "x""#.to_vec(), "JSON"),
        ("not an object", b"[]".to_vec(), "JSON"),
        (
            "title as number",
            json!({"title": 5}).to_string().into(),
            "title",
        ),
        (
            "notice as bool",
            json!({"title": "t", "notice": false}).to_string().into(),
            "notice",
        ),
        (
            "extends as array",
            json!({"title": "t", "extends": ["a"]}).to_string().into(),
            "extends",
        ),
    ];
    for (name, body, word) in cases {
        let r = app
            .send(request("POST", create, Some("alice"), Some(body)))
            .await;
        assert!(r.status == 400, "{name}: {}", r.body);
        assert_refused(&r, 400, 40000, word);
    }
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let app = router().await;
    // A valid object padded with whitespace to one byte over 64 KiB.
    let mut body = br#"{"title":"t"}"#.to_vec();
    body.resize(64 * 1024 + 1, b' ');
    let r = app
        .send(request(
            "POST",
            "/client/live/room/instance",
            Some("alice"),
            Some(body),
        ))
        .await;
    assert_refused(&r, 413, 40000, "body");
}

#[tokio::test]
async fn unknown_rooms_are_404_40400() {
    let app = router().await;
    let id = "live_00000000000000000000";
    for (method, path) in [
        ("GET", format!("/client/live/room/info/{id}")),
        ("PUT", format!("/client/live/room/{id}")),
        ("POST", format!("/client/live/room/user/{id}")),
    ] {
        let r = app.send(request(method, &path, Some("alice"), None)).await;
        r.expect(404, 40400);
    }
}
