//! liveroom on Redis Cluster and Sentinel, each test on a topology of
//! its own (real `redis-server` processes on loopback ports, stopped at the end):
//!
//! - a join from room A to room B when A, B and the user's key sit on three
//!   different masters: never a CROSSSLOT, exactly one presence, sequential and raced;
//! - keys spread over the masters;
//! - `CLUSTER FAILOVER` of the master holding a live room while clients beat and
//!   join: requests resume, scripts are loaded again on the new master;
//! - Sentinel (one master, one replica, three sentinels): failover during traffic,
//!   and the service resumes on the new master; a sentinel that names another
//!   master than the others, first in the list, does not choose where writes go.
//!
//! The rest of the suite also runs on a cluster with `LIVEROOM_TEST_REDIS=cluster`
//! (see `harness`); `scripts/test` runs it both ways.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use liveroom::redis_conn::{RedisMode, RedisTarget};
use liveroom_testkit::{RedisChild, RedisCluster, RedisSentinels};

use crate::harness::{TestApp, TestRedis};

/// An app on `target` (key prefix `lr`), 1 s member timeout.
async fn app_on(target: RedisTarget, masters: Vec<u16>) -> TestApp {
    let redis = TestRedis {
        child: None,
        target,
        prefix: "lr".into(),
        masters,
    };
    TestApp::init()
        .on_redis(redis)
        .with_member_timeout(Duration::from_secs(2))
        .with_config(|c| c.heartbeat_interval = Some(Duration::from_millis(500)))
        .spawn()
        .await
}

/// A plain connection to one node (no cluster routing).
async fn node(port: u16) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// The master that owns `key`: the only one that answers `EXISTS` instead of `MOVED`.
async fn owner(masters: &[u16], key: &str) -> u16 {
    for &port in masters {
        let reply: redis::RedisResult<i64> = redis::cmd("EXISTS")
            .arg(key)
            .query_async(&mut node(port).await)
            .await;
        if reply.is_ok() {
            return port;
        }
    }
    panic!("no master owns {key}");
}

/// Whether `user` is present (fresh heartbeat) in room `id`.
async fn present(app: &TestApp, id: &str, user: &str) -> bool {
    let presence = app.store.keys().room(id).presence;
    let score: Option<f64> = app.redis_cmd(&["ZSCORE", &presence, user]).await;
    let now: (i64, i64) = app.redis_cmd(&["TIME"]).await;
    let now_ms = (now.0 * 1000 + now.1 / 1000) as f64;
    score.is_some_and(|s| s > now_ms - 2000.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_across_three_masters_never_crossslots_and_leaves_one_presence() {
    let cluster = RedisCluster::start(3, 0).expect("cluster");
    let masters = cluster.master_ports();
    let target = RedisTarget::parse(RedisMode::Cluster, &cluster.url_list(), "").unwrap();
    let app = app_on(target, masters.clone()).await;
    let keys = app.store.keys().clone();
    // Two rooms on two masters, a user on the third.
    let a = app.create_room("anchor_a", "room A").await;
    let a_node = owner(&masters, &keys.room(&a).room).await;
    let mut b = app.create_room("anchor_b", "room B").await;
    let mut b_node = owner(&masters, &keys.room(&b).room).await;
    while b_node == a_node {
        b = app.create_room("anchor_b", "room B").await;
        b_node = owner(&masters, &keys.room(&b).room).await;
    }
    let mut user = String::new();
    for i in 0.. {
        user = format!("viewer{i}");
        let u_node = owner(&masters, &keys.user(&user)).await;
        if u_node != a_node && u_node != b_node {
            break;
        }
    }
    eprintln!("room A on :{a_node}, room B on :{b_node}, {user} on the third master");

    // One at a time: always exactly in the room joined last.
    for round in 0..20 {
        let (to, other) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let r = app.user(&user).join(to).await;
        assert_eq!(r.status, 200, "round {round}: {:?}", r.body);
        assert!(present(&app, to, &user).await, "round {round}: not in {to}");
        assert!(
            !present(&app, other, &user).await,
            "round {round}: still in {other}"
        );
        let counts = (
            app.info("x", &a).await["online_count"].as_i64().unwrap(),
            app.info("x", &b).await["online_count"].as_i64().unwrap(),
        );
        assert_eq!(counts.0 + counts.1, 1, "round {round}: counts {counts:?}");
    }

    // Raced: A and B at once; once both return, the user is in exactly one room and
    // the user's pointer names it.
    let (path_a, path_b) = (
        format!("/client/live/room/user/{a}"),
        format!("/client/live/room/user/{b}"),
    );
    for round in 0..60 {
        let (ra, rb) = tokio::join!(
            app.post(&user, &path_a, None),
            app.post(&user, &path_b, None),
        );
        assert_eq!(
            (ra.status, rb.status),
            (200, 200),
            "{:?} {:?}",
            ra.body,
            rb.body
        );
        let (in_a, in_b) = (
            present(&app, &a, &user).await,
            present(&app, &b, &user).await,
        );
        assert!(in_a ^ in_b, "round {round}: in A {in_a}, in B {in_b}");
        let pointer: Option<String> = app.redis_cmd(&["HGET", &keys.user(&user), "room"]).await;
        let expected = if in_a { &a } else { &b };
        assert_eq!(pointer.as_ref(), Some(expected), "round {round}");
    }
    // Counts never go negative, and leaving empties both rooms.
    let room = if present(&app, &a, &user).await {
        &a
    } else {
        &b
    };
    app.user(&user).leave(room).await.ok();
    for id in [&a, &b] {
        assert_eq!(app.info("x", id).await["online_count"], 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_spread_over_the_masters() {
    let cluster = RedisCluster::start(3, 0).expect("cluster");
    let masters = cluster.master_ports();
    let target = RedisTarget::parse(RedisMode::Cluster, &cluster.url_list(), "").unwrap();
    let app = app_on(target, masters.clone()).await;
    for r in 0..60 {
        let id = app.live_room(&format!("anchor{r}"), "spread").await;
        for m in 0..3 {
            app.join(&format!("m{r}_{m}"), &id).await;
        }
    }
    let mut sizes = Vec::new();
    for &port in &masters {
        let n: u64 = redis::cmd("DBSIZE")
            .query_async(&mut node(port).await)
            .await
            .unwrap();
        sizes.push(n);
    }
    let total: u64 = sizes.iter().sum();
    eprintln!("keys per master: {sizes:?} of {total}");
    // 60 rooms at random: each master's share of rooms has a standard deviation of
    // about 6 points around 33%, so "at least 15%" (3 deviations) tells spread keys
    // from keys on one master without failing on a merely uneven draw.
    for n in &sizes {
        assert!(
            *n * 100 >= total * 15,
            "a master holds under 15% of the keys: {sizes:?}"
        );
    }
    // Configured as one server, a cluster node is refused at start-up, naming the fix.
    let err = standalone_error(masters[0]).await;
    assert!(err.contains("LIVEROOM_REDIS_MODE=cluster"), "{err}");
}

/// The start-up error of a store configured as standalone against `port`.
async fn standalone_error(port: u16) -> String {
    match liveroom::store::Store::connect(
        &format!("redis://127.0.0.1:{port}"),
        "lr",
        Duration::from_secs(2),
        Duration::from_secs(2),
    )
    .await
    {
        Ok(_) => panic!("a standalone store on :{port} was accepted"),
        Err(e) => e.to_string(),
    }
}

/// Heartbeats (and now and then a rejoin) of `users` in room `id`, until `stop`;
/// returns (ms since start, HTTP status, envelope code) of every request.
fn traffic(
    app: Arc<TestApp>,
    id: String,
    users: Vec<String>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<(u128, u16, i64)>> {
    tokio::spawn(async move {
        let started = Instant::now();
        let mut out = Vec::new();
        let mut n = 0usize;
        while !stop.load(Ordering::SeqCst) {
            let user = &users[n % users.len()];
            let r = if n.is_multiple_of(10) {
                app.user(user).join(&id).await
            } else {
                app.user(user).heartbeat(&id).await
            };
            out.push((started.elapsed().as_millis(), r.status, r.code()));
            n += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        out
    })
}

/// Checks a traffic record around a failover: every failure is a clean 503 (or a
/// 40401 for a beat that lost its presence to the outage, answered by a rejoin), and
/// the last `tail` requests all succeeded. Returns (requests, failures, longest
/// run of failures in ms).
fn check_resumed(record: &[(u128, u16, i64)], tail: usize) -> (usize, usize, u128) {
    let mut failures = 0;
    let mut longest = 0;
    let mut since: Option<u128> = None;
    for &(at, status, code) in record {
        if status == 200 {
            if let Some(s) = since.take() {
                longest = longest.max(at - s);
            }
            continue;
        }
        assert!(
            (status == 503 && code == 50300) || (status == 404 && code == 40401),
            "unclean failure during failover: {status} {code}"
        );
        failures += 1;
        since.get_or_insert(at);
    }
    assert!(record.len() > tail, "too little traffic: {}", record.len());
    let last = &record[record.len() - tail..];
    assert!(
        last.iter().all(|&(_, s, _)| s == 200),
        "requests did not resume: {last:?}"
    );
    (record.len(), failures, longest)
}

/// Heartbeat traffic on a live room: stopped and checked by [`Traffic::finish`].
struct Traffic {
    /// When the traffic began (the record's times are ms since then).
    began: Instant,
    stop: Arc<AtomicBool>,
    load: tokio::task::JoinHandle<Vec<(u128, u16, i64)>>,
}

/// `anchor` creates and starts a room titled `title`, eight viewers join, the replica
/// catches up (300 ms), and traffic (theirs and the anchor's beats) runs for 500 ms.
async fn room_under_traffic(app: &Arc<TestApp>, title: &str) -> (String, Traffic) {
    let id = app.live_room("anchor", title).await;
    let mut users: Vec<String> = (0..8).map(|i| format!("v{i}")).collect();
    for u in &users {
        app.join(u, &id).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    users.push("anchor".into());
    let stop = Arc::new(AtomicBool::new(false));
    let began = Instant::now();
    let load = traffic(app.clone(), id.clone(), users, stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    (id, Traffic { began, stop, load })
}

impl Traffic {
    /// Lets the traffic run `settle` longer, stops it and checks that it resumed
    /// (the last `tail` requests succeeded; see [`check_resumed`]). Prints and
    /// returns (failures, joins that succeeded, joins that succeeded in `window`).
    async fn finish(
        self,
        settle: Duration,
        tail: usize,
        window: (Instant, Instant),
    ) -> (usize, u64, u64) {
        tokio::time::sleep(settle).await;
        self.stop.store(true, Ordering::SeqCst);
        let record = self.load.await.unwrap();
        let (requests, failures, longest) = check_resumed(&record, tail);
        eprintln!("{requests} requests, {failures} failed, longest outage {longest} ms");
        // Every tenth request of the traffic is a join (see `traffic`).
        let joined: Vec<u128> = record
            .iter()
            .step_by(10)
            .filter(|(_, status, _)| *status == 200)
            .map(|(at, _, _)| *at)
            .collect();
        let ms = |t: Instant| t.saturating_duration_since(self.began).as_millis();
        let (from, to) = (ms(window.0), ms(window.1));
        let in_window = joined.iter().filter(|&&at| at >= from && at <= to).count();
        (failures, joined.len() as u64, in_window as u64)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_master_failover_during_traffic_resumes_and_reloads_scripts() {
    let cluster = RedisCluster::start(3, 1).expect("cluster");
    let masters = cluster.master_ports();
    let target = RedisTarget::parse(RedisMode::Cluster, &cluster.url_list(), "").unwrap();
    let app = Arc::new(app_on(target, masters.clone()).await);
    let (id, load) = room_under_traffic(&app, "failover").await;
    let old_master = owner(&masters, &app.store.keys().room(&id).room).await;
    let replica = cluster.replica_ports(old_master)[0];
    // The replica never ran a script of ours: flush its cache to be sure, so the new
    // master has to be sent them again.
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async::<()>(&mut node(replica).await)
        .await
        .unwrap();
    let began = Instant::now();
    let new_master = tokio::task::block_in_place(|| cluster.failover(old_master)).unwrap();
    eprintln!(
        "CLUSTER FAILOVER :{old_master} → :{new_master} took {:?}",
        began.elapsed()
    );
    assert_eq!(new_master, replica);
    let (_, joins, _) = load
        .finish(Duration::from_secs(2), 50, (began, Instant::now()))
        .await;

    // The scripts run on the new master (loaded again on NOSCRIPT).
    let sha = redis::Script::new(include_str!("../../lua/heartbeat.lua"))
        .get_hash()
        .to_owned();
    let loaded: Vec<i64> = redis::cmd("SCRIPT")
        .arg("EXISTS")
        .arg(&sha)
        .query_async(&mut node(new_master).await)
        .await
        .unwrap();
    assert_eq!(loaded, vec![1], "heartbeat script not on the new master");
    // No acknowledged write lost: everyone is still in the room, the room is live,
    // and the PV counts the 8 first joins and every join that succeeded since.
    let info = app.info("x", &id).await;
    assert_eq!(info["online_count"], 9, "{info}");
    assert_eq!(info["live_status"], 1);
    assert_eq!(info["pv"], 8 + joins, "{info}");
    let ready = crate::harness::http()
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_during_traffic_resumes_on_the_new_master() {
    let sentinels = RedisSentinels::start("liveroom").expect("sentinels");
    let target =
        RedisTarget::parse(RedisMode::Sentinel, &sentinels.url_list(), "liveroom").unwrap();
    let old_master = sentinels.master_port().unwrap();
    // Configured as one server, a sentinel or a replica is refused at start-up.
    let sentinel_port = sentinels.sentinel_ports()[0];
    let err = standalone_error(sentinel_port).await;
    assert!(err.contains("LIVEROOM_REDIS_MODE=sentinel"), "{err}");
    let replica = *sentinels
        .data_ports()
        .iter()
        .find(|&&p| p != old_master)
        .unwrap();
    let err = standalone_error(replica).await;
    assert!(err.contains("replica"), "{err}");
    let app = Arc::new(app_on(target, vec![old_master]).await);
    let (id, load) = room_under_traffic(&app, "sentinel").await;
    let began = Instant::now();
    let new_master = tokio::task::block_in_place(|| sentinels.failover()).unwrap();
    eprintln!(
        "SENTINEL FAILOVER :{old_master} → :{new_master} took {:?}",
        began.elapsed()
    );
    assert_ne!(new_master, old_master);
    // Writes a client sends while the sentinels are still switching over can reach
    // the old master and be lost when it is demoted (asynchronous replication; the
    // README's caveat); the service follows the master within one poll of a
    // majority of the sentinels naming it, so only joins in this window are at risk.
    let at_risk = (
        began,
        Instant::now() + 2 * liveroom::redis_conn::SENTINEL_POLL,
    );
    let (_, joins, joins_at_risk) = load.finish(Duration::from_secs(2), 50, at_risk).await;

    // Writes after the failover went to the new master.
    let r = app.user("late").join(&id).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let presence = app.store.keys().room(&id).presence;
    let score: Option<f64> = redis::cmd("ZSCORE")
        .arg(&presence)
        .arg("late")
        .query_async(&mut node(new_master).await)
        .await
        .unwrap();
    assert!(score.is_some(), "the join did not reach the new master");
    let info = app.info("x", &id).await;
    assert_eq!(info["online_count"], 10, "{info}");
    // The sentinels demote the old master seconds later, discarding whatever it
    // took meanwhile: no acknowledged write may have gone there. The PV counts the 8
    // first joins, every join of the traffic that succeeded, and the late one.
    let demoted = Instant::now();
    tokio::task::block_in_place(|| sentinels.wait_demoted(old_master, new_master)).unwrap();
    eprintln!("old master demoted {:?} later", demoted.elapsed());
    let info = app.info("x", &id).await;
    assert_eq!(info["live_status"], 1);
    let pv = info["pv"].as_u64().unwrap();
    let acknowledged = 8 + joins + 1;
    eprintln!(
        "PV {pv} of {acknowledged} acknowledged joins; {joins_at_risk} joined during the switch-over"
    );
    assert!(pv <= acknowledged, "{info}");
    assert!(
        acknowledged - pv <= joins_at_risk,
        "joins lost outside the switch-over: PV {pv}, acknowledged {acknowledged}, \
         at risk {joins_at_risk}"
    );
}

/// After an unattended failover (a master killed at `killed`): the traffic resumed —
/// beats that lost their presence to the outage are answered by the traffic's own
/// rejoins, as a client would — the outage was noticed, and the room is still live.
async fn resumed_after_kill(app: &TestApp, id: &str, load: Traffic, killed: Instant) {
    let (failures, _, _) = load
        .finish(Duration::from_secs(4), 30, (killed, killed))
        .await;
    assert!(failures > 0, "a killed master went unnoticed?");
    let info = app.info("x", id).await;
    assert_eq!(info["live_status"], 1, "{info}");
}

/// Waits (≤ `limit`) until `check` holds, polling every 100 ms.
async fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_master_killed_during_traffic_fails_over_on_its_own() {
    let mut cluster = RedisCluster::start(3, 1).expect("cluster");
    let masters = cluster.master_ports();
    let target = RedisTarget::parse(RedisMode::Cluster, &cluster.url_list(), "").unwrap();
    let app = Arc::new(app_on(target, masters.clone()).await);
    let (id, load) = room_under_traffic(&app, "kill -9").await;
    let old_master = owner(&masters, &app.store.keys().room(&id).room).await;
    let replica = cluster.replica_ports(old_master)[0];
    let killed = Instant::now();
    cluster.node_mut(old_master).unwrap().kill();
    // No operator action: the replica is elected once the node timeout (2 s) passes.
    let promoted = wait_for(Duration::from_secs(20), || {
        cluster.master_ports().contains(&replica)
    })
    .await;
    assert!(promoted, "the replica of a killed master was not promoted");
    eprintln!(
        "replica :{replica} promoted {:?} after kill -9",
        killed.elapsed()
    );
    resumed_after_kill(&app, &id, load, killed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_master_killed_during_traffic_fails_over_on_its_own() {
    let mut sentinels = RedisSentinels::start("liveroom").expect("sentinels");
    let target =
        RedisTarget::parse(RedisMode::Sentinel, &sentinels.url_list(), "liveroom").unwrap();
    let old_master = sentinels.master_port().unwrap();
    let app = Arc::new(app_on(target, vec![old_master]).await);
    let (id, load) = room_under_traffic(&app, "sentinel kill -9").await;
    let killed = Instant::now();
    sentinels.node_mut(old_master).unwrap().kill();
    // No operator action: the sentinels agree the master is down (1 s) and elect.
    let moved = wait_for(Duration::from_secs(30), || {
        sentinels.master_port().is_ok_and(|p| p != old_master)
    })
    .await;
    assert!(moved, "the sentinels did not fail over");
    eprintln!(
        "sentinels moved the master {:?} after kill -9",
        killed.elapsed()
    );
    resumed_after_kill(&app, &id, load, killed).await;
}

/// A sentinel that has not yet heard of a failover names the old master, which still
/// answers as a master until it is demoted; redis-rs's lookup takes the first
/// sentinel (in URL order) whose master answers. The lookup must ask the sentinels
/// that agree with most of the others first, or writes go to a master about to be
/// discarded. Stand-in for the lagging sentinel: the first one in the list watches a
/// decoy server under the master's name. Every (re)connection — at start-up and
/// after the connection is killed — must reach the real master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_sentinel_first_in_the_list_does_not_choose_the_master() {
    let sentinels = RedisSentinels::start("liveroom").expect("sentinels");
    let master = sentinels.master_port().unwrap();
    let decoy = RedisChild::start(&[]).expect("decoy redis-server");
    let first = sentinels.sentinel_ports()[0];
    let mut lagging = node(first).await;
    for args in [
        vec!["REMOVE", "liveroom"],
        vec![
            "MONITOR",
            "liveroom",
            "127.0.0.1",
            &decoy.port().to_string(),
            "2",
        ],
    ] {
        let () = redis::cmd("SENTINEL")
            .arg(&args)
            .query_async(&mut lagging)
            .await
            .unwrap();
    }
    let named: (String, u16) = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg("liveroom")
        .query_async(&mut lagging)
        .await
        .unwrap();
    assert_eq!(named.1, decoy.port());
    let target =
        RedisTarget::parse(RedisMode::Sentinel, &sentinels.url_list(), "liveroom").unwrap();
    assert!(target.urls[0].ends_with(&format!(":{first}")), "{target:?}");

    let app = app_on(target, vec![master]).await;
    let id = app.live_room("anchor", "lagging sentinel").await;
    for round in 0..3 {
        for i in 0..5 {
            app.join(&format!("v{round}-{i}"), &id).await;
        }
        // Force a new lookup: drop every client connection to the master.
        let _: i64 = redis::cmd("CLIENT")
            .arg(&["KILL", "TYPE", "normal", "SKIPME", "yes"][..])
            .query_async(&mut node(master).await)
            .await
            .unwrap();
        // A command meeting the dropped connection fails (503: it may or may not
        // have run); a read then finds the master again.
        let info = format!("/client/live/room/info/{id}");
        let mut reconnected = false;
        for _ in 0..20 {
            if app.get("x", &info).await.status == 200 {
                reconnected = true;
                break;
            }
            tokio::time::sleep(liveroom::redis_conn::SENTINEL_POLL).await;
        }
        assert!(
            reconnected,
            "no master found after the connection was dropped"
        );
    }
    app.join("last", &id).await;
    let decoy_keys: i64 = redis::cmd("DBSIZE")
        .query_async(&mut node(decoy.port()).await)
        .await
        .unwrap();
    assert_eq!(
        decoy_keys, 0,
        "writes went to the master only one sentinel named"
    );
    let info = app.info("x", &id).await;
    assert_eq!(info["pv"], 16, "{info}");
}
