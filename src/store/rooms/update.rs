//! Changing a room's title, notice and cover (SPEC §11, the server API): the room's
//! hash and its `room_updated` event in one script (`lua/update_room.lua`), and the
//! title's search terms (`{global}`, `lua/index_terms.lua`) in steps around it.

use std::collections::BTreeSet;

use super::super::replies::RawRoom;
use super::super::{Op, Store, StoreError, command};
use crate::search::title_terms;

/// A validated change to a room (SPEC §7 limits): `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomPatch {
    /// New title, 1-128 characters.
    pub title: Option<String>,
    /// New notice, at most 1024 characters.
    pub notice: Option<String>,
    /// New cover URL: empty or http(s), at most 1024 characters.
    pub cover_url: Option<String>,
}

impl RoomPatch {
    /// The fields to set, as the JSON object `update_room.lua` takes.
    fn to_json(&self) -> String {
        let mut map = serde_json::Map::new();
        for (name, value) in [
            ("title", &self.title),
            ("notice", &self.notice),
            ("cover_url", &self.cover_url),
        ] {
            if let Some(value) = value {
                map.insert(name.to_owned(), value.clone().into());
            }
        }
        serde_json::Value::Object(map).to_string()
    }
}

impl Store {
    /// Changes room `live_id`'s title, notice and / or cover, in any `live_status`,
    /// and returns the room after the change. Records `room_updated` with the changed
    /// fields, nothing when no value changed (SPEC §10). Steps, run to completion:
    ///
    /// 1. the room must exist (`RoomNotFound` otherwise, nothing written);
    /// 2. a new title's terms are added to the search index (`{global}`);
    /// 3. `lua/update_room.lua` changes the room's hash and records the event (the
    ///    room's slot; on the Cluster its webhook mark is written just before);
    /// 4. the old title's terms that the new title lacks are removed, then the title
    ///    the room has now is read again and its terms added (a concurrent change may
    ///    have removed some), or, when the room was deleted meanwhile, the new title's
    ///    terms are removed.
    ///
    /// A crash between steps leaves extra terms at worst (search checks each
    /// candidate's title, so extra terms never show a room wrongly), never a room
    /// missing its current title's terms for longer than the update takes. Every step
    /// is idempotent. Works the same on one Redis and on the Cluster.
    pub async fn update_room(
        &self,
        live_id: &str,
        patch: &RoomPatch,
    ) -> Result<RawRoom, StoreError> {
        let (store, live_id, patch) = (self.clone(), live_id.to_owned(), patch.clone());
        Self::to_completion(async move {
            let op = store.op("update_room");
            let rk = store.keys.room(&live_id);
            let before: Option<String> = op
                .command(command("HGET").arg(&rk.room).arg("title"))
                .await?;
            let Some(before) = before else {
                return Err(StoreError::RoomNotFound);
            };
            let new_title = patch.title.clone();
            if let Some(new) = new_title.as_ref().filter(|t| **t != before) {
                op.terms(true, &live_id, &title_terms(new)).await?;
            }
            op.mark_due_first(&live_id).await?;
            let call = store.scripts.update_room(
                &rk,
                &patch.to_json(),
                store.member_timeout_ms,
                store.marks_arg(),
            );
            let (old_title, raw) = match op.script(call).await {
                Err(StoreError::RoomNotFound) => {
                    // Deleted since step 1: take back the terms step 2 added.
                    if let Some(new) = new_title.as_ref().filter(|t| **t != before) {
                        op.terms(false, &live_id, &title_terms(new)).await?;
                    }
                    return Err(StoreError::RoomNotFound);
                }
                other => other?,
            };
            if let Some(new) = new_title.filter(|t| *t != old_title) {
                let stale: BTreeSet<String> = title_terms(&old_title)
                    .difference(&title_terms(&new))
                    .cloned()
                    .collect();
                op.terms(false, &live_id, &stale).await?;
                let now: Option<String> = op
                    .command(command("HGET").arg(&rk.room).arg("title"))
                    .await?;
                match now {
                    Some(title) => op.terms(true, &live_id, &title_terms(&title)).await?,
                    None => op.terms(false, &live_id, &title_terms(&new)).await?,
                }
            }
            Ok(raw)
        })
        .await
    }
}

impl Op<'_> {
    /// Adds room `live_id` to (`add`) or removes it from the search index's sets of
    /// `terms` (`lua/index_terms.lua`, `{global}`); nothing when `terms` is empty.
    async fn terms(
        &self,
        add: bool,
        live_id: &str,
        terms: &BTreeSet<String>,
    ) -> Result<(), StoreError> {
        if terms.is_empty() {
            return Ok(());
        }
        let store = self.store;
        let call = store.scripts.index_terms(&store.keys, add, live_id, terms);
        self.script(call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_sends_only_its_fields() {
        let patch = RoomPatch {
            title: Some("新\"标题\"".into()),
            cover_url: Some(String::new()),
            ..RoomPatch::default()
        };
        let v: serde_json::Value = serde_json::from_str(&patch.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"title": "新\"标题\"", "cover_url": ""})
        );
    }
}
