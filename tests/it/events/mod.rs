//! Room events (docs/SPEC.md §10) as recorded in each room's stream: every state
//! change once, in order, with the documented fields, on one Redis and on the
//! Cluster. The streams are read with a raw `XRANGE` and parsed as the service
//! parses them ([`liveroom::events::RoomEvent`]).

mod expiry;
mod lifecycle;
mod races;

use liveroom::events::RoomEvent;

use crate::harness::TestApp;

/// Every event kept in room `live_id`'s stream, oldest first (`XRANGE - +`).
pub async fn events(app: &TestApp, live_id: &str) -> Vec<RoomEvent> {
    let key = app.store.keys().room(live_id).events;
    let entries: Vec<(String, Vec<(String, String)>)> =
        app.redis_cmd(&["XRANGE", &key, "-", "+"]).await;
    entries
        .iter()
        .map(|(id, fields)| RoomEvent::from_entry(id, fields))
        .collect()
}

/// An event as (`event`, user or "", reason or "", `online_count`, `live_status`),
/// the part a life cycle fixes.
pub type Step = (&'static str, &'static str, &'static str, u64, u8);

/// Asserts the events are exactly `expected`, in order, each about room `live_id`
/// titled `title` with anchor `anchor`, with distinct increasing ids and
/// `created_at` non-decreasing and within the last minute of the local clock.
#[track_caller]
pub fn assert_steps(
    got: &[RoomEvent],
    live_id: &str,
    title: &str,
    anchor: &str,
    expected: &[Step],
) {
    let steps: Vec<(String, String, String, u64, u8)> = got
        .iter()
        .map(|e| {
            (
                e.event.clone(),
                e.user
                    .as_ref()
                    .map(|u| u.user_id.clone())
                    .unwrap_or_default(),
                e.reason.clone().unwrap_or_default(),
                e.room.online_count,
                e.room.live_status,
            )
        })
        .collect();
    let want: Vec<(String, String, String, u64, u8)> = expected
        .iter()
        .map(|(e, u, r, n, s)| (e.to_string(), u.to_string(), r.to_string(), *n, *s))
        .collect();
    assert_eq!(steps, want, "events of {live_id}");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut last: Option<(i64, i64)> = None;
    let mut last_at = 0;
    for e in got {
        assert_eq!(e.room.live_id, live_id, "{e:?}");
        assert_eq!(e.room.title, title, "{e:?}");
        assert_eq!(e.room.anchor_id, anchor, "{e:?}");
        assert_eq!(e.id, format!("{live_id}:{}", e.stream_id()));
        let (ms, seq) = e.stream_id().split_once('-').expect("stream id");
        let key = (ms.parse().unwrap(), seq.parse().unwrap());
        assert!(last.is_none_or(|l| l < key), "ids not increasing: {e:?}");
        last = Some(key);
        assert!(e.created_at >= last_at, "created_at went back: {e:?}");
        assert!(
            e.created_at > now_ms - 60_000 && e.created_at <= now_ms + 5_000,
            "created_at {} is not Redis's ms clock now ({now_ms})",
            e.created_at
        );
        last_at = e.created_at;
    }
}
