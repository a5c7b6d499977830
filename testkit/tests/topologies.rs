//! The local Redis Cluster and Sentinel topologies of this crate:
//! start-up, failover, and that every process is gone after drop.

use std::process::Command;
use std::time::Instant;

use liveroom_testkit::{RedisChild, RedisCluster, RedisSentinels};

/// `redis-cli <args>`: (success, trimmed stdout).
fn redis_cli(args: &[&str]) -> (bool, String) {
    let out = Command::new("redis-cli").args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

/// Whether a process with this pid still exists (and is not a zombie of ours).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[test]
fn child_kill_is_idempotent_and_signal_after_kill_is_harmless() {
    let mut redis = RedisChild::start(&[]).unwrap();
    let pid = redis.pid();
    assert!(alive(pid));
    redis.kill();
    assert!(redis.is_killed());
    assert!(!alive(pid));
    redis.kill();
    redis.signal(libc::SIGCONT);
}

#[test]
fn cluster_starts_serves_and_fails_over() {
    let started = Instant::now();
    let mut cluster = RedisCluster::start(3, 1).unwrap();
    eprintln!("cluster 3x1 started in {:?}", started.elapsed());
    let pids: Vec<u32> = cluster
        .ports()
        .iter()
        .map(|&p| cluster.node_mut(p).unwrap().pid())
        .collect();
    let dir = cluster.dir().to_owned();
    assert_eq!(cluster.ports().len(), 6);
    assert_eq!(cluster.seed_urls().len(), 6);
    assert_eq!(cluster.url_list().split(',').count(), 6);
    assert!(cluster.url_list().starts_with("redis://127.0.0.1:"));

    let masters = cluster.master_ports();
    assert_eq!(masters.len(), 3, "{masters:?}");
    let port = masters[0].to_string();
    assert_eq!(
        redis_cli(&["-c", "-p", &port, "SET", "{a}", "1"]),
        (true, "OK".into())
    );
    assert_eq!(
        redis_cli(&["-c", "-p", &port, "GET", "{a}"]),
        (true, "1".into())
    );

    let old = masters[0];
    let started = Instant::now();
    let new = cluster.failover(old).unwrap();
    eprintln!("cluster failover {old} -> {new} in {:?}", started.elapsed());
    assert_ne!(new, old);
    let after = cluster.master_ports();
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(after.contains(&new) && !after.contains(&old), "{after:?}");
    assert_eq!(cluster.replica_ports(new), vec![old]);
    let port = new.to_string();
    assert_eq!(
        redis_cli(&["-c", "-p", &port, "GET", "{a}"]),
        (true, "1".into())
    );

    // kill -9 of a master: its replica takes over (forced, as the master is gone).
    let victim = after.iter().copied().find(|&p| p != new).unwrap();
    cluster.node_mut(victim).unwrap().kill();
    let started = Instant::now();
    let promoted = cluster.failover(victim).unwrap();
    eprintln!(
        "cluster failover of killed {victim} -> {promoted} in {:?}",
        started.elapsed()
    );
    let masters = cluster.master_ports();
    assert!(masters.contains(&promoted) && !masters.contains(&victim));
    assert_eq!(masters.len(), 3);

    // Restarted, it comes back as a replica of the promoted node.
    cluster.restart_node(victim).unwrap();
    let started = Instant::now();
    while cluster.replica_ports(promoted) != vec![victim] {
        assert!(started.elapsed().as_secs() < 30, "{victim} did not rejoin");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    drop(cluster);
    assert!(
        pids.iter().all(|&p| !alive(p)),
        "a cluster node outlived drop"
    );
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn small_cluster_without_cli_create() {
    let started = Instant::now();
    let cluster = RedisCluster::start(1, 1).unwrap();
    eprintln!("cluster 1x1 started in {:?}", started.elapsed());
    let masters = cluster.master_ports();
    assert_eq!(masters.len(), 1);
    let port = masters[0].to_string();
    assert_eq!(
        redis_cli(&["-c", "-p", &port, "SET", "k", "v"]),
        (true, "OK".into())
    );
    let new = cluster.failover(masters[0]).unwrap();
    assert_eq!(cluster.master_ports(), vec![new]);
}

#[test]
fn sentinels_start_and_fail_over() {
    let started = Instant::now();
    let mut sentinels = RedisSentinels::start("lrmaster").unwrap();
    eprintln!("sentinels started in {:?}", started.elapsed());
    let dir = sentinels.dir().to_owned();
    let mut pids: Vec<u32> = Vec::new();
    for p in sentinels.data_ports() {
        pids.push(sentinels.node_mut(p).unwrap().pid());
    }
    for p in sentinels.sentinel_ports() {
        pids.push(sentinels.sentinel_mut(p).unwrap().pid());
    }
    assert_eq!(sentinels.master_name(), "lrmaster");
    assert_eq!(sentinels.sentinel_urls().len(), 3);
    assert_eq!(sentinels.url_list().split(',').count(), 3);
    let old = sentinels.master_port().unwrap();
    assert_eq!(old, sentinels.data_ports()[0]);
    let (ok, _) = redis_cli(&["-p", &old.to_string(), "SET", "before", "1"]);
    assert!(ok);

    let started = Instant::now();
    let new = sentinels.failover().unwrap();
    eprintln!(
        "sentinel failover {old} -> {new} in {:?}",
        started.elapsed()
    );
    assert_ne!(new, old);
    assert_eq!(sentinels.master_port().unwrap(), new);
    let port = new.to_string();
    assert_eq!(
        redis_cli(&["-p", &port, "SET", "after", "2"]),
        (true, "OK".into())
    );
    assert_eq!(
        redis_cli(&["-p", &port, "GET", "before"]),
        (true, "1".into())
    );
    // The sentinels turn the old master into a replica of the new one (seconds later).
    sentinels.wait_demoted(old, new).unwrap();
    let (_, info) = redis_cli(&["-p", &old.to_string(), "INFO", "replication"]);
    assert!(info.contains("role:slave"), "{info}");
    assert!(info.contains(&format!("master_port:{new}")), "{info}");

    // kill -9 of the new master: the sentinels fail back over to the old one.
    sentinels.node_mut(new).unwrap().kill();
    let started = Instant::now();
    while sentinels.master_port().unwrap() != old {
        assert!(started.elapsed().as_secs() < 30, "no failover after kill");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    eprintln!(
        "automatic failover after kill -9 in {:?}",
        started.elapsed()
    );

    drop(sentinels);
    assert!(pids.iter().all(|&p| !alive(p)), "a process outlived drop");
    assert!(!dir.exists(), "{} left behind", dir.display());
}
