//! The deployment-wide room indexes (all under `{global}`, src/store/keys.rs): room
//! lists and member lists page by page, search candidates, and the index changes the
//! room operations and the reaper make (`lua/index_room.lua`).

use std::collections::BTreeSet;

use super::keys::{is_valid_live_id, is_valid_user_id};
use super::replies::ScoredPage;
use super::{Op, Store, StoreError, command};

/// Score bonus of a live room in the search index (must equal `LIVE_BIT` in lua/lib.lua).
pub const LIVE_BIT: f64 = 4398046511104.0;

/// Which room index a page walks.
#[derive(Debug, Clone, Copy)]
pub enum RoomIndex {
    /// Live rooms, newest start first (SPEC §5 #7).
    Live,
    /// All rooms, live first then newest (SPEC §5 #6, empty keyword).
    All,
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq)]
pub enum PageFrom {
    /// After skipping this many entries.
    Offset(u64),
    /// After the entry (score, id) of a previous page, in list order.
    After {
        /// Sort score of the last entry seen.
        score: f64,
        /// Id of the last entry seen.
        id: String,
    },
}

/// One page to read: where it starts and how many entries.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    /// Where the page starts.
    pub from: PageFrom,
    /// Entries to read.
    pub size: u64,
}

/// A search candidate's sort data.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Room id.
    pub live_id: String,
    /// Lower-cased title.
    pub title_lower: String,
    /// The anchor's user id.
    pub anchor: String,
    /// Sort score: created ms, + 2^42 while live (same as the search index).
    pub score: f64,
}

/// A change to a room's index entries (`lua/index_room.lua`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum IndexChange {
    /// Listed in search, the anchor's set and the term sets.
    Create,
    /// In the live index, ranked live in search.
    Live,
    /// Out of the live index, ranked not live in search.
    Ended,
    /// In the active index (the reaper visits the room).
    Active,
    /// Out of every index.
    Delete,
    /// Found missing by the reaper: out of the live, search and active indexes.
    Gone,
}

impl IndexChange {
    /// The script's name for it (`ARGV[1]`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Live => "live",
            Self::Ended => "ended",
            Self::Active => "active",
            Self::Delete => "delete",
            Self::Gone => "gone",
        }
    }
}

impl Store {
    /// One page of a room index (`lua/page_index.lua`): live ids and their scores.
    pub async fn page_index(
        &self,
        index: RoomIndex,
        page: &PageRequest,
    ) -> Result<ScoredPage, StoreError> {
        let key = match index {
            RoomIndex::Live => self.keys.live_index(),
            RoomIndex::All => self.keys.search_index(),
        };
        let call = self.scripts.page_index(&key, page);
        self.op("page_index").script(call).await
    }

    /// One page of a room's present members in join order (`lua/page_members.lua`):
    /// total present, and (user_id, join ms) pairs.
    pub async fn page_members(
        &self,
        live_id: &str,
        page: &PageRequest,
    ) -> Result<ScoredPage, StoreError> {
        let rk = self.keys.room(live_id);
        let call = self.scripts.page_members(&rk, self.member_timeout_ms, page);
        self.op("page_members").script(call).await
    }

    /// Number of live rooms (`ZCARD` of the live index).
    pub async fn live_room_count(&self) -> Result<u64, StoreError> {
        self.op("live_count")
            .command(command("ZCARD").arg(self.keys.live_index()))
            .await
    }

    /// Search candidates for `keyword` (SPEC §5 #6): an exact `live_id`, the rooms of
    /// an anchor with that user id, and rooms whose title terms all match; each with
    /// the data to check and sort it. Deleted rooms are left out.
    pub async fn search_candidates(&self, keyword: &str) -> Result<Vec<Candidate>, StoreError> {
        let op = self.op("search");
        let lower = keyword.to_lowercase();
        let term_keys: Vec<String> = crate::search::keyword_terms(&lower)
            .iter()
            .map(|t| self.keys.term_index(t))
            .collect();
        let by_title: Vec<String> = op.command(command("SINTER").arg(&term_keys)).await?;
        let mut ids: BTreeSet<String> = by_title.into_iter().collect();
        if is_valid_user_id(keyword) {
            let by_anchor: Vec<String> = op
                .command(command("SMEMBERS").arg(self.keys.anchor_index(keyword)))
                .await?;
            ids.extend(by_anchor);
        }
        if is_valid_live_id(&lower) {
            ids.insert(lower.clone());
        }
        type Row = (Option<String>, Option<u8>, Option<i64>, Option<String>);
        let reads = ids.iter().map(|id| {
            op.command::<Row>(command("HMGET").arg(self.keys.room(id).room).arg(&[
                "title",
                "live_status",
                "created_ms",
                "anchor",
            ]))
        });
        let rows = futures::future::try_join_all(reads).await?;
        Ok(ids
            .into_iter()
            .zip(rows)
            .filter_map(|(live_id, row)| match row {
                (Some(title), Some(status), Some(created), Some(anchor)) => Some(Candidate {
                    live_id,
                    title_lower: title.to_lowercase(),
                    anchor,
                    score: created as f64 + if status == 1 { LIVE_BIT } else { 0.0 },
                }),
                _ => None,
            })
            .collect())
    }
}

impl Op<'_> {
    /// `lua/index_room.lua`: one change to a room's index entries (`{global}` slot).
    /// `listing` = (anchor, title) for create and delete (the anchor's set and the
    /// title's term sets). Times in ms.
    pub(crate) async fn index(
        &self,
        change: IndexChange,
        live_id: &str,
        listing: Option<(&str, &str)>,
        created_ms: i64,
        started_ms: i64,
    ) -> Result<(), StoreError> {
        let store = self.store;
        let call = store.scripts.index_room(
            &store.keys,
            change,
            live_id,
            listing,
            created_ms,
            started_ms,
        );
        self.script(call).await
    }

    /// In the active index (the reaper visits the room), scored by Redis's clock (ms).
    pub(crate) async fn mark_active(&self, live_id: &str) -> Result<(), StoreError> {
        self.index(IndexChange::Active, live_id, None, 0, 0).await
    }
}
