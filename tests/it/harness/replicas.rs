//! Helpers of the tests with several replicas: short settings, a store of
//! the test's own beside the replicas, and waiting for a condition.

use std::time::{Duration, Instant};

use liveroom::store::Store;

use crate::harness::TestRedis;

/// Short settings: member timeout 1 s (heartbeat interval 300 ms), close-after 3 s,
/// lease TTL 1 s, sweeps every 200 ms.
pub const FAST: &[(&str, &str)] = &[
    ("LIVEROOM_MEMBER_TIMEOUT", "1s"),
    ("LIVEROOM_HEARTBEAT_INTERVAL", "300ms"),
    ("LIVEROOM_ANCHOR_CLOSE_AFTER", "3s"),
    ("LIVEROOM_LEASE_TTL", "1s"),
    ("LIVEROOM_REAPER_INTERVAL", "200ms"),
];

pub async fn store_for(redis: &TestRedis) -> Store {
    Store::connect_to(
        &redis.target,
        &redis.prefix,
        Duration::from_secs(1),
        Duration::from_secs(2),
    )
    .await
    .unwrap()
}

pub async fn cmd<T: redis::FromRedisValue>(store: &Store, args: &[&str]) -> T {
    let mut conn = store.connection();
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query_async(&mut conn).await.unwrap()
}

pub async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
