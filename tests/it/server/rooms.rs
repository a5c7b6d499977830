//! The server room routes (`src/routes/server/rooms.rs`): list with filters and
//! cursors, read with the push URL, create for an anchor, stop with a reason, delete,
//! extends; bad input 400 naming the field and writing nothing.

use serde_json::{Value, json};

use super::{as_server, server_app};
use crate::errors::snapshot;
use crate::harness::TestApp;
use crate::harness::api::{
    assert_ok_with_data, assert_ok_without_data, assert_page_shape, assert_room_shape, enc, ids,
    tick,
};

/// The ids of a whole list (one page of up to 100) for `query`.
async fn listed(app: &TestApp, query: &str) -> Vec<String> {
    let r = as_server(
        app,
        "GET",
        &format!("/server/live/room/list?page_size=100&{query}"),
        None,
    )
    .await;
    assert_ok_with_data(&r);
    let list = assert_page_shape(r.data());
    for room in list {
        assert_room_shape(room);
        assert_eq!(room["push_url"], "", "no push URLs in lists");
    }
    ids(list)
}

/// Every id of a list walked by cursor, `size` a page.
async fn walked(app: &TestApp, query: &str, size: u64) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..50 {
        let mut path = format!("/server/live/room/list?page_size={size}&{query}");
        if !cursor.is_empty() {
            path.push_str(&format!("&cursor={}", enc(&cursor)));
        }
        let r = as_server(app, "GET", &path, None).await;
        assert_ok_with_data(&r);
        let list = assert_page_shape(r.data());
        assert!(list.len() as u64 <= size);
        seen.extend(ids(list));
        cursor = r.data()["next_cursor"].as_str().unwrap().to_owned();
        assert_eq!(r.data()["end_page"], cursor.is_empty());
        if cursor.is_empty() {
            return seen;
        }
    }
    panic!("the walk does not end");
}

#[tokio::test]
async fn list_filters_by_status_and_anchor_and_pages_by_cursor() {
    let app = server_app().await;
    // alice: created c1, live l1, ended e1; bob: created c2, live l2, ended e2.
    let mut made = Vec::new();
    for anchor in ["alice", "bob"] {
        let created = app.create_room(anchor, &format!("{anchor} later")).await;
        tick().await;
        let live = app.live_room(anchor, &format!("{anchor} live")).await;
        tick().await;
        let ended = app.live_room(anchor, &format!("{anchor} ended")).await;
        app.user(anchor).stop(&ended).await.ok();
        tick().await;
        made.push((created, live, ended));
    }
    let [(c1, l1, e1), (c2, l2, e2)] = [made[0].clone(), made[1].clone()];
    // All: live first (newest first), then the rest newest first.
    assert_eq!(
        listed(&app, "").await,
        [
            l2.as_str(),
            l1.as_str(),
            e2.as_str(),
            c2.as_str(),
            e1.as_str(),
            c1.as_str()
        ]
    );
    assert_eq!(
        listed(&app, "live_status=").await.len(),
        6,
        "empty means all"
    );
    assert_eq!(
        listed(&app, "live_status=1").await,
        [l2.as_str(), l1.as_str()]
    );
    assert_eq!(
        listed(&app, "live_status=0").await,
        [c2.as_str(), c1.as_str()]
    );
    assert_eq!(
        listed(&app, "live_status=2").await,
        [e2.as_str(), e1.as_str()]
    );
    assert_eq!(
        listed(&app, "anchor_id=alice").await,
        [l1.as_str(), e1.as_str(), c1.as_str()]
    );
    assert_eq!(
        listed(&app, "anchor_id=bob&live_status=2").await,
        [e2.as_str()]
    );
    assert_eq!(
        listed(&app, "anchor_id=bob&live_status=1").await,
        [l2.as_str()]
    );
    assert!(listed(&app, "anchor_id=nobody").await.is_empty());
    // Walking by cursor, one room a page, visits each once in the same order.
    for query in [
        "",
        "live_status=0",
        "live_status=2",
        "anchor_id=alice",
        "live_status=1",
    ] {
        let whole = listed(&app, query).await;
        assert_eq!(walked(&app, query, 1).await, whole, "{query}");
    }
    // Counts: exact, except the walk of one status among the rooms not live.
    let count = |q: &'static str| {
        let app = &app;
        async move {
            as_server(app, "GET", &format!("/server/live/room/list?{q}"), None)
                .await
                .ok()
                .data()["total_count"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!(count("").await, 6);
    assert_eq!(count("live_status=1").await, 2);
    assert_eq!(count("anchor_id=alice&live_status=0").await, 1);
    assert_eq!(count("live_status=2").await, 4, "rooms not live");
    // Page numbers work where the count is exact.
    let r = as_server(
        &app,
        "GET",
        "/server/live/room/list?page_size=4&page_num=2",
        None,
    )
    .await
    .ok();
    assert_eq!(ids(assert_page_shape(r.data())), [e1.as_str(), c1.as_str()]);
    assert_eq!(r.data()["end_page"], true);
    // A deleted room is gone from every list.
    as_server(
        &app,
        "DELETE",
        &format!("/server/live/room/instance/{e1}"),
        None,
    )
    .await
    .ok();
    assert_eq!(listed(&app, "live_status=2").await, [e2.as_str()]);
    assert_eq!(
        listed(&app, "anchor_id=alice").await,
        [l1.as_str(), c1.as_str()]
    );
}

#[tokio::test]
async fn list_refuses_bad_filters_naming_them() {
    let app = server_app().await;
    for (query, field) in [
        ("live_status=3", "live_status"),
        ("live_status=x", "live_status"),
        ("live_status=-1", "live_status"),
        ("anchor_id=a%20b", "anchor_id"),
        ("page_size=0", "page_size"),
        ("cursor=!!", "cursor"),
        ("live_status=2&page_num=2", "page_num"),
    ] {
        let r = as_server(
            &app,
            "GET",
            &format!("/server/live/room/list?{query}"),
            None,
        )
        .await;
        r.expect(400, 40000);
        assert!(
            r.body["message"].as_str().unwrap().contains(field),
            "{query}: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn info_shows_the_push_url_of_any_room() {
    let app = server_app().await;
    let id = app.live_room("alice", "pushing").await;
    let r = as_server(&app, "GET", &format!("/server/live/room/info/{id}"), None).await;
    assert_ok_with_data(&r);
    let room = r.data();
    assert_room_shape(room);
    assert_eq!(room["live_id"], id.as_str());
    assert_eq!(room["anchor_info"]["user_id"], "alice");
    // The push URL the anchor itself gets.
    let own = app.info("alice", &id).await;
    assert!(room["push_url"].as_str().unwrap().contains(&id));
    assert_eq!(room["push_url"], own["push_url"]);
    as_server(
        &app,
        "GET",
        "/server/live/room/info/live_00000000000000000000",
        None,
    )
    .await
    .expect(404, 40400);
    as_server(&app, "GET", "/server/live/room/info/a%7Db", None)
        .await
        .expect(400, 40000);
}

#[tokio::test]
async fn create_makes_a_room_for_an_anchor() {
    let app = server_app().await;
    let body = json!({
        "anchor_id": "dora", "anchor_nick": "Dora", "anchor_avatar": "https://img.example.com/d.png",
        "title": "made by the backend", "notice": "n", "extends": {"k": "v"},
    });
    let r = as_server(&app, "POST", "/server/live/room/instance", Some(body)).await;
    assert_ok_with_data(&r);
    let room = r.data().clone();
    assert_room_shape(&room);
    assert_eq!(room["live_status"], 0);
    assert_eq!(room["title"], "made by the backend");
    assert_eq!(room["extends"], json!({"k": "v"}));
    assert_eq!(room["anchor_info"]["user_id"], "dora");
    assert_eq!(room["anchor_info"]["nick"], "Dora");
    assert!(
        room["push_url"]
            .as_str()
            .unwrap()
            .contains(room["live_id"].as_str().unwrap())
    );
    // The anchor owns it: it can start it with its own token.
    let id = room["live_id"].as_str().unwrap();
    app.user("dora").start(id).await.ok();
    assert_eq!(listed(&app, "anchor_id=dora").await, [id]);
}

#[tokio::test]
async fn create_refuses_bad_input_naming_the_field_and_writes_nothing() {
    let app = server_app().await;
    let before = snapshot(&app).await;
    for (body, field) in [
        (json!({"title": "t"}), "anchor_id is required"),
        (json!({"anchor_id": "a b", "title": "t"}), "anchor_id"),
        (json!({"anchor_id": 7, "title": "t"}), "anchor_id"),
        (json!({"anchor_id": "dora"}), "title"),
        (json!({"anchor_id": "dora", "title": ""}), "title"),
        (json!({"anchor_id": "dora", "title": 5}), "title"),
        (
            json!({"anchor_id": "dora", "title": "t", "cover_url": "ftp://x"}),
            "cover_url",
        ),
        (
            json!({"anchor_id": "dora", "title": "t", "anchor_nick": "x".repeat(65)}),
            "anchor_nick",
        ),
        (
            json!({"anchor_id": "dora", "title": "t", "anchor_avatar": "nope"}),
            "anchor_avatar",
        ),
        (
            json!({"anchor_id": "dora", "title": "t", "start_at": "soon"}),
            "start_at",
        ),
        (json!([1, 2]), "JSON object"),
    ] {
        let r = as_server(
            &app,
            "POST",
            "/server/live/room/instance",
            Some(body.clone()),
        )
        .await;
        r.expect(400, 40000);
        assert!(
            r.body["message"].as_str().unwrap().contains(field),
            "{body}: {}",
            r.body
        );
    }
    assert!(
        before == snapshot(&app).await,
        "a refused create wrote to Redis"
    );
}

#[tokio::test]
async fn stop_ends_a_live_room_with_a_reason() {
    let app = server_app().await;
    let id = app.live_room("alice", "to be stopped").await;
    let created = app.create_room("alice", "never started").await;
    let path = format!("/server/live/room/stop/{id}");
    let before = snapshot(&app).await;
    for (body, field) in [
        (json!({}), "reason is required"),
        (json!({"reason": ""}), "reason is required"),
        (json!({"reason": "   "}), "reason is required"),
        (
            json!({"reason": "x".repeat(257)}),
            "reason must be at most 256",
        ),
        (
            json!({"reason": "a\u{1}b"}),
            "reason must not contain control",
        ),
        (json!({"reason": 5}), "reason"),
    ] {
        let r = as_server(&app, "POST", &path, Some(body.clone())).await;
        r.expect(400, 40000);
        assert!(
            r.body["message"].as_str().unwrap().contains(field),
            "{body}: {}",
            r.body
        );
    }
    as_server(&app, "POST", &path, None)
        .await
        .expect(400, 40000);
    assert!(
        before == snapshot(&app).await,
        "a refused stop wrote to Redis"
    );
    let r = as_server(
        &app,
        "POST",
        &path,
        Some(json!({"reason": "x".repeat(256)})),
    )
    .await;
    assert_ok_without_data(&r);
    let room = app.info("bob", &id).await;
    assert_eq!(room["live_status"], 2);
    assert!(room["end_time"].as_i64().unwrap() > 0);
    // Not live (any more, or yet): 409; no such room: 404.
    let again = as_server(&app, "POST", &path, Some(json!({"reason": "again"}))).await;
    again.expect(409, 40900);
    as_server(
        &app,
        "POST",
        &format!("/server/live/room/stop/{created}"),
        Some(json!({"reason": "r"})),
    )
    .await
    .expect(409, 40900);
    as_server(
        &app,
        "POST",
        "/server/live/room/stop/live_00000000000000000000",
        Some(json!({"reason": "r"})),
    )
    .await
    .expect(404, 40400);
}

#[tokio::test]
async fn delete_removes_any_room() {
    let app = server_app().await;
    let id = app.live_room("alice", "to be deleted").await;
    app.join("bob", &id).await;
    let path = format!("/server/live/room/instance/{id}");
    assert_ok_without_data(&as_server(&app, "DELETE", &path, None).await);
    app.user("bob").room_info(&id).await.expect(404, 40400);
    assert!(
        app.keys(&format!("{{{id}}}:*"))
            .await
            .iter()
            .all(|k| k.ends_with(":events"))
    );
    as_server(&app, "DELETE", &path, None)
        .await
        .expect(404, 40400);
    as_server(&app, "DELETE", "/server/live/room/instance/x%7D", None)
        .await
        .expect(400, 40000);
}

#[tokio::test]
async fn extends_of_any_room() {
    let app = server_app().await;
    let id = app.create_room("alice", "extended").await;
    let r = as_server(
        &app,
        "PUT",
        "/server/live/room/extends",
        Some(json!({"live_id": id, "extends": {"a": "1", "b": "2"}})),
    )
    .await;
    assert_ok_without_data(&r);
    as_server(
        &app,
        "PUT",
        "/server/live/room/extends",
        Some(json!({"live_id": id, "extends": {"a": ""}})),
    )
    .await
    .ok();
    assert_eq!(app.info("bob", &id).await["extends"], json!({"b": "2"}));
    let before = snapshot(&app).await;
    for (body, field) in [
        (json!({"extends": {"a": "1"}}), "live_id is required"),
        (json!({"live_id": id}), "extends is required"),
        (json!({"live_id": id, "extends": {"a": 1}}), "extends"),
        (json!({"live_id": "a}b", "extends": {}}), "live_id"),
    ] {
        let r = as_server(&app, "PUT", "/server/live/room/extends", Some(body.clone())).await;
        r.expect(400, 40000);
        assert!(
            r.body["message"].as_str().unwrap().contains(field),
            "{body}: {}",
            r.body
        );
    }
    assert!(before == snapshot(&app).await);
    let missing: Value = json!({"live_id": "live_00000000000000000000", "extends": {"a": "1"}});
    as_server(&app, "PUT", "/server/live/room/extends", Some(missing))
        .await
        .expect(404, 40400);
}

/// A walk of one status among the rooms not live examines at most 1000 index entries
/// per request: past them the page comes back short (here empty) with a cursor to go
/// on from, and following it finds the rest.
#[tokio::test]
async fn a_filtered_walk_stops_at_its_budget_and_goes_on_by_cursor() {
    let app = server_app().await;
    let ended = app.live_room("alice", "old and ended").await;
    app.user("alice").stop(&ended).await.ok();
    let created_ms = app
        .redis_cmd::<i64>(&[
            "HGET",
            &format!("{}:{{{ended}}}:room", app.config.key_prefix),
            "created_ms",
        ])
        .await;
    // 1100 index entries newer than it whose rooms do not exist (as after a crash
    // between a delete's steps): examined, never listed.
    let search = format!("{}:{{global}}:idx:search", app.config.key_prefix);
    let mut zadd = vec!["ZADD".to_owned(), search];
    for n in 1..=1100 {
        zadd.push((created_ms + n).to_string());
        zadd.push(format!("live_ghost{n:05}"));
    }
    let args: Vec<&str> = zadd.iter().map(String::as_str).collect();
    app.redis_cmd::<i64>(&args).await;
    let r = as_server(
        &app,
        "GET",
        "/server/live/room/list?live_status=2&page_size=5",
        None,
    )
    .await;
    assert_ok_with_data(&r);
    assert!(assert_page_shape(r.data()).is_empty(), "{}", r.body);
    assert_eq!(r.data()["end_page"], false);
    let cursor = r.data()["next_cursor"].as_str().unwrap().to_owned();
    assert!(!cursor.is_empty());
    let r = as_server(
        &app,
        "GET",
        &format!(
            "/server/live/room/list?live_status=2&page_size=5&cursor={}",
            enc(&cursor)
        ),
        None,
    )
    .await;
    assert_ok_with_data(&r);
    assert_eq!(ids(assert_page_shape(r.data())), [ended.as_str()]);
    assert_eq!(r.data()["end_page"], true);
    assert_eq!(r.data()["next_cursor"], "");
}
