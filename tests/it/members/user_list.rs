//! `GET /client/live/room/user_list`: the members of a room, paged (SPEC §5, §6).

use serde_json::json;

use crate::harness::TestApp;
use crate::harness::api::{
    assert_each_once, assert_ok_with_data, assert_page_shape, assert_string_map, cursor_walk, ids,
    key_set, set_of,
};

#[tokio::test]
async fn user_list_entries_have_member_shape() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "members").await;
    app.join("bob", &id).await;
    app.user("bob")
        .update_profile(json!({"avatar": "https://a.example.com/b.png"}))
        .await
        .ok();
    let r = app
        .user("carol")
        .user_list(&[
            ("live_id", id.as_str()),
            ("page_num", "1"),
            ("page_size", "10"),
        ])
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
