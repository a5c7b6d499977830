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
