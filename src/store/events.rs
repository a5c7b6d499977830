//! Reading a room's event stream (docs/SPEC.md §10): `XRANGE` on
//! `{p}:{live_id}:events`, oldest first. The events themselves are written by the
//! scripts that make the changes (`record_event` in `lua/lib.lua`), never here.

use super::{Store, StoreError, command};
use crate::events::RoomEvent;

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
        let key = self.keys.room(live_id).events;
        let start = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        let entries: Vec<(String, Vec<(String, String)>)> = self
            .op("events.read")
            .command(
                command("XRANGE")
                    .arg(key)
                    .arg(start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(count),
            )
            .await?;
        Ok(entries
            .iter()
            .map(|(id, fields)| RoomEvent::from_entry(id, fields))
            .collect())
    }
}
