//! Wrappers of the scripts on a user's slot (`ensure_profile.lua`,
//! `user_clear_room.lua`) and on `{global}` (`index_room.lua`, `index_terms.lua`,
//! `page_index.lua`, the lease).

use super::{ScriptCall, Scripts, call, flag, page_start};
use crate::store::index::{IndexChange, PageRequest};
use crate::store::keys::Keys;
use crate::store::profiles::{ProfileUpdate, UserRef};
use crate::store::replies::{ProfileReply, ScoredPage};

impl Scripts {
    /// `user_clear_room.lua`: drops the user's pointer if it names `live_id`.
    pub(crate) fn user_clear_room(&self, user_key: &str, live_id: &str) -> ScriptCall<'_, bool> {
        let mut c = call("user_clear_room", None, &self.user_clear_room);
        c.invocation.key(user_key).arg(live_id);
        c
    }

    /// `ensure_profile.lua`: the profile, created with `im_userid` ("" = none yet),
    /// `update` applied, pointed at `point_at` ("" = not moved).
    pub(crate) fn ensure_profile(
        &self,
        user_key: &str,
        user: &UserRef,
        im_userid: &str,
        update: &ProfileUpdate,
        point_at: &str,
    ) -> ScriptCall<'_, ProfileReply> {
        let mut c = call("ensure_profile", None, &self.ensure_profile);
        c.invocation
            .key(user_key)
            .arg(im_userid)
            .arg(&user.nick)
            .arg(&user.avatar)
            .arg(flag(update.nick.is_some()))
            .arg(update.nick.as_deref().unwrap_or_default())
            .arg(flag(update.avatar.is_some()))
            .arg(update.avatar.as_deref().unwrap_or_default())
            .arg(flag(update.extends_json.is_some()))
            .arg(update.extends_json.as_deref().unwrap_or("{}"))
            .arg(crate::store::MAX_EXTENDS_KEYS)
            .arg(point_at);
        c
    }

    /// `index_room.lua`: one change to a room's index entries; `listing` =
    /// (anchor, title) for create and delete. Times in ms.
    pub(crate) fn index_room(
        &self,
        keys: &Keys,
        change: IndexChange,
        live_id: &str,
        listing: Option<(&str, &str)>,
        created_ms: i64,
        started_ms: i64,
    ) -> ScriptCall<'_, ()> {
        let mut c = call("index_room", None, &self.index_room);
        c.invocation
            .key(keys.live_index())
            .key(keys.search_index())
            .key(keys.active_index());
        if let Some((anchor, title)) = listing {
            c.invocation.key(keys.anchor_index(anchor));
            for term in crate::search::title_terms(title) {
                c.invocation.key(keys.term_index(&term));
            }
        }
        c.invocation
            .arg(change.name())
            .arg(live_id)
            .arg(created_ms)
            .arg(started_ms);
        c
    }

    /// `index_terms.lua`: adds room `live_id` to (`add`) or removes it from the term
    /// sets of `terms` (title terms, `crate::search::title_terms`). `terms` must not be
    /// empty.
    pub(crate) fn index_terms<'t>(
        &self,
        keys: &Keys,
        add: bool,
        live_id: &str,
        terms: impl IntoIterator<Item = &'t String>,
    ) -> ScriptCall<'_, ()> {
        let mut c = call("index_terms", None, &self.index_terms);
        for term in terms {
            c.invocation.key(keys.term_index(term));
        }
        c.invocation
            .arg(if add { "add" } else { "remove" })
            .arg(live_id);
        c
    }

    /// `page_index.lua`: one page of a room index zset.
    pub(crate) fn page_index(
        &self,
        index_key: &str,
        page: &PageRequest,
    ) -> ScriptCall<'_, ScoredPage> {
        let mut c = call("page_index", None, &self.page_index);
        c.invocation.key(index_key).arg(page.size);
        page_start(&mut c.invocation, page);
        c
    }

    /// `lease_renew.lua`: true when `replica_id` still holds the lease.
    pub(crate) fn lease_renew(
        &self,
        key: &str,
        replica_id: &str,
        ttl_ms: u64,
    ) -> ScriptCall<'_, bool> {
        let mut c = call("lease_renew", None, &self.lease_renew);
        c.invocation.key(key).arg(replica_id).arg(ttl_ms);
        c
    }

    /// `lease_release.lua`: true when `replica_id` held the lease and released it.
    pub(crate) fn lease_release(&self, key: &str, replica_id: &str) -> ScriptCall<'_, bool> {
        let mut c = call("lease_release", None, &self.lease_release);
        c.invocation.key(key).arg(replica_id);
        c
    }
}
