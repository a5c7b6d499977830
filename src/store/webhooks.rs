//! The Redis side of webhook delivery (src/webhooks/deliver.rs): due marks, shard
//! leases, cursors and retry states, reading room streams for delivery and the
//! dead-letter stream; metric operation `webhooks` (and the operation of the write
//! a mark precedes, for [`Op::mark_due_first`]).
//!
//! Keys (src/store/keys.rs): per shard n (0-15, [`super::keys::webhook_shard`]) the
//! zset `{p}:{webhooks:n}:due`, the string `…:lease`, the hashes `…:cursor` and
//! `…:retry` (fields `<receiver id>|<live_id>`); `{p}:{webhooks}:replicas` and
//! `{p}:{webhooks}:dead`.

use super::keys::webhook_shard;
use super::{Op, Store, StoreError, Topology, command};
use crate::events::RoomEvent;

/// A room listed due in a shard, with its mark as listed (ms, Redis `TIME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRoom {
    /// The room.
    pub live_id: String,
    /// The mark's score: when the latest write that may have recorded an event in
    /// the room marked it.
    pub mark_ms: i64,
}

/// Delivery retry state of one room for one receiver, stored as
/// `attempts:next_ms:first_failure_ms` (ms on Redis's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryState {
    /// Failed attempts so far at the event after the cursor.
    pub attempts: u32,
    /// No attempt before this moment (ms).
    pub next_ms: i64,
    /// When the first of those attempts failed (ms).
    pub first_failure_ms: i64,
}

impl RetryState {
    /// The stored form, `attempts:next_ms:first_failure_ms`.
    pub fn encode(&self) -> String {
        format!(
            "{}:{}:{}",
            self.attempts, self.next_ms, self.first_failure_ms
        )
    }

    /// Reads the stored form; `None` when malformed (treated as no retry state).
    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.split(':');
        let state = Self {
            attempts: parts.next()?.parse().ok()?,
            next_ms: parts.next()?.parse().ok()?,
            first_failure_ms: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(state)
    }
}

/// Events of a room trimmed (`MAXLEN ~ 1000`) before a receiver got them: the
/// entry after the receiver's cursor is older than the oldest entry kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamGap {
    /// The oldest entry kept.
    pub first_kept: String,
    /// The cursor that skips the trimmed entries: the id just before `first_kept`.
    pub skip_to: String,
}

/// A stream id as (ms, seq); a bare `ms` is `ms-0`.
fn stream_id_parts(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// The smallest stream id after `id`.
pub(crate) fn stream_id_next(id: &str) -> String {
    match stream_id_parts(id) {
        (ms, u64::MAX) => format!("{}-0", ms.saturating_add(1)),
        (ms, seq) => format!("{ms}-{}", seq + 1),
    }
}

/// The largest stream id before `id` (`0-0` stays `0-0`).
pub(crate) fn stream_id_before(id: &str) -> String {
    match stream_id_parts(id) {
        (0, 0) => "0-0".to_owned(),
        (ms, 0) => format!("{}-{}", ms - 1, u64::MAX),
        (ms, seq) => format!("{ms}-{}", seq - 1),
    }
}

/// Compares two stream ids (`<ms>-<seq>`) numerically.
pub(crate) fn stream_id_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    stream_id_parts(a).cmp(&stream_id_parts(b))
}

impl Op<'_> {
    /// On Redis Cluster with webhook marks on: marks room `live_id` due
    /// (`lua/webhook_mark.lua`) before the single-slot step that may record an event
    /// in it, so the mark is never later than the event. Nothing otherwise (on one
    /// Redis the recording script marks the room itself).
    pub(crate) async fn mark_due_first(&self, live_id: &str) -> Result<(), StoreError> {
        let store = self.store;
        if !store.webhook_marks || store.topology != Topology::Cluster {
            return Ok(());
        }
        let due = store.keys.webhook_shard(webhook_shard(live_id)).due;
        self.script(store.scripts.webhook_mark(&due, live_id))
            .await
            .map(drop)
    }
}

impl Store {
    fn webhooks_op(&self) -> Op<'_> {
        self.op("webhooks")
    }

    /// Up to `count` due rooms of `shard` from rank `offset` (oldest mark first),
    /// and the shard node's clock before the listing (ms). One script, O(log N + count).
    pub async fn webhook_due(
        &self,
        shard: u16,
        offset: usize,
        count: usize,
    ) -> Result<(i64, Vec<DueRoom>), StoreError> {
        let due = self.keys.webhook_shard(shard).due;
        let reply = self
            .webhooks_op()
            .script(self.scripts.webhook_due(&due, offset, count))
            .await?;
        let mut items = reply.into_iter();
        let now = items.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let mut rooms = Vec::new();
        while let (Some(live_id), Some(mark)) = (items.next(), items.next()) {
            rooms.push(DueRoom {
                live_id,
                mark_ms: mark.parse::<f64>().map_or(0, |m| m as i64),
            });
        }
        Ok((now, rooms))
    }

    /// Number of rooms marked due in `shard` (`ZCARD`).
    pub async fn webhook_due_count(&self, shard: u16) -> Result<u64, StoreError> {
        self.webhooks_op()
            .command(command("ZCARD").arg(self.keys.webhook_shard(shard).due))
            .await
    }

    /// The cursors and retry states of `fields` (`<receiver id>|<live_id>`) in
    /// `shard`: two `HMGET`s, sent together.
    pub async fn webhook_state(
        &self,
        shard: u16,
        fields: &[String],
    ) -> Result<(Vec<Option<String>>, Vec<Option<RetryState>>), StoreError> {
        let keys = self.keys.webhook_shard(shard);
        let op = self.webhooks_op();
        let (cursors, retries) = tokio::join!(
            op.command::<Vec<Option<String>>>(command("HMGET").arg(&keys.cursor).arg(fields)),
            op.command::<Vec<Option<String>>>(command("HMGET").arg(&keys.retry).arg(fields)),
        );
        let retries = retries?
            .into_iter()
            .map(|r| r.as_deref().and_then(RetryState::decode))
            .collect();
        Ok((cursors?, retries))
    }

    /// Up to `count` events of room `live_id` after stream id `after` (exclusive;
    /// `None` = from the oldest kept), oldest first (`XRANGE`).
    pub async fn webhook_events(
        &self,
        live_id: &str,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<RoomEvent>, StoreError> {
        self.room_events_for("webhooks", live_id, after, count)
            .await
    }

    /// The newest event of room `live_id`'s stream (`XREVRANGE … COUNT 1`), `None`
    /// when the stream is gone or empty.
    pub async fn webhook_last_event(&self, live_id: &str) -> Result<Option<RoomEvent>, StoreError> {
        let entries: Vec<(String, Vec<(String, String)>)> = self
            .webhooks_op()
            .command(
                command("XREVRANGE")
                    .arg(self.keys.room(live_id).events)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1),
            )
            .await?;
        Ok(entries
            .first()
            .map(|(id, fields)| RoomEvent::from_entry(id, fields)))
    }

    /// Whether events after `cursor` were trimmed from room `live_id`'s stream
    /// before being handled: the entry after the cursor is older than the oldest
    /// entry kept (`XRANGE - + COUNT 1`). `None`: no gap, or the stream is gone.
    /// (A cursor that was itself the newest trimmed entry reads as a gap too: ids
    /// alone cannot tell; with a receiver more than 1,000 events behind, events were
    /// lost all but surely.)
    pub async fn webhook_stream_gap(
        &self,
        live_id: &str,
        cursor: &str,
    ) -> Result<Option<StreamGap>, StoreError> {
        let first: Vec<(String, Vec<(String, String)>)> = self
            .webhooks_op()
            .command(
                command("XRANGE")
                    .arg(self.keys.room(live_id).events)
                    .arg("-")
                    .arg("+")
                    .arg("COUNT")
                    .arg(1),
            )
            .await?;
        Ok(first.into_iter().next().and_then(|(first_kept, _)| {
            stream_id_cmp(&stream_id_next(cursor), &first_kept)
                .is_lt()
                .then(|| StreamGap {
                    skip_to: stream_id_before(&first_kept),
                    first_kept,
                })
        }))
    }

    /// Fenced progress of one `<receiver id>|<live_id>` field in `shard`
    /// (`lua/webhook_progress.lua`): the cursor (`""` = unchanged) and the retry
    /// state (`None` = cleared). False when `token` no longer holds the shard.
    pub async fn webhook_progress(
        &self,
        shard: u16,
        token: &str,
        field: &str,
        cursor: &str,
        retry: Option<RetryState>,
    ) -> Result<bool, StoreError> {
        let keys = self.keys.webhook_shard(shard);
        let retry = retry.map(|r| r.encode()).unwrap_or_default();
        let call = self
            .scripts
            .webhook_progress(&keys, token, field, cursor, &retry);
        self.webhooks_op().script(call).await
    }

    /// Compare-and-remove of room `live_id`'s due mark (`lua/webhook_unmark.lua`):
    /// only if it is still `mark_ms` and `token` holds the shard; `finished` also
    /// deletes the room's `fields` from the cursor and retry hashes. True when removed.
    pub async fn webhook_unmark(
        &self,
        shard: u16,
        token: &str,
        live_id: &str,
        mark_ms: i64,
        finished: bool,
        fields: &[String],
    ) -> Result<bool, StoreError> {
        let keys = self.keys.webhook_shard(shard);
        let call = self
            .scripts
            .webhook_unmark(&keys, token, live_id, mark_ms, finished, fields);
        self.webhooks_op().script(call).await
    }

    /// Appends one dead-lettered delivery to `{p}:{webhooks}:dead` (`XADD MAXLEN ~
    /// 10000`), with the fields documented on [`super::Keys::webhook_dead_letters`].
    pub async fn webhook_dead_letter(
        &self,
        url: &str,
        event: &RoomEvent,
        body: &str,
        attempts: u32,
        error: &str,
    ) -> Result<String, StoreError> {
        self.webhooks_op()
            .command(
                command("XADD")
                    .arg(self.keys.webhook_dead_letters())
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(DEAD_LETTERS_MAXLEN)
                    .arg("*")
                    .arg("url")
                    .arg(url)
                    .arg("event_id")
                    .arg(&event.id)
                    .arg("event")
                    .arg(&event.event)
                    .arg("live_id")
                    .arg(&event.room.live_id)
                    .arg("body")
                    .arg(body)
                    .arg("attempts")
                    .arg(attempts)
                    .arg("error")
                    .arg(error)
                    .arg("created_at")
                    .arg(event.created_at),
            )
            .await
    }
}

/// About how many dead letters are kept (`MAXLEN ~`).
pub const DEAD_LETTERS_MAXLEN: u64 = 10_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::keys::Keys;
    use crate::store::scripts::Scripts;

    fn run<T: redis::FromRedisValue, R>(
        conn: &mut redis::Connection,
        call: crate::store::scripts::ScriptCall<'_, R>,
    ) -> T {
        call.invocation.eval().query(conn).expect("script")
    }

    fn cmd<T: redis::FromRedisValue>(conn: &mut redis::Connection, args: &[&str]) -> T {
        let mut c = redis::cmd(args[0]);
        for a in &args[1..] {
            c.arg(*a);
        }
        c.query(conn).expect("command")
    }

    /// Progress is fenced by the shard lease: written only by its holder.
    #[test]
    fn progress_is_written_only_by_the_lease_holder() {
        let (_redis, mut conn) = crate::store::test_redis();
        let scripts = Scripts::new();
        let shard = Keys::new("lr").webhook_shard(3);
        let _: () = cmd(&mut conn, &["SET", &shard.lease, "me"]);
        let retry = RetryState {
            attempts: 1,
            next_ms: 5,
            first_failure_ms: 4,
        }
        .encode();
        let call = scripts.webhook_progress(&shard, "other", "r|x", "1-0", "");
        assert!(!run::<bool, _>(&mut conn, call));
        assert_eq!(
            cmd::<Option<String>>(&mut conn, &["HGET", &shard.cursor, "r|x"]),
            None
        );
        let call = scripts.webhook_progress(&shard, "me", "r|x", "", &retry);
        assert!(run::<bool, _>(&mut conn, call));
        assert_eq!(
            cmd::<Option<String>>(&mut conn, &["HGET", &shard.cursor, "r|x"]),
            None
        );
        assert_eq!(
            cmd::<Option<String>>(&mut conn, &["HGET", &shard.retry, "r|x"]),
            Some(retry)
        );
        let call = scripts.webhook_progress(&shard, "me", "r|x", "2-0", "");
        assert!(run::<bool, _>(&mut conn, call));
        assert_eq!(
            cmd::<Option<String>>(&mut conn, &["HGET", &shard.cursor, "r|x"]),
            Some("2-0".into())
        );
        assert_eq!(
            cmd::<Option<String>>(&mut conn, &["HGET", &shard.retry, "r|x"]),
            None
        );
    }

    /// A mark goes only if unchanged since it was listed and the lease is the
    /// caller's; a finished room's fields go with it.
    #[test]
    fn a_mark_is_removed_only_when_unchanged_and_finished_rooms_lose_their_state() {
        let (_redis, mut conn) = crate::store::test_redis();
        let scripts = Scripts::new();
        let shard = Keys::new("lr").webhook_shard(3);
        let fields = ["a|x".to_owned(), "b|x".to_owned()];
        let _: () = cmd(&mut conn, &["SET", &shard.lease, "me"]);
        let _: () = cmd(&mut conn, &["ZADD", &shard.due, "1000", "x"]);
        let _: () = cmd(
            &mut conn,
            &[
                "HSET",
                &shard.cursor,
                "a|x",
                "1-0",
                "b|x",
                "1-0",
                "a|y",
                "1-0",
            ],
        );
        let _: () = cmd(&mut conn, &["HSET", &shard.retry, "b|x", "1:2:3"]);
        // Re-marked since it was listed (999): kept.
        let call = scripts.webhook_unmark(&shard, "me", "x", 999, true, &fields);
        assert!(!run::<bool, _>(&mut conn, call));
        // Not the lease holder: kept.
        let call = scripts.webhook_unmark(&shard, "other", "x", 1000, true, &fields);
        assert!(!run::<bool, _>(&mut conn, call));
        assert_eq!(cmd::<i64>(&mut conn, &["ZCARD", &shard.due]), 1);
        // Unchanged, not finished: the mark goes, the state stays.
        let call = scripts.webhook_unmark(&shard, "me", "x", 1000, false, &fields);
        assert!(run::<bool, _>(&mut conn, call));
        assert_eq!(cmd::<i64>(&mut conn, &["ZCARD", &shard.due]), 0);
        assert_eq!(cmd::<i64>(&mut conn, &["HLEN", &shard.cursor]), 3);
        // Marked again, then finished: the room's fields go, another room's stay.
        let _: () = cmd(&mut conn, &["ZADD", &shard.due, "2000", "x"]);
        let call = scripts.webhook_unmark(&shard, "me", "x", 2000, true, &fields);
        assert!(run::<bool, _>(&mut conn, call));
        assert_eq!(
            cmd::<Vec<String>>(&mut conn, &["HKEYS", &shard.cursor]),
            ["a|y"]
        );
        assert_eq!(cmd::<i64>(&mut conn, &["EXISTS", &shard.retry]), 0);
    }

    /// The due listing pages by rank, oldest mark first, after the node's clock.
    #[test]
    fn the_due_listing_pages_oldest_first_with_the_clock() {
        let (_redis, mut conn) = crate::store::test_redis();
        let scripts = Scripts::new();
        let due = Keys::new("lr").webhook_shard(0).due;
        let _: () = cmd(&mut conn, &["ZADD", &due, "3", "c", "1", "a", "2", "b"]);
        let page: Vec<String> = run(&mut conn, scripts.webhook_due(&due, 1, 5));
        assert!(page[0].parse::<i64>().unwrap() > 1_700_000_000_000);
        assert_eq!(page[1..], ["b", "2", "c", "3"]);
        let mark: i64 = run(&mut conn, scripts.webhook_mark(&due, "a"));
        assert_eq!(
            cmd::<String>(&mut conn, &["ZSCORE", &due, "a"]),
            mark.to_string()
        );
    }

    #[test]
    fn retry_state_round_trips_and_refuses_garbage() {
        let r = RetryState {
            attempts: 3,
            next_ms: 1_764_633_600_123,
            first_failure_ms: 1_764_633_500_000,
        };
        assert_eq!(RetryState::decode(&r.encode()), Some(r));
        for bad in ["", "1", "1:2", "x:2:3", "1:2:3:4"] {
            assert_eq!(RetryState::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn stream_ids_compare_numerically() {
        use std::cmp::Ordering::*;
        assert_eq!(stream_id_cmp("10-0", "9-5"), Greater);
        assert_eq!(stream_id_cmp("9-10", "9-9"), Greater);
        assert_eq!(stream_id_cmp("9-1", "9-1"), Equal);
        assert_eq!(stream_id_cmp("0-0", "1-0"), Less);
        assert_eq!(stream_id_next("5-3"), "5-4");
        assert_eq!(stream_id_next(&format!("5-{}", u64::MAX)), "6-0");
        assert_eq!(stream_id_before("5-3"), "5-2");
        assert_eq!(stream_id_before("5-0"), format!("4-{}", u64::MAX));
        assert_eq!(stream_id_before(&stream_id_next("7-9")), "7-9");
    }
}
