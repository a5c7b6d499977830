//! `POST /client/live/room/instance`: creating a room (SPEC §4), and its scheduled times.

use serde_json::json;

use crate::harness::TestApp;
use crate::harness::api::{assert_ok_with_data, assert_room_shape, now_secs};

#[tokio::test]
async fn create_room_returns_full_room() {
    let app = TestApp::start().await;
    let r = app
        .user("alice")
        .create_room(json!({
            "title": "Evening show",
            "notice": "be nice",
            "cover_url": "https://img.example.com/c.png",
            "extends": {"lang": "en", "level": "3"},
            "start_at": "2030-01-02 03:04:05",
            "end_at": "2030-01-02 05:04:05",
            "unknown_field": 1
        }))
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
        .user("alice")
        .create_room(json!({"title": "two"}))
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
async fn scheduled_times_use_default_zone_until_start() {
    let app = TestApp::start().await;
    let r = app.user("alice").create_room(json!({"title": "scheduled", "start_at": "2021-12-02 11:11:11", "end_at": "2021-12-02 12:11:11"}),
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
    let started = app.user("alice").start(&id).await.ok();
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
            .user("alice")
            .create_room(json!({"title": "rfc", "start_at": start, "end_at": end}))
            .await;
        assert_ok_with_data(&r);
        assert_eq!(r.data()["start_time"], 1638414671, "{start}");
        assert_eq!(r.data()["end_time"], 1638418271, "{end}");
    }
}
