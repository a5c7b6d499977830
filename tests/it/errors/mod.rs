//! The error side of the API, against the real app and a real Redis (SPEC §1, §2, §7):
//! bad input, authentication, the error codes of each endpoint, unknown routes and
//! request ids. Every refused request must answer a well-formed envelope, never a
//! 5xx, and leave Redis exactly as it was.

use std::collections::BTreeMap;

use base64::Engine;

use crate::harness::{Reply, TestApp};

pub const CREATE: &str = "/client/live/room/instance";

pub const EXTENDS: &str = "/client/live/room/extends";

/// Every key of the app's Redis with its `DUMP`: equal snapshots mean nothing was
/// written (values, types and encodings; TTLs are not compared).
pub type Snapshot = BTreeMap<String, Vec<u8>>;

pub async fn snapshot(app: &TestApp) -> Snapshot {
    let keys: Vec<String> = app.keys("*").await;
    let mut out = BTreeMap::new();
    for key in keys {
        let dump: Vec<u8> = app.redis_cmd(&["DUMP", &key]).await;
        out.insert(key, dump);
    }
    out
}

/// Names of the keys that differ between two snapshots.
pub fn changed_keys(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let names: std::collections::BTreeSet<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    names.into_iter().cloned().collect()
}

/// What is wrong with a reply's envelope, if anything: never a 5xx, a JSON content
/// type, a non-empty `request_id` equal to the `X-Request-Id` header, an integer
/// `code`, a non-empty `message`, and no Rust internals in the message.
pub fn envelope_problems(r: &Reply) -> Vec<String> {
    let mut problems = Vec::new();
    if r.status >= 500 {
        problems.push(format!("5xx status {}", r.status));
    }
    let content_type = r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/json") {
        problems.push(format!("content-type is {content_type:?}"));
    }
    let id = r.body["request_id"].as_str().unwrap_or("");
    if id.is_empty() {
        problems.push("request_id missing".into());
    }
    let header_id = r
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if header_id != id {
        problems.push(format!(
            "X-Request-Id header {header_id:?} != body request_id {id:?}"
        ));
    }
    if !r.body["code"].is_i64() {
        problems.push("code missing".into());
    }
    let message = r.body["message"].as_str().unwrap_or("");
    if message.is_empty() {
        problems.push("message missing".into());
    }
    for leak in ["struct ", "Body", "redis", "Redis", "panick", "ERR "] {
        if message.contains(leak) {
            problems.push(format!("message leaks internals ({leak:?}): {message}"));
        }
    }
    problems
}

#[track_caller]
pub fn assert_envelope(r: &Reply) {
    let problems = envelope_problems(r);
    assert!(problems.is_empty(), "{problems:?}: {}", r.body);
}

/// Runs `request` and asserts it was refused with `status` / `code`, with a sound
/// envelope, and that Redis is unchanged afterwards.
macro_rules! refused_unchanged {
    ($app:expr, $status:expr, $code:expr, $request:expr) => {{
        let before = crate::errors::snapshot($app).await;
        let count = $app.key_count().await;
        let reply: crate::harness::Reply = $request.await;
        reply.expect($status, $code);
        crate::errors::assert_envelope(&reply);
        assert_eq!($app.key_count().await, count, "key count changed");
        let after = crate::errors::snapshot($app).await;
        assert!(
            before == after,
            "refused request changed keys {:?}",
            crate::errors::changed_keys(&before, &after)
        );
        reply
    }};
}

pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

mod auth;
mod codes;
mod input;
mod routes;
