//! Reading streams (docs/SPEC.md §10): a room's event stream `{p}:{live_id}:events`
//! (`XRANGE`, oldest first) for the API, webhook delivery and the event stream's hub,
//! and any stream's entries for the dead-letter tools. The events themselves are
//! written by the scripts that make the changes (`record_event` in `lua/lib.lua`),
//! never here.

use super::{Op, Store, StoreError, command};
use crate::events::RoomEvent;

/// A stream entry as `XRANGE` answers it: its id (`<ms>-<seq>`) and its field / value
/// pairs.
pub(crate) type StreamEntry = (String, Vec<(String, String)>);

impl Op<'_> {
    /// Up to `count` entries of stream `key` after stream id `after` (exclusive;
    /// `None` = from the oldest kept), oldest first. One `XRANGE`, O(log N + count).
    pub(crate) async fn stream_range(
        &self,
        key: String,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<StreamEntry>, StoreError> {
        let start = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        self.command(
            command("XRANGE")
                .arg(key)
                .arg(start)
                .arg("+")
                .arg("COUNT")
                .arg(count),
        )
        .await
    }
}

impl Store {
    /// Up to `count` events of room `live_id` recorded after stream id `after`
    /// (exclusive; `None` = from the oldest kept), oldest first. A room that never
    /// existed, or whose stream expired, has none. One `XRANGE`, O(log N + count).
    pub async fn room_events(
        &self,
        live_id: &str,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<RoomEvent>, StoreError> {
        self.room_events_for("events.read", live_id, after, count)
            .await
    }

    /// [`Store::room_events`], timed as store operation `operation` (webhook delivery,
    /// the event stream's polls).
    pub(crate) async fn room_events_for(
        &self,
        operation: &'static str,
        live_id: &str,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<RoomEvent>, StoreError> {
        let entries = self
            .op(operation)
            .stream_range(self.keys.room(live_id).events, after, count)
            .await?;
        Ok(entries
            .iter()
            .map(|(id, fields)| RoomEvent::from_entry(id, fields))
            .collect())
    }
}
