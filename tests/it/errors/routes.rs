//! Unknown routes and wrong methods answer the envelope (SPEC §1).

use crate::errors::{CREATE, EXTENDS};
use crate::harness::TestApp;

#[tokio::test]
async fn unknown_route_and_wrong_method() {
    let app = TestApp::start().await;
    let room = app.create_room("alice", "r").await;
    let token = app.token("alice");
    let not_found = [
        ("GET", "/nope".to_owned()),
        ("GET", "/".to_owned()),
        ("POST", "/client/live/room/instance/x/y".to_owned()),
        ("GET", "/client/live/room/info/".to_owned()),
        ("GET", format!("/client/live/rooms/info/{room}")),
    ];
    for (method, path) in &not_found {
        for auth in [Some(token.as_str()), None] {
            let r = refused_unchanged!(&app, 404, 40400, app.call(method, path, auth, None));
            assert_eq!(r.body["message"], "no such endpoint", "{method} {path}");
        }
    }
    // (method, path, a method the route does allow)
    let wrong_method = [
        ("GET", CREATE.to_owned(), "POST"),
        ("PUT", CREATE.to_owned(), "POST"),
        ("PATCH", format!("/client/live/room/{room}"), "PUT"),
        ("GET", format!("/client/live/room/{room}"), "DELETE"),
        ("POST", format!("/client/live/room/info/{room}"), "GET"),
        (
            "GET",
            format!("/client/live/room/instance/{room}"),
            "DELETE",
        ),
        ("POST", "/client/live/room/list".to_owned(), "GET"),
        ("DELETE", "/client/live/room".to_owned(), "GET"),
        ("GET", EXTENDS.to_owned(), "PUT"),
        ("POST", format!("/client/live/room/heartbeat/{room}"), "GET"),
        ("PUT", format!("/client/live/room/user/{room}"), "POST"),
        ("POST", "/client/user/profile".to_owned(), "GET"),
    ];
    for (method, path, allowed) in &wrong_method {
        for auth in [Some(token.as_str()), None] {
            let r = refused_unchanged!(&app, 405, 40000, app.call(method, path, auth, None));
            // The message names the route the path matched and what it takes.
            let message = r.body["message"].as_str().unwrap_or("");
            assert!(
                message.starts_with("method not allowed: /client/")
                    && message.contains(" takes ")
                    && message.contains(allowed),
                "{method} {path}: {message}"
            );
            let allow: Vec<String> = r
                .headers
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .split(',')
                .map(|m| m.trim().to_owned())
                .collect();
            assert!(
                allow.iter().any(|m| m == allowed) && !allow.iter().any(|m| m == method),
                "{method} {path}: Allow is {allow:?}"
            );
        }
    }
    // The room is untouched by all of that.
    assert_eq!(app.info("alice", &room).await["live_status"], 0);
}

/// A typo in a fixed segment is read as a `live_id`: the 405 says which route it
/// matched and what that route takes, instead of only "method not allowed".
#[tokio::test]
async fn a_405_names_the_route_it_matched_and_its_methods() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    let r = app
        .call("GET", "/client/live/room/lsit", Some(&token), None)
        .await;
    r.expect(405, 40000);
    assert_eq!(
        r.body["message"],
        "method not allowed: /client/live/room/{live_id} takes DELETE, POST, PUT"
    );
    let r = app
        .call("POST", "/client/live/room/list", Some(&token), None)
        .await;
    r.expect(405, 40000);
    assert_eq!(
        r.body["message"],
        "method not allowed: /client/live/room/list takes GET"
    );
}
