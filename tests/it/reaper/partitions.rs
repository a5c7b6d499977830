//! Reaper partitions across three real replicas: the 16 partition leases spread
//! (each replica holds some, every partition has one holder, no replica believes it
//! holds more than it does), and `kill -9` of one hands its partitions to the others
//! within the lease TTL, whose sweeps reap the members of its rooms.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use liveroom::store::keys::reaper_partition;

use crate::harness::replicas::{FAST, cmd, store_for, wait_until};
use crate::harness::{Replica, TestRedis, call_at, live_room_at, token_for};

/// `liveroom_reaper_partitions_held` as the replica at `base` reports it.
async fn held_gauge(base: &str) -> Option<u64> {
    let text = crate::harness::http()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("liveroom_reaper_partitions_held "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

/// Partitions per holder (`None` = unheld).
fn by_holder(holders: &[Option<String>]) -> HashMap<Option<String>, Vec<u16>> {
    let mut map: HashMap<Option<String>, Vec<u16>> = HashMap::new();
    for (n, h) in holders.iter().enumerate() {
        map.entry(h.clone()).or_default().push(n as u16);
    }
    map
}

#[tokio::test]
async fn partitions_spread_over_three_replicas_and_kill9_hands_them_over() {
    let redis = TestRedis::new();
    let store = store_for(&redis).await;
    let mut replicas = [
        Replica::start("p1", &redis, FAST).await,
        Replica::start("p2", &redis, FAST).await,
        Replica::start("p3", &redis, FAST).await,
    ];
    // Spread: every partition held, each replica holds some (at most ceil(16/3)),
    // and the replicas' own counts add up to 16 (none held twice).
    let spread = wait_until(Duration::from_secs(8), || async {
        let holders = store.reaper_partition_holders().await.unwrap();
        let map = by_holder(&holders);
        let all_held = !map.contains_key(&None);
        let each = replicas.iter().all(|r| {
            map.get(&Some(r.id.clone()))
                .is_some_and(|p| !p.is_empty() && p.len() <= 6)
        });
        let mut gauges = 0;
        for r in &replicas {
            gauges += held_gauge(&r.base).await.unwrap_or(99);
        }
        all_held && each && gauges == 16
    })
    .await;
    assert!(
        spread,
        "partitions did not spread: {:?}",
        by_holder(&store.reaper_partition_holders().await.unwrap())
    );
    // A room in a partition of the replica about to die, with a viewer that falls
    // silent (the anchor keeps the room live by beating).
    let victim = 0;
    let holders = store.reaper_partition_holders().await.unwrap();
    let theirs: Vec<u16> = by_holder(&holders)
        .remove(&Some(replicas[victim].id.clone()))
        .unwrap_or_default();
    let alive = replicas[1].base.clone();
    let mut room = None;
    for i in 0..60 {
        let id = live_room_at(&alive, &format!("anchor{i}"), "handover").await;
        if theirs.contains(&reaper_partition(&id)) {
            room = Some((id, format!("anchor{i}")));
            break;
        }
    }
    let (id, anchor) = room.expect("a room in the victim's partitions");
    call_at(
        &alive,
        "POST",
        &format!("/client/live/room/user/{id}"),
        &token_for("silent"),
    )
    .await
    .ok();
    replicas[victim].kill9();
    let killed = Instant::now();
    let taken = wait_until(Duration::from_secs(4), || async {
        let holders = store.reaper_partition_holders().await.unwrap();
        theirs.iter().all(|n| {
            holders[*n as usize]
                .as_ref()
                .is_some_and(|h| *h != replicas[victim].id)
        })
    })
    .await;
    let took = killed.elapsed();
    assert!(taken, "the dead replica's partitions were not taken over");
    // Within the TTL (1 s) after its last renewal, plus the replica set's window
    // (1 s) and one upkeep (200 ms) before the survivors' share grows; slack for a
    // loaded machine.
    assert!(
        took <= Duration::from_millis(3000),
        "hand-over took {took:?}"
    );
    // The silent viewer of the dead replica's room is reaped by its new holder.
    let presence = store.keys().room(&id).presence;
    let beat = format!("/client/live/room/heartbeat/{id}");
    let reaped = wait_until(Duration::from_secs(4), || async {
        call_at(&alive, "GET", &beat, &token_for(&anchor)).await;
        cmd::<Option<f64>>(&store, &["ZSCORE", &presence, "silent"])
            .await
            .is_none()
    })
    .await;
    assert!(
        reaped,
        "the silent viewer was not reaped after the hand-over"
    );
    let survivors: u64 = {
        let mut n = 0;
        for r in &replicas[1..] {
            n += held_gauge(&r.base).await.unwrap_or(99);
        }
        n
    };
    assert!(
        wait_until(Duration::from_secs(3), || async {
            let mut n = 0;
            for r in &replicas[1..] {
                n += held_gauge(&r.base).await.unwrap_or(99);
            }
            n == 16
        })
        .await,
        "the survivors hold {survivors} partitions, not 16"
    );
}
