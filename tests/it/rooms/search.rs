//! `GET /client/live/room?keyword=…`: search over every room not deleted (SPEC §4, §5).

use crate::harness::TestApp;
use crate::harness::api::{
    assert_each_once, assert_ok_with_data, assert_page_shape, assert_room_shape, cursor_walk,
    search, tick,
};

#[tokio::test]
async fn search_returns_page_of_rooms() {
    let app = TestApp::start().await;
    let id = app.create_room("alice", "searchable show").await;
    let r = app
        .user("bob")
        .search(&[
            ("keyword", "searchable"),
            ("page_num", "1"),
            ("page_size", "10"),
        ])
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
    let r = app.user("bob").search(&[]).await;
    assert_ok_with_data(&r);
    assert_eq!(assert_page_shape(r.data()).len(), 1);
    assert_eq!(r.data()["page_total"], 1);
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
        .user("viewer")
        .search(&[("keyword", "nothing-like-this")])
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
    app.user("alice").delete_room(&gone).await.ok();
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
    app.user("alice").start(&r[1]).await.ok();
    app.user("alice").start(&r[0]).await.ok();
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
    app.user("alice").start(&r[1]).await.ok();
    app.user("alice").start(&r[0]).await.ok();
    app.user("alice").stop(&r[1]).await.ok();
    let expected = vec![r[0].clone(), r[3].clone(), r[2].clone(), r[1].clone()];
    assert_eq!(search(&app, "viewer", "music").await, expected);
    assert_eq!(search(&app, "viewer", "").await, expected);
}
