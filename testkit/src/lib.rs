//! Redis topologies for tests, benchmarks and the load tool: [`RedisCluster`] runs a
//! local Redis Cluster and [`RedisSentinels`] a master, a replica and three
//! sentinels, all as plain `redis-server` child processes (the product's
//! [`RedisChild`], re-exported here) in a private temporary directory. Both use
//! `redis-cli` (from `PATH`) to set up, inspect and fail over; every call blocks
//! (test set-up). [`WebhookReceiver`] is a real HTTP server that records the
//! webhook deliveries it gets and answers as a test tells it.
//!
//! The parent-death signal is tied to the *thread* that started a child: start these
//! from the thread that owns them (a test's thread), not from a short-lived helper
//! thread, or the children die with that thread.

use std::collections::{BTreeSet, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use liveroom::redis_child::{RedisChild, free_port};

mod webhook_receiver;
pub use webhook_receiver::{Delivery, WebhookReceiver};

// ---------------------------------------------------------------------------
// Shared helpers: temporary directories, ports, redis-cli.

/// How long set-up and failovers wait for the topology to settle.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);
/// How long one `redis-cli` call may take before it is killed (a stalled server).
const CLI_LIMIT: Duration = Duration::from_secs(5);

/// A fresh, private directory under [`std::env::temp_dir`]; removed by its owner's `Drop`.
fn private_dir(kind: &str) -> Result<PathBuf, String> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    for _ in 0..100 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("liveroom-{kind}-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue, // stale
            Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
        }
    }
    Err(format!(
        "cannot create a private directory under {}",
        std::env::temp_dir().display()
    ))
}

/// A free port not in `taken` (which it is added to).
fn fresh_port(taken: &mut HashSet<u16>) -> Result<u16, String> {
    for _ in 0..100 {
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        if taken.insert(port) {
            return Ok(port);
        }
    }
    Err("no free port distinct from the others".into())
}

/// Starts a server on a fresh port, retrying (up to 5 ports) when it exits at
/// start-up, e.g. because the port was taken in between. `make_args(port)` gives the
/// config file (if any) and the arguments. Errors quote the end of `log(port)`.
fn start_fresh(
    taken: &mut HashSet<u16>,
    make: &mut dyn FnMut(u16) -> Result<(Option<PathBuf>, Vec<String>), String>,
    log: &dyn Fn(u16) -> PathBuf,
) -> Result<RedisChild, String> {
    let mut last_err = String::new();
    for _ in 0..5 {
        let port = fresh_port(taken)?;
        let (config, args) = make(port)?;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = match config.as_deref() {
            Some(file) => RedisChild::start_with_config(port, file, &args),
            None => RedisChild::start_on_port(port, &args),
        };
        match started {
            Ok(child) => return Ok(child),
            Err(e) if e.starts_with("cannot start") => return Err(e),
            Err(e) => last_err = format!("{e}{}", log_tail(&log(port))),
        }
    }
    Err(last_err)
}

/// The last lines of a log file, as `"; log <path>: …"`, or nothing.
fn log_tail(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => {
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(8)..].join("\n");
            format!("; log {}:\n{tail}", path.display())
        }
        _ => String::new(),
    }
}

/// Runs a command with stdin closed and its output captured, killing it after
/// `limit`. Returns the exit status (`None`: timed out), stdout and stderr.
fn run_limited(
    mut cmd: Command,
    limit: Duration,
) -> Result<(Option<ExitStatus>, String, String), String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        format!(
            "cannot run {:?} ({e}); is redis-cli installed?",
            cmd.get_program()
        )
    })?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = reader(child.stdout.take().map(|p| Box::new(p) as _));
    let err = reader(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < limit => std::thread::sleep(Duration::from_millis(2)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    Ok((status, out, err))
}

/// `redis-cli -e -p <port> <args>`: the raw reply text, or an error naming the
/// command and quoting what redis-cli printed (error reply, refused connection, time-out).
fn cli(port: u16, args: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["-e", "-p", &port.to_string()]).args(args);
    let (status, out, err) = run_limited(cmd, CLI_LIMIT)?;
    match status {
        Some(s) if s.success() && !out.starts_with("ERR") => Ok(out),
        Some(s) => Err(format!(
            "redis-cli -p {port} {}: {} ({s})",
            args.join(" "),
            format!("{} {}", out.trim(), err.trim()).trim()
        )),
        None => Err(format!(
            "redis-cli -p {port} {}: no reply within {} s",
            args.join(" "),
            CLI_LIMIT.as_secs()
        )),
    }
}

/// The value of `key:` in `INFO`-style text (`key:value` lines).
fn info_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        line.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

/// The value after `key` in redis-cli's raw, one-element-a-line output of a flat
/// key/value array (e.g. `SENTINEL master <name>`).
fn flat_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line == key {
            return lines.next();
        }
    }
    None
}

/// Polls `check` until it returns `Ok(Some(value))` or `limit` passes; the error
/// names `what` and the last reason `check` gave (`Ok(None)` with a reason set, or `Err`).
fn wait_until<T>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut(&mut String) -> Result<Option<T>, String>,
) -> Result<T, String> {
    let started = Instant::now();
    let mut reason = String::new();
    loop {
        match check(&mut reason) {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => reason = e,
        }
        if started.elapsed() >= limit {
            return Err(format!(
                "{what}: not within {} s (last: {reason})",
                limit.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------
// Redis Cluster.

/// One line of `CLUSTER NODES`, as far as we need it.
#[derive(Debug)]
struct NodeView {
    port: u16,
    master: bool,
    /// `fail` or `fail?`: the observer thinks it is down.
    failing: bool,
    /// Serves at least one slot.
    slots: bool,
}

fn parse_cluster_nodes(text: &str) -> Result<Vec<NodeView>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let bad = || format!("unexpected CLUSTER NODES line: {line}");
            if f.len() < 8 {
                return Err(bad());
            }
            let addr = f[1].split(['@', ',']).next().unwrap_or("");
            let port = addr
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .ok_or_else(bad)?;
            let flags: Vec<&str> = f[2].split(',').collect();
            Ok(NodeView {
                port,
                master: flags.contains(&"master"),
                failing: flags.contains(&"fail") || flags.contains(&"fail?"),
                slots: f.len() > 8,
            })
        })
        .collect()
}

/// One cluster node: its process and how to start it again.
struct ClusterNode {
    child: RedisChild,
    args: Vec<String>,
}

/// A local Redis Cluster of `redis-server` children on loopback ports, with its
/// node configuration files, RDB files and logs (`redis-<port>.log`) in a private
/// temporary directory. Dropping it kills every node and removes the directory.
pub struct RedisCluster {
    dir: PathBuf,
    nodes: Vec<ClusterNode>,
    masters: usize,
    replicas_per_master: usize,
}

impl RedisCluster {
    /// Starts `masters × (1 + replicas_per_master)` nodes (cluster node timeout
    /// 2000 ms, no persistence, each cluster bus on its own free port), joins them
    /// with `redis-cli --cluster create … --cluster-replicas N` (or, below the
    /// 3 masters that requires, with `CLUSTER ADDSLOTSRANGE` / `MEET` / `REPLICATE`),
    /// and waits (≤ 30 s) until every node reports `cluster_state:ok`, knows every
    /// other node with the right role, and every replica's link to its master is up.
    ///
    /// Errors: `masters` is 0; a node did not start (with the end of its log);
    /// `redis-cli` failed (with its output); or the cluster did not settle in time
    /// (with the last unmet condition). Nodes already started are killed.
    pub fn start(masters: usize, replicas_per_master: usize) -> Result<Self, String> {
        if masters == 0 {
            return Err("a cluster needs at least one master".into());
        }
        let dir = private_dir("cluster")?;
        let mut cluster = Self {
            dir,
            nodes: Vec::new(),
            masters,
            replicas_per_master,
        };
        let total = masters * (1 + replicas_per_master);
        let mut taken = HashSet::new();
        for _ in 0..total {
            let dir = cluster.dir.clone();
            let bus = fresh_port(&mut taken)?;
            let mut args = Vec::new();
            let child = start_fresh(
                &mut taken,
                &mut |port| {
                    let d = dir.display();
                    args = [
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        &format!("{d}/nodes-{port}.conf"),
                        "--cluster-port",
                        &bus.to_string(),
                        "--cluster-node-timeout",
                        "2000",
                        "--dir",
                        &d.to_string(),
                        "--dbfilename",
                        &format!("dump-{port}.rdb"),
                        "--appendonly",
                        "no",
                        // Full syncs at once, not after the default 5 s wait for
                        // more replicas.
                        "--repl-diskless-sync-delay",
                        "0",
                        "--logfile",
                        &format!("{d}/redis-{port}.log"),
                        "--loglevel",
                        "notice",
                    ]
                    .map(String::from)
                    .to_vec();
                    Ok((None, args.clone()))
                },
                &|port| dir.join(format!("redis-{port}.log")),
            )
            .map_err(|e| format!("cluster node did not start: {e}"))?;
            cluster.nodes.push(ClusterNode { child, args });
        }
        if masters >= 3 {
            cluster.create_with_cli()?;
        } else {
            cluster.create_by_hand()?;
        }
        cluster.wait_settled()?;
        Ok(cluster)
    }

    fn create_with_cli(&self) -> Result<(), String> {
        let mut cmd = Command::new("redis-cli");
        cmd.arg("--cluster").arg("create");
        for port in self.ports() {
            cmd.arg(format!("127.0.0.1:{port}"));
        }
        cmd.args([
            "--cluster-replicas",
            &self.replicas_per_master.to_string(),
            "--cluster-yes",
        ]);
        let (status, out, err) = run_limited(cmd, Duration::from_secs(60))?;
        match status {
            Some(s) if s.success() && out.contains("All 16384 slots covered") => Ok(()),
            _ => Err(format!(
                "redis-cli --cluster create failed ({}):\n{out}{err}",
                status.map_or("timed out".to_owned(), |s| s.to_string())
            )),
        }
    }

    /// Below 3 masters `redis-cli --cluster create` refuses: slots, meet, replicate.
    fn create_by_hand(&self) -> Result<(), String> {
        let ports = self.ports();
        let (masters, replicas) = ports.split_at(self.masters);
        for (i, &port) in masters.iter().enumerate() {
            let first = 16384 * i / self.masters;
            let last = 16384 * (i + 1) / self.masters - 1;
            cli(
                port,
                &[
                    "CLUSTER",
                    "ADDSLOTSRANGE",
                    &first.to_string(),
                    &last.to_string(),
                ],
            )?;
        }
        let first = &self.nodes[0];
        let bus = Self::arg_after(&first.args, "--cluster-port");
        for &port in &ports[1..] {
            cli(
                port,
                &[
                    "CLUSTER",
                    "MEET",
                    "127.0.0.1",
                    &first.child.port().to_string(),
                    bus,
                ],
            )?;
        }
        let ids = masters
            .iter()
            .map(|&p| cli(p, &["CLUSTER", "MYID"]).map(|id| id.trim().to_owned()))
            .collect::<Result<Vec<_>, _>>()?;
        for (k, &port) in replicas.iter().enumerate() {
            let master_id = &ids[k / self.replicas_per_master];
            // Retried: the replica must first learn of its master through gossip.
            wait_until(
                &format!("CLUSTER REPLICATE on node {port}"),
                SETTLE_LIMIT,
                |_| cli(port, &["CLUSTER", "REPLICATE", master_id]).map(Some),
            )?;
        }
        Ok(())
    }

    fn arg_after<'a>(args: &'a [String], name: &str) -> &'a str {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or("", String::as_str)
    }

    /// Waits until every live node is `cluster_state:ok`, sees every node, and all
    /// agree on `masters` slot-serving masters and the replicas, links up.
    fn wait_settled(&self) -> Result<(), String> {
        let total = self.nodes.len();
        wait_until("cluster did not settle", SETTLE_LIMIT, |reason| {
            let mut agreed: Option<BTreeSet<u16>> = None;
            for port in self.live_ports() {
                let info = cli(port, &["CLUSTER", "INFO"])?;
                if info_field(&info, "cluster_state") != Some("ok") {
                    *reason = format!("node {port}: cluster_state not ok");
                    return Ok(None);
                }
                let view = parse_cluster_nodes(&cli(port, &["CLUSTER", "NODES"])?)?;
                let serving: BTreeSet<u16> = view
                    .iter()
                    .filter(|n| n.master && n.slots)
                    .map(|n| n.port)
                    .collect();
                if view.len() != total
                    || serving.len() != self.masters
                    || view.iter().any(|n| n.failing)
                    || view.iter().filter(|n| !n.master).count()
                        != self.masters * self.replicas_per_master
                {
                    *reason = format!("node {port} sees {view:?}");
                    return Ok(None);
                }
                if agreed.get_or_insert_with(|| serving.clone()) != &serving {
                    *reason = format!("nodes disagree on the masters: {agreed:?} / {serving:?}");
                    return Ok(None);
                }
                let repl = cli(port, &["INFO", "replication"])?;
                if info_field(&repl, "role") == Some("slave")
                    && info_field(&repl, "master_link_status") != Some("up")
                {
                    *reason = format!("replica {port}: master link not up");
                    return Ok(None);
                }
            }
            Ok(Some(()))
        })
    }

    /// The ports of nodes not killed through [`node_mut`](Self::node_mut).
    fn live_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| !n.child.is_killed())
            .map(|n| n.child.port())
            .collect()
    }

    /// `redis://127.0.0.1:<port>` of every node, masters and replicas, in start order.
    pub fn seed_urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.child.url()).collect()
    }

    /// [`seed_urls`](Self::seed_urls) joined with commas (no spaces).
    pub fn url_list(&self) -> String {
        self.seed_urls().join(",")
    }

    /// Every node's port (also killed ones), in start order.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.child.port()).collect()
    }

    /// The ports of the live nodes that report `role:master` in `INFO replication`,
    /// ascending. Nodes that are killed or do not answer (within 5 s) are left out.
    pub fn master_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .live_ports()
            .into_iter()
            .filter(|&p| {
                cli(p, &["INFO", "replication"])
                    .is_ok_and(|r| info_field(&r, "role") == Some("master"))
            })
            .collect();
        ports.sort_unstable();
        ports
    }

    /// The ports of the live nodes replicating the node on `master_port` (by their
    /// `INFO replication`), ascending.
    pub fn replica_ports(&self, master_port: u16) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .live_ports()
            .into_iter()
            .filter(|&p| {
                cli(p, &["INFO", "replication"]).is_ok_and(|r| {
                    info_field(&r, "role") == Some("slave")
                        && info_field(&r, "master_port") == Some(&master_port.to_string())
                })
            })
            .collect();
        ports.sort_unstable();
        ports
    }

    /// Promotes a replica of the master on `master_port` with `CLUSTER FAILOVER`
    /// (`CLUSTER FAILOVER FORCE` if that master does not answer, e.g. killed), then
    /// waits (≤ 30 s) until the replica reports `role:master`, the old master (if
    /// alive) `role:slave`, and every live node `cluster_state:ok` with the replica
    /// serving the slots. Returns the new master's port.
    ///
    /// Errors: no live replica of that master; the command failed; or the cluster
    /// did not settle in time (with the last unmet condition).
    pub fn failover(&self, master_port: u16) -> Result<u16, String> {
        let replica = *self
            .replica_ports(master_port)
            .first()
            .ok_or_else(|| format!("no live replica of node {master_port}"))?;
        let old_alive =
            self.live_ports().contains(&master_port) && cli(master_port, &["PING"]).is_ok();
        let command: &[&str] = if old_alive {
            &["CLUSTER", "FAILOVER"]
        } else {
            &["CLUSTER", "FAILOVER", "FORCE"]
        };
        cli(replica, command)?;
        wait_until(
            &format!("failover of {master_port} to {replica}"),
            SETTLE_LIMIT,
            |reason| {
                let repl = cli(replica, &["INFO", "replication"])?;
                if info_field(&repl, "role") != Some("master") {
                    *reason = format!("{replica} is not master yet");
                    return Ok(None);
                }
                if old_alive {
                    let repl = cli(master_port, &["INFO", "replication"])?;
                    if info_field(&repl, "role") != Some("slave") {
                        *reason = format!("old master {master_port} is not a replica yet");
                        return Ok(None);
                    }
                }
                for port in self.live_ports() {
                    let info = cli(port, &["CLUSTER", "INFO"])?;
                    if info_field(&info, "cluster_state") != Some("ok") {
                        *reason = format!("node {port}: cluster_state not ok");
                        return Ok(None);
                    }
                    let view = parse_cluster_nodes(&cli(port, &["CLUSTER", "NODES"])?)?;
                    let serves = |p| view.iter().any(|n| n.port == p && n.master && n.slots);
                    if !serves(replica) || serves(master_port) {
                        *reason = format!("node {port} has not seen the failover: {view:?}");
                        return Ok(None);
                    }
                }
                Ok(Some(replica))
            },
        )
    }

    /// The child on `port`, e.g. to [`kill`](RedisChild::kill) or stall it; `None`
    /// if no node has that port.
    pub fn node_mut(&mut self, port: u16) -> Option<&mut RedisChild> {
        self.nodes
            .iter_mut()
            .find(|n| n.child.port() == port)
            .map(|n| &mut n.child)
    }

    /// Starts a killed node again on the same port, with the same options and node
    /// configuration file, so it rejoins the cluster under its old node id (a failed
    /// over master comes back as a replica). Waits only for `PING`.
    ///
    /// Errors: no node on `port`, the node is not killed, or it did not start.
    pub fn restart_node(&mut self, port: u16) -> Result<(), String> {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.child.port() == port)
            .ok_or_else(|| format!("no cluster node on port {port}"))?;
        if !node.child.is_killed() {
            return Err(format!("cluster node {port} is still running"));
        }
        let args: Vec<&str> = node.args.iter().map(String::as_str).collect();
        node.child = RedisChild::start_on_port(port, &args).map_err(|e| {
            format!(
                "cluster node {port} did not restart: {e}{}",
                log_tail(&self.dir.join(format!("redis-{port}.log")))
            )
        })?;
        Ok(())
    }

    /// The node id (`CLUSTER MYID`) of the node on `port`.
    pub fn node_id(&self, port: u16) -> Result<String, String> {
        Ok(cli(port, &["CLUSTER", "MYID"])?.trim().to_owned())
    }

    /// The private directory with the nodes' configuration files and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.child.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------
// Sentinels.

/// A local Sentinel set-up: one master, one replica and three sentinels (quorum 2,
/// down-after 1000 ms, failover timeout 5000 ms), as `redis-server` children on
/// loopback ports. Each sentinel has its own writable configuration file in a private
/// temporary directory, with the logs (`redis-<port>.log`, `sentinel-<port>.log`).
/// Dropping it kills every process and removes the directory.
pub struct RedisSentinels {
    dir: PathBuf,
    name: String,
    /// The master as started, then the replica.
    nodes: Vec<RedisChild>,
    sentinels: Vec<RedisChild>,
}

impl RedisSentinels {
    /// Starts the master, the replica (`--replicaof` the master) and three sentinels
    /// monitoring the master as `master_name`, then waits (≤ 30 s) until the replica's
    /// link is up and every sentinel sees the master up, the replica, and the two
    /// other sentinels (found through hello messages: a few seconds).
    ///
    /// Errors: `master_name` is empty or has whitespace; a process did not start
    /// (with the end of its log); or the set-up did not settle in time.
    pub fn start(master_name: &str) -> Result<Self, String> {
        if master_name.is_empty() || master_name.contains(char::is_whitespace) {
            return Err(format!("bad sentinel master name {master_name:?}"));
        }
        let mut this = Self {
            dir: private_dir("sentinel")?,
            name: master_name.to_owned(),
            nodes: Vec::new(),
            sentinels: Vec::new(),
        };
        let dir = this.dir.clone();
        let d = dir.display().to_string();
        let mut taken = HashSet::new();
        let node_log = |port: u16| dir.join(format!("redis-{port}.log"));
        for role in ["master", "replica"] {
            let replica_of = this.nodes.first().map(|m| m.port().to_string());
            let child = start_fresh(
                &mut taken,
                &mut |port| {
                    let mut args = vec![
                        "--appendonly".to_owned(),
                        "no".to_owned(),
                        "--repl-diskless-sync-delay".to_owned(),
                        "0".to_owned(),
                        "--dir".to_owned(),
                        d.clone(),
                        "--dbfilename".to_owned(),
                        format!("dump-{port}.rdb"),
                        "--logfile".to_owned(),
                        node_log(port).display().to_string(),
                        "--loglevel".to_owned(),
                        "notice".to_owned(),
                    ];
                    if let Some(master) = &replica_of {
                        args.extend(["--replicaof".to_owned(), "127.0.0.1".to_owned()]);
                        args.push(master.clone());
                    }
                    Ok((None, args))
                },
                &node_log,
            )
            .map_err(|e| format!("sentinel {role} did not start: {e}"))?;
            this.nodes.push(child);
        }
        let master_port = this.nodes[0].port();
        let sentinel_log = |port: u16| dir.join(format!("sentinel-{port}.log"));
        for _ in 0..3 {
            let child = start_fresh(
                &mut taken,
                &mut |port| {
                    let conf = dir.join(format!("sentinel-{port}.conf"));
                    let name = master_name;
                    let text = format!(
                        "port {port}\nbind 127.0.0.1\ndir {d}\n\
                         sentinel resolve-hostnames no\n\
                         sentinel monitor {name} 127.0.0.1 {master_port} 2\n\
                         sentinel down-after-milliseconds {name} 1000\n\
                         sentinel failover-timeout {name} 5000\n\
                         sentinel parallel-syncs {name} 1\n"
                    );
                    std::fs::write(&conf, text)
                        .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
                    let args = [
                        "--sentinel".to_owned(),
                        "--logfile".to_owned(),
                        sentinel_log(port).display().to_string(),
                        "--loglevel".to_owned(),
                        "notice".to_owned(),
                    ];
                    Ok((Some(conf), args.to_vec()))
                },
                &sentinel_log,
            )
            .map_err(|e| format!("sentinel did not start: {e}"))?;
            this.sentinels.push(child);
        }
        this.wait_settled()?;
        Ok(this)
    }

    /// Waits until the replica's link is up and each sentinel sees the master up,
    /// a replica up and two other sentinels.
    fn wait_settled(&self) -> Result<(), String> {
        let name = self.name.as_str();
        let replica = self.nodes[1].port();
        wait_until("sentinels did not settle", SETTLE_LIMIT, |reason| {
            let repl = cli(replica, &["INFO", "replication"])?;
            if info_field(&repl, "master_link_status") != Some("up") {
                *reason = format!("replica {replica}: master link not up");
                return Ok(None);
            }
            for s in &self.sentinels {
                let master = cli(s.port(), &["SENTINEL", "MASTER", name])?;
                let replicas = cli(s.port(), &["SENTINEL", "REPLICAS", name])?;
                if flat_field(&master, "flags") != Some("master")
                    || flat_field(&master, "num-other-sentinels") != Some("2")
                    || flat_field(&replicas, "flags") != Some("slave")
                {
                    *reason = format!(
                        "sentinel {}: master {master:?}, replicas {replicas:?}",
                        s.port()
                    );
                    return Ok(None);
                }
            }
            Ok(Some(()))
        })
    }

    /// `redis://127.0.0.1:<port>` of each sentinel.
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels.iter().map(RedisChild::url).collect()
    }

    /// [`sentinel_urls`](Self::sentinel_urls) joined with commas (no spaces).
    pub fn url_list(&self) -> String {
        self.sentinel_urls().join(",")
    }

    /// The name the sentinels monitor the master as.
    pub fn master_name(&self) -> &str {
        &self.name
    }

    /// The sentinels' ports.
    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(|s| s.port()).collect()
    }

    /// The ports of the two data nodes: the master as started, then the replica.
    pub fn data_ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port()).collect()
    }

    /// The current master's port, by `SENTINEL get-master-addr-by-name` on the first
    /// sentinel that answers. Errors: no sentinel answered, or the reply was not an
    /// address.
    pub fn master_port(&self) -> Result<u16, String> {
        let mut last_err = String::from("every sentinel is killed");
        for s in self.sentinels.iter().filter(|s| !s.is_killed()) {
            match self.master_port_from(s.port()) {
                Ok(port) => return Ok(port),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    fn master_port_from(&self, sentinel: u16) -> Result<u16, String> {
        let reply = cli(
            sentinel,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", &self.name],
        )?;
        reply
            .lines()
            .nth(1)
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| format!("sentinel {sentinel}: no master address in {reply:?}"))
    }

    /// Forces a failover with `SENTINEL FAILOVER <name>` (retried while the sentinel
    /// has no suitable replica yet), then waits (≤ 30 s) until every live sentinel
    /// reports the same, different master port and that node reports `role:master`.
    /// Returns the new master's port.
    ///
    /// The old master is left to the sentinels, as in production: it keeps
    /// `role:master` (and accepts writes from clients still connected to it) until a
    /// sentinel converts it, about 10 s later; see [`RedisSentinels::wait_demoted`].
    ///
    /// Errors: no sentinel answered, the command failed, or the failover did not
    /// complete in time (with the last unmet condition).
    pub fn failover(&self) -> Result<u16, String> {
        let old = self.master_port()?;
        let sentinel = self
            .sentinels
            .iter()
            .find(|s| !s.is_killed())
            .ok_or("every sentinel is killed")?
            .port();
        let started = Instant::now();
        loop {
            match cli(sentinel, &["SENTINEL", "FAILOVER", &self.name]) {
                Ok(_) => break,
                // The sentinel has not yet refreshed the replica's INFO: retry.
                Err(e) if e.contains("NOGOODSLAVE") && started.elapsed() < SETTLE_LIMIT => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(format!("SENTINEL FAILOVER failed: {e}")),
            }
        }
        wait_until(
            &format!("failover away from {old}"),
            SETTLE_LIMIT,
            |reason| {
                let mut seen = BTreeSet::new();
                for s in self.sentinels.iter().filter(|s| !s.is_killed()) {
                    seen.insert(self.master_port_from(s.port())?);
                }
                let new = match seen.iter().collect::<Vec<_>>()[..] {
                    [&p] if p != old => p,
                    _ => {
                        *reason = format!("sentinels report masters {seen:?}");
                        return Ok(None);
                    }
                };
                let repl = cli(new, &["INFO", "replication"])?;
                if info_field(&repl, "role") != Some("master") {
                    *reason = format!("{new} is not master yet");
                    return Ok(None);
                }
                Ok(Some(new))
            },
        )
    }

    /// Waits (≤ 30 s) until the master on `old` (if alive) has been turned into a
    /// replica of `new` by the sentinels themselves (`+convert-to-slave`, which Sentinel
    /// does seconds after a failover) and its link is up. Until then the old master
    /// still accepts writes; whatever it took is discarded when it resynchronises.
    ///
    /// Errors: the conversion did not happen in time (with the last unmet condition).
    pub fn wait_demoted(&self, old: u16, new: u16) -> Result<(), String> {
        if !self.nodes.iter().any(|n| n.port() == old && !n.is_killed()) {
            return Ok(());
        }
        wait_until(&format!("sentinels demote {old}"), SETTLE_LIMIT, |reason| {
            let repl = cli(old, &["INFO", "replication"])?;
            if info_field(&repl, "master_port") != Some(&new.to_string())
                || info_field(&repl, "master_link_status") != Some("up")
            {
                *reason = format!("old master {old} is not replicating {new} yet");
                return Ok(None);
            }
            Ok(Some(()))
        })
    }

    /// The master or replica child on `port` (see [`data_ports`](Self::data_ports)),
    /// e.g. to [`kill`](RedisChild::kill) it; `None` for any other port.
    pub fn node_mut(&mut self, port: u16) -> Option<&mut RedisChild> {
        self.nodes.iter_mut().find(|n| n.port() == port)
    }

    /// The sentinel child on `port`; `None` for any other port.
    pub fn sentinel_mut(&mut self, port: u16) -> Option<&mut RedisChild> {
        self.sentinels.iter_mut().find(|s| s.port() == port)
    }

    /// The private directory with the sentinels' configuration files and the logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RedisSentinels {
    fn drop(&mut self) {
        for child in self.sentinels.iter_mut().chain(self.nodes.iter_mut()) {
            child.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
