//! Reads of the server API (SPEC §11) that no client route makes: the rooms of one
//! anchor with their status, and the status of many rooms, for the filtered room
//! list. Plain reads, no script; deleted rooms are left out.

use super::index::LIVE_BIT;
use super::{Store, StoreError, command};

/// A room as the filtered room list sorts and filters it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedRoom {
    /// Room id.
    pub live_id: String,
    /// 0 created, 1 live, 2 ended.
    pub live_status: u8,
    /// Its score in the search index: created ms, + 2^42 while live (list order).
    pub score: f64,
}

impl Store {
    /// Every room of `anchor` (the anchor index, then each room's status and creation
    /// time), in no particular order. Cost: one `SMEMBERS` and one `HMGET` per room.
    pub async fn anchor_rooms(&self, anchor: &str) -> Result<Vec<ListedRoom>, StoreError> {
        let op = self.op("server_list");
        let ids: Vec<String> = op
            .command(command("SMEMBERS").arg(self.keys.anchor_index(anchor)))
            .await?;
        let reads = ids.iter().map(|id| {
            op.command::<(Option<u8>, Option<i64>)>(
                command("HMGET")
                    .arg(self.keys.room(id).room)
                    .arg(&["live_status", "created_ms"]),
            )
        });
        let rows = futures::future::try_join_all(reads).await?;
        Ok(ids
            .into_iter()
            .zip(rows)
            .filter_map(|(live_id, row)| match row {
                (Some(live_status), Some(created)) => Some(ListedRoom {
                    live_id,
                    live_status,
                    score: created as f64 + if live_status == 1 { LIVE_BIT } else { 0.0 },
                }),
                _ => None,
            })
            .collect())
    }

    /// The `live_status` of each room, `None` for a room that no longer exists.
    pub async fn room_statuses(&self, live_ids: &[String]) -> Result<Vec<Option<u8>>, StoreError> {
        let op = self.op("server_list");
        let reads = live_ids.iter().map(|id| {
            op.command::<Option<u8>>(
                command("HGET")
                    .arg(self.keys.room(id).room)
                    .arg("live_status"),
            )
        });
        futures::future::try_join_all(reads).await
    }
}
