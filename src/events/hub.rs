//! The per-replica fan-out of room events to the client event streams
//! (`GET /client/live/room/events/{live_id}`, see `crate::routes::events`).
//!
//! **One Redis read per room per replica.** A room with at least one local subscriber
//! has one poll task: every [`POLL_INTERVAL`] it reads the room's stream
//! (`{p}:{live_id}:events`, SPEC §10) after the last id it has seen, with one `XRANGE …
//! COUNT` ([`BATCH`] entries; a full batch is followed at once by the next), and
//! broadcasts each event to the room's subscribers through a bounded
//! [`tokio::sync::broadcast`] channel of [`CAPACITY`] messages. So Redis sees one
//! `XRANGE` per room per replica per interval however many clients listen
//! (`liveroom_sse_polls_total` counts them). The task ends when the last subscriber
//! has gone. Only the room's own key is read, so it works on Redis Cluster as on one
//! server.
//!
//! **Bounded memory.** A subscriber that falls [`CAPACITY`] messages behind (a slow
//! client) is not buffered for: its receiver reports the lag and its stream
//! ends with a `reconnect` event (the client resumes with `Last-Event-ID`).
//!
//! **Gaps.** When a read may have come after a trim past the task's position (a full
//! batch, or the first read after a failed one) it checks with `XINFO STREAM` (the
//! oldest entry kept, `max-deleted-entry-id`) before passing the batch on; if events
//! were lost its subscribers get [`Message::Gap`] and reconnect (they then get a fresh
//! snapshot with `reset: true`). A short batch needs no check: the stream keeps about
//! 1,000 entries (SPEC §10), so fewer than [`BATCH`] after the position were all kept.
//!
//! **Draining.** When the replica drains (SIGTERM) every poll task sends
//! [`Message::Draining`] and ends, so open streams end within one interval and never
//! hold the shutdown (clients reconnect to another replica with `Last-Event-ID`).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast;

use super::RoomEvent;
use crate::metrics::GaugeGuard;
use crate::store::{Store, StoreError, command};

/// Pause between two reads of a room's stream by its poll task: the extra delivery
/// latency of an event is at most this (plus the Redis round trip).
pub const POLL_INTERVAL: Duration = Duration::from_millis(150);

/// Most entries one poll reads (`XRANGE … COUNT`). A full batch is followed by the
/// next read at once.
pub const BATCH: usize = 64;

/// Messages a subscriber may fall behind before it is cut off (per room, shared by its
/// subscribers: a few dozen bytes a slot plus the events it still holds).
pub const CAPACITY: usize = 512;

/// A Redis stream id, `<ms>-<seq>`, ordered numerically (SPEC §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// `0-0`: before every entry.
    pub const ZERO: Self = Self { ms: 0, seq: 0 };
}

impl FromStr for StreamId {
    type Err = ();

    /// Parses `<ms>-<seq>` (both decimal, both required).
    fn from_str(s: &str) -> Result<Self, ()> {
        let (ms, seq) = s.split_once('-').ok_or(())?;
        let digits =
            |p: &str| !p.is_empty() && p.len() <= 20 && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(seq) {
            return Err(());
        }
        Ok(Self {
            ms: ms.parse().map_err(|_| ())?,
            seq: seq.parse().map_err(|_| ())?,
        })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// What `XINFO STREAM` says about a room's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamInfo {
    /// The newest id ever added (`last-generated-id`), also after trimming; `0-0` when
    /// the stream does not exist.
    pub last_id: StreamId,
    /// The newest id removed by `XDEL` (`max-deleted-entry-id`, Redis ≥ 7.0); `0-0`
    /// when none was. Trimming (`MAXLEN`) does not move it.
    pub max_deleted: StreamId,
    /// The oldest entry kept (`recorded-first-entry-id`, else `first-entry`); `None`
    /// when the stream is empty.
    pub first_id: Option<StreamId>,
}

impl StreamInfo {
    /// Whether every event recorded after `id` is still in the stream: `id` is not
    /// from the future, nothing newer than it was deleted, and nothing newer was
    /// trimmed — trimming removes the oldest entries, so the oldest kept entry must be
    /// `id` itself or older (or nothing was added after `id`). When `id` itself was
    /// trimmed this answers no even if its successor is kept: such a client is about
    /// 1,000 events behind and gets a fresh snapshot.
    pub fn can_resume_after(&self, id: StreamId) -> bool {
        id <= self.last_id
            && self.max_deleted <= id
            && (id == self.last_id || self.first_id.is_some_and(|first| first <= id))
    }
}

/// Reads `XINFO STREAM` of room `live_id`: one call on the room's key. A missing
/// stream reads as all `0-0`.
pub async fn stream_info(store: &Store, live_id: &str) -> Result<StreamInfo, StoreError> {
    let key = store.keys().room(live_id).events;
    let reply: Result<redis::Value, StoreError> = store
        .op("sse.info")
        .command(command("XINFO STREAM").arg(key))
        .await;
    let reply = match reply {
        Ok(v) => v,
        Err(StoreError::Internal(m)) if m.contains("no such key") => {
            return Ok(StreamInfo::default());
        }
        Err(e) => return Err(e),
    };
    let pairs: Vec<(redis::Value, redis::Value)> = match reply {
        redis::Value::Map(pairs) => pairs,
        redis::Value::Array(items) => {
            let mut it = items.into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            pairs
        }
        other => {
            return Err(StoreError::Internal(format!(
                "XINFO STREAM: unexpected reply {other:?}"
            )));
        }
    };
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        _ => String::new(),
    };
    let mut info = StreamInfo::default();
    let mut length = 0;
    let mut recorded_first = None;
    for (k, v) in &pairs {
        match text(k).as_str() {
            "length" => length = redis::from_redis_value_ref::<u64>(v).unwrap_or(0),
            "last-generated-id" => info.last_id = text(v).parse().unwrap_or_default(),
            "max-deleted-entry-id" => info.max_deleted = text(v).parse().unwrap_or_default(),
            "recorded-first-entry-id" => recorded_first = text(v).parse().ok(),
            "first-entry" => {
                if let redis::Value::Array(entry) = v {
                    info.first_id = entry.first().and_then(|id| text(id).parse().ok());
                }
            }
            _ => {}
        }
    }
    if length == 0 {
        info.first_id = None;
    } else if let Some(first) = recorded_first.filter(|f| *f != StreamId::ZERO) {
        info.first_id = Some(first);
    }
    Ok(info)
}

/// Up to `count` events of room `live_id` after `after` (exclusive), oldest first:
/// one `XRANGE`, timed as store operation `operation`.
pub async fn read_after(
    store: &Store,
    operation: &'static str,
    live_id: &str,
    after: StreamId,
    count: usize,
) -> Result<Vec<RoomEvent>, StoreError> {
    store
        .room_events_for(operation, live_id, Some(&after.to_string()), count)
        .await
}

/// What a room's poll task broadcasts.
#[derive(Debug, Clone)]
pub enum Message {
    /// The next event of the room's stream.
    Event(Arc<RoomEvent>),
    /// Events were trimmed before the poll task read them: subscribers must resync.
    Gap,
    /// The replica is shutting down: streams end, clients reconnect elsewhere.
    Draining,
}

/// One room's feed: the channel and the id of the last event broadcast.
struct RoomFeed {
    tx: broadcast::Sender<Message>,
    /// The id of the last event broadcast (or the position the feed started at).
    /// Held while broadcasting, so a subscriber that reads it when subscribing gets
    /// every later event from the channel.
    last: Mutex<StreamId>,
}

struct HubInner {
    store: Store,
    draining: Arc<AtomicBool>,
    rooms: Mutex<HashMap<String, Arc<RoomFeed>>>,
    poll_interval: Duration,
}

/// The replica's event hub: one poll task per room that has subscribers here. Cheap
/// to clone.
#[derive(Clone)]
pub struct Hub(Arc<HubInner>);

/// A subscription to one room's events; counted in `liveroom_sse_subscribers` while it
/// lives.
pub struct Subscription {
    /// The room's messages after [`position`](Self::position).
    pub rx: broadcast::Receiver<Message>,
    /// The id of the last event broadcast before this subscription: every event after
    /// it arrives on [`rx`](Self::rx); events up to it must be read from the stream.
    pub position: StreamId,
    _gauge: GaugeGuard,
}

impl Hub {
    /// A hub reading through `store`, whose tasks end when `draining` is set.
    pub fn new(store: Store, draining: Arc<AtomicBool>) -> Self {
        Self::with_interval(store, draining, POLL_INTERVAL)
    }

    /// [`Hub::new`] with another poll interval.
    pub fn with_interval(store: Store, draining: Arc<AtomicBool>, poll_interval: Duration) -> Self {
        Self(Arc::new(HubInner {
            store,
            draining,
            rooms: Mutex::new(HashMap::new()),
            poll_interval,
        }))
    }

    /// Whether the replica is draining (no new subscriptions are useful).
    pub fn draining(&self) -> bool {
        self.0.draining.load(Ordering::SeqCst)
    }

    /// Subscribes to room `live_id`. `latest` is the newest id of the room's stream
    /// the caller knows of: a room without a poll task here gets one starting after
    /// it. Must be called inside a Tokio runtime.
    pub fn subscribe(&self, live_id: &str, latest: StreamId) -> Subscription {
        let mut rooms = self.0.rooms.lock().expect("hub lock");
        let feed = match rooms.get(live_id) {
            Some(feed) => Arc::clone(feed),
            None => {
                let (tx, _) = broadcast::channel(CAPACITY);
                let feed = Arc::new(RoomFeed {
                    tx,
                    last: Mutex::new(latest),
                });
                rooms.insert(live_id.to_owned(), Arc::clone(&feed));
                metrics::gauge!("liveroom_sse_rooms").increment(1.0);
                tokio::spawn(poll(self.clone(), live_id.to_owned(), Arc::clone(&feed)));
                feed
            }
        };
        let last = feed.last.lock().expect("feed lock");
        Subscription {
            rx: feed.tx.subscribe(),
            position: *last,
            _gauge: GaugeGuard::increment(metrics::gauge!("liveroom_sse_subscribers")),
        }
    }

    /// Removes room `live_id`'s feed if it is `feed` and nobody listens any more (or
    /// `force`); whether it was removed.
    fn retire(&self, live_id: &str, feed: &Arc<RoomFeed>, force: bool) -> bool {
        let mut rooms = self.0.rooms.lock().expect("hub lock");
        let ours = rooms.get(live_id).is_some_and(|f| Arc::ptr_eq(f, feed));
        if ours && (force || feed.tx.receiver_count() == 0) {
            rooms.remove(live_id);
            metrics::gauge!("liveroom_sse_rooms").decrement(1.0);
            true
        } else {
            !ours
        }
    }
}

/// The poll task of one room (see the module documentation).
async fn poll(hub: Hub, live_id: String, feed: Arc<RoomFeed>) {
    let inner = &hub.0;
    // After a full batch: read on at once. After a failed read: check for a gap.
    let (mut full, mut failed) = (false, false);
    loop {
        if full {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(inner.poll_interval).await;
        }
        if hub.draining() {
            hub.retire(&live_id, &feed, true);
            let _ = feed.tx.send(Message::Draining);
            return;
        }
        if feed.tx.receiver_count() == 0 && hub.retire(&live_id, &feed, false) {
            return;
        }
        let after = *feed.last.lock().expect("feed lock");
        metrics::counter!("liveroom_sse_polls_total").increment(1);
        let events = match read_after(&inner.store, "sse.poll", &live_id, after, BATCH).await {
            Ok(events) => events,
            Err(e) => {
                // Once per outage, not once per poll of every room.
                if !failed {
                    tracing::warn!(live_id, error = %e, "event stream: reading the room's events failed; retrying every poll");
                }
                (full, failed) = (false, true);
                continue;
            }
        };
        full = events.len() == BATCH;
        // A short batch after our position means every entry after it is there (the
        // stream keeps ~1,000). A full one, or the first read after a failure, may
        // follow a trim past our position: check before passing anything on.
        if full || failed {
            match stream_info(&inner.store, &live_id).await {
                Ok(info) if !info.can_resume_after(after) => {
                    hub.retire(&live_id, &feed, true);
                    let _ = feed.tx.send(Message::Gap);
                    return;
                }
                Ok(_) => {
                    if failed {
                        tracing::info!(live_id, "event stream: reading the room's events again");
                    }
                    failed = false;
                }
                Err(e) => {
                    if !failed {
                        tracing::warn!(live_id, error = %e, "event stream: reading the room's stream info failed; retrying every poll");
                    }
                    (full, failed) = (false, true);
                    continue;
                }
            }
        }
        let mut last = feed.last.lock().expect("feed lock");
        for event in events {
            if let Ok(id) = event.stream_id().parse::<StreamId>() {
                *last = id;
            }
            let _ = feed.tx.send(Message::Event(Arc::new(event)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_compare_numerically_and_parse_strictly() {
        let id = |s: &str| s.parse::<StreamId>().unwrap();
        assert!(id("999-0") < id("1000-0"));
        assert!(id("5-9") < id("5-10"));
        assert_eq!(id("1733100000000-12").to_string(), "1733100000000-12");
        for bad in [
            "", "-", "1", "1-", "-1", "a-1", "1-b", "1-2-3", " 1-2", "+1-2",
        ] {
            assert!(bad.parse::<StreamId>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn resuming_needs_nothing_newer_trimmed_and_a_known_id() {
        let id = |s: &str| s.parse::<StreamId>().unwrap();
        let info = StreamInfo {
            last_id: id("100-0"),
            max_deleted: id("50-0"),
            first_id: Some(id("40-0")),
        };
        assert!(info.can_resume_after(id("50-0")));
        assert!(info.can_resume_after(id("100-0")));
        assert!(
            !info.can_resume_after(id("49-9")),
            "50-0 was deleted after it"
        );
        assert!(!info.can_resume_after(id("100-1")), "from the future");
        // Trimmed up to 60-0: resuming after anything older loses events.
        let trimmed = StreamInfo {
            last_id: id("100-0"),
            max_deleted: StreamId::ZERO,
            first_id: Some(id("60-0")),
        };
        assert!(!trimmed.can_resume_after(id("59-0")));
        assert!(trimmed.can_resume_after(id("60-0")));
        // Everything trimmed: only the newest id resumes (nothing came after it).
        let empty = StreamInfo {
            last_id: id("100-0"),
            max_deleted: StreamId::ZERO,
            first_id: None,
        };
        assert!(empty.can_resume_after(id("100-0")));
        assert!(!empty.can_resume_after(id("99-0")));
    }
}
