//! A reaper partition's lease (partition 0, `partition0_holder`): handed over within
//! one TTL after `kill -9` of its holder, released
//! at once on SIGTERM.

use std::time::{Duration, Instant};

use crate::harness::replicas::{FAST, cmd, store_for, wait_until};
use crate::harness::{Replica, TestRedis, call_at, live_room_at, token_for};

#[tokio::test]
async fn kill9_of_the_lease_holder_hands_over_within_one_ttl_and_sweeping_goes_on() {
    let redis = TestRedis::new();
    let store = store_for(&redis).await;
    let mut replicas = [
        Replica::start("r1", &redis, FAST).await,
        Replica::start("r2", &redis, FAST).await,
        Replica::start("r3", &redis, FAST).await,
    ];
    assert!(
        wait_until(Duration::from_secs(3), || async {
            partition0_holder(&store).await.is_some()
        })
        .await
    );
    let holder = partition0_holder(&store).await.unwrap();
    let idx = replicas.iter().position(|r| r.id == holder).unwrap();
    replicas[idx].kill9();
    let killed = Instant::now();
    assert!(
        wait_until(Duration::from_secs(3), || async {
            matches!(partition0_holder(&store).await, Some(h) if h != holder)
        })
        .await,
        "no replica took over"
    );
    let took = killed.elapsed();
    // TTL 1 s plus one 200 ms lease tick, with slack for a loaded machine.
    assert!(
        took <= Duration::from_millis(1700),
        "takeover took {took:?}"
    );
    let new_holder = partition0_holder(&store).await.unwrap();
    assert_ne!(new_holder, holder);
    // Sweeping goes on under the new holder.
    let alive = replicas.iter().find(|r| r.id != holder).unwrap();
    let id = live_room_at(&alive.base, "anchor", "replica test").await;
    call_at(
        &alive.base,
        "POST",
        &format!("/client/live/room/user/{id}"),
        &token_for("v"),
    )
    .await
    .ok();
    let presence = store.keys().room(&id).presence;
    assert!(
        wait_until(Duration::from_secs(4), || async {
            cmd::<Option<f64>>(&store, &["ZSCORE", &presence, "v"])
                .await
                .is_none()
        })
        .await,
        "silent member not swept after the takeover"
    );
}

#[tokio::test]
async fn sigterm_exits_zero_and_releases_the_lease_at_once() {
    let redis = TestRedis::new();
    let store = store_for(&redis).await;
    // A long TTL: only a release (not expiry) can hand over quickly.
    let slow: Vec<(&str, &str)> = vec![
        ("LIVEROOM_LEASE_TTL", "30s"),
        ("LIVEROOM_REAPER_INTERVAL", "100ms"),
    ];
    let mut replicas = [
        Replica::start("r1", &redis, &slow).await,
        Replica::start("r2", &redis, &slow).await,
    ];
    assert!(
        wait_until(Duration::from_secs(3), || async {
            partition0_holder(&store).await.is_some()
        })
        .await
    );
    let holder = partition0_holder(&store).await.unwrap();
    let idx = replicas.iter().position(|r| r.id == holder).unwrap();
    let stopped = Instant::now();
    assert_eq!(replicas[idx].terminate(), Some(0), "SIGTERM must exit 0");
    assert!(
        wait_until(Duration::from_secs(3), || async {
            matches!(partition0_holder(&store).await, Some(h) if h != holder)
        })
        .await
    );
    assert!(
        stopped.elapsed() < Duration::from_secs(3),
        "handover waited for the 30 s TTL"
    );
}

/// The replica holding reaper partition 0's lease, if any.
async fn partition0_holder(store: &liveroom::store::Store) -> Option<String> {
    store
        .reaper_partition_holders()
        .await
        .unwrap()
        .swap_remove(0)
}
