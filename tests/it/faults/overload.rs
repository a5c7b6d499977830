//! Overload: shed quickly, memory bounded.

use std::time::{Duration, Instant};

use crate::harness::{Replica, TestRedis, call_at, live_room_at, token_for};

/// Past LIVEROOM_MAX_IN_FLIGHT, requests are shed at once with 429 / 42900 and
/// Retry-After; probes are never shed; memory stays bounded under a flood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_shed_quickly_and_memory_stays_bounded() {
    let redis = TestRedis::private();
    let replica = Replica::start(
        "r1",
        &redis,
        &[
            ("LIVEROOM_MAX_IN_FLIGHT", "4"),
            // Long enough that "shed at once" and "waited for Redis" stay apart even
            // on a machine busy with other builds.
            ("LIVEROOM_REDIS_TIMEOUT", "4s"),
        ],
    )
    .await;
    let anchor = token_for("anchor");
    let id = live_room_at(&replica.base, "anchor", "flood").await;
    let rss = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", replica.pid())).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    // Stall Redis: the 4 admitted requests wait for the 4 s timeout; the rest must be
    // shed without waiting for it.
    redis.child().signal(libc::SIGSTOP);
    let path = format!("/client/live/room/heartbeat/{id}");
    let started = Instant::now();
    let flood = futures::future::join_all((0..60).map(|_| {
        let (base, path, anchor) = (replica.base.clone(), path.clone(), anchor.clone());
        async move {
            let t = Instant::now();
            let r = call_at(&base, "GET", &path, &anchor).await;
            (r, t.elapsed())
        }
    }));
    let livez = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        crate::harness::http()
            .get(format!("{}/livez", replica.base))
            .send()
            .await
            .unwrap()
            .status()
    };
    let (results, livez_status) = tokio::join!(flood, livez);
    redis.child().signal(libc::SIGCONT);
    assert_eq!(livez_status, 200, "/livez must not be shed");
    let shed: Vec<_> = results.iter().filter(|(r, _)| r.status == 429).collect();
    let admitted: Vec<_> = results.iter().filter(|(r, _)| r.status != 429).collect();
    assert!(shed.len() >= 50, "only {} of 60 shed", shed.len());
    for (r, took) in &shed {
        r.expect(429, 42900);
        assert!(r.headers.contains_key("retry-after"));
        assert!(
            *took < Duration::from_secs(3),
            "shedding took {took:?}: it waited for Redis"
        );
    }
    for (r, took) in &admitted {
        r.expect(503, 50300);
        assert!(
            *took < Duration::from_secs(7),
            "admitted request took {took:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(8));

    // A sustained flood far past the limit: memory stays bounded.
    let before = rss();
    for _ in 0..10 {
        let replies = futures::future::join_all(
            (0..200).map(|_| call_at(&replica.base, "GET", &path, &anchor)),
        )
        .await;
        assert!(
            replies
                .iter()
                .all(|r| r.status == 200 || r.status == 429 || r.status == 404)
        );
    }
    let after = rss();
    assert!(
        after < before + 64 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
}
