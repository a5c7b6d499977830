//! The Redis key space after hostile traffic: every key must be one the
//! service itself names, under the app's key prefix, with hash tags only of ids the
//! service generated (`live_` + 20 hex digits) or of the test's own token subjects.
//! Shared by the `properties` and `hostile` tests.

use crate::harness::TestApp;

/// Why `key` is not a key the service would name under `prefix`, or `None` when it
/// is. `users` are the token subjects the test used (the only user-chosen text
/// allowed in keys).
pub fn key_problem(key: &str, prefix: &str, users: &[&str]) -> Option<String> {
    let Some(rest) = key.strip_prefix(prefix).and_then(|k| k.strip_prefix(':')) else {
        return Some(format!("outside the {prefix}: namespace"));
    };
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Some("has a byte that is not visible ASCII".into());
    }
    let is_live_id = |id: &str| {
        id.len() == 25
            && id.starts_with("live_")
            && id[5..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let ok = if let Some(name) = rest.strip_prefix("{reaper}:") {
        ["replicas", "indexed"].contains(&name)
    } else if let Some(partitioned) = rest.strip_prefix("{reaper:") {
        // lr:{reaper:N}:due | lease, N in 0..16
        partitioned.split_once("}:").is_some_and(|(n, kind)| {
            let part = n.parse::<u16>().is_ok_and(|v| v < 16 && v.to_string() == n);
            part && ["due", "lease"].contains(&kind)
        })
    } else if let Some(name) = rest.strip_prefix("{webhooks}:") {
        ["dead", "replicas"].contains(&name)
    } else if let Some(sharded) = rest.strip_prefix("{webhooks:") {
        // lr:{webhooks:N}:due | lease | cursor | retry, N in 0..16
        sharded.split_once("}:").is_some_and(|(n, kind)| {
            let shard = n.parse::<u16>().is_ok_and(|v| v < 16 && v.to_string() == n);
            shard && ["due", "lease", "cursor", "retry"].contains(&kind)
        })
    } else if let Some(global) = rest.strip_prefix("{global}:") {
        if let Some(user) = global.strip_prefix("idx:anchor:") {
            users.contains(&user)
        } else if let Some(hex) = global.strip_prefix("idx:term:") {
            !hex.is_empty()
                && hex.len() % 2 == 0
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        } else {
            [
                "idx:live",
                "idx:search",
                "idx:active",
                "seq:im_userid",
                "seq:chat_id",
            ]
            .contains(&global)
        }
    } else if let Some(tagged) = rest.strip_prefix('{') {
        // lr:{live_…}:room | presence | joined | uv | events | bans | kicked
        match tagged.split_once("}:") {
            Some((id, kind)) => {
                is_live_id(id)
                    && [
                        "room", "presence", "joined", "uv", "events", "bans", "kicked",
                    ]
                    .contains(&kind)
            }
            None => false,
        }
    } else if let Some(user) = rest.strip_prefix("user:{") {
        user.strip_suffix('}').is_some_and(|u| users.contains(&u))
    } else {
        false
    };
    if ok {
        None
    } else {
        Some("not a key the service names (unknown shape or user-chosen hash tag)".into())
    }
}

/// Asserts every key of the app's Redis passes [`key_problem`]; returns how many
/// keys there were.
pub async fn assert_keyspace(app: &TestApp, users: &[&str]) -> usize {
    let keys = app.keys("*").await;
    let prefix = &app.config.key_prefix;
    let bad: Vec<String> = keys
        .iter()
        .filter_map(|k| key_problem(k, prefix, users).map(|p| format!("{k:?}: {p}")))
        .collect();
    assert!(bad.is_empty(), "unexpected Redis keys: {bad:#?}");
    keys.len()
}

/// A fingerprint of what the app has written: on a private server the number of
/// writes Redis has applied since it started (its "dirty" counter,
/// `rdb_changes_since_last_save`; the test Redis never saves), so unchanged across a
/// request means the request wrote nothing, not even a value put back as it was. On
/// the shared cluster other tests write too, so it is a hash of the `DUMP` of every
/// key under this app's prefix instead (unchanged = no key of the app changed).
pub async fn writes(app: &TestApp) -> u64 {
    if app.redis.child.is_none() {
        use std::hash::{Hash, Hasher};
        let mut keys = app.keys("*").await;
        keys.sort();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for key in keys {
            let dump: Vec<u8> = app.redis_cmd(&["DUMP", &key]).await;
            (key, dump).hash(&mut hasher);
        }
        return hasher.finish();
    }
    let info: String = app.redis_cmd(&["INFO", "persistence"]).await;
    info.lines()
        .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO persistence has rdb_changes_since_last_save")
}

#[cfg(test)]
mod tests {
    use super::key_problem;

    #[test]
    fn the_key_whitelist_refuses_what_it_should() {
        let users = ["alice"];
        for good in [
            "lr:{live_0123456789abcdef0123}:room",
            "lr:user:{alice}",
            "lr:{global}:idx:anchor:alice",
            "lr:{global}:idx:term:e995bf",
            "lr:{global}:seq:chat_id",
            "lr:{webhooks}:dead",
            "lr:{webhooks:15}:due",
            "lr:{webhooks:0}:cursor",
            "lr:{reaper:15}:due",
            "lr:{reaper:0}:lease",
            "lr:{reaper}:replicas",
        ] {
            assert_eq!(key_problem(good, "lr", &users), None, "{good}");
        }
        for bad in [
            "x:{live_0123456789abcdef0123}:room",
            "lr:{x}:room",
            "lr:{live_1}:room",
            "lr:{live_0123456789abcdef0123}:other",
            "lr:user:{mallory}",
            "lr:{global}:idx:term:zz",
            "lr:{global}:idx:term:abc",
            "lr:{global}:seq:other",
            "lr:{global}:idx:anchor:a b",
            "lr:idx:live",
            "lrx:{global}:idx:live",
            "lr:{live_0123456789abcdef0123}:room\0",
            "lr:{webhooks:16}:due",
            "lr:{webhooks:01}:due",
            "lr:{webhooks:1}:other",
            "lr:{webhooks}:other",
            "lr:{reaper:16}:due",
            "lr:{reaper:1}:cursor",
            "lr:{global}:reaper:lease",
        ] {
            assert!(key_problem(bad, "lr", &users).is_some(), "{bad}");
        }
    }
}
