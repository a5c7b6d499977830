//! Room events (docs/SPEC.md §10): the state changes the Lua scripts record in each
//! room's stream (`{p}:{live_id}:events`, see `record_event` in `lua/lib.lua`), read
//! back as [`RoomEvent`]s, the one shape every consumer gets.
//!
//! A stream entry is flat (`event`, `created_at`, `live_id`, `title`, `anchor`,
//! `live_status`, `online_count`, then `user`, `reason`, `extends`, `by`, `note`,
//! `changes` when the event has them); [`RoomEvent::from_entry`] turns it into the JSON object of SPEC §10.
//! [`signature`] signs and verifies the body of a webhook carrying one; [`hub`] fans
//! them out to the replica's client event streams (one Redis read per room).

pub mod hub;
pub mod signature;

use std::collections::BTreeMap;

use serde::Serialize;

/// Every event name of the catalogue (docs/SPEC.md §10), in its table's order.
pub const EVENT_NAMES: [&str; 12] = [
    "room_created",
    "room_started",
    "room_stopped",
    "room_deleted",
    "room_extends_updated",
    "room_updated",
    "anchor_offline",
    "anchor_online",
    "stream_started",
    "stream_stopped",
    "member_joined",
    "member_left",
];

/// One room event, as documented in docs/SPEC.md §10 and serialized as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomEvent {
    /// Unique id, `<live_id>:<stream id>` (the stream id is `<ms>-<seq>`, increasing
    /// within the room); the same on every delivery of the event.
    pub id: String,
    /// The event's name: `room_created`, `room_started`, `room_stopped`,
    /// `room_deleted`, `room_extends_updated`, `room_updated`, `anchor_offline`,
    /// `anchor_online`, `stream_started`, `stream_stopped`,
    /// `member_joined`, `member_left`.
    pub event: String,
    /// When the change was made, ms since the Unix epoch, Redis's clock (`TIME`).
    pub created_at: i64,
    /// The room after the change.
    pub room: EventRoom,
    /// The user concerned (members and anchor events), absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<EventUser>,
    /// `room_stopped`: `anchor` | `anchor_timeout` | `server`; `member_left`: `leave` |
    /// `switched` | `expired` | `kicked` | `stream_stopped`. Absent on other events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `room_extends_updated`: the room's extends after the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extends: Option<BTreeMap<String, String>>,
    /// `room_stopped` (reason `server`) and `member_left` (reason `kicked`): the id of
    /// the server key that acted (SPEC §11). Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// With `by`: the reason text the server gave (up to 256 characters), absent when
    /// it gave none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// `room_updated`: each changed field (`title`, `notice`, `cover_url`) with its
    /// new value (SPEC §10, §11). Absent on other events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<BTreeMap<String, String>>,
}

/// The room as an event carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRoom {
    /// The room's id.
    pub live_id: String,
    /// Its title.
    pub title: String,
    /// The anchor's user id.
    pub anchor_id: String,
    /// 0 not started, 1 live, 2 ended (SPEC §4).
    pub live_status: u8,
    /// Members present after the change (0 in `room_deleted`).
    pub online_count: u64,
}

/// The user an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventUser {
    /// The user's id.
    pub user_id: String,
}

impl RoomEvent {
    /// An event from a stream entry of room `live_id` (its stream id and flat
    /// field / value pairs). Missing numeric fields read as 0; unknown fields are
    /// ignored, so older and newer entries both read.
    pub fn from_entry(stream_id: &str, fields: &[(String, String)]) -> Self {
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let text = |name: &str| get(name).unwrap_or_default().to_owned();
        let live_id = text("live_id");
        Self {
            id: format!("{live_id}:{stream_id}"),
            event: text("event"),
            created_at: get("created_at").and_then(|v| v.parse().ok()).unwrap_or(0),
            room: EventRoom {
                title: text("title"),
                anchor_id: text("anchor"),
                live_status: get("live_status").and_then(|v| v.parse().ok()).unwrap_or(0),
                online_count: get("online_count")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                live_id,
            },
            user: get("user").map(|u| EventUser {
                user_id: u.to_owned(),
            }),
            reason: get("reason").map(str::to_owned),
            extends: get("extends").and_then(|e| serde_json::from_str(e).ok()),
            by: get("by").map(str::to_owned),
            note: get("note").map(str::to_owned),
            changes: get("changes").and_then(|c| serde_json::from_str(c).ok()),
        }
    }

    /// The stream id (`<ms>-<seq>`) inside [`id`](Self::id).
    pub fn stream_id(&self) -> &str {
        self.id.rsplit_once(':').map_or("", |(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The scripts record exactly the catalogue: every name passed to
    /// `record_event` in `lua/` is one of [`EVENT_NAMES`], each name is recorded
    /// somewhere, and SPEC §10 lists each.
    #[test]
    fn the_scripts_record_exactly_the_documented_catalogue() {
        let lua = [
            include_str!("../../lua/lib.lua"),
            include_str!("../../lua/create_room.lua"),
            include_str!("../../lua/delete_room.lua"),
            include_str!("../../lua/room_start.lua"),
            include_str!("../../lua/start_room.lua"),
            include_str!("../../lua/stop_room.lua"),
            include_str!("../../lua/sweep_room.lua"),
            include_str!("../../lua/update_extends.lua"),
            include_str!("../../lua/update_room.lua"),
            include_str!("../../lua/kick_member.lua"),
            include_str!("../../lua/stream_publish.lua"),
            include_str!("../../lua/stream_stop.lua"),
        ]
        .concat();
        let mut recorded = std::collections::BTreeSet::new();
        for call in lua.split("record_event(").skip(1) {
            // The kind is the first quoted literal among the arguments.
            let Some(kind) = call.split('\'').nth(1) else {
                continue;
            };
            if call.starts_with("room, presence, events, now, timeout_ms, kind") {
                continue; // the definition
            }
            assert!(EVENT_NAMES.contains(&kind), "undocumented event {kind:?}");
            recorded.insert(kind);
        }
        let spec = include_str!("../../docs/SPEC.md");
        for name in EVENT_NAMES {
            assert!(recorded.contains(name), "{name} is never recorded");
            assert!(
                spec.contains(&format!("| `{name}` |")),
                "{name} not in SPEC §10"
            );
        }
    }

    #[test]
    fn a_member_event_reads_into_the_documented_shape() {
        let e = RoomEvent::from_entry(
            "1733100000000-0",
            &pairs(&[
                ("event", "member_left"),
                ("created_at", "1733100000000"),
                ("live_id", "live_a"),
                ("title", "t"),
                ("anchor", "alice"),
                ("live_status", "1"),
                ("online_count", "2"),
                ("user", "bob"),
                ("reason", "switched"),
            ]),
        );
        assert_eq!(e.stream_id(), "1733100000000-0");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({
                "id": "live_a:1733100000000-0",
                "event": "member_left",
                "created_at": 1733100000000i64,
                "room": {"live_id": "live_a", "title": "t", "anchor_id": "alice",
                         "live_status": 1, "online_count": 2},
                "user": {"user_id": "bob"},
                "reason": "switched",
            })
        );
    }

    #[test]
    fn a_room_event_has_no_user_reason_or_extends_unless_recorded() {
        let e = RoomEvent::from_entry(
            "1-0",
            &pairs(&[("event", "room_created"), ("live_id", "live_a")]),
        );
        let v = serde_json::to_value(&e).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["created_at", "event", "id", "room"]);
        let e = RoomEvent::from_entry(
            "1-1",
            &pairs(&[
                ("event", "room_extends_updated"),
                ("extends", r#"{"k":"v"}"#),
            ]),
        );
        assert_eq!(e.extends.unwrap()["k"], "v");
        let e = RoomEvent::from_entry(
            "1-2",
            &pairs(&[
                ("event", "room_updated"),
                ("changes", r#"{"title":"new","cover_url":""}"#),
            ]),
        );
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v["changes"],
            serde_json::json!({"title": "new", "cover_url": ""})
        );
        assert!(v.get("extends").is_none());
    }
}
