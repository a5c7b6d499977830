//! Reconnecting: `Last-Event-ID` (header or `last_event_id` query) resumes exactly
//! after that event; an id that cannot be resumed from (events after it trimmed,
//! unknown, malformed) gets a fresh snapshot with `reset: true`.

use std::time::Duration;

use super::{Sse, SseClient, bearer, events_path, stream_ids};
use crate::harness::TestApp;

/// The non-`online` events of a stream until `n` have come.
async fn take(s: &mut SseClient, n: usize) -> Vec<Sse> {
    let mut got = Vec::new();
    while got.len() < n {
        got.push(s.next_not_online().await);
    }
    got
}

#[tokio::test]
async fn last_event_id_resumes_exactly_after_that_event() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "sse resume").await;
    let auth = bearer("viewer");
    let mut s = SseClient::open(
        &app.base,
        &events_path(&id, "events=all"),
        &[("Authorization", &auth)],
    )
    .await;
    assert_eq!(s.next().await.event, "room");
    for u in ["b1", "b2", "b3"] {
        app.join(u, &id).await;
    }
    let first = take(&mut s, 3).await;
    drop(s);
    // Changes while disconnected.
    app.user("b1").leave(&id).await.ok();
    app.join("b4", &id).await;

    // Resume after the second event: the third, then what happened since; no snapshot.
    let after = first[1].id.clone().unwrap();
    let mut s = SseClient::open(
        &app.base,
        &events_path(&id, "events=all"),
        &[("Authorization", &auth), ("Last-Event-ID", &after)],
    )
    .await;
    let got = take(&mut s, 3).await;
    assert_eq!(got[0], first[2], "resumed exactly after {after}");
    let names: Vec<&str> = got.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["member_joined", "member_left", "member_joined"]);
    let ids = stream_ids(&app, &id).await;
    let got_ids: Vec<String> = got.iter().map(|e| e.id.clone().unwrap()).collect();
    assert_eq!(got_ids, ids[ids.len() - 3..]);
    // Live after the catch-up.
    app.join("b5", &id).await;
    assert_eq!(s.next_not_online().await.data["user"]["user_id"], "b5");

    // The query form, and the event's full id (`<live_id>:<stream id>`) too.
    let full = format!("{id}:{}", got_ids[1]);
    let query = format!(
        "events=all&last_event_id={}",
        crate::harness::api::enc(&full)
    );
    let mut s = SseClient::open(
        &app.base,
        &events_path(&id, &query),
        &[("Authorization", &auth)],
    )
    .await;
    let again = take(&mut s, 2).await;
    assert_eq!(again[0].id.as_deref(), Some(got_ids[2].as_str()));
    assert_eq!(again[1].data["user"]["user_id"], "b5");
}

#[tokio::test]
async fn an_id_that_cannot_be_resumed_gets_a_reset_snapshot() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "sse reset").await;
    let auth = bearer("viewer");
    let old = stream_ids(&app, &id).await.last().cloned().unwrap();
    app.join("b1", &id).await;
    app.join("b2", &id).await;
    // History after `old` is trimmed away.
    let key = app.store.keys().room(&id).events;
    let _: i64 = app.redis_cmd(&["XTRIM", &key, "MAXLEN", "0"]).await;
    assert!(stream_ids(&app, &id).await.is_empty());
    // Then more events, so the stream is not empty (as in life: it keeps ~1,000).
    app.join("b3", &id).await;

    for bad in [old.as_str(), "junk", "99999999999999-0", "live_other:1-0"] {
        let mut s = SseClient::open(
            &app.base,
            &events_path(&id, ""),
            &[("Authorization", &auth), ("Last-Event-ID", bad)],
        )
        .await;
        assert_eq!(s.status, 200, "{bad}");
        let e = s
            .next_within(super::WAIT)
            .await
            .unwrap_or_else(|| panic!("{bad}: no snapshot"));
        assert_eq!(e.event, "room", "{bad}");
        assert_eq!(e.data["reset"], true, "{bad}: {e:?}");
        assert_eq!(e.data["online_count"], 4);
        // The snapshot's id still is the newest event's, trimmed or not.
        let resumed_from = e.id.clone().unwrap();
        assert_ne!(resumed_from, old);
        // And resuming from the snapshot's id works (nothing lost after it).
        drop(s);
        app.join("late", &id).await;
        let mut s = SseClient::open(
            &app.base,
            &events_path(&id, "events=member"),
            &[("Authorization", &auth), ("Last-Event-ID", &resumed_from)],
        )
        .await;
        let next = s.next_not_online().await;
        assert_eq!(next.event, "member_joined");
        assert_eq!(next.data["user"]["user_id"], "late");
        app.user("late").leave(&id).await.ok();
        let _ = s.rest_until_end(Duration::from_millis(300)).await;
    }
}
