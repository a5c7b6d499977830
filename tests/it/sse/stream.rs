//! One stream from connect to end: the snapshot first, then the events in order with
//! their stream ids, the default selection and `online` coalescing, the end on stop
//! and delete, and the refusals (401, 404, 400) as envelopes before any stream.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{SseClient, bearer, events_path, stream_ids};
use crate::harness::TestApp;
use crate::harness::api::assert_room_shape;

#[tokio::test]
async fn the_snapshot_comes_first_then_every_event_in_order_with_its_id() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "sse order").await;
    let mut s = SseClient::open(
        &app.base,
        &events_path(&id, "events=all"),
        &[("Authorization", &bearer("viewer"))],
    )
    .await;
    assert_eq!(s.status, 200);
    assert!(
        s.content_type().starts_with("text/event-stream"),
        "{:?}",
        s.headers
    );
    assert_eq!(s.headers["cache-control"], "no-cache");
    assert_eq!(s.headers["x-accel-buffering"], "no");

    let snapshot = s.next().await;
    assert_eq!(snapshot.event, "room");
    let ids = stream_ids(&app, &id).await;
    assert_eq!(
        snapshot.id.as_deref(),
        ids.last().map(String::as_str),
        "the snapshot's id is the newest event's"
    );
    assert_eq!(snapshot.data["reset"], false);
    let mut room = snapshot.data.clone();
    room.as_object_mut().unwrap().remove("reset");
    assert_room_shape(&room);
    // As the info endpoint shows it to the same caller.
    assert_eq!(room, app.info("viewer", &id).await);

    app.join("bob", &id).await;
    app.user("alice")
        .update_extends(json!({"live_id": id, "extends": {"k": "v"}}))
        .await
        .ok();
    app.user("bob").leave(&id).await.ok();
    app.user("alice").stop(&id).await.ok();

    let mut got = Vec::new();
    let (rest, ended) = s.rest_until_end(Duration::from_secs(10)).await;
    assert!(ended, "the stream ends after room_stopped: {rest:?}");
    for e in rest {
        if e.event != "online" {
            got.push(e);
        }
    }
    let names: Vec<&str> = got.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "member_joined",
            "room_extends_updated",
            "member_left",
            "room_stopped"
        ]
    );
    // Each SSE id is the event's stream id, and the data is the event's JSON.
    let all = crate::events::events(&app, &id).await;
    let tail = &all[all.len() - 4..];
    for (sse, event) in got.iter().zip(tail) {
        assert_eq!(sse.id.as_deref(), Some(event.stream_id()));
        assert_eq!(sse.data, serde_json::to_value(event).unwrap());
    }
    assert_eq!(got[3].data["reason"], "anchor");
}

#[tokio::test]
async fn by_default_member_events_are_left_out_and_online_is_coalesced() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "sse online").await;
    let mut s = SseClient::open(
        &app.base,
        &events_path(&id, ""),
        &[("Authorization", &bearer("viewer"))],
    )
    .await;
    let snapshot = s.next().await;
    assert_eq!(snapshot.data["online_count"], 1);

    // 30 joins in a burst, then the anchor goes offline (an anchor event).
    let joins = (0..30).map(|i| {
        let app = &app;
        let id = id.clone();
        async move { app.join(&format!("v{i}"), &id).await }
    });
    futures::future::join_all(joins).await;
    let burst_done = Instant::now();
    app.user("alice").leave(&id).await.ok();

    let mut onlines: Vec<(Instant, u64)> = Vec::new();
    let mut others = Vec::new();
    // Until the final count (30 viewers, the anchor gone) arrives.
    while onlines.last().is_none_or(|(_, n)| *n != 30) {
        let e = s.next().await;
        if e.event == "online" {
            assert!(e.id.is_none(), "online events have no id: {e:?}");
            assert_eq!(e.data.as_object().unwrap().len(), 1, "{e:?}");
            onlines.push((Instant::now(), e.data["online_count"].as_u64().unwrap()));
        } else {
            others.push(e);
        }
    }
    let names: Vec<&str> = others.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["anchor_offline"], "no member events by default");
    // 31 changes of the count, coalesced: one at once, then at most one per 2 s.
    assert!(
        onlines.len() <= 2 + burst_done.elapsed().as_secs() as usize / 2 + 1,
        "{} online events: {onlines:?}",
        onlines.len()
    );
    assert!(onlines.len() < 31, "{onlines:?}");
    for pair in onlines.windows(2) {
        // Received times: the server spaced them 2 s apart (less a little jitter).
        assert!(
            pair[1].0 - pair[0].0 >= Duration::from_millis(1800),
            "online events closer than 2 s: {onlines:?}"
        );
    }
    assert_eq!(app.info("viewer", &id).await["online_count"], 30);
}

#[tokio::test]
async fn the_stream_ends_on_delete_and_at_once_for_an_ended_room() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "sse end").await;
    let mut s = SseClient::open(
        &app.base,
        &events_path(&id, "events=room"),
        &[("Authorization", &bearer("viewer"))],
    )
    .await;
    assert_eq!(s.next().await.event, "room");
    app.user("alice").delete_room(&id).await.ok();
    let (rest, ended) = s.rest_until_end(Duration::from_secs(10)).await;
    assert!(ended, "{rest:?}");
    let names: Vec<&str> = rest.iter().map(|e| e.event.as_str()).collect();
    // The anchor's presence goes with the room: no member_left (SPEC §10).
    assert_eq!(names, ["room_deleted"]);

    // An ended room: the snapshot, then the end.
    let ended_id = app.live_room("alice", "sse ended").await;
    app.user("alice").stop(&ended_id).await.ok();
    let mut s = SseClient::open(
        &app.base,
        &events_path(&ended_id, ""),
        &[("Authorization", &bearer("viewer"))],
    )
    .await;
    let snapshot = s.next().await;
    assert_eq!(
        (snapshot.event.as_str(), &snapshot.data["live_status"]),
        ("room", &json!(2))
    );
    let (rest, ended) = s.rest_until_end(Duration::from_secs(5)).await;
    assert!(ended && rest.is_empty(), "{rest:?}");
    // Resuming after its last event: 204, so EventSource stops reconnecting.
    let last = snapshot.id.unwrap();
    let s = SseClient::open(
        &app.base,
        &events_path(&ended_id, ""),
        &[
            ("Authorization", &bearer("viewer")),
            ("Last-Event-ID", &last),
        ],
    )
    .await;
    assert_eq!(s.status, 204);
    // A deleted room is unknown: 404.
    let s = SseClient::open(
        &app.base,
        &events_path(&id, ""),
        &[("Authorization", &bearer("viewer"))],
    )
    .await;
    assert_eq!(s.status, 404);
}

#[tokio::test]
async fn refusals_are_envelopes_naming_the_problem() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "sse refusals").await;
    let check =
        async |path: String, headers: Vec<(&str, String)>, status: u16, code: i64, needle: &str| {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let s = SseClient::open(&app.base, &path, &headers).await;
            assert_eq!(s.status, status, "{path}");
            assert!(s.content_type().starts_with("application/json"), "{path}");
            let body = s.json().await;
            assert_eq!(body["code"], code, "{body}");
            assert!(body["request_id"].is_string(), "{body}");
            assert!(
                body["message"].as_str().unwrap().contains(needle),
                "{path}: {body} should mention {needle:?}"
            );
        };
    let token = crate::harness::token_for("viewer");
    check(events_path(&id, ""), vec![], 401, 40100, "token").await;
    check(events_path(&id, "token="), vec![], 401, 40100, "token").await;
    check(
        events_path(&id, "token=not.a.jwt"),
        vec![],
        401,
        40100,
        "token",
    )
    .await;
    let forged = liveroom::auth::mint_token(
        "another-secret",
        "viewer",
        None,
        None,
        Duration::from_secs(60),
    )
    .unwrap();
    check(
        events_path(&id, &format!("token={forged}")),
        vec![],
        401,
        40100,
        "signature",
    )
    .await;
    check(
        events_path("live_00000000000000000000", &format!("token={token}")),
        vec![],
        404,
        40400,
        "room",
    )
    .await;
    check(
        events_path("bad%20id", &format!("token={token}")),
        vec![],
        400,
        40000,
        "live_id",
    )
    .await;
    check(
        events_path(&id, "events=room,nope"),
        vec![("Authorization", bearer("viewer"))],
        400,
        40000,
        "events",
    )
    .await;
    // A missing token is refused before the path is looked at.
    check(events_path("bad%20id", ""), vec![], 401, 40100, "token").await;
    // The token in the query works like the header.
    let mut s = SseClient::open(&app.base, &events_path(&id, &format!("token={token}")), &[]).await;
    assert_eq!(s.status, 200);
    assert_eq!(s.next().await.event, "room");
}

/// Streams do not hold an in-flight slot (`LIVEROOM_MAX_IN_FLIGHT`) once they have
/// started: more streams than slots stay open and requests are still served.
#[tokio::test]
async fn open_streams_do_not_use_up_the_in_flight_limit() {
    let app = TestApp::start_with(|c| c.max_in_flight = 2).await;
    let id = app.live_room("alice", "sse slots").await;
    let mut streams = Vec::new();
    for _ in 0..6 {
        let mut s = SseClient::open(
            &app.base,
            &events_path(&id, ""),
            &[("Authorization", &bearer("viewer"))],
        )
        .await;
        assert_eq!(s.status, 200);
        assert_eq!(s.next().await.event, "room");
        streams.push(s);
    }
    app.user("viewer").room_info(&id).await.ok();
    app.join("bob", &id).await;
    for s in &mut streams {
        assert_eq!(s.next().await.data["online_count"], 2);
    }
}
