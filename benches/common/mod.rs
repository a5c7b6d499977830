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

/// Pins Redis (its process id from `INFO server`, every thread) to CPU 0 and this
/// benchmark process to CPU 1 with `taskset`, so Redis's CPU per operation is
/// measured without the client competing for its core. Returns what was done, for
/// the benchmark's output ("not pinned: …" when `taskset` or a second CPU is missing).
pub async fn pin(store: &Store) -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        return format!("not pinned: {cpus} CPU available");
    }
    let redis_pid = info(store, "server").await["process_id"].clone();
    let me = std::process::id().to_string();
    let run = |cpu: &str, pid: &str| {
        std::process::Command::new("taskset")
            .args(["-a", "-cp", cpu, pid])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if run("0", &redis_pid) && run("1", &me) {
        format!(
            "pinned with taskset: redis-server (pid {redis_pid}) on CPU 0, this client on CPU 1"
        )
    } else {
        "not pinned: taskset failed or is missing".to_owned()
    }
}
