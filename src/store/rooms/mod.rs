//! Rooms (SPEC §5 #1-5, #11): create, read, start, stop, delete, extends; changing
//! title, notice and cover is in `update.rs` (SPEC §11). Create,
//! stop and delete are ordered single-slot steps on every deployment; start is one
//! script on one Redis (`lua/start_room.lua`, in [`Store::start_room`]) and steps on
//! Cluster (`cluster.rs`).
//!
//! - **create**: the anchor's profile, `INCR` chat_id, `create_room.lua`, then the
//!   search / anchor / term indexes (the room is deleted again if that fails).
//! - **stop / delete**: check the room, update the indexes, the room script, then the
//!   indexes again (a start racing them may have listed the room in between).

mod cluster;
mod update;

pub use update::RoomPatch;

use std::collections::BTreeMap;

use super::index::IndexChange;
use super::moderation::ServerNote;
use super::profiles::{ProfileUpdate, UserRef};
use super::replies::RawRoom;
use super::scripts::MoveIn;
use super::{Action, Op, Store, StoreError, Topology, command};

/// A validated room creation (times as Unix seconds, 0 when not given).
#[derive(Debug, Clone)]
pub struct NewRoom {
    /// Title, 1-128 characters.
    pub title: String,
    /// Notice.
    pub notice: String,
    /// Cover URL, empty or http(s).
    pub cover_url: String,
    /// Extends as a JSON object of strings.
    pub extends: BTreeMap<String, String>,
    /// Scheduled start, Unix seconds (0 = not given).
    pub start_at: i64,
    /// Scheduled end, Unix seconds (0 = not given).
    pub end_at: i64,
    /// Push URL expiry, Unix seconds (0 = use the configured TTL).
    pub publish_expire_at: i64,
}

impl Store {
    /// Creates room `live_id` with `anchor` as its anchor, in four single-slot steps
    /// run to completion: the anchor's profile, a chat_id, the room
    /// (`lua/create_room.lua`), then the search / anchor / term indexes. When the last
    /// step fails the room is deleted again, so no room exists unlisted.
    pub async fn create_room(
        &self,
        live_id: &str,
        anchor: &UserRef,
        room: &NewRoom,
    ) -> Result<RawRoom, StoreError> {
        let (store, live_id, anchor, room) = (
            self.clone(),
            live_id.to_owned(),
            anchor.clone(),
            room.clone(),
        );
        Self::to_completion(async move {
            let op = store.op("create");
            op.profile_step(&anchor, &ProfileUpdate::default(), "")
                .await?;
            let chat_id: i64 = op
                .command(command("INCR").arg(store.keys.chat_id_seq()))
                .await?;
            let rk = store.keys.room(&live_id);
            op.mark_due_first(&live_id).await?;
            let call = store.scripts.create_room(
                &rk,
                &live_id,
                &anchor.user_id,
                &room,
                chat_id,
                store.member_timeout_ms,
                store.marks_arg(),
            );
            let raw = op.script(call).await?;
            let listing = Some((anchor.user_id.as_str(), room.title.as_str()));
            let created_ms = raw.number("created_ms");
            if let Err(err) = op
                .index(IndexChange::Create, &live_id, listing, created_ms, 0)
                .await
            {
                // Best effort: take the room away again rather than leave it unlisted
                // (its `room_deleted` marked first, like every recorded event).
                let _ = op.mark_due_first(&live_id).await;
                let _ = op
                    .script(store.scripts.delete_room(
                        &rk,
                        &anchor.user_id,
                        store.member_timeout_ms,
                        store.marks_arg(),
                    ))
                    .await;
                let _ = op.index(IndexChange::Delete, &live_id, listing, 0, 0).await;
                return Err(err);
            }
            Ok(raw)
        })
        .await
    }

    /// Reads a room (`lua/get_room.lua`). Errors: [`StoreError::RoomNotFound`].
    pub async fn get_room(&self, live_id: &str) -> Result<RawRoom, StoreError> {
        let rk = self.keys.room(live_id);
        let call = self.scripts.get_room(&rk, self.member_timeout_ms);
        self.op("get").script(call).await
    }

    /// Reads several rooms concurrently (pipelined on the one connection); rooms
    /// deleted in the meantime are left out.
    pub async fn get_rooms(&self, live_ids: &[String]) -> Result<Vec<RawRoom>, StoreError> {
        let reads = live_ids.iter().map(|id| self.get_room(id));
        let mut rooms = Vec::with_capacity(live_ids.len());
        for result in futures::future::join_all(reads).await {
            match result {
                Ok(room) => rooms.push(room),
                Err(StoreError::RoomNotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(rooms)
    }

    /// Whether room `live_id` exists.
    pub async fn room_exists(&self, live_id: &str) -> Result<bool, StoreError> {
        let n: i64 = self
            .op("room_exists")
            .command(command("EXISTS").arg(self.keys.room(live_id).room))
            .await?;
        Ok(n == 1)
    }

    /// The anchor starts room `live_id` (SPEC §5 #3): live, listed in the live,
    /// search and active indexes, and the anchor present in it and out of any other
    /// room. One script on one Redis, ordered steps run to completion on Cluster.
    /// Errors: not found, [`StoreError::NotAnchor`], [`StoreError::Ended`].
    pub async fn start_room(&self, live_id: &str, user: &UserRef) -> Result<RawRoom, StoreError> {
        match self.topology {
            // The whole start in one script (`lua/start_room.lua`).
            Topology::Single => {
                let timeout_ms = self.member_timeout_ms;
                let call = self.scripts.move_in(
                    MoveIn::Start,
                    &self.keys,
                    live_id,
                    user,
                    timeout_ms,
                    self.marks_arg(),
                );
                self.op("start.single").script(call).await
            }
            Topology::Cluster => {
                let work = cluster::start(self.clone(), live_id.to_owned(), user.clone());
                Self::to_completion(work).await
            }
        }
    }

    /// The anchor stops its live room (event `room_stopped`, reason `anchor`); see
    /// [`Store::stop_room_as`].
    pub async fn stop_room(&self, live_id: &str, user_id: &str) -> Result<(), StoreError> {
        self.stop_room_as(live_id, user_id, None).await
    }

    /// Stops a live room: checks it, takes it out of the live index (and ranks it as
    /// ended in search), then ends it (`lua/stop_room.lua`). In that order a retried
    /// stop finishes what a failed one started. Run to completion. `by`: the server
    /// API's key id and reason text (SPEC §11), recorded in `room_stopped` as
    /// `reason: server`, `by`, `note` (SPEC §10); `None` = the anchor's stop
    /// (`reason: anchor`). Errors: not found, [`StoreError::NotAnchor`] (`user_id` is
    /// not the anchor), [`StoreError::NotLive`].
    pub async fn stop_room_as(
        &self,
        live_id: &str,
        user_id: &str,
        by: Option<ServerNote>,
    ) -> Result<(), StoreError> {
        let (store, live_id, user_id) = (self.clone(), live_id.to_owned(), user_id.to_owned());
        Self::to_completion(async move {
            let op = store.op("stop");
            let rk = store.keys.room(&live_id);
            let (anchor, status, created): (Option<String>, Option<u8>, Option<i64>) = op
                .command(command("HMGET").arg(&rk.room).arg(&[
                    "anchor",
                    "live_status",
                    "created_ms",
                ]))
                .await?;
            match (anchor, status) {
                (None, _) => return Err(StoreError::RoomNotFound),
                (Some(a), _) if a != user_id => return Err(StoreError::NotAnchor(Action::Stop)),
                (_, Some(1)) => {}
                _ => return Err(StoreError::NotLive),
            }
            let created = created.unwrap_or(0);
            op.index(IndexChange::Ended, &live_id, None, created, 0)
                .await?;
            op.mark_due_first(&live_id).await?;
            let stop = store.scripts.stop_room(
                &rk,
                &user_id,
                store.member_timeout_ms,
                by.as_ref(),
                store.marks_arg(),
            );
            op.script(stop).await?;
            // Again, after the room ended: a start racing this stop may have listed it
            // in between (start re-checks too; both orders end unlisted).
            op.index(IndexChange::Ended, &live_id, None, created, 0)
                .await
        })
        .await
    }

    /// Deletes a room and all its state: checks it, takes it out of every index,
    /// deletes its keys (`lua/delete_room.lua`), then takes it out of every index
    /// again (a start racing the delete may have listed it in between) and out of the
    /// reaper's deadline index; a retried
    /// delete finishes the work. Run to completion. Errors: not found,
    /// [`StoreError::NotAnchor`].
    pub async fn delete_room(&self, live_id: &str, user_id: &str) -> Result<(), StoreError> {
        let (store, live_id, user_id) = (self.clone(), live_id.to_owned(), user_id.to_owned());
        Self::to_completion(async move {
            let op = store.op("delete");
            let rk = store.keys.room(&live_id);
            let (anchor, title): (Option<String>, Option<String>) = op
                .command(command("HMGET").arg(&rk.room).arg(&["anchor", "title"]))
                .await?;
            let title = match (anchor, title) {
                (Some(anchor), Some(title)) if anchor == user_id => title,
                (Some(_), _) => return Err(StoreError::NotAnchor(Action::Delete)),
                _ => return Err(StoreError::RoomNotFound),
            };
            let all = Some((user_id.as_str(), title.as_str()));
            op.index(IndexChange::Delete, &live_id, all, 0, 0).await?;
            op.mark_due_first(&live_id).await?;
            let delete = store.scripts.delete_room(
                &rk,
                &user_id,
                store.member_timeout_ms,
                store.marks_arg(),
            );
            op.script(delete).await?;
            op.index(IndexChange::Delete, &live_id, all, 0, 0).await?;
            op.reaper_forget(&live_id).await
        })
        .await
    }

    /// Merges an extends patch into a room's (`lua/update_extends.lua`). Errors: not
    /// found, [`StoreError::NotAnchor`], [`StoreError::TooManyExtendsKeys`].
    pub async fn update_extends(
        &self,
        live_id: &str,
        user_id: &str,
        patch: &BTreeMap<String, String>,
    ) -> Result<(), StoreError> {
        let rk = self.keys.room(live_id);
        let patch = super::scripts::extends_json(patch);
        let call = self.scripts.update_extends(
            &rk,
            user_id,
            &patch,
            super::MAX_EXTENDS_KEYS,
            self.member_timeout_ms,
            self.marks_arg(),
        );
        let op = self.op("extends");
        op.mark_due_first(live_id).await?;
        op.script(call).await
    }
}

impl Op<'_> {
    /// The room's `live_status`, `None` when it does not exist.
    pub(crate) async fn live_status(&self, live_id: &str) -> Result<Option<u8>, StoreError> {
        self.command(
            command("HGET")
                .arg(self.store.keys.room(live_id).room)
                .arg("live_status"),
        )
        .await
    }

    /// The room's anchor and `live_status` (`HMGET`): (None, None) when it does not
    /// exist. The read before a Cluster step that refuses without writing.
    pub(crate) async fn anchor_and_status(
        &self,
        live_id: &str,
    ) -> Result<(Option<String>, Option<u8>), StoreError> {
        self.command(
            command("HMGET")
                .arg(self.store.keys.room(live_id).room)
                .arg(&["anchor", "live_status"]),
        )
        .await
    }
}
