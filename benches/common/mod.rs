//! Helpers shared by the benchmarks: reading Redis's own `INFO`.
#![allow(dead_code)]

use std::collections::HashMap;

use liveroom::store::Store;

/// One `INFO` section as field → value.
pub async fn info(store: &Store, section: &str) -> HashMap<String, String> {
    let mut conn = store.connection();
    let text: String = redis::cmd("INFO")
        .arg(section)
        .query_async(&mut conn)
        .await
        .unwrap();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// CPU seconds the Redis process has used (user + system).
pub async fn cpu_s(store: &Store) -> f64 {
    let i = info(store, "cpu").await;
    i["used_cpu_user"].parse::<f64>().unwrap() + i["used_cpu_sys"].parse::<f64>().unwrap()
}

/// Redis's `used_memory`, bytes.
pub async fn memory(store: &Store) -> f64 {
    info(store, "memory").await["used_memory"].parse().unwrap()
}

/// Pins the Redis server (pid from `INFO server`) to core 0 and this process (all
/// its threads) to core 1 with `taskset`, so the load generator does not steal
/// Redis's core. Returns what was done, for the bench's output.
pub async fn pin_cores(store: &Store) -> String {
    // Every core of the machine: this process may already be pinned to one by an
    // earlier call (available_parallelism would then say 1).
    let cpus = std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| c.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(1);
    if cpus < 2 {
        return format!("not pinned: {cpus} CPU available");
    }
    let pid = info(store, "server").await["process_id"].clone();
    let me = std::process::id().to_string();
    let run = |args: &[&str]| {
        std::process::Command::new("taskset")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if run(&["-a", "-p", "-c", "0", &pid]) && run(&["-a", "-p", "-c", "1", &me]) {
        format!(
            "redis-server (pid {pid}) pinned to core 0, this load generator to core 1 (taskset)"
        )
    } else {
        "taskset unavailable or refused: Redis and the load generator share the cores (figures include the client stealing Redis's core)".to_owned()
    }
}

/// `INFO commandstats` as command → (calls, usec).
pub async fn command_stats(store: &Store) -> HashMap<String, (u64, f64)> {
    let mut per = HashMap::new();
    for (k, v) in info(store, "commandstats").await {
        let Some(name) = k.strip_prefix("cmdstat_") else {
            continue;
        };
        let fields: HashMap<&str, &str> = v.split(',').filter_map(|f| f.split_once('=')).collect();
        if let (Some(calls), Some(usec)) = (fields.get("calls"), fields.get("usec")) {
            per.insert(
                name.to_owned(),
                (calls.parse().unwrap_or(0), usec.parse().unwrap_or(0.0)),
            );
        }
    }
    per
}

/// `CONFIG RESETSTAT`: commandstats from zero.
pub async fn reset_stats(store: &Store) {
    let mut conn = store.connection();
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
}

/// The machine's 1-minute load average and what it means for the figures: the
/// commandstats µs are wall time inside Redis (a preempted Redis grows them), the
/// process CPU figures are not.
pub fn load_note() -> String {
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned());
    // Every core of the machine (this process may be pinned to one by now).
    let cores = std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| c.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    format!(
        "load average {load} on {cores} cores (above the cores, other processes preempt Redis: trust the process-CPU column over the commandstats µs, which are wall time)"
    )
}
