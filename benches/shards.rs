//! Scale benchmark: heartbeat throughput and Redis CPU per shard
//! with 1 and with 3 Redis Cluster masters, driven by the real load tool.
//!
//! For each configuration it starts a local cluster (`RedisCluster::start(masters,
//! 0)`), one release `liveroom serve` replica in cluster mode, and runs
//! `liveroom-loadtest heartbeat-max --users 10000 --rooms 60` (60 rooms so that the
//! room hash tags `{live_id}` spread over 3 masters) for `BENCH_SECONDS` (default
//! 10) after a 2 s warm-up with `BENCH_CONNECTIONS` (default 32) connections. Around
//! the measured window it reads, per master: `CONFIG RESETSTAT` before, then
//! `INFO commandstats` (EVALSHA calls and µs), the `INFO cpu` delta (user + sys)
//! and the key distribution (`DBSIZE`, rooms per master by `SCAN`).
//!
//! It prints one Markdown table per configuration and a 1-vs-3 summary. On a small
//! machine the total throughput need not grow (the replica, the tool and Redis share
//! the cores); what the benchmark shows is the work spreading over the shards: each
//! master's share of keys, calls and CPU, and the busiest master's CPU dropping.
//!
//! Run: `loadtest/bench-shards` (builds the release binaries first), or
//! `cargo build --release -p liveroom -p liveroom-loadtest && cargo bench --bench shards`.
//! Needs `redis-server` and `redis-cli` on `PATH`. Progress goes to stderr, the
//! tables to stdout.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use liveroom::config::DEV_JWT_SECRET;
use liveroom_testkit::{RedisCluster, free_port};

/// Users joined during the tool's setup; the heartbeats rotate over them.
const USERS: usize = 10_000;
/// Live rooms the users are spread over: enough for an even-ish spread on 3 masters.
const ROOMS: usize = 60;
/// Traffic before the measured window, left out of every figure.
const WARMUP: Duration = Duration::from_secs(2);
/// The heartbeat interval the sizing figure assumes (SPEC §6).
const HEARTBEAT_INTERVAL_S: f64 = 5.0;
/// The cluster sizes compared.
const MASTERS: [usize; 2] = [1, 3];

/// Settings from the environment.
struct Settings {
    /// `BENCH_SECONDS`: length of the measured window.
    seconds: u64,
    /// `BENCH_CONNECTIONS`: the tool's concurrent requests.
    connections: u32,
}

impl Settings {
    fn from_env() -> Self {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}={v:?} is not a positive number")),
                Err(_) => default,
            }
        }
        let this = Self {
            seconds: var("BENCH_SECONDS", 10),
            connections: var("BENCH_CONNECTIONS", 32),
        };
        assert!(this.seconds > 0, "BENCH_SECONDS must be at least 1");
        assert!(this.connections > 0, "BENCH_CONNECTIONS must be at least 1");
        this
    }
}

fn main() {
    let settings = Settings::from_env();
    let bins = Binaries::find();
    let mut results = Vec::new();
    for masters in MASTERS {
        // The cluster is started (and owned) by this, the main, thread: its children
        // die with the thread that started them.
        let result = run_config(masters, &settings, &bins);
        print_config(&result, &settings);
        results.push(result);
    }
    print_summary(&results);
}

// ---------------------------------------------------------------------------
// Processes.

/// The two release binaries the benchmark drives.
struct Binaries {
    liveroom: PathBuf,
    loadtest: PathBuf,
}

impl Binaries {
    /// `liveroom` is the one Cargo built for this bench; the load tool sits next to it
    /// (same profile directory) once `cargo build --release -p liveroom-loadtest` ran.
    fn find() -> Self {
        let liveroom = PathBuf::from(env!("CARGO_BIN_EXE_liveroom"));
        let loadtest = liveroom.with_file_name("liveroom-loadtest");
        for bin in [&liveroom, &loadtest] {
            assert!(
                bin.is_file(),
                "{} is missing: run `cargo build --release -p liveroom -p liveroom-loadtest` \
                 (loadtest/bench-shards does)",
                bin.display()
            );
        }
        Self { liveroom, loadtest }
    }
}

/// A child process that is killed (`SIGKILL`) and reaped when dropped, also when
/// the benchmark panics; on Linux it also dies with the thread that started it.
struct KillOnDrop {
    child: Child,
}

impl KillOnDrop {
    fn spawn(cmd: &mut Command) -> std::io::Result<Self> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe; it only sets this child's parent-death signal.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        Ok(Self {
            child: cmd.spawn()?,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // After a successful wait() std sends no signal (the pid may be reused).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds (user + system) a live process has used so far, from `/proc/<pid>/stat`.
fn process_cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3: state.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the state (field 3).
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => {
            // SAFETY: sysconf only reads a constant of the system.
            let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
            (u + s) / hz
        }
        _ => f64::NAN,
    }
}

/// Starts `liveroom serve` in cluster mode on a free port and waits (≤ 30 s) until
/// `/readyz` answers 200. Its stderr goes to `log`.
fn start_liveroom(bins: &Binaries, cluster_urls: &str, log: &Path) -> (KillOnDrop, u16) {
    let port = free_port().expect("free port");
    let log_file = std::fs::File::create(log).expect("liveroom log file");
    let service = KillOnDrop::spawn(
        Command::new(&bins.liveroom)
            .arg("serve")
            .env("LIVEROOM_LISTEN", format!("127.0.0.1:{port}"))
            .env("LIVEROOM_REDIS_MODE", "cluster")
            .env("LIVEROOM_REDIS_URL", cluster_urls)
            .env("LIVEROOM_JWT_SECRET", DEV_JWT_SECRET)
            .env("RUST_LOG", "warn")
            .env("LIVEROOM_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file),
    )
    .unwrap_or_else(|e| panic!("cannot start {}: {e}", bins.liveroom.display()));
    let started = Instant::now();
    let mut service = service;
    loop {
        if let Ok(Some(status)) = service.child.try_wait() {
            panic!("liveroom exited at start-up ({status}):\n{}", tail(log));
        }
        if http_status(port, "/readyz") == Some(200) {
            return (service, port);
        }
        if started.elapsed() > Duration::from_secs(30) {
            panic!("liveroom not ready within 30 s:\n{}", tail(log));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The HTTP status of `GET path` on 127.0.0.1:`port`, or `None` when it did not answer.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 32];
    let n = s.read(&mut head).ok()?;
    let line = std::str::from_utf8(&head[..n]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The last lines of a log file.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

// ---------------------------------------------------------------------------
// Redis figures.

/// Where the keys are on one master, read once the tool's setup is done (all rooms
/// created, all users joined) and before the measured window: the tool deletes its
/// rooms as soon as the window ends.
#[derive(Clone, Copy, Default)]
struct KeyCensus {
    /// Hash slots this master serves (`CLUSTER NODES`, its `myself` line).
    slots: u64,
    /// Rooms whose keys live here (`…:{live_id}:room` hashes found by `SCAN`).
    rooms: u64,
    /// Keys under the `{global}` hash tag here (all on one master).
    global_keys: u64,
    /// `DBSIZE`.
    keys: u64,
}

/// One master's figures: the key census, then the measured window.
struct MasterFigures {
    port: u16,
    census: KeyCensus,
    /// `cmdstat_evalsha` calls in the window.
    evalsha_calls: u64,
    /// `cmdstat_evalsha` µs in the window (time inside the scripts).
    evalsha_usec: u64,
    /// Calls of every other command in the window: mostly those run inside the
    /// scripts (commandstats counts them too, and their µs within the script's).
    other_calls: u64,
    /// Process CPU (`used_cpu_user + used_cpu_sys`) used in the window, seconds.
    cpu_s: f64,
}

/// A plain (not cluster-aware) connection to one master.
struct Master {
    port: u16,
    conn: redis::Connection,
    census: KeyCensus,
    cpu_before: f64,
}

impl Master {
    fn connect(port: u16) -> Self {
        let conn = redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .and_then(|c| c.get_connection())
            .unwrap_or_else(|e| panic!("cannot connect to master {port}: {e}"));
        Self {
            port,
            conn,
            census: KeyCensus::default(),
            cpu_before: 0.0,
        }
    }

    fn info(&mut self, section: &str) -> String {
        redis::cmd("INFO")
            .arg(section)
            .query(&mut self.conn)
            .unwrap_or_else(|e| panic!("INFO {section} on {}: {e}", self.port))
    }

    fn cpu_s(&mut self) -> f64 {
        let info = self.info("cpu");
        let field = |key: &str| -> f64 {
            info.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {key} in INFO cpu of {}", self.port))
        };
        field("used_cpu_user") + field("used_cpu_sys")
    }

    /// `CONFIG RESETSTAT` and the CPU reading the window starts from.
    fn begin(&mut self) {
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query(&mut self.conn)
            .unwrap_or_else(|e| panic!("CONFIG RESETSTAT on {}: {e}", self.port));
        self.cpu_before = self.cpu_s();
    }

    /// The window's figures: CPU first (so the read below is not counted), then
    /// commandstats.
    fn end(&mut self) -> MasterFigures {
        let cpu_s = self.cpu_s() - self.cpu_before;
        let stats = parse_commandstats(&self.info("commandstats"));
        let (evalsha_calls, evalsha_usec) = stats.get("evalsha").copied().unwrap_or((0, 0));
        let all_calls: u64 = stats.values().map(|(calls, _)| calls).sum();
        MasterFigures {
            port: self.port,
            census: self.census,
            evalsha_calls,
            evalsha_usec,
            other_calls: all_calls - evalsha_calls,
            cpu_s,
        }
    }

    /// Takes the [`KeyCensus`] (before [`begin`](Self::begin): its `SCAN` is not
    /// part of the window).
    fn take_census(&mut self) {
        let keys: u64 = redis::cmd("DBSIZE")
            .query(&mut self.conn)
            .unwrap_or_else(|e| panic!("DBSIZE on {}: {e}", self.port));
        let nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query(&mut self.conn)
            .unwrap_or_else(|e| panic!("CLUSTER NODES on {}: {e}", self.port));
        let (rooms, global_keys) = self.count_keys();
        self.census = KeyCensus {
            slots: own_slots(&nodes),
            rooms,
            global_keys,
            keys,
        };
    }

    /// Rooms (room hashes, `…}:room`) and `{global}` keys on this master, by `SCAN`.
    fn count_keys(&mut self) -> (u64, u64) {
        let (mut rooms, mut global) = (0, 0);
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query(&mut self.conn)
                .unwrap_or_else(|e| panic!("SCAN on {}: {e}", self.port));
            for key in keys {
                if key.contains("{global}") {
                    global += 1;
                } else if key.ends_with("}:room") {
                    rooms += 1;
                }
            }
            if next == 0 {
                return (rooms, global);
            }
            cursor = next;
        }
    }
}

/// Slots served by the `myself` node of a `CLUSTER NODES` reply (fields 9 on:
/// `first-last` ranges or single slots; `[…]` entries are slots in migration).
fn own_slots(nodes: &str) -> u64 {
    let Some(line) = nodes.lines().find(|l| {
        l.split_whitespace()
            .nth(2)
            .is_some_and(|flags| flags.split(',').any(|f| f == "myself"))
    }) else {
        return 0;
    };
    line.split_whitespace()
        .skip(8)
        .filter(|r| !r.starts_with('['))
        .map(|r| match r.split_once('-') {
            Some((a, b)) => match (a.parse::<u64>(), b.parse::<u64>()) {
                (Ok(a), Ok(b)) if b >= a => b - a + 1,
                _ => 0,
            },
            None => u64::from(r.parse::<u64>().is_ok()),
        })
        .sum()
}

/// Machine-wide CPU from the first line of `/proc/stat`: (busy, total) in ticks.
fn machine_cpu_ticks() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: f64 = fields.iter().sum();
    // idle and iowait are the 4th and 5th fields.
    let idle = fields.get(3).unwrap_or(&0.0) + fields.get(4).unwrap_or(&0.0);
    (total - idle, total)
}

/// `cmdstat_<name>:calls=…,usec=…,…` lines → name → (calls, usec).
fn parse_commandstats(text: &str) -> BTreeMap<String, (u64, u64)> {
    text.lines()
        .filter_map(|line| {
            let (name, fields) = line.trim().strip_prefix("cmdstat_")?.split_once(':')?;
            let field = |key: &str| {
                fields
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                    .and_then(|v| v.parse::<u64>().ok())
            };
            Some((name.to_owned(), (field("calls")?, field("usec")?)))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// One configuration.

/// Everything measured for one cluster size.
struct ConfigResult {
    masters: usize,
    per_master: Vec<MasterFigures>,
    /// Wall time between the two Redis readings, seconds.
    window_s: f64,
    /// The load tool's `--json` report.
    report: serde_json::Value,
    /// CPU seconds the liveroom replica used in the window.
    liveroom_cpu_s: f64,
    /// CPU seconds the load tool used in the window.
    loadtest_cpu_s: f64,
    /// Cores busy in the window, machine-wide (every process, also ones not ours).
    machine_busy_cores: f64,
}

impl ConfigResult {
    /// Heartbeats the tool finished in its measured window.
    fn heartbeats(&self) -> f64 {
        self.report["requests"].as_f64().unwrap_or(0.0)
    }

    fn req_per_s(&self) -> f64 {
        self.report["requests_per_sec"].as_f64().unwrap_or(0.0)
    }

    fn total_calls(&self) -> u64 {
        self.per_master.iter().map(|m| m.evalsha_calls).sum()
    }

    fn total_usec(&self) -> u64 {
        self.per_master.iter().map(|m| m.evalsha_usec).sum()
    }

    fn total_cpu_s(&self) -> f64 {
        self.per_master.iter().map(|m| m.cpu_s).sum()
    }

    /// The master with the most CPU in the window.
    fn busiest(&self) -> &MasterFigures {
        self.per_master
            .iter()
            .max_by(|a, b| a.cpu_s.total_cmp(&b.cpu_s))
            .expect("at least one master")
    }

    /// Script µs per EVALSHA over all masters (commandstats).
    fn usec_per_call(&self) -> f64 {
        self.total_usec() as f64 / self.total_calls().max(1) as f64
    }

    /// Redis process CPU µs (all masters) per heartbeat the tool finished.
    fn cpu_usec_per_heartbeat(&self) -> f64 {
        self.total_cpu_s() * 1e6 / self.heartbeats().max(1.0)
    }
}

/// Runs the load against a fresh `masters`-master cluster and one replica.
fn run_config(masters: usize, settings: &Settings, bins: &Binaries) -> ConfigResult {
    eprintln!("shards: starting {masters}-master cluster…");
    let cluster = RedisCluster::start(masters, 0).expect("cluster");
    let ports = cluster.master_ports();
    assert_eq!(ports.len(), masters, "master ports {ports:?}");
    let log = cluster.dir().join("liveroom.log");
    eprintln!(
        "shards: starting liveroom (cluster mode, seeds {})…",
        cluster.url_list()
    );
    let (service, http_port) = start_liveroom(bins, &cluster.url_list(), &log);
    let mut conns: Vec<Master> = ports.iter().map(|&p| Master::connect(p)).collect();

    eprintln!(
        "shards: load tool setup ({ROOMS} rooms, {USERS} users), then {} s warm-up…",
        WARMUP.as_secs()
    );
    let mut tool = KillOnDrop::spawn(
        Command::new(&bins.loadtest)
            .args(["--target", &format!("http://127.0.0.1:{http_port}")])
            .args(["--secret", DEV_JWT_SECRET])
            .args(["--connections", &settings.connections.to_string()])
            .args(["--duration", &format!("{}s", settings.seconds)])
            .args(["--warmup", &format!("{}s", WARMUP.as_secs())])
            .arg("--json")
            .args(["heartbeat-max", "--users", &USERS.to_string()])
            .args(["--rooms", &ROOMS.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .unwrap_or_else(|e| panic!("cannot start {}: {e}", bins.loadtest.display()));
    let lines = forward_stderr(&mut tool);

    // Traffic starts right after the tool says every user joined: the measured window
    // is [that + warm-up, that + warm-up + duration].
    let mut said = Vec::new();
    let traffic_start = loop {
        match lines.recv_timeout(Duration::from_secs(300)) {
            Ok(line) if line.contains("users joined") => break Instant::now(),
            Ok(line) => said.push(line),
            Err(_) => panic!(
                "the load tool ended or stalled before its traffic started ({:?}):\n{}",
                tool.child.try_wait(),
                said.join("\n")
            ),
        }
    };
    // Every room and user exists now; the keys do not change under heartbeats.
    for m in &mut conns {
        m.take_census();
    }
    std::thread::sleep((traffic_start + WARMUP).saturating_duration_since(Instant::now()));
    eprintln!("shards: load {} s…", settings.seconds);
    for m in &mut conns {
        m.begin();
    }
    let window_start = Instant::now();
    let liveroom_cpu0 = process_cpu_s(service.pid());
    let loadtest_cpu0 = process_cpu_s(tool.pid());
    let machine0 = machine_cpu_ticks();
    let window_end = traffic_start + WARMUP + Duration::from_secs(settings.seconds);
    std::thread::sleep(window_end.saturating_duration_since(Instant::now()));
    let liveroom_cpu_s = process_cpu_s(service.pid()) - liveroom_cpu0;
    let loadtest_cpu_s = process_cpu_s(tool.pid()) - loadtest_cpu0;
    let machine1 = machine_cpu_ticks();
    let per_master: Vec<MasterFigures> = conns.iter_mut().map(Master::end).collect();
    let window_s = window_start.elapsed().as_secs_f64();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let machine_busy_cores = cores * (machine1.0 - machine0.0) / (machine1.1 - machine0.1).max(1.0);

    let mut out = String::new();
    tool.child
        .stdout
        .take()
        .expect("stdout piped")
        .read_to_string(&mut out)
        .expect("load tool output");
    let status = tool.child.wait().expect("load tool exit");
    assert!(status.success(), "load tool failed ({status}): {out}");
    let report: serde_json::Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("load tool report is not JSON ({e}): {out}"));
    drop(tool);
    drop(service);
    let warnings = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .count();
    if warnings > 0 {
        eprintln!(
            "shards: liveroom logged {warnings} warning/error lines:\n{}",
            tail(&log)
        );
    }
    drop(conns);
    drop(cluster);
    ConfigResult {
        masters,
        per_master,
        window_s,
        report,
        liveroom_cpu_s,
        loadtest_cpu_s,
        machine_busy_cores,
    }
}

/// Reads the tool's stderr on a thread: every line goes to the channel, and the
/// setup and clean-up lines (not the once-a-second progress) are echoed to stderr.
fn forward_stderr(tool: &mut KillOnDrop) -> mpsc::Receiver<String> {
    let stderr = tool.child.stderr.take().expect("stderr piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let progress = line.contains(" req/s ") && line.contains("requests");
            if !progress {
                eprintln!("shards:   loadtest: {line}");
            }
            // Once nobody listens, keep draining so the tool never blocks on a full pipe.
            let _ = tx.send(line);
        }
    });
    rx
}

// ---------------------------------------------------------------------------
// Output.

fn pct(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:.1}%", 100.0 * part / whole)
    } else {
        "–".into()
    }
}

fn ratio(num: f64, den: f64, digits: usize) -> String {
    if den > 0.0 && num.is_finite() {
        format!("{:.*}", digits, num / den)
    } else {
        "–".into()
    }
}

/// Viewers one Redis core can hold at a 5 s heartbeat, given µs per heartbeat.
fn viewers_per_core(usec_per_heartbeat: f64) -> f64 {
    1e6 / usec_per_heartbeat * HEARTBEAT_INTERVAL_S
}

fn print_config(r: &ConfigResult, s: &Settings) {
    let census = |f: fn(&KeyCensus) -> u64| r.per_master.iter().map(|m| f(&m.census)).sum();
    let (keys, calls): (u64, u64) = (census(|c| c.keys), r.total_calls());
    let other_calls: u64 = r.per_master.iter().map(|m| m.other_calls).sum();
    let lat = &r.report["latency_ms"];
    println!();
    println!(
        "### {} master{} — heartbeat-max, {USERS} users in {ROOMS} rooms, {} connections, \
         {} s measured after {} s warm-up",
        r.masters,
        if r.masters == 1 { "" } else { "s" },
        s.connections,
        s.seconds,
        WARMUP.as_secs()
    );
    println!();
    println!(
        "| master | slots | rooms | `{{global}}` keys | keys (DBSIZE) | key share | EVALSHA calls \
         | call share | µs/EVALSHA (commandstats) | Redis CPU s (process) \
         | CPU µs/EVALSHA (process) | CPU per s of run |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for m in &r.per_master {
        println!(
            "| :{} | {} | {} | {} | {} | {} | {} | {} | {} | {:.3} | {} | {} |",
            m.port,
            m.census.slots,
            m.census.rooms,
            m.census.global_keys,
            m.census.keys,
            pct(m.census.keys as f64, keys as f64),
            m.evalsha_calls,
            pct(m.evalsha_calls as f64, calls as f64),
            ratio(m.evalsha_usec as f64, m.evalsha_calls as f64, 2),
            m.cpu_s,
            ratio(m.cpu_s * 1e6, m.evalsha_calls as f64, 2),
            pct(m.cpu_s, r.window_s),
        );
    }
    println!(
        "| **all** | {} | {} | {} | {keys} | 100% | {calls} | 100% | {} | {:.3} | {} | {} |",
        census(|c| c.slots),
        census(|c| c.rooms),
        census(|c| c.global_keys),
        ratio(r.total_usec() as f64, calls as f64, 2),
        r.total_cpu_s(),
        ratio(r.total_cpu_s() * 1e6, calls as f64, 2),
        pct(r.total_cpu_s(), r.window_s),
    );
    println!();
    println!(
        "Keys counted after setup, before the window (users' profiles spread by user id, \
         rooms by live id; `{{global}}` is one slot). \"CPU per s of run\" is the share of \
         one core."
    );
    println!();
    println!("| total | value |");
    println!("|---|---|");
    println!(
        "| heartbeat throughput | {:.0} req/s ({} heartbeats in {:.2} s) |",
        r.req_per_s(),
        r.heartbeats(),
        r.report["duration_s"].as_f64().unwrap_or(0.0)
    );
    println!(
        "| errors | {} (by status {}, transport {}) |",
        r.report["errors"], r.report["errors_by_status"], r.report["transport_errors"]
    );
    println!(
        "| heartbeat latency p50 / p99 / max | {} / {} / {} ms |",
        lat["p50"], lat["p99"], lat["max"]
    );
    println!(
        "| EVALSHA calls ÷ heartbeats (the extra: reaper sweeps, anchors' beats) | {} |",
        ratio(calls as f64, r.heartbeats(), 4)
    );
    println!(
        "| other commands ÷ EVALSHA calls (mostly the 4 inside each heartbeat script) | {} |",
        ratio(other_calls as f64, calls as f64, 2)
    );
    println!(
        "| CPU per s of run: liveroom replica / load tool / all Redis masters / whole machine | \
         {:.2} / {:.2} / {:.2} / {:.2} cores |",
        r.liveroom_cpu_s / r.window_s,
        r.loadtest_cpu_s / r.window_s,
        r.total_cpu_s() / r.window_s,
        r.machine_busy_cores
    );
    if let Some(notes) = r.report["notes"].as_array().filter(|n| !n.is_empty()) {
        println!("| load tool notes | {notes:?} |");
    }
}

fn print_summary(results: &[ConfigResult]) {
    let (Some(one), Some(three)) = (
        results.iter().find(|r| r.masters == 1),
        results.iter().find(|r| r.masters == 3),
    ) else {
        return;
    };
    println!();
    println!("### 1 vs 3 masters");
    println!();
    println!("| figure | 1 master | 3 masters |");
    println!("|---|---:|---:|");
    println!(
        "| heartbeat throughput (one replica) | {:.0} req/s | {:.0} req/s |",
        one.req_per_s(),
        three.req_per_s()
    );
    println!(
        "| throughput ratio (3 ÷ 1) | | {} |",
        ratio(three.req_per_s(), one.req_per_s(), 2)
    );
    let busiest = |r: &ConfigResult| {
        let b = r.busiest();
        format!(
            "{} of a core (:{}, {} of calls)",
            pct(b.cpu_s, r.window_s),
            b.port,
            pct(b.evalsha_calls as f64, r.total_calls() as f64)
        )
    };
    println!(
        "| busiest master: Redis CPU per second of run | {} | {} |",
        busiest(one),
        busiest(three)
    );
    println!(
        "| busiest master's CPU per second, 3 ÷ 1 | | {} |",
        ratio(
            three.busiest().cpu_s / three.window_s,
            one.busiest().cpu_s / one.window_s,
            2
        )
    );
    println!(
        "| all masters: Redis CPU per second of run (share of one core) | {} | {} |",
        pct(one.total_cpu_s(), one.window_s),
        pct(three.total_cpu_s(), three.window_s)
    );
    println!(
        "| liveroom replica CPU per second of run (share of one core) | {} | {} |",
        pct(one.liveroom_cpu_s, one.window_s),
        pct(three.liveroom_cpu_s, three.window_s)
    );
    println!(
        "| (a) µs per EVALSHA, commandstats: time inside the script only | {:.2} µs | {:.2} µs |",
        one.usec_per_call(),
        three.usec_per_call()
    );
    println!(
        "| (b) Redis process CPU per heartbeat, all masters: script + network I/O + parsing + reaper + cluster bus | {:.2} µs | {:.2} µs |",
        one.cpu_usec_per_heartbeat(),
        three.cpu_usec_per_heartbeat()
    );
    println!(
        "| viewers per Redis core at a {HEARTBEAT_INTERVAL_S:.0} s heartbeat from (a): an upper bound, not for sizing | {:.0} | {:.0} |",
        viewers_per_core(one.usec_per_call()),
        viewers_per_core(three.usec_per_call())
    );
    println!(
        "| viewers per Redis core at a {HEARTBEAT_INTERVAL_S:.0} s heartbeat from (b): the honest figure, use this for sizing | {:.0} | {:.0} |",
        viewers_per_core(one.cpu_usec_per_heartbeat()),
        viewers_per_core(three.cpu_usec_per_heartbeat())
    );
    println!();
    println!(
        "Viewers per core = 1,000,000 µs ÷ (µs per heartbeat) × {HEARTBEAT_INTERVAL_S:.0} s, \
         with the µs measured under this load; leave headroom when sizing."
    );
    println!(
        "Machine: {} CPUs shared by the replica, the load tool and every Redis master, so \
         the total need not grow with masters; the spread of keys, calls and CPU over the \
         shards is what this shows.",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}
