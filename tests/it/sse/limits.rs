//! The hub's bounds: a client that does not read is cut off with `reconnect`
//! (`lagged`) instead of being buffered for without bound, and resumes where it was;
//! history trimmed past the hub's position ends its streams with `reconnect`
//! (`history_trimmed`), and reconnecting gets a reset snapshot.

use std::time::Duration;

use super::{SseClient, bearer, events_path};
use crate::harness::TestApp;

/// Appends `n` `member_joined` entries to room `live_id`'s stream at once (as the
/// scripts write them), each with an `extends` of `pad` bytes; `maxlen` trims the
/// stream exactly to that many entries.
async fn flood(app: &TestApp, live_id: &str, n: usize, pad: usize, maxlen: Option<usize>) {
    let key = app.store.keys().room(live_id).events;
    let extends = serde_json::json!({ "pad": "x".repeat(pad) }).to_string();
    let mut pipe = redis::pipe();
    pipe.atomic();
    for i in 0..n {
        let cmd = pipe.cmd("XADD").arg(&key);
        if let Some(m) = maxlen {
            cmd.arg("MAXLEN").arg(m);
        }
        cmd.arg("*")
            .arg(&[
                ("event", "member_joined"),
                ("created_at", "1"),
                ("live_id", live_id),
                ("title", "flood"),
                ("anchor", "alice"),
                ("live_status", "1"),
            ])
            .arg("online_count")
            .arg(i + 2)
            .arg("user")
            .arg(format!("f{i}"))
            .arg("extends")
            .arg(&extends)
            .ignore();
    }
    let mut conn = app.store.connection();
    let () = pipe.query_async(&mut conn).await.unwrap();
}

#[tokio::test]
async fn a_client_that_does_not_read_is_cut_off_and_resumes_where_it_was() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "sse lag").await;
    let auth = bearer("viewer");
    let mut s = SseClient::open(
        &app.base,
        &events_path(&id, "events=all"),
        &[("Authorization", &auth)],
    )
    .await;
    assert_eq!(s.next().await.event, "room");
    // ~16 MB of events while the client reads nothing: more than the socket buffers
    // hold, so the server's side falls more than the channel's capacity behind.
    flood(&app, &id, 4000, 4096, None).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (got, ended) = s.rest_until_end(Duration::from_secs(30)).await;
    assert!(ended, "the stream of a lagging client ends");
    let last = got.last().expect("events");
    assert_eq!(last.event, "reconnect");
    assert_eq!(last.data["reason"], "lagged");
    let delivered: Vec<&super::Sse> = got.iter().filter(|e| e.event == "member_joined").collect();
    assert!(
        delivered.len() < 4000,
        "cut off before the end: {}",
        delivered.len()
    );
    // What came before the cut is in order, without holes (users f0, f1, …).
    for (i, e) in delivered.iter().enumerate() {
        assert_eq!(e.data["user"]["user_id"], format!("f{i}"));
    }
    // Resuming after the last event received goes on with the next one.
    let after = delivered
        .last()
        .map_or_else(String::new, |e| e.id.clone().unwrap());
    let mut s = SseClient::open(
        &app.base,
        &events_path(&id, "events=all"),
        &[("Authorization", &auth), ("Last-Event-ID", &after)],
    )
    .await;
    let next = s.next_not_online().await;
    assert_eq!(next.event, "member_joined");
    assert_eq!(
        next.data["user"]["user_id"],
        format!("f{}", delivered.len())
    );
}

#[tokio::test]
async fn history_trimmed_past_the_hub_ends_streams_with_a_reset_on_reconnect() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "sse gap").await;
    let auth = bearer("viewer");
    let mut s = SseClient::open(
        &app.base,
        &events_path(&id, "events=all"),
        &[("Authorization", &auth)],
    )
    .await;
    let snapshot = s.next().await;
    // 300 events at once, the stream trimmed to the last 100: the hub's next read
    // cannot continue from where it was.
    flood(&app, &id, 300, 10, Some(100)).await;
    let (got, ended) = s.rest_until_end(Duration::from_secs(10)).await;
    assert!(ended, "{got:?}");
    let names: Vec<&str> = got.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["reconnect"], "nothing from after the hole");
    assert_eq!(got[0].data["reason"], "history_trimmed");
    // Reconnecting with the last id it had: a reset snapshot.
    let mut s = SseClient::open(
        &app.base,
        &events_path(&id, "events=all"),
        &[
            ("Authorization", &auth),
            ("Last-Event-ID", snapshot.id.as_deref().unwrap()),
        ],
    )
    .await;
    let e = s.next().await;
    assert_eq!(
        (e.event.as_str(), &e.data["reset"]),
        ("room", &serde_json::json!(true))
    );
}

/// Redis stalled for a while (polls time out): open streams stay open and get the
/// next change once Redis answers again.
#[tokio::test]
async fn streams_outlive_a_redis_stall() {
    let app = TestApp::init()
        .private_redis()
        .with_redis_timeout(Duration::from_millis(300))
        .spawn()
        .await;
    let id = app.live_room("alice", "sse stall").await;
    let mut s = SseClient::open(
        &app.base,
        &events_path(&id, "events=all"),
        &[("Authorization", &bearer("viewer"))],
    )
    .await;
    assert_eq!(s.next().await.event, "room");
    app.redis.child().signal(libc::SIGSTOP);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.redis.child().signal(libc::SIGCONT);
    app.join("bob", &id).await;
    let e = s.next_not_online().await;
    assert_eq!(e.event, "member_joined");
    assert_eq!(e.data["user"]["user_id"], "bob");
}
