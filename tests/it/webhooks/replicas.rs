//! Delivery across real `liveroom serve` processes: `kill -9` of the replica
//! delivering a room mid-delivery loses nothing (the other takes its shards over
//! once their leases lapse; a repeat carries the same `id`), and two replicas in
//! steady state share the shards without delivering anything twice.

use std::collections::BTreeSet;
use std::time::Duration;

use liveroom::store::keys::{WEBHOOK_SHARDS, webhook_shard};
use liveroom_testkit::WebhookReceiver;

use super::{accepted_for, assert_in_order, env_refs, hook_env, stream, wait_accepted};
use crate::harness::replicas::{cmd, store_for, wait_until};
use crate::harness::{Replica, TestRedis, call_at, live_room_at, token_for};

/// On the replica at `base`, `users` join room `id` one after another, then leave.
async fn traffic(base: &str, id: &str, users: &[String]) {
    let path = format!("/client/live/room/user/{id}");
    for user in users {
        call_at(base, "POST", &path, &token_for(user)).await.ok();
    }
    for user in users {
        call_at(base, "DELETE", &path, &token_for(user)).await.ok();
    }
}

/// The holders of the 16 shard leases (None: free).
async fn lease_holders(store: &liveroom::store::Store) -> Vec<Option<String>> {
    let mut holders = Vec::new();
    for shard in 0..WEBHOOK_SHARDS {
        let key = store.keys().webhook_shard(shard).lease;
        holders.push(cmd::<Option<String>>(store, &["GET", &key]).await);
    }
    holders
}

#[tokio::test]
async fn kill_9_of_the_delivering_replica_loses_no_event() {
    let receiver = WebhookReceiver::start().unwrap();
    // Slow enough that the kill lands mid-delivery.
    receiver.delay_each(Duration::from_millis(100));
    let redis = TestRedis::new();
    let store = store_for(&redis).await;
    let env = hook_env(&[receiver.url()], "all");
    let mut r1 = Replica::start("hook-a", &redis, &env_refs(&env)).await;
    let mut r2 = Replica::start("hook-b", &redis, &env_refs(&env)).await;
    let id = live_room_at(&r1.base, "alice", "crash mid-delivery").await;
    let users: Vec<String> = (0..15).map(|i| format!("viewer{i}")).collect();
    traffic(&r2.base, &id, &users).await;
    let want = stream(&store, &id).await;
    assert!(want.len() >= 30);
    // Kill the replica holding the room's shard once some events are delivered.
    assert!(wait_accepted(&receiver, &id, 5, Duration::from_secs(20)).await);
    let lease_key = store.keys().webhook_shard(webhook_shard(&id)).lease;
    let holder: Option<String> = cmd(&store, &["GET", &lease_key]).await;
    let holder = holder.expect("the room's shard is held");
    let (killed, survivor) = if holder.starts_with("hook-a:") {
        (&mut r1, &r2)
    } else {
        (&mut r2, &r1)
    };
    killed.kill9();
    let delivered_before = accepted_for(&receiver, &id).len();
    assert!(
        delivered_before < want.len(),
        "every event was delivered before the kill"
    );
    // The survivor delivers the rest, and events recorded after the kill too.
    let t = token_for("alice");
    call_at(
        &survivor.base,
        "POST",
        &format!("/client/live/room/{id}"),
        &t,
    )
    .await
    .ok();
    let want = stream(&store, &id).await;
    assert!(
        wait_accepted(&receiver, &id, want.len(), Duration::from_secs(30)).await,
        "delivered {} of {}",
        accepted_for(&receiver, &id).len(),
        want.len()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let repeats = assert_in_order(&accepted_for(&receiver, &id), &want);
    assert!(repeats <= 1, "{repeats} repeats after one crash");
}

#[tokio::test]
async fn two_replicas_in_steady_state_deliver_nothing_twice() {
    let receiver = WebhookReceiver::start().unwrap();
    let redis = TestRedis::new();
    let store = store_for(&redis).await;
    let env = hook_env(&[receiver.url()], "all");
    let r1 = Replica::start("steady-a", &redis, &env_refs(&env)).await;
    let r2 = Replica::start("steady-b", &redis, &env_refs(&env)).await;
    // Steady state: the shards spread over both replicas, every one held.
    let spread = wait_until(Duration::from_secs(15), || async {
        let holders = lease_holders(&store).await;
        let distinct: BTreeSet<String> = holders
            .iter()
            .flatten()
            .map(|h| h.split(':').next().unwrap_or_default().to_owned())
            .collect();
        holders.iter().all(Option::is_some) && distinct.len() == 2
    })
    .await;
    assert!(
        spread,
        "shards not spread: {:?}",
        lease_holders(&store).await
    );
    let mut rooms = Vec::new();
    for (i, base) in [&r1.base, &r2.base, &r1.base, &r2.base]
        .into_iter()
        .enumerate()
    {
        let id = live_room_at(base, &format!("anchor{i}"), "steady").await;
        let users: Vec<String> = (0..4).map(|u| format!("v{i}-{u}")).collect();
        // Requests through the other replica too.
        let other = if base == &r1.base { &r2.base } else { &r1.base };
        traffic(other, &id, &users).await;
        rooms.push(id);
    }
    for id in &rooms {
        let want = stream(&store, id).await;
        assert!(
            wait_accepted(&receiver, id, want.len(), Duration::from_secs(20)).await,
            "{id}: delivered {} of {}",
            accepted_for(&receiver, id).len(),
            want.len()
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in &rooms {
        let want = stream(&store, id).await;
        let got = accepted_for(&receiver, id);
        assert_eq!(assert_in_order(&got, &want), 0, "{id}: duplicates");
    }
}

/// A graceful stop (SIGTERM) releases the replica's shard leases and leaves the
/// replica set at once, so another replica takes its shards over without waiting
/// for the leases to lapse (10 s here).
#[tokio::test]
async fn a_stopped_replica_hands_its_shards_over_at_once() {
    let receiver = WebhookReceiver::start().unwrap();
    let redis = TestRedis::new();
    let store = store_for(&redis).await;
    let mut env = hook_env(&[receiver.url()], "room");
    env.retain(|(k, _)| *k != "LIVEROOM_LEASE_TTL");
    env.push(("LIVEROOM_LEASE_TTL", "10s".into()));
    let mut replica = Replica::start("graceful", &redis, &env_refs(&env)).await;
    let held = wait_until(Duration::from_secs(10), || async {
        lease_holders(&store).await.iter().all(Option::is_some)
    })
    .await;
    assert!(held, "the replica did not take the shards");
    assert_eq!(replica.terminate(), Some(0));
    let holders = lease_holders(&store).await;
    assert!(holders.iter().all(Option::is_none), "{holders:?}");
    let replicas: Vec<String> = cmd(
        &store,
        &["ZRANGE", &store.keys().webhook_replicas(), "0", "-1"],
    )
    .await;
    assert!(replicas.is_empty(), "{replicas:?}");
}
