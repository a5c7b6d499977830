//! Webhook delivery (docs/SPEC.md §10, src/webhooks/deliver.rs) to real HTTP
//! receivers ([`liveroom_testkit::WebhookReceiver`]), from the app in-process or
//! from real `liveroom serve` processes, on one Redis and on the Cluster
//! (`LIVEROOM_TEST_REDIS=cluster`). Timings are short: polls every 50 ms, leases of
//! 1 s, retries from 250 ms.
//!
//! - `delivery`: every event once, in order, signed; the default selection; the
//!   delivery state removed once a deleted room is delivered;
//! - `failures`: a failing receiver retried, a dead one dead-lettered, a slow one
//!   never slowing the API;
//! - `marks`: which writes mark a room due, and none without receivers;
//! - `replicas`: `kill -9` of the delivering replica; two replicas without duplicates;
//! - `config`: bad settings refused at start-up.

mod config;
mod delivery;
mod failures;
mod marks;
mod replicas;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use liveroom::config::ServeConfig;
use liveroom::events::RoomEvent;
use liveroom::events::signature::{DEFAULT_TOLERANCE, SIGNATURE_HEADER, verify};
use liveroom::store::Store;
use liveroom_testkit::{Delivery, WebhookReceiver};
use serde_json::Value;

use crate::harness::replicas::wait_until;

/// The webhook secret of these tests.
pub const HOOK_SECRET: &str = "whsec-test-0123456789";

/// Configures `config` to deliver `events` to `urls`, with short timings.
pub fn hooks(config: &mut ServeConfig, urls: &[String], events: &str) {
    config.webhooks.urls = urls.to_vec();
    config.webhooks.secret = Some(HOOK_SECRET.into());
    config.webhooks.events = events.into();
    config.webhooks.poll_interval = Duration::from_millis(50);
    config.lease_ttl = Duration::from_secs(1);
}

/// The `LIVEROOM_*` settings of [`hooks`] for a replica process: leases of 1 s
/// (and the reaper's interval under it), and a member timeout of 60 s so no member
/// expires, recording events, while a test runs.
pub fn hook_env(urls: &[String], events: &str) -> Vec<(&'static str, String)> {
    [
        ("LIVEROOM_WEBHOOK_URLS", urls.join(",")),
        ("LIVEROOM_WEBHOOK_SECRET", HOOK_SECRET.to_owned()),
        ("LIVEROOM_WEBHOOK_EVENTS", events.to_owned()),
        ("LIVEROOM_WEBHOOK_POLL_INTERVAL", "50ms".to_owned()),
        ("LIVEROOM_WEBHOOK_TIMEOUT", "2s".to_owned()),
        ("LIVEROOM_LEASE_TTL", "1s".to_owned()),
        ("LIVEROOM_REAPER_INTERVAL", "200ms".to_owned()),
        ("LIVEROOM_MEMBER_TIMEOUT", "60s".to_owned()),
    ]
    .into()
}

/// `env` as the `&[(&str, &str)]` that `Replica::start` takes.
pub fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Every event kept in room `live_id`'s stream, oldest first.
pub async fn stream(store: &Store, live_id: &str) -> Vec<RoomEvent> {
    let key = store.keys().room(live_id).events;
    let entries: Vec<(String, Vec<(String, String)>)> =
        crate::harness::replicas::cmd(store, &["XRANGE", &key, "-", "+"]).await;
    entries
        .iter()
        .map(|(id, fields)| RoomEvent::from_entry(id, fields))
        .collect()
}

/// The body a webhook carries for `event` (SPEC §10: exactly the event's JSON).
pub fn body(event: &RoomEvent) -> String {
    serde_json::to_string(event).unwrap()
}

/// The accepted (2xx) deliveries about room `live_id`, as (`id`, body), in
/// arrival order.
pub fn accepted_for(receiver: &WebhookReceiver, live_id: &str) -> Vec<(String, String)> {
    receiver
        .deliveries()
        .into_iter()
        .filter(Delivery::accepted)
        .filter_map(|d| {
            let text = d.text();
            let v: Value = serde_json::from_str(&text).ok()?;
            let id = v["id"].as_str()?.to_owned();
            (v["room"]["live_id"] == live_id).then_some((id, text))
        })
        .collect()
}

/// Waits (up to `limit`) until `receiver` has accepted at least `n` deliveries
/// about `live_id`; true when it has.
pub async fn wait_accepted(
    receiver: &WebhookReceiver,
    live_id: &str,
    n: usize,
    limit: Duration,
) -> bool {
    wait_until(limit, || async {
        accepted_for(receiver, live_id).len() >= n
    })
    .await
}

/// Asserts each request is a signed webhook: `POST`, `Content-Type:
/// application/webhook+json`, a `Liveroom-Signature` that verifies over the exact
/// body with [`HOOK_SECRET`], and `Liveroom-Event-Id` equal to the body's `id`.
#[track_caller]
pub fn assert_signed(deliveries: &[Delivery]) {
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for d in deliveries {
        assert_eq!(d.method, "POST");
        assert_eq!(
            d.header("content-type"),
            Some("application/webhook+json"),
            "{d:?}"
        );
        let signature = d.header(SIGNATURE_HEADER).expect("signature header");
        assert_eq!(
            verify(
                HOOK_SECRET.as_bytes(),
                signature,
                &d.body,
                now_s,
                DEFAULT_TOLERANCE
            ),
            Ok(()),
            "{d:?}"
        );
        let v: Value = serde_json::from_slice(&d.body).expect("JSON body");
        assert_eq!(d.header("liveroom-event-id"), v["id"].as_str(), "{d:?}");
    }
}

/// Asserts that the accepted deliveries `got` (id, body) are the events `want` in
/// order, where a repeat is allowed only of an event already delivered, with the
/// same body (at-least-once); returns how many repeats there were.
#[track_caller]
pub fn assert_in_order(got: &[(String, String)], want: &[RoomEvent]) -> usize {
    let want: Vec<(String, String)> = want.iter().map(|e| (e.id.clone(), body(e))).collect();
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    let mut next = 0;
    let mut repeats = 0;
    for (id, text) in got {
        if let Some(first) = seen.get(id.as_str()) {
            assert_eq!(first, text, "a repeat of {id} with another body");
            repeats += 1;
            continue;
        }
        assert!(
            next < want.len(),
            "delivered {id}, which is not in the stream"
        );
        assert_eq!(
            (id, text),
            (&want[next].0, &want[next].1),
            "delivery {next} out of order or with a gap"
        );
        seen.insert(id, text);
        next += 1;
    }
    assert_eq!(next, want.len(), "not every event was delivered");
    repeats
}

/// The event names of `events`, as a set.
pub fn names(events: &[RoomEvent]) -> HashSet<String> {
    events.iter().map(|e| e.event.clone()).collect()
}
