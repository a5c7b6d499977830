//! The Redis key layout, built from the configured prefix (SPEC §9
//! `LIVEROOM_KEY_PREFIX`). Every key of a room shares the hash tag `{live_id}`:
//!
//! | key | type | holds |
//! |-----|------|-------|
//! | `{p}:{live_id}:room` | hash | room fields, `pv` counter |
//! | `{p}:{live_id}:presence` | zset | member → last heartbeat (ms, Redis `TIME`) |
//! | `{p}:{live_id}:joined` | zset | member → join time (ms): stable member order |
//! | `{p}:{live_id}:uv` | HyperLogLog | distinct joining users |
//! | `{p}:{live_id}:events` | stream | room events, SPEC §10 (about 1,000 kept; 24 h after a delete) |
//! | `{p}:{live_id}:bans` | zset | banned user → ban end (ms, Redis `TIME`), SPEC §11; expired entries pruned |
//! | `{p}:{live_id}:kicked` | zset | kicked user → kick time (ms), for the heartbeat's answer; at most 1,000, 10 min |
//! | `{p}:user:{user_id}` | hash | profile (`im_userid`, `nick`, `avatar`, `extends`) and current `room` |
//! | `{p}:{global}:seq:im_userid`, `…:seq:chat_id` | string | id sequences |
//! | `{p}:{global}:idx:live` | zset | live rooms → start time (ms) |
//! | `{p}:{global}:idx:search` | zset | every room → created ms (+2^42 while live) |
//! | `{p}:{global}:idx:active` | zset | rooms with members or live → last join (ms); read by the reaper's upgrade to the deadline index and by full sweeps ([`crate::reaper::sweep_once`]) |
//! | `{p}:{global}:idx:anchor:{user_id}` | set | rooms of an anchor |
//! | `{p}:{global}:idx:term:{hex}` | set | rooms whose title holds the term (see [`crate::search`]) |
//! | `{p}:{reaper:n}:due` | zset | reaper partition n (0-15, [`reaper_partition`]): live_id → ms by which the room must be visited |
//! | `{p}:{reaper:n}:lease` | string | lease token of the replica sweeping partition n (`SET NX PX`) |
//! | `{p}:{reaper}:replicas` | zset | sweeping replica's lease token → last sign of life (ms), to spread partitions |
//! | `{p}:{reaper}:indexed` | string | set once every room of the active index was marked due (the upgrade to the deadline index) |
//! | `{p}:{webhooks}:dead` | stream | dead-lettered webhook deliveries (see [`Keys::webhook_dead_letters`]) |
//! | `{p}:{webhooks}:replicas` | zset | delivering replica's lease token → last sign of life (ms, Redis `TIME`), to spread shards |
//! | `{p}:{webhooks:n}:due` | zset | shard n (0-15): rooms that may have undelivered events → ms of the latest mark |
//! | `{p}:{webhooks:n}:lease` | string | lease token of the replica delivering shard n (`SET NX PX`) |
//! | `{p}:{webhooks:n}:cursor` | hash | `<receiver id>\|<live_id>` → stream id of the last event handled for that receiver |
//! | `{p}:{webhooks:n}:retry` | hash | `<receiver id>\|<live_id>` → `attempts:next attempt ms:first failure ms` |
//!
//! Webhook shards ([`webhook_shard`]): a room's due mark, cursors and retry state
//! sit in shard `first 2 bytes of SHA-1(live_id), big-endian, mod 16`, each shard's
//! keys under its own hash tag `{webhooks:n}`, so one shard is one slot and its
//! scripts run on Redis Cluster. A receiver id ([`webhook_receiver_id`]) is the
//! first 8 hex digits of SHA-1 of its URL, stable across restarts and reorderings.
//!
//! Three hash slots matter: a room's (`{live_id}`), a user's (`{user_id}`), and
//! `{global}`, where every deployment-wide key sits so that search can `SINTER` term
//! sets and every index update is one script. The single-Redis scripts build the
//! keys of the user's previous room themselves (`room_keys` in `lua/lib_single.lua`);
//! a test below holds that Lua twin equal to [`Keys::room`].

use std::sync::Arc;

/// Whether `id` may be a `live_id` (SPEC §7): 1-64 chars of `[A-Za-z0-9_-]`. Ids
/// become parts of Redis keys, so nothing else may pass.
pub fn is_valid_live_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether `id` may be a user id (SPEC §2): 1-64 chars of `[A-Za-z0-9_.:@-]`. User
/// ids become parts of Redis keys, so nothing else may pass.
pub fn is_valid_user_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:@-".contains(&b))
}

/// Number of webhook shards (`{p}:{webhooks:n}:…`, n in 0..16).
pub const WEBHOOK_SHARDS: u16 = 16;

/// The webhook shard of room `live_id`: the first two bytes of SHA-1(`live_id`),
/// big-endian, mod [`WEBHOOK_SHARDS`] (the Lua twin in `lua/lib.lua`, `webhook_shard`,
/// is held equal by a test).
pub fn webhook_shard(live_id: &str) -> u16 {
    use sha1::{Digest, Sha1};
    let digest = Sha1::digest(live_id.as_bytes());
    u16::from_be_bytes([digest[0], digest[1]]) % WEBHOOK_SHARDS
}

/// Number of reaper partitions (`{p}:{reaper:n}:…`, n in 0..16), each leased
/// separately (docs/DESIGN.md "Reaper").
pub const REAPER_PARTITIONS: u16 = WEBHOOK_SHARDS;

/// The reaper partition of room `live_id`: its webhook shard ([`webhook_shard`]), so
/// the Lua side (`reaper_due_key` in `lua/lib.lua`) computes it with the same
/// `webhook_shard`.
pub fn reaper_partition(live_id: &str) -> u16 {
    webhook_shard(live_id)
}

/// A receiver's id in the delivery state: the first 8 hex digits of SHA-1 of its
/// URL (as configured, trimmed), so it survives reordering `LIVEROOM_WEBHOOK_URLS`.
pub fn webhook_receiver_id(url: &str) -> String {
    use sha1::{Digest, Sha1};
    hex::encode(&Sha1::digest(url.as_bytes())[..4])
}

/// The keys of one webhook shard (all in the slot of hash tag `{webhooks:n}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookShardKeys {
    /// Zset: live_id → ms of its latest due mark.
    pub due: String,
    /// String: the lease token of the replica delivering this shard.
    pub lease: String,
    /// Hash: `<receiver id>|<live_id>` → last handled stream id.
    pub cursor: String,
    /// Hash: `<receiver id>|<live_id>` → `attempts:next_ms:first_failure_ms`.
    pub retry: String,
}

/// Builds every Redis key from the configured prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: Arc<str>,
}

/// The keys of one room.
#[derive(Debug, Clone)]
pub struct RoomKeys {
    /// Room hash.
    pub room: String,
    /// Presence zset.
    pub presence: String,
    /// Join-order zset.
    pub joined: String,
    /// UV HyperLogLog.
    pub uv: String,
    /// Event stream.
    pub events: String,
    /// Ban zset: user → ban end (ms).
    pub bans: String,
    /// Kicked zset: user → kick time (ms).
    pub kicked: String,
}

impl Keys {
    /// Keys under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: Arc::from(prefix),
        }
    }

    /// The configured prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The keys of room `live_id` (which must pass [`is_valid_live_id`]).
    pub fn room(&self, live_id: &str) -> RoomKeys {
        let tag = self.room_tag(live_id);
        RoomKeys {
            room: format!("{tag}room"),
            presence: format!("{tag}presence"),
            joined: format!("{tag}joined"),
            uv: format!("{tag}uv"),
            events: format!("{tag}events"),
            bans: format!("{tag}bans"),
            kicked: format!("{tag}kicked"),
        }
    }

    /// Just the room hash, presence and kicked keys of `live_id` (the heartbeat's
    /// three keys).
    pub fn room_and_presence(&self, live_id: &str) -> (String, String, String) {
        let tag = self.room_tag(live_id);
        (
            format!("{tag}room"),
            format!("{tag}presence"),
            format!("{tag}kicked"),
        )
    }

    /// `{prefix}:{live_id}:`, the start of every key of the room.
    fn room_tag(&self, live_id: &str) -> String {
        format!("{}:{{{}}}:", self.prefix, live_id)
    }

    /// A user's profile hash.
    pub fn user(&self, user_id: &str) -> String {
        format!("{}:user:{{{}}}", self.prefix, user_id)
    }

    /// A deployment-wide key: `{prefix}:{global}:{name}`, all in one hash slot.
    fn named(&self, name: &str) -> String {
        format!("{}:{{global}}:{name}", self.prefix)
    }

    /// The im_userid sequence.
    pub fn im_userid_seq(&self) -> String {
        self.named("seq:im_userid")
    }
    /// The chat_id sequence.
    pub fn chat_id_seq(&self) -> String {
        self.named("seq:chat_id")
    }
    /// Live rooms by start time.
    pub fn live_index(&self) -> String {
        self.named("idx:live")
    }
    /// All rooms, live first then newest.
    pub fn search_index(&self) -> String {
        self.named("idx:search")
    }
    /// Rooms with members or live, for the reaper.
    pub fn active_index(&self) -> String {
        self.named("idx:active")
    }
    /// Reaper partition `n`'s deadline index: zset live_id → ms by which the room
    /// must be visited.
    pub fn reaper_due(&self, n: u16) -> String {
        format!("{}:{{reaper:{n}}}:due", self.prefix)
    }
    /// Reaper partition `n`'s lease: the token of the replica sweeping it.
    pub fn reaper_lease(&self, n: u16) -> String {
        format!("{}:{{reaper:{n}}}:lease", self.prefix)
    }
    /// Replicas running the reaper: zset of lease tokens → last sign of life (ms).
    pub fn reaper_replicas(&self) -> String {
        format!("{}:{{reaper}}:replicas", self.prefix)
    }
    /// Set once the rooms of the active index were marked due (the upgrade from a
    /// version without the deadline index).
    pub fn reaper_indexed(&self) -> String {
        format!("{}:{{reaper}}:indexed", self.prefix)
    }
    /// Dead-lettered webhook deliveries: a stream whose entries have the fields
    /// `url` (the receiver), `event_id`, `event` (name), `live_id`, `body` (the exact
    /// JSON that was sent), `attempts`, `error` (the last failure), `created_at` (the
    /// event's, ms). Written by the deliverer, read and trimmed by
    /// `liveroom webhooks redeliver`.
    pub fn webhook_dead_letters(&self) -> String {
        format!("{}:{{webhooks}}:dead", self.prefix)
    }
    /// Replicas delivering webhooks: zset of lease tokens → last sign of life (ms).
    pub fn webhook_replicas(&self) -> String {
        format!("{}:{{webhooks}}:replicas", self.prefix)
    }
    /// The keys of webhook shard `shard` (0..[`WEBHOOK_SHARDS`]).
    pub fn webhook_shard(&self, shard: u16) -> WebhookShardKeys {
        let tag = format!("{}:{{webhooks:{shard}}}:", self.prefix);
        WebhookShardKeys {
            due: format!("{tag}due"),
            lease: format!("{tag}lease"),
            cursor: format!("{tag}cursor"),
            retry: format!("{tag}retry"),
        }
    }
    /// Rooms of an anchor.
    pub fn anchor_index(&self, user_id: &str) -> String {
        self.named(&format!("idx:anchor:{user_id}"))
    }
    /// Rooms whose title holds `term` (hex-encoded so no title text shapes a key).
    pub fn term_index(&self, term: &str) -> String {
        self.named(&format!("idx:term:{}", hex::encode(term.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lua_room_layout_equals_keys_room() {
        let (_redis, mut conn) = crate::store::test_redis();
        let body = concat!(
            include_str!("../../lua/lib.lua"),
            include_str!("../../lua/lib_single.lua"),
            "return { room_keys(ARGV[1], ARGV[2]) }"
        );
        for (prefix, live_id) in [("lr", "live_0123456789abcdef0123"), ("a:b", "x-y_z")] {
            let lua: Vec<String> = redis::cmd("EVAL")
                .arg(body)
                .arg(0)
                .arg(prefix)
                .arg(live_id)
                .query(&mut conn)
                .expect("EVAL room_keys");
            let rk = Keys::new(prefix).room(live_id);
            assert_eq!(
                lua,
                [
                    rk.room,
                    rk.presence,
                    rk.joined,
                    rk.uv,
                    rk.events,
                    rk.bans,
                    rk.kicked
                ]
            );
        }
    }

    #[test]
    fn the_lua_webhook_shard_equals_webhook_shard() {
        let (_redis, mut conn) = crate::store::test_redis();
        let body = concat!(
            include_str!("../../lua/lib.lua"),
            "return webhook_shard(ARGV[1])"
        );
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..200 {
            let live_id = format!("live_{i:020x}");
            let lua: u16 = redis::cmd("EVAL")
                .arg(body)
                .arg(0)
                .arg(&live_id)
                .query(&mut conn)
                .expect("EVAL webhook_shard");
            assert_eq!(lua, webhook_shard(&live_id), "{live_id}");
            seen.insert(lua);
        }
        assert_eq!(seen.len(), WEBHOOK_SHARDS as usize, "every shard is used");
        let k = Keys::new("lr").webhook_shard(7);
        assert_eq!(k.due, "lr:{webhooks:7}:due");
        assert_eq!(webhook_receiver_id("http://h/x").len(), 8);
    }

    #[test]
    fn the_lua_reaper_partition_key_equals_reaper_due() {
        let (_redis, mut conn) = crate::store::test_redis();
        let body = concat!(
            include_str!("../../lua/lib.lua"),
            "local k, id = reaper_due_key(ARGV[1]) return { k, id }"
        );
        for (prefix, live_id) in [("lr", "live_0123456789abcdef0123"), ("a:b.c", "x-y_z")] {
            let keys = Keys::new(prefix);
            let lua: Vec<String> = redis::cmd("EVAL")
                .arg(body)
                .arg(0)
                .arg(keys.room(live_id).room)
                .query(&mut conn)
                .expect("EVAL reaper_due_key");
            assert_eq!(
                lua,
                [
                    keys.reaper_due(reaper_partition(live_id)),
                    live_id.to_owned()
                ]
            );
        }
    }

    #[test]
    fn ids_that_may_become_keys() {
        assert!(is_valid_live_id("live_abc-1"));
        assert!(!is_valid_live_id("a:b") && !is_valid_live_id("") && !is_valid_live_id("{x}"));
        assert!(is_valid_user_id("u.1:a@b-c_d"));
        assert!(!is_valid_user_id("a b") && !is_valid_user_id(&"x".repeat(65)));
    }
}
