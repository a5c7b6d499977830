//! `GET /client/live/room/list`: the live rooms, paged by number and by cursor (SPEC §5).

use crate::harness::TestApp;
use crate::harness::api::{
    assert_each_once, assert_ok_with_data, assert_page_shape, assert_room_shape, cursor_walk, ids,
    live_list, page, tick,
};

#[tokio::test]
async fn list_returns_page_of_live_rooms() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "on air").await;
    app.join("bob", &id).await;
    let r = app
        .user("bob")
        .list(&[("page_num", "1"), ("page_size", "5")])
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
    let r = app2.user("bob").list(&[]).await;
    assert_ok_with_data(&r);
    assert!(assert_page_shape(r.data()).is_empty());
    assert_eq!(r.data()["total_count"], 0);
    assert_eq!(r.data()["page_total"], 0);
    assert_eq!(r.data()["end_page"], true);
}

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
    let r = app.user("bob").list(&[("page_size", "7")]).await.ok();
    assert_eq!(
        (
            r.data()["page_total"].as_u64(),
            r.data()["end_page"].as_bool()
        ),
        (Some(1), Some(true))
    );
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

#[tokio::test]
async fn list_shows_only_live_rooms_newest_start_first() {
    let app = TestApp::start().await;
    let mut r = Vec::new();
    for i in 0..5 {
        r.push(app.create_room("alice", &format!("list {i}")).await);
    }
    for i in [2, 0, 3, 4] {
        app.user("alice").start(&r[i]).await.ok();
        tick().await;
    }
    // r[1] created only.
    assert_eq!(
        live_list(&app, "viewer").await,
        vec![r[4].clone(), r[3].clone(), r[0].clone(), r[2].clone()]
    );
    let r2 = app.user("viewer").list(&[]).await.ok();
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
    app.user("bob").stop(&b).await.ok();
    assert_eq!(live_list(&app, "viewer").await, vec![a]);
}
