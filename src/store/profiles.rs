//! User profiles (SPEC §3): created on first sight from the token's claims, updated
//! by the user, read in bulk for room and member lists. One hash per user
//! (`{p}:user:{user_id}`), which also holds the user's current `room` (the pointer
//! the Cluster join protocol settles against, `presence/cluster.rs`).

use std::collections::{BTreeMap, HashMap};

use super::{Op, Store, StoreError, command};

/// Most keys a room's or a profile's extends may hold (SPEC §7), enforced by the
/// scripts after a merge.
pub const MAX_EXTENDS_KEYS: usize = 32;

/// Who is acting: the user id and the nick / avatar that seed a new profile (the
/// token's claims; "" when absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserRef {
    /// User id (must pass [`super::is_valid_user_id`]).
    pub user_id: String,
    /// Nick of a profile created on first sight.
    pub nick: String,
    /// Avatar of a profile created on first sight.
    pub avatar: String,
}

/// Changes to a profile; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    /// New nick.
    pub nick: Option<String>,
    /// New avatar.
    pub avatar: Option<String>,
    /// Extends patch as a JSON object of strings (an empty value removes a key).
    pub extends_json: Option<String>,
}

impl ProfileUpdate {
    /// An update of the given fields; `extends` is the patch to merge.
    pub fn new(
        nick: Option<String>,
        avatar: Option<String>,
        extends: Option<&BTreeMap<String, String>>,
    ) -> Self {
        Self {
            nick,
            avatar,
            extends_json: extends.map(super::scripts::extends_json),
        }
    }
}

/// A stored profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// User id.
    pub user_id: String,
    /// Numeric IM user id, allocated once per user; 0 for a user never seen.
    pub im_userid: u64,
    /// Display name.
    pub nick: String,
    /// Avatar URL.
    pub avatar: String,
    /// Free-form key/value pairs.
    pub extends: BTreeMap<String, String>,
}

impl Profile {
    /// Builds a profile from a user hash; a user never seen has im_userid 0.
    fn from_hash(user_id: &str, hash: &HashMap<String, String>) -> Self {
        Self {
            user_id: user_id.to_owned(),
            im_userid: hash
                .get("im_userid")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            nick: hash.get("nick").cloned().unwrap_or_default(),
            avatar: hash.get("avatar").cloned().unwrap_or_default(),
            extends: parse_extends(hash.get("extends").map(String::as_str)),
        }
    }
}

/// Parses a stored extends JSON object (an empty Lua table may come back as `[]`).
pub fn parse_extends(json: Option<&str>) -> BTreeMap<String, String> {
    json.and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default()
}

impl Store {
    /// Returns the caller's profile, creating it on first sight and applying `update`
    /// (`lua/ensure_profile.lua`). Errors: [`StoreError::TooManyExtendsKeys`].
    pub async fn ensure_profile(
        &self,
        user: &UserRef,
        update: &ProfileUpdate,
    ) -> Result<Profile, StoreError> {
        Ok(self.op("profile").profile_step(user, update, "").await?.0)
    }

    /// Profiles of several users, concurrently (missing users get im_userid 0).
    pub async fn profiles(&self, user_ids: &[String]) -> Result<Vec<Profile>, StoreError> {
        // One command per user (each user's key has its own slot), sent concurrently
        // on the multiplexed connection: pipelined on the wire, routed per node.
        let op = self.op("profiles");
        let reads = user_ids.iter().map(|id| {
            op.command::<HashMap<String, String>>(command("HGETALL").arg(self.keys.user(id)))
        });
        let hashes = futures::future::try_join_all(reads).await?;
        Ok(user_ids
            .iter()
            .zip(hashes)
            .map(|(id, h)| Profile::from_hash(id, &h))
            .collect())
    }
}

impl Op<'_> {
    /// `lua/ensure_profile.lua` on the user's slot: the profile (created on first
    /// sight with an im_userid from the global sequence, asked for only then),
    /// `update` applied, and the pointer moved to `point_at` when not empty. Returns
    /// the profile and the room the user was pointed at before ("" when none).
    pub(crate) async fn profile_step(
        &self,
        user: &UserRef,
        update: &ProfileUpdate,
        point_at: &str,
    ) -> Result<(Profile, String), StoreError> {
        let (keys, scripts) = (&self.store.keys, &self.store.scripts);
        let user_key = keys.user(&user.user_id);
        let mut im_userid = String::new();
        loop {
            let call = scripts.ensure_profile(&user_key, user, &im_userid, update, point_at);
            match self.script(call).await? {
                Some((hash, previous)) => {
                    return Ok((Profile::from_hash(&user.user_id, &hash), previous));
                }
                None if im_userid.is_empty() => {
                    // First sight: an im_userid from the sequence (its own slot), then again.
                    let id: i64 = self
                        .command(command("INCR").arg(keys.im_userid_seq()))
                        .await?;
                    im_userid = id.to_string();
                }
                None => {
                    return Err(StoreError::Internal(
                        "ensure_profile.lua asked for an im_userid twice".into(),
                    ));
                }
            }
        }
    }
}
