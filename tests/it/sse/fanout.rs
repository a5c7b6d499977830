//! Across `liveroom serve` processes: 1,000 subscribers on two replicas all get the
//! same events while each replica reads each room's stream once per poll however
//! many listen; a token given in the query never reaches the log; a draining replica
//! ends its streams instead of waiting for `LIVEROOM_SHUTDOWN_TIMEOUT`.

use std::time::{Duration, Instant};

use futures::future::join_all;

use super::{SseClient, bearer, events_path, metric, metrics_of};
use crate::harness::{Replica, TestRedis, call_at, live_room_at, token_for};

/// Raises this process's open-file limit to its hard limit (1,000 streams).
fn raise_fd_limit() {
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_subscribers_on_two_replicas_share_one_poll_per_room() {
    raise_fd_limit();
    super::install_crypto();
    let redis = TestRedis::new();
    let a = Replica::start("sse-a", &redis, &[]).await;
    let b = Replica::start("sse-b", &redis, &[]).await;
    let rooms = [
        live_room_at(&a.base, "anchor1", "fanout one").await,
        live_room_at(&a.base, "anchor2", "fanout two").await,
    ];
    let polls_before = [
        metric(&metrics_of(&a.base).await, "liveroom_sse_polls_total"),
        metric(&metrics_of(&b.base).await, "liveroom_sse_polls_total"),
    ];
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let auth = bearer("viewer");
    let opened = Instant::now();
    let opens = (0..1000).map(|i| {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        let path = events_path(&rooms[i % 4 / 2], "events=all");
        let (client, auth) = (&client, &auth);
        async move {
            let mut s = SseClient::open_with(client, base, &path, &[("Authorization", auth)]).await;
            assert_eq!(s.status, 200);
            assert_eq!(s.next().await.event, "room");
            s
        }
    });
    let mut streams = join_all(opens).await;
    for (base, n) in [(&a.base, 500.0), (&b.base, 500.0)] {
        let text = metrics_of(base).await;
        assert_eq!(metric(&text, "liveroom_sse_subscribers"), n);
        // One poll task per room, however many subscribers.
        assert_eq!(metric(&text, "liveroom_sse_rooms"), 2.0);
    }
    // Changes in both rooms, through both replicas.
    for (i, room) in rooms.iter().enumerate() {
        let base = if i == 0 { &b.base } else { &a.base };
        call_at(
            base,
            "POST",
            &format!("/client/live/room/user/{room}"),
            &token_for("joiner"),
        )
        .await
        .ok();
    }
    call_at(
        &b.base,
        "POST",
        &format!("/client/live/room/{}", rooms[0]),
        &token_for("anchor1"),
    )
    .await
    .ok();
    // Room 0: joiner comes in (then moves to room 1: member_left switched), then the stop.
    // Room 1: joiner comes in. Read each stream's events up to its room's last one.
    let expect = |room: usize| -> usize { if room == 0 { 3 } else { 1 } };
    let reads = streams.iter_mut().enumerate().map(|(i, s)| {
        let n = expect(i % 4 / 2);
        async move {
            let mut got = Vec::new();
            while got.len() < n {
                let e = s.next_not_online().await;
                got.push((e.event, e.id));
            }
            (i % 4 / 2, got)
        }
    });
    let results = join_all(reads).await;
    let elapsed = opened.elapsed().as_secs_f64();
    for room in 0..2 {
        let mut lists = results.iter().filter(|(r, _)| *r == room).map(|(_, g)| g);
        let first = lists.next().unwrap();
        assert!(
            lists.all(|g| g == first),
            "every subscriber of room {room} got the same events"
        );
        let names: Vec<&str> = first.iter().map(|(e, _)| e.as_str()).collect();
        if room == 0 {
            assert_eq!(names, ["member_joined", "member_left", "room_stopped"]);
        } else {
            assert_eq!(names, ["member_joined"]);
        }
    }
    // Reads of Redis by the hubs: per room and interval (2 rooms, 150 ms), not per
    // subscriber (500 a replica would be thousands a second).
    for (base, before) in [(&a.base, polls_before[0]), (&b.base, polls_before[1])] {
        let polls = metric(&metrics_of(base).await, "liveroom_sse_polls_total") - before;
        let per_second = polls / elapsed;
        assert!(polls > 0.0);
        assert!(
            per_second < 2.0 * (1000.0 / 150.0) * 2.0,
            "{base}: {polls} polls in {elapsed:.1} s for 2 rooms"
        );
    }
    drop(streams);
    let gone = crate::harness::replicas::wait_until(Duration::from_secs(5), || async {
        metric(&metrics_of(&a.base).await, "liveroom_sse_subscribers") == 0.0
            && metric(&metrics_of(&a.base).await, "liveroom_sse_rooms") == 0.0
    })
    .await;
    assert!(
        gone,
        "closed streams leave the gauges and the poll tasks stop"
    );
}

#[tokio::test]
async fn a_token_in_the_query_is_never_logged() {
    super::install_crypto();
    let redis = TestRedis::new();
    let replica = Replica::start(
        "sse-log",
        &redis,
        &[("RUST_LOG", "debug"), ("LIVEROOM_LOG_FORMAT", "json")],
    )
    .await;
    let room = live_room_at(&replica.base, "alice", "sse log").await;
    let token = token_for("viewer");
    let path = events_path(&room, &format!("token={token}&events=all"));
    let mut s = SseClient::open(&replica.base, &path, &[("X-Request-Id", "sse-log-check")]).await;
    assert_eq!(s.status, 200);
    assert_eq!(s.next().await.event, "room");
    call_at(
        &replica.base,
        "POST",
        &format!("/client/live/room/user/{room}"),
        &token_for("bob"),
    )
    .await
    .ok();
    assert_eq!(s.next_not_online().await.event, "member_joined");
    // A refused one too.
    let bad = SseClient::open(
        &replica.base,
        &events_path(&room, &format!("token={token}x")),
        &[],
    )
    .await;
    assert_eq!(bad.status, 401);
    drop(s);
    let port = replica.base.rsplit(':').next().unwrap();
    let log_path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("replica-sse-log-{}-{port}.log", std::process::id()));
    let log = std::fs::read_to_string(&log_path).unwrap();
    // The request was logged (so the check below looks at a real log)…
    assert!(log.contains("sse-log-check"), "no request line in:\n{log}");
    assert!(log.contains("/client/live/room/events/{live_id}"), "{log}");
    // …and neither the token nor any of its three parts is in it.
    for part in token.split('.') {
        assert!(!log.contains(part), "the token leaked into the log:\n{log}");
    }
    assert!(!log.contains("token="), "{log}");
}

#[tokio::test]
async fn a_draining_replica_ends_its_streams_instead_of_waiting() {
    super::install_crypto();
    let redis = TestRedis::new();
    let mut replica =
        Replica::start("sse-drain", &redis, &[("LIVEROOM_SHUTDOWN_TIMEOUT", "60s")]).await;
    let room = live_room_at(&replica.base, "alice", "sse drain").await;
    let mut s = SseClient::open(
        &replica.base,
        &events_path(&room, ""),
        &[("Authorization", &bearer("viewer"))],
    )
    .await;
    assert_eq!(s.next().await.event, "room");
    let started = Instant::now();
    let exited = tokio::task::spawn_blocking(move || replica.terminate());
    let e = s.next().await;
    assert_eq!(e.event, "reconnect");
    assert_eq!(e.data["reason"], "shutdown");
    let (rest, ended) = s.rest_until_end(Duration::from_secs(10)).await;
    assert!(ended && rest.is_empty(), "{rest:?}");
    assert_eq!(exited.await.unwrap(), Some(0));
    // Far from the 60 s shutdown timeout the stream would otherwise have held it for.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}
